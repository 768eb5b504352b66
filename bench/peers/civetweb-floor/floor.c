/* floor.c - the CivetWeb floor: a bare CivetWeb server holding the same idle connections as
 * dualgate (Socket.IO over WebSocket up to the namespace ack, SSE up to the first comment) and
 * doing nothing else, so bench/run can split dualgate's memory per connection into what
 * CivetWeb costs and what dualgate adds. Not a gateway: no Redis, no rooms, no events.
 *
 * usage: civetweb-floor PORT NUM_THREADS   (GET /ready, GET /health, SIGTERM stops) */
#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_stopping;
static long g_ws, g_sse;

static int ws_connect(const struct mg_connection *c, void *ud)
{
    (void)c;
    (void)ud;
    return 0;
}

static void ws_ready(struct mg_connection *c, void *ud)
{
    (void)ud;
    static const char open[] = "0{\"sid\":\"floor\",\"upgrades\":[],\"pingInterval\":25000,"
                               "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, open, sizeof(open) - 1);
    pthread_mutex_lock(&g_mu);
    g_ws++;
    pthread_mutex_unlock(&g_mu);
}

/* Answers the namespace connects the load generator sends; ignores everything else. */
static int ws_data(struct mg_connection *c, int bits, char *data, size_t len, void *ud)
{
    (void)ud;
    int op = bits & 0x0f;
    if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
        return 0;
    if (op == MG_WEBSOCKET_OPCODE_TEXT && len >= 2 && data[0] == '4' && data[1] == '0') {
        if (len >= 8 && memcmp(data, "40/logs,", 8) == 0)
            mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, "40/logs,{\"sid\":\"f\"}", 19);
        else
            mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, "40{\"sid\":\"f\"}", 13);
    }
    return 1;
}

static void ws_close(const struct mg_connection *c, void *ud)
{
    (void)c;
    (void)ud;
    pthread_mutex_lock(&g_mu);
    g_ws--;
    pthread_mutex_unlock(&g_mu);
}

/* SSE: headers and one comment, then the handler thread parks (as dualgate's does) and
 * writes a heartbeat every 15 s; a failed write ends it. */
static int sse_handler(struct mg_connection *c, void *ud)
{
    (void)ud;
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 "Connection: close\r\n\r\n: connected\n\n");
    pthread_mutex_lock(&g_mu);
    g_sse++;
    while (!g_stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 15;
        if (pthread_cond_timedwait(&g_cv, &g_mu, &ts) != 0 && !g_stopping) {
            pthread_mutex_unlock(&g_mu);
            int w = mg_printf(c, ":\n\n");
            pthread_mutex_lock(&g_mu);
            if (w <= 0)
                break;
        }
    }
    g_sse--;
    pthread_mutex_unlock(&g_mu);
    return 200;
}

static int plain(struct mg_connection *c, void *ud)
{
    char body[96];
    if (ud) {
        pthread_mutex_lock(&g_mu);
        snprintf(body, sizeof(body), "{\"websocket\":%ld,\"sse\":%ld}\n", g_ws, g_sse);
        pthread_mutex_unlock(&g_mu);
    } else {
        snprintf(body, sizeof(body), "ready\n");
    }
    mg_printf(c,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s",
              strlen(body), body);
    return 200;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: civetweb-floor PORT NUM_THREADS\n");
        return 2;
    }
    char ports[64];
    snprintf(ports, sizeof(ports), "127.0.0.1:%s", argv[1]);
    const char *opts[] = {"listening_ports",
                          ports,
                          "num_threads",
                          argv[2],
                          "request_timeout_ms",
                          "5000",
                          "enable_websocket_ping_pong",
                          "yes",
                          "websocket_timeout_ms",
                          "30000",
                          NULL};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every worker inherits the mask */
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    struct mg_context *ctx = mg_start(&cb, NULL, opts);
    if (!ctx) {
        fprintf(stderr, "civetweb-floor: mg_start failed\n");
        return 1;
    }
    mg_set_websocket_handler(ctx, "/socket.io/", ws_connect, ws_ready, ws_data, ws_close, NULL);
    mg_set_request_handler(ctx, "/sse/", sse_handler, NULL);
    mg_set_request_handler(ctx, "/ready", plain, NULL);
    mg_set_request_handler(ctx, "/health", plain, (void *)1);
    fprintf(stderr, "civetweb-floor: listening on %s with %s threads\n", ports, argv[2]);
    int sig = 0;
    sigwait(&set, &sig);
    pthread_mutex_lock(&g_mu);
    g_stopping = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
