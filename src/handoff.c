/* handoff.c - the interposed accept()/accept4(), the peer-address -> fd table, the dead socket
 * and the self-test. An executable's definition of a symbol that a linked shared library uses
 * is what the library binds to, so libcivetweb's accept() calls land here (no LD_PRELOAD). */
#include "handoff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dg.h"
#include "htab.h"

#define SELFTEST_BODY "dualgate-handoff-ok"
#define KEY_MAX 48 /* "255.255.255.255:65535" */

/* One accepted socket, indexed by its fd: a new accept of the same fd number means the old
 * connection was closed, so its entry is replaced and the table never outgrows the fd limit. */
typedef struct entry {
    ht_node_t node;
    char key[KEY_MAX];
    int used;
} entry_t;

static struct {
    pthread_mutex_t lock;
    ht_t byaddr;
    entry_t *byfd;
    int nfd;
    int dead; /* one end of a socketpair whose other end is closed */
    int fake_fd;
    ho_next_fn next;
    void *ud;
    atomic_ullong accepted, taken, selftests;
} H = {.lock = PTHREAD_MUTEX_INITIALIZER, .dead = -1, .fake_fd = -1};

int ho_accept_raw(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

static int addr_key(const struct sockaddr *sa, char *key)
{
    if (sa->sa_family != AF_INET)
        return -1;
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
        return -1;
    snprintf(key, KEY_MAX, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    return 0;
}

/* Lock held. */
static void forget_fd(int fd)
{
    entry_t *e = &H.byfd[fd];
    if (e->used) {
        ht_remove(&H.byaddr, &e->node);
        e->used = 0;
    }
}

static void note(int fd, const struct sockaddr *sa)
{
    char key[KEY_MAX];
    if (addr_key(sa, key) != 0)
        return;
    pthread_mutex_lock(&H.lock);
    if (H.byfd && fd >= 0 && fd < H.nfd) {
        forget_fd(fd);
        ht_node_t *old = ht_find(&H.byaddr, key);
        if (old) /* the same peer address on another fd: that connection is gone */
            forget_fd((int)(DG_CONTAINER_OF(old, entry_t, node) - H.byfd));
        entry_t *e = &H.byfd[fd];
        memcpy(e->key, key, sizeof(key));
        e->used = 1;
        ht_insert(&H.byaddr, &e->node, e->key);
        atomic_fetch_add_explicit(&H.accepted, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&H.lock);
}

static int accept_common(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int cfd;
    pthread_mutex_lock(&H.lock);
    ho_next_fn next = fd == H.fake_fd ? H.next : NULL;
    void *ud = H.ud;
    int is_fake = fd == H.fake_fd && fd >= 0;
    pthread_mutex_unlock(&H.lock);
    if (is_fake) {
        if (!next) {
            errno = EAGAIN;
            return -1;
        }
        cfd = next(ud, (struct sockaddr *)&ss, &sl);
        if (cfd >= 0 && (flags & SOCK_CLOEXEC))
            fcntl(cfd, F_SETFD, FD_CLOEXEC);
    } else {
        cfd = ho_accept_raw(fd, (struct sockaddr *)&ss, &sl, flags);
    }
    if (cfd < 0)
        return -1;
    note(cfd, (struct sockaddr *)&ss);
    if (addr && len) {
        memcpy(addr, &ss, *len < sl ? *len : sl);
        *len = sl;
    }
    return cfd;
}

/* The interposition itself: libcivetweb's master thread calls these. */
int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept_common(fd, addr, len, 0);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return accept_common(fd, addr, len, flags);
}

int ho_init(char *errstr, size_t errlen)
{
    struct rlimit rl;
    int sp[2];
    int n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 24) ? (int)rl.rlim_cur : 1 << 16;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        snprintf(errstr, errlen, "socketpair: %s", strerror(errno));
        return DG_EIO;
    }
    close(sp[1]); /* reads on sp[0] now see EOF, writes fail: CivetWeb's later calls end at once */
    pthread_mutex_lock(&H.lock);
    H.dead = sp[0];
    H.byfd = calloc((size_t)n, sizeof(*H.byfd));
    H.nfd = H.byfd ? n : 0;
    int rc = H.byfd && ht_init(&H.byaddr, 1024) == DG_OK ? DG_OK : DG_ENOMEM;
    pthread_mutex_unlock(&H.lock);
    if (rc != DG_OK)
        snprintf(errstr, errlen, "out of memory");
    return rc;
}

