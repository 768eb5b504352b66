/* config.c - dualgate configuration: defaults, `key = value` files, environment overrides,
 * cross-key validation and the effective-configuration dump.
 * Not a runtime registry: it never logs, never exits, and opens no file but the one it is given. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "acl.h"
#include "cursor.h"
#include "dg.h"
#include "jpath.h"
#include "route.h"

#ifndef DG_DEFAULT_WWW
#define DG_DEFAULT_WWW "www"
#endif
#ifndef DG_DEFAULT_CLIENT_JS
#define DG_DEFAULT_CLIENT_JS ""
#endif

#define CFG_LINE_MAX 4096       /* longer lines are an error, not silently split */
#define CFG_FD_RESERVE 64       /* listener, Redis connections, log files, static files */
#define CFG_MS_MIN 10L
#define CFG_MS_MAX 3600000L

/* ---------------------------------------------------------------------------------------------
 * Key table: one row per configuration key; parsing, env names, dump and range re-checks all
 * iterate over it, so adding a key is one row plus, for structured values, one parser. */

enum cfg_kind {
    K_HOST,   /* IPv4 literal to bind */
    K_STR,    /* free text path, may be empty unless min > 0 */
    K_TOKEN,  /* non-empty, printable ASCII without whitespace */
    K_INT,    /* int field, range [min, max] */
    K_LONG,   /* long field, range [min, max] */
    K_BOOL,   /* int field, 0 or 1 */
    K_LEVEL,  /* int field, enum cfg_level */
    K_CORS,   /* cors_any + cors_origins */
    K_REDIS,  /* redis_host/port/user/password/db */
    K_QUEUES, /* queues + nqueues */
    K_EVENTS, /* events + nevents */
    K_PATH,   /* URL path starting and ending with '/' */
    K_AUTH,   /* int field, enum cfg_auth */
    K_SECRET, /* like K_STR (may be empty), masked in dumps */
    K_RULE,   /* access rule text (acl.h); min = 1 allows owner terms */
    K_ROUTES, /* routes text (route.h) */
    K_CLAIM,  /* claim path (jpath.h) */
    K_PREFIX, /* user_room_prefix: may be empty */
    K_RTYPES, /* client_rooms + nclient_rooms; may be empty */
    K_RELAY,  /* relay_events + nrelay_events; may be empty */
    K_RATE,   /* relay_rate_count + relay_rate_per_ms */
};

typedef struct cfg_key {
    const char *name;
    enum cfg_kind kind;
    size_t off;  /* field offset for scalar kinds */
    size_t size; /* field size for string kinds */
    long min, max;
} cfg_key_t;

#define F(field) offsetof(cfg_t, field), sizeof(((cfg_t *)0)->field)

