/* log.c - dualgate's own log lines: JSON {ts, level, ns, msg} on stderr, one write per line,
 * and a copy to the publish hook (the log stream) at or above the publish level.
 * Re-entry guard: whatever the hook does cannot log its way back into the hook. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int stderr_level = CFG_LOG_INFO;
static int publish_level = CFG_LOG_OFF;
static log_publish_fn publish_fn;
static void *publish_ud;
static _Thread_local int in_hook;

void log_init(int stderr_lvl, int publish_lvl)
{
    stderr_level = stderr_lvl;
    publish_level = publish_lvl;
}

void log_set_publisher(log_publish_fn fn, void *ud)
{
    publish_ud = ud;
    publish_fn = fn;
}

void log_thread_no_publish(void)
{
    in_hook = 1;
}

int log_enabled(int level)
{
    return level >= stderr_level || (publish_fn && level >= publish_level);
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
    char text[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
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
    if (publish_fn && level >= publish_level && !in_hook) {
        in_hook = 1; /* anything the hook logs on this thread stays on stderr */
        publish_fn(publish_ud, level, ns, line, len);
        in_hook = 0;
    }
    free(line);
}
