/* fuzz_route.c - libFuzzer driver for route.c: the routes list, room templates and their
 * expansion, channel messages and stream entries.
 * Input: byte 0 picks the entry point, the rest is its input:
 *   0  a whole `routes` value for route_table_parse
 *   1  "<template>\0<payload JSON>" for route_tmpl_parse + route_tmpl_expand
 *   2  a channel message for route `user:{user_id}` (or, when byte 0 & 4, for `all`)
 *   3  a stream entry (fields as in fuzz_decode.c: 1-byte length then bytes, names and values
 *      alternating) for route `u:{user.id}`
 * Invariants (abort on breach): an expanded room is non-empty, shorter than ROUTE_ROOM_MAX,
 * has no control characters and is not reserved; a payload is one line of JSON that parses.
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dg.h"
#include "route.h"

#define NF 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_room(const char *room, size_t n)
{
    if (n == 0 || n >= ROUTE_ROOM_MAX || strlen(room) != n || route_room_reserved(room, n) ||
        strcmp(room, "all") == 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)room[i] < 0x20 || room[i] == 0x7f)
            abort();
}

static void check_out(int rc, const route_out_t *o)
{
    if (rc != DG_OK) {
        if (o->json || o->room[0])
            abort();
        return;
    }
    if (!o->json || strlen(o->json) != o->json_len || memchr(o->json, '\n', o->json_len))
        abort();
    json_t *back = dec_json_parse(o->json, o->json_len);
    if (!back)
        abort();
    json_decref(back);
    if (!o->all)
        check_room(o->room, o->room_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static route_table_t t;
    char err[256];
    if (size < 1 || size > 65536)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        char *spec = malloc(n + 1);
        if (!spec)
            return 0;
        memcpy(spec, s, n);
        spec[n] = '\0';
        int rc = route_table_parse(&t, spec, err, sizeof(err));
        if ((rc == DG_OK) != (t.err == 0) || (rc != DG_OK && t.n != 0) || t.n > ROUTE_MAX)
            abort();
        for (int i = 0; i < t.n; i++)
            if (route_find(&t, t.route[i].kind, t.route[i].key, strlen(t.route[i].key)) !=
                &t.route[i])
                abort();
        free(spec);
        break;
    }
    case 1: {
        const char *nul = memchr(s, '\0', n);
        size_t tn = nul ? (size_t)(nul - s) : n;
        route_tmpl_t tm;
        if (route_tmpl_parse(&tm, s, tn, err, sizeof(err)) != DG_OK)
            return 0;
        json_t *p = nul ? dec_json_parse(nul + 1, n - tn - 1) : NULL;
        char room[ROUTE_ROOM_MAX];
        int rc = route_tmpl_expand(&tm, p, room, sizeof(room), err, sizeof(err));
        if (rc > 0)
            check_room(room, (size_t)rc);
        else if (rc == 0 && !tm.all)
            abort();
        json_decref(p);
        break;
    }
    case 2: {
        route_table_parse(&t, (data[0] & 4) ? "channel:c=e@all" : "channel:c=e@user:{user_id}", err,
                          sizeof(err));
        route_out_t o;
        check_out(route_channel_message(&t.route[0], s, n, &o, err, sizeof(err)), &o);
        route_out_clear(&o);
        break;
    }
    default: {
        const char *name[NF / 2], *value[NF / 2];
        size_t name_len[NF / 2], value_len[NF / 2], k = 0, i = 0;
        while (k < NF && i < n) {
            size_t len = (unsigned char)s[i++];
            if (len > n - i)
                len = n - i;
            if ((k & 1) == 0) {
                name[k / 2] = s + i;
                name_len[k / 2] = len;
            } else {
                value[k / 2] = s + i;
                value_len[k / 2] = len;
            }
            i += len;
            k++;
        }
        dec_fields_t f = {name, name_len, value, value_len, k / 2};
        route_table_parse(&t, "stream:s=e@u:{user.id}", err, sizeof(err));
        route_out_t o;
        check_out(route_stream_entry(&t.route[0], &f, &o, err, sizeof(err)), &o);
        route_out_clear(&o);
    }
    }
    return 0;
}

#include "fuzz_replay.h"