void ho_shutdown(void)
{
    pthread_mutex_lock(&H.lock);
    ht_free(&H.byaddr);
    free(H.byfd);
    H.byfd = NULL;
    H.nfd = 0;
    if (H.dead >= 0)
        close(H.dead);
    H.dead = -1;
    H.fake_fd = -1;
    H.next = NULL;
    pthread_mutex_unlock(&H.lock);
}

void ho_set_source(int fake_fd, ho_next_fn next, void *ud)
{
    pthread_mutex_lock(&H.lock);
    H.fake_fd = next ? fake_fd : H.fake_fd;
    H.next = next;
    H.ud = ud;
    pthread_mutex_unlock(&H.lock);
}

/* The fd noted for key (taking it off the table when take), or -1. */
static int lookup(const char *key, int take)
{
    pthread_mutex_lock(&H.lock);
    ht_node_t *n = H.byfd ? ht_find(&H.byaddr, key) : NULL;
    int fd = n ? (int)(DG_CONTAINER_OF(n, entry_t, node) - H.byfd) : -1;
    if (fd >= 0 && take)
        forget_fd(fd);
    pthread_mutex_unlock(&H.lock);
    return fd;
}

/* 1 when fd's peer is key (the table may be stale; the socket is the truth). */
static int is_peer(int fd, const char *key)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char peer[KEY_MAX];
    return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           addr_key((struct sockaddr *)&ss, peer) == 0 && strcmp(peer, key) == 0;
}

int ho_peer_fd(const char *ip, int port)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s:%d", ip ? ip : "", port);
    int fd = lookup(key, 0);
    return fd >= 0 && is_peer(fd, key) ? fd : -1;
}

int ho_take(const char *ip, int port, char *errstr, size_t errlen)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s:%d", ip ? ip : "", port);
    int fd = lookup(key, 1);
    if (fd < 0) {
        snprintf(errstr, errlen, "no accepted socket from %s", key);
        return DG_ENOTFOUND;
    }
    if (!is_peer(fd, key)) {
        snprintf(errstr, errlen, "fd %d is not the socket from %s", fd, key);
        return DG_ENOTFOUND;
    }
    pthread_mutex_lock(&H.lock);
    int dead = H.dead;
    pthread_mutex_unlock(&H.lock);
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0) {
        snprintf(errstr, errlen, "dup: %s", strerror(errno));
        return DG_EIO;
    }
    if (dup2(dead, fd) < 0) { /* atomically: CivetWeb's fd number now holds the dead socket */
        snprintf(errstr, errlen, "dup2: %s", strerror(errno));
        close(mine);
        return DG_EIO;
    }
    int fl = fcntl(mine, F_GETFL);
    fcntl(mine, F_SETFL, (fl < 0 ? 0 : fl) | O_NONBLOCK);
    atomic_fetch_add_explicit(&H.taken, 1, memory_order_relaxed);
    return mine;
}

/* ---------------------------------------------------------------- self-test */

void ho_selftest_answer(int fd)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " "19"
                              "\r\nConnection: close\r\n\r\n" SELFTEST_BODY;
    ssize_t w = send(fd, ans, sizeof(ans) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* a fresh socket's buffer takes 100 bytes; the client side checks */
    shutdown(fd, SHUT_WR);
    close(fd);
    atomic_fetch_add_explicit(&H.selftests, 1, memory_order_relaxed);
}

int ho_selftest(int port, const char *path, char *errstr, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], resp[512];
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = DG_EIO;
    struct timeval tv = {5, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        snprintf(errstr, errlen, "cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
        goto out;
    }
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(errstr, errlen, "cannot send the self-test request: %s", strerror(errno));
        goto out;
    }
    for (ssize_t r; got < sizeof(resp) - 1 && (r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) > 0;)
        got += (size_t)r;
    resp[got] = '\0';
    if (strstr(resp, "\r\n\r\n" SELFTEST_BODY))
        rc = DG_OK;
    else
        snprintf(errstr, errlen,
                 "CivetWeb did not hand the self-test connection over (it accepts connections "
                 "without the interposed accept(): a different CivetWeb build?); answer was: %.80s",
                 got ? resp : "(nothing)");
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

void ho_get_stats(ho_stats_t *out)
{
    out->accepted = atomic_load_explicit(&H.accepted, memory_order_relaxed);
    out->taken = atomic_load_explicit(&H.taken, memory_order_relaxed);
    out->selftests = atomic_load_explicit(&H.selftests, memory_order_relaxed);
}
