/* handoff.h - taking a connection over from CivetWeb once it has parsed the request (and done
 * the WebSocket handshake). CivetWeb 1.15 has no hijack API, so dualgate defines accept() and
 * accept4() in the executable (libcivetweb binds to them): each accepted socket's peer address
 * is noted, and ho_take() later duplicates the client's socket for dualgate and puts a dead
 * socket under CivetWeb's fd, so CivetWeb's worker is free at once and its later recv/close act
 * on the dead one. This module owns that trick and nothing else: the interposed accept, the
 * peer-address table, the dead socket, an accept source (the gate, gate.h) and the start-up
 * self-test that proves the interposition is bound. Plain TCP only: TLS ends at the proxy.
 * See ../shared/CIVETWEB-NOTES.md, "Taking a connection over after the handshake".
 *
 * Threads: the table is guarded by one mutex (a leaf lock); every function is Thread: any. */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stddef.h>
#include <sys/socket.h>

/* Prepares the table (for fds below the RLIMIT_NOFILE soft limit) and the dead socket.
 * Returns 0 or DG_ENOMEM / DG_EIO with errstr. Before mg_start. */
int ho_init(char *errstr, size_t errlen);
/* Frees the table and closes the dead socket (after mg_stop). */
void ho_shutdown(void);

/* The client socket CivetWeb accepted from ip:port (CivetWeb's request_info remote_addr /
 * remote_port), verified with getpeername(), as a new non-blocking close-on-exec fd owned by the
 * caller; CivetWeb's fd now holds the dead socket. Call it from the request's own handler, then
 * make no more mg_* calls on that connection. Returns the fd, or DG_ENOTFOUND (not accepted
 * through the interposition, or taken already) / DG_EIO (errstr says). */
int ho_take(const char *ip, int port, char *errstr, size_t errlen);

/* CivetWeb's fd for the connection from ip:port (verified with getpeername), or -1: for
 * ioctl(FIONREAD) and poll() only, never to read, write or close. */
int ho_peer_fd(const char *ip, int port);

/* Where accept() on fake_fd gets its connections instead of the kernel: next(ud, addr, len)
 * returns a connected fd (filling addr/len like accept) or -1 with errno EAGAIN. One source at a
 * time; NULL next removes it (accept on fake_fd then fails with EAGAIN). */
typedef int (*ho_next_fn)(void *ud, struct sockaddr *addr, socklen_t *len);
void ho_set_source(int fake_fd, ho_next_fn next, void *ud);

/* The kernel's accept4(), not the interposed one (for the gate's own listening socket). */
int ho_accept_raw(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* The self-test's client half: connects to 127.0.0.1:port, asks for path and expects the
 * answer ho_selftest_answer() writes. Returns 0, or DG_EIO with errstr (CivetWeb accepted
 * without going through the interposed accept, or the answer never came). Blocks up to 5 s;
 * Thread: main, after mg_start. */
int ho_selftest(int port, const char *path, char *errstr, size_t errlen);
/* The self-test's server half: writes the expected answer on a taken fd and closes it. */
void ho_selftest_answer(int fd);

/* Connections noted and taken since start (for /health). */
typedef struct ho_stats {
    unsigned long long accepted, taken, selftests;
} ho_stats_t;
void ho_get_stats(ho_stats_t *out);

#endif
