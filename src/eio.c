/* eio.c - Engine.IO v4 packets, polling payloads, handshake helpers, sids and base64.
 * Pure codec: the one system call is getrandom() in eio_sid_generate(). It does not know
 * about sessions, sockets or timers. */
#include "eio.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dg.h"

/* ==== base64 ============================================================================== */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t eio_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes the base64 of in[0..n) (padded) to out; out holds eio_b64_len(n) bytes. */
static void b64_put(const unsigned char *in, size_t n, char *out, const char *alpha)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = '=';
    }
}

int eio_b64_encode(const void *in, size_t n, char *out, size_t cap)
{
    if (n > (size_t)INT_MAX / 4 * 3)
        return DG_ELIMIT;
    size_t need = eio_b64_len(n);
    if (need >= cap)
        return DG_ELIMIT;
    b64_put(in, n, out, b64_std);
    out[need] = '\0';
    return (int)need;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int eio_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *out_len)
{
    /* Padding: only at the end, at most two, and then the text is a multiple of 4. */
    size_t pad = 0;
    while (pad < n && pad < 3 && in[n - 1 - pad] == '=')
        pad++;
    if (pad > 2 || (pad && n % 4))
        return DG_EPROTO;
    size_t m = n - pad; /* significant characters */
    if (m % 4 == 1)
        return DG_EPROTO;
    size_t need = m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0);
    if (need > cap)
        return DG_ELIMIT;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    /* Reads stay ahead of writes (4 chars -> 3 bytes), so out == in is safe. */
    for (size_t i = 0; i < m; i++) {
        int v = b64_val((unsigned char)in[i]);
        if (v < 0)
            return DG_EPROTO;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return DG_OK;
}

/* ==== Single packets ====================================================================== */

int eio_packet_decode(const char *data, size_t len, int is_binary_frame, char *bin, size_t bincap,
                      eio_packet_t *out)
{
    if (is_binary_frame) {
        out->type = EIO_MESSAGE;
        out->is_binary = 1;
        out->data = data;
        out->len = len;
        return DG_OK;
    }
    if (len == 0)
        return DG_EPROTO;
    if (data[0] == 'b') {
        size_t n;
        if (!bin)
            return DG_ELIMIT;
        int rc = eio_b64_decode(data + 1, len - 1, (unsigned char *)bin, bincap, &n);
        if (rc)
            return rc;
        out->type = EIO_MESSAGE;
        out->is_binary = 1;
        out->data = bin;
        out->len = n;
        return DG_OK;
    }
    if (data[0] < '0' || data[0] > '6')
        return DG_EPROTO;
    out->type = data[0] - '0';
    out->is_binary = 0;
    out->data = data + 1;
    out->len = len - 1;
    return DG_OK;
}

static int type_valid(int type)
{
    return type >= EIO_OPEN && type <= EIO_NOOP;
}

int eio_packet_encode(char *buf, size_t cap, int type, const char *data, size_t len)
{
    if (!type_valid(type))
        return DG_EINVAL;
    if (len > INT_MAX - 2 || cap < len + 2)
        return DG_ELIMIT;
    buf[0] = (char)('0' + type);
    if (len)
        memcpy(buf + 1, data, len);
    buf[len + 1] = '\0';
    return (int)(len + 1);
}

/* ==== Polling payload encoder ============================================================= */

size_t eio_payload_packet_len(const eio_packet_t *p)
{
    return p->is_binary ? 1 + eio_b64_len(p->len) : 1 + p->len;
}

size_t eio_payload_len(const eio_packet_t *pkts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (i ? 1 : 0) + eio_payload_packet_len(&pkts[i]);
    return total;
}

int eio_payload_append(char *buf, size_t cap, size_t *pos, const eio_packet_t *p)
{
    if (p->is_binary ? p->type != EIO_MESSAGE : !type_valid(p->type))
        return DG_EINVAL;
    size_t need = (*pos ? 1 : 0) + eio_payload_packet_len(p);
    if (*pos > cap || cap - *pos < need)
        return DG_ELIMIT;
    char *w = buf + *pos;
    if (*pos)
        *w++ = EIO_SEPARATOR;
    if (p->is_binary) {
        *w++ = 'b';
        b64_put((const unsigned char *)p->data, p->len, w, b64_std);
    } else {
        *w++ = (char)('0' + p->type);
        if (p->len)
            memcpy(w, p->data, p->len);
    }
    *pos += need;
    return DG_OK;
}

int eio_payload_append_raw(char *buf, size_t cap, size_t *pos, const char *pkt, size_t len)
{
    if (len == 0)
        return DG_EINVAL; /* an empty packet would make the receiver fail the whole body */
    size_t need = (*pos ? 1 : 0) + len;
    if (*pos > cap || cap - *pos < need)
        return DG_ELIMIT;
    char *w = buf + *pos;
    if (*pos)
        *w++ = EIO_SEPARATOR;
    memcpy(w, pkt, len);
    *pos += need;
    return DG_OK;
}

