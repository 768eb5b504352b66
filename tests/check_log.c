/* check_log.c - log.c: the JSON line, the publish hook and its re-entry guard, and the rate
 * limit per (level, ns, format): burst, suppression before formatting, the count carried by
 * the next line after the window, separate keys, threads. */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dg.h"
#include "log.h"

/* What the publish hook was given. */
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static char cap[64][1200];
static int ncap;

static void cap_hook(void *ud, int level, const char *ns, const char *json, size_t len)
{
    (void)ud;
    (void)level;
    (void)ns;
    pthread_mutex_lock(&cap_lock);
    if (ncap < 64 && len < sizeof(cap[0])) {
        memcpy(cap[ncap], json, len);
        cap[ncap][len] = '\0';
    }
    ncap++;
    pthread_mutex_unlock(&cap_lock);
    log_info("hook", "logged from inside the hook"); /* must not come back here */
}

static int captured(void)
{
    pthread_mutex_lock(&cap_lock);
    int n = ncap;
    pthread_mutex_unlock(&cap_lock);
    return n;
}

static void setup(int window_ms, int burst)
{
    ncap = 0;
    log_init(CFG_LOG_OFF, CFG_LOG_DEBUG);
    log_set_publisher(cap_hook, NULL);
    log_set_rate_limit(window_ms, burst);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The window is time itself: wait for the clock to pass it, bounded. */
static void wait_past(int64_t t)
{
    while (mono_ms() <= t) {
        struct pollfd none;
        poll(&none, 0, 5);
    }
}

static void repeated(int i)
{
    log_warn("redis", "bull:x:events: connection lost: attempt %d", i);
}

START_TEST(test_line_and_hook)
{
    setup(0, 1);
    log_info("test", "hello %d \"q\"", 42);
    ck_assert_int_eq(captured(), 1);
    ck_assert_ptr_nonnull(strstr(cap[0], "\"level\":\"info\",\"ns\":\"test\","
                                         "\"msg\":\"hello 42 \\\"q\\\"\"}"));
    ck_assert(strncmp(cap[0], "{\"ts\":\"", 7) == 0);
    log_debug("test", "below nothing");
    ck_assert_int_eq(captured(), 2);
    log_init(CFG_LOG_OFF, CFG_LOG_WARN);
    log_info("test", "filtered");
    ck_assert_int_eq(captured(), 2);
    ck_assert_int_eq(log_enabled(CFG_LOG_INFO), 0);
    ck_assert_int_eq(log_enabled(CFG_LOG_WARN), 1);
    log_set_publisher(NULL, NULL);
}
END_TEST

START_TEST(test_rate_limit_burst_and_count)
{
    setup(200, 3);
    int64_t t0 = mono_ms();
    for (int i = 0; i < 10; i++)
        repeated(i);
    ck_assert_int_eq(captured(), 3);
    ck_assert_ptr_nonnull(strstr(cap[2], "attempt 2\"}"));
    /* Another call site, level or ns is another key with its own budget. */
    log_warn("redis", "another format %d", 1);
    log_info("redis", "bull:x:events: connection lost: attempt %d", 0);
    log_warn("other", "bull:x:events: connection lost: attempt %d", 0);
    ck_assert_int_eq(captured(), 6);
    ck_assert(mono_ms() - t0 < 200); /* all of that within one window (a loose check) */

    wait_past(t0 + 200);
    repeated(10);
    ck_assert_int_eq(captured(), 7);
    ck_assert_ptr_nonnull(strstr(cap[6], "\"msg\":\"bull:x:events: connection lost: attempt 10 "
                                         "[7 similar lines suppressed]\"}"));
    /* A new window: a full burst again, and nothing to report. */
    repeated(11);
    repeated(12);
    repeated(13);
    ck_assert_int_eq(captured(), 9);
    ck_assert_ptr_null(strstr(cap[7], "suppressed"));
    log_set_publisher(NULL, NULL);
}
END_TEST

START_TEST(test_rate_limit_off)
{
    setup(0, 1);
    for (int i = 0; i < 20; i++)
        repeated(i);
    ck_assert_int_eq(captured(), 20);
    log_set_publisher(NULL, NULL);
}
END_TEST

/* Suppressed lines do not reach stderr either. */
START_TEST(test_rate_limit_stderr)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    log_init(CFG_LOG_DEBUG, CFG_LOG_OFF);
    log_set_publisher(NULL, NULL);
    log_set_rate_limit(60000, 2);
    for (int i = 0; i < 10; i++)
        repeated(i);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    char buf[8192];
    size_t have = 0;
    ssize_t n;
    while ((n = read(p[0], buf + have, sizeof(buf) - 1 - have)) > 0)
        have += (size_t)n;
    close(p[0]);
    buf[have] = '\0';
    int lines = 0;
    for (size_t i = 0; i < have; i++)
        lines += buf[i] == '\n';
    ck_assert_int_eq(lines, 2);
    ck_assert_ptr_nonnull(strstr(buf, "attempt 1\"}\n"));
}
END_TEST

static void *spam(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++)
        repeated(i);
    return NULL;
}

START_TEST(test_rate_limit_threads)
{
    setup(60000, 5);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spam, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(captured(), 5);
    log_set_publisher(NULL, NULL);
}
END_TEST

/* More call sites than the table holds: the oldest are forgotten, nothing breaks. */
START_TEST(test_rate_limit_many_keys)
{
    setup(60000, 1);
    static char fmts[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(fmts[i], sizeof(fmts[i]), "site %d %%d", i);
        log_at(CFG_LOG_WARN, "many", fmts[i], 1);
        log_at(CFG_LOG_WARN, "many", fmts[i], 2); /* suppressed: same key, burst 1 */
    }
    ck_assert_int_eq(captured(), 100);
    log_set_publisher(NULL, NULL);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_line_and_hook);
    tcase_add_test(tc, test_rate_limit_burst_and_count);
    tcase_add_test(tc, test_rate_limit_off);
    tcase_add_test(tc, test_rate_limit_stderr);
    tcase_add_test(tc, test_rate_limit_threads);
    tcase_add_test(tc, test_rate_limit_many_keys);
    suite_add_tcase(s, tc);
    return s;
}