static const cfg_key_t cfg_keys[] = {
    {"bind", K_HOST, F(bind), 0, 0},
    {"port", K_INT, F(port), 1, 65535},
    {"max_connections", K_INT, F(max_connections), 1, 1000000},
    {"http_threads", K_INT, F(http_threads), 4, 4096},
    {"io_threads", K_INT, F(io_threads), 0, 64}, /* CN_SHARDS */
    {"write_timeout_ms", K_INT, F(write_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"header_timeout_ms", K_INT, F(header_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"body_timeout_ms", K_INT, F(body_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"max_pending_heads", K_INT, F(max_pending_heads), 1, 1000000},
    {"drain_ms", K_INT, F(drain_ms), 0, CFG_MS_MAX},
    {"document_root", K_STR, F(document_root), 1, 0},
    {"socketio_client_js", K_STR, F(client_js), 0, 0},
    {"cors_origin", K_CORS, 0, 0, 0, 0},
    {"redis_url", K_REDIS, 0, 0, 0, 0},
    {"prefix", K_TOKEN, F(prefix), 0, 0},
    {"queues", K_QUEUES, 0, 0, 0, 0},
    {"events", K_EVENTS, 0, 0, 0, 0},
    {"log_stream", K_TOKEN, F(log_stream), 0, 0},
    {"log_stream_maxlen", K_LONG, F(log_stream_maxlen), 1, 1000000000L},
    {"redis_timeout_ms", K_INT, F(redis_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"redis_ping_interval_ms", K_INT, F(redis_ping_interval_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"heartbeat_ms", K_INT, F(heartbeat_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"sse_retry_ms", K_INT, F(sse_retry_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"queue_max_msgs", K_INT, F(queue_max_msgs), 1024, 10000000}, /* >= one Redis read (1000) */
    {"queue_max_bytes", K_LONG, F(queue_max_bytes), 1, INT_MAX},
    {"queue_soft_bytes", K_LONG, F(queue_soft_bytes), 0, INT_MAX},
    {"queue_soft_ms", K_INT, F(queue_soft_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"max_id_len", K_INT, F(max_id_len), 1, 8192},
    {"socketio_path", K_PATH, F(sio_path), 0, 0},
    {"ping_interval_ms", K_INT, F(ping_interval_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"ping_timeout_ms", K_INT, F(ping_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"max_payload", K_LONG, F(max_payload), 1, 1073741824L},
    {"connect_timeout_ms", K_INT, F(connect_timeout_ms), CFG_MS_MIN, CFG_MS_MAX},
    {"max_pending_sessions", K_INT, F(max_pending_sessions), 1, 1000000},
    {"conformance", K_BOOL, F(conformance), 0, 1},
    {"recovery", K_BOOL, F(recovery), 0, 1},
    {"recovery_max_disconnect_ms", K_INT, F(recovery_max_disconnect_ms), 1000, 86400000},
    {"connected_event", K_BOOL, F(connected_event), 0, 1},
    {"log_level", K_LEVEL, F(log_level), 0, 0},
    {"log_publish_level", K_LEVEL, F(log_publish_level), 0, 0},
    {"auth", K_AUTH, F(auth), 0, 0},
    {"jwt_secret", K_SECRET, F(jwt_secret), 0, 0},
    {"jwt_public_key_file", K_STR, F(jwt_public_key_file), 0, 0},
    {"jwt_issuer", K_STR, F(jwt_issuer), 0, 0},
    {"jwt_audience", K_STR, F(jwt_audience), 0, 0},
    {"jwt_clock_skew_s", K_INT, F(jwt_clock_skew_s), 0, 3600},
    {"jwt_require_exp", K_BOOL, F(jwt_require_exp), 0, 1},
    {"jwt_user_claim", K_CLAIM, F(jwt_user_claim), 0, 0},
    {"token_expiry_warning_s", K_INT, F(token_expiry_warning_s), 0, 86400},
    {"user_room_prefix", K_PREFIX, F(user_room_prefix), 0, 0},
    {"access_jobs", K_RULE, F(access_jobs), 1, 0},
    {"access_queues", K_RULE, F(access_queues), 0, 0},
    {"access_logs", K_RULE, F(access_logs), 0, 0},
    {"access_logs_write", K_RULE, F(access_logs_write), 0, 0},
    {"access_rooms", K_RULE, F(access_rooms), 0, 0},
    {"access_user_rooms", K_RULE, F(access_user_rooms), 0, 0},
    {"routes", K_ROUTES, F(routes), 0, 0},
    {"client_rooms", K_RTYPES, 0, 0, 0, 0},
    {"client_rooms_max", K_INT, F(client_rooms_max), 1, 1024},
    {"relay_events", K_RELAY, 0, 0, 0, 0},
    {"relay_rate", K_RATE, 0, 0, 0, 0},
    {"relay_burst", K_INT, F(relay_burst), 1, 100000},
};

#define CFG_NKEYS DG_ARRAY_LEN(cfg_keys)

/* Names the Node original read; applied before DUALGATE_<KEY> so the specific name wins. */
static const struct {
    const char *env;
    const char *key;
} cfg_legacy_env[] = {
    {"PORT", "port"},
    {"REDIS_URL", "redis_url"},
    {"SOCKETS_CORS_ORIGIN", "cors_origin"},
};

static const char *const cfg_level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const cfg_auth_names[] = {"off", "optional", "required"};

/* Events a client could never relay: Socket.IO's own and the ones dualgate answers itself. */
static const char *const cfg_unrelayable[] = {
    "connect",         "connect_error",     "disconnect", "disconnecting", "newListener",
    "removeListener",  "join_room",         "leave_room", "subscribe-job", "unsubscribe-job",
    "subscribe-queue", "unsubscribe-queue", "ping",       "log",
};

/* Room types a client may not join: the broker names job and queue rooms this way. */
static const char *const cfg_reserved_room_types[] = {"job", "queue"};

#define CFG_SECRET_MIN 32 /* RFC 7518 3.2: an HS256 key is at least as long as the hash */

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
    if (!buf || len == 0)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

static const cfg_key_t *key_find(const char *name)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

static int *field_int(cfg_t *c, const cfg_key_t *k)
{
    return (int *)((char *)c + k->off);
}

static long *field_long(cfg_t *c, const cfg_key_t *k)
{
    return (long *)((char *)c + k->off);
}

static char *field_str(cfg_t *c, const cfg_key_t *k)
{
    return (char *)c + k->off;
}

static const void *field_ro(const cfg_t *c, const cfg_key_t *k)
{
    return (const char *)c + k->off;
}

/* Copies s into a fixed field, zero-filling the rest so two equal configs compare equal. */
static void store(char *dst, size_t size, const char *s, size_t n)
{
    memset(dst, 0, size);
    memcpy(dst, s, n);
}

static int is_name_char(int ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
}

static int is_host_char(int ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_';
}

/* Full-string decimal integer in [min, max]; strtol alone accepts "12abc" and " 12". */
static int parse_long(const char *s, long min, long max, long *out, char *why, size_t wlen)
{
    if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1])))) {
        fmt(why, wlen, "not an integer");
        return DG_EINVAL;
    }
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*end != '\0') {
        fmt(why, wlen, "not an integer");
        return DG_EINVAL;
    }
    if (errno == ERANGE || v < min || v > max) {
        fmt(why, wlen, "must be between %ld and %ld", min, max);
        return DG_EINVAL;
    }
    *out = v;
    return DG_OK;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};
    for (size_t i = 0; i < DG_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return DG_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return DG_OK;
        }
    }
    return DG_EINVAL;
}

/* Splits a comma list into trimmed items; calls fn for each; stops at the first error. */
typedef int (*item_fn)(void *ud, const char *item, size_t n, char *why, size_t wlen);

static int split_list(const char *s, item_fn fn, void *ud, char *why, size_t wlen)
{
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *b = p;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        int rc = fn(ud, b, (size_t)(e - b), why, wlen);
        if (rc != DG_OK)
            return rc;
        if (!comma)
            return DG_OK;
        p = comma + 1;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Structured values */

struct name_list {
    const char *what; /* "queue" or "event" */
    char (*names)[CFG_NAME_MAX];
    int n, max;
};

static int name_item(void *ud, const char *s, size_t n, char *why, size_t wlen)
{
    struct name_list *l = ud;
    if (n == 0) {
        fmt(why, wlen, "empty %s name in list", l->what);
        return DG_EINVAL;
    }
    if (n >= CFG_NAME_MAX) {
        fmt(why, wlen, "%s name '%.*s...' longer than %d characters", l->what, 16, s,
            CFG_NAME_MAX - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_name_char(s[i])) {
            fmt(why, wlen, "invalid %s name '%.*s' (allowed: A-Z a-z 0-9 _ . -)", l->what, (int)n,
                s);
            return DG_EINVAL;
        }
    }
    for (int i = 0; i < l->n; i++) {
        if (strlen(l->names[i]) == n && memcmp(l->names[i], s, n) == 0) {
            fmt(why, wlen, "duplicate %s name '%.*s'", l->what, (int)n, s);
            return DG_EINVAL;
        }
    }
    if (l->n >= l->max) {
        fmt(why, wlen, "too many %s names (max %d)", l->what, l->max);
        return DG_EINVAL;
    }
    store(l->names[l->n++], CFG_NAME_MAX, s, n);
    return DG_OK;
}

static int set_queues(cfg_t *c, const char *v, char *why, size_t wlen)
{
    char names[CFG_MAX_QUEUES][CFG_NAME_MAX];
    memset(names, 0, sizeof(names));
    struct name_list l = {"queue", names, 0, CFG_MAX_QUEUES};
    int rc = split_list(v, name_item, &l, why, wlen);
    if (rc != DG_OK)
        return rc;
    memcpy(c->queues, names, sizeof(names));
    c->nqueues = l.n;
    return DG_OK;
}

static int set_events(cfg_t *c, const char *v, char *why, size_t wlen)
{
    char names[CFG_MAX_EVENTS][CFG_NAME_MAX];
    memset(names, 0, sizeof(names));
    if (strcmp(v, "*") == 0) {
        memcpy(c->events, names, sizeof(names));
        c->nevents = 0;
        return DG_OK;
    }
    if (strchr(v, '*')) {
        fmt(why, wlen, "'*' must stand alone (all events) or be left out");
        return DG_EINVAL;
    }
    struct name_list l = {"event", names, 0, CFG_MAX_EVENTS};
    int rc = split_list(v, name_item, &l, why, wlen);
    if (rc != DG_OK)
        return rc;
    memcpy(c->events, names, sizeof(names));
    c->nevents = l.n;
    return DG_OK;
}

struct origin_list {
    char (*origins)[CFG_STR_MAX];
    int n;
};

/* scheme://host[:port], exactly what a browser puts in the Origin header. */
static int origin_item(void *ud, const char *s, size_t n, char *why, size_t wlen)
{
    struct origin_list *l = ud;
    if (n == 0) {
        fmt(why, wlen, "empty origin in list");
        return DG_EINVAL;
    }
    if (n >= CFG_STR_MAX) {
        fmt(why, wlen, "origin longer than %d characters", CFG_STR_MAX - 1);
        return DG_EINVAL;
    }
    int ni = (int)n;
    size_t i = 0;
    if (!isalpha((unsigned char)s[0]))
        goto shape;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '.' || s[i] == '-'))
        i++;
    if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
        goto shape;
    i += 3;
    size_t host = i;
    while (i < n && is_host_char(s[i]))
        i++;
    if (i == host) {
        fmt(why, wlen, "origin '%.*s' has no host", ni, s);
        return DG_EINVAL;
    }
    if (i < n && s[i] == ':') {
        size_t port = ++i;
        unsigned long pv = 0;
        while (i < n && isdigit((unsigned char)s[i]) && i - port < 6)
            pv = pv * 10 + (unsigned long)(s[i++] - '0');
        if (i == port || pv < 1 || pv > 65535 || (i < n && isdigit((unsigned char)s[i]))) {
            fmt(why, wlen, "origin '%.*s' has a bad port (1 to 65535)", ni, s);
            return DG_EINVAL;
        }
    }
    if (i < n && s[i] == '/') {
        if (i + 1 == n)
            fmt(why, wlen, "origin '%.*s' must not end with '/'", ni, s);
        else
            fmt(why, wlen, "origin '%.*s' must not have a path", ni, s);
        return DG_EINVAL;
    }
    if (i != n)
        goto shape;
    for (int k = 0; k < l->n; k++) {
        if (strlen(l->origins[k]) == n && strncasecmp(l->origins[k], s, n) == 0) {
            fmt(why, wlen, "duplicate origin '%.*s'", ni, s);
            return DG_EINVAL;
        }
    }
    if (l->n >= CFG_MAX_ORIGINS) {
        fmt(why, wlen, "too many origins (max %d)", CFG_MAX_ORIGINS);
        return DG_EINVAL;
    }
    store(l->origins[l->n++], CFG_STR_MAX, s, n);
    return DG_OK;
shape:
    fmt(why, wlen, "origin '%.*s' is not scheme://host[:port]", ni, s);
    return DG_EINVAL;
}

static int set_cors(cfg_t *c, const char *v, char *why, size_t wlen)
{
    char origins[CFG_MAX_ORIGINS][CFG_STR_MAX];
    memset(origins, 0, sizeof(origins));
    if (strcmp(v, "*") == 0) {
        memcpy(c->cors_origins, origins, sizeof(origins));
        c->ncors_origins = 0;
        c->cors_any = 1;
        return DG_OK;
    }
    if (v[0] == '\0') {
        fmt(why, wlen, "must not be empty (use * for any origin)");
        return DG_EINVAL;
    }
    if (strchr(v, '*')) {
        fmt(why, wlen, "'*' must stand alone (any origin); wildcard patterns are not supported");
        return DG_EINVAL;
    }
    struct origin_list l = {origins, 0};
    int rc = split_list(v, origin_item, &l, why, wlen);
    if (rc != DG_OK)
        return rc;
    memcpy(c->cors_origins, origins, sizeof(origins));
    c->ncors_origins = l.n;
    c->cors_any = 0;
    return DG_OK;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower((unsigned char)ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (size outlen, NUL-terminated). */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen, const char *what,
                      char *why, size_t wlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n) {
                fmt(why, wlen, "bad percent-encoding in %s", what);
                return DG_EINVAL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                fmt(why, wlen, "bad percent-encoding in %s", what);
                return DG_EINVAL;
            }
            ch = h * 16 + l;
            if (ch == 0) {
                fmt(why, wlen, "NUL byte in %s", what);
                return DG_EINVAL;
            }
            i += 2;
        }
        if (o + 1 >= outlen) {
            fmt(why, wlen, "%s longer than %zu bytes", what, outlen - 1);
            return DG_EINVAL;
        }
        out[o++] = (char)ch;
    }
    memset(out + o, 0, outlen - o);
    return DG_OK;
}

