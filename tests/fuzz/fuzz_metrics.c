/* fuzz_metrics.c - libFuzzer driver for metrics.c: mt_proc_parse_stat on raw bytes, and the
 * writer's escaping of HELP text and label values.
 * Input: byte 0 even: the rest is /proc/<pid>/stat text. Byte 0 odd: the rest is split at the
 * first 0xff byte into HELP text and a label value (each cut at a NUL); the rendering must be
 * exactly three lines (escaping leaves no raw newline) and end in the sample value.
 * Build: clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
 *        tests/fuzz/fuzz_metrics.c src/metrics.c src/buf.c -lm
 * Without libFuzzer, -DFUZZ_MAIN adds a main() that runs each file named on the command line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dg.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if ((data[0] & 1) == 0) {
        mt_proc_stat_t st;
        int rc = mt_proc_parse_stat(text, len, &st);
        if (rc != DG_OK && rc != DG_EPROTO && rc != DG_ELIMIT)
            abort();
        return 0;
    }
    const char *sep = memchr(text, 0xff, len);
    size_t hlen = sep ? (size_t)(sep - text) : len;
    char *help = strndup(text, hlen);
    char *value = sep ? strndup(sep + 1, len - hlen - 1) : strdup("");
    if (!help || !value)
        abort();
    buf_t b = BUF_INIT;
    mt_writer_t w;
    mt_writer_init(&w, &b);
    mt_family(&w, "fuzz_total", MT_COUNTER, help);
    mt_u64(&w, MT_LABELS({"v", value}), 7);
    if (mt_writer_finish(&w) != DG_OK)
        abort();
    size_t lines = 0;
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    if (lines != 3 || b.len < 3 || memcmp(b.data + b.len - 3, " 7\n", 3) != 0)
        abort();
    buf_free(&b);
    free(help);
    free(value);
    return 0;
}

#include "fuzz_replay.h"
