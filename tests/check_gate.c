/* check_gate.c - the accept gate in front of a listening socket of our own (standing in for
 * CivetWeb's): only connections with a complete head (and small body) reach accept() on the
 * fake fd; a silent one gets 408 at the header deadline; past max_pending the oldest gets 408;
 * stopping answers 503. Waits are polls with deadlines on the fake fd or on the clients. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "gate.h"
#include "loop.h"

static el_t *L;
static gt_t *G;
static int port, lfd, fake;

static void setup_with(int64_t timeout_ms, int max_pending)
{
    char err[128];
    L = el_new(0, err, sizeof(err));
    ck_assert_ptr_nonnull(L);
    ck_assert_int_eq(el_start(L), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 64), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    gt_cfg_t cfg = {timeout_ms, max_pending, 1024, 100};
    G = gt_new(L, &cfg);
    ck_assert_ptr_nonnull(G);
    ck_assert_int_eq(gt_attach(G, port, err, sizeof(err)), 0);
    fake = lfd; /* the same number, now an eventfd the "master" polls */
}

static void teardown(void)
{
    gt_stop(G);
    el_free(L);
    gt_free(G);
    close(fake);
}

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    return c;
}

/* What CivetWeb's master does: wait for the fake fd, accept(). -1 when nothing in ms. */
static int master_accept(int ms)
{
    struct pollfd p = {.fd = fake, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    return accept(fake, NULL, NULL);
}

/* Reads what the gate answered a client (until EOF). */
static void read_answer(int c, char *buf, size_t cap)
{
    size_t n = 0;
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (ssize_t r; n < cap - 1 && (r = recv(c, buf + n, cap - 1 - n, 0)) > 0;)
        n += (size_t)r;
    buf[n] = '\0';
}

START_TEST(complete_heads_only)
{
    setup_with(5000, 100);
    int c = dial();
    ck_assert_int_eq(send(c, "GET / HTTP/1.1\r\nHo", 18, 0), 18);
    ck_assert_int_eq(master_accept(200), -1); /* half a head: held off the workers */
    ck_assert_int_eq(send(c, "st: x\r\n\r\n", 9, 0), 9);
    int fd = master_accept(5000);
    ck_assert_int_ge(fd, 0);
    char buf[64];
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 27); /* the bytes are all there */
    close(fd);
    /* a POST waits for its (small) body too */
    int p = dial();
    const char *head = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    ck_assert_int_eq(send(p, head, strlen(head), 0), (ssize_t)strlen(head));
    ck_assert_int_eq(master_accept(200), -1);
    ck_assert_int_eq(send(p, "hello", 5, 0), 5);
    fd = master_accept(5000);
    ck_assert_int_ge(fd, 0);
    close(fd);
    gt_stats_t st;
    gt_get_stats(G, &st);
    ck_assert_uint_eq(st.accepted, 2);
    ck_assert_uint_eq(st.passed, 2);
    ck_assert_int_eq(st.pending, 0);
    close(c);
    close(p);
    teardown();
}
END_TEST

START_TEST(silent_gets_408_and_oldest_makes_room)
{
    setup_with(300, 2);
    int a = dial(), b = dial();
    char buf[512];
    /* wait until both are held, then a third pushes the oldest out */
    gt_stats_t st;
    for (int i = 0; i < 500; i++) {
        gt_get_stats(G, &st);
        if (st.pending == 2)
            break;
        struct pollfd none;
        poll(&none, 0, 5);
    }
    ck_assert_int_eq(st.pending, 2);
    int c = dial();
    read_answer(a, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "evicted answer: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"error\":\"request_timeout\""));
    read_answer(b, buf, sizeof(buf)); /* b and c: the header deadline */
    ck_assert_msg(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "timeout answer: %s", buf);
    read_answer(c, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "timeout answer: %s", buf);
    gt_get_stats(G, &st);
    ck_assert_uint_eq(st.evicted, 1);
    ck_assert_uint_eq(st.timed_out, 2);
    ck_assert_int_eq(master_accept(0), -1); /* none of them reached CivetWeb */
    close(a);
    close(b);
    close(c);
    teardown();
}
END_TEST

START_TEST(stop_answers_503)
{
    setup_with(5000, 100);
    int a = dial();
    gt_stats_t st;
    for (int i = 0; i < 500; i++) {
        gt_get_stats(G, &st);
        if (st.pending == 1)
            break;
        struct pollfd none;
        poll(&none, 0, 5);
    }
    gt_stop(G);
    char buf[512];
    read_answer(a, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "answer: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "Retry-After: 1\r\n"));
    close(a);
    teardown();
}
END_TEST

Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, complete_heads_only);
    tcase_add_test(tc, silent_gets_408_and_oldest_makes_room);
    tcase_add_test(tc, stop_answers_503);
    suite_add_tcase(s, tc);
    return s;
}
