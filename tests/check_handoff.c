/* check_handoff.c - the interposed accept and ho_take over real loopback sockets: the taken fd
 * is the client's socket and the old fd number now holds a dead one; a second take, a wrong
 * address or a reused fd number find nothing; an accept source feeds accept() on its fake fd. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/select.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "handoff.h"

static int lsock(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return l;
}

static int dial(int port, int *local_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(c, (struct sockaddr *)&a, &len), 0);
    *local_port = ntohs(a.sin_port);
    return c;
}

START_TEST(take_swaps_in_a_dead_socket)
{
    char err[160];
    ck_assert_int_eq(ho_init(err, sizeof(err)), 0);
    int port, cport;
    int l = lsock(&port);
    int cl = dial(port, &cport);
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int fd = accept(l, (struct sockaddr *)&peer, &plen); /* the interposed one */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ntohs(peer.sin_port), cport);
    ck_assert_int_eq(ho_take("127.0.0.1", cport + 1, err, sizeof(err)), DG_ENOTFOUND);
    int mine = ho_take("127.0.0.1", cport, err, sizeof(err));
    ck_assert_int_ge(mine, 0);
    ck_assert_int_ne(mine, fd);
    ck_assert_int_eq(ho_take("127.0.0.1", cport, err, sizeof(err)), DG_ENOTFOUND); /* once */
    char b[8];
    ck_assert_int_eq(recv(fd, b, sizeof(b), 0), 0);                   /* the old number: EOF */
    ck_assert_int_lt(send(fd, "x", 1, MSG_NOSIGNAL), 0);             /* and no way out */
    ck_assert_int_eq(send(mine, "hi", 2, MSG_NOSIGNAL), 2);          /* ours reaches the client */
    ck_assert_int_eq(recv(cl, b, sizeof(b), 0), 2);
    ck_assert_int_eq(send(cl, "yo", 2, 0), 2);
    struct timeval tv = {5, 0};
    setsockopt(mine, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int fl = fcntl(mine, F_GETFL);
    ck_assert(fl & O_NONBLOCK);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(mine, &rs);
    ck_assert_int_eq(select(mine + 1, &rs, NULL, NULL, &tv), 1);
    ck_assert_int_eq(recv(mine, b, sizeof(b), 0), 2);
    close(fd); /* what CivetWeb does later: only the dead copy goes */
    ck_assert_int_eq(send(mine, "!", 1, MSG_NOSIGNAL), 1);
    close(mine);
    close(cl);

    /* A closed connection's fd number, reused by the next accept, replaces its entry. */
    int c1 = dial(port, &cport);
    int f1 = accept(l, NULL, NULL);
    int old_port = cport;
    int c2 = dial(port, &cport); /* its socket takes a number before f1's is free */
    close(f1);
    int f2 = accept(l, NULL, NULL);
    ck_assert_int_eq(f2, f1);
    ck_assert_int_eq(ho_take("127.0.0.1", old_port, err, sizeof(err)), DG_ENOTFOUND);
    int m2 = ho_take("127.0.0.1", cport, err, sizeof(err));
    ck_assert_int_ge(m2, 0);
    ho_stats_t st;
    ho_get_stats(&st);
    ck_assert_uint_ge(st.accepted, 3);
    ck_assert_uint_ge(st.taken, 2);
    close(m2);
    close(f2);
    close(c1);
    close(c2);
    close(l);
    ho_shutdown();
}
END_TEST

static int next_fd = -1;
static int source(void *ud, struct sockaddr *addr, socklen_t *len)
{
    (void)ud;
    (void)addr;
    if (next_fd < 0) {
        errno = EAGAIN;
        return -1;
    }
    *len = 0;
    int fd = next_fd;
    next_fd = -1;
    return fd;
}

START_TEST(accept_source_on_a_fake_fd)
{
    int ev = eventfd(0, EFD_NONBLOCK);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ho_set_source(ev, source, NULL);
    ck_assert_int_eq(accept(ev, NULL, NULL), -1);
    ck_assert_int_eq(errno, EAGAIN);
    next_fd = sp[0];
    ck_assert_int_eq(accept4(ev, NULL, NULL, SOCK_CLOEXEC), sp[0]);
    ho_set_source(ev, NULL, NULL);
    ck_assert_int_eq(accept(ev, NULL, NULL), -1); /* no source: nothing, never the kernel */
    close(sp[0]);
    close(sp[1]);
    close(ev);
}
END_TEST

Suite *handoff_suite(void)
{
    Suite *s = suite_create("handoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, take_swaps_in_a_dead_socket);
    tcase_add_test(tc, accept_source_on_a_fake_fd);
    suite_add_tcase(s, tc);
    return s;
}