#define REDIS_URL_FORM "redis://[[user]:password@]host[:port][/db]"

static int set_redis(cfg_t *c, const char *v, char *why, size_t wlen)
{
    char host[CFG_STR_MAX], user[CFG_STR_MAX], pass[CFG_STR_MAX];
    long port = 6379, db = 0;
    memset(host, 0, sizeof(host));
    memset(user, 0, sizeof(user));
    memset(pass, 0, sizeof(pass));

    if (strncasecmp(v, "rediss://", 9) == 0) {
        fmt(why, wlen, "TLS not supported (rediss://); use redis://");
        return DG_EINVAL;
    }
    if (strncasecmp(v, "redis://", 8) != 0) {
        fmt(why, wlen, "must start with redis:// (%s)", REDIS_URL_FORM);
        return DG_EINVAL;
    }
    const char *rest = v + 8;
    /* The last '@' ends the credentials: passwords may carry unencoded '@' or '/', hosts not. */
    const char *at = strrchr(rest, '@');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon) {
            fmt(why, wlen, "credentials must be [user]:password@ (%s)", REDIS_URL_FORM);
            return DG_EINVAL;
        }
        int rc = pct_decode(rest, (size_t)(colon - rest), user, sizeof(user), "user", why, wlen);
        if (rc == DG_OK)
            rc = pct_decode(colon + 1, (size_t)(at - colon - 1), pass, sizeof(pass), "password",
                            why, wlen);
        if (rc != DG_OK)
            return rc;
        rest = at + 1;
    }
    if (strpbrk(rest, "?#")) {
        fmt(why, wlen, "query parameters are not supported (%s)", REDIS_URL_FORM);
        return DG_EINVAL;
    }
    if (rest[0] == '[') {
        fmt(why, wlen, "IPv6 addresses are not supported");
        return DG_EINVAL;
    }
    size_t hlen = strcspn(rest, ":/");
    if (hlen == 0) {
        fmt(why, wlen, "missing host (%s)", REDIS_URL_FORM);
        return DG_EINVAL;
    }
    if (hlen >= CFG_STR_MAX) {
        fmt(why, wlen, "host longer than %d characters", CFG_STR_MAX - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < hlen; i++) {
        if (!is_host_char(rest[i])) {
            fmt(why, wlen, "invalid host '%.*s'", (int)hlen, rest);
            return DG_EINVAL;
        }
    }
    memcpy(host, rest, hlen);
    const char *p = rest + hlen;
    if (*p == ':') {
        char num[16];
        size_t plen = strcspn(p + 1, "/");
        if (plen == 0 || plen >= sizeof(num)) {
            fmt(why, wlen, "port must be between 1 and 65535");
            return DG_EINVAL;
        }
        memcpy(num, p + 1, plen);
        num[plen] = '\0';
        char sub[64];
        if (parse_long(num, 1, 65535, &port, sub, sizeof(sub)) != DG_OK) {
            fmt(why, wlen, "port %s%s", strncmp(sub, "not ", 4) == 0 ? "is " : "", sub);
            return DG_EINVAL;
        }
        p += 1 + plen;
    }
    if (*p == '/' && p[1] != '\0') {
        char sub[64];
        if (parse_long(p + 1, 0, INT_MAX, &db, sub, sizeof(sub)) != DG_OK) {
            fmt(why, wlen, "db must be a non-negative integer, got '%s'", p + 1);
            return DG_EINVAL;
        }
    }
    memcpy(c->redis_host, host, sizeof(host));
    memcpy(c->redis_user, user, sizeof(user));
    memcpy(c->redis_password, pass, sizeof(pass));
    c->redis_port = (int)port;
    c->redis_db = (int)db;
    return DG_OK;
}

