/* rds_entry.c - one stream entry (a hiredis field array) -> a broker message, the step the
 * live readers and the replays share. Decoding proper is decode.c's; this only adapts replies. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "dg.h"
#include "rds_int.h"

/* Fills f from an entry's field array; -1 if it is not a flat list of string pairs. */
static int entry_fields(const redisReply *arr, rds_fields_t *fb, dec_fields_t *f, char *err,
                        size_t errlen)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY || arr->elements % 2 != 0) {
        snprintf(err, errlen, "fields are not a list of pairs");
        return -1;
    }
    if (arr->elements / 2 > DEC_FIELDS_MAX) {
        snprintf(err, errlen, "more than %d fields", DEC_FIELDS_MAX);
        return -1;
    }
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *e = arr->element[i];
        if (!e || e->type != REDIS_REPLY_STRING) {
            snprintf(err, errlen, "field %zu is not a string", i / 2);
            return -1;
        }
        if (i % 2 == 0) {
            fb->name[i / 2] = e->str;
            fb->name_len[i / 2] = e->len;
        } else {
            fb->value[i / 2] = e->str;
            fb->value_len[i / 2] = e->len;
        }
    }
    *f = (dec_fields_t){fb->name, fb->name_len, fb->value, fb->value_len, arr->elements / 2};
    return 0;
}

_Static_assert(ROUTE_ROOM_MAX <= DEC_JOBID_MAX, "a route's room is carried in job_id");

/* A routed stream's entry: its payload as the route renders it, for the room it names. */
static int route_entry_decode(const route_t *rt, int stream, cur_id_t id, const dec_fields_t *f,
                              msg_t **m, char *room, char *err, size_t errlen)
{
    route_out_t out = {0};
    int rc = route_stream_entry(rt, f, &out, err, errlen);
    if (rc == DG_ENOMEM)
        return RDS_ENT_NOMEM;
    if (rc != 0)
        return RDS_ENT_BAD;
    snprintf(room, DEC_JOBID_MAX, "%s", out.all ? "all" : out.room);
    *m = msg_new(MSG_ROUTE, (uint8_t)stream, id, rt->event, out.json, out.json_len, "/", 0, NULL);
    route_out_clear(&out);
    if (!*m) {
        snprintf(err, errlen, "out of memory");
        return RDS_ENT_NOMEM;
    }
    return RDS_ENT_MSG;
}

/* Decodes one entry of stream into a message (*m, with job_id filled for job streams).
 * RDS_ENT_BAD leaves the reason in err (never the payload). */
int rds_entry_decode(rds_t *r, int stream, cur_id_t id, const redisReply *fields, rds_fields_t *fb,
                     msg_t **m, char *job_id, char *err, size_t errlen)
{
    dec_fields_t f;
    dec_event_t ev;
    int rc;

    *m = NULL;
    if (entry_fields(fields, fb, &f, err, errlen) != 0)
        return RDS_ENT_BAD;
    if (r->readers[stream].route)
        return route_entry_decode(r->readers[stream].route, stream, id, &f, m, job_id, err,
                                  errlen);
    if (stream < r->cfg->nqueues) {
        rc = dec_job_entry(r->cfg->queues[stream], &f, &ev, err, errlen);
        if (rc == DG_ENOTFOUND || (rc == 0 && !cfg_event_forwarded(r->cfg, ev.event))) {
            dec_event_clear(&ev);
            return RDS_ENT_SKIP;
        }
        if (rc == 0) {
            *m =
                msg_new(MSG_JOB, (uint8_t)stream, id, ev.event, ev.json, ev.json_len, "/", 0, NULL);
            memcpy(job_id, ev.job_id, sizeof(ev.job_id));
        }
    } else {
        rc = dec_log_entry(&f, &ev, err, errlen);
        if (rc == 0) {
            *m = msg_new(MSG_LOG, (uint8_t)stream, id, "log", ev.json, ev.json_len, "/logs",
                         (uint8_t)ev.level, ev.ns);
            job_id[0] = '\0';
        }
    }
    dec_event_clear(&ev);
    if (rc == DG_ENOMEM || (rc == 0 && !*m)) {
        snprintf(err, errlen, "out of memory");
        return RDS_ENT_NOMEM;
    }
    return rc == 0 ? RDS_ENT_MSG : RDS_ENT_BAD;
}
