/* config.h - dualgate configuration: defaults, `key = value` file, environment overrides.
 * Pure parsing and validation: it opens the file it is given and nothing else, never exits,
 * never logs. Errors come back as "FILE:LINE: KEY: reason" in an errstr buffer. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#define CFG_MAX_QUEUES 16
#define CFG_MAX_EVENTS 32
#define CFG_MAX_ORIGINS 16
#define CFG_NAME_MAX 64   /* queue names, event names */
#define CFG_STR_MAX 256   /* hosts, keys, paths, origins */
#define CFG_ROUTES_MAX 4096 /* the routes value (one config line) */
#define CFG_MAX_ROOM_TYPES 16
#define CFG_MAX_RELAY_EVENTS 16

enum cfg_level { CFG_LOG_DEBUG, CFG_LOG_INFO, CFG_LOG_WARN, CFG_LOG_ERROR, CFG_LOG_OFF };

/* auth: off = no tokens looked at (as before); optional = a valid token identifies the client,
 * none is anonymous, a bad one is refused; required = no valid token, no connection. */
enum cfg_auth { CFG_AUTH_OFF, CFG_AUTH_OPTIONAL, CFG_AUTH_REQUIRED };

/* Plain data, owned by the caller; read-only once the server is started (any thread may read). */
typedef struct cfg {
    /* [server] */
    char bind[CFG_STR_MAX];       /* bind = 127.0.0.1 */
    int port;                     /* port = 8081, env PORT */
    int max_connections;          /* max_connections = 1000: SSE + Socket.IO + polling, all transports */
    int http_threads;             /* http_threads = 64: CivetWeb workers (requests, handshakes, POSTs) */
    int io_threads;               /* io_threads = 0 (the number of cores): event loops owning connections */
    int write_timeout_ms;         /* write_timeout_ms = 5000: no write progress this long closes the client */
    int header_timeout_ms;        /* header_timeout_ms = 10000: complete request head within this long (408) */
    int body_timeout_ms;          /* body_timeout_ms = 10000: a POST body must arrive within this long */
    int max_pending_heads;        /* max_pending_heads = 1024: connections held until their head is complete */
    int drain_ms;                 /* drain_ms = 10000: SIGTERM ends clients spread over this long; 0 = stop at once */
    char document_root[CFG_STR_MAX]; /* document_root = <source>/www */
    char client_js[CFG_STR_MAX];  /* socketio_client_js = <build>/socket.io.js */
    int cors_any;                 /* cors_origin = "*", env SOCKETS_CORS_ORIGIN */
    char cors_origins[CFG_MAX_ORIGINS][CFG_STR_MAX];
    int ncors_origins;
    /* [redis] */
    char redis_host[CFG_STR_MAX]; /* redis_url = redis://127.0.0.1:6379/0, env REDIS_URL */
    int redis_port;
    char redis_user[CFG_STR_MAX];
    char redis_password[CFG_STR_MAX];
    int redis_db;
    char prefix[CFG_NAME_MAX];    /* prefix = bull */
    char queues[CFG_MAX_QUEUES][CFG_NAME_MAX]; /* queues = http,sparql,techstack,analyzer */
    int nqueues;
    char events[CFG_MAX_EVENTS][CFG_NAME_MAX]; /* events = * (every job-scoped event) */
    int nevents;                  /* 0 means all */
    char log_stream[CFG_STR_MAX]; /* log_stream = dualgate:logs */
    long log_stream_maxlen;       /* log_stream_maxlen = 10000 (approximate trim) */
    int redis_timeout_ms;         /* redis_timeout_ms = 2000: Redis silent this long while it owes a reply is unresponsive */
    int redis_ping_interval_ms;   /* redis_ping_interval_ms = 1000: PING on the command connection this often */
    /* [sse] */
    int heartbeat_ms;             /* heartbeat_ms = 15000 */
    int sse_retry_ms;             /* sse_retry_ms = 3000 */
    /* [limits] */
    int queue_max_msgs;           /* queue_max_msgs = 4096 per connection */
    long queue_max_bytes;         /* queue_max_bytes = 4194304 per connection */
    long queue_soft_bytes;        /* queue_soft_bytes = 1048576: soft limit, 0 = none ... */
    int queue_soft_ms;            /* queue_soft_ms = 10000: ... exceeded this long closes the client */
    int max_id_len;               /* max_id_len = 256: job ids and queue names in paths */
    /* [socket.io] */
    char sio_path[CFG_NAME_MAX];  /* socketio_path = /socket.io/ */
    int ping_interval_ms;         /* ping_interval_ms = 25000 */
    int ping_timeout_ms;          /* ping_timeout_ms = 20000 */
    long max_payload;             /* max_payload = 1000000 */
    int connect_timeout_ms;       /* connect_timeout_ms = 10000 */
    int max_pending_sessions;     /* max_pending_sessions = 1024: Engine.IO sessions without a CONNECT */
    int conformance;              /* conformance = false */
    int recovery;                 /* recovery = true: Socket.IO connection-state recovery */
    int recovery_max_disconnect_ms; /* recovery_max_disconnect_ms = 120000 */
    int connected_event;          /* connected_event = true: `connected {socketId, userId}` on
                                   * a connect to "/" (never in conformance mode) */
    /* [log] */
    int log_level;                /* log_level = info (stderr) */
    int log_publish_level;        /* log_publish_level = info (to the log stream; off disables) */
    /* [auth] (auth.h) */
    int auth;                     /* auth = off: enum cfg_auth */
    char jwt_secret[CFG_STR_MAX]; /* jwt_secret = "" (HS256; >= 32 bytes; masked in dumps) */
    char jwt_public_key_file[CFG_STR_MAX]; /* jwt_public_key_file = "" (PEM: RS256 or ES256) */
    char jwt_issuer[CFG_STR_MAX]; /* jwt_issuer = "" (iss not checked) */
    char jwt_audience[CFG_STR_MAX]; /* jwt_audience = "" (aud not checked) */
    int jwt_clock_skew_s;         /* jwt_clock_skew_s = 30: leeway for exp and nbf */
    int jwt_require_exp;          /* jwt_require_exp = true */
    char jwt_user_claim[CFG_STR_MAX]; /* jwt_user_claim = sub: the claim naming the user */
    int token_expiry_warning_s;   /* token_expiry_warning_s = 60 (0: no token_expiring_soon) */
    /* [access] (acl.h): rule texts, validated at load */
    char user_room_prefix[CFG_NAME_MAX]; /* user_room_prefix = user: ("" = no user rooms) */
    char access_jobs[CFG_STR_MAX];       /* access_jobs = any */
    char access_queues[CFG_STR_MAX];     /* access_queues = any */
    char access_logs[CFG_STR_MAX];       /* access_logs = any */
    char access_logs_write[CFG_STR_MAX]; /* access_logs_write = any */
    char access_rooms[CFG_STR_MAX];      /* access_rooms = any */
    char access_user_rooms[CFG_STR_MAX]; /* access_user_rooms = none (other users' rooms) */
    /* [routes] (route.h): the text, validated at load */
    char routes[CFG_ROUTES_MAX];  /* routes = "" (none) */
    /* [rooms] (relay.h) */
    char client_rooms[CFG_MAX_ROOM_TYPES][CFG_NAME_MAX]; /* client_rooms = "" (join_room off) */
    int nclient_rooms;
    int client_rooms_max;         /* client_rooms_max = 16 rooms joined per socket */
    char relay_events[CFG_MAX_RELAY_EVENTS][CFG_NAME_MAX]; /* relay_events = "" (no relay) */
    int nrelay_events;
    int relay_rate_count;         /* relay_rate = 10/s: count per period */
    int relay_rate_per_ms;        /*   the period, ms (1000, 60000 or 3600000) */
    int relay_burst;              /* relay_burst = 20 */
} cfg_t;

