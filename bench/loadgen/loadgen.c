/* loadgen.c - load generator for dualgate and its Node reference: Socket.IO (raw WebSocket +
 * Engine.IO v4 / Socket.IO v5) and SSE job clients, /logs clients, BullMQ-format XADDs on a
 * pipelined Redis socket, one epoll loop in one thread. It measures and prints "key value"
 * lines on stdout (delivery rate, latency, loss, set-up rate, gateway CPU and RSS from /proc);
 * it asserts nothing. Progress goes to stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lg_hist.h"
#include "lg_proc.h"
#include "lg_resp.h"
#include "lg_wire.h"

int lg_selftest(void); /* lg_selftest.c */

#define LG_MAX_QUEUES 8
#define LG_HEAD_MAX 8192
#define LG_MAX_PAYLOAD (1u << 20)
#define LG_RBUF (64 * 1024)
#define LG_TICK_MS 100
#define LG_REDIS_INFLIGHT 4096 /* unanswered XADDs before the sender waits */
#define LG_REDIS_KEY 0xffffffffu

enum kind { K_SIO, K_SSE, K_LOGSIO, K_LOGSSE };
enum cstate { C_IDLE, C_CONNECTING, C_HEAD, C_WS_OPEN, C_WS_NSP, C_READY, C_DEAD };
enum phase { P_SETUP, P_WARM, P_HOLD, P_RUN, P_DRAIN, P_WAIT, P_FINAL, P_DONE };
/* A stalled client reads normally until the run starts, then never again (ST_STOPPED), until
 * the final read after the run looks for the gateway's EOF or reset (ST_FINAL). */
enum stall { ST_NO, ST_STOPPED, ST_FINAL };
/* How a stalled client was seen closed by the gateway (bits of conn.seen). */
enum seen { SEEN_RST = 1, SEEN_EOF = 2, SEEN_GW = 4 };

typedef struct conn {
    int fd;
    uint8_t kind;         /* enum kind */
    uint8_t state;        /* enum cstate */
    uint8_t warm;         /* saw a warm-up message: subscribed for sure */
    uint8_t slow;         /* reads paced by the tick, not by epoll */
    uint8_t ready_at_run; /* counted in expectations from the start of the run */
    uint8_t frag_op;
    uint8_t unwatched; /* removed from epoll (slow client whose peer hung up) */
    uint32_t job;
    uint64_t rx;   /* measured messages received */
    lg_buf_t in;   /* unparsed input: response head, partial frame, partial SSE line */
    lg_buf_t out;  /* bytes the socket did not take yet */
    lg_buf_t frag; /* fragmented WebSocket message being reassembled */
    lgw_chunk_t ck;
    uint8_t chunked;
    uint8_t stalled;  /* a stalled client: on job 0, never owed anything */
    uint8_t stall;    /* enum stall */
    uint8_t seen;     /* enum seen bits: how the gateway's close showed */
    uint8_t scan_own; /* /proc/net/tcp scan: this socket's own entry was listed */
    uint8_t scan_gw;  /* /proc/net/tcp scan: TCP state of the gateway's end, 0 if absent */
    uint16_t lport;   /* local port (stalled clients), to find the gateway's end */
    float t_closed;   /* seconds from the run start to the first sign of the close */
} conn_t;

typedef struct opts {
    char host[64];
    int port;
    char rhost[64];
    int rport;
    int n_sio, n_sse, n_logsio, n_logsse;
    int jobs, fanout;
    double rate, log_rate, duration, drain, hold, warm_timeout, setup_timeout;
    long log_burst;
    long window;
    int pid;
    int connect_window;
    long slow_bps;
    int slow_rcvbuf;
    char event[32];
    char queues[LG_MAX_QUEUES][64];
    int nq;
    char prefix[64];
    char log_stream[128];
    char job_prefix[32];
    long maxlen;
    char label[64];
    int quiet;
    int n_stalled_sio, n_stalled_sse;
    int stalled_rcvbuf;
    double stalled_wait;
    long burst;
    double hot_share;
    long pad;
} opts_t;

typedef struct gwsample {
    double cpu_s;
    long rss_kb, hwm_kb, threads;
    int ok;
} gwsample_t;

typedef struct lg {
    opts_t o;
    int ep;
    conn_t *c;
    int nconn;
    int next_connect; /* index of the next connection to open */
    int handshaking;  /* connections opened but not ready yet */
    int n_ready, n_failed, n_warm, n_closed_ready;
    int first_bad_status;
    char first_err[160];
    enum phase phase;
    /* redis */
    int rfd;
    lg_buf_t rout;
    redisReader *rr;
    uint64_t r_sent, r_replies, r_errors;
    char r_err[160];
    /* send side */
    uint64_t ev_sent, logs_sent, warm_rounds;
    uint64_t *sent_job; /* measured events per job */
    uint32_t *subs;     /* live subscribers per job */
    uint32_t log_subs;
    uint64_t expected, writeoff;
    /* receive side */
    uint64_t rx_total, rx_other;
    double t_run0, t_last_rx;
    lg_hist_t hist;
    /* gateway */
    long rss_peak_kb;
    long threads_peak;
    uint8_t rbuf[LG_RBUF];
    uint8_t scratch[LG_RBUF + LG_HEAD_MAX];
    uint32_t rnd;
    /* burst and payload */
    uint64_t burst_sent;
    double hot_acc;
    uint32_t rr_job;
    char *evjson; /* one event's JSON (with --pad bytes of padding) */
    size_t evjson_cap;
    /* stalled clients */
    uint32_t *port_conn; /* local port -> stalled connection index + 1 */
    int n_stalled, n_stalled_open;
    uint64_t stall_final_bytes;
    double t_final_rx, next_tcp_scan;
} lg_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---------------------------------------------------------------- time, /proc */

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_us_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void say(const lg_t *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const lg_t *L, const char *fmt, ...)
{
    if (L->o.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen[%s]: ", L->o.label);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Reads a small /proc file whole into buf (NUL-terminated); returns 0 or -1. */
static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return 0;
}

static gwsample_t gw_sample(int pid)
{
    gwsample_t s = {0};
    if (pid <= 0)
        return s;
    char path[64], buf[4096];
    unsigned long long ticks;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof(buf)) || lgp_stat_ticks(buf, &ticks))
        return s;
    s.cpu_s = (double)ticks / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    lgp_status_t st;
    if (read_small(path, buf, sizeof(buf)) || lgp_status_parse(buf, &st))
        return s;
    s.rss_kb = st.rss_kb;
    s.hwm_kb = st.hwm_kb;
    s.threads = st.threads;
    s.ok = 1;
    return s;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- connections */

static int is_job_kind(int k)
{
    return k == K_SIO || k == K_SSE;
}

static int is_ws_kind(int k)
{
    return k == K_SIO || k == K_LOGSIO;
}

