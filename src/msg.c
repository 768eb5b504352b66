/* msg.c - builds the shared, immutable message for one event: the SSE block and the
 * Socket.IO packet inside a ready WebSocket text frame, each encoded exactly once.
 * One allocation holds the struct and every encoding. */
#include "msg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dg.h"
#include "sio.h"
#include "sse.h"
#include "wsframe.h"

msg_t *msg_new(uint8_t kind, uint8_t stream, cur_id_t id, const char *event, const char *json,
               size_t json_len, const char *nsp, uint8_t level, const char *ns)
{
    buf_t sse = BUF_INIT, pkt = BUF_INIT;
    msg_t *m = NULL;
    char hdr[64];

    /* Socket.IO EVENT packet: 42[/nsp,]["<event>",<json>] with the name JSON-escaped. */
    json_t *jname = json_string(event);
    char *name = jname ? json_dumps(jname, JSON_ENCODE_ANY) : NULL;
    json_decref(jname);
    if (!name || sio_encode_header(hdr, sizeof(hdr), SIO_EVENT, nsp, -1, 0) < 0)
        goto out;
    buf_append_str(&pkt, hdr);
    buf_append(&pkt, "[", 1);
    buf_append_str(&pkt, name);
    buf_append(&pkt, ",", 1);
    buf_append(&pkt, json, json_len);
    buf_append(&pkt, "]", 1);
    if (sse_append_event(&sse, NULL, event, json, json_len) != DG_OK || pkt.oom)
        goto out;

    unsigned char wsh[WS_HDR_MAX];
    size_t wshlen = ws_frame_header(wsh, WS_OP_TEXT, pkt.len);
    size_t evlen = strlen(event) + 1, nslen = ns ? strlen(ns) + 1 : 0;
    m = malloc(sizeof(*m) + evlen + nslen + json_len + 1 + sse.len + wshlen + pkt.len);
    if (!m)
        goto out;
    char *p = (char *)(m + 1);
    atomic_init(&m->refs, 1);
    m->kind = kind;
    m->stream = stream;
    m->level = level;
    m->id = id;
    m->event = memcpy(p, event, evlen);
    p += evlen;
    m->ns = ns ? memcpy(p, ns, nslen) : NULL;
    p += nslen;
    m->json = memcpy(p, json, json_len);
    p[json_len] = '\0';
    m->json_len = json_len;
    p += json_len + 1;
    m->sse = memcpy(p, sse.data, sse.len);
    m->sse_len = sse.len;
    p += sse.len;
    memcpy(p, wsh, wshlen);
    memcpy(p + wshlen, pkt.data, pkt.len);
    m->ws = (const unsigned char *)p;
    m->ws_len = wshlen + pkt.len;
    m->ws_hdr_len = wshlen;
out:
    free(name);
    buf_free(&sse);
    buf_free(&pkt);
    return m;
}

msg_t *msg_new_packet(const char *pkt, size_t len, int binary)
{
    unsigned char wsh[WS_HDR_MAX];
    size_t wshlen = ws_frame_header(wsh, binary ? WS_OP_BINARY : WS_OP_TEXT, len);
    msg_t *m = calloc(1, sizeof(*m) + wshlen + len);
    if (!m)
        return NULL;
    unsigned char *p = (unsigned char *)(m + 1);
    atomic_init(&m->refs, 1);
    m->kind = binary ? MSG_PACKET_BIN : MSG_PACKET;
    memcpy(p, wsh, wshlen);
    if (len)
        memcpy(p + wshlen, pkt, len);
    m->ws = p;
    m->ws_len = wshlen + len;
    m->ws_hdr_len = wshlen;
    return m;
}

void msg_ref(msg_t *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void msg_unref(msg_t *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}
