/* fuzz_sio.c - libFuzzer driver for sio.c: packet decoding with its JSON validator, the event
 * name/args helpers, the echo re-encoding (decode -> encode -> decode must agree) and binary
 * assembly. Input: byte 0 = number of trailing bytes used as attachments, rest = the packet.
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t tail = data[0] < size - 1 ? data[0] : size - 1;
    const char *s = (const char *)data + 1;
    size_t n = size - 1 - tail;
    sio_packet_t p, q;
    char err[64];
    if (sio_decode(s, n, SIO_ATTACH_DEFAULT, &p, err, sizeof(err)))
        return 0;
    if (p.data && (p.data < s || p.data + p.data_len > s + n))
        abort();
    if (p.type != SIO_EVENT && p.type != SIO_BINARY_EVENT)
        return 0;

    char name[256], *out;
    const char *nm, *args;
    size_t nl, al;
    if (sio_event_args(p.data, p.data_len, &args, &al))
        abort(); /* a valid event always has args (maybe empty) */
    int rc = sio_event_name(p.data, p.data_len, name, sizeof(name), &nm, &nl);
    if (rc == DG_ELIMIT)
        return 0;
    if (rc)
        abort();
    size_t cap = SIO_EVENT_SIZE(nl, al);
    if (!(out = malloc(cap)))
        return 0;
    char nsp[SIO_NSP_MAX + 1];
    memcpy(nsp, p.nsp, p.nsp_len);
    nsp[p.nsp_len] = '\0';
    int len = sio_encode_event(out, cap, strlen(nsp) == p.nsp_len ? nsp : "/", p.ack_id, p.nattach,
                               nm, nl, args, al);
    if (len > 0) {
        const char *a2;
        size_t l2;
        if (sio_decode(out + 1, (size_t)len - 1, SIO_ATTACH_DEFAULT, &q, err, sizeof(err)) ||
            q.type != p.type || q.ack_id != p.ack_id || q.nattach != p.nattach ||
            sio_event_args(q.data, q.data_len, &a2, &l2) || l2 != al || memcmp(a2, args, al))
            abort();
    } else if (len != DG_EINVAL) { /* EINVAL: a namespace with bytes we never emit */
        abort();
    }
    free(out);

    if (p.nattach) {
        sio_binasm_t b;
        sio_binasm_init(&b, SIO_ATTACH_DEFAULT, 1 << 16);
        rc = sio_binasm_start(&b, s, n, &p);
        for (int i = 0; rc == DG_EAGAIN; i++) {
            size_t l = i < p.nattach - 1 ? (tail > 0 ? 1 : 0) : tail;
            rc = sio_binasm_add(&b, s + n, l);
            tail -= l;
        }
        if (rc == 0 && (!sio_binasm_packet(&b) || sio_binasm_packet(&b)->nattach != p.nattach))
            abort();
        sio_binasm_free(&b);
    }
    return 0;
}

#include "fuzz_replay.h"