static void note_err(lg_t *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_err(lg_t *L, const char *fmt, ...)
{
    if (L->first_err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->first_err, sizeof(L->first_err), fmt, ap);
    va_end(ap);
}

static uint64_t conn_expected(const lg_t *L, const conn_t *c)
{
    if (!c->ready_at_run)
        return 0;
    return is_job_kind(c->kind) ? L->sent_job[c->job] : L->logs_sent;
}

static void conn_close(lg_t *L, conn_t *c, const char *why)
{
    if (c->state == C_DEAD || c->state == C_IDLE)
        return;
    if (c->state == C_READY) {
        L->n_ready--;
        L->n_closed_ready++;
        if (c->ready_at_run) {
            uint64_t e = conn_expected(L, c);
            L->writeoff += e > c->rx ? e - c->rx : 0;
            if (is_job_kind(c->kind))
                L->subs[c->job]--;
            else
                L->log_subs--;
        }
        note_err(L, "ready connection closed: %s", why);
    } else {
        L->handshaking--;
        L->n_failed++;
        note_err(L, "connection set-up failed: %s", why);
    }
    if (c->warm)
        L->n_warm--;
    /* Reset, not FIN: thousands of client-side TIME_WAITs would starve the next run's ports. */
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    lgb_free(&c->in);
    lgb_free(&c->out);
    lgb_free(&c->frag);
}

static void conn_watch(lg_t *L, conn_t *c)
{
    if (c->unwatched)
        return; /* a slow client after a hang-up: only its paced reads touch it now */
    struct epoll_event ev = {0};
    uint32_t in = c->slow ? 0 : EPOLLIN;
    if (c->stall == ST_STOPPED)
        in = EPOLLRDHUP; /* never read again; resets and hang-ups are reported regardless */
    else if (c->stall == ST_FINAL)
        in = EPOLLIN | EPOLLRDHUP;
    ev.events = in | (c->out.len > c->out.off ? EPOLLOUT : 0);
    ev.data.u64 = (uint64_t)(c - L->c);
    epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the socket takes now; keeps the rest in c->out and asks for EPOLLOUT. */
static int conn_send(lg_t *L, conn_t *c, const void *p, size_t n)
{
    if (c->state == C_DEAD)
        return -1;
    const char *s = p;
    if (c->out.len == c->out.off) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_close(L, c, strerror(errno));
            return -1;
        }
        if (w > 0) {
            s += w;
            n -= (size_t)w;
        }
        if (n == 0)
            return 0;
    }
    if (lgb_append(&c->out, s, n)) {
        conn_close(L, c, "out of memory");
        return -1;
    }
    conn_watch(L, c);
    return 0;
}

static void conn_flush(lg_t *L, conn_t *c)
{
    while (c->out.len > c->out.off) {
        ssize_t w = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(L, c, strerror(errno));
            return;
        }
        lgb_consume(&c->out, (size_t)w);
    }
    conn_watch(L, c);
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int ws_send_text(lg_t *L, conn_t *c, int op, const char *p, size_t n)
{
    uint8_t frame[512];
    long fl = lgw_ws_encode(frame, sizeof(frame), op, p, n, xorshift(&L->rnd));
    if (fl < 0) {
        conn_close(L, c, "frame too large");
        return -1;
    }
    return conn_send(L, c, frame, (size_t)fl);
}

static void job_id(const lg_t *L, uint32_t job, char *out, size_t cap)
{
    snprintf(out, cap, "%s%u", L->o.job_prefix, job);
}

static void conn_ready(lg_t *L, conn_t *c)
{
    c->state = C_READY;
    L->handshaking--;
    L->n_ready++;
}

/* One measured or warm-up message: a Socket.IO event's JSON or one SSE data line. */
static void on_payload(lg_t *L, conn_t *c, const char *p, size_t n)
{
    long long seq, t;
    if (lgw_scan_int(p, n, "seq", &seq) != 0) {
        L->rx_other++; /* gateway's own logs, unrelated events */
        return;
    }
    if (seq < 0) {
        if (!c->warm) {
            c->warm = 1;
            L->n_warm++;
        }
        return;
    }
    if (!c->ready_at_run)
        return;
    c->rx++;
    L->rx_total++;
    if (lgw_scan_int(p, n, "t", &t) == 0) {
        int64_t lat = now_us_real() - (int64_t)t;
        lgh_add(&L->hist, lat > 0 ? (uint64_t)lat : 0);
    }
    L->t_last_rx = now_mono();
}

static void eio_packet(lg_t *L, conn_t *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    switch (p[0]) {
    case '0': /* Engine.IO open: join our namespace */
        if (c->state == C_WS_OPEN) {
            if (c->kind == K_LOGSIO)
                ws_send_text(L, c, LGW_WS_TEXT, "40/logs,", 8);
            else
                ws_send_text(L, c, LGW_WS_TEXT, "40", 2);
            if (c->state != C_DEAD)
                c->state = C_WS_NSP;
        }
        return;
    case '2': /* ping: the server closes clients that do not answer */
        ws_send_text(L, c, LGW_WS_TEXT, "3", 1);
        return;
    case '1':
        conn_close(L, c, "engine.io close packet");
        return;
    case '4':
        break;
    default:
        return;
    }
    if (n < 2)
        return;
    switch (p[1]) {
    case '0':
        if (c->state == C_WS_NSP) {
            if (c->kind == K_SIO) {
                char id[48], msg[96];
                job_id(L, c->job, id, sizeof(id));
                int m = snprintf(msg, sizeof(msg), "42[\"subscribe-job\",\"%s\"]", id);
                if (ws_send_text(L, c, LGW_WS_TEXT, msg, (size_t)m))
                    return;
            }
            conn_ready(L, c);
        }
        return;
    case '2':
        on_payload(L, c, p + 2, n - 2);
        return;
    case '4':
        conn_close(L, c, "socket.io connect error");
        return;
    case '1':
        conn_close(L, c, "socket.io disconnect");
        return;
    default:
        return;
    }
}

/* Parses every complete frame in p; returns bytes consumed or -1 after closing c. */
static long ws_parse(lg_t *L, conn_t *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n && c->state != C_DEAD) {
        lgw_frame_t f;
        long r = lgw_ws_next(p + off, n - off, LG_MAX_PAYLOAD, &f);
        if (r == LGW_AGAIN)
            break;
        if (r < 0) {
            conn_close(L, c, r == LGW_ELIMIT ? "frame over limit" : "bad websocket frame");
            return -1;
        }
        off += (size_t)r;
        switch (f.op) {
        case LGW_WS_TEXT:
        case LGW_WS_BIN:
        case LGW_WS_CONT:
            if (f.op != LGW_WS_CONT && f.fin) {
                if (f.op == LGW_WS_TEXT)
                    eio_packet(L, c, (const char *)f.payload, f.len);
                break;
            }
            if (f.op != LGW_WS_CONT) {
                c->frag_op = (uint8_t)f.op;
                c->frag.len = c->frag.off = 0;
            }
            if (lgb_append(&c->frag, f.payload, f.len)) {
                conn_close(L, c, "out of memory");
                return -1;
            }
            if (f.fin) {
                if (c->frag_op == LGW_WS_TEXT)
                    eio_packet(L, c, c->frag.p, c->frag.len);
                lgb_free(&c->frag);
            }
            break;
        case LGW_WS_PING:
            ws_send_text(L, c, LGW_WS_PONG, (const char *)f.payload, f.len);
            break;
        case LGW_WS_CLOSE:
            ws_send_text(L, c, LGW_WS_CLOSE, (const char *)f.payload, f.len < 2 ? f.len : 2);
            conn_close(L, c, "websocket close frame");
            return -1;
        default:
            break;
        }
    }
    return c->state == C_DEAD ? -1 : (long)off;
}

/* Feeds body bytes through the carry buffer to parse; keeps any incomplete tail. */
static void carry_input(lg_t *L, conn_t *c, const uint8_t *p, size_t n,
                        long (*parse)(lg_t *, conn_t *, uint8_t *, size_t))
{
    if (c->in.len > c->in.off || n > LG_RBUF + LG_HEAD_MAX) {
        if (lgb_append(&c->in, p, n)) {
            conn_close(L, c, "out of memory");
            return;
        }
        long used = parse(L, c, (uint8_t *)c->in.p + c->in.off, c->in.len - c->in.off);
        if (used < 0)
            return;
        lgb_consume(&c->in, (size_t)used);
        if (c->in.len == 0)
            lgb_free(&c->in);
        return;
    }
    /* Nothing carried: parse in place. p is one of L's own buffers (rbuf or scratch), which
     * nothing else touches while it is parsed, so unmasking may write to it. */
    uint8_t *buf = (uint8_t *)p;
    long used = parse(L, c, buf, n);
    if (used < 0)
        return;
    if ((size_t)used < n && lgb_append(&c->in, buf + used, n - (size_t)used))
        conn_close(L, c, "out of memory");
}

