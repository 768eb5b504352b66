/* log.h - dualgate's own logs: one JSON line {ts, level, ns, msg} per call on stderr, and,
 * at or above a second level, handed to a publish hook (the Redis log stream writer).
 * The level is checked before formatting. Never log payloads or tokens.
 *
 * Rate limit: lines are counted per (level, ns, format string) - the call site, whatever its
 * arguments. Within a window (default 10 s, from the first line of the key) the first `burst`
 * lines (default 10) go out; the rest are suppressed before formatting, on stderr and the hook
 * alike. The first line of that key after the window carries " [N similar lines suppressed]"
 * at the end of its msg. Keys are tracked in a small fixed table (64); when it is full the
 * oldest key is forgotten (with its count). */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

#include "config.h" /* CFG_LOG_* levels */

/* Receives a finished JSON object (not NUL-terminated) and its level; must not block and must
 * not log. Thread: whichever thread logged. */
typedef void (*log_publish_fn)(void *ud, int level, const char *ns, const char *json, size_t len);

/* Thread: main, before other threads start. */
void log_init(int stderr_level, int publish_level);
/* Installs (or, with NULL, removes) the publish hook; once it returns, no call of the previous
 * hook is running. Thread: main, never from the hook. */
void log_set_publisher(log_publish_fn fn, void *ud);

/* Marks the calling thread as one whose logs go to stderr only: the thread that writes the
 * log stream calls it, so its own lines can never feed themselves back. Thread: the caller. */
void log_thread_no_publish(void);

/* Logs at level with component ns. Thread: any. Calls made from inside the publish hook
 * (or while it runs on this thread) go to stderr only, so publishing can never loop. */
void log_at(int level, const char *ns, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets the rate limit (see the top): window_ms 0 turns it off; burst >= 1. Forgets every
 * key. Thread: main, before other threads log (tests may call it between cases). */
void log_set_rate_limit(int window_ms, int burst);

/* 1 if level would reach stderr or the hook. */
int log_enabled(int level);

/* Formats the current time as ISO-8601 UTC with milliseconds ("2026-01-01T00:00:00.000Z"). */
void log_now_iso(char buf[32]);

#define log_debug(ns, ...) log_at(CFG_LOG_DEBUG, ns, __VA_ARGS__)
#define log_info(ns, ...) log_at(CFG_LOG_INFO, ns, __VA_ARGS__)
#define log_warn(ns, ...) log_at(CFG_LOG_WARN, ns, __VA_ARGS__)
#define log_error(ns, ...) log_at(CFG_LOG_ERROR, ns, __VA_ARGS__)

#endif
