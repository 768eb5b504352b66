/* log.c - dualgate's own log lines: JSON {ts, level, ns, msg} on stderr, one write per line,
 * and a copy to the publish hook (the log stream) at or above the publish level.
 * Re-entry guard: whatever the hook does cannot log its way back into the hook. A rate limit
 * per call site keeps a failure that repeats from flooding stderr and the log stream. */
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int stderr_level = CFG_LOG_INFO;
static int publish_level = CFG_LOG_OFF;
/* The hook is set while other threads log: the rwlock makes "removed" mean no call of the old
 * hook is still running (its ud may be freed next); the atomic copy serves the cheap checks. */
static pthread_rwlock_t publish_lock = PTHREAD_RWLOCK_INITIALIZER;
static _Atomic(log_publish_fn) publish_fn;
static void *publish_ud; /* under publish_lock */
static _Thread_local int in_hook;

/* ---- rate limit ---------------------------------------------------------------------------- */

#define LIM_SLOTS 64
#define LIM_NS_MAX 32

typedef struct lim_slot {
    const char *fmt; /* NULL: free. The format's address names the call site */
    int level;
    char ns[LIM_NS_MAX];
    int64_t since; /* start of the current window, CLOCK_MONOTONIC ms */
    int count;     /* lines let through in this window */
    int suppressed;
} lim_slot_t;

static pthread_mutex_t lim_lock = PTHREAD_MUTEX_INITIALIZER;
static lim_slot_t lim[LIM_SLOTS];
static int lim_window_ms = 10000;
static int lim_burst = 10;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_set_rate_limit(int window_ms, int burst)
{
    pthread_mutex_lock(&lim_lock);
    lim_window_ms = window_ms > 0 ? window_ms : 0;
    lim_burst = burst > 0 ? burst : 1;
    memset(lim, 0, sizeof(lim));
    pthread_mutex_unlock(&lim_lock);
}

/* Returns -1 if this line is to be suppressed, else how many lines of its key were
 * suppressed in the window that just ended (for the line to say so). */
static int lim_check(int level, const char *ns, const char *fmt)
{
    int64_t now = mono_ms();
    int out = 0;
    pthread_mutex_lock(&lim_lock);
    if (!lim_window_ms) {
        pthread_mutex_unlock(&lim_lock);
        return 0;
    }
    lim_slot_t *s = NULL, *victim = &lim[0];
    for (int i = 0; i < LIM_SLOTS && !s; i++) {
        lim_slot_t *x = &lim[i];
        if (x->fmt == fmt && x->level == level && strncmp(x->ns, ns, LIM_NS_MAX - 1) == 0)
            s = x;
        else if (!x->fmt || (victim->fmt && x->since < victim->since))
            victim = x;
    }
    if (!s) {
        s = victim;
        *s = (lim_slot_t){.fmt = fmt, .level = level, .since = now};
        snprintf(s->ns, sizeof(s->ns), "%s", ns);
    } else if (now - s->since >= lim_window_ms) {
        out = s->suppressed;
        s->since = now;
        s->count = s->suppressed = 0;
    }
    if (s->count < lim_burst) {
        s->count++;
    } else {
        s->suppressed++;
        out = -1;
    }
    pthread_mutex_unlock(&lim_lock);
    return out;
}

void log_init(int stderr_lvl, int publish_lvl)
{
    stderr_level = stderr_lvl;
    publish_level = publish_lvl;
}

void log_set_publisher(log_publish_fn fn, void *ud)
{
    pthread_rwlock_wrlock(&publish_lock);
    publish_ud = ud;
    atomic_store(&publish_fn, fn);
    pthread_rwlock_unlock(&publish_lock);
}

void log_thread_no_publish(void)
{
    in_hook = 1;
}

int log_enabled(int level)
{
    return level >= stderr_level || (atomic_load(&publish_fn) && level >= publish_level);
}

void log_now_iso(char buf[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

void log_at(int level, const char *ns, const char *fmt, ...)
{
    if (!log_enabled(level) || level >= CFG_LOG_OFF)
        return;
    if (!ns)
        ns = "";
    int suppressed = lim_check(level, ns, fmt);
    if (suppressed < 0)
        return;
    char text[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (suppressed > 0) { /* the count wins over the end of an overlong message */
        size_t room = sizeof(text) - 48, at = n < 0 ? 0 : (size_t)n < room ? (size_t)n : room;
        snprintf(text + at, sizeof(text) - at, " [%d similar lines suppressed]", suppressed);
    }
    log_now_iso(ts);

    json_t *o = json_object();
    json_t *m = json_string(text);
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(cfg_level_name(level)));
    json_object_set_new(o, "ns", json_string(ns));
    json_object_set_new(o, "msg", m ? m : json_string("(message is not valid UTF-8)"));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    size_t len = strlen(line);

    if (level >= stderr_level) {
        /* One write per line so concurrent threads never interleave inside a line. */
        line[len] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len + 1);
        (void)w;
        line[len] = '\0';
    }
    if (atomic_load(&publish_fn) && level >= publish_level && !in_hook) {
        in_hook = 1; /* anything the hook logs on this thread stays on stderr */
        pthread_rwlock_rdlock(&publish_lock);
        log_publish_fn fn = atomic_load(&publish_fn);
        if (fn)
            fn(publish_ud, level, ns, line, len);
        pthread_rwlock_unlock(&publish_lock);
        in_hook = 0;
    }
    free(line);
}
