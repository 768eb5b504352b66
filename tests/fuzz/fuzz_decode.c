/* fuzz_decode.c - libFuzzer driver for decode.c (job entries, log entries, log normalization,
 * and that a value dec_json_canonical passes is its own JSON.stringify(JSON.parse(value))).
 * Input: byte 0 picks the entry point; the rest is a list of fields, each a 1-byte length then
 * that many bytes (names and values alternate), or, for normalize, the raw JSON text.
 * Build: clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
 *        tests/fuzz/fuzz_decode.c src/decode.c src/dg.c $(pkg-config --cflags --libs jansson) -lm
 * Without libFuzzer, -DFUZZ_MAIN adds a main() that runs each file named on the command line. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dg.h"

#define NF 64 /* fields read: NF / 2 pairs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name[NF / 2], *value[NF / 2];
    size_t name_len[NF / 2], value_len[NF / 2], n = 0, i = 1;
    char err[256];
    dec_event_t ev;
    int rc;

    if (size < 1)
        return 0;
    if (data[0] % 3 == 2) {
        rc = dec_log_normalize((const char *)data + 1, size - 1, "2026-01-01T00:00:00.000Z", &ev,
                               err, sizeof(err));
        if (rc == 0 && (!ev.json || strlen(ev.json) != ev.json_len || ev.json_len > DEC_LOG_MAX))
            abort();
        dec_event_clear(&ev);
        return 0;
    }
    while (n < NF && i < size) {
        size_t len = data[i++];
        if (len > size - i)
            len = size - i;
        const char *p = (const char *)data + i;
        i += len;
        if ((n & 1) == 0) { /* even slots are names, odd slots values */
            name[n / 2] = p;
            name_len[n / 2] = len;
        } else {
            value[n / 2] = p;
            value_len[n / 2] = len;
        }
        n++;
    }
    for (size_t k = 0; k < n / 2; k++) {
        if (!dec_json_canonical(value[k], value_len[k]))
            continue;
        json_t *v = dec_json_parse(value[k], value_len[k]);
        char *out;
        size_t out_len;
        if (!v || dec_json_stringify(v, &out, &out_len) != 0)
            abort();
        if (out_len != value_len[k] || memcmp(out, value[k], out_len) != 0)
            abort();
        free(out);
        json_decref(v);
    }
    dec_fields_t f = {name, name_len, value, value_len, n / 2};
    if (data[0] % 3 == 0)
        rc = dec_job_entry("q", &f, &ev, err, sizeof(err));
    else
        rc = dec_log_entry(&f, &ev, err, sizeof(err));
    if (rc == 0 && (!ev.json || ev.json_len == 0 || strlen(ev.json) != ev.json_len))
        abort();
    if (rc != 0 && ev.json)
        abort();
    dec_event_clear(&ev);
    return 0;
}

#include "fuzz_replay.h"
