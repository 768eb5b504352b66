/* check_decode.c - unit tests for decode.c: every BullMQ event type of both fixture versions,
 * byte-exact payloads, JSON.stringify number/escape/key-order rules, malformed entries, log
 * entries and client log normalization. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "dg.h"

/* A literal with its exact length (embedded NULs included). */
typedef struct lit {
    const char *s;
    size_t n;
} lit_t;
#define L(x) ((lit_t){(x), sizeof(x) - 1})

#define MAXF 300

typedef struct entry {
    const char *name[MAXF];
    size_t name_len[MAXF];
    const char *value[MAXF];
    size_t value_len[MAXF];
    dec_fields_t f;
} entry_t;

static void entry_init(entry_t *e, const lit_t *kv, size_t nkv)
{
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        e->name[i / 2] = kv[i].s;
        e->name_len[i / 2] = kv[i].n;
        e->value[i / 2] = kv[i + 1].s;
        e->value_len[i / 2] = kv[i + 1].n;
    }
    e->f = (dec_fields_t){e->name, e->name_len, e->value, e->value_len, nkv / 2};
}

static char errbuf[256];

static int job(const char *queue, const lit_t *kv, size_t nkv, dec_event_t *ev)
{
    entry_t e;
    entry_init(&e, kv, nkv);
    errbuf[0] = '\0';
    return dec_job_entry(queue, &e.f, ev, errbuf, sizeof(errbuf));
}

/* Decodes and asserts rc 0 and the exact payload bytes. */
#define JOB_OK(queue, expect_event, expect_id, expect_json, ...)                                  \
    do {                                                                                          \
        lit_t kv_[] = {__VA_ARGS__};                                                              \
        dec_event_t ev_;                                                                          \
        int rc_ = job(queue, kv_, DG_ARRAY_LEN(kv_), &ev_);                                       \
        ck_assert_msg(rc_ == 0, "rc %d (%s)", rc_, errbuf);                                       \
        ck_assert_str_eq(ev_.event, expect_event);                                                \
        ck_assert_str_eq(ev_.job_id, expect_id);                                                  \
        ck_assert_ptr_nonnull(ev_.json);                                                          \
        ck_assert_uint_eq(ev_.json_len, strlen(expect_json));                                     \
        ck_assert_str_eq(ev_.json, expect_json);                                                  \
        dec_event_clear(&ev_);                                                                    \
        ck_assert_ptr_null(ev_.json);                                                             \
    } while (0)

#define JOB_RC(queue, expect_rc, ...)                                                             \
    do {                                                                                          \
        lit_t kv_[] = {__VA_ARGS__};                                                              \
        dec_event_t ev_;                                                                          \
        int rc_ = job(queue, kv_, DG_ARRAY_LEN(kv_), &ev_);                                       \
        ck_assert_msg(rc_ == (expect_rc), "rc %d want %d (%s)", rc_, expect_rc, errbuf);          \
        ck_assert_ptr_null(ev_.json);                                                             \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Fixture samples (bullmq-streams.md, 6.7.0 and 5.81.5 write identical layouts)            */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_fixture_job_events)
{
    JOB_OK("http", "added", "1", "{\"queue\":\"http\",\"jobId\":\"1\",\"name\":\"http-job\"}",
           L("event"), L("added"), L("jobId"), L("1"), L("name"), L("http-job"));
    JOB_OK("http", "waiting", "1", "{\"queue\":\"http\",\"jobId\":\"1\"}", L("event"),
           L("waiting"), L("jobId"), L("1"));
    JOB_OK("http", "waiting", "showcase-retry-nobackoff",
           "{\"queue\":\"http\",\"jobId\":\"showcase-retry-nobackoff\",\"prev\":\"active\"}",
           L("event"), L("waiting"), L("jobId"), L("showcase-retry-nobackoff"), L("prev"),
           L("active"));
    JOB_OK("http", "active", "1", "{\"queue\":\"http\",\"jobId\":\"1\",\"prev\":\"waiting\"}",
           L("event"), L("active"), L("jobId"), L("1"), L("prev"), L("waiting"));
    JOB_OK("http", "progress", "1", "{\"queue\":\"http\",\"jobId\":\"1\",\"data\":50}",
           L("event"), L("progress"), L("jobId"), L("1"), L("data"), L("50"));
    JOB_OK("http", "progress", "showcase-objprogress",
           "{\"queue\":\"http\",\"jobId\":\"showcase-objprogress\",\"data\":{\"step\":1,\"of\":2,"
           "\"pct\":50}}",
           L("event"), L("progress"), L("jobId"), L("showcase-objprogress"), L("data"),
           L("{\"step\":1,\"of\":2,\"pct\":50}"));
    JOB_OK("http", "completed", "1",
           "{\"queue\":\"http\",\"jobId\":\"1\",\"returnvalue\":{\"status\":200,\"bytes\":1001,"
           "\"url\":\"https://example.org/page/0\"},\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("1"), L("returnvalue"),
           L("{\"status\":200,\"bytes\":1001,\"url\":\"https://example.org/page/0\"}"), L("prev"),
           L("active"));
    JOB_OK("http", "completed", "showcase-return-undefined",
           "{\"queue\":\"http\",\"jobId\":\"showcase-return-undefined\",\"returnvalue\":null,"
           "\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("showcase-return-undefined"),
           L("returnvalue"), L("null"), L("prev"), L("active"));
    JOB_OK("http", "completed", "showcase-return-string",
           "{\"queue\":\"http\",\"jobId\":\"showcase-return-string\",\"returnvalue\":\"plain "
           "string result\",\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("showcase-return-string"), L("returnvalue"),
           L("\"plain string result\""), L("prev"), L("active"));
    JOB_OK("http", "failed", "2",
           "{\"queue\":\"http\",\"jobId\":\"2\",\"failedReason\":\"simulated http failure for "
           "job 2\",\"prev\":\"active\"}",
           L("event"), L("failed"), L("jobId"), L("2"), L("failedReason"),
           L("simulated http failure for job 2"), L("prev"), L("active"));
    /* attemptsMade is not converted by QueueEvents: it stays a string. */
    JOB_OK("http", "retries-exhausted", "2",
           "{\"queue\":\"http\",\"jobId\":\"2\",\"attemptsMade\":\"1\"}", L("event"),
           L("retries-exhausted"), L("jobId"), L("2"), L("attemptsMade"), L("1"));
    JOB_OK("http", "retries-exhausted", "showcase-retry-exhausted",
           "{\"queue\":\"http\",\"jobId\":\"showcase-retry-exhausted\",\"attemptsMade\":\"2\"}",
           L("event"), L("retries-exhausted"), L("jobId"), L("showcase-retry-exhausted"),
           L("attemptsMade"), L("2"));
    JOB_OK("http", "delayed", "showcase-delayed",
           "{\"queue\":\"http\",\"jobId\":\"showcase-delayed\",\"delay\":1795314436882}",
           L("event"), L("delayed"), L("jobId"), L("showcase-delayed"), L("delay"),
           L("1795314436882"));
    JOB_OK("http", "duplicated", "showcase-dup",
           "{\"queue\":\"http\",\"jobId\":\"showcase-dup\"}", L("event"), L("duplicated"),
           L("jobId"), L("showcase-dup"));
    JOB_OK("http", "removed", "showcase-dup",
           "{\"queue\":\"http\",\"jobId\":\"showcase-dup\",\"prev\":\"delayed\"}", L("event"),
           L("removed"), L("jobId"), L("showcase-dup"), L("prev"), L("delayed"));
    JOB_OK("http", "deduplicated", "showcase-dedup-1",
           "{\"queue\":\"http\",\"jobId\":\"showcase-dedup-1\",\"deduplicationId\":\"dedup-key\","
           "\"deduplicatedJobId\":\"showcase-dedup-2\"}",
           L("event"), L("deduplicated"), L("jobId"), L("showcase-dedup-1"), L("deduplicationId"),
           L("dedup-key"), L("deduplicatedJobId"), L("showcase-dedup-2"));
    /* 5.x only */
    JOB_OK("http", "debounced", "showcase-dedup-1",
           "{\"queue\":\"http\",\"jobId\":\"showcase-dedup-1\",\"debounceId\":\"dedup-key\"}",
           L("event"), L("debounced"), L("jobId"), L("showcase-dedup-1"), L("debounceId"),
           L("dedup-key"));
    /* Other queues: the queue name is ours, job ids collide across queues. */
    JOB_OK("sparql", "completed", "1",
           "{\"queue\":\"sparql\",\"jobId\":\"1\",\"returnvalue\":{\"rows\":3,\"vars\":[\"s\","
           "\"p\",\"o\"]},\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("1"), L("returnvalue"),
           L("{\"rows\":3,\"vars\":[\"s\",\"p\",\"o\"]}"), L("prev"), L("active"));
}
END_TEST