/* SSE: splits lines; a "data:" line is one message (bench payloads are single-line JSON). */
static long sse_lines(lg_t *L, conn_t *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n && c->state != C_DEAD) {
        uint8_t *nl = memchr(p + off, '\n', n - off);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (p + off));
        const char *line = (const char *)p + off;
        if (len && line[len - 1] == '\r')
            len--;
        if (len >= 5 && memcmp(line, "data:", 5) == 0)
            on_payload(L, c, line + 5, len - 5);
        off += (size_t)(nl - (p + off)) + 1;
    }
    if (n - off > 65536) {
        conn_close(L, c, "sse line over limit");
        return -1;
    }
    return c->state == C_DEAD ? -1 : (long)off;
}

typedef struct sse_ctx {
    lg_t *L;
    conn_t *c;
} sse_ctx_t;

/* Decoded chunk data goes through the line carry. */
static int sse_chunk_data(void *ud, const char *p, size_t n)
{
    sse_ctx_t *x = ud;
    conn_t *c = x->c;
    if (lgb_append(&c->in, p, n)) {
        conn_close(x->L, c, "out of memory");
        return -1;
    }
    long used = sse_lines(x->L, c, (uint8_t *)c->in.p + c->in.off, c->in.len - c->in.off);
    if (used < 0)
        return -1;
    lgb_consume(&c->in, (size_t)used);
    return 0;
}

static void sse_body(lg_t *L, conn_t *c, const uint8_t *p, size_t n)
{
    if (!c->chunked) {
        carry_input(L, c, p, n, sse_lines);
        return;
    }
    sse_ctx_t x = {L, c};
    int r = lgw_chunk_feed(&c->ck, (const char *)p, n, sse_chunk_data, &x);
    if (c->state == C_DEAD)
        return;
    if (c->in.len == c->in.off)
        lgb_free(&c->in);
    if (r == 1)
        conn_close(L, c, "sse body ended");
    else if (r < 0)
        conn_close(L, c, "bad chunked body");
}

static void conn_input(lg_t *L, conn_t *c, const uint8_t *p, size_t n)
{
    if (c->state == C_HEAD) {
        if (lgb_append(&c->in, p, n)) {
            conn_close(L, c, "out of memory");
            return;
        }
        lgw_head_t h;
        int r = lgw_head_parse(c->in.p, c->in.len, LG_HEAD_MAX, &h);
        if (r == LGW_AGAIN)
            return;
        if (r < 0) {
            conn_close(L, c, "bad response head");
            return;
        }
        int want = is_ws_kind(c->kind) ? 101 : 200;
        if (h.status != want) {
            if (!L->first_bad_status)
                L->first_bad_status = h.status;
            conn_close(L, c, "unexpected status");
            return;
        }
        size_t rest = c->in.len - h.length;
        memcpy(L->scratch, c->in.p + h.length, rest);
        lgb_free(&c->in);
        c->chunked = (uint8_t)h.chunked;
        if (is_ws_kind(c->kind)) {
            c->state = C_WS_OPEN;
        } else {
            conn_ready(L, c);
        }
        if (rest)
            conn_input(L, c, L->scratch, rest);
        return;
    }
    if (is_ws_kind(c->kind))
        carry_input(L, c, p, n, ws_parse);
    else
        sse_body(L, c, p, n);
}

static void conn_read(lg_t *L, conn_t *c, size_t budget)
{
    if (budget > LG_RBUF)
        budget = LG_RBUF;
    ssize_t r = recv(c->fd, L->rbuf, budget, 0);
    if (r > 0) {
        conn_input(L, c, L->rbuf, (size_t)r);
        return;
    }
    if (r == 0)
        conn_close(L, c, "peer closed");
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_close(L, c, strerror(errno));
}

static void conn_request(lg_t *L, conn_t *c)
{
    char req[512], id[48];
    int n;
    switch (c->kind) {
    case K_SIO:
    case K_LOGSIO:
        n = snprintf(req, sizeof(req),
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     L->o.host, L->o.port);
        break;
    case K_SSE:
        job_id(L, c->job, id, sizeof(id));
        n = snprintf(req, sizeof(req),
                     "GET /sse/jobs/%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n\r\n",
                     id, L->o.host, L->o.port);
        break;
    default:
        n = snprintf(req, sizeof(req),
                     "GET /sse/logs HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n\r\n",
                     L->o.host, L->o.port);
        break;
    }
    c->state = C_HEAD;
    conn_send(L, c, req, (size_t)n);
    if (c->state != C_DEAD)
        conn_watch(L, c);
}

static void conn_open(lg_t *L, conn_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        L->n_failed++;
        c->state = C_DEAD;
        note_err(L, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!is_job_kind(c->kind) && L->o.slow_bps > 0 && L->o.slow_rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &L->o.slow_rcvbuf, sizeof(L->o.slow_rcvbuf));
    /* Before connect, so the window the gateway sees is small from the first segment. */
    if (c->stalled && L->o.stalled_rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &L->o.stalled_rcvbuf, sizeof(L->o.stalled_rcvbuf));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)L->o.port);
    inet_pton(AF_INET, L->o.host, &sa.sin_addr);
    c->fd = fd;
    c->state = C_CONNECTING;
    L->handshaking++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)(c - L->c)};
    epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        conn_close(L, c, strerror(errno));
}

/* ---------------------------------------------------------------- stalled clients */

/* The gateway closed a stalled client: how is an enum seen bit. A reset or EOF ends our
 * socket too; SEEN_GW (the gateway's end left ESTABLISHED in /proc/net/tcp) keeps it for the
 * final read, which then meets the EOF behind the data the client never read. */
static void stalled_gone(lg_t *L, conn_t *c, int how)
{
    if (!c->seen) {
        L->n_stalled_open--;
        if (c->stall == ST_STOPPED)
            c->t_closed = (float)(now_mono() - L->t_run0);
    }
    c->seen |= (uint8_t)how;
    if (how == SEEN_GW)
        return;
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    lgb_free(&c->in);
    lgb_free(&c->out);
    lgb_free(&c->frag);
}

static void stalled_event(lg_t *L, conn_t *c, uint32_t ev)
{
    if (c->stall == ST_STOPPED) {
        if (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            stalled_gone(L, c, (err || (ev & EPOLLERR)) ? SEEN_RST : SEEN_EOF);
        }
        return;
    }
    /* ST_FINAL: read and discard until the gateway's EOF or reset, or until nothing comes. */
    for (int k = 0; k < 16; k++) {
        ssize_t r = recv(c->fd, L->rbuf, LG_RBUF, 0);
        if (r > 0) {
            L->stall_final_bytes += (uint64_t)r;
            L->t_final_rx = now_mono();
            continue;
        }
        if (r == 0)
            stalled_gone(L, c, SEEN_EOF);
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            stalled_gone(L, c, SEEN_RST);
        return;
    }
}

static void tcp_scan_file(lg_t *L, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    unsigned lp, rp, st, gp = (unsigned)L->o.port;
    while (fgets(line, sizeof(line), f)) {
        if (lgp_tcp_line(line, strlen(line), &lp, &rp, &st))
            continue;
        if (lp == gp && rp < 65536 && L->port_conn[rp])
            L->c[L->port_conn[rp] - 1].scan_gw = (uint8_t)st;
        else if (rp == gp && lp < 65536 && L->port_conn[lp])
            L->c[L->port_conn[lp] - 1].scan_own = 1;
    }
    fclose(f);
}

/* Looks up the gateway's end of every stalled socket still open. A gateway that closes a
 * client it cannot write to leaves its end in FIN_WAIT1 behind the unsent data, and the client
 * sees nothing until it reads: the kernel's table shows the close without a read. Counted only
 * when the client's own end is listed too (the table is visible from here). */
