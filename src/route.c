/* route.c - the `routes` parser, room templates and the payload of routed messages.
 * Not a reader: the Redis modules hand it messages and entries, the transports deliver what it
 * returns. Error texts name configured things (route, placeholder) and never quote a payload. */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dg.h"
#include "jpath.h"

static int starts_with(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(s, lit, n) == 0;
}

static int equals(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

int route_room_reserved(const char *room, size_t len)
{
    return equals(room, len, "logs") || starts_with(room, len, "job:") ||
           starts_with(room, len, "queue:");
}

/* ---------------------------------------------------------------------------------------------
 * Templates */

int route_tmpl_parse(route_tmpl_t *t, const char *s, size_t len, char *errstr, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (len == 0) {
        dg_errf(errstr, errlen, "empty room template");
        return DG_EINVAL;
    }
    if (len >= ROUTE_ROOM_MAX) {
        dg_errf(errstr, errlen, "room template longer than %d bytes", ROUTE_ROOM_MAX - 1);
        return DG_EINVAL;
    }
    size_t first_field = len;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c <= ' ' || c > '~' || c == ',') {
            dg_errf(errstr, errlen,
                    "room template may only hold printable ASCII without spaces or ','");
            goto fail;
        }
        if (c == '}') {
            dg_errf(errstr, errlen, "unmatched '}' in room template");
            goto fail;
        }
        if (c != '{')
            continue;
        const char *close = memchr(s + i + 1, '}', len - i - 1);
        if (!close) {
            dg_errf(errstr, errlen, "unclosed '{' in room template");
            goto fail;
        }
        size_t off = i + 1, n = (size_t)(close - s) - off;
        if (n == 0) {
            dg_errf(errstr, errlen, "empty placeholder '{}' in room template");
            goto fail;
        }
        if (memchr(s + off, '{', n)) {
            dg_errf(errstr, errlen, "'{' inside a placeholder");
            goto fail;
        }
        if (t->nfields == ROUTE_FIELDS_MAX) {
            dg_errf(errstr, errlen, "more than %d placeholders in room template", ROUTE_FIELDS_MAX);
            goto fail;
        }
        if (first_field == len)
            first_field = i;
        t->field[t->nfields].off = (unsigned short)off;
        t->field[t->nfields].len = (unsigned short)n;
        t->nfields++;
        /* The outer loop skips the braces' content, so it gets the same checks here. */
        for (size_t k = off; k < off + n; k++) {
            if (s[k] <= ' ' || s[k] > '~' || s[k] == ',') {
                dg_errf(errstr, errlen,
                        "room template may only hold printable ASCII without spaces or ','");
                goto fail;
            }
        }
        i = off + n; /* the '}' */
    }
    /* A fixed prefix that names the broker's own rooms could only ever produce them. */
    if ((t->nfields == 0 && route_room_reserved(s, len)) || starts_with(s, first_field, "job:") ||
        starts_with(s, first_field, "queue:")) {
        dg_errf(errstr, errlen, "room template names a reserved room (logs, job:..., queue:...)");
        goto fail;
    }
    memcpy(t->text, s, len);
    t->all = equals(s, len, "all");
    return DG_OK;
fail:
    memset(t, 0, sizeof(*t));
    return DG_EINVAL;
}

static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

int route_tmpl_expand(const route_tmpl_t *t, const json_t *payload, char *room, size_t cap,
                      char *errstr, size_t errlen)
{
    if (!room || cap == 0)
        return DG_ELIMIT;
    room[0] = '\0';
    if (cap > ROUTE_ROOM_MAX)
        cap = ROUTE_ROOM_MAX;
    if (t->all)
        return 0;
    if (t->nfields > 0 && !json_is_object(payload)) {
        dg_errf(errstr, errlen, "payload is not a JSON object");
        return DG_EPROTO;
    }
    char val[ROUTE_ROOM_MAX];
    size_t o = 0, pos = 0, tlen = strlen(t->text);
    for (int k = 0; k <= t->nfields; k++) {
        /* Literal text up to the next placeholder's '{' (or the end). */
        size_t lit_end = k < t->nfields ? (size_t)t->field[k].off - 1 : tlen;
        size_t n = lit_end - pos;
        if (o + n >= cap)
            goto too_long;
        memcpy(room + o, t->text + pos, n);
        o += n;
        if (k == t->nfields)
            break;
        const char *path = t->text + t->field[k].off;
        int plen = t->field[k].len;
        const json_t *v = jpath_get(payload, path, (size_t)plen);
        if (!v) {
            dg_errf(errstr, errlen, "field '%.*s' missing", plen, path);
            goto proto;
        }
        if (!json_is_string(v) && !json_is_number(v)) {
            dg_errf(errstr, errlen, "field '%.*s' is not a string or number", plen, path);
            goto proto;
        }
        int vn = jpath_text(v, val, sizeof(val));
        if (vn == DG_ELIMIT)
            goto too_long;
        if (vn < 0) {
            room[0] = '\0';
            return vn;
        }
        if (vn == 0) {
            dg_errf(errstr, errlen, "field '%.*s' is empty", plen, path);
            goto proto;
        }
        if (has_control(val, (size_t)vn)) {
            dg_errf(errstr, errlen, "field '%.*s' holds control characters", plen, path);
            goto proto;
        }
        if (o + (size_t)vn >= cap)
            goto too_long;
        memcpy(room + o, val, (size_t)vn);
        o += (size_t)vn;
        pos = (size_t)t->field[k].off + (size_t)plen + 1;
    }
    room[o] = '\0';
    if (route_room_reserved(room, o) || equals(room, o, "all")) {
        dg_errf(errstr, errlen, "room '%s' expands to a reserved room (all, logs, job:, queue:)",
                t->text);
        goto proto;
    }
    return (int)o;
too_long:
    room[0] = '\0';
    dg_errf(errstr, errlen, "room longer than %zu bytes", cap - 1);
    return DG_ELIMIT;
proto:
    room[0] = '\0';
    return DG_EPROTO;
}