int eio_payload_encode(const eio_packet_t *pkts, size_t n, char *buf, size_t cap, size_t *out_len)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = eio_payload_append(buf, cap, &pos, &pkts[i]);
        if (rc)
            return rc;
    }
    *out_len = pos;
    return DG_OK;
}

/* ==== Polling payload decoder ============================================================= */

void eio_pdec_init(eio_pdec_t *d, size_t max_payload)
{
    memset(d, 0, sizeof(*d));
    d->max = max_payload;
    d->state = EIO_PDEC_BODY;
}

static int pdec_fail(eio_pdec_t *d, int err, const char *why)
{
    d->err = err;
    d->state = EIO_PDEC_ERROR;
    snprintf(d->errstr, sizeof(d->errstr), "%s", why);
    return err;
}

int eio_pdec_feed(eio_pdec_t *d, const char *data, size_t len)
{
    if (d->err)
        return d->err;
    if (d->state != EIO_PDEC_BODY)
        return DG_EINVAL;
    if (len > d->max - d->total)
        return pdec_fail(d, DG_ELIMIT, "payload too large");
    /* Drop the packets already returned; their pointers are invalid from here on. */
    if (d->pos) {
        memmove(d->buf, d->buf + d->pos, d->len - d->pos);
        d->len -= d->pos;
        d->scan -= d->pos;
        d->pos = 0;
    }
    if (len > d->cap - d->len) {
        size_t ncap = d->cap ? d->cap : 512;
        while (ncap < d->len + len)
            ncap = ncap > d->max / 2 ? d->max : ncap * 2;
        char *nb = realloc(d->buf, ncap);
        if (!nb)
            return pdec_fail(d, DG_ENOMEM, "out of memory");
        d->buf = nb;
        d->cap = ncap;
    }
    if (len)
        memcpy(d->buf + d->len, data, len);
    d->len += len;
    d->total += len;
    return DG_OK;
}

int eio_pdec_finish(eio_pdec_t *d)
{
    if (d->err)
        return d->err;
    if (d->state == EIO_PDEC_BODY) {
        if (d->total == 0)
            return pdec_fail(d, DG_EPROTO, "empty payload");
        d->state = EIO_PDEC_END;
    }
    return DG_OK;
}

/* Decodes buf[start..end) as one packet; binary is decoded in place. */
static int pdec_packet(eio_pdec_t *d, size_t start, size_t end, eio_packet_t *out)
{
    char *p = d->buf + start;
    size_t n = end - start;
    if (n == 0)
        return pdec_fail(d, DG_EPROTO, "empty packet");
    int rc = eio_packet_decode(p, n, 0, p, n, out);
    if (rc == DG_EPROTO)
        return pdec_fail(d, rc, p[0] == 'b' ? "bad base64" : "unknown packet type");
    if (rc)
        return pdec_fail(d, rc, "bad packet");
    return DG_OK;
}

int eio_pdec_next(eio_pdec_t *d, eio_packet_t *out)
{
    if (d->err)
        return d->err;
    if (d->state == EIO_PDEC_DONE)
        return DG_ECLOSED;
    const char *sep =
        d->scan < d->len ? memchr(d->buf + d->scan, EIO_SEPARATOR, d->len - d->scan) : NULL;
    if (sep) {
        size_t start = d->pos, end = (size_t)(sep - d->buf);
        d->pos = d->scan = end + 1;
        return pdec_packet(d, start, end, out);
    }
    d->scan = d->len;
    if (d->state == EIO_PDEC_BODY)
        return DG_EAGAIN;
    /* End of body: the rest is the last packet (empty after a trailing separator: an error). */
    size_t start = d->pos;
    d->pos = d->scan = d->len;
    d->state = EIO_PDEC_DONE;
    return pdec_packet(d, start, d->len, out);
}

const char *eio_pdec_errstr(const eio_pdec_t *d)
{
    return d->errstr;
}

void eio_pdec_reset(eio_pdec_t *d)
{
    d->len = d->pos = d->scan = d->total = 0;
    d->state = EIO_PDEC_BODY;
    d->err = 0;
    d->errstr[0] = '\0';
}

void eio_pdec_free(eio_pdec_t *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
    eio_pdec_reset(d);
}

/* ==== Open packet ========================================================================= */

int eio_open_encode(char *buf, size_t cap, const char *sid, int can_upgrade,
                    unsigned long ping_interval_ms, unsigned long ping_timeout_ms,
                    unsigned long max_payload)
{
    for (const char *s = sid; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return DG_EINVAL;
    int n = snprintf(buf, cap,
                     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%lu,\"pingTimeout\":%lu,"
                     "\"maxPayload\":%lu}",
                     sid, can_upgrade ? "\"websocket\"" : "", ping_interval_ms, ping_timeout_ms,
                     max_payload);
    if (n < 0 || (size_t)n >= cap)
        return DG_ELIMIT;
    return n;
}

/* ==== Session ids ========================================================================= */

void eio_sid_format(const unsigned char raw[EIO_SID_RAW], char out[EIO_SID_LEN + 1])
{
    b64_put(raw, EIO_SID_RAW, out, b64_url);
    out[EIO_SID_LEN] = '\0';
}

int eio_sid_generate(char out[EIO_SID_LEN + 1])
{
    unsigned char raw[EIO_SID_RAW];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return DG_EIO;
        }
        got += (size_t)r;
    }
    eio_sid_format(raw, out);
    return DG_OK;
}

