/* check_config.c - unit tests for config: defaults, the reference conf/dualgate.conf, every key
 * good and bad, file syntax and error positions, environment overrides, lists, Redis URLs,
 * cross-key validation and the dump. Not an integration test: no server is started. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "dg.h"

/* Every key, in dump order; the env tests derive DUALGATE_<KEY> from it. */
static const char *const all_keys[] = {
    "bind",
    "port",
    "max_connections",
    "http_threads",
    "io_threads",
    "write_timeout_ms",
    "header_timeout_ms",
    "body_timeout_ms",
    "max_pending_heads",
    "drain_ms",
    "document_root",
    "socketio_client_js",
    "cors_origin",
    "redis_url",
    "prefix",
    "queues",
    "events",
    "log_stream",
    "log_stream_maxlen",
    "redis_timeout_ms",
    "redis_ping_interval_ms",
    "heartbeat_ms",
    "sse_retry_ms",
    "queue_max_msgs",
    "queue_max_bytes",
    "queue_soft_bytes",
    "queue_soft_ms",
    "max_id_len",
    "socketio_path",
    "ping_interval_ms",
    "ping_timeout_ms",
    "max_payload",
    "connect_timeout_ms",
    "max_pending_sessions",
    "conformance",
    "recovery",
    "recovery_max_disconnect_ms",
    "connected_event",
    "log_level",
    "log_publish_level",
    "auth",
    "jwt_secret",
    "jwt_public_key_file",
    "jwt_issuer",
    "jwt_audience",
    "jwt_clock_skew_s",
    "jwt_require_exp",
    "jwt_user_claim",
    "token_expiry_warning_s",
    "user_room_prefix",
    "access_jobs",
    "access_queues",
    "access_logs",
    "access_logs_write",
    "access_rooms",
    "access_user_rooms",
    "routes",
    "client_rooms",
    "client_rooms_max",
    "relay_events",
    "relay_rate",
    "relay_burst",
};
#define NKEYS (sizeof(all_keys) / sizeof(all_keys[0]))

/* ---------------------------------------------------------------------------------------------
 * Helpers */

