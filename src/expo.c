/* expo.c - the /metrics families, one block per source. Names, types and HELP texts are the
 * contract written in metrics.h (the dashboard's live view reads them): change both together. */
#include "expo.h"

#include <stdatomic.h>
#include <stdio.h>

#include "dg.h"
#include "metrics.h"

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

/* One sample per transport from v[CN_KINDS]. */
static void per_transport(mt_writer_t *w, const char *name, mt_type_t type, const char *help,
                          const uint64_t v[CN_KINDS])
{
    mt_family(w, name, type, help);
    for (int k = 0; k < CN_KINDS; k++)
        mt_u64(w, MT_LABELS({"transport", cn_kind_name(k)}), v[k]);
}

static void connections(mt_writer_t *w, const ex_sources_t *src, const sst_stats_t *sse)
{
    cn_totals_t t;
    cn_env_totals(src->cn, &t);
    mt_family(w, "dualgate_connections", MT_GAUGE, "Open client connections by transport.");
    for (int k = 0; k < CN_KINDS; k++)
        mt_i64(w, MT_LABELS({"transport", cn_kind_name(k)}), t.open[k]);
    per_transport(w, "dualgate_connections_opened_total", MT_COUNTER,
                  "Client connections accepted, by transport.", t.opened);
    mt_family(w, "dualgate_connections_closed_total", MT_COUNTER,
              "Client connections closed, by transport and reason.");
    for (int k = 0; k < CN_KINDS; k++)
        for (int r = CN_CLOSE_NONE + 1; r < CN_REASON_COUNT; r++)
            mt_u64(w, MT_LABELS({"transport", cn_kind_name(k)}, {"reason", cn_reason_name(r)}),
                   t.closed[k][r]);

    uint64_t refused = LOAD(src->adm->refused), draining = LOAD(src->adm->refused_draining);
    gt_stats_t gs = {0};
    if (src->gate)
        gt_get_stats(src->gate, &gs);
    mt_family(w, "dualgate_connections_refused_total", MT_COUNTER,
              "Long-lived requests refused with 503, by reason.");
    mt_u64(w, MT_LABELS({"reason", "over_capacity"}), refused - draining);
    mt_u64(w, MT_LABELS({"reason", "draining"}), draining);
    mt_u64(w, MT_LABELS({"reason", "accept_gate"}), gs.refused);

    per_transport(w, "dualgate_deliveries_total", MT_COUNTER,
                  "Events written to clients, by transport.", t.deliveries);
    per_transport(w, "dualgate_delivered_bytes_total", MT_COUNTER,
                  "Bytes of events written to clients, by transport.", t.bytes);

    sio_stats_t ss = {0};
    if (src->sio)
        sio_get_stats(src->sio, &ss);
    ss.dropped[CN_KIND_SSE] = LOAD(sse->dropped);
    ss.slow_closed[CN_KIND_SSE] = LOAD(sse->slow_closed);
    per_transport(w, "dualgate_dropped_messages_total", MT_COUNTER,
                  "Events not delivered because a client's queue was over its limit.", ss.dropped);
    per_transport(w, "dualgate_slow_consumer_closes_total", MT_COUNTER,
                  "Connections closed because their outbound queue passed queue_max_msgs or "
                  "queue_max_bytes.",
                  ss.slow_closed);

    mt_family(w, "dualgate_delivery_latency_seconds", MT_HISTOGRAM,
              "Time from a Redis entry's id time to the write of its bytes to a client.");
    for (int k = 0; k < CN_KINDS; k++) {
        const mt_hist_t *h[CN_SHARDS];
        for (int i = 0; i < CN_SHARDS; i++)
            h[i] = &src->cn->stats[i].latency[k];
        mt_hist(w, MT_LABELS({"transport", cn_kind_name(k)}), h, CN_SHARDS);
    }
}

/* A per-stream family: the value of each stream's field. */
#define PER_STREAM(w, rh, names, fam, type, help, expr)                                         \
    do {                                                                                       \
        mt_family(w, fam, type, help);                                                         \
        for (int i_ = 0; i_ < (rh)->nstreams; i_++) {                                          \
            const rds_stream_health_t *st = &(rh)->streams[i_];                                \
            mt_u64(w, MT_LABELS({"stream", (names)[i_]}), (uint64_t)(expr));                   \
        }                                                                                      \
    } while (0)

