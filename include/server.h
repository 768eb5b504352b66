/* server.h - the HTTP side of dualgate on CivetWeb: one port for SSE, Socket.IO, health and
 * the static dashboard. CivetWeb stays behind this header.
 *
 * Thread model: CivetWeb gives each TCP connection a worker thread for its whole life, from a
 * pool fixed at start (http_threads = max_connections + 16 spare). An SSE handler thread writes
 * its own stream (so one stalled client stalls only itself). Past max_connections new
 * long-lived requests get 503 at once, served by the spare threads. */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "config.h"
#include "redis.h"

typedef struct srv srv_t;

/* cfg, broker and rds must outlive the server. NULL on ENOMEM. Thread: main. */
srv_t *srv_new(const cfg_t *cfg, bk_t *broker, rds_t *rds);
/* Binds and starts the worker pool. Returns 0 or DG_EIO with errstr. Thread: main. */
int srv_start(srv_t *s, char *errstr, size_t errlen);
/* Wakes every long-lived handler, closes connections, joins the pool. Thread: main. */
void srv_stop(srv_t *s);
void srv_free(srv_t *s);

#endif