static void tcp_scan(lg_t *L)
{
    if (!L->port_conn || L->n_stalled_open <= 0)
        return;
    tcp_scan_file(L, "/proc/net/tcp");
    tcp_scan_file(L, "/proc/net/tcp6");
    for (int i = 0; i < L->nconn; i++) {
        conn_t *c = &L->c[i];
        if (c->stall == ST_STOPPED && !c->seen && c->scan_own && c->scan_gw != LGP_TCP_ESTABLISHED)
            stalled_gone(L, c, SEEN_GW);
        c->scan_own = c->scan_gw = 0;
    }
}

static void conn_event(lg_t *L, conn_t *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_close(L, c, strerror(err));
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLIN)))
            return;
        if (c->stalled && L->port_conn) {
            struct sockaddr_in me;
            socklen_t ml = sizeof(me);
            if (getsockname(c->fd, (struct sockaddr *)&me, &ml) == 0) {
                c->lport = ntohs(me.sin_port);
                L->port_conn[c->lport] = (uint32_t)(c - L->c) + 1;
            }
        }
        conn_request(L, c);
        return;
    }
    if (c->stall != ST_NO) {
        stalled_event(L, c, ev);
        return;
    }
    if ((ev & EPOLLOUT) && c->state != C_DEAD)
        conn_flush(L, c);
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->state != C_DEAD) {
        if (!c->slow) {
            conn_read(L, c, LG_RBUF);
        } else if (!c->unwatched) {
            /* A hang-up is reported even with no events asked for, and stays reported while
             * unread data remains: stop watching, the paced reads will reach the end. */
            epoll_ctl(L->ep, EPOLL_CTL_DEL, c->fd, NULL);
            c->unwatched = 1;
        }
    }
}

/* ---------------------------------------------------------------- redis */

static int redis_connect(lg_t *L)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)L->o.rport);
    if (inet_pton(AF_INET, L->o.rhost, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    L->rfd = fd;
    L->rr = redisReaderCreate();
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LG_REDIS_KEY};
    epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev);
    return L->rr ? 0 : -1;
}

static void redis_watch(lg_t *L)
{
    struct epoll_event ev = {.events = EPOLLIN | (L->rout.len > L->rout.off ? EPOLLOUT : 0),
                             .data.u64 = LG_REDIS_KEY};
    epoll_ctl(L->ep, EPOLL_CTL_MOD, L->rfd, &ev);
}

static int redis_flush(lg_t *L)
{
    while (L->rout.len > L->rout.off) {
        ssize_t w = send(L->rfd, L->rout.p + L->rout.off, L->rout.len - L->rout.off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        lgb_consume(&L->rout, (size_t)w);
    }
    redis_watch(L);
    return 0;
}

static int redis_read(lg_t *L)
{
    ssize_t r = recv(L->rfd, L->rbuf, LG_RBUF, 0);
    if (r == 0)
        return -1;
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    if (redisReaderFeed(L->rr, (const char *)L->rbuf, (size_t)r) != REDIS_OK)
        return -1;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(L->rr, &reply) != REDIS_OK)
            return -1;
        if (!reply)
            break;
        redisReply *rep = reply;
        L->r_replies++;
        if (rep->type == REDIS_REPLY_ERROR) {
            L->r_errors++;
            if (!L->r_err[0])
                snprintf(L->r_err, sizeof(L->r_err), "%s", rep->str);
        }
        freeReplyObject(reply);
    }
    return 0;
}

static void redis_cmd(lg_t *L, int argc, const char **argv, const size_t *lens)
{
    if (lgr_command(&L->rout, argc, argv, lens)) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    L->r_sent++;
}

static int redis_busy(const lg_t *L)
{
    return L->r_sent - L->r_replies >= LG_REDIS_INFLIGHT;
}

/* One event's JSON into L->evjson: the send time, seq and, for measured events, --pad bytes
 * of padding after them (the scanner finds t and seq first). Returns its length. */
static int event_json(lg_t *L, long long seq)
{
    int n = snprintf(L->evjson, L->evjson_cap, "{\"t\":%lld,\"seq\":%lld", (long long)now_us_real(),
                     seq);
    if (seq >= 0 && L->o.pad > 0) {
        memcpy(L->evjson + n, ",\"pad\":\"", 8);
        n += 8;
        memset(L->evjson + n, 'x', (size_t)L->o.pad);
        n += (int)L->o.pad;
        L->evjson[n++] = '"';
    }
    L->evjson[n++] = '}';
    L->evjson[n] = 0;
    return n;
}

/* XADDs one job event shaped like BullMQ's own (progress with JSON data, or completed with a
 * JSON returnvalue) carrying the send time; seq < 0 marks a warm-up message. */
static void xadd_event(lg_t *L, uint32_t job, long long seq)
{
    char key[160], id[48], maxlen[24];
    const char *q = L->o.queues[job % (uint32_t)L->o.nq];
    int kl = snprintf(key, sizeof(key), "%s:%s:events", L->o.prefix, q);
    job_id(L, job, id, sizeof(id));
    const char *payload = L->evjson;
    int pl = event_json(L, seq);
    int ml = snprintf(maxlen, sizeof(maxlen), "%ld", L->o.maxlen);
    const char *argv[16];
    size_t lens[16];
    int a = 0;
#define ARG(s, l) (argv[a] = (s), lens[a] = (size_t)(l), a++)
    ARG("XADD", 4);
    ARG(key, kl);
    if (L->o.maxlen > 0) {
        ARG("MAXLEN", 6);
        ARG("~", 1);
        ARG(maxlen, ml);
    }
    ARG("*", 1);
    ARG("event", 5);
    int completed = strcmp(L->o.event, "completed") == 0;
    ARG(L->o.event, strlen(L->o.event));
    ARG("jobId", 5);
    ARG(id, strlen(id));
    if (completed) {
        ARG("returnvalue", 11);
        ARG(payload, pl);
        ARG("prev", 4);
        ARG("active", 6);
    } else {
        ARG("data", 4);
        ARG(payload, pl);
    }
    redis_cmd(L, a, argv, lens);
}

static void xadd_log(lg_t *L, long long seq)
{
    char ts[32], msg[96], maxlen[24];
    int64_t us = now_us_real();
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    int tl = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    tl += snprintf(ts + tl, sizeof(ts) - (size_t)tl, ".%03dZ", (int)((us / 1000) % 1000));
    int mlen = snprintf(msg, sizeof(msg), "{\"t\":%lld,\"seq\":%lld}", (long long)us, seq);
    int ml = snprintf(maxlen, sizeof(maxlen), "%ld", L->o.maxlen);
    const char *argv[16];
    size_t lens[16];
    int a = 0;
    ARG("XADD", 4);
    ARG(L->o.log_stream, strlen(L->o.log_stream));
    if (L->o.maxlen > 0) {
        ARG("MAXLEN", 6);
        ARG("~", 1);
        ARG(maxlen, ml);
    }
    ARG("*", 1);
    ARG("ts", 2);
    ARG(ts, tl);
    ARG("level", 5);
    ARG("info", 4);
    ARG("ns", 2);
    ARG("loadgen", 7);
    ARG("msg", 3);
    ARG(msg, mlen);
#undef ARG
    redis_cmd(L, a, argv, lens);
}

/* ---------------------------------------------------------------- loop */

static double g_next_tick;

/* Folds a gateway sample into the peaks; returns it. */
static gwsample_t gw_note(lg_t *L, gwsample_t s)
{
    if (s.ok) {
        if (s.rss_kb > L->rss_peak_kb)
            L->rss_peak_kb = s.rss_kb;
        if (s.threads > L->threads_peak)
            L->threads_peak = s.threads;
    }
    return s;
}

static void tick(lg_t *L)
{
    gw_note(L, gw_sample(L->o.pid));
    if (L->phase >= P_RUN && L->phase <= P_WAIT && now_mono() >= L->next_tcp_scan) {
        tcp_scan(L);
        L->next_tcp_scan = now_mono() + 0.25;
    }
    if (L->o.slow_bps > 0) {
        size_t budget = (size_t)(L->o.slow_bps * LG_TICK_MS / 1000);
        if (budget == 0)
            budget = 1;
        for (int i = 0; i < L->nconn; i++) {
            conn_t *c = &L->c[i];
            if (c->slow && c->state != C_DEAD)
                conn_read(L, c, budget);
        }
    }
}