static void redis(mt_writer_t *w, const ex_sources_t *src, rds_health_t *rh)
{
    rds_get_health(src->rds, rh, src->redis_timeout_ms);
    const char *const *names = rds_stream_names(src->rds);
    PER_STREAM(w, rh, names, "dualgate_events_total", MT_COUNTER,
               "Events published to the broker, by stream (queue name or \"logs\").",
               st->published);
    mt_family(w, "dualgate_redis_up", MT_GAUGE,
              "1 if every Redis connection is up and answering, else 0.");
    mt_u64(w, MT_NOLABELS, rh->connected ? 1 : 0);
    PER_STREAM(w, rh, names, "dualgate_redis_reader_connected", MT_GAUGE,
               "1 if the stream's reader is connected to Redis, else 0.", st->connected ? 1 : 0);
    /* A lag that could not be measured (Redis not answering) is left out, not reported as 0. */
    mt_family(w, "dualgate_redis_reader_lag_seconds", MT_GAUGE,
              "Time between the stream's newest entry id and the last id its reader read.");
    for (int i = 0; i < rh->nstreams; i++)
        if (rh->streams[i].lag_ms >= 0)
            mt_double(w, MT_LABELS({"stream", names[i]}), (double)rh->streams[i].lag_ms / 1000.0);
    PER_STREAM(w, rh, names, "dualgate_redis_reconnects_total", MT_COUNTER,
               "Reconnects of the stream's reader.", st->reconnects);
    PER_STREAM(w, rh, names, "dualgate_redis_entries_total", MT_COUNTER, "Stream entries read.",
               st->entries);
    PER_STREAM(w, rh, names, "dualgate_redis_malformed_total", MT_COUNTER,
               "Stream entries skipped as malformed.", st->malformed);
}

static void replay(mt_writer_t *w, const ex_sources_t *src)
{
    sio_stats_t st = {0};
    const sio_stats_t *ss = &st;
    if (src->sio)
        sio_get_stats(src->sio, &st);
    mt_family(w, "dualgate_replay_requests_total", MT_COUNTER,
              "Resumes from a cursor, by transport (SSE Last-Event-ID, Socket.IO connection-state "
              "recovery).");
    mt_u64(w, MT_LABELS({"transport", "sse"}), LOAD(src->sse->resumes));
    mt_u64(w, MT_LABELS({"transport", "socketio"}), ss->restores);
    mt_family(w, "dualgate_socketio_recoveries_total", MT_COUNTER,
              "Socket.IO reconnects that asked for recovery, by result.");
    mt_u64(w, MT_LABELS({"result", "recovered"}), ss->recovered);
    mt_u64(w, MT_LABELS({"result", "fresh"}), ss->not_recovered);
    mt_family(w, "dualgate_replay_gaps_total", MT_COUNTER,
              "Resumes that could not be complete, by reason (trimmed, invalid_cursor, "
              "redis_unavailable, replay_limit).");
    mt_u64(w, MT_LABELS({"reason", "trimmed"}), LOAD(src->rp->gaps_trimmed));
    mt_u64(w, MT_LABELS({"reason", "invalid_cursor"}), LOAD(src->sse->invalid_cursors));
    mt_u64(w, MT_LABELS({"reason", "redis_unavailable"}), LOAD(src->rp->gaps_unavailable));
}

int ex_render(const ex_sources_t *src, buf_t *out, char *errstr, size_t errlen)
{
    mt_writer_t w;
    mt_writer_init(&w, out);
    connections(&w, src, src->sse);
    rds_health_t rh;
    redis(&w, src, &rh);
    replay(&w, src);
    mt_family(&w, "dualgate_log_entries_published_total", MT_COUNTER,
              "Log entries written to the log stream.");
    mt_u64(&w, MT_NOLABELS, rh.logs_published);
    mt_family(&w, "dualgate_log_entries_dropped_total", MT_COUNTER,
              "Log entries dropped (queue full or Redis down).");
    mt_u64(&w, MT_NOLABELS, rh.logs_dropped);
    mt_proc_t p;
    if (mt_proc_read(&p) == 0)
        mt_proc_write(&w, &p);
    int rc = mt_writer_finish(&w);
    if (rc)
        snprintf(errstr, errlen, "%s", w.errstr);
    return rc;
}