static void env_name(char *out, size_t len, const char *key)
{
    size_t o = (size_t)snprintf(out, len, "DUALGATE_");
    for (const char *p = key; *p && o + 1 < len; p++)
        out[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    out[o] = '\0';
}

/* Tests run forked, but a CK_FORK=no run must not see a developer's PORT either. */
static void env_clear(void)
{
    char var[64];
    for (size_t i = 0; i < NKEYS; i++) {
        env_name(var, sizeof(var), all_keys[i]);
        unsetenv(var);
    }
    unsetenv("PORT");
    unsetenv("REDIS_URL");
    unsetenv("SOCKETS_CORS_ORIGIN");
}

/* Writes len bytes to a fresh temp file; path receives its name. */
static void write_tmp(char path[64], const char *text, size_t len)
{
    snprintf(path, 64, "/tmp/check_config_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Loads text as a file on top of c; path receives the temp name (already unlinked). */
static int load_text(cfg_t *c, const char *text, char path[64], char *err, size_t errlen)
{
    write_tmp(path, text, strlen(text));
    int rc = cfg_load_file(c, path, err, errlen);
    unlink(path);
    return rc;
}

/* The dump line for key ("key = value"), without the newline, copied to out. */
static const char *dump_line(const cfg_t *c, const char *key, char *out, size_t len)
{
    char buf[16384], pat[80];
    ck_assert_int_eq(cfg_dump(c, buf, sizeof(buf)), DG_OK);
    snprintf(pat, sizeof(pat), "\n%s = ", key);
    const char *p = strncmp(buf, pat + 1, strlen(pat + 1)) == 0 ? buf : strstr(buf, pat);
    ck_assert_msg(p != NULL, "key %s not in dump", key);
    if (*p == '\n')
        p++;
    size_t n = strcspn(p, "\n");
    ck_assert_uint_lt(n, len);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static const char *find_reference_conf(char *out, size_t len)
{
    const char *src = getenv("DG_SOURCE_DIR");
    if (src && *src) {
        snprintf(out, len, "%s/conf/dualgate.conf", src);
        if (access(out, R_OK) == 0)
            return out;
    }
    /* CMake compiles with absolute paths, so __FILE__ finds the tree from any build dir. */
    const char *slash = strrchr(__FILE__, '/');
    if (slash) {
        snprintf(out, len, "%.*s/../conf/dualgate.conf", (int)(slash - __FILE__), __FILE__);
        if (access(out, R_OK) == 0)
            return out;
    }
    static const char *const rel[] = {"../conf/dualgate.conf", "conf/dualgate.conf"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(out, len, "%s", rel[i]);
        if (access(out, R_OK) == 0)
            return out;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Defaults and the reference file */

START_TEST(test_defaults)
{
    cfg_t c;
    cfg_defaults(&c);
    ck_assert_str_eq(c.bind, "127.0.0.1");
    ck_assert_int_eq(c.port, 8081);
    ck_assert_int_eq(c.max_connections, 1000);
    ck_assert_int_eq(c.http_threads, 64);
    ck_assert_int_eq(c.io_threads, 0);
    ck_assert_int_eq(c.write_timeout_ms, 5000);
    ck_assert_int_eq(c.header_timeout_ms, 10000);
    ck_assert_int_eq(c.body_timeout_ms, 10000);
    ck_assert_int_eq(c.max_pending_heads, 1024);
    ck_assert_int_eq(c.drain_ms, 10000);
    ck_assert_uint_gt(strlen(c.document_root), 0);
    ck_assert_int_eq(c.cors_any, 1);
    ck_assert_int_eq(c.ncors_origins, 0);
    ck_assert_str_eq(c.redis_host, "127.0.0.1");
    ck_assert_int_eq(c.redis_port, 6379);
    ck_assert_str_eq(c.redis_user, "");
    ck_assert_str_eq(c.redis_password, "");
    ck_assert_int_eq(c.redis_db, 0);
    ck_assert_str_eq(c.prefix, "bull");
    ck_assert_int_eq(c.nqueues, 4);
    ck_assert_str_eq(c.queues[0], "http");
    ck_assert_str_eq(c.queues[1], "sparql");
    ck_assert_str_eq(c.queues[2], "techstack");
    ck_assert_str_eq(c.queues[3], "analyzer");
    ck_assert_int_eq(c.nevents, 0);
    ck_assert_str_eq(c.log_stream, "dualgate:logs");
    ck_assert_int_eq(c.log_stream_maxlen, 10000);
    ck_assert_int_eq(c.redis_timeout_ms, 2000);
    ck_assert_int_eq(c.redis_ping_interval_ms, 1000);
    ck_assert_int_eq(c.heartbeat_ms, 15000);
    ck_assert_int_eq(c.sse_retry_ms, 3000);
    ck_assert_int_eq(c.queue_max_msgs, 4096);
    ck_assert_int_eq(c.queue_max_bytes, 4194304);
    ck_assert_int_eq(c.queue_soft_bytes, 1048576);
    ck_assert_int_eq(c.queue_soft_ms, 10000);
    ck_assert_int_eq(c.max_id_len, 256);
    ck_assert_str_eq(c.sio_path, "/socket.io/");
    ck_assert_int_eq(c.ping_interval_ms, 25000);
    ck_assert_int_eq(c.ping_timeout_ms, 20000);
    ck_assert_int_eq(c.max_payload, 1000000);
    ck_assert_int_eq(c.connect_timeout_ms, 10000);
    ck_assert_int_eq(c.max_pending_sessions, 1024);
    ck_assert_int_eq(c.conformance, 0);
    ck_assert_int_eq(c.recovery, 1);
    ck_assert_int_eq(c.recovery_max_disconnect_ms, 120000);
    ck_assert_int_eq(c.connected_event, 1);
    ck_assert_int_eq(c.log_level, CFG_LOG_INFO);
    ck_assert_int_eq(c.log_publish_level, CFG_LOG_INFO);
    ck_assert_int_eq(c.auth, CFG_AUTH_OFF);
    ck_assert_str_eq(c.jwt_secret, "");
    ck_assert_str_eq(c.jwt_public_key_file, "");
    ck_assert_str_eq(c.jwt_issuer, "");
    ck_assert_str_eq(c.jwt_audience, "");
    ck_assert_int_eq(c.jwt_clock_skew_s, 30);
    ck_assert_int_eq(c.jwt_require_exp, 1);
    ck_assert_str_eq(c.jwt_user_claim, "sub");
    ck_assert_int_eq(c.token_expiry_warning_s, 60);
    ck_assert_str_eq(c.user_room_prefix, "user:");
    ck_assert_str_eq(c.access_jobs, "any");
    ck_assert_str_eq(c.access_queues, "any");
    ck_assert_str_eq(c.access_logs, "any");
    ck_assert_str_eq(c.access_logs_write, "any");
    ck_assert_str_eq(c.access_rooms, "any");
    ck_assert_str_eq(c.access_user_rooms, "none");
    ck_assert_str_eq(c.routes, "");
    ck_assert_int_eq(c.nclient_rooms, 0);
    ck_assert_int_eq(c.client_rooms_max, 16);
    ck_assert_int_eq(c.nrelay_events, 0);
    ck_assert_int_eq(c.relay_rate_count, 10);
    ck_assert_int_eq(c.relay_rate_per_ms, 1000);
    ck_assert_int_eq(c.relay_burst, 20);

    char err[512] = "";
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_reference_conf)
{
    char path[4096];
    ck_assert_msg(find_reference_conf(path, sizeof(path)) != NULL,
                  "conf/dualgate.conf not found (set DG_SOURCE_DIR)");
    cfg_t d, c;
    cfg_defaults(&d);
    cfg_defaults(&c);
    char err[512] = "";
    ck_assert_msg(cfg_load_file(&c, path, err, sizeof(err)) == DG_OK, "%s", err);
    char a[16384], b[16384];
    ck_assert_int_eq(cfg_dump(&d, a, sizeof(a)), DG_OK);
    ck_assert_int_eq(cfg_dump(&c, b, sizeof(b)), DG_OK);
    ck_assert_str_eq(b, a);
    ck_assert(memcmp(&c, &d, sizeof(c)) == 0);

    /* Every key is documented: set, or commented out as `#key =` when its default is a build
     * path. */
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        char pat[80], cpat[80];
        snprintf(pat, sizeof(pat), "\n%s = ", all_keys[i]);
        snprintf(cpat, sizeof(cpat), "\n#%s = ", all_keys[i]);
        ck_assert_msg(strstr(text, pat) || strstr(text, cpat), "key %s missing", all_keys[i]);
    }
}
END_TEST

/* The reference file cut at every offset either loads or fails with "PATH:LINE: ". */
START_TEST(test_reference_conf_truncated)
{
    char path[4096];
    ck_assert_ptr_nonnull(find_reference_conf(path, sizeof(path)));
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof(text), f);
    fclose(f);
    char tmp[64];
    write_tmp(tmp, text, n);
    int fails = 0;
    /* Longest first: each cut is one truncate() of the same file, not a rewrite. */
    for (size_t cut = n + 1; cut-- > 0;) {
        ck_assert_int_eq(truncate(tmp, (off_t)cut), 0);
        cfg_t c;
        cfg_defaults(&c);
        char err[512] = "", prefix[128];
        int rc = cfg_load_file(&c, tmp, err, sizeof(err));
        if (rc != DG_OK) {
            fails++;
            ck_assert_int_eq(rc, DG_EINVAL);
            snprintf(prefix, sizeof(prefix), "%s:", tmp);
            ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "cut %zu: %s", cut, err);
        }
    }
    unlink(tmp);
    ck_assert_int_gt(fails, 0); /* e.g. `port = 80` cut to `port = 8` is fine, `port =` is not */
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Every key, good values: value in, dump line out */

static const struct {
    const char *key, *value, *dumped;
} good[] = {
    {"bind", "0.0.0.0", "0.0.0.0"},
    {"bind", "10.1.2.3", "10.1.2.3"},
    {"port", "1", "1"},
    {"port", "65535", "65535"},
    {"port", "007", "7"},
    {"max_connections", "5000", "5000"},
    {"max_connections", "1", "1"},
    {"http_threads", "2000", "2000"},
    {"http_threads", "4", "4"},
    {"io_threads", "0", "0"},
    {"io_threads", "8", "8"},
    {"header_timeout_ms", "500", "500"},
    {"body_timeout_ms", "20000", "20000"},
    {"max_pending_heads", "5000", "5000"},
    {"drain_ms", "0", "0"},
    {"drain_ms", "3000", "3000"},
    {"queue_soft_bytes", "0", "0"},
    {"queue_soft_ms", "60000", "60000"},
    {"max_pending_sessions", "10", "10"},
    {"write_timeout_ms", "10", "10"},
    {"document_root", "/srv/www", "/srv/www"},
    {"document_root", "/srv/my www/#1", "\"/srv/my www/#1\""},
    {"socketio_client_js", "", "\"\""},
    {"socketio_client_js", "/opt/socket.io.js", "/opt/socket.io.js"},
    {"cors_origin", "*", "*"},
    {"cors_origin", "https://a.example", "https://a.example"},
    {"cors_origin", "https://a.example, http://b.example:8080 ,chrome-extension://abc",
     "https://a.example,http://b.example:8080,chrome-extension://abc"},
    {"redis_url", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
    {"redis_url", "redis://redis", "redis://redis:6379/0"},
    {"redis_url", "redis://redis/", "redis://redis:6379/0"},
    {"redis_url", "REDIS://Host.Example:6380/15", "redis://Host.Example:6380/15"},
    {"redis_url", "redis://h/99", "redis://h:6379/99"},
    {"redis_url", "redis://:secret@redis.local:6380/3", "redis://:***@redis.local:6380/3"},
    {"redis_url", "redis://alice:p%40ss@h:1/2", "redis://alice:***@h:1/2"},
    {"redis_url", "redis://a%3Ab:@h", "redis://a%3Ab:@h:6379/0"},
    {"prefix", "{bull}", "{bull}"},
    {"prefix", "app:bull", "app:bull"},
    {"queues", "one", "one"},
    {"queues", " a , b.c,\td-e_f ", "a,b.c,d-e_f"},
    {"events", "*", "*"},
    {"events", "completed,failed", "completed,failed"},
    {"events", "retries-exhausted , waiting-children", "retries-exhausted,waiting-children"},
    {"log_stream", "x:logs", "x:logs"},
    {"log_stream_maxlen", "1", "1"},
    {"log_stream_maxlen", "1000000000", "1000000000"},
    {"redis_timeout_ms", "10", "10"},
    {"redis_timeout_ms", "3600000", "3600000"},
    {"redis_ping_interval_ms", "250", "250"},
    {"heartbeat_ms", "3600000", "3600000"},
    {"sse_retry_ms", "10", "10"},
    {"queue_max_msgs", "1024", "1024"},
    {"queue_max_bytes", "2147483647", "2147483647"},
    {"max_id_len", "8192", "8192"},
    {"socketio_path", "/sio/v4/", "/sio/v4/"},
    {"socketio_path", "/", "/"},
    {"ping_interval_ms", "10", "10"},
    {"ping_timeout_ms", "3600000", "3600000"},
    {"max_payload", "1073741824", "1073741824"},
    {"connect_timeout_ms", "45000", "45000"},
    {"conformance", "true", "true"},
    {"conformance", "YES", "true"},
    {"conformance", "on", "true"},
    {"conformance", "1", "true"},
    {"conformance", "false", "false"},
    {"conformance", "No", "false"},
    {"conformance", "OFF", "false"},
    {"conformance", "0", "false"},
    {"log_level", "debug", "debug"},
    {"log_level", "WARN", "warn"},
    {"log_level", "off", "off"},
    {"log_publish_level", "error", "error"},
    {"log_publish_level", "off", "off"},
    {"auth", "off", "off"},
    {"auth", "Optional", "optional"},
    {"auth", "required", "required"},
    {"jwt_secret", "0123456789abcdef0123456789abcdef", "***"},
    {"jwt_secret", "short", "***"}, /* length is checked by cfg_validate, with auth on */
    {"jwt_secret", "", "\"\""},
    {"jwt_public_key_file", "/etc/dualgate/issuer.pem", "/etc/dualgate/issuer.pem"},
    {"jwt_issuer", "https://auth.example/", "https://auth.example/"},
    {"jwt_audience", "dualgate api", "\"dualgate api\""},
    {"jwt_clock_skew_s", "0", "0"},
    {"jwt_clock_skew_s", "3600", "3600"},
    {"jwt_require_exp", "no", "false"},
    {"jwt_user_claim", "userId", "userId"},
    {"jwt_user_claim", "user.id", "user.id"},
    {"jwt_user_claim", "https://example.com/uid", "https://example.com/uid"},
    {"token_expiry_warning_s", "0", "0"},
    {"token_expiry_warning_s", "86400", "86400"},
    {"user_room_prefix", "u/", "u/"},
    {"user_room_prefix", "", "\"\""},
    {"access_jobs", "owner:userId | scope:jobs:all", "\"owner:userId | scope:jobs:all\""},
    {"access_jobs", "none", "none"},
    {"access_queues", "authenticated", "authenticated"},
    {"access_logs", "scope:logs:read|claim:role=admin", "scope:logs:read|claim:role=admin"},
    {"access_logs_write", "claim:realm_access.roles=ops", "claim:realm_access.roles=ops"},
    {"access_rooms", "authenticated", "authenticated"},
    {"access_user_rooms", "scope:admin", "scope:admin"},
    {"routes", "", "\"\""},
    {"routes",
     "channel:notifications=notification-received@user:{user_id}, "
     "stream:user-status=user-status-changed@all",
     "\"channel:notifications=notification-received@user:{user_id}, "
     "stream:user-status=user-status-changed@all\""},
    {"routes", "stream:{app}:feat=feature-status@project:{project.id}",
     "stream:{app}:feat=feature-status@project:{project.id}"},
    {"client_rooms", "", "\"\""},
    {"client_rooms", "project, chat", "project,chat"},
    {"client_rooms_max", "1", "1"},
    {"relay_events", "", "\"\""},
    {"relay_events", "typing,stop_typing", "typing,stop_typing"},
    {"relay_rate", "10/s", "10/s"},
    {"relay_rate", "600/m", "600/m"},
    {"relay_rate", "100000/h", "100000/h"},
    {"relay_burst", "1", "1"},
};

START_TEST(test_key_good)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[512] = "", line[1024], want[1024];
    int rc = cfg_set(&c, good[_i].key, good[_i].value, "t.conf:1", err, sizeof(err));
    ck_assert_msg(rc == DG_OK, "%s = %s: %s", good[_i].key, good[_i].value, err);
    snprintf(want, sizeof(want), "%s = %s", good[_i].key, good[_i].dumped);
    ck_assert_str_eq(dump_line(&c, good[_i].key, line, sizeof(line)), want);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Every key, bad values: exact error text, and the config is left untouched */

#define Q63 "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
#define P64 "/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp/"

static const struct {
    const char *key, *value, *reason;
} bad[] = {
    {"bind", "localhost", "must be an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)"},
    {"bind", "", "must be an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)"},
    {"bind", "1.2.3.256", "must be an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)"},
    {"bind", "::1", "must be an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)"},
    {"port", "abc", "not an integer"},
    {"port", "", "not an integer"},
    {"port", "80x", "not an integer"},
    {"port", " 80", "not an integer"},
    {"port", "+80", "not an integer"},
    {"port", "0x50", "not an integer"},
    {"port", "8.5", "not an integer"},
    {"port", "-", "not an integer"},
    {"port", "0", "must be between 1 and 65535"},
    {"port", "-1", "must be between 1 and 65535"},
    {"port", "65536", "must be between 1 and 65535"},
    {"port", "99999999999999999999999", "must be between 1 and 65535"},
    {"max_connections", "0", "must be between 1 and 1000000"},
    {"http_threads", "3", "must be between 4 and 4096"},
    {"http_threads", "0", "must be between 4 and 4096"},
    {"io_threads", "-1", "must be between 0 and 64"},
    {"header_timeout_ms", "1", "must be between 10 and 3600000"},
    {"max_pending_heads", "0", "must be between 1 and 1000000"},
    {"drain_ms", "-1", "must be between 0 and 3600000"},
    {"drain_ms", "3600001", "must be between 0 and 3600000"},
    {"queue_soft_bytes", "-1", "must be between 0 and 2147483647"},
    {"max_pending_sessions", "0", "must be between 1 and 1000000"},
    {"recovery_max_disconnect_ms", "999", "must be between 1000 and 86400000"},
    {"write_timeout_ms", "9", "must be between 10 and 3600000"},
    {"document_root", "", "must not be empty"},
    {"document_root", "a\nb", "must not contain control characters"},
    {"socketio_client_js", "\x01", "must not contain control characters"},
    {"cors_origin", "", "must not be empty (use * for any origin)"},
    {"cors_origin", "https://a.example/", "origin 'https://a.example/' must not end with '/'"},
    {"cors_origin", "https://a.example/app", "origin 'https://a.example/app' must not have a path"},
    {"cors_origin", "a.example", "origin 'a.example' is not scheme://host[:port]"},
    {"cors_origin", "1http://a", "origin '1http://a' is not scheme://host[:port]"},
    {"cors_origin", "http://a?x", "origin 'http://a?x' is not scheme://host[:port]"},
    {"cors_origin", "https://", "origin 'https://' has no host"},
    {"cors_origin", "http://a:0", "origin 'http://a:0' has a bad port (1 to 65535)"},
    {"cors_origin", "http://a:", "origin 'http://a:' has a bad port (1 to 65535)"},
    {"cors_origin", "http://a:65536", "origin 'http://a:65536' has a bad port (1 to 65535)"},
    {"cors_origin", "http://a:0000080", "origin 'http://a:0000080' has a bad port (1 to 65535)"},
    {"cors_origin", "https://a,https://A", "duplicate origin 'https://A'"},
    {"cors_origin", "https://a,,https://b", "empty origin in list"},
    {"cors_origin", "https://*.a.com",
     "'*' must stand alone (any origin); wildcard patterns are not supported"},
    {"cors_origin", "*,https://a",
     "'*' must stand alone (any origin); wildcard patterns are not supported"},
    {"cors_origin",
     "http://a1,http://a2,http://a3,http://a4,http://a5,http://a6,http://a7,http://a8,"
     "http://a9,http://a10,http://a11,http://a12,http://a13,http://a14,http://a15,http://a16,"
     "http://a17",
     "too many origins (max 16)"},
    {"redis_url", "rediss://h:6380", "TLS not supported (rediss://); use redis://"},
    {"redis_url", "http://h",
     "must start with redis:// (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "", "must start with redis:// (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "redis://", "missing host (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "redis://:6379", "missing host (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "redis://h:0", "port must be between 1 and 65535"},
    {"redis_url", "redis://h:", "port must be between 1 and 65535"},
    {"redis_url", "redis://h:x/0", "port is not an integer"},
    {"redis_url", "redis://h:70000", "port must be between 1 and 65535"},
    {"redis_url", "redis://h/x", "db must be a non-negative integer, got 'x'"},
    {"redis_url", "redis://h/-1", "db must be a non-negative integer, got '-1'"},
    {"redis_url", "redis://h/1/2", "db must be a non-negative integer, got '1/2'"},
    {"redis_url", "redis://[::1]:6379", "IPv6 addresses are not supported"},
    {"redis_url", "redis://user@h",
     "credentials must be [user]:password@ (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "redis://:p%zz@h", "bad percent-encoding in password"},
    {"redis_url", "redis://:p%4@h", "bad percent-encoding in password"},
    {"redis_url", "redis://:%00@h", "NUL byte in password"},
    {"redis_url", "redis://u%g0:p@h", "bad percent-encoding in user"},
    {"redis_url", "redis://h?db=1",
     "query parameters are not supported (redis://[[user]:password@]host[:port][/db])"},
    {"redis_url", "redis://h!x", "invalid host 'h!x'"},
    {"prefix", "", "must not be empty"},
    {"prefix", "a b", "must be printable ASCII without spaces"},
    {"prefix", Q63 "q", "longer than 63 characters"},
    {"queues", "", "must name at least one queue"},
    {"queues", "a,,b", "empty queue name in list"},
    {"queues", "a,b,", "empty queue name in list"},
    {"queues", "a b", "invalid queue name 'a b' (allowed: A-Z a-z 0-9 _ . -)"},
    {"queues", "http,sp/arql", "invalid queue name 'sp/arql' (allowed: A-Z a-z 0-9 _ . -)"},
    {"queues", "a, a", "duplicate queue name 'a'"},
    {"queues", "q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,q11,q12,q13,q14,q15,q16,q17",
     "too many queue names (max 16)"},
    {"queues", Q63 "q", "queue name 'qqqqqqqqqqqqqqqq...' longer than 63 characters"},
    {"events", "", "must not be empty (use * for every event)"},
    {"events", "*,completed", "'*' must stand alone (all events) or be left out"},
    {"events", "completed,completed", "duplicate event name 'completed'"},
    {"events", "compl eted", "invalid event name 'compl eted' (allowed: A-Z a-z 0-9 _ . -)"},
    {"log_stream", "", "must not be empty"},
    {"log_stream", "a\tb", "must be printable ASCII without spaces"},
    {"log_stream_maxlen", "0", "must be between 1 and 1000000000"},
    {"redis_timeout_ms", "9", "must be between 10 and 3600000"},
    {"redis_timeout_ms", "2s", "not an integer"},
    {"redis_ping_interval_ms", "3600001", "must be between 10 and 3600000"},
    {"heartbeat_ms", "3600001", "must be between 10 and 3600000"},
    {"sse_retry_ms", "0", "must be between 10 and 3600000"},
    {"queue_max_msgs", "0", "must be between 1024 and 10000000"},
    {"queue_max_msgs", "1023", "must be between 1024 and 10000000"},
    {"queue_max_bytes", "0", "must be between 1 and 2147483647"},
    {"queue_max_bytes", "2147483648", "must be between 1 and 2147483647"},
    {"max_id_len", "0", "must be between 1 and 8192"},
    {"socketio_path", "socket.io/", "must start and end with '/' (e.g. /socket.io/)"},
    {"socketio_path", "/socket.io", "must start and end with '/' (e.g. /socket.io/)"},
    {"socketio_path", "", "must start and end with '/' (e.g. /socket.io/)"},
    {"socketio_path", "/a b/", "invalid character ' ' (allowed: A-Z a-z 0-9 _ . - ~ /)"},
    {"socketio_path", "/a?b/", "invalid character '?' (allowed: A-Z a-z 0-9 _ . - ~ /)"},
    {"socketio_path", "/a//b/", "must not contain '//'"},
    {"socketio_path", P64, "longer than 63 characters"},
    {"ping_interval_ms", "9", "must be between 10 and 3600000"},
    {"ping_timeout_ms", "0", "must be between 10 and 3600000"},
    {"max_payload", "0", "must be between 1 and 1073741824"},
    {"connect_timeout_ms", "1e3", "not an integer"},
    {"conformance", "maybe", "not a boolean (true/false, yes/no, on/off, 1/0)"},
    {"conformance", "", "not a boolean (true/false, yes/no, on/off, 1/0)"},
    {"log_level", "verbose", "unknown level (debug, info, warn, error, off)"},
    {"log_publish_level", "", "unknown level (debug, info, warn, error, off)"},
    {"auth", "on", "must be off, optional or required"},
    {"auth", "", "must be off, optional or required"},
    {"jwt_secret", "a\tb", "must not contain control characters"},
    {"jwt_public_key_file", "a\nb", "must not contain control characters"},
    {"jwt_clock_skew_s", "-1", "must be between 0 and 3600"},
    {"jwt_clock_skew_s", "3601", "must be between 0 and 3600"},
    {"jwt_require_exp", "sometimes", "not a boolean (true/false, yes/no, on/off, 1/0)"},
    {"jwt_user_claim", "",
     "must be a claim name or dotted path of 1 to 127 printable ASCII characters without "
     "spaces"},
    {"jwt_user_claim", "user id",
     "must be a claim name or dotted path of 1 to 127 printable ASCII characters without "
     "spaces"},
    {"token_expiry_warning_s", "86401", "must be between 0 and 86400"},
    {"user_room_prefix", "user :", "must be printable ASCII without spaces, ',', '{' or '}'"},
    {"user_room_prefix", "u{x}", "must be printable ASCII without spaces, ',', '{' or '}'"},
    {"user_room_prefix",
     "job:", "user rooms would overlap the broker's job:, queue: or logs rooms"},
    {"user_room_prefix", "jo", "user rooms would overlap the broker's job:, queue: or logs rooms"},
    {"user_room_prefix",
     "queue:u:", "user rooms would overlap the broker's job:, queue: or logs rooms"},
    {"user_room_prefix", "log", "user rooms would overlap the broker's job:, queue: or logs rooms"},
    {"access_jobs", "",
     "empty term (any, none, authenticated, scope:NAME, claim:PATH=VALUE, "
     "owner:PATH)"},
    {"access_jobs", "any | scope:x", "'any' and 'none' must stand alone"},
    {"access_queues", "owner:userId", "owner:PATH is only for access_jobs"},
    {"access_logs", "scope:", "empty scope name"},
    {"access_logs", "claim:role", "claim term needs claim:PATH=VALUE"},
    {"access_logs", "everyone",
     "unknown term 'everyone' (any, none, authenticated, scope:NAME, "
     "claim:PATH=VALUE, owner:PATH)"},
    {"access_rooms", "scope:a||scope:b",
     "empty term (any, none, authenticated, scope:NAME, "
     "claim:PATH=VALUE, owner:PATH)"},
    {"routes", "channel:notifications",
     "route 1 'channel:notifications': missing '=' before the event name"},
    {"routes", "stream:a=e@all,queue:b=e@all",
     "route 2 'queue:b=e@all': unknown source type 'queue' (channel or stream)"},
    {"routes", "channel:n*=e@all",
     "route 1 'channel:n*=e@all': channel patterns are not "
     "supported ('*')"},
    {"routes", "channel:n=connect@all",
     "route 1 'channel:n=connect@all': event name 'connect' is reserved by Socket.IO"},
    {"routes", "channel:n=e@user:{id",
     "route 1 'channel:n=e@user:{id': unclosed '{' in room "
     "template"},
    {"routes", "channel:n=e@job:{id}",
     "route 1 'channel:n=e@job:{id}': room template names a "
     "reserved room (logs, job:..., queue:...)"},
    {"routes", "channel:n=e@all, channel:n=f@all",
     "route 2 'channel:n=f@all': channel 'n' is already routed (route 1)"},
    {"client_rooms", "a b", "invalid room type name 'a b' (allowed: A-Z a-z 0-9 _ . -)"},
    {"client_rooms", "project,job", "room type 'job' is reserved (job and queue rooms)"},
    {"client_rooms", "chat,chat", "duplicate room type name 'chat'"},
    {"client_rooms_max", "0", "must be between 1 and 1024"},
    {"relay_events", "typing,join_room",
     "event 'join_room' cannot be relayed (used by Socket.IO or dualgate)"},
    {"relay_events", "typing,,x", "empty event name in list"},
    {"relay_rate", "10", "must be <count>/<s|m|h> (e.g. 10/s)"},
    {"relay_rate", "10/d", "must be <count>/<s|m|h> (e.g. 10/s)"},
    {"relay_rate", "10/ss", "must be <count>/<s|m|h> (e.g. 10/s)"},
    {"relay_rate", "/s", "must be <count>/<s|m|h> (e.g. 10/s)"},
    {"relay_rate", "0/s", "count must be between 1 and 100000"},
    {"relay_rate", "x/s", "count is not an integer"},
    {"relay_burst", "0", "must be between 1 and 100000"},
    {"nope", "1", "unknown key"},
    {"Port", "80", "unknown key"},
};

START_TEST(test_key_bad)
{
    cfg_t c, before;
    cfg_defaults(&c);
    before = c;
    char err[1024] = "", want[1024];
    int rc = cfg_set(&c, bad[_i].key, bad[_i].value, "f.conf:7", err, sizeof(err));
    ck_assert_int_eq(rc, DG_EINVAL);
    snprintf(want, sizeof(want), "f.conf:7: %s: %s", bad[_i].key, bad[_i].reason);
    ck_assert_str_eq(err, want);
    ck_assert_msg(memcmp(&c, &before, sizeof(c)) == 0, "config changed by a failed set");
}
END_TEST

START_TEST(test_set_origin_forms)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[128];
    ck_assert_int_eq(cfg_set(&c, "port", "0", NULL, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "port: must be between 1 and 65535");
    ck_assert_int_eq(cfg_set(&c, "port", "0", "env PORT", err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env PORT: must be between 1 and 65535");
    ck_assert_int_eq(cfg_set(&c, "port", "0", "--set", err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "--set: port: must be between 1 and 65535");
    /* Short or missing error buffers truncate, never overflow. */
    char tiny[8];
    ck_assert_int_eq(cfg_set(&c, "port", "0", "x", tiny, sizeof(tiny)), DG_EINVAL);
    ck_assert_str_eq(tiny, "x: port");
    ck_assert_int_eq(cfg_set(&c, "port", "0", "x", NULL, 0), DG_EINVAL);
    ck_assert_int_eq(cfg_set(&c, "port", "0", "x", tiny, 0), DG_EINVAL);
    ck_assert_int_eq(cfg_set(&c, "port", "8082", "x", NULL, 0), DG_OK);
    ck_assert_int_eq(c.port, 8082);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * File syntax */

START_TEST(test_file_syntax)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "";
    const char *text = "# comment\n"
                       "\n"
                       "   \t\n"
                       "  # indented comment\n"
                       "port=9000\n"
                       "  bind\t=\t0.0.0.0   # trailing comment\n"
                       "prefix = a#b\n"
                       "log_stream = x:y # comment after whitespace\n"
                       "document_root = \"/srv/my www/#not a comment\"  # comment\n"
                       "socketio_client_js = \"\"\n"
                       "queues = \"q1,q2\"\r\n"
                       "log_level = debug"; /* no final newline */
    int rc = load_text(&c, text, path, err, sizeof(err));
    ck_assert_msg(rc == DG_OK, "%s", err);
    ck_assert_int_eq(c.port, 9000);
    ck_assert_str_eq(c.bind, "0.0.0.0");
    ck_assert_str_eq(c.prefix, "a#b");
    ck_assert_str_eq(c.log_stream, "x:y");
    ck_assert_str_eq(c.document_root, "/srv/my www/#not a comment");
    ck_assert_str_eq(c.client_js, "");
    ck_assert_int_eq(c.nqueues, 2);
    ck_assert_str_eq(c.queues[1], "q2");
    ck_assert_int_eq(c.log_level, CFG_LOG_DEBUG);
}
END_TEST

START_TEST(test_file_quote_escapes)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "";
    ck_assert_int_eq(load_text(&c, "document_root = \"a\\\"b\\\\c\\d\"\n", path, err, sizeof(err)),
                     DG_OK);
    ck_assert_str_eq(c.document_root, "a\"b\\c\\d");
}
END_TEST

static const struct {
    const char *text;
    int line;
    const char *tail; /* after "PATH:LINE: " */
} file_bad[] = {
    {"port = 80\nport = 81\n", 2, "port: duplicate key (first set on line 1)"},
    {"# c\n\nqueues = a\nport = 80\nqueues = b\n", 5,
     "queues: duplicate key (first set on line 3)"},
    {"port 80\n", 1, "port: missing '=' (expected key = value)"},
    {"\n\nport\n", 3, "port: missing '=' (expected key = value)"},
    {"= 80\n", 1, "missing key before '='"},
    {"frobnicate = 1\n", 1, "frobnicate: unknown key"},
    {"port = 80\nport_x = 1\n", 2, "port_x: unknown key"},
    {"port = 0\n", 1, "port: must be between 1 and 65535"},
    {"bind = 127.0.0.1\n\n\nport = 8o81\n", 4, "port: not an integer"},
    {"port = \"80\n", 1, "port: unterminated quoted value"},
    {"port = \"80\" 81\n", 1, "port: unexpected text after closing quote"},
    {"port = \"80\"#c\n", 1, "port: unexpected text after closing quote"},
    {"port = # only a comment\n", 1, "port: not an integer"},
    {"events = \"a\\\"b\"\n", 1, "events: invalid event name 'a\"b' (allowed: A-Z a-z 0-9 _ . -)"},
    {"redis_url = rediss://h\n", 1, "redis_url: TLS not supported (rediss://); use redis://"},
};

START_TEST(test_file_errors)
{
    cfg_t c, before;
    cfg_defaults(&c);
    before = c;
    char path[64], err[512] = "", want[700];
    int rc = load_text(&c, file_bad[_i].text, path, err, sizeof(err));
    ck_assert_int_eq(rc, DG_EINVAL);
    snprintf(want, sizeof(want), "%s:%d: %s", path, file_bad[_i].line, file_bad[_i].tail);
    ck_assert_str_eq(err, want);
    /* All or nothing: earlier good lines of a bad file are not applied either. */
    ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_file_limits)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "", want[600];

    /* Line length: 4096 bytes including the newline pass, one more fails. */
    static char text[8192];
    memset(text, ' ', sizeof(text));
    memcpy(text, "port = 80", 9);
    text[4095] = '\n';
    text[4096] = '\0';
    ck_assert_int_eq(load_text(&c, text, path, err, sizeof(err)), DG_OK);
    memset(text, ' ', sizeof(text));
    memcpy(text, "# x\nport = 80", 13);
    text[4 + 4096] = '\n';
    text[4 + 4097] = '\0';
    ck_assert_int_eq(load_text(&c, text, path, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want), "%s:2: line longer than 4096 bytes", path);
    ck_assert_str_eq(err, want);

    /* NUL bytes are an error, not a silent truncation. */
    write_tmp(path, "port = 80\nport\0 = 81\n", 21);
    ck_assert_int_eq(cfg_load_file(&c, path, err, sizeof(err)), DG_EINVAL);
    unlink(path);
    snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
    ck_assert_str_eq(err, want);

    /* Missing file and directory: DG_EIO naming the path. */
    ck_assert_int_eq(cfg_load_file(&c, "/nonexistent/dualgate.conf", err, sizeof(err)), DG_EIO);
    ck_assert_str_eq(err, "/nonexistent/dualgate.conf: cannot open: No such file or directory");
    ck_assert_int_eq(cfg_load_file(&c, "/tmp", err, sizeof(err)), DG_EIO);
    ck_assert_str_eq(err, "/tmp: read error: Is a directory");

    /* Empty file: nothing changes. */
    cfg_t d;
    cfg_defaults(&d);
    cfg_defaults(&c);
    ck_assert_int_eq(load_text(&c, "", path, err, sizeof(err)), DG_OK);
    ck_assert(memcmp(&c, &d, sizeof(c)) == 0);
}
END_TEST

/* A key is unique per file, not across files: a second file overrides the first. */
START_TEST(test_file_layering)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "";
    ck_assert_int_eq(load_text(&c, "port = 1000\nqueues = a,b\n", path, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(load_text(&c, "port = 2000\n", path, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(c.port, 2000);
    ck_assert_int_eq(c.nqueues, 2);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Environment */

START_TEST(test_env_legacy_and_specific)
{
    env_clear();
    cfg_t c;
    cfg_defaults(&c);
    char err[512] = "";
    setenv("PORT", "9000", 1);
    setenv("REDIS_URL", "redis://:pw@redis:6390/2", 1);
    setenv("SOCKETS_CORS_ORIGIN", "https://app.example", 1);
    setenv("DUALGATE_MAX_CONNECTIONS", "500", 1);
    setenv("DUALGATE_LOG_LEVEL", "warn", 1);
    setenv("DUALGATE_EVENTS", "completed,failed", 1);
    setenv("DUALGATE_CONFORMANCE", "yes", 1);
    ck_assert_msg(cfg_load_env(&c, err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_int_eq(c.port, 9000);
    ck_assert_str_eq(c.redis_host, "redis");
    ck_assert_int_eq(c.redis_port, 6390);
    ck_assert_int_eq(c.redis_db, 2);
    ck_assert_str_eq(c.redis_password, "pw");
    ck_assert_int_eq(c.cors_any, 0);
    ck_assert_int_eq(c.ncors_origins, 1);
    ck_assert_str_eq(c.cors_origins[0], "https://app.example");
    ck_assert_int_eq(c.max_connections, 500);
    ck_assert_int_eq(c.log_level, CFG_LOG_WARN);
    ck_assert_int_eq(c.nevents, 2);
    ck_assert_int_eq(c.conformance, 1);

    /* DUALGATE_<KEY> wins over the Node-era name. */
    setenv("DUALGATE_PORT", "9001", 1);
    setenv("DUALGATE_CORS_ORIGIN", "*", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(c.port, 9001);
    ck_assert_int_eq(c.cors_any, 1);
    env_clear();
}
END_TEST

START_TEST(test_env_errors)
{
    env_clear();
    cfg_t c, before;
    cfg_defaults(&c);
    before = c;
    char err[512] = "";
    setenv("DUALGATE_MAX_CONNECTIONS", "500", 1);
    setenv("PORT", "0", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env PORT: must be between 1 and 65535");
    ck_assert(memcmp(&c, &before, sizeof(c)) == 0); /* all or nothing */
    unsetenv("PORT");
    setenv("REDIS_URL", "rediss://h", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env REDIS_URL: TLS not supported (rediss://); use redis://");
    unsetenv("REDIS_URL");
    setenv("SOCKETS_CORS_ORIGIN", "https://a/", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env SOCKETS_CORS_ORIGIN: origin 'https://a/' must not end with '/'");
    unsetenv("SOCKETS_CORS_ORIGIN");
    setenv("DUALGATE_LOG_LEVEL", "loud", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env DUALGATE_LOG_LEVEL: unknown level (debug, info, warn, error, off)");
    env_clear();
}
END_TEST

/* The names deployments rely on (issue 10): DUALGATE_AUTH, DUALGATE_JWT_SECRET, ... */
START_TEST(test_env_auth)
{
    env_clear();
    cfg_t c;
    cfg_defaults(&c);
    char err[512] = "", buf[16384];
    setenv("DUALGATE_AUTH", "required", 1);
    setenv("DUALGATE_JWT_SECRET", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", 1);
    setenv("DUALGATE_JWT_ISSUER", "https://auth.example", 1);
    setenv("DUALGATE_JWT_AUDIENCE", "gateway", 1);
    setenv("DUALGATE_ROUTES", "channel:notifications=notification-received@user:{user_id}", 1);
    setenv("DUALGATE_ACCESS_JOBS", "owner:userId", 1);
    ck_assert_msg(cfg_load_env(&c, err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_int_eq(c.auth, CFG_AUTH_REQUIRED);
    ck_assert_str_eq(c.jwt_secret, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t");
    ck_assert_str_eq(c.jwt_issuer, "https://auth.example");
    ck_assert_str_eq(c.jwt_audience, "gateway");
    ck_assert_str_eq(c.routes, "channel:notifications=notification-received@user:{user_id}");
    ck_assert_str_eq(c.access_jobs, "owner:userId");
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(cfg_dump(&c, buf, sizeof(buf)), DG_OK);
    ck_assert_ptr_null(strstr(buf, "s3cr3t"));
    ck_assert_ptr_nonnull(strstr(buf, "\njwt_secret = ***\n"));
    setenv("DUALGATE_ROUTES", "channel:x", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "env DUALGATE_ROUTES: route 1 'channel:x': missing '=' before the "
                          "event name");
    env_clear();
}
END_TEST

/* Empty variables count as unset (`PORT= dualgate` keeps the default). */
START_TEST(test_env_empty_ignored)
{
    env_clear();
    cfg_t c, d;
    cfg_defaults(&c);
    cfg_defaults(&d);
    char err[512] = "";
    setenv("PORT", "", 1);
    setenv("DUALGATE_QUEUES", "", 1);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_OK);
    ck_assert(memcmp(&c, &d, sizeof(c)) == 0);
    env_clear();
}
END_TEST

/* Every key has its DUALGATE_<KEY> variable: a control character is invalid for all of them. */
START_TEST(test_env_every_key)
{
    env_clear();
    char var[64], want[128], err[512] = "";
    env_name(var, sizeof(var), all_keys[_i]);
    setenv(var, "\x01", 1);
    cfg_t c;
    cfg_defaults(&c);
    ck_assert_int_eq(cfg_load_env(&c, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want), "env %s: ", var);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: %s", var, err);
    unsetenv(var);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Lists and lookups */

START_TEST(test_queue_index)
{
    cfg_t c;
    cfg_defaults(&c);
    ck_assert_int_eq(cfg_queue_index(&c, "http"), 0);
    ck_assert_int_eq(cfg_queue_index(&c, "analyzer"), 3);
    ck_assert_int_eq(cfg_queue_index(&c, "HTTP"), -1);
    ck_assert_int_eq(cfg_queue_index(&c, "htt"), -1);
    ck_assert_int_eq(cfg_queue_index(&c, ""), -1);
    char err[256];
    ck_assert_int_eq(cfg_set(&c, "queues",
                             "q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,q11,q12,q13,q14,q15,"
                             "q16",
                             "t", err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(c.nqueues, 16);
    ck_assert_int_eq(cfg_queue_index(&c, "q16"), 15);
    ck_assert_int_eq(cfg_queue_index(&c, "http"), -1);
    ck_assert_int_eq(cfg_set(&c, "queues", Q63, "t", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(c.nqueues, 1);
    ck_assert_str_eq(c.queues[0], Q63);
    ck_assert_str_eq(c.queues[1], ""); /* replaced, not merged */
}
END_TEST

START_TEST(test_events_forwarded)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[256];
    ck_assert_int_eq(cfg_event_forwarded(&c, "completed"), 1);
    ck_assert_int_eq(cfg_event_forwarded(&c, "anything"), 1);
    ck_assert_int_eq(cfg_set(&c, "events", "completed, failed", "t", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(c.nevents, 2);
    ck_assert_int_eq(cfg_event_forwarded(&c, "completed"), 1);
    ck_assert_int_eq(cfg_event_forwarded(&c, "failed"), 1);
    ck_assert_int_eq(cfg_event_forwarded(&c, "progress"), 0);
    ck_assert_int_eq(cfg_event_forwarded(&c, "Completed"), 0);
    ck_assert_int_eq(cfg_set(&c, "events", "*", "t", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(c.nevents, 0);
    ck_assert_str_eq(c.events[0], "");
    ck_assert_int_eq(cfg_event_forwarded(&c, "progress"), 1);
}
END_TEST

START_TEST(test_origin_allowed)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[256];
    ck_assert_int_eq(cfg_origin_allowed(&c, NULL), 1);
    ck_assert_int_eq(cfg_origin_allowed(&c, "https://evil.example"), 1);
    ck_assert_int_eq(cfg_set(&c, "cors_origin", "https://app.example,http://localhost:3000", "t",
                             err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(c.cors_any, 0);
    ck_assert_int_eq(c.ncors_origins, 2);
    ck_assert_int_eq(cfg_origin_allowed(&c, NULL), 1);
    ck_assert_int_eq(cfg_origin_allowed(&c, "https://app.example"), 1);
    ck_assert_int_eq(cfg_origin_allowed(&c, "HTTPS://App.Example"), 1);
    ck_assert_int_eq(cfg_origin_allowed(&c, "http://localhost:3000"), 1);
    ck_assert_int_eq(cfg_origin_allowed(&c, "http://localhost:3001"), 0);
    ck_assert_int_eq(cfg_origin_allowed(&c, "http://app.example"), 0);
    ck_assert_int_eq(cfg_origin_allowed(&c, "https://app.example.evil"), 0);
    ck_assert_int_eq(cfg_origin_allowed(&c, "https://app.example/"), 0);
    ck_assert_int_eq(cfg_origin_allowed(&c, "null"), 0);
    ck_assert_int_eq(cfg_origin_allowed(&c, ""), 0);
    ck_assert_int_eq(cfg_set(&c, "cors_origin", "*", "t", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(cfg_origin_allowed(&c, "null"), 1);
    ck_assert_int_eq(c.ncors_origins, 0);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Redis URLs: every field */

static const struct {
    const char *url, *host, *user, *pass;
    int port, db;
} urls[] = {
    {"redis://127.0.0.1:6379/0", "127.0.0.1", "", "", 6379, 0},
    {"redis://localhost", "localhost", "", "", 6379, 0},
    {"redis://localhost/", "localhost", "", "", 6379, 0},
    {"redis://redis.internal:7000", "redis.internal", "", "", 7000, 0},
    {"redis://h/15", "h", "", "", 6379, 15},
    {"redis://h:1/16", "h", "", "", 1, 16},
    {"redis://:secret@h", "h", "", "secret", 6379, 0},
    {"redis://default:secret@h:6380/1", "h", "default", "secret", 6380, 1},
    {"redis://al%69ce:p%40ss%3Aw%2Fd@h", "h", "alice", "p@ss:w/d", 6379, 0},
    {"redis://:p@ss/w@h:1/3", "h", "", "p@ss/w", 1, 3}, /* unencoded '@' and '/' */
    {"redis://:pass#word@h", "h", "", "pass#word", 6379, 0},
    {"redis://u:@h", "h", "u", "", 6379, 0},
    {"redis://my_redis-1.local:65535/2147483647", "my_redis-1.local", "", "", 65535, 2147483647},
};

START_TEST(test_redis_url)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[512] = "";
    ck_assert_msg(cfg_set(&c, "redis_url", urls[_i].url, "t", err, sizeof(err)) == DG_OK, "%s: %s",
                  urls[_i].url, err);
    ck_assert_str_eq(c.redis_host, urls[_i].host);
    ck_assert_str_eq(c.redis_user, urls[_i].user);
    ck_assert_str_eq(c.redis_password, urls[_i].pass);
    ck_assert_int_eq(c.redis_port, urls[_i].port);
    ck_assert_int_eq(c.redis_db, urls[_i].db);
}
END_TEST

START_TEST(test_redis_url_limits)
{
    cfg_t c;
    cfg_defaults(&c);
    char url[1024], err[512] = "";
    char h255[256], p255[256];
    memset(h255, 'h', 255);
    h255[255] = '\0';
    memset(p255, 'p', 255);
    p255[255] = '\0';
    snprintf(url, sizeof(url), "redis://:%s@%s:1/0", p255, h255);
    ck_assert_msg(cfg_set(&c, "redis_url", url, "t", err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_uint_eq(strlen(c.redis_host), 255);
    ck_assert_uint_eq(strlen(c.redis_password), 255);
    snprintf(url, sizeof(url), "redis://%sh", h255);
    ck_assert_int_eq(cfg_set(&c, "redis_url", url, "t", err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "t: redis_url: host longer than 255 characters");
    snprintf(url, sizeof(url), "redis://:%sp@h", p255);
    ck_assert_int_eq(cfg_set(&c, "redis_url", url, "t", err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "t: redis_url: password longer than 255 bytes");
    /* The limit is on the decoded length: 255 "%41" decode to 255 bytes. */
    size_t o = (size_t)snprintf(url, sizeof(url), "redis://:");
    for (int i = 0; i < 255; i++)
        o += (size_t)snprintf(url + o, sizeof(url) - o, "%%41");
    snprintf(url + o, sizeof(url) - o, "@h");
    ck_assert_int_eq(cfg_set(&c, "redis_url", url, "t", err, sizeof(err)), DG_OK);
    ck_assert_uint_eq(strlen(c.redis_password), 255);
    ck_assert_int_eq(c.redis_password[254], 'A');
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Validation */

START_TEST(test_validate_limits)
{
    cfg_t c;
    cfg_defaults(&c);
    char err[512] = "";
    /* a soft limit above the hard one never triggers: allowed (tests shrink the hard one) */
    c.queue_max_bytes = 300;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_OK);
    /* threads no longer follow connections: 100,000 connections on 64 workers is valid */
    c.max_connections = 100000;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 100064)
        c.max_connections = (int)rl.rlim_max - 64;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_OK);
}
END_TEST

/* Runs cfg_validate in a child whose RLIMIT_NOFILE hard limit is 512 (lowering is one-way). */
static int validate_with_nofile(int max_connections, char *err, size_t errlen)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        struct rlimit rl = {256, 512};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(99);
        cfg_t c;
        cfg_defaults(&c);
        c.max_connections = max_connections;
        char e[512] = "";
        int rc = cfg_validate(&c, e, sizeof(e));
        ssize_t w = write(fds[1], e, strlen(e));
        (void)w;
        _exit(rc == DG_OK ? 0 : 1);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], err + n, errlen - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_ne(WEXITSTATUS(status), 99);
    return WEXITSTATUS(status) == 0 ? DG_OK : DG_EINVAL;
}

START_TEST(test_validate_fd_limit)
{
    char err[512];
    ck_assert_int_eq(validate_with_nofile(448, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(validate_with_nofile(449, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "max_connections: 449 needs 513 file descriptors (+64 reserved) but the "
                          "hard limit RLIMIT_NOFILE is 512; lower max_connections to 448 or "
                          "raise the limit");
}
END_TEST

START_TEST(test_validate_fields)
{
    cfg_t c;
    char err[512] = "";
    /* Code may set fields directly; validate re-checks ranges and names the key. */
    cfg_defaults(&c);
    c.port = 0;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "port: must be between 1 and 65535, got 0");
    cfg_defaults(&c);
    c.queue_max_bytes = 0;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "queue_max_bytes: must be between 1 and 2147483647, got 0");
    cfg_defaults(&c);
    c.ping_timeout_ms = -5;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "ping_timeout_ms: must be between 10 and 3600000, got -5");
    cfg_defaults(&c);
    c.nqueues = 0;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "queues: must name 1 to 16 queues");
    cfg_defaults(&c);
    c.max_id_len = 8;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "queues: 'techstack' is longer than max_id_len (8), so clients could "
                          "not name it");
    cfg_defaults(&c);
    c.cors_any = 0;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "cors_origin: no origin allowed (use * for any)");
    cfg_defaults(&c);
    c.log_publish_level = 7;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "log_publish_level: unknown level 7");
    cfg_defaults(&c);
    memcpy(c.sio_path, "/x", 3);
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "socketio_path: must start and end with '/'");
}
END_TEST

/* [auth], [access] and [rooms] across keys. */
static const struct {
    const char *text; /* config file */
    const char *err;  /* cfg_validate's error, "" for none */
} auth_validate[] = {
    {"auth = off\n", ""},
    {"auth = off\njwt_secret = short\n", ""}, /* unused while auth is off */
    {"auth = required\n",
     "auth: required needs jwt_secret (HS256) or jwt_public_key_file (RS256/ES256)"},
    {"auth = optional\n",
     "auth: optional needs jwt_secret (HS256) or jwt_public_key_file (RS256/ES256)"},
    {"auth = required\njwt_secret = 0123456789abcdef0123456789abcdef\n", ""},
    {"auth = required\njwt_secret = 0123456789abcdef0123456789abcde\n",
     "jwt_secret: must be at least 32 bytes (RFC 7518: an HS256 key is at least 256 bits), got "
     "31"},
    {"auth = required\njwt_public_key_file = /k.pem\n", ""}, /* read by auth_verifier_new */
    {"auth = required\njwt_public_key_file = /k.pem\n"
     "jwt_secret = 0123456789abcdef0123456789abcdef\n",
     "jwt_secret: set jwt_secret or jwt_public_key_file, not both"},
    {"access_jobs = owner:userId\n",
     "access_jobs: 'owner:userId' needs tokens (auth = optional or required)"},
    {"access_logs = scope:logs | claim:a=b\n",
     "access_logs: 'scope:logs | claim:a=b' needs tokens (auth = optional or required)"},
    {"access_rooms = none\naccess_queues = none\n", ""},
    {"auth = optional\njwt_secret = 0123456789abcdef0123456789abcdef\n"
     "access_jobs = owner:userId | scope:admin\naccess_user_rooms = claim:role=admin\n",
     ""},
    {"relay_events = typing\n",
     "relay_events: events are relayed to client rooms; set client_rooms"},
    {"relay_events = typing\nclient_rooms = chat\n", ""},
    {"client_rooms = chat,user\n",
     "client_rooms: rooms 'user:<id>' would overlap user rooms 'user:<id>' (user_room_prefix)"},
    {"client_rooms = u\nuser_room_prefix = u:x\n",
     "client_rooms: rooms 'u:<id>' would overlap user rooms 'u:x<id>' (user_room_prefix)"},
    {"client_rooms = user\nuser_room_prefix = \"\"\n", ""},
    {"client_rooms = users\n", ""},
};

START_TEST(test_validate_auth)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "";
    ck_assert_msg(load_text(&c, auth_validate[_i].text, path, err, sizeof(err)) == DG_OK, "%s",
                  err);
    err[0] = '\0';
    int rc = cfg_validate(&c, err, sizeof(err));
    ck_assert_str_eq(err, auth_validate[_i].err);
    ck_assert_int_eq(rc, auth_validate[_i].err[0] ? DG_EINVAL : DG_OK);
}
END_TEST

/* Code that sets fields directly gets the same checks. */
START_TEST(test_validate_auth_fields)
{
    cfg_t c;
    char err[512] = "";
    cfg_defaults(&c);
    c.auth = 3;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "auth: unknown mode 3");
    cfg_defaults(&c);
    snprintf(c.access_queues, sizeof(c.access_queues), "owner:x");
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "access_queues: owner:PATH is only for access_jobs");
    cfg_defaults(&c);
    c.jwt_clock_skew_s = -1;
    ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "jwt_clock_skew_s: must be between 0 and 3600, got -1");
    ck_assert_int_eq(cfg_parse_auth("REQUIRED"), CFG_AUTH_REQUIRED);
    ck_assert_int_eq(cfg_parse_auth("yes"), -1);
    ck_assert_str_eq(cfg_auth_name(CFG_AUTH_OPTIONAL), "optional");
    ck_assert_str_eq(cfg_auth_name(7), "unknown");
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Levels and dump */

START_TEST(test_levels)
{
    ck_assert_int_eq(cfg_parse_level("debug"), CFG_LOG_DEBUG);
    ck_assert_int_eq(cfg_parse_level("info"), CFG_LOG_INFO);
    ck_assert_int_eq(cfg_parse_level("warn"), CFG_LOG_WARN);
    ck_assert_int_eq(cfg_parse_level("error"), CFG_LOG_ERROR);
    ck_assert_int_eq(cfg_parse_level("off"), CFG_LOG_OFF);
    ck_assert_int_eq(cfg_parse_level("Info"), CFG_LOG_INFO);
    ck_assert_int_eq(cfg_parse_level("warning"), -1);
    ck_assert_int_eq(cfg_parse_level(""), -1);
    ck_assert_str_eq(cfg_level_name(CFG_LOG_DEBUG), "debug");
    ck_assert_str_eq(cfg_level_name(CFG_LOG_WARN), "warn");
    ck_assert_str_eq(cfg_level_name(CFG_LOG_OFF), "off");
    ck_assert_str_eq(cfg_level_name(-1), "unknown");
    ck_assert_str_eq(cfg_level_name(5), "unknown");
}
END_TEST

START_TEST(test_dump_defaults)
{
    cfg_t c;
    cfg_defaults(&c);
    char buf[16384], want[16384];
    ck_assert_int_eq(cfg_dump(&c, buf, sizeof(buf)), DG_OK);
    snprintf(want, sizeof(want),
             "bind = 127.0.0.1\n"
             "port = 8081\n"
             "max_connections = 1000\n"
             "http_threads = 64\n"
             "io_threads = 0\n"
             "write_timeout_ms = 5000\n"
             "header_timeout_ms = 10000\n"
             "body_timeout_ms = 10000\n"
             "max_pending_heads = 1024\n"
             "drain_ms = 10000\n"
             "document_root = %s\n"
             "socketio_client_js = %s\n"
             "cors_origin = *\n"
             "redis_url = redis://127.0.0.1:6379/0\n"
             "prefix = bull\n"
             "queues = http,sparql,techstack,analyzer\n"
             "events = *\n"
             "log_stream = dualgate:logs\n"
             "log_stream_maxlen = 10000\n"
             "redis_timeout_ms = 2000\n"
             "redis_ping_interval_ms = 1000\n"
             "heartbeat_ms = 15000\n"
             "sse_retry_ms = 3000\n"
             "queue_max_msgs = 4096\n"
             "queue_max_bytes = 4194304\n"
             "queue_soft_bytes = 1048576\n"
             "queue_soft_ms = 10000\n"
             "max_id_len = 256\n"
             "socketio_path = /socket.io/\n"
             "ping_interval_ms = 25000\n"
             "ping_timeout_ms = 20000\n"
             "max_payload = 1000000\n"
             "connect_timeout_ms = 10000\n"
             "max_pending_sessions = 1024\n"
             "conformance = false\n"
             "recovery = true\n"
             "recovery_max_disconnect_ms = 120000\n"
             "connected_event = true\n"
             "log_level = info\n"
             "log_publish_level = info\n"
             "auth = off\n"
             "jwt_secret = \"\"\n"
             "jwt_public_key_file = \"\"\n"
             "jwt_issuer = \"\"\n"
             "jwt_audience = \"\"\n"
             "jwt_clock_skew_s = 30\n"
             "jwt_require_exp = true\n"
             "jwt_user_claim = sub\n"
             "token_expiry_warning_s = 60\n"
             "user_room_prefix = user:\n"
             "access_jobs = any\n"
             "access_queues = any\n"
             "access_logs = any\n"
             "access_logs_write = any\n"
             "access_rooms = any\n"
             "access_user_rooms = none\n"
             "routes = \"\"\n"
             "client_rooms = \"\"\n"
             "client_rooms_max = 16\n"
             "relay_events = \"\"\n"
             "relay_rate = 10/s\n"
             "relay_burst = 20\n",
             c.document_root, c.client_js[0] ? c.client_js : "\"\"");
    ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_dump_masks_password_and_round_trips)
{
    cfg_t c;
    cfg_defaults(&c);
    char path[64], err[512] = "";
    const char *text = "redis_url = redis://us%40er:hunter2@h:6380/4\n"
                       "document_root = \"/a \\\"b\\\" #c\"\n"
                       "socketio_client_js = \"\"\n"
                       "cors_origin = https://a.example, http://b:81\n"
                       "events = completed,failed\n"
                       "queues = x\n"
                       "conformance = on\n"
                       "log_publish_level = off\n";
    ck_assert_msg(load_text(&c, text, path, err, sizeof(err)) == DG_OK, "%s", err);
    char buf[16384];
    ck_assert_int_eq(cfg_dump(&c, buf, sizeof(buf)), DG_OK);
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ck_assert_ptr_nonnull(strstr(buf, "\nredis_url = redis://us%40er:***@h:6380/4\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\ndocument_root = \"/a \\\"b\\\" #c\"\n"));

    /* The dump reads back as a config file; only the password differs (masked). */
    cfg_t r;
    cfg_defaults(&r);
    ck_assert_msg(load_text(&r, buf, path, err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_str_eq(r.redis_password, "***");
    ck_assert_str_eq(r.redis_user, "us@er");
    memcpy(r.redis_password, c.redis_password, sizeof(r.redis_password));
    ck_assert(memcmp(&r, &c, sizeof(c)) == 0);
}
END_TEST

/* Every buffer size: DG_ELIMIT until it fits, always NUL-terminated, a prefix of the full dump. */
START_TEST(test_bind_is_loopback)
{
    cfg_t c;
    cfg_defaults(&c);
    ck_assert_int_eq(cfg_bind_is_loopback(&c), 1); /* the default, 127.0.0.1 */
    static const char *const yes[] = {"127.0.0.1", "127.1.2.3", "::1", "localhost"};
    static const char *const no[] = {"0.0.0.0", "::", "10.0.0.1", "", "128.0.0.1", "example.org",
                                     "::ffff:127.0.0.1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(c.bind, sizeof(c.bind), "%s", yes[i]);
        ck_assert_msg(cfg_bind_is_loopback(&c) == 1, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(c.bind, sizeof(c.bind), "%s", no[i]);
        ck_assert_msg(cfg_bind_is_loopback(&c) == 0, "%s", no[i]);
    }
}
END_TEST

START_TEST(test_dump_short_buffers)
{
    cfg_t c;
    cfg_defaults(&c);
    char full[16384];
    ck_assert_int_eq(cfg_dump(&c, full, sizeof(full)), DG_OK);
    size_t n = strlen(full);
    ck_assert_int_eq(cfg_dump(&c, NULL, 0), DG_ELIMIT);
    for (size_t len = 1; len <= n + 1; len++) {
        char *b = malloc(len); /* exact size, so ASan sees any overrun */
        ck_assert_ptr_nonnull(b);
        int rc = cfg_dump(&c, b, len);
        ck_assert_int_eq(rc, len == n + 1 ? DG_OK : DG_ELIMIT);
        ck_assert_uint_eq(strlen(b), len - 1);
        ck_assert(memcmp(b, full, len - 1) == 0);
        free(b);
    }
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("defaults");
    tcase_add_test(t, test_defaults);
    tcase_add_test(t, test_reference_conf);
    tcase_add_test(t, test_reference_conf_truncated);
    suite_add_tcase(s, t);

    t = tcase_create("keys");
    tcase_add_loop_test(t, test_key_good, 0, (int)(sizeof(good) / sizeof(good[0])));
    tcase_add_loop_test(t, test_key_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(t, test_set_origin_forms);
    tcase_add_test(t, test_levels);
    suite_add_tcase(s, t);

    t = tcase_create("file");
    tcase_add_test(t, test_file_syntax);
    tcase_add_test(t, test_file_quote_escapes);
    tcase_add_loop_test(t, test_file_errors, 0, (int)(sizeof(file_bad) / sizeof(file_bad[0])));
    tcase_add_test(t, test_file_limits);
    tcase_add_test(t, test_file_layering);
    suite_add_tcase(s, t);

    t = tcase_create("env");
    tcase_add_test(t, test_env_legacy_and_specific);
    tcase_add_test(t, test_env_errors);
    tcase_add_test(t, test_env_auth);
    tcase_add_test(t, test_env_empty_ignored);
    tcase_add_loop_test(t, test_env_every_key, 0, (int)NKEYS);
    suite_add_tcase(s, t);

    t = tcase_create("lists");
    tcase_add_test(t, test_queue_index);
    tcase_add_test(t, test_events_forwarded);
    tcase_add_test(t, test_origin_allowed);
    tcase_add_loop_test(t, test_redis_url, 0, (int)(sizeof(urls) / sizeof(urls[0])));
    tcase_add_test(t, test_redis_url_limits);
    suite_add_tcase(s, t);

    t = tcase_create("validate");
    tcase_add_test(t, test_validate_limits);
    tcase_add_test(t, test_validate_fd_limit);
    tcase_add_test(t, test_validate_fields);
    tcase_add_loop_test(t, test_validate_auth, 0,
                        (int)(sizeof(auth_validate) / sizeof(auth_validate[0])));
    tcase_add_test(t, test_validate_auth_fields);
    suite_add_tcase(s, t);

    t = tcase_create("dump");
    tcase_add_test(t, test_dump_defaults);
    tcase_add_test(t, test_dump_masks_password_and_round_trips);
    tcase_add_test(t, test_dump_short_buffers);
    tcase_add_test(t, test_bind_is_loopback);
    suite_add_tcase(s, t);
    return s;
}