START_TEST(test_fixture_no_job_id)
{
    static const char *const names[] = {"drained", "paused", "resumed"};
    for (size_t i = 0; i < DG_ARRAY_LEN(names); i++) {
        lit_t kv[] = {L("event"), {names[i], strlen(names[i])}};
        dec_event_t ev;
        ck_assert_int_eq(job("http", kv, 2, &ev), DG_ENOTFOUND);
        ck_assert_str_eq(ev.event, names[i]);
        ck_assert_str_eq(ev.job_id, "");
        ck_assert_ptr_null(ev.json);
    }
    lit_t kv[] = {L("event"), L("cleaned"), L("count"), L("1")};
    dec_event_t ev;
    ck_assert_int_eq(job("http", kv, 4, &ev), DG_ENOTFOUND);
    ck_assert_str_eq(ev.event, "cleaned");
    /* An empty jobId is falsy for QueueEvents: no per-job event. */
    JOB_RC("http", DG_ENOTFOUND, L("event"), L("completed"), L("jobId"), L(""), L("returnvalue"),
           L("1"));
}
END_TEST

/* node-ref-wire.md: the payload bytes the Node original sent. */
START_TEST(test_wire_capture)
{
    JOB_OK("http", "completed", "wire-42",
           "{\"queue\":\"http\",\"jobId\":\"wire-42\",\"returnvalue\":{\"ok\":true,\"n\":1,"
           "\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"},\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("wire-42"), L("returnvalue"),
           L("{\"ok\":true,\"n\":1,\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"}"), L("prev"),
           L("active"));
    /* The producer may also have written the é escaped: JSON.stringify re-emits it raw. */
    JOB_OK("http", "completed", "wire-42",
           "{\"queue\":\"http\",\"jobId\":\"wire-42\",\"returnvalue\":{\"ok\":true,\"n\":1,"
           "\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"},\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("wire-42"), L("returnvalue"),
           L("{\"ok\":true,\"n\":1.0,\"text\":\"h\\u00e9llo \\\"quoted\\\"\\nline2\"}"), L("prev"),
           L("active"));
    JOB_OK("sparql", "failed", "wire-42",
           "{\"queue\":\"sparql\",\"jobId\":\"wire-42\",\"failedReason\":\"boom: \\\"bad\\\" "
           "thing\\nsecond line\",\"prev\":\"active\"}",
           L("event"), L("failed"), L("jobId"), L("wire-42"), L("failedReason"),
           L("boom: \"bad\" thing\nsecond line"), L("prev"), L("active"));
    JOB_OK("techstack", "completed", "42",
           "{\"queue\":\"techstack\",\"jobId\":\"42\",\"returnvalue\":null,\"prev\":\"active\"}",
           L("event"), L("completed"), L("jobId"), L("42"), L("returnvalue"), L("null"),
           L("prev"), L("active"));
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* JSON.stringify rules                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void progress_is(const char *data, const char *expect_data)
{
    char want[1024];
    lit_t kv[] = {L("event"), L("progress"), L("jobId"), L("7"), L("data"), {data, strlen(data)}};
    dec_event_t ev;
    int rc = job("q", kv, DG_ARRAY_LEN(kv), &ev);
    ck_assert_msg(rc == 0, "%s: rc %d", data, rc);
    snprintf(want, sizeof(want), "{\"queue\":\"q\",\"jobId\":\"7\",\"data\":%s}", expect_data);
    ck_assert_msg(strcmp(ev.json, want) == 0, "data %s: got %s want %s", data, ev.json, want);
    dec_event_clear(&ev);
}