static int set_path(cfg_t *c, const cfg_key_t *k, const char *v, char *why, size_t wlen)
{
    size_t n = strlen(v);
    if (n == 0 || v[0] != '/' || v[n - 1] != '/') {
        fmt(why, wlen, "must start and end with '/' (e.g. /socket.io/)");
        return DG_EINVAL;
    }
    if (n >= k->size) {
        fmt(why, wlen, "longer than %zu characters", k->size - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(is_name_char(v[i]) || v[i] == '/' || v[i] == '~')) {
            fmt(why, wlen, "invalid character '%c' (allowed: A-Z a-z 0-9 _ . - ~ /)", v[i]);
            return DG_EINVAL;
        }
        if (v[i] == '/' && i + 1 < n && v[i + 1] == '/') {
            fmt(why, wlen, "must not contain '//'");
            return DG_EINVAL;
        }
    }
    store(field_str(c, k), k->size, v, n);
    return DG_OK;
}

/* A name list that may be empty (the feature is then off) and must avoid reserved names:
 * client_rooms and relay_events. */
struct opt_names {
    const char *what; /* "room type" */
    const char *const *reserved;
    size_t nreserved;
    const char *why_reserved; /* "%s" is the name */
    char (*dst)[CFG_NAME_MAX];
    int *ndst, max;
};

static int set_opt_names(const struct opt_names *o, const char *v, char *why, size_t wlen)
{
    char names[CFG_MAX_ROOM_TYPES > CFG_MAX_RELAY_EVENTS ? CFG_MAX_ROOM_TYPES
                                                         : CFG_MAX_RELAY_EVENTS][CFG_NAME_MAX];
    memset(names, 0, sizeof(names));
    struct name_list l = {o->what, names, 0, o->max};
    if (v[0] != '\0') {
        int rc = split_list(v, name_item, &l, why, wlen);
        if (rc != DG_OK)
            return rc;
    }
    for (int i = 0; i < l.n; i++) {
        for (size_t j = 0; j < o->nreserved; j++) {
            if (strcmp(names[i], o->reserved[j]) == 0) {
                fmt(why, wlen, o->why_reserved, names[i]);
                return DG_EINVAL;
            }
        }
    }
    memcpy(o->dst, names, (size_t)o->max * CFG_NAME_MAX);
    *o->ndst = l.n;
    return DG_OK;
}

static int set_room_types(cfg_t *c, const char *v, char *why, size_t wlen)
{
    const struct opt_names o = {"room type",
                                cfg_reserved_room_types,
                                DG_ARRAY_LEN(cfg_reserved_room_types),
                                "room type '%s' is reserved (job and queue rooms)",
                                c->client_rooms,
                                &c->nclient_rooms,
                                CFG_MAX_ROOM_TYPES};
    return set_opt_names(&o, v, why, wlen);
}

static int set_relay_events(cfg_t *c, const char *v, char *why, size_t wlen)
{
    const struct opt_names o = {"event",
                                cfg_unrelayable,
                                DG_ARRAY_LEN(cfg_unrelayable),
                                "event '%s' cannot be relayed (used by Socket.IO or dualgate)",
                                c->relay_events,
                                &c->nrelay_events,
                                CFG_MAX_RELAY_EVENTS};
    return set_opt_names(&o, v, why, wlen);
}

/* <count>/<s|m|h>, e.g. 10/s. */
static int set_rate(cfg_t *c, const char *v, char *why, size_t wlen)
{
    static const struct {
        char unit;
        int ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}};
    const char *slash = strchr(v, '/');
    char num[16];
    size_t n = slash ? (size_t)(slash - v) : 0;
    long count;
    if (!slash || n == 0 || n >= sizeof(num) || slash[1] == '\0' || slash[2] != '\0') {
        fmt(why, wlen, "must be <count>/<s|m|h> (e.g. 10/s)");
        return DG_EINVAL;
    }
    memcpy(num, v, n);
    num[n] = '\0';
    char sub[64];
    if (parse_long(num, 1, 100000, &count, sub, sizeof(sub)) != DG_OK) {
        fmt(why, wlen, "count %s%s", strncmp(sub, "not ", 4) == 0 ? "is " : "", sub);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < DG_ARRAY_LEN(units); i++) {
        if (slash[1] == units[i].unit) {
            c->relay_rate_count = (int)count;
            c->relay_rate_per_ms = units[i].ms;
            return DG_OK;
        }
    }
    fmt(why, wlen, "must be <count>/<s|m|h> (e.g. 10/s)");
    return DG_EINVAL;
}

