/* decode.h - turns one Redis stream entry (flat field/value strings) into the event a
 * listener sees, the way BullMQ's QueueEvents presents it: {queue, jobId, ...fields} with
 * returnvalue and progress data parsed as JSON, numbers where QueueEvents makes numbers.
 * Also validates log entries {ts, level, ns, msg}. Pure: no I/O, no logging, no globals. */
#ifndef DECODE_H
#define DECODE_H

#include <stddef.h>

#define DEC_JOBID_MAX 256
#define DEC_EVENT_MAX 64
#define DEC_NS_MAX 64
#define DEC_LOG_MAX 16384 /* largest accepted log entry, JSON bytes */
#define DEC_FIELDS_MAX 256 /* field/value pairs per entry; more is malformed (BullMQ writes <= 4) */

/* One entry's fields as Redis returned them (values are binary-safe, not NUL-terminated). */
typedef struct dec_fields {
    const char *const *name;
    const size_t *name_len;
    const char *const *value;
    const size_t *value_len;
    size_t n;
} dec_fields_t;

typedef struct dec_event {
    char event[DEC_EVENT_MAX];  /* "completed", "log", ... */
    char job_id[DEC_JOBID_MAX]; /* "" when the entry has no jobId */
    int level;                  /* logs: CFG_LOG_* */
    char ns[DEC_NS_MAX];        /* logs */
    char *json;                 /* malloc'd payload object, NUL-terminated; caller frees */
    size_t json_len;
} dec_event_t;

/* Checks an entry's shape: 1..DEC_FIELDS_MAX fields, names non-empty UTF-8 without NUL, values
 * UTF-8 (they may hold NUL). Returns 0 or DG_EPROTO with errstr ("field 2: empty name"). The
 * decoders below call it first; other readers of stream entries (route.h) too. Thread: any. */
int dec_fields_check(const dec_fields_t *f, char *errstr, size_t errlen);

/* Decodes a BullMQ event entry of queue. Returns 0 (out filled, out->json owned by caller),
 * DG_ENOTFOUND for a well-formed entry without jobId (drained, paused, cleaned, ...: out->event
 * is still set, json is NULL), DG_EPROTO for a malformed entry (errstr says why), DG_ENOMEM. */
int dec_job_entry(const char *queue, const dec_fields_t *f, dec_event_t *out, char *errstr,
                  size_t errlen);

/* Decodes a log-stream entry (fields ts, level, ns, msg; or one field "json" holding the
 * object). Same returns as dec_job_entry except DG_ENOTFOUND. */
int dec_log_entry(const dec_fields_t *f, dec_event_t *out, char *errstr, size_t errlen);

/* Validates a log entry a client sent (JSON object text, at most DEC_LOG_MAX bytes): level one
 * of trace/debug/info/warn/error/fatal (default info), ns a string (default "client"), msg a
 * string (required), ts an ISO string (default now_iso). Returns 0 with out->json the
 * normalized {ts,level,ns,msg} object, or DG_EINVAL / DG_ELIMIT with errstr. */
int dec_log_normalize(const char *json, size_t len, const char *now_iso, dec_event_t *out,
                      char *errstr, size_t errlen);

/* Level name <-> CFG_LOG_* (trace maps to debug, fatal to error); -1 if unknown. */
int dec_level_parse(const char *s, size_t len);

/* Frees out->json and zeroes it. */
void dec_event_clear(dec_event_t *out);

/* ---- JSON as JavaScript sees it, for modules that forward JSON (routes, tokens) ----------- */

struct json_t; /* jansson's; declared here so callers of decode.h need not include jansson.h */

/* Parses JSON text as JSON.parse accepts it: any value at top level, every number a double, NUL
 * allowed in strings. Returns a new reference (caller json_decref()s) or NULL when the text is
 * not JSON. Thread: any. */
struct json_t *dec_json_parse(const char *s, size_t len);

/* Serializes v the way JSON.stringify does (compact, shortest round-trip numbers, array-index
 * keys first, lowercase \u00xx) into a malloc'd NUL-terminated string the caller frees; v is
 * not modified. Returns 0 or DG_ENOMEM. Thread: any. */
int dec_json_stringify(const struct json_t *v, char **out, size_t *out_len);

/* 1 when text (len bytes) is valid UTF-8 JSON that JSON.stringify(JSON.parse(text)) gives back
 * byte for byte, in the forms dec_json_stringify writes, so it may be forwarded as it is; 0
 * otherwise (which says nothing about whether it is JSON). Conservative: integers only, up to
 * 2^53, nesting and keys per object bounded. Thread: any. */
int dec_json_canonical(const char *s, size_t len);

#endif