int eio_sid_valid(const char *s, size_t len)
{
    if (len != EIO_SID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!memchr(b64_url, s[i], sizeof(b64_url) - 1))
            return 0;
    return 1;
}

/* ==== Query string and handshake errors =================================================== */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes, NUL-terminated) the way URLSearchParams does:
 * '+' is a space and a '%' not followed by two hex digits stays literal. Returns the decoded
 * length or DG_ELIMIT when it does not fit. */
static int qs_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && n - i >= 3 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return DG_ELIMIT;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

int eio_query_parse(const char *qs, size_t len, eio_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->eio = 3;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && qs[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && qs[eq] != '=')
            eq++;
        char key[16];
        int kl = qs_decode(qs + i, eq - i, key, sizeof(key));
        const char *v = eq < end ? qs + eq + 1 : qs + end;
        size_t vn = eq < end ? end - eq - 1 : 0;
        if (kl > 0) { /* too long or empty keys are not ours */
            char val[EIO_QS_VALUE_MAX];
            char *dst = NULL;
            if (!strcmp(key, "EIO") || !strcmp(key, "transport"))
                dst = val;
            else if (!strcmp(key, "sid"))
                dst = q->sid;
            else if (!strcmp(key, "t"))
                dst = q->t;
            else if (!strcmp(key, "j"))
                dst = q->j;
            else if (!strcmp(key, "b64"))
                q->has_b64 = 1;
            if (dst) {
                int vl = qs_decode(v, vn, dst, EIO_QS_VALUE_MAX);
                if (vl < 0)
                    return vl;
                if (!strcmp(key, "EIO")) {
                    q->has_eio = 1;
                    q->eio = strcmp(val, "4") ? 3 : 4;
                } else if (!strcmp(key, "transport")) {
                    memcpy(q->transport_name, val, (size_t)vl + 1);
                    q->transport = !strcmp(val, "polling")     ? EIO_TRANSPORT_POLLING
                                   : !strcmp(val, "websocket") ? EIO_TRANSPORT_WEBSOCKET
                                                               : EIO_TRANSPORT_UNKNOWN;
                } else if (!strcmp(key, "j")) {
                    q->has_j = 1;
                }
            }
        }
        i = end + 1;
    }
    return DG_OK;
}

int eio_request_check(const eio_query_t *q, const char *method, int is_upgrade,
                      int session_transport)
{
    if (q->transport == EIO_TRANSPORT_UNKNOWN)
        return EIO_ERR_UNKNOWN_TRANSPORT;
    if (q->sid[0]) {
        if (session_transport == EIO_TRANSPORT_UNKNOWN)
            return EIO_ERR_UNKNOWN_SID;
        if (!is_upgrade && session_transport != q->transport)
            return EIO_ERR_BAD_REQUEST; /* TRANSPORT_MISMATCH */
        if (q->eio != EIO_PROTOCOL)
            return EIO_ERR_BAD_REQUEST; /* PROTOCOL_MISMATCH: every session here is v4 */
    } else {
        if (!method || strcmp(method, "GET"))
            return EIO_ERR_BAD_HANDSHAKE_METHOD;
        if (q->transport == EIO_TRANSPORT_WEBSOCKET && !is_upgrade)
            return EIO_ERR_BAD_REQUEST; /* TRANSPORT_HANDSHAKE_ERROR */
    }
    /* Only the websocket transport handles upgrades (engine.io's handlesUpgrades). */
    if (is_upgrade && q->transport != EIO_TRANSPORT_WEBSOCKET)
        return EIO_ERR_BAD_REQUEST;
    if (!q->sid[0] && q->eio != EIO_PROTOCOL)
        return EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION;
    return EIO_ERR_NONE;
}

const char *eio_error_message(int code)
{
    /* engine.io's Server.errorMessages, verbatim: clients match on them. */
    static const char *const msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version",
    };
    if (code < 0 || (size_t)code >= DG_ARRAY_LEN(msgs))
        return NULL;
    return msgs[code];
}

int eio_error_status(int code)
{
    return code == EIO_ERR_FORBIDDEN ? 403 : 400;
}

int eio_error_body(char *buf, size_t cap, int code)
{
    const char *m = eio_error_message(code);
    if (!m)
        return DG_EINVAL;
    int n = snprintf(buf, cap, "{\"code\":%d,\"message\":\"%s\"}", code, m);
    if (n < 0 || (size_t)n >= cap)
        return DG_ELIMIT;
    return n;
}