/* Opens connections up to the handshake window. */
static void open_more(lg_t *L)
{
    while (L->next_connect < L->nconn && L->handshaking < L->o.connect_window)
        conn_open(L, &L->c[L->next_connect++]);
}

static void loop_once(lg_t *L, int timeout_ms)
{
    double now = now_mono();
    int until_tick = (int)((g_next_tick - now) * 1000);
    if (until_tick < 0)
        until_tick = 0;
    if (timeout_ms < 0 || timeout_ms > until_tick)
        timeout_ms = until_tick;
    struct epoll_event evs[512];
    int n = epoll_wait(L->ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint64_t k = evs[i].data.u64;
        if (k == LG_REDIS_KEY) {
            if ((evs[i].events & EPOLLOUT) && redis_flush(L)) {
                fprintf(stderr, "loadgen: redis write failed\n");
                exit(1);
            }
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && redis_read(L)) {
                fprintf(stderr, "loadgen: redis connection lost\n");
                exit(1);
            }
            continue;
        }
        conn_event(L, &L->c[k], evs[i].events);
    }
    if (L->phase == P_SETUP)
        open_more(L);
    if (now_mono() >= g_next_tick) {
        tick(L);
        g_next_tick = now_mono() + LG_TICK_MS / 1000.0;
    }
}

/* ---------------------------------------------------------------- options */

static void usage(void)
{
    fputs("usage: loadgen [options]\n"
          "  --url http://127.0.0.1:8081   gateway (IPv4 literal)\n"
          "  --redis redis://127.0.0.1:6379\n"
          "  --sio N --sse M               Socket.IO / SSE job clients\n"
          "  --log-sio K --log-sse K       Socket.IO /logs and SSE /sse/logs clients\n"
          "  --fanout F (10) | --jobs J    subscribers per job, or number of job ids\n"
          "  --rate R                      job events/s (0: max rate, closed loop, --window)\n"
          "  --window D (10000)            max rate: deliveries in flight\n"
          "  --log-rate R                  log entries/s during the run\n"
          "  --log-burst N                 log entries XADDed at once when the run starts\n"
          "  --duration S (10)             seconds of sending\n"
          "  --drain S (5)                 max seconds waiting for late deliveries\n"
          "  --hold S (0)                  seconds to hold connections before sending\n"
          "  --pid PID                     gateway process to sample (/proc)\n"
          "  --connect-window N (128)      concurrent handshakes\n"
          "  --slow-bps B                  log clients read at most B bytes/s each in the run\n"
          "  --slow-rcvbuf B (8192)        their SO_RCVBUF\n"
          "  --event progress|completed    job event type XADDed (progress)\n"
          "  --burst K                     job events XADDed at once when the run starts\n"
          "  --hot-share F (0)             share of the burst sent to job 0, the rest round-robin\n"
          "  --pad B (0)                   bytes of padding in each measured event's JSON\n"
          "  --stalled-sio N --stalled-sse N  clients on job 0 that stop reading at the run\n"
          "                                (never owed events; their closing is observed)\n"
          "  --stalled-rcvbuf B (4096)     their SO_RCVBUF\n"
          "  --stalled-wait S (0)          after the drain, wait up to S s for them to be closed\n"
          "  --queues a,b,c --prefix bull --log-stream dualgate:logs --maxlen 10000\n"
          "  --job-prefix lg- --label NAME --warm-timeout S (20) --setup-timeout S (180)\n"
          "  --quiet | --selftest\n",
          stderr);
}

static int parse_hostport(const char *url, const char *scheme, char *host, size_t hcap, int *port)
{
    size_t sl = strlen(scheme);
    if (strncmp(url, scheme, sl) != 0)
        return -1;
    const char *h = url + sl;
    const char *at = strchr(h, '@'); /* credentials are not supported; skip them */
    if (at)
        h = at + 1;
    const char *colon = strchr(h, ':');
    const char *end = h + strcspn(h, "/");
    if (!colon || colon > end)
        return -1;
    size_t hl = (size_t)(colon - h);
    if (hl == 0 || hl >= hcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, hcap, "127.0.0.1");
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (p <= 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static long num(const char *s, const char *name)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || *e || v < 0) {
        fprintf(stderr, "loadgen: bad %s: %s\n", name, s);
        exit(2);
    }
    return v;
}

static double fnum(const char *s, const char *name)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || *e || v < 0 || !isfinite(v)) {
        fprintf(stderr, "loadgen: bad %s: %s\n", name, s);
        exit(2);
    }
    return v;
}

