/* fuzz_eio.c - libFuzzer driver for eio.c: the polling payload decoder (body fed in chunks),
 * single packet decoding, and the query string parser + handshake check.
 * Input: byte 0 picks the target, byte 1 the chunk size; the rest is the body / packet / query.
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "eio.h"

#define MAX_PAYLOAD 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *s = (const char *)data + 2;
    size_t n = size - 2, chunk = data[1] ? data[1] : 1;
    eio_packet_t p;
    switch (data[0] % 3) {
    case 0: {
        eio_pdec_t d;
        int rc = 0;
        eio_pdec_init(&d, MAX_PAYLOAD);
        for (size_t i = 0; i < n && rc == 0; i += chunk) {
            rc = eio_pdec_feed(&d, s + i, n - i < chunk ? n - i : chunk);
            while (rc == 0 && (rc = eio_pdec_next(&d, &p)) == 0)
                if (p.len > MAX_PAYLOAD || (p.is_binary && p.type != EIO_MESSAGE))
                    abort();
            if (rc == DG_EAGAIN)
                rc = 0;
        }
        if (rc == 0 && eio_pdec_finish(&d) == 0)
            while ((rc = eio_pdec_next(&d, &p)) == 0)
                if (p.len > MAX_PAYLOAD)
                    abort();
        eio_pdec_free(&d);
        break;
    }
    case 1: {
        char bin[MAX_PAYLOAD];
        if (eio_packet_decode(s, n, data[1] & 1, bin, sizeof(bin), &p) == 0) {
            /* Re-encoding a decoded packet into a payload and decoding it gives it back. */
            char out[2 * MAX_PAYLOAD + 16];
            size_t pos = 0;
            eio_packet_t q;
            if (p.len > MAX_PAYLOAD || eio_payload_append(out, sizeof(out), &pos, &p))
                break;
            if (eio_packet_decode(out, pos, 0, bin, sizeof(bin), &q) || q.type != p.type ||
                q.len != p.len || q.is_binary != p.is_binary)
                abort();
        }
        break;
    }
    default: {
        eio_query_t q;
        if (eio_query_parse(s, n, &q) == 0) {
            int e = eio_request_check(&q, data[1] & 1 ? "GET" : "POST", data[1] >> 1 & 1,
                                      data[1] >> 2 & 3);
            char body[EIO_ERROR_BODY_MAX];
            if (e != EIO_ERR_NONE && eio_error_body(body, sizeof(body), e) <= 0)
                abort();
            if (strlen(q.sid) >= EIO_QS_VALUE_MAX || strlen(q.t) >= EIO_QS_VALUE_MAX)
                abort();
        }
        break;
    }
    }
    return 0;
}

#include "fuzz_replay.h"