/* Free text with no control characters, fitting the field (K_STR's checks). */
static int check_text(const cfg_key_t *k, const char *v, size_t n, char *why, size_t wlen)
{
    if (n < (size_t)k->min) {
        fmt(why, wlen, "must not be empty");
        return DG_EINVAL;
    }
    if (n >= k->size) {
        fmt(why, wlen, "longer than %zu bytes", k->size - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (iscntrl((unsigned char)v[i])) {
            fmt(why, wlen, "must not contain control characters");
            return DG_EINVAL;
        }
    }
    return DG_OK;
}

static int set_routes(cfg_t *c, const cfg_key_t *k, const char *v, size_t n, char *why, size_t wlen)
{
    if (check_text(k, v, n, why, wlen) != DG_OK)
        return DG_EINVAL;
    route_table_t *t = malloc(sizeof(*t)); /* ~20 KiB: not on the stack */
    if (!t) {
        fmt(why, wlen, "out of memory");
        return DG_ENOMEM;
    }
    int rc = route_table_parse(t, v, why, wlen);
    free(t);
    if (rc == DG_OK)
        store(field_str(c, k), k->size, v, n);
    return rc;
}

static int set_prefix(cfg_t *c, const cfg_key_t *k, const char *v, size_t n, char *why, size_t wlen)
{
    if (n >= k->size) {
        fmt(why, wlen, "longer than %zu characters", k->size - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isgraph((unsigned char)v[i]) || strchr(",{}", v[i])) {
            fmt(why, wlen, "must be printable ASCII without spaces, ',', '{' or '}'");
            return DG_EINVAL;
        }
    }
    /* A prefix of "job:" too: user "ob:1" of prefix "j" would otherwise get room "job:1". */
    if (n > 0 && (route_room_reserved(v, n) || strncmp("job:", v, n) == 0 ||
                  strncmp("queue:", v, n) == 0 || strncmp("logs", v, n) == 0)) {
        fmt(why, wlen, "user rooms would overlap the broker's job:, queue: or logs rooms");
        return DG_EINVAL;
    }
    store(field_str(c, k), k->size, v, n);
    return DG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * One key */

/* Applies one value to c; on error c is unchanged and why holds the reason alone. */
static int apply(cfg_t *c, const cfg_key_t *k, const char *v, char *why, size_t wlen)
{
    size_t n = strlen(v);
    long lv;
    int iv;

    switch (k->kind) {
    case K_HOST: {
        struct in_addr a;
        if (n == 0 || n >= k->size || inet_pton(AF_INET, v, &a) != 1) {
            fmt(why, wlen, "must be an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)");
            return DG_EINVAL;
        }
        store(field_str(c, k), k->size, v, n);
        return DG_OK;
    }
    case K_STR:
    case K_SECRET: /* the same checks; only the dump differs */
        if (check_text(k, v, n, why, wlen) != DG_OK)
            return DG_EINVAL;
        store(field_str(c, k), k->size, v, n);
        return DG_OK;
    case K_TOKEN:
        if (n == 0) {
            fmt(why, wlen, "must not be empty");
            return DG_EINVAL;
        }
        if (n >= k->size) {
            fmt(why, wlen, "longer than %zu characters", k->size - 1);
            return DG_EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (!isgraph((unsigned char)v[i])) {
                fmt(why, wlen, "must be printable ASCII without spaces");
                return DG_EINVAL;
            }
        }
        store(field_str(c, k), k->size, v, n);
        return DG_OK;
    case K_INT:
        if (parse_long(v, k->min, k->max, &lv, why, wlen) != DG_OK)
            return DG_EINVAL;
        *field_int(c, k) = (int)lv;
        return DG_OK;
    case K_LONG:
        if (parse_long(v, k->min, k->max, &lv, why, wlen) != DG_OK)
            return DG_EINVAL;
        *field_long(c, k) = lv;
        return DG_OK;
    case K_BOOL:
        if (parse_bool(v, &iv) != DG_OK) {
            fmt(why, wlen, "not a boolean (true/false, yes/no, on/off, 1/0)");
            return DG_EINVAL;
        }
        *field_int(c, k) = iv;
        return DG_OK;
    case K_LEVEL:
        iv = cfg_parse_level(v);
        if (iv < 0) {
            fmt(why, wlen, "unknown level (debug, info, warn, error, off)");
            return DG_EINVAL;
        }
        *field_int(c, k) = iv;
        return DG_OK;
    case K_CORS:
        return set_cors(c, v, why, wlen);
    case K_REDIS:
        return set_redis(c, v, why, wlen);
    case K_QUEUES:
        if (n == 0) {
            fmt(why, wlen, "must name at least one queue");
            return DG_EINVAL;
        }
        return set_queues(c, v, why, wlen);
    case K_EVENTS:
        if (n == 0) {
            fmt(why, wlen, "must not be empty (use * for every event)");
            return DG_EINVAL;
        }
        return set_events(c, v, why, wlen);
    case K_PATH:
        return set_path(c, k, v, why, wlen);
    case K_AUTH:
        iv = cfg_parse_auth(v);
        if (iv < 0) {
            fmt(why, wlen, "must be off, optional or required");
            return DG_EINVAL;
        }
        *field_int(c, k) = iv;
        return DG_OK;
    case K_RULE: {
        acl_rule_t r;
        if (n >= k->size) {
            fmt(why, wlen, "longer than %zu bytes", k->size - 1);
            return DG_EINVAL;
        }
        if (acl_rule_parse(&r, v, (int)k->min, why, wlen) != DG_OK)
            return DG_EINVAL;
        store(field_str(c, k), k->size, v, n);
        return DG_OK;
    }
    case K_ROUTES:
        return set_routes(c, k, v, n, why, wlen);
    case K_CLAIM:
        if (!jpath_valid(v, n) || n >= k->size) {
            fmt(why, wlen,
                "must be a claim name or dotted path of 1 to %d printable ASCII "
                "characters without spaces",
                JPATH_MAX - 1);
            return DG_EINVAL;
        }
        store(field_str(c, k), k->size, v, n);
        return DG_OK;
    case K_PREFIX:
        return set_prefix(c, k, v, n, why, wlen);
    case K_RTYPES:
        return set_room_types(c, v, why, wlen);
    case K_RELAY:
        return set_relay_events(c, v, why, wlen);
    case K_RATE:
        return set_rate(c, v, why, wlen);
    }
    fmt(why, wlen, "internal: unhandled key kind");
    return DG_EINVAL;
}

void cfg_defaults(cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    static const char *const queues[] = {"http", "sparql", "techstack", "analyzer"};
    store(c->bind, sizeof(c->bind), "127.0.0.1", 9);
    c->port = 8081;
    c->max_connections = 1000;
    c->http_threads = 64;
    c->io_threads = 0;
    c->write_timeout_ms = 5000;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 10000;
    c->max_pending_heads = 1024;
    c->drain_ms = 10000;
    store(c->document_root, sizeof(c->document_root), DG_DEFAULT_WWW, strlen(DG_DEFAULT_WWW));
    store(c->client_js, sizeof(c->client_js), DG_DEFAULT_CLIENT_JS, strlen(DG_DEFAULT_CLIENT_JS));
    c->cors_any = 1;
    c->ncors_origins = 0;
    store(c->redis_host, sizeof(c->redis_host), "127.0.0.1", 9);
    c->redis_port = 6379;
    c->redis_db = 0;
    store(c->prefix, sizeof(c->prefix), "bull", 4);
    for (size_t i = 0; i < DG_ARRAY_LEN(queues); i++)
        store(c->queues[i], CFG_NAME_MAX, queues[i], strlen(queues[i]));
    c->nqueues = (int)DG_ARRAY_LEN(queues);
    c->nevents = 0;
    store(c->log_stream, sizeof(c->log_stream), "dualgate:logs", 13);
    c->log_stream_maxlen = 10000;
    c->redis_timeout_ms = 2000;
    c->redis_ping_interval_ms = 1000;
    c->heartbeat_ms = 15000;
    c->sse_retry_ms = 3000;
    c->queue_max_msgs = 4096;
    c->queue_max_bytes = 4194304;
    c->queue_soft_bytes = 1048576;
    c->queue_soft_ms = 10000;
    c->max_id_len = 256;
    store(c->sio_path, sizeof(c->sio_path), "/socket.io/", 11);
    c->ping_interval_ms = 25000;
    c->ping_timeout_ms = 20000;
    c->max_payload = 1000000;
    c->connect_timeout_ms = 10000;
    c->max_pending_sessions = 1024;
    c->conformance = 0;
    c->recovery = 1;
    c->recovery_max_disconnect_ms = 120000;
    c->connected_event = 1;
    c->log_level = CFG_LOG_INFO;
    c->log_publish_level = CFG_LOG_INFO;
    c->auth = CFG_AUTH_OFF;
    c->jwt_clock_skew_s = 30;
    c->jwt_require_exp = 1;
    store(c->jwt_user_claim, sizeof(c->jwt_user_claim), "sub", 3);
    c->token_expiry_warning_s = 60;
    store(c->user_room_prefix, sizeof(c->user_room_prefix), "user:", 5);
    store(c->access_jobs, sizeof(c->access_jobs), "any", 3);
    store(c->access_queues, sizeof(c->access_queues), "any", 3);
    store(c->access_logs, sizeof(c->access_logs), "any", 3);
    store(c->access_logs_write, sizeof(c->access_logs_write), "any", 3);
    store(c->access_rooms, sizeof(c->access_rooms), "any", 3);
    store(c->access_user_rooms, sizeof(c->access_user_rooms), "none", 4);
    c->client_rooms_max = 16;
    c->relay_rate_count = 10;
    c->relay_rate_per_ms = 1000;
    c->relay_burst = 20;
}

/* "env NAME" already names the key, so env errors read "env PORT: reason" rather than
 * repeating it; every other origin gives "ORIGIN: KEY: reason". */
static void format_error(char *errstr, size_t errlen, const char *origin, const char *key,
                         const char *why)
{
    if (origin && strncmp(origin, "env ", 4) == 0)
        fmt(errstr, errlen, "%s: %s", origin, why);
    else if (origin)
        fmt(errstr, errlen, "%s: %s: %s", origin, key, why);
    else
        fmt(errstr, errlen, "%s: %s", key, why);
}

int cfg_set(cfg_t *c, const char *key, const char *value, const char *origin, char *errstr,
            size_t errlen)
{
    char why[512];
    const cfg_key_t *k = key_find(key);
    if (!k) {
        format_error(errstr, errlen, origin, key, "unknown key");
        return DG_EINVAL;
    }
    if (apply(c, k, value, why, sizeof(why)) != DG_OK) {
        format_error(errstr, errlen, origin, key, why);
        return DG_EINVAL;
    }
    return DG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Files */

/* Parses one line in place. Returns 1 with key/value set, 0 for blank or comment lines,
 * or DG_EINVAL with why set and *key the key text, or NULL when there is none. */
static int parse_line(char *line, char **key, char **value, char *why, size_t wlen)
{
    char *p = line;
    *key = NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    char *k = p;
    while (*p && *p != '=' && *p != ' ' && *p != '\t')
        p++;
    char *kend = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=') {
        *kend = '\0';
        *key = k;
        fmt(why, wlen, "missing '=' (expected key = value)");
        return DG_EINVAL;
    }
    *kend = '\0';
    if (kend == k) {
        fmt(why, wlen, "missing key before '='");
        return DG_EINVAL;
    }
    *key = k;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '"') {
        /* Quoted: \" and \\ are the only escapes; after the closing quote only a comment. */
        char *out = p, *in = p + 1;
        for (;;) {
            if (*in == '\0') {
                fmt(why, wlen, "unterminated quoted value");
                return DG_EINVAL;
            }
            if (*in == '"')
                break;
            if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
                in++;
            *out++ = *in++;
        }
        char *after = in + 1;
        *out = '\0';
        while (*after == ' ' || *after == '\t')
            after++;
        if (*after != '\0' && !(*after == '#' && after > in + 1)) {
            fmt(why, wlen, "unexpected text after closing quote");
            return DG_EINVAL;
        }
        *value = p;
        return 1;
    }
    /* Unquoted: '#' starts a comment only at the value's start or after whitespace, so values
     * such as passwords may contain it. */
    char *v = p;
    for (char *q = v; *q; q++) {
        if (*q == '#' && (q == v || q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            break;
        }
    }
    char *e = v + strlen(v);
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    *value = v;
    return 1;
}

int cfg_load_file(cfg_t *c, const char *path, char *errstr, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fmt(errstr, errlen, "%s: cannot open: %s", path, strerror(errno));
        return DG_EIO;
    }
    /* Work on a copy so a bad file leaves c exactly as it was. */
    cfg_t *tmp = malloc(sizeof(*tmp));
    if (!tmp) {
        fclose(f);
        fmt(errstr, errlen, "%s: out of memory", path);
        return DG_ENOMEM;
    }
    *tmp = *c;
    unsigned seen[CFG_NKEYS] = {0};
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    char why[512];
    int rc = DG_OK;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > CFG_LINE_MAX) {
            fmt(errstr, errlen, "%s:%u: line longer than %d bytes", path, lineno, CFG_LINE_MAX);
            rc = DG_EINVAL;
            goto out;
        }
        if (strlen(line) != (size_t)n) {
            fmt(errstr, errlen, "%s:%u: NUL byte in line", path, lineno);
            rc = DG_EINVAL;
            goto out;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *key, *value;
        int r = parse_line(line, &key, &value, why, sizeof(why));
        if (r == 0)
            continue;
        if (r < 0) {
            if (key)
                fmt(errstr, errlen, "%s:%u: %s: %s", path, lineno, key, why);
            else
                fmt(errstr, errlen, "%s:%u: %s", path, lineno, why);
            rc = DG_EINVAL;
            goto out;
        }
        const cfg_key_t *k = key_find(key);
        if (!k) {
            fmt(errstr, errlen, "%s:%u: %s: unknown key", path, lineno, key);
            rc = DG_EINVAL;
            goto out;
        }
        size_t ki = (size_t)(k - cfg_keys);
        if (seen[ki]) {
            fmt(errstr, errlen, "%s:%u: %s: duplicate key (first set on line %u)", path, lineno,
                key, seen[ki]);
            rc = DG_EINVAL;
            goto out;
        }
        seen[ki] = lineno;
        if (apply(tmp, k, value, why, sizeof(why)) != DG_OK) {
            fmt(errstr, errlen, "%s:%u: %s: %s", path, lineno, key, why);
            rc = DG_EINVAL;
            goto out;
        }
    }
    if (ferror(f)) {
        fmt(errstr, errlen, "%s: read error: %s", path, strerror(errno));
        rc = DG_EIO;
        goto out;
    }
    *c = *tmp;
out:
    free(line);
    free(tmp);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Environment */

static int env_apply(cfg_t *c, const char *var, const char *key, char *errstr, size_t errlen)
{
    const char *v = getenv(var);
    /* Empty counts as unset, as the Node original's `process.env.X || default` did. */
    if (!v || !*v)
        return DG_OK;
    char origin[96];
    fmt(origin, sizeof(origin), "env %s", var);
    return cfg_set(c, key, v, origin, errstr, errlen);
}

int cfg_load_env(cfg_t *c, char *errstr, size_t errlen)
{
    cfg_t *tmp = malloc(sizeof(*tmp));
    if (!tmp) {
        fmt(errstr, errlen, "env: out of memory");
        return DG_ENOMEM;
    }
    *tmp = *c;
    int rc = DG_OK;
    for (size_t i = 0; i < DG_ARRAY_LEN(cfg_legacy_env) && rc == DG_OK; i++)
        rc = env_apply(tmp, cfg_legacy_env[i].env, cfg_legacy_env[i].key, errstr, errlen);
    for (size_t i = 0; i < CFG_NKEYS && rc == DG_OK; i++) {
        char var[80] = "DUALGATE_";
        size_t o = strlen(var);
        for (const char *p = cfg_keys[i].name; *p && o + 1 < sizeof(var); p++)
            var[o++] = (char)toupper((unsigned char)*p);
        var[o] = '\0';
        rc = env_apply(tmp, var, cfg_keys[i].name, errstr, errlen);
    }
    if (rc == DG_OK)
        *c = *tmp;
    free(tmp);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Validation and queries */

/* [auth] across keys: a key to verify with once tokens are looked at. */
static int validate_auth(const cfg_t *c, char *errstr, size_t errlen)
{
    if (c->auth < CFG_AUTH_OFF || c->auth > CFG_AUTH_REQUIRED) {
        fmt(errstr, errlen, "auth: unknown mode %d", c->auth);
        return DG_EINVAL;
    }
    size_t slen = strnlen(c->jwt_secret, sizeof(c->jwt_secret));
    int has_key = c->jwt_public_key_file[0] != '\0';
    if (c->auth != CFG_AUTH_OFF) {
        if (slen == 0 && !has_key) {
            fmt(errstr, errlen,
                "auth: %s needs jwt_secret (HS256) or jwt_public_key_file "
                "(RS256/ES256)",
                cfg_auth_name(c->auth));
            return DG_EINVAL;
        }
        if (slen > 0 && has_key) {
            fmt(errstr, errlen, "jwt_secret: set jwt_secret or jwt_public_key_file, not both");
            return DG_EINVAL;
        }
        if (slen > 0 && slen < CFG_SECRET_MIN) {
            fmt(errstr, errlen,
                "jwt_secret: must be at least %d bytes (RFC 7518: an HS256 key "
                "is at least 256 bits), got %zu",
                CFG_SECRET_MIN, slen);
            return DG_EINVAL;
        }
    }
    return DG_OK;
}

/* [access]: rules re-parsed (code may have set them), and none that needs tokens without auth. */
static int validate_access(const cfg_t *c, char *errstr, size_t errlen)
{
    const char *const rules[ACL_NWHAT] = {
        c->access_jobs,       c->access_queues, c->access_logs,
        c->access_logs_write, c->access_rooms,  c->access_user_rooms,
    };
    for (int w = 0; w < ACL_NWHAT; w++) {
        acl_rule_t r;
        char why[256];
        if (acl_rule_parse(&r, rules[w], w == ACL_JOBS, why, sizeof(why)) != DG_OK) {
            fmt(errstr, errlen, "%s: %s", acl_key(w), why);
            return DG_EINVAL;
        }
        if (c->auth == CFG_AUTH_OFF && acl_rule_needs_token(&r)) {
            fmt(errstr, errlen, "%s: '%s' needs tokens (auth = optional or required)", acl_key(w),
                rules[w]);
            return DG_EINVAL;
        }
    }
    return DG_OK;
}

/* [rooms]: relay needs rooms, and client rooms must not be mistaken for user rooms. */
/* Every route takes a stream index (cursor.h) after the queues and the log stream. */
static int validate_routes(const cfg_t *c, char *errstr, size_t errlen)
{
    route_table_t *t = malloc(sizeof(*t)); /* ~20 KiB: not on the stack */
    if (!t) {
        fmt(errstr, errlen, "routes: out of memory");
        return DG_ENOMEM;
    }
    char why[200];
    int rc = route_table_parse(t, c->routes, why, sizeof(why));
    if (rc != DG_OK)
        fmt(errstr, errlen, "routes: %s", why);
    else if (c->nqueues + 1 + t->n > CUR_MAX_STREAMS) {
        fmt(errstr, errlen, "routes: %d routes with %d queues: at most %d routes fit", t->n,
            c->nqueues, CUR_MAX_STREAMS - 1 - c->nqueues);
        rc = DG_EINVAL;
    }
    free(t);
    return rc;
}

static int validate_rooms(const cfg_t *c, char *errstr, size_t errlen)
{
    if (c->nrelay_events > 0 && c->nclient_rooms == 0) {
        fmt(errstr, errlen, "relay_events: events are relayed to client rooms; set client_rooms");
        return DG_EINVAL;
    }
    size_t pn = strnlen(c->user_room_prefix, sizeof(c->user_room_prefix));
    for (int i = 0; pn > 0 && i < c->nclient_rooms; i++) {
        char t[CFG_NAME_MAX + 1];
        int tn = snprintf(t, sizeof(t), "%s:", c->client_rooms[i]);
        size_t m = (size_t)tn < pn ? (size_t)tn : pn;
        if (strncmp(t, c->user_room_prefix, m) == 0) {
            fmt(errstr, errlen,
                "client_rooms: rooms '%s<id>' would overlap user rooms '%s<id>' "
                "(user_room_prefix)",
                t, c->user_room_prefix);
            return DG_EINVAL;
        }
    }
    return DG_OK;
}

int cfg_bind_is_loopback(const cfg_t *c)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(c->bind, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, c->bind, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, c->bind, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

int cfg_validate(const cfg_t *c, char *errstr, size_t errlen)
{
    /* Fields may have been set directly by code, so ranges are re-checked here too. */
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key_t *k = &cfg_keys[i];
        long v;
        if (k->kind == K_INT)
            v = *(const int *)field_ro(c, k);
        else if (k->kind == K_LONG)
            v = *(const long *)field_ro(c, k);
        else
            continue;
        if (v < k->min || v > k->max) {
            fmt(errstr, errlen, "%s: must be between %ld and %ld, got %ld", k->name, k->min, k->max,
                v);
            return DG_EINVAL;
        }
    }
    if (c->nqueues < 1 || c->nqueues > CFG_MAX_QUEUES) {
        fmt(errstr, errlen, "queues: must name 1 to %d queues", CFG_MAX_QUEUES);
        return DG_EINVAL;
    }
    for (int i = 0; i < c->nqueues; i++) {
        size_t n = strnlen(c->queues[i], CFG_NAME_MAX);
        if ((long)n > c->max_id_len) {
            fmt(errstr, errlen,
                "queues: '%s' is longer than max_id_len (%d), so clients could not name it",
                c->queues[i], c->max_id_len);
            return DG_EINVAL;
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
        unsigned long need = (unsigned long)c->max_connections + CFG_FD_RESERVE;
        if ((unsigned long)rl.rlim_max < need) {
            fmt(errstr, errlen,
                "max_connections: %d needs %lu file descriptors (+%d reserved) but the hard "
                "limit RLIMIT_NOFILE is %lu; lower max_connections to %ld or raise the limit",
                c->max_connections, need, CFG_FD_RESERVE, (unsigned long)rl.rlim_max,
                (long)rl.rlim_max - CFG_FD_RESERVE);
            return DG_EINVAL;
        }
    }
    if (c->log_level < CFG_LOG_DEBUG || c->log_level > CFG_LOG_OFF) {
        fmt(errstr, errlen, "log_level: unknown level %d", c->log_level);
        return DG_EINVAL;
    }
    if (c->log_publish_level < CFG_LOG_DEBUG || c->log_publish_level > CFG_LOG_OFF) {
        fmt(errstr, errlen, "log_publish_level: unknown level %d", c->log_publish_level);
        return DG_EINVAL;
    }
    if (!c->cors_any && c->ncors_origins < 1) {
        fmt(errstr, errlen, "cors_origin: no origin allowed (use * for any)");
        return DG_EINVAL;
    }
    if (c->sio_path[0] != '/' || c->sio_path[strnlen(c->sio_path, CFG_NAME_MAX) - 1] != '/') {
        fmt(errstr, errlen, "socketio_path: must start and end with '/'");
        return DG_EINVAL;
    }
    int rc = validate_auth(c, errstr, errlen);
    if (rc == DG_OK)
        rc = validate_access(c, errstr, errlen);
    if (rc == DG_OK)
        rc = validate_rooms(c, errstr, errlen);
    if (rc == DG_OK)
        rc = validate_routes(c, errstr, errlen);
    return rc;
}

int cfg_queue_index(const cfg_t *c, const char *name)
{
    for (int i = 0; i < c->nqueues; i++)
        if (strcmp(c->queues[i], name) == 0)
            return i;
    return -1;
}

int cfg_event_forwarded(const cfg_t *c, const char *event)
{
    if (c->nevents == 0)
        return 1;
    for (int i = 0; i < c->nevents; i++)
        if (strcmp(c->events[i], event) == 0)
            return 1;
    return 0;
}

int cfg_origin_allowed(const cfg_t *c, const char *origin)
{
    if (!origin || c->cors_any)
        return 1;
    /* Scheme and host are case-insensitive; browsers send them lower-case anyway. */
    for (int i = 0; i < c->ncors_origins; i++)
        if (strcasecmp(c->cors_origins[i], origin) == 0)
            return 1;
    return 0;
}

/* Enum values named by a table: index of s (case-insensitive), or -1; and back. */
static int enum_parse(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *enum_name(const char *const *names, size_t n, int v)
{
    return v < 0 || (size_t)v >= n ? "unknown" : names[v];
}

int cfg_parse_auth(const char *s)
{
    return enum_parse(cfg_auth_names, DG_ARRAY_LEN(cfg_auth_names), s);
}

const char *cfg_auth_name(int mode)
{
    return enum_name(cfg_auth_names, DG_ARRAY_LEN(cfg_auth_names), mode);
}

int cfg_parse_level(const char *s)
{
    return enum_parse(cfg_level_names, DG_ARRAY_LEN(cfg_level_names), s);
}

const char *cfg_level_name(int level)
{
    return enum_name(cfg_level_names, DG_ARRAY_LEN(cfg_level_names), level);
}

/* ---------------------------------------------------------------------------------------------
 * Dump: output is itself a loadable config file (except the masked password). */

struct out {
    char *buf;
    size_t len, pos;
    int overflow;
};

static void out_put(struct out *o, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void out_put(struct out *o, const char *f, ...)
{
    size_t room = o->pos < o->len ? o->len - o->pos : 0;
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(room ? o->buf + o->pos : NULL, room, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        o->overflow = 1;
    if (n > 0)
        o->pos += (size_t)n;
}

/* Quotes a string value when an unquoted one would not read back the same. */
static void out_str(struct out *o, const char *s)
{
    int quote = s[0] == '\0' || s[0] == '"' || strpbrk(s, " \t#\\") != NULL;
    if (!quote) {
        out_put(o, "%s", s);
        return;
    }
    out_put(o, "\"");
    for (const char *p = s; *p; p++)
        out_put(o, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
    out_put(o, "\"");
}

static void out_pct(struct out *o, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (isalnum((unsigned char)*p) || strchr("-._~", *p))
            out_put(o, "%c", *p);
        else
            out_put(o, "%%%02X", (unsigned char)*p);
    }
}

int cfg_dump(const cfg_t *c, char *buf, size_t len)
{
    struct out o = {buf, len, 0, 0};
    if (buf && len)
        buf[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key_t *k = &cfg_keys[i];
        out_put(&o, "%s = ", k->name);
        switch (k->kind) {
        case K_HOST:
        case K_STR:
        case K_TOKEN:
        case K_PATH:
        case K_RULE:
        case K_ROUTES:
        case K_CLAIM:
        case K_PREFIX:
            out_str(&o, field_ro(c, k));
            break;
        case K_SECRET:
            out_str(&o, *(const char *)field_ro(c, k) ? "***" : "");
            break;
        case K_AUTH:
            out_put(&o, "%s", cfg_auth_name(*(const int *)field_ro(c, k)));
            break;
        case K_RTYPES:
            if (c->nclient_rooms == 0)
                out_str(&o, "");
            for (int j = 0; j < c->nclient_rooms; j++)
                out_put(&o, "%s%s", j ? "," : "", c->client_rooms[j]);
            break;
        case K_RELAY:
            if (c->nrelay_events == 0)
                out_str(&o, "");
            for (int j = 0; j < c->nrelay_events; j++)
                out_put(&o, "%s%s", j ? "," : "", c->relay_events[j]);
            break;
        case K_RATE:
            out_put(&o, "%d/%s", c->relay_rate_count,
                    c->relay_rate_per_ms == 3600000 ? "h"
                    : c->relay_rate_per_ms == 60000 ? "m"
                                                    : "s");
            break;
        case K_INT:
            out_put(&o, "%d", *(const int *)field_ro(c, k));
            break;
        case K_LONG:
            out_put(&o, "%ld", *(const long *)field_ro(c, k));
            break;
        case K_BOOL:
            out_put(&o, "%s", *(const int *)field_ro(c, k) ? "true" : "false");
            break;
        case K_LEVEL:
            out_put(&o, "%s", cfg_level_name(*(const int *)field_ro(c, k)));
            break;
        case K_CORS:
            if (c->cors_any)
                out_put(&o, "*");
            for (int j = 0; !c->cors_any && j < c->ncors_origins; j++)
                out_put(&o, "%s%s", j ? "," : "", c->cors_origins[j]);
            break;
        case K_REDIS:
            out_put(&o, "redis://");
            if (c->redis_user[0] || c->redis_password[0]) {
                out_pct(&o, c->redis_user);
                out_put(&o, ":%s@", c->redis_password[0] ? "***" : "");
            }
            out_put(&o, "%s:%d/%d", c->redis_host, c->redis_port, c->redis_db);
            break;
        case K_QUEUES:
            for (int j = 0; j < c->nqueues; j++)
                out_put(&o, "%s%s", j ? "," : "", c->queues[j]);
            break;
        case K_EVENTS:
            if (c->nevents == 0)
                out_put(&o, "*");
            for (int j = 0; j < c->nevents; j++)
                out_put(&o, "%s%s", j ? "," : "", c->events[j]);
            break;
        }
        out_put(&o, "\n");
    }
    return o.overflow ? DG_ELIMIT : DG_OK;
}