static void parse_opts(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 8081;
    snprintf(o->rhost, sizeof(o->rhost), "127.0.0.1");
    o->rport = 6379;
    o->fanout = 10;
    o->window = 10000;
    o->duration = 10;
    o->drain = 5;
    o->warm_timeout = 20;
    o->setup_timeout = 180;
    o->connect_window = 128;
    o->slow_rcvbuf = 8192;
    o->stalled_rcvbuf = 4096;
    snprintf(o->event, sizeof(o->event), "progress");
    const char *qs = "http,sparql,techstack,analyzer";
    snprintf(o->prefix, sizeof(o->prefix), "bull");
    snprintf(o->log_stream, sizeof(o->log_stream), "dualgate:logs");
    snprintf(o->job_prefix, sizeof(o->job_prefix), "lg-");
    snprintf(o->label, sizeof(o->label), "run");
    o->maxlen = 10000;
    static const struct option lo[] = {{"url", 1, 0, 'u'},
                                       {"redis", 1, 0, 'r'},
                                       {"sio", 1, 0, 1},
                                       {"sse", 1, 0, 2},
                                       {"log-sio", 1, 0, 3},
                                       {"log-sse", 1, 0, 4},
                                       {"fanout", 1, 0, 5},
                                       {"jobs", 1, 0, 6},
                                       {"rate", 1, 0, 7},
                                       {"window", 1, 0, 8},
                                       {"log-rate", 1, 0, 9},
                                       {"log-burst", 1, 0, 10},
                                       {"duration", 1, 0, 11},
                                       {"drain", 1, 0, 12},
                                       {"hold", 1, 0, 13},
                                       {"pid", 1, 0, 14},
                                       {"connect-window", 1, 0, 15},
                                       {"slow-bps", 1, 0, 16},
                                       {"slow-rcvbuf", 1, 0, 17},
                                       {"event", 1, 0, 18},
                                       {"queues", 1, 0, 19},
                                       {"prefix", 1, 0, 20},
                                       {"log-stream", 1, 0, 21},
                                       {"maxlen", 1, 0, 22},
                                       {"job-prefix", 1, 0, 23},
                                       {"label", 1, 0, 24},
                                       {"warm-timeout", 1, 0, 25},
                                       {"setup-timeout", 1, 0, 26},
                                       {"quiet", 0, 0, 27},
                                       {"selftest", 0, 0, 28},
                                       {"stalled-sio", 1, 0, 29},
                                       {"stalled-sse", 1, 0, 30},
                                       {"stalled-rcvbuf", 1, 0, 31},
                                       {"stalled-wait", 1, 0, 32},
                                       {"burst", 1, 0, 33},
                                       {"hot-share", 1, 0, 34},
                                       {"pad", 1, 0, 35},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (parse_hostport(optarg, "http://", o->host, sizeof(o->host), &o->port)) {
                fprintf(stderr, "loadgen: bad --url (want http://IPV4:PORT)\n");
                exit(2);
            }
            break;
        case 'r':
            if (parse_hostport(optarg, "redis://", o->rhost, sizeof(o->rhost), &o->rport)) {
                fprintf(stderr, "loadgen: bad --redis (want redis://IPV4:PORT)\n");
                exit(2);
            }
            break;
        case 1:
            o->n_sio = (int)num(optarg, "--sio");
            break;
        case 2:
            o->n_sse = (int)num(optarg, "--sse");
            break;
        case 3:
            o->n_logsio = (int)num(optarg, "--log-sio");
            break;
        case 4:
            o->n_logsse = (int)num(optarg, "--log-sse");
            break;
        case 5:
            o->fanout = (int)num(optarg, "--fanout");
            break;
        case 6:
            o->jobs = (int)num(optarg, "--jobs");
            break;
        case 7:
            o->rate = fnum(optarg, "--rate");
            break;
        case 8:
            o->window = num(optarg, "--window");
            break;
        case 9:
            o->log_rate = fnum(optarg, "--log-rate");
            break;
        case 10:
            o->log_burst = num(optarg, "--log-burst");
            break;
        case 11:
            o->duration = fnum(optarg, "--duration");
            break;
        case 12:
            o->drain = fnum(optarg, "--drain");
            break;
        case 13:
            o->hold = fnum(optarg, "--hold");
            break;
        case 14:
            o->pid = (int)num(optarg, "--pid");
            break;
        case 15:
            o->connect_window = (int)num(optarg, "--connect-window");
            break;
        case 16:
            o->slow_bps = num(optarg, "--slow-bps");
            break;
        case 17:
            o->slow_rcvbuf = (int)num(optarg, "--slow-rcvbuf");
            break;
        case 18:
            snprintf(o->event, sizeof(o->event), "%s", optarg);
            break;
        case 19:
            qs = optarg;
            break;
        case 20:
            snprintf(o->prefix, sizeof(o->prefix), "%s", optarg);
            break;
        case 21:
            snprintf(o->log_stream, sizeof(o->log_stream), "%s", optarg);
            break;
        case 22:
            o->maxlen = num(optarg, "--maxlen");
            break;
        case 23:
            snprintf(o->job_prefix, sizeof(o->job_prefix), "%s", optarg);
            break;
        case 24:
            snprintf(o->label, sizeof(o->label), "%s", optarg);
            break;
        case 25:
            o->warm_timeout = fnum(optarg, "--warm-timeout");
            break;
        case 26:
            o->setup_timeout = fnum(optarg, "--setup-timeout");
            break;
        case 27:
            o->quiet = 1;
            break;
        case 28:
            exit(lg_selftest() ? 1 : 0);
        case 29:
            o->n_stalled_sio = (int)num(optarg, "--stalled-sio");
            break;
        case 30:
            o->n_stalled_sse = (int)num(optarg, "--stalled-sse");
            break;
        case 31:
            o->stalled_rcvbuf = (int)num(optarg, "--stalled-rcvbuf");
            break;
        case 32:
            o->stalled_wait = fnum(optarg, "--stalled-wait");
            break;
        case 33:
            o->burst = num(optarg, "--burst");
            break;
        case 34:
            o->hot_share = fnum(optarg, "--hot-share");
            break;
        case 35:
            o->pad = num(optarg, "--pad");
            break;
        default:
            usage();
            exit(ch == 'h' ? 0 : 2);
        }
    }
    if (o->hot_share > 1) {
        fprintf(stderr, "loadgen: --hot-share must be within 0..1\n");
        exit(2);
    }
    if (o->pad > 60000) { /* an SSE line must stay under the reader's 64 KiB line limit */
        fprintf(stderr, "loadgen: --pad must be at most 60000\n");
        exit(2);
    }
    if (strcmp(o->event, "progress") != 0 && strcmp(o->event, "completed") != 0) {
        fprintf(stderr, "loadgen: --event must be progress or completed\n");
        exit(2);
    }
    /* Split the comma-separated queue list in place of a tokenizer. */
    const char *s = qs;
    while (*s && o->nq < LG_MAX_QUEUES) {
        size_t l = strcspn(s, ",");
        if (l && l < sizeof(o->queues[0])) {
            memcpy(o->queues[o->nq], s, l);
            o->queues[o->nq][l] = 0;
            o->nq++;
        }
        s += l;
        if (*s == ',')
            s++;
    }
    if (o->nq == 0) {
        fprintf(stderr, "loadgen: empty --queues\n");
        exit(2);
    }
    int njob = o->n_sio + o->n_sse;
    if (o->jobs <= 0)
        o->jobs = njob > 0 ? (njob + (o->fanout > 0 ? o->fanout : 1) - 1) /
                                 (o->fanout > 0 ? o->fanout : 1)
                           : 1;
    if (o->connect_window < 1)
        o->connect_window = 1;
}

/* ---------------------------------------------------------------- phases */

/* The stalled clients' lines: how many stopped reading at the run, how many the gateway
 * closed (by any sign: a reset, an EOF, its end of the socket leaving ESTABLISHED), how many
 * are still open, when the closes were first seen, and what the final read still got. */
static void print_stalled(const lg_t *L)
{
    int rst = 0, eof = 0, gw = 0, closed = 0;
    double first = -1, last = -1;
    for (int i = 0; i < L->nconn; i++) {
        const conn_t *c = &L->c[i];
        if (c->stall == ST_NO)
            continue;
        rst += !!(c->seen & SEEN_RST);
        eof += !!(c->seen & SEEN_EOF);
        gw += !!(c->seen & SEEN_GW);
        closed += !!c->seen;
        if (c->seen && c->t_closed > 0) {
            if (first < 0 || c->t_closed < first)
                first = c->t_closed;
            if (c->t_closed > last)
                last = c->t_closed;
        }
    }
    printf("stalled_clients %d\n", L->n_stalled);
    printf("stalled_closed %d\n", closed);
    printf("stalled_open_end %d\n", L->n_stalled - closed);
    printf("stalled_rst %d\n", rst);
    printf("stalled_eof %d\n", eof);
    printf("stalled_gw_closed %d\n", gw);
    printf("stalled_first_close_s %.2f\n", first);
    printf("stalled_last_close_s %.2f\n", last);
    printf("stalled_owed_events %llu\n", (unsigned long long)L->sent_job[0]);
    printf("stalled_final_read_bytes %llu\n", (unsigned long long)L->stall_final_bytes);
}

/* After the drain: gives the gateway up to --stalled-wait seconds to close the stalled clients
 * (resets and its ends leaving ESTABLISHED are seen meanwhile), then reads every stalled socket
 * still open until its EOF or reset, or until nothing came for 0.5 s (open: the gateway is
 * still sending to it, or holds it idle), 5 s at most. */
