/* eio_session.c - Engine.IO v4 session state machine: heartbeat and timeouts as deadlines,
 * the polling -> websocket upgrade, and held polling requests, following engine.io 6.x's
 * Socket and Polling classes. Pure: the caller passes the time and acts on the result bits. */
#include "eio_session.h"

#include <string.h>

#include "dg.h"

void eio_sess_init(eio_sess_t *s, int transport, const eio_sess_cfg_t *cfg, int64_t now)
{
    memset(s, 0, sizeof(*s));
    s->state = EIO_SESS_OPEN;
    s->transport = transport;
    s->cfg = *cfg;
    s->ping_at = now + cfg->ping_interval_ms;
    s->ping_sent_at = -1;
    s->pong_deadline = -1;
    s->connect_deadline = cfg->connect_timeout_ms > 0 ? now + cfg->connect_timeout_ms : -1;
    s->upgrade_deadline = -1;
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int64_t eio_sess_deadline(const eio_sess_t *s)
{
    if (s->state == EIO_SESS_CLOSED)
        return -1;
    int64_t d = earliest(s->ping_at, s->pong_deadline);
    d = earliest(d, s->connect_deadline);
    return earliest(d, s->upgrade_deadline);
}

int eio_sess_close(eio_sess_t *s, int reason)
{
    if (s->state == EIO_SESS_CLOSED)
        return 0;
    s->state = EIO_SESS_CLOSED;
    s->reason = reason;
    s->upgrade = EIO_UPG_NONE;
    s->ping_at = s->ping_sent_at = s->pong_deadline = -1;
    s->connect_deadline = s->upgrade_deadline = -1;
    return EIO_ACT_CLOSE | (s->get_held ? EIO_ACT_RELEASE_GET : 0);
}

int eio_sess_closed(const eio_sess_t *s)
{
    return s->state == EIO_SESS_CLOSED;
}

int eio_sess_timer(eio_sess_t *s, int64_t now)
{
    if (s->state == EIO_SESS_CLOSED)
        return 0;
    if (s->pong_deadline >= 0 && now >= s->pong_deadline)
        return eio_sess_close(s, EIO_REASON_PING_TIMEOUT);
    if (s->connect_deadline >= 0 && now >= s->connect_deadline)
        return eio_sess_close(s, EIO_REASON_CONNECT_TIMEOUT);
    int act = EIO_ACT_RESCHEDULE;
    if (s->upgrade_deadline >= 0 && now >= s->upgrade_deadline) {
        s->upgrade = EIO_UPG_NONE;
        s->upgrade_deadline = -1;
        act |= EIO_ACT_DROP_PROBE;
    }
    if (s->ping_at >= 0 && now >= s->ping_at) {
        int64_t t = s->cfg.ping_timeout_ms;
        s->ping_sent_at = s->ping_at;
        s->ping_at = -1;
        s->refreshed = 0;
        /* The pong is due pingTimeout after the ping was scheduled, so a client that waits
         * exactly pingInterval + pingTimeout sees the session gone; a timer running late
         * still leaves the client at least half of pingTimeout to answer. */
        s->pong_deadline = s->ping_sent_at + t;
        if (s->pong_deadline < now + t / 2)
            s->pong_deadline = now + t / 2;
        act |= EIO_ACT_PING;
    }
    return act;
}

int eio_sess_packet(eio_sess_t *s, int type, const char *data, size_t len, int64_t now)
{
    (void)data;
    (void)len;
    if (s->state == EIO_SESS_CLOSED)
        return 0;
    int act = 0;
    /* engine.io refreshes the ping timeout once per ping when other traffic arrives, so a
     * busy client whose pong queues behind its own messages is not dropped. */
    if (s->pong_deadline >= 0 && !s->refreshed && type != EIO_PONG) {
        s->pong_deadline = now + s->cfg.ping_timeout_ms;
        s->refreshed = 1;
        act |= EIO_ACT_RESCHEDULE;
    }
    switch (type) {
    case EIO_PING: /* v4 heartbeats go server -> client only */
        return eio_sess_close(s, EIO_REASON_PROTOCOL);
    case EIO_PONG:
        s->pong_deadline = -1;
        s->ping_sent_at = -1;
        s->ping_at = now + s->cfg.ping_interval_ms;
        return act | EIO_ACT_RESCHEDULE;
    case EIO_CLOSE:
        return eio_sess_close(s, EIO_REASON_CLIENT);
    case EIO_MESSAGE:
        return act | EIO_ACT_DELIVER;
    default: /* open, upgrade, noop on the live transport: ignored, as engine.io does */
        return act;
    }
}

int eio_sess_probe_attach(eio_sess_t *s, int64_t now)
{
    if (s->state == EIO_SESS_CLOSED)
        return EIO_ERR_UNKNOWN_SID;
    if (s->transport != EIO_TRANSPORT_POLLING || s->upgrade != EIO_UPG_NONE)
        return EIO_ERR_BAD_REQUEST;
    s->upgrade = EIO_UPG_PROBING;
    s->upgrade_deadline = now + s->cfg.upgrade_timeout_ms;
    return EIO_ERR_NONE;
}

int eio_sess_probe_packet(eio_sess_t *s, int type, const char *data, size_t len, int64_t now)
{
    (void)now;
    if (s->state == EIO_SESS_CLOSED || s->upgrade == EIO_UPG_NONE)
        return 0;
    if (type == EIO_PING && len == 5 && memcmp(data, EIO_PROBE, 5) == 0) {
        s->upgrade = EIO_UPG_PROBED;
        /* engine.io answers a held GET with a noop within 100 ms; doing it at once lets the
         * client finish its pause sooner. */
        return EIO_ACT_PROBE_PONG | (s->get_held ? EIO_ACT_RELEASE_GET : 0);
    }
    s->upgrade_deadline = -1;
    if (type == EIO_UPGRADE) {
        s->upgrade = EIO_UPG_NONE;
        s->transport = EIO_TRANSPORT_WEBSOCKET;
        return EIO_ACT_UPGRADED | EIO_ACT_RESCHEDULE | (s->get_held ? EIO_ACT_RELEASE_GET : 0);
    }
    s->upgrade = EIO_UPG_NONE;
    return EIO_ACT_DROP_PROBE | EIO_ACT_RESCHEDULE;
}

void eio_sess_probe_detach(eio_sess_t *s)
{
    s->upgrade = EIO_UPG_NONE;
    s->upgrade_deadline = -1;
}

static int request_begin(eio_sess_t *s, int *held)
{
    if (s->state == EIO_SESS_CLOSED)
        return EIO_ERR_UNKNOWN_SID;
    if (s->transport != EIO_TRANSPORT_POLLING)
        return EIO_ERR_BAD_REQUEST;
    if (*held) {
        eio_sess_close(s, EIO_REASON_OVERLAP);
        return EIO_ERR_BAD_REQUEST;
    }
    *held = 1;
    return EIO_ERR_NONE;
}

int eio_sess_get_begin(eio_sess_t *s)
{
    return request_begin(s, &s->get_held);
}

void eio_sess_get_end(eio_sess_t *s)
{
    s->get_held = 0;
}

int eio_sess_post_begin(eio_sess_t *s)
{
    return request_begin(s, &s->post_held);
}

void eio_sess_post_end(eio_sess_t *s)
{
    s->post_held = 0;
}

int eio_sess_get_reply(const eio_sess_t *s, int queued)
{
    if (s->state == EIO_SESS_CLOSED)
        return s->reason == EIO_REASON_CLIENT ? EIO_GET_NOOP : EIO_GET_CLOSE;
    if (s->transport != EIO_TRANSPORT_POLLING)
        return EIO_GET_NOOP;
    if (queued)
        return EIO_GET_QUEUED;
    return s->upgrade == EIO_UPG_PROBED ? EIO_GET_NOOP : EIO_GET_WAIT;
}

void eio_sess_app_connected(eio_sess_t *s)
{
    s->connect_deadline = -1;
}

const char *eio_sess_reason_name(int reason)
{
    static const char *const names[EIO_REASON_COUNT] = {
        "none",           "client_close", "transport_close", "ping_timeout", "connect_timeout",
        "protocol_error", "overlap",      "slow_consumer",   "write_failed", "server_close",
    };
    if (reason < 0 || reason >= EIO_REASON_COUNT)
        return "unknown";
    return names[reason];
}