START_TEST(test_js_numbers)
{
    progress_is("50", "50");
    progress_is("1.0", "1");
    progress_is("1e2", "100");
    progress_is("0.1", "0.1");
    progress_is("-0", "0");
    progress_is("-12.5", "-12.5");
    progress_is("123.456", "123.456");
    progress_is("0.000001", "0.000001");
    progress_is("1e-7", "1e-7");
    progress_is("1.5e-10", "1.5e-10");
    progress_is("1e21", "1e+21");
    progress_is("123456789012345680000", "123456789012345680000");
    progress_is("12345678901234567890", "12345678901234567000");
    progress_is("9007199254740993", "9007199254740992");
    progress_is("5e-324", "5e-324");
    progress_is("1.7976931348623157e308", "1.7976931348623157e+308");
    progress_is("0.30000000000000004", "0.30000000000000004");
    progress_is(" [1, 2.50 ,-3e0] ", "[1,2.5,-3]");
    progress_is("true", "true");
    progress_is("null", "null");
    progress_is("\"x\"", "\"x\"");
}
END_TEST

START_TEST(test_js_strings_and_keys)
{
    /* Only ", \ and C0 controls are escaped (lowercase hex); "/" and U+2028 are not. */
    progress_is("\"\\u001f\\u0000\\b\\f\\n\\r\\t\\/\\u2028\\u007f\\u00e9\"",
                "\"\\u001f\\u0000\\b\\f\\n\\r\\t/\xe2\x80\xa8\x7f\xc3\xa9\"");
    progress_is("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    /* Array-index keys first, ascending; the rest in insertion order; duplicates keep the
     * first slot with the last value. */
    progress_is("{\"b\":1,\"2\":2,\"1\":3,\"a\":{\"10\":1,\"9\":2,\"01\":3},\"b\":4}",
                "{\"1\":3,\"2\":2,\"b\":4,\"a\":{\"9\":2,\"10\":1,\"01\":3}}");
    progress_is("{\"4294967295\":1,\"4294967294\":2}", "{\"4294967294\":2,\"4294967295\":1}");
    progress_is("{}", "{}");
    progress_is("[]", "[]");
    progress_is("[[],{},[{}]]", "[[],{},[{}]]");
}
END_TEST

START_TEST(test_not_json_falls_back_to_text)
{
    progress_is("abc", "\"abc\"");
    progress_is("", "\"\"");
    progress_is("{\"a\":", "\"{\\\"a\\\":\"");
    progress_is("1e400", "\"1e400\"");
    progress_is("\"\\ud800\"", "\"\\\"\\\\ud800\\\"\"");
    JOB_OK("q", "completed", "1", "{\"queue\":\"q\",\"jobId\":\"1\",\"returnvalue\":\"not json\"}",
           L("event"), L("completed"), L("jobId"), L("1"), L("returnvalue"), L("not json"));
    /* Other events never parse JSON: a JSON-looking failedReason stays text. */
    JOB_OK("q", "failed", "1", "{\"queue\":\"q\",\"jobId\":\"1\",\"failedReason\":\"{}\"}",
           L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"), L("{}"));
    JOB_OK("q", "added", "1", "{\"queue\":\"q\",\"jobId\":\"1\",\"data\":\"50\"}", L("event"),
           L("added"), L("jobId"), L("1"), L("data"), L("50"));
}
END_TEST

static void delay_is(const char *delay, const char *expect)
{
    char want[256];
    lit_t kv[] = {L("event"), L("delayed"), L("jobId"), L("d"), L("delay"), {delay, strlen(delay)}};
    dec_event_t ev;
    ck_assert_int_eq(job("q", kv, DG_ARRAY_LEN(kv), &ev), 0);
    snprintf(want, sizeof(want), "{\"queue\":\"q\",\"jobId\":\"d\",\"delay\":%s}", expect);
    ck_assert_msg(strcmp(ev.json, want) == 0, "delay %s: got %s want %s", delay, ev.json, want);
    dec_event_clear(&ev);
}

START_TEST(test_delay_number)
{
    delay_is("1795314436882", "1795314436882");
    delay_is("0", "0");
    delay_is("", "0");
    delay_is("  12\n", "12");
    delay_is("1.5", "1.5");
    delay_is("1e3", "1000");
    delay_is(".5", "0.5");
    delay_is("5.", "5");
    delay_is("-7", "-7");
    delay_is("0x10", "16");
    delay_is("0b101", "5");
    delay_is("0o17", "15");
    delay_is("abc", "null");
    delay_is("12abc", "null");
    delay_is("Infinity", "null");
    delay_is("-Infinity", "null");
    delay_is("1e", "null");
    delay_is("0x", "null");
    delay_is("0x1g", "null");
    delay_is("nan", "null");
    delay_is("inf", "null");
    delay_is("1e999", "null");
}
END_TEST

START_TEST(test_field_order_and_duplicates)
{
    /* array2obj: the last value wins, in the slot of the first occurrence. */
    JOB_OK("q", "completed", "1",
           "{\"queue\":\"q\",\"jobId\":\"1\",\"returnvalue\":2,\"prev\":\"active\"}", L("event"),
           L("completed"), L("jobId"), L("1"), L("returnvalue"), L("1"), L("prev"), L("active"),
           L("returnvalue"), L("2"));
    /* Fields keep stream order even when jobId is not first; event is removed wherever. */
    JOB_OK("q", "x", "7", "{\"queue\":\"q\",\"name\":\"n\",\"jobId\":\"7\"}", L("name"), L("n"),
           L("event"), L("x"), L("jobId"), L("7"));
    /* Duplicate jobId: the last one is the job. */
    JOB_OK("q", "x", "b", "{\"queue\":\"q\",\"jobId\":\"b\"}", L("event"), L("x"), L("jobId"),
           L("a"), L("jobId"), L("b"));
    /* {queue, ...rest}: an entry's own queue field replaces ours in the first slot. */
    JOB_OK("q", "x", "1", "{\"queue\":\"other\",\"jobId\":\"1\"}", L("event"), L("x"),
           L("jobId"), L("1"), L("queue"), L("other"));
    /* Values may hold NUL (escaped), field names may be any UTF-8. */
    JOB_OK("q", "failed", "1", "{\"queue\":\"q\",\"jobId\":\"1\",\"failedReason\":\"a\\u0000b\","
           "\"n\xc3\xa4me\":\"v\"}",
           L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"), L("a\0b"),
           L("n\xc3\xa4me"), L("v"));
    /* Queue name is escaped like any string. */
    JOB_OK("q\"x", "x", "1", "{\"queue\":\"q\\\"x\",\"jobId\":\"1\"}", L("event"), L("x"),
           L("jobId"), L("1"));
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Malformed entries                                                                        */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_malformed)
{
    dec_event_t ev;
    char big[DEC_JOBID_MAX + 1];

    JOB_RC("q", DG_EPROTO, L("jobId"), L("1"), L("name"), L("x")); /* no event */
    JOB_RC("q", DG_EPROTO, L("event"), L(""), L("jobId"), L("1"));
    JOB_RC("q", DG_EPROTO, L("event"), L("a\0b"), L("jobId"), L("1"));
    JOB_RC("q", DG_EPROTO, L("event"), L("0123456789012345678901234567890123456789012345678901234567890123"),
           L("jobId"), L("1")); /* 64 bytes: no room for the NUL */
    JOB_OK("q", "012345678901234567890123456789012345678901234567890123456789012", "1",
           "{\"queue\":\"q\",\"jobId\":\"1\"}", L("event"),
           L("012345678901234567890123456789012345678901234567890123456789012"), L("jobId"),
           L("1"));
    /* Bad UTF-8 anywhere: truncated, overlong, surrogate, above U+10FFFF, stray continuation. */
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\xc3("));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\xc0\x80"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\xed\xa0\x80"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\xf4\x90\x80\x80"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\x80"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("\xe2\x82"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("\xff"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("\xfe"), L("x"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("a\0b"), L("x"));
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L(""), L("x"));
    /* jobId: NUL is malformed; DEC_JOBID_MAX-1 bytes fit, DEC_JOBID_MAX do not. */
    JOB_RC("q", DG_EPROTO, L("event"), L("completed"), L("jobId"), L("4\0002"));
    memset(big, 'j', sizeof(big));
    {
        lit_t kv[] = {L("event"), L("x"), L("jobId"), {big, DEC_JOBID_MAX - 1}};
        ck_assert_int_eq(job("q", kv, 4, &ev), 0);
        ck_assert_uint_eq(strlen(ev.job_id), DEC_JOBID_MAX - 1);
        dec_event_clear(&ev);
        kv[3].n = DEC_JOBID_MAX;
        ck_assert_int_eq(job("q", kv, 4, &ev), DG_EPROTO);
        ck_assert_ptr_null(ev.json);
        ck_assert_str_eq(ev.job_id, "");
    }
    /* Structure: no fields, NULL arrays, too many fields, NULL queue/out. */
    {
        dec_fields_t f = {0};
        ck_assert_int_eq(dec_job_entry("q", &f, &ev, errbuf, sizeof(errbuf)), DG_EPROTO);
        ck_assert_int_eq(dec_job_entry("q", NULL, &ev, errbuf, sizeof(errbuf)), DG_EPROTO);
        ck_assert_int_eq(dec_job_entry(NULL, &f, &ev, errbuf, sizeof(errbuf)), DG_EINVAL);
        ck_assert_int_eq(dec_job_entry("q", &f, NULL, errbuf, sizeof(errbuf)), DG_EINVAL);
        ck_assert_int_eq(dec_job_entry("q", NULL, &ev, NULL, 0), DG_EPROTO);
    }
    {
        static lit_t kv[2 * (DEC_FIELDS_MAX + 1)];
        kv[0] = L("event"), kv[1] = L("x"), kv[2] = L("jobId"), kv[3] = L("1");
        for (size_t i = 4; i < DG_ARRAY_LEN(kv); i++)
            kv[i] = L("f");
        ck_assert_int_eq(job("q", kv, 2 * DEC_FIELDS_MAX, &ev), 0);
        ck_assert_str_eq(ev.json, "{\"queue\":\"q\",\"jobId\":\"1\",\"f\":\"f\"}");
        dec_event_clear(&ev);
        ck_assert_int_eq(job("q", kv, DG_ARRAY_LEN(kv), &ev), DG_EPROTO);
    }
    /* Error text never quotes the payload. */
    JOB_RC("q", DG_EPROTO, L("event"), L("failed"), L("jobId"), L("1"), L("failedReason"),
           L("SECRET\xff"));
    ck_assert_ptr_null(strstr(errbuf, "SECRET"));
    ck_assert_str_ne(errbuf, "");
}
END_TEST

/* Every prefix of a value (as if Redis had handed us a cut string): never crashes, malformed
 * exactly when the cut splits a UTF-8 sequence, otherwise parsed JSON or the text itself. */
START_TEST(test_value_every_prefix)
{
    static const char rv[] = "{\"ok\":true,\"n\":1,\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"}";
    for (size_t cut = 0; cut <= sizeof(rv) - 1; cut++) {
        lit_t kv[] = {L("event"), L("completed"), L("jobId"), L("w"), L("returnvalue"), {rv, cut}};
        dec_event_t ev;
        int rc = job("q", kv, DG_ARRAY_LEN(kv), &ev);
        if (cut == 27) { /* between \xc3 and \xa9 */
            ck_assert_int_eq(rc, DG_EPROTO);
            continue;
        }
        ck_assert_msg(rc == 0, "cut %zu rc %d", cut, rc);
        if (cut < sizeof(rv) - 1)
            ck_assert_msg(strncmp(ev.json, "{\"queue\":\"q\",\"jobId\":\"w\",\"returnvalue\":\"", 40) == 0,
                          "cut %zu: %s", cut, ev.json);
        dec_event_clear(&ev);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Text forwarded as it is: dec_json_canonical and the entries it lets through unparsed      */
/* ---------------------------------------------------------------------------------------- */

/* canonical(s) must mean JSON.stringify(JSON.parse(s)) == s, byte for byte. */
static void assert_own_stringify(const char *s, size_t n)
{
    json_t *v = dec_json_parse(s, n);
    ck_assert_msg(v != NULL, "canonical but not JSON: %.*s", (int)n, s);
    char *out;
    size_t len;
    ck_assert_int_eq(dec_json_stringify(v, &out, &len), 0);
    ck_assert_msg(len == n && memcmp(out, s, n) == 0, "canonical %.*s rewrites as %s", (int)n, s,
                  out);
    free(out);
    json_decref(v);
}

START_TEST(test_canonical_cases)
{
    static const char *const yes[] = {
        "0", "7", "-12", "123456789012345", "-999999999999999", "1764680000000000",
        "9007199254740992", "-9007199254740992", "true", "false", "null", "\"\"",
        "\"x\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\u0000\\u001f\x7f\"", "\"/\xc3\xa9\xe2\x80\xa8\"",
        "[]", "{}", "[[],{},[{}]]", "{\"t\":1764680000000,\"seq\":12}", "{\"a\":{\"a\":1},\"b\":[1,\"a\"]}",
        "{\"01\":1,\"4294967295\":2,\"-1\":3,\"__proto__\":4}", "{\"a\":1,\"A\":2,\"a \":3}",
    };
    static const char *const no[] = {
        "", " 1", "1 ", "[1, 2]", "{\"a\": 1}", "1.0", "1.5", "1e2", "1E2", "-0", "01", "-", "--1",
        "9007199254740993", "12345678901234567", "10000000000000000", "\"\\/\"", "\"\\u00e9\"", "\"\\u000a\"",
        "\"\\u001F\"", "\"\\u0008\"", "\"\\u007f\"", "\"\\ud83d\\ude00\"", "\"\t\"", "\"abc", "[1,]", "[,1]",
        "{\"a\":1,}", "{\"a\"}", "{\"a\":1,\"a\":2}", "{\"1\":1}", "{\"0\":1}", "{\"4294967294\":1}",
        "{1:1}", "tru", "nul", "nulll", "[1]]", "{}{}", "\"a\"\"b\"",
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(yes); i++) {
        ck_assert_msg(dec_json_canonical(yes[i], strlen(yes[i])), "not canonical: %s", yes[i]);
        assert_own_stringify(yes[i], strlen(yes[i]));
    }
    for (size_t i = 0; i < DG_ARRAY_LEN(no); i++)
        ck_assert_msg(!dec_json_canonical(no[i], strlen(no[i])), "canonical: %s", no[i]);
    ck_assert(!dec_json_canonical("\"\xc3\"", 3)); /* not UTF-8 */
    ck_assert(dec_json_canonical("\"\\u0000\"", 8));
    /* nesting past the bound and keys past the bound take the general path */
    char deep[80];
    memset(deep, '[', 33);
    memset(deep + 33, ']', 33);
    ck_assert(!dec_json_canonical(deep, 66));
    ck_assert(dec_json_canonical(deep + 1, 64));
    char wide[400];
    size_t n = 0;
    wide[n++] = '{';
    for (int k = 0; k < 33; k++)
        n += (size_t)snprintf(wide + n, sizeof(wide) - n, "%s\"k%d\":%d", k ? "," : "", k, k);
    wide[n++] = '}';
    ck_assert(!dec_json_canonical(wide, n));
}
END_TEST

/* A small grammar of JSON-ish text with the spellings that matter (spaces, number forms,
 * escapes, duplicate and index keys, cuts), seeded, so the run is the same every time. */
typedef struct gen {
    char s[2048];
    size_t n;
    uint32_t seed;
} gen_t;

static uint32_t rnd(gen_t *g, uint32_t n)
{
    g->seed = g->seed * 1103515245u + 12345u;
    return (g->seed >> 16) % n;
}

static void put(gen_t *g, const char *t)
{
    size_t l = strlen(t);
    if (g->n + l < sizeof(g->s))
        memcpy(g->s + g->n, t, l), g->n += l;
}

static void gen_value(gen_t *g, int depth)
{
    static const char *const nums[] = {"0", "-0", "7", "-12", "123456789012345", "1234567890123456",
                                       "1.5", "1e3", "01", "10", "9007199254740993", "-",
                                       "9007199254740992", "1764680000000000"};
    static const char *const chars[] = {"a", "\\\"", "\\\\", "\\n", "\\u000a", "\\u001f", "\\u001F",
                                        "\\/", "\\u00e9", "\xc3\xa9", "\\b", "\t", " ", "\\u0000"};
    static const char *const keys[] = {"a", "b", "a", "1", "01", "4294967295", "x y", "\\n", "0"};
    static const char *const lits[] = {"true", "false", "null", "nul"};
    if (rnd(g, 24) == 0)
        put(g, " ");
    switch (rnd(g, depth > 3 ? 3 : 5)) {
    case 0:
        put(g, nums[rnd(g, DG_ARRAY_LEN(nums))]);
        break;
    case 1:
        put(g, "\"");
        for (uint32_t k = rnd(g, 4); k > 0; k--)
            put(g, chars[rnd(g, DG_ARRAY_LEN(chars))]);
        put(g, "\"");
        break;
    case 2:
        put(g, lits[rnd(g, DG_ARRAY_LEN(lits))]);
        break;
    case 3:
        put(g, "[");
        for (uint32_t k = rnd(g, 4), i = 0; i < k; i++) {
            if (i)
                put(g, ",");
            gen_value(g, depth + 1);
        }
        put(g, rnd(g, 30) ? "]" : ",]");
        break;
    default:
        put(g, "{");
        for (uint32_t k = rnd(g, 4), i = 0; i < k; i++) {
            put(g, i ? ",\"" : "\"");
            put(g, keys[rnd(g, DG_ARRAY_LEN(keys))]);
            put(g, rnd(g, 30) ? "\":" : "\": ");
            gen_value(g, depth + 1);
        }
        put(g, "}");
    }
}

START_TEST(test_canonical_generated)
{
    gen_t g = {.seed = 20261202};
    int canonical = 0, total = 40000;
    for (int i = 0; i < total; i++) {
        g.n = 0;
        gen_value(&g, 0);
        size_t n = rnd(&g, 16) ? g.n : rnd(&g, (uint32_t)g.n + 1); /* sometimes cut */
        if (dec_json_canonical(g.s, n)) {
            canonical++;
            assert_own_stringify(g.s, n);
        }
    }
    /* both paths well exercised */
    ck_assert_msg(canonical > total / 5 && canonical < total * 4 / 5, "%d of %d canonical",
                  canonical, total);
}
END_TEST

/* The entry written straight out and the general path give the same bytes: an entry and the
 * same entry with a repeated jobId (same value), which the general path takes. */
START_TEST(test_direct_entry_is_general)
{
    gen_t g = {.seed = 7};
    static const char *const events[] = {"progress", "completed", "failed", "added"};
    for (int i = 0; i < 20000; i++) {
        g.n = 0;
        gen_value(&g, 0);
        const char *ev = events[rnd(&g, DG_ARRAY_LEN(events))];
        const char *vname = strcmp(ev, "completed") == 0 ? "returnvalue" : "data";
        lit_t one[] = {L("event"), {ev, strlen(ev)}, L("jobId"), L("j"), {vname, strlen(vname)},
                       {g.s, g.n}, L("prev"), L("active")};
        lit_t two[] = {L("event"), {ev, strlen(ev)}, L("jobId"), L("j"), {vname, strlen(vname)},
                       {g.s, g.n}, L("prev"), L("active"), L("jobId"), L("j")};
        dec_event_t a, b;
        int ra = job("q", one, DG_ARRAY_LEN(one), &a), rb = job("q", two, DG_ARRAY_LEN(two), &b);
        ck_assert_int_eq(ra, rb);
        if (ra == 0) {
            ck_assert_msg(a.json_len == b.json_len && memcmp(a.json, b.json, a.json_len) == 0,
                          "%.*s: %s vs %s", (int)g.n, g.s, a.json, b.json);
            dec_event_clear(&a);
            dec_event_clear(&b);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Log entries                                                                              */
/* ---------------------------------------------------------------------------------------- */

static int logent(const lit_t *kv, size_t nkv, dec_event_t *ev)
{
    entry_t e;
    entry_init(&e, kv, nkv);
    errbuf[0] = '\0';
    return dec_log_entry(&e.f, ev, errbuf, sizeof(errbuf));
}

#define LOG_OK(expect_json, expect_level, expect_ns, ...)                                         \
    do {                                                                                          \
        lit_t kv_[] = {__VA_ARGS__};                                                              \
        dec_event_t ev_;                                                                          \
        int rc_ = logent(kv_, DG_ARRAY_LEN(kv_), &ev_);                                           \
        ck_assert_msg(rc_ == 0, "rc %d (%s)", rc_, errbuf);                                       \
        ck_assert_str_eq(ev_.json, expect_json);                                                  \
        ck_assert_uint_eq(ev_.json_len, strlen(expect_json));                                     \
        ck_assert_int_eq(ev_.level, expect_level);                                                \
        ck_assert_str_eq(ev_.ns, expect_ns);                                                      \
        ck_assert_str_eq(ev_.event, "log");                                                       \
        ck_assert_str_eq(ev_.job_id, "");                                                         \
        dec_event_clear(&ev_);                                                                    \
    } while (0)

#define LOG_BAD(...)                                                                              \
    do {                                                                                          \
        lit_t kv_[] = {__VA_ARGS__};                                                              \
        dec_event_t ev_;                                                                          \
        int rc_ = logent(kv_, DG_ARRAY_LEN(kv_), &ev_);                                           \
        ck_assert_msg(rc_ == DG_EPROTO, "rc %d", rc_);                                            \
        ck_assert_ptr_null(ev_.json);                                                             \
        ck_assert_str_ne(errbuf, "");                                                             \
    } while (0)

START_TEST(test_log_entries)
{
    LOG_OK("{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\",\"ns\":\"wire\",\"msg\":"
           "\"hello from wire-capture\"}",
           CFG_LOG_INFO, "wire", L("ts"), L("2026-01-01T00:00:00.000Z"), L("level"), L("info"),
           L("ns"), L("wire"), L("msg"), L("hello from wire-capture"));
    /* Field order in the stream does not matter; the object is always ts, level, ns, msg. */
    LOG_OK("{\"ts\":\"t\",\"level\":\"trace\",\"ns\":\"a\",\"msg\":\"m\\n\\u0000\"}",
           CFG_LOG_DEBUG, "a", L("msg"), L("m\n\0"), L("ns"), L("a"), L("level"), L("trace"),
           L("ts"), L("t"));
    LOG_OK("{\"ts\":\"t\",\"level\":\"fatal\",\"ns\":\"a\",\"msg\":\"m\"}", CFG_LOG_ERROR, "a",
           L("ts"), L("t"), L("level"), L("fatal"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_OK("{\"ts\":\"t\",\"level\":\"debug\",\"ns\":\"a\",\"msg\":\"\"}", CFG_LOG_DEBUG, "a",
           L("ts"), L("t"), L("level"), L("debug"), L("ns"), L("a"), L("msg"), L(""));
    LOG_OK("{\"ts\":\"t\",\"level\":\"warn\",\"ns\":\"a\",\"msg\":\"m\"}", CFG_LOG_WARN, "a",
           L("ts"), L("t"), L("level"), L("warn"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_OK("{\"ts\":\"t\",\"level\":\"error\",\"ns\":\"a\",\"msg\":\"m\"}", CFG_LOG_ERROR, "a",
           L("ts"), L("t"), L("level"), L("error"), L("ns"), L("a"), L("msg"), L("m"));
    /* With a json field the object comes from it, extra keys and their order included (JS
     * lists index-like keys first). */
    LOG_OK("{\"2\":0,\"ts\":\"t\",\"level\":\"warn\",\"ns\":\"redis\",\"msg\":\"m\","
           "\"extra\":{\"k\":1.5}}",
           CFG_LOG_WARN, "redis", L("ts"), L("t"), L("level"), L("warn"), L("ns"), L("redis"),
           L("msg"), L("m"), L("json"),
           L("{\"ts\":\"t\",\"level\":\"warn\",\"ns\":\"redis\",\"msg\":\"m\",\"extra\":{\"k\":1.50},"
             "\"2\":0}"));
    LOG_OK("{\"msg\":\"m\",\"ns\":\"n\",\"level\":\"info\",\"ts\":\"t\"}", CFG_LOG_INFO, "n",
           L("json"), L("{\"msg\":\"m\",\"ns\":\"n\",\"level\":\"info\",\"ts\":\"t\"}"));

    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("ns"), L("a")); /* no msg */
    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("msg"), L("m"));
    LOG_BAD(L("level"), L("info"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("loud"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("INFO"), L("ns"), L("a"), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("ns"), L(""), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("ns"), L("a\0b"), L("msg"), L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("ns"),
            L("0123456789012345678901234567890123456789012345678901234567890123"), L("msg"),
            L("m"));
    LOG_BAD(L("ts"), L("t"), L("level"), L("info"), L("ns"), L("a"), L("msg"), L("\xff"));
    LOG_BAD(L("json"), L("[1]"));
    LOG_BAD(L("json"), L("{\"ts\":\"t\",\"level\":\"info\",\"ns\":\"a\"}"));
    LOG_BAD(L("json"), L("{\"ts\":\"t\",\"level\":\"info\",\"ns\":\"a\",\"msg\":1}"));
    LOG_BAD(L("json"), L("{\"ts\":1,\"level\":\"info\",\"ns\":\"a\",\"msg\":\"m\"}"));
    LOG_BAD(L("json"), L("not json"));
    {
        dec_fields_t f = {0};
        dec_event_t ev;
        ck_assert_int_eq(dec_log_entry(&f, &ev, errbuf, sizeof(errbuf)), DG_EPROTO);
        ck_assert_int_eq(dec_log_entry(&f, NULL, errbuf, sizeof(errbuf)), DG_EINVAL);
    }
    /* Size limit on the resulting object. */
    {
        static char msg[DEC_LOG_MAX];
        memset(msg, 'm', sizeof(msg));
        lit_t kv[] = {L("ts"), L("t"), L("level"), L("info"), L("ns"), L("a"), L("msg"),
                      {msg, DEC_LOG_MAX - 43}};
        dec_event_t ev;
        ck_assert_int_eq(logent(kv, 8, &ev), 0);
        ck_assert_uint_eq(ev.json_len, DEC_LOG_MAX);
        dec_event_clear(&ev);
        kv[7].n = DEC_LOG_MAX - 42;
        ck_assert_int_eq(logent(kv, 8, &ev), DG_EPROTO);
    }
}
END_TEST

START_TEST(test_level_parse)
{
    ck_assert_int_eq(dec_level_parse("trace", 5), CFG_LOG_DEBUG);
    ck_assert_int_eq(dec_level_parse("debug", 5), CFG_LOG_DEBUG);
    ck_assert_int_eq(dec_level_parse("info", 4), CFG_LOG_INFO);
    ck_assert_int_eq(dec_level_parse("warn", 4), CFG_LOG_WARN);
    ck_assert_int_eq(dec_level_parse("error", 5), CFG_LOG_ERROR);
    ck_assert_int_eq(dec_level_parse("fatal", 5), CFG_LOG_ERROR);
    ck_assert_int_eq(dec_level_parse("info", 3), -1);
    ck_assert_int_eq(dec_level_parse("infox", 5), -1);
    ck_assert_int_eq(dec_level_parse("warning", 7), -1);
    ck_assert_int_eq(dec_level_parse("off", 3), -1);
    ck_assert_int_eq(dec_level_parse("", 0), -1);
    ck_assert_int_eq(dec_level_parse(NULL, 0), -1);
    dec_event_clear(NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Client log normalization                                                                 */
/* ---------------------------------------------------------------------------------------- */

static const char *NOW = "2026-05-06T07:08:09.010Z";

static int norm(const char *json, dec_event_t *ev)
{
    errbuf[0] = '\0';
    return dec_log_normalize(json, strlen(json), NOW, ev, errbuf, sizeof(errbuf));
}

#define NORM_OK(in, expect, expect_level, expect_ns)                                              \
    do {                                                                                          \
        dec_event_t ev_;                                                                          \
        int rc_ = norm(in, &ev_);                                                                 \
        ck_assert_msg(rc_ == 0, "rc %d (%s)", rc_, errbuf);                                       \
        ck_assert_str_eq(ev_.json, expect);                                                       \
        ck_assert_uint_eq(ev_.json_len, strlen(expect));                                          \
        ck_assert_int_eq(ev_.level, expect_level);                                                \
        ck_assert_str_eq(ev_.ns, expect_ns);                                                      \
        ck_assert_str_eq(ev_.event, "log");                                                       \
        dec_event_clear(&ev_);                                                                    \
    } while (0)

#define NORM_BAD(in, expect_rc)                                                                   \
    do {                                                                                          \
        dec_event_t ev_;                                                                          \
        int rc_ = norm(in, &ev_);                                                                 \
        ck_assert_msg(rc_ == (expect_rc), "%s: rc %d", in, rc_);                                  \
        ck_assert_ptr_null(ev_.json);                                                             \
        ck_assert_str_ne(errbuf, "");                                                             \
    } while (0)

START_TEST(test_normalize)
{
    /* The wire capture's client log passes through unchanged. */
    NORM_OK("{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\",\"ns\":\"wire\",\"msg\":"
            "\"hello from wire-capture\"}",
            "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\",\"ns\":\"wire\",\"msg\":"
            "\"hello from wire-capture\"}",
            CFG_LOG_INFO, "wire");
    /* Defaults, reordering, extra keys after the four. */
    NORM_OK("{\"msg\":\"hi\"}",
            "{\"ts\":\"2026-05-06T07:08:09.010Z\",\"level\":\"info\",\"ns\":\"client\",\"msg\":"
            "\"hi\"}",
            CFG_LOG_INFO, "client");
    NORM_OK("{\"x\":[1.0],\"msg\":\"hi\",\"level\":\"fatal\",\"ts\":null,\"ns\":null}",
            "{\"ts\":\"2026-05-06T07:08:09.010Z\",\"level\":\"fatal\",\"ns\":\"client\",\"msg\":"
            "\"hi\",\"x\":[1]}",
            CFG_LOG_ERROR, "client");
    NORM_OK(" {\"ns\":\"ui\",\"level\":\"trace\",\"msg\":\"h\\u00e9\",\"ts\":\"2026-01-01T00:00:00+02:00\"} ",
            "{\"ts\":\"2026-01-01T00:00:00+02:00\",\"level\":\"trace\",\"ns\":\"ui\",\"msg\":"
            "\"h\xc3\xa9\"}",
            CFG_LOG_DEBUG, "ui");
    NORM_OK("{\"msg\":\"\",\"ts\":\"2026-01-01T00:00:00Z\"}",
            "{\"ts\":\"2026-01-01T00:00:00Z\",\"level\":\"info\",\"ns\":\"client\",\"msg\":\"\"}",
            CFG_LOG_INFO, "client");

    NORM_BAD("{\"level\":\"info\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":1}", DG_EINVAL);
    NORM_BAD("{\"msg\":null}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"level\":\"loud\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"level\":3}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ns\":\"\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ns\":5}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ns\":\"a\\u0000b\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ns\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
             DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ts\":\"yesterday\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ts\":\"2026-01-01T00:00:00\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ts\":\"2026-01-01T00:00:00.Z\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ts\":\"2026-01-01T00:00:00Zx\"}", DG_EINVAL);
    NORM_BAD("{\"msg\":\"m\",\"ts\":1}", DG_EINVAL);
    NORM_BAD("[\"msg\"]", DG_EINVAL);
    NORM_BAD("\"msg\"", DG_EINVAL);
    NORM_BAD("{\"msg\":", DG_EINVAL);
    NORM_BAD("", DG_EINVAL);
    NORM_BAD("{\"msg\":\"\xff\"}", DG_EINVAL);
    {
        dec_event_t ev;
        ck_assert_int_eq(dec_log_normalize(NULL, 0, NOW, &ev, errbuf, sizeof(errbuf)), DG_EINVAL);
        ck_assert_int_eq(dec_log_normalize("{}", 2, NOW, NULL, errbuf, sizeof(errbuf)), DG_EINVAL);
        /* A bad now_iso is refused rather than written into the entry. */
        ck_assert_int_eq(dec_log_normalize("{\"msg\":\"m\"}", 11, "", &ev, errbuf, sizeof(errbuf)),
                         DG_EINVAL);
    }
}
END_TEST

START_TEST(test_normalize_limits)
{
    static char in[DEC_LOG_MAX + 64];
    dec_event_t ev;
    /* Input over the limit. */
    int n = snprintf(in, sizeof(in), "{\"msg\":\"");
    memset(in + n, 'm', DEC_LOG_MAX - n - 2 + 1);
    memcpy(in + DEC_LOG_MAX - 1, "\"}", 3);
    ck_assert_uint_eq(strlen(in), DEC_LOG_MAX + 1);
    ck_assert_int_eq(norm(in, &ev), DG_ELIMIT);
    ck_assert_ptr_null(ev.json);
    /* Exactly at the limit on input, but the defaults push the output over it. */
    memcpy(in + DEC_LOG_MAX - 2, "\"}", 3);
    ck_assert_uint_eq(strlen(in), DEC_LOG_MAX);
    ck_assert_int_eq(norm(in, &ev), DG_ELIMIT);
    /* Room left for the defaults. */
    memcpy(in + DEC_LOG_MAX - 80, "\"}", 3);
    ck_assert_int_eq(norm(in, &ev), 0);
    ck_assert_uint_le(ev.json_len, DEC_LOG_MAX);
    dec_event_clear(&ev);
}
END_TEST

/* Normalized output survives the stream round trip: flat fields, or the json field. */
START_TEST(test_normalize_roundtrip)
{
    dec_event_t a, b;
    ck_assert_int_eq(norm("{\"msg\":\"r\\\"t\",\"ns\":\"x\",\"level\":\"warn\"}", &a), 0);
    lit_t kv[] = {L("ts"), L("2026-05-06T07:08:09.010Z"), L("level"), L("warn"), L("ns"), L("x"),
                  L("msg"), L("r\"t")};
    ck_assert_int_eq(logent(kv, 8, &b), 0);
    ck_assert_str_eq(a.json, b.json);
    dec_event_clear(&b);
    lit_t kj[] = {L("ts"), L("x"), L("level"), L("info"), L("ns"), L("x"), L("msg"), L("x"),
                  L("json"), {a.json, a.json_len}};
    ck_assert_int_eq(logent(kj, 10, &b), 0);
    ck_assert_str_eq(a.json, b.json);
    ck_assert_int_eq(b.level, CFG_LOG_WARN);
    dec_event_clear(&a);
    dec_event_clear(&b);
}
END_TEST

Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("jobs");
    tcase_add_test(tc, test_fixture_job_events);
    tcase_add_test(tc, test_fixture_no_job_id);
    tcase_add_test(tc, test_wire_capture);
    tcase_add_test(tc, test_js_numbers);
    tcase_add_test(tc, test_js_strings_and_keys);
    tcase_add_test(tc, test_not_json_falls_back_to_text);
    tcase_add_test(tc, test_delay_number);
    tcase_add_test(tc, test_field_order_and_duplicates);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_value_every_prefix);
    tcase_add_test(tc, test_canonical_cases);
    tcase_add_test(tc, test_canonical_generated);
    tcase_add_test(tc, test_direct_entry_is_general);
    suite_add_tcase(s, tc);
    tc = tcase_create("logs");
    tcase_add_test(tc, test_log_entries);
    tcase_add_test(tc, test_level_parse);
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_normalize_limits);
    tcase_add_test(tc, test_normalize_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
