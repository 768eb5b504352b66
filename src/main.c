/* main.c - dualgate's entry point: reads the configuration, wires broker, Redis readers and
 * the HTTP server together, and waits for SIGINT/SIGTERM: the first SIGTERM drains (drain_ms),
 * a second one or SIGINT stops at once. The only place that exits. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "broker.h"
#include "config.h"
#include "dg.h"
#include "log.h"
#include "redis.h"
#include "server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dualgate [--config FILE] [--check-config] [--conformance]\n"
            "\n"
            "Real-time gateway: follows BullMQ's Redis event streams and serves them over\n"
            "Socket.IO (/socket.io/) and Server-Sent Events (/sse/jobs/:id, /sse/queues/:name,\n"
            "/sse/logs), with /health, /ready and /metrics. SIGTERM drains (drain_ms), a\n"
            "second SIGTERM or SIGINT stops at once.\n"
            "\n"
            "  -c, --config FILE   read `key = value` settings (see conf/dualgate.conf)\n"
            "      --check-config  validate the configuration, print it, exit 0 (2 if invalid)\n"
            "      --conformance   Engine.IO/Socket.IO conformance-test mode\n"
            "  -h, --help          this text\n"
            "  -v, --version       print the version\n"
            "\n"
            "Environment: PORT, REDIS_URL, SOCKETS_CORS_ORIGIN, and DUALGATE_<KEY> for any key.\n");
}

static void publish_log(void *ud, int level, const char *ns, const char *json, size_t len)
{
    rds_publish_log(ud, level, ns, json, len);
}

#define DRAIN_POLL_MS 50 /* how often a drain looks whether its last connection is gone */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drains for up to drain_ms: returns when the last connection is gone, the window is over, or
 * another stop signal arrives. The signals stay with sigtimedwait (no handler, no thread), so
 * the wait is a short poll of srv_open() between them. */
static void drain(srv_t *srv, const sigset_t *sigs, int drain_ms)
{
    srv_drain(srv, drain_ms);
    int64_t end = mono_ms() + drain_ms;
    int64_t now;
    while (srv_open(srv) > 0 && (now = mono_ms()) < end) {
        int64_t step = end - now < DRAIN_POLL_MS ? end - now : DRAIN_POLL_MS;
        struct timespec ts = {0, (long)step * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("main", "%s during the drain: stopping at once",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
    }
    int left = srv_open(srv);
    if (left)
        log_warn("main", "drain_ms (%d ms) over with %d connections open: closing them", drain_ms,
                 left);
    else
        log_info("main", "drained: every connection is closed");
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"check-config", no_argument, 0, 'C'},
                                         {"conformance", no_argument, 0, 'K'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'v'},
                                         {0, 0, 0, 0}};
    const char *config = NULL;
    int check = 0, conformance = 0, o;
    while ((o = getopt_long(argc, argv, "c:hv", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'C': check = 1; break;
        case 'K': conformance = 1; break;
        case 'h': usage(stdout); return 0;
        case 'v': printf("dualgate %s\n", DG_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dualgate: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    static cfg_t cfg;
    char err[512];
    cfg_defaults(&cfg);
    if ((config && cfg_load_file(&cfg, config, err, sizeof(err)) != DG_OK) ||
        cfg_load_env(&cfg, err, sizeof(err)) != DG_OK) {
        fprintf(stderr, "dualgate: configuration error: %s\n", err);
        return 2;
    }
    if (conformance)
        cfg.conformance = 1;
    raise_fd_limit();
    if (cfg_validate(&cfg, err, sizeof(err)) != DG_OK) {
        fprintf(stderr, "dualgate: configuration error: %s\n", err);
        return 2;
    }
    if (check) {
        static char dump[16384];
        cfg_dump(&cfg, dump, sizeof(dump));
        fputs(dump, stdout);
        return 0;
    }

    /* Block the stop signals before any thread exists, so every thread inherits the mask and
     * only sigwait() below receives them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    log_init(cfg.log_level, cfg.log_publish_level);
    int rc = 1;
    bk_t *bk = bk_new();
    rds_t *rds = bk ? rds_new(&cfg, bk) : NULL;
    srv_t *srv = rds ? srv_new(&cfg, bk, rds) : NULL;
    if (!srv) {
        fprintf(stderr, "dualgate: out of memory\n");
        goto out;
    }
    if (rds_start(rds) != DG_OK) {
        fprintf(stderr, "dualgate: cannot start the Redis readers\n");
        goto out;
    }
    log_set_publisher(publish_log, rds);
    if (srv_start(srv, err, sizeof(err)) != DG_OK) {
        log_error("main", "%s", err);
        goto stop;
    }
    log_info("main", "dualgate %s started (redis %s:%d, %d queues, prefix %s)", DG_VERSION,
             cfg.redis_host, cfg.redis_port, cfg.nqueues, cfg.prefix);
    if (cfg.auth == CFG_AUTH_OFF && cfg.cors_any && !cfg_bind_is_loopback(&cfg))
        log_warn("main", "auth = off with cors_origin = * on %s: any web page a user opens can "
                 "read every job event and write log lines; set auth = required and list "
                 "cors_origin (README: production settings)", cfg.bind);
    int sig = 0;
    sigwait(&sigs, &sig);
    rc = 0;
    if (sig == SIGTERM && cfg.drain_ms > 0) {
        log_info("main", "SIGTERM: draining for up to %d ms", cfg.drain_ms);
        drain(srv, &sigs, cfg.drain_ms);
    } else {
        log_info("main", "stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    srv_stop(srv);
stop:
    log_set_publisher(NULL, NULL);
    rds_stop(rds);
out:
    srv_free(srv);
    rds_free(rds);
    bk_free(bk);
    return rc;
}