static void stalled_finish(lg_t *L)
{
    L->phase = P_WAIT;
    double wait_end = now_mono() + L->o.stalled_wait;
    while (!g_stop && now_mono() < wait_end && L->n_stalled_open > 0)
        loop_once(L, 50);
    tcp_scan(L);
    say(L, "stalled clients: %d of %d seen closed before the final read",
        L->n_stalled - L->n_stalled_open, L->n_stalled);
    L->phase = P_FINAL;
    int reading = 0;
    for (int i = 0; i < L->nconn; i++) {
        conn_t *c = &L->c[i];
        if (c->stall == ST_STOPPED && c->state != C_DEAD) {
            c->stall = ST_FINAL;
            conn_watch(L, c);
            reading = 1;
        }
    }
    double t0 = now_mono();
    L->t_final_rx = t0;
    while (!g_stop && reading && now_mono() - t0 < 5.0 && now_mono() - L->t_final_rx < 0.5) {
        loop_once(L, 20);
        reading = 0;
        for (int i = 0; i < L->nconn && !reading; i++)
            reading = L->c[i].stall == ST_FINAL && L->c[i].state != C_DEAD;
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void setup_conns(lg_t *L)
{
    const opts_t *o = &L->o;
    int n_stalled = o->n_stalled_sio + o->n_stalled_sse;
    L->nconn = o->n_sio + o->n_sse + o->n_logsio + o->n_logsse + n_stalled;
    L->c = calloc((size_t)(L->nconn ? L->nconn : 1), sizeof(conn_t));
    L->sent_job = calloc((size_t)o->jobs, sizeof(uint64_t));
    L->subs = calloc((size_t)o->jobs, sizeof(uint32_t));
    if (!L->c || !L->sent_job || !L->subs) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    /* Interleave kinds so a partial set-up still exercises every transport, and give every
     * job the same number of subscribers of each kind. */
    int left[4] = {o->n_sio, o->n_sse, o->n_logsio, o->n_logsse};
    uint32_t next_job[2] = {0, 0};
    int i = 0;
    while (i < L->nconn - n_stalled) {
        for (int k = 0; k < 4 && i < L->nconn; k++) {
            if (!left[k])
                continue;
            left[k]--;
            conn_t *c = &L->c[i++];
            c->fd = -1;
            c->kind = (uint8_t)k;
            if (k < 2)
                c->job = next_job[k]++ % (uint32_t)o->jobs;
        }
    }
    /* Stalled clients last, alternating kinds, all in job 0's room. */
    int st_left[2] = {o->n_stalled_sio, o->n_stalled_sse};
    while (i < L->nconn) {
        for (int k = 0; k < 2 && i < L->nconn; k++) {
            if (!st_left[k])
                continue;
            st_left[k]--;
            conn_t *c = &L->c[i++];
            c->fd = -1;
            c->kind = (uint8_t)k;
            c->job = 0;
            c->stalled = 1;
        }
    }
    if (n_stalled && !(L->port_conn = calloc(65536, sizeof(uint32_t)))) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    L->evjson_cap = (size_t)o->pad + 128;
    if (!(L->evjson = malloc(L->evjson_cap))) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
}

static int all_settled(const lg_t *L)
{
    return L->next_connect >= L->nconn && L->handshaking == 0;
}

static int n_log_clients(const lg_t *L)
{
    return L->o.n_logsio + L->o.n_logsse;
}

int main(int argc, char **argv)
{
    static lg_t LG; /* large: the read buffers live here, not on the stack */
    lg_t *L = &LG;
    parse_opts(&L->o, argc, argv);
    const opts_t *o = &L->o;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    raise_nofile();
    L->rnd = (uint32_t)now_us_real() | 1u;
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    if (L->ep < 0 || redis_connect(L)) {
        fprintf(stderr, "loadgen: cannot connect to redis %s:%d\n", o->rhost, o->rport);
        return 1;
    }
    setup_conns(L);
    g_next_tick = now_mono();
    lgh_reset(&L->hist);

    gwsample_t g_base = gw_note(L, gw_sample(o->pid));

    /* Set-up: every client through its handshake (Socket.IO: namespace ack; SSE: 200). */
    L->phase = P_SETUP;
    double t_setup0 = now_mono();
    say(L, "connecting %d clients (%d sio, %d sse, %d log-sio, %d log-sse, %d stalled, %d jobs)",
        L->nconn, o->n_sio, o->n_sse, o->n_logsio, o->n_logsse, o->n_stalled_sio + o->n_stalled_sse,
        o->jobs);
    open_more(L);
    while (!g_stop && !all_settled(L) && now_mono() - t_setup0 < o->setup_timeout)
        loop_once(L, 50);
    double t_setup = now_mono() - t_setup0;
    int ready_after_setup = L->n_ready;
    gwsample_t g_setup = gw_note(L, gw_sample(o->pid));
    say(L, "set-up: %d ready, %d failed in %.2fs", L->n_ready, L->n_failed, t_setup);

    /* Warm-up: a marked message to every job and the log stream, repeated, until every ready
     * client has seen one. Subscriptions are unacknowledged in Socket.IO, so this is the only
     * way to know the room joins (and the gateway's stream readers) are in place. */
    L->phase = P_WARM;
    double t_warm0 = now_mono(), next_round = 0;
    while (!g_stop && L->n_warm < L->n_ready && now_mono() - t_warm0 < o->warm_timeout) {
        if (now_mono() >= next_round && !redis_busy(L)) {
            for (int j = 0; j < o->jobs && (o->n_sio + o->n_sse) > 0; j++)
                xadd_event(L, (uint32_t)j, -1);
            if (n_log_clients(L))
                xadd_log(L, -1);
            L->warm_rounds++;
            redis_flush(L);
            next_round = now_mono() + 0.25;
        }
        loop_once(L, 10);
    }
    double t_warm = now_mono() - t_warm0;
    say(L, "warm-up: %d of %d ready clients warm after %.2fs (%llu rounds)", L->n_warm, L->n_ready,
        t_warm, (unsigned long long)L->warm_rounds);
    /* Let stray warm-up messages land before anything is counted. */
    double settle = now_mono() + 0.3;
    while (!g_stop && now_mono() < settle)
        loop_once(L, 50);

    L->phase = P_HOLD;
    double hold_end = now_mono() + o->hold;
    while (!g_stop && now_mono() < hold_end)
        loop_once(L, 100);
    gwsample_t g_conn = gw_note(L, gw_sample(o->pid));
    int ready_at_run = L->n_ready, warm_at_run = L->n_warm;

    /* Run. */
    for (int i = 0; i < L->nconn; i++) {
        conn_t *c = &L->c[i];
        if (c->state != C_READY)
            continue;
        if (c->stalled) { /* stops reading for good; owed nothing */
            c->stall = ST_STOPPED;
            L->n_stalled++;
            L->n_stalled_open++;
            conn_watch(L, c);
            continue;
        }
        c->ready_at_run = 1;
        if (is_job_kind(c->kind))
            L->subs[c->job]++;
        else
            L->log_subs++;
        if (!is_job_kind(c->kind) && o->slow_bps > 0) {
            c->slow = 1;
            conn_watch(L, c);
        }
    }
    L->phase = P_RUN;
    gwsample_t g_run0 = gw_note(L, gw_sample(o->pid));
    double self0 = self_cpu();
    double t0 = now_mono();
    L->t_run0 = t0;
    L->t_last_rx = t0;
    int have_jobs = (o->n_sio + o->n_sse) > 0;
    uint64_t ev_target = (uint64_t)llround(o->rate * o->duration);
    uint64_t log_target = (uint64_t)llround(o->log_rate * o->duration);
    long long seq = 0, lseq = 0;
    uint32_t next_job = 0;
    double t_send_end = t0;
    say(L, "run: %s, %.0fs, %d clients", o->rate > 0 ? "paced" : "max rate", o->duration,
        ready_at_run);
    for (;;) {
        if (g_stop)
            break;
        double el = now_mono() - t0;
        int sending = 0;
        /* Job events: a burst first (as fast as Redis takes them), then the load. */
        if (have_jobs && L->burst_sent < (uint64_t)o->burst) {
            sending = 1;
            int budget = 2000;
            while (L->burst_sent < (uint64_t)o->burst && budget-- > 0 && !redis_busy(L)) {
                uint32_t j;
                L->hot_acc += o->hot_share;
                if (L->hot_acc >= 1.0) {
                    L->hot_acc -= 1.0;
                    j = 0;
                } else {
                    j = L->rr_job++ % (uint32_t)o->jobs;
                }
                L->sent_job[j]++;
                L->expected += L->subs[j];
                xadd_event(L, j, seq++);
                L->ev_sent++;
                L->burst_sent++;
            }
        } else if (have_jobs && el < o->duration) {
            sending = 1;
            if (o->rate > 0) {
                uint64_t due = (uint64_t)(el * o->rate);
                if (due > ev_target)
                    due = ev_target;
                int budget = 2000;
                while (L->ev_sent - L->burst_sent < due && budget-- > 0 && !redis_busy(L)) {
                    uint32_t j = next_job++ % (uint32_t)o->jobs;
                    L->sent_job[j]++;
                    L->expected += L->subs[j];
                    xadd_event(L, j, seq++);
                    L->ev_sent++;
                }
            } else {
                int budget = 2000;
                while (budget-- > 0 && !redis_busy(L)) {
                    uint32_t j = next_job % (uint32_t)o->jobs;
                    uint64_t inflight = L->expected - L->rx_total - L->writeoff;
                    if (inflight + L->subs[j] > (uint64_t)o->window && inflight > 0)
                        break;
                    next_job++;
                    L->sent_job[j]++;
                    L->expected += L->subs[j];
                    xadd_event(L, j, seq++);
                    L->ev_sent++;
                }
            }
        }
        /* Log entries: a burst first, then the paced rate. */
        if (n_log_clients(L) && (uint64_t)lseq < (uint64_t)o->log_burst) {
            sending = 1;
            int budget = 2000;
            while ((uint64_t)lseq < (uint64_t)o->log_burst && budget-- > 0 && !redis_busy(L)) {
                L->logs_sent++;
                L->expected += L->log_subs;
                xadd_log(L, lseq++);
            }
        } else if (n_log_clients(L) && o->log_rate > 0 && el < o->duration) {
            sending = 1;
            uint64_t due = (uint64_t)o->log_burst + (uint64_t)(el * o->log_rate);
            if (due > (uint64_t)o->log_burst + log_target)
                due = (uint64_t)o->log_burst + log_target;
            int budget = 2000;
            while ((uint64_t)lseq < due && budget-- > 0 && !redis_busy(L)) {
                L->logs_sent++;
                L->expected += L->log_subs;
                xadd_log(L, lseq++);
            }
        }
        if (redis_flush(L)) {
            fprintf(stderr, "loadgen: redis write failed\n");
            return 1;
        }
        if (!sending && L->r_replies == L->r_sent) {
            t_send_end = now_mono();
            break;
        }
        loop_once(L, (o->rate > 0 || o->log_rate > 0) ? 1 : 5);
    }

    /* Drain: until every expected delivery arrived (or was written off with its closed
     * connection), or the drain time is up. */
    L->phase = P_DRAIN;
    double drain_end = now_mono() + o->drain;
    while (!g_stop && now_mono() < drain_end && L->rx_total + L->writeoff < L->expected)
        loop_once(L, 20);
    int complete = L->rx_total + L->writeoff >= L->expected;
    double t_end = complete && L->rx_total ? L->t_last_rx : now_mono();
    if (t_end < t_send_end && !L->rx_total)
        t_end = t_send_end;
    gwsample_t g_run1 = gw_note(L, gw_sample(o->pid));
    double self1 = self_cpu();
    if (L->n_stalled)
        stalled_finish(L);
    gw_note(L, gw_sample(o->pid));
    L->phase = P_DONE;

    /* Per-client accounting: every client ready at the start of the run is owed every
     * message sent to its job (or every log entry), closed or not. */
    uint64_t lost = 0, extra = 0, owed = 0;
    int clients_lossy = 0;
    for (int i = 0; i < L->nconn; i++) {
        conn_t *c = &L->c[i];
        if (!c->ready_at_run)
            continue;
        uint64_t e = conn_expected(L, c);
        owed += e;
        if (c->rx < e) {
            lost += e - c->rx;
            clients_lossy++;
        } else {
            extra += c->rx - e;
        }
    }
    double run_s = t_end - t0;
    if (run_s <= 0)
        run_s = 1e-9;
    double gw_cpu = g_run1.cpu_s - g_run0.cpu_s;

    printf("label %s\n", o->label);
    printf("clients %d\n", L->nconn);
    printf("clients_ready %d\n", ready_after_setup);
    printf("clients_failed %d\n", L->nconn - ready_after_setup);
    printf("setup_s %.3f\n", t_setup);
    printf("setup_rate_per_s %.1f\n", t_setup > 0 ? ready_after_setup / t_setup : 0);
    printf("warm_s %.3f\n", t_warm);
    printf("clients_unwarmed %d\n", ready_at_run - warm_at_run);
    printf("jobs %d\n", o->jobs);
    printf("events_sent %llu\n", (unsigned long long)L->ev_sent);
    printf("logs_sent %llu\n", (unsigned long long)L->logs_sent);
    printf("send_s %.3f\n", t_send_end - t0);
    printf("events_per_s %.1f\n",
           t_send_end > t0 ? (double)(L->ev_sent + L->logs_sent) / (t_send_end - t0) : 0);
    printf("run_s %.3f\n", run_s);
    printf("deliveries %llu\n", (unsigned long long)L->rx_total);
    printf("expected %llu\n", (unsigned long long)owed);
    printf("lost %llu\n", (unsigned long long)lost);
    printf("extra %llu\n", (unsigned long long)extra);
    printf("clients_lossy %d\n", clients_lossy);
    printf("clients_closed %d\n", L->n_closed_ready);
    printf("deliveries_per_s %.1f\n", (double)L->rx_total / run_s);
    printf("lat_p50_us %llu\n", (unsigned long long)lgh_quantile(&L->hist, 0.50));
    printf("lat_p90_us %llu\n", (unsigned long long)lgh_quantile(&L->hist, 0.90));
    printf("lat_p99_us %llu\n", (unsigned long long)lgh_quantile(&L->hist, 0.99));
    printf("lat_max_us %llu\n", (unsigned long long)lgh_quantile(&L->hist, 1.0));
    printf("lat_mean_us %.1f\n", L->hist.count ? (double)L->hist.sum / (double)L->hist.count : 0.0);
    printf("other_messages %llu\n", (unsigned long long)L->rx_other);
    printf("redis_commands %llu\n", (unsigned long long)L->r_sent);
    printf("redis_errors %llu\n", (unsigned long long)L->r_errors);
    printf("loadgen_cpu_s %.3f\n", self1 - self0);
    if (o->pid > 0) {
        printf("gw_cpu_setup_s %.2f\n", g_setup.cpu_s - g_base.cpu_s);
        printf("gw_cpu_s %.2f\n", gw_cpu);
        printf("gw_cpu_pct %.1f\n", 100.0 * gw_cpu / run_s);
        printf("gw_cpu_us_per_delivery %.3f\n",
               L->rx_total ? gw_cpu * 1e6 / (double)L->rx_total : 0.0);
        printf("gw_rss_base_kb %ld\n", g_base.rss_kb);
        printf("gw_rss_conn_kb %ld\n", g_conn.rss_kb);
        printf("gw_rss_end_kb %ld\n", g_run1.rss_kb);
        printf("gw_rss_peak_kb %ld\n", L->rss_peak_kb);
        printf("gw_hwm_kb %ld\n", g_run1.hwm_kb);
        printf("gw_threads %ld\n", L->threads_peak);
        printf("gw_rss_per_conn_b %.0f\n",
               ready_at_run ? (double)(g_conn.rss_kb - g_base.rss_kb) * 1024.0 / ready_at_run
                            : 0.0);
        printf("gw_rss_total_per_conn_b %.0f\n",
               ready_at_run ? (double)g_conn.rss_kb * 1024.0 / ready_at_run : 0.0);
    }
    if (o->n_stalled_sio + o->n_stalled_sse > 0)
        print_stalled(L);
    if (L->first_bad_status)
        printf("first_bad_status %d\n", L->first_bad_status);
    if (L->first_err[0])
        printf("first_error %s\n", L->first_err);
    if (L->r_err[0])
        printf("redis_first_error %s\n", L->r_err);
    fflush(stdout);
    say(L, "done: %llu/%llu delivered, %llu lost, p99 %.2f ms", (unsigned long long)L->rx_total,
        (unsigned long long)owed, (unsigned long long)lost, lgh_quantile(&L->hist, 0.99) / 1000.0);

    for (int i = 0; i < L->nconn; i++) {
        conn_t *c = &L->c[i];
        if (c->state != C_DEAD && c->state != C_IDLE)
            conn_close(L, c, "teardown");
    }
    free(L->c);
    free(L->port_conn);
    free(L->evjson);
    free(L->sent_job);
    free(L->subs);
    lgb_free(&L->rout);
    redisReaderFree(L->rr);
    close(L->rfd);
    close(L->ep);
    return 0;
}