/* ---------------------------------------------------------------------------------------------
 * The routes list */

/* Socket.IO clients treat these as their own lifecycle events. */
static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

static int event_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

static int parse_route(route_t *r, const char *s, size_t len, char *why, size_t wlen)
{
    memset(r, 0, sizeof(*r));
    const char *colon = memchr(s, ':', len);
    if (!colon) {
        dg_errf(why, wlen, "expected <channel|stream>:<key>=<event>@<room>");
        return DG_EINVAL;
    }
    size_t kn = (size_t)(colon - s);
    if (equals(s, kn, "channel"))
        r->kind = ROUTE_CHANNEL;
    else if (equals(s, kn, "stream"))
        r->kind = ROUTE_STREAM;
    else {
        dg_errf(why, wlen, "unknown source type '%.*s' (channel or stream)", (int)kn, s);
        return DG_EINVAL;
    }
    const char *key = colon + 1, *end = s + len;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (!eq) {
        dg_errf(why, wlen, "missing '=' before the event name");
        return DG_EINVAL;
    }
    size_t keyn = (size_t)(eq - key);
    if (keyn == 0) {
        dg_errf(why, wlen, "empty %s", r->kind == ROUTE_CHANNEL ? "channel name" : "stream key");
        return DG_EINVAL;
    }
    if (keyn >= ROUTE_KEY_MAX) {
        dg_errf(why, wlen, "key longer than %d bytes", ROUTE_KEY_MAX - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < keyn; i++) {
        if (key[i] <= ' ' || key[i] > '~') {
            dg_errf(why, wlen, "key may only hold printable ASCII without spaces");
            return DG_EINVAL;
        }
        if (r->kind == ROUTE_CHANNEL && strchr("*?[", key[i])) {
            dg_errf(why, wlen, "channel patterns are not supported ('%c')", key[i]);
            return DG_EINVAL;
        }
    }
    const char *ev = eq + 1;
    const char *at = memchr(ev, '@', (size_t)(end - ev));
    if (!at) {
        dg_errf(why, wlen, "missing '@' before the room template");
        return DG_EINVAL;
    }
    size_t evn = (size_t)(at - ev);
    if (evn == 0) {
        dg_errf(why, wlen, "empty event name");
        return DG_EINVAL;
    }
    if (evn >= ROUTE_EVENT_MAX) {
        dg_errf(why, wlen, "event name longer than %d characters", ROUTE_EVENT_MAX - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < evn; i++) {
        if (!event_char(ev[i])) {
            dg_errf(why, wlen, "invalid event name (allowed: A-Z a-z 0-9 _ . : -)");
            return DG_EINVAL;
        }
    }
    for (size_t i = 0; i < DG_ARRAY_LEN(reserved_events); i++) {
        if (equals(ev, evn, reserved_events[i])) {
            dg_errf(why, wlen, "event name '%s' is reserved by Socket.IO", reserved_events[i]);
            return DG_EINVAL;
        }
    }
    memcpy(r->key, key, keyn);
    memcpy(r->event, ev, evn);
    return route_tmpl_parse(&r->room, at + 1, (size_t)(end - at - 1), why, wlen);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int route_table_parse(route_table_t *t, const char *spec, char *errstr, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    const char *p = spec ? spec : "";
    while (is_blank(*p))
        p++;
    if (*p == '\0')
        return DG_OK;
    char why[128];
    for (int idx = 1;; idx++) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        size_t n = (size_t)(e - b);
        int rc = DG_OK;
        if (n == 0) {
            dg_errf(why, sizeof(why), "empty route in list");
            rc = DG_EINVAL;
        } else if (t->n == ROUTE_MAX) {
            dg_errf(why, sizeof(why), "more than %d routes", ROUTE_MAX);
            rc = DG_EINVAL;
        } else {
            rc = parse_route(&t->route[t->n], b, n, why, sizeof(why));
        }
        for (int i = 0; rc == DG_OK && i < t->n; i++) {
            if (t->route[i].kind == t->route[t->n].kind &&
                strcmp(t->route[i].key, t->route[t->n].key) == 0) {
                dg_errf(why, sizeof(why), "%s '%s' is already routed (route %d)",
                        t->route[i].kind == ROUTE_CHANNEL ? "channel" : "stream", t->route[i].key,
                        i + 1);
                rc = DG_EINVAL;
            }
        }
        if (rc != DG_OK) {
            memset(t, 0, sizeof(*t));
            t->err = rc;
            /* The route text is configuration, not a secret: quote its start for context. */
            dg_errf(t->errstr, sizeof(t->errstr), "route %d '%.*s%s': %s", idx,
                    (int)(n > 40 ? 40 : n), b, n > 40 ? "..." : "", why);
            dg_errf(errstr, errlen, "%s", t->errstr);
            return rc;
        }
        t->n++;
        if (!comma)
            return DG_OK;
        p = comma + 1;
    }
}

const route_t *route_find(const route_table_t *t, int kind, const char *key, size_t len)
{
    if (!t || t->err)
        return NULL;
    for (int i = 0; i < t->n; i++)
        if (t->route[i].kind == kind && equals(key, len, t->route[i].key))
            return &t->route[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Messages and entries */

void route_out_clear(route_out_t *out)
{
    if (!out)
        return;
    free(out->json);
    memset(out, 0, sizeof(*out));
}

/* Expands the room from payload and serializes it into out; consumes the reference. */
static int finish(const route_t *r, json_t *payload, route_out_t *out, char *errstr, size_t errlen)
{
    int rc = route_tmpl_expand(&r->room, payload, out->room, sizeof(out->room), errstr, errlen);
    if (rc >= 0) {
        out->room_len = (size_t)rc;
        out->all = r->room.all;
        rc = dec_json_stringify(payload, &out->json, &out->json_len);
        if (rc != DG_OK)
            dg_errf(errstr, errlen, "out of memory");
    }
    json_decref(payload);
    if (rc < 0) {
        route_out_clear(out);
        return rc;
    }
    return DG_OK;
}

int route_channel_message(const route_t *r, const char *msg, size_t len, route_out_t *out,
                          char *errstr, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > ROUTE_PAYLOAD_MAX) {
        dg_errf(errstr, errlen, "message larger than %d bytes", ROUTE_PAYLOAD_MAX);
        return DG_ELIMIT;
    }
    json_t *v = dec_json_parse(msg ? msg : "", msg ? len : 0);
    if (!v) {
        dg_errf(errstr, errlen, "message is not JSON");
        return DG_EPROTO;
    }
    return finish(r, v, out, errstr, errlen);
}

static int entry_object(const dec_fields_t *f, json_t **obj, char *errstr, size_t errlen)
{
    json_t *o = json_object();
    size_t total = 0;
    if (!o) {
        dg_errf(errstr, errlen, "out of memory");
        return DG_ENOMEM;
    }
    for (size_t i = 0; i < f->n; i++) {
        total += f->value_len[i];
        if (total > ROUTE_PAYLOAD_MAX) {
            dg_errf(errstr, errlen, "entry larger than %d bytes", ROUTE_PAYLOAD_MAX);
            json_decref(o);
            return DG_ELIMIT;
        }
        /* dec_fields_check validated the UTF-8 already. */
        json_t *s = json_stringn_nocheck(f->value[i], f->value_len[i]);
        if (!s || json_object_setn_new_nocheck(o, f->name[i], f->name_len[i], s) != 0) {
            dg_errf(errstr, errlen, "out of memory");
            json_decref(o);
            return DG_ENOMEM;
        }
    }
    *obj = o;
    return DG_OK;
}

int route_stream_entry(const route_t *r, const dec_fields_t *f, route_out_t *out, char *errstr,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = dec_fields_check(f, errstr, errlen);
    if (rc != DG_OK)
        return rc;
    long data = -1;
    for (size_t i = 0; i < f->n; i++) {
        if (equals(f->name[i], f->name_len[i], "data"))
            data = (long)i; /* the last one, as an object built from the fields would keep */
    }
    json_t *payload = NULL;
    if (data >= 0) {
        size_t n = f->value_len[data];
        if (n > ROUTE_PAYLOAD_MAX) {
            dg_errf(errstr, errlen, "field data larger than %d bytes", ROUTE_PAYLOAD_MAX);
            return DG_ELIMIT;
        }
        payload = dec_json_parse(f->value[data], n);
        if (!payload) {
            dg_errf(errstr, errlen, "field data is not JSON");
            return DG_EPROTO;
        }
    } else {
        rc = entry_object(f, &payload, errstr, errlen);
        if (rc != DG_OK)
            return rc;
    }
    return finish(r, payload, out, errstr, errlen);
}