/* Fills c with every default. Thread: any. */
void cfg_defaults(cfg_t *c);

/* Applies `key = value` lines from path on top of c. Returns 0, or DG_EINVAL / DG_EIO with
 * "PATH:LINE: KEY: reason" in errstr. Thread: any. */
int cfg_load_file(cfg_t *c, const char *path, char *errstr, size_t errlen);

/* Applies one key; origin names where it came from ("FILE:LINE" or "env PORT") for errstr. */
int cfg_set(cfg_t *c, const char *key, const char *value, const char *origin, char *errstr, size_t errlen);

/* Applies PORT, REDIS_URL, SOCKETS_CORS_ORIGIN and DUALGATE_<KEY> from the environment. */
int cfg_load_env(cfg_t *c, char *errstr, size_t errlen);

/* Cross-key checks (threads vs connections, fd limit, ...). Returns 0 or DG_EINVAL. */
int cfg_validate(const cfg_t *c, char *errstr, size_t errlen);

/* Index of queue name in c->queues, or -1. */
int cfg_queue_index(const cfg_t *c, const char *name);

/* 1 if events are forwarded for this event name (c->events, or all when nevents is 0). */
int cfg_event_forwarded(const cfg_t *c, const char *event);

/* 1 if origin may connect (CORS / Engine.IO origin check). NULL origin (no header) is allowed. */
int cfg_origin_allowed(const cfg_t *c, const char *origin);

/* 1 if c->bind only reaches this machine: an IPv4 address in 127.0.0.0/8, ::1, or
 * "localhost"; 0 for anything else ("0.0.0.0", "::", another address or host name). */
int cfg_bind_is_loopback(const cfg_t *c);

/* Parses an auth mode name (off, optional, required); -1 if unknown. */
int cfg_parse_auth(const char *s);
const char *cfg_auth_name(int mode);

/* Parses a level name (debug, info, warn, error, off); -1 if unknown. */
int cfg_parse_level(const char *s);
const char *cfg_level_name(int level);

/* Writes the effective configuration as `key = value` lines (password and jwt_secret masked)
 * to buf. */
int cfg_dump(const cfg_t *c, char *buf, size_t len);

#endif
