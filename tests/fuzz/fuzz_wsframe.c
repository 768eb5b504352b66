/* fuzz_wsframe.c - libFuzzer driver for wsframe.c: the incremental frame parser (raw bytes fed
 * in chunks) and the message assembler (a list of CivetWeb-style frames).
 * Input: byte 0 picks the target and the parser's peer mode, byte 1 the chunk size; the rest is
 * the stream (parser) or frames as [flags][len][len bytes] (assembler).
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dg.h"
#include "wsframe.h"

#define MAX_MSG 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = data[1] ? data[1] : 1, i = 2;
    if (data[0] & 1) {
        ws_parser_t p;
        ws_frame_t f;
        if (ws_parser_init(&p, MAX_MSG, 1 + (data[0] >> 1) % 3))
            abort();
        while (i < size) {
            size_t n = size - i < chunk ? size - i : chunk;
            if (ws_parser_feed(&p, data + i, n))
                break;
            i += n;
            int rc;
            while ((rc = ws_parser_next(&p, &f)) == 0)
                if (f.len > MAX_MSG || (f.opcode >= 8 && (f.len > WS_CONTROL_MAX || !f.fin)))
                    abort();
            if (rc != DG_EAGAIN)
                break;
        }
        ws_parser_free(&p);
        return 0;
    }
    ws_asm_t a;
    ws_msg_t m;
    ws_asm_init(&a, MAX_MSG);
    while (size - i >= 2) {
        int flags = data[i];
        size_t n = data[i + 1];
        i += 2;
        if (n > size - i)
            n = size - i;
        int rc = ws_asm_feed(&a, flags, data + i, n, &m);
        i += n;
        if (rc == 0 &&
            (m.len > MAX_MSG || (m.opcode == WS_OP_TEXT && !ws_utf8_valid(m.data, m.len))))
            abort();
        if (rc != 0 && rc != DG_EAGAIN && ws_asm_close_code(&a) == 0)
            abort();
    }
    ws_asm_free(&a);
    return 0;
}

#include "fuzz_replay.h"
