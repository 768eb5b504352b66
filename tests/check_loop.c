/* check_loop.c - the event loop: timers in deadline order (heap under random arm/cancel),
 * posted tasks on the loop thread, ready items run once per batch and round-robin, one eventfd
 * write per burst, fd events, and stopping (late tasks cancelled, queued items still run). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "loop.h"

/* Runs fn(arg) on l's thread and waits for it. */
typedef struct call {
    void (*fn)(void *);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int on_loop;
    el_t *l;
} call_t;

static void call_task(void *arg, int cancelled)
{
    call_t *c = arg;
    if (!cancelled) {
        c->on_loop = el_on_loop(c->l);
        c->fn(c->arg);
    }
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int run_on(el_t *l, void (*fn)(void *), void *arg)
{
    call_t c = {fn, arg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, l};
    ck_assert_int_eq(el_post(l, call_task, &c), 0);
    pthread_mutex_lock(&c.mu);
    while (!c.done)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    return c.on_loop;
}

static void nothing(void *arg)
{
    (void)arg;
}

/* Two more iterations: whatever was queued before has run (tasks run before ready items). */
static void settle(el_t *l)
{
    run_on(l, nothing, NULL);
    run_on(l, nothing, NULL);
}

static el_t *start_loop(void)
{
    char err[128];
    el_t *l = el_new(0, err, sizeof(err));
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(el_start(l), 0);
    return l;
}

/* ---------------------------------------------------------------- timers */

typedef struct tcase_timer {
    el_timer_t t;
    int id;
} ttimer_t;

static struct {
    el_t *l;
    ttimer_t timers[200];
    int fired[200];
    int64_t fired_at[200];
    int nfired;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void timer_fired(el_timer_t *t)
{
    ttimer_t *tt = (ttimer_t *)t;
    pthread_mutex_lock(&T.mu);
    T.fired[T.nfired] = tt->id;
    T.fired_at[T.nfired++] = t->at;
    pthread_cond_signal(&T.cv);
    pthread_mutex_unlock(&T.mu);
}

static void arm_random(void *arg)
{
    (void)arg;
    int64_t base = el_now_ms() + 30;
    unsigned seed = 7;
    for (int i = 0; i < 200; i++) {
        T.timers[i].t.cb = timer_fired;
        T.timers[i].id = i;
        ck_assert_int_eq(el_timer_arm(T.l, &T.timers[i].t, base + rand_r(&seed) % 40), 0);
    }
    /* re-arm some earlier, some later, cancel every 7th */
    for (int i = 0; i < 200; i += 3)
        el_timer_arm(T.l, &T.timers[i].t, base + rand_r(&seed) % 40);
    for (int i = 0; i < 200; i += 7) {
        el_timer_cancel(T.l, &T.timers[i].t);
        ck_assert(!el_timer_armed(&T.timers[i].t));
    }
    el_timer_cancel(T.l, &T.timers[0].t); /* twice is harmless */
}

START_TEST(timers_fire_in_deadline_order)
{
    T.l = start_loop();
    T.nfired = 0;
    run_on(T.l, arm_random, NULL);
    int expect = 200 - (200 + 6) / 7;
    pthread_mutex_lock(&T.mu);
    while (T.nfired < expect)
        pthread_cond_wait(&T.cv, &T.mu);
    pthread_mutex_unlock(&T.mu);
    for (int i = 1; i < T.nfired; i++)
        ck_assert_int_le(T.fired_at[i - 1], T.fired_at[i]);
    for (int i = 0; i < T.nfired; i++) {
        ck_assert_int_ne(T.fired[i] % 7, 0);
        ck_assert_int_ge(el_now_ms(), T.fired_at[i]);
    }
    el_free(T.l);
}
END_TEST

/* ---------------------------------------------------------------- ready list */

typedef struct item {
    el_ready_t r;
    el_t *l;
    atomic_int runs;
    int again; /* reschedule itself this many times */
    int *order;
    int *pending; /* el_ready_pending() as each run began */
    atomic_int *norder;
    int id;
} item_t;

static void item_run(el_ready_t *r)
{
    item_t *it = (item_t *)r;
    atomic_fetch_add(&it->runs, 1);
    if (it->order) {
        int k = atomic_fetch_add(it->norder, 1);
        it->order[k] = it->id;
        it->pending[k] = el_ready_pending(it->l);
    }
    if (it->again > 0) {
        it->again--;
        ck_assert_int_eq(el_schedule(it->l, &it->r), 1);
    }
}

static item_t burst_items[100];
static atomic_int hold;

static void hold_task(void *arg, int cancelled)
{
    (void)arg;
    (void)cancelled;
    atomic_store(&hold, 2);
    while (atomic_load(&hold) == 2)
        ;
}

static void schedule_burst(void *arg)
{
    el_t *l = arg;
    for (int k = 0; k < 10; k++)
        for (int i = 0; i < 100; i++)
            el_schedule(l, &burst_items[i].r); /* queued once each */
}

START_TEST(ready_items_run_once_per_batch)
{
    el_t *l = start_loop();
    for (int i = 0; i < 100; i++)
        burst_items[i] = (item_t){.r.run = item_run, .l = l};
    run_on(l, schedule_burst, l);
    settle(l);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(atomic_load(&burst_items[i].runs), 1);
    /* From another thread while the loop is busy (inside a task): the burst writes the
     * eventfd at most once; the busy loop finds the items when the task returns. */
    el_stats_t before, after;
    el_get_stats(l, &before);
    atomic_store(&hold, 1);
    el_post(l, hold_task, NULL);
    while (atomic_load(&hold) != 2)
        ;
    schedule_burst(l);
    atomic_store(&hold, 0);
    settle(l);
    el_get_stats(l, &after);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(atomic_load(&burst_items[i].runs), 2);
    ck_assert_uint_le(after.wakeups - before.wakeups, 4); /* hold's post, settle's two, <= 1 */
    el_free(l);
}
END_TEST

static item_t *abc[3];

static void schedule_abc(void *arg)
{
    el_t *l = arg;
    for (int i = 0; i < 3; i++)
        el_schedule(l, &abc[i]->r);
}

START_TEST(rescheduled_item_goes_to_the_back)
{
    el_t *l = start_loop();
    static int order[64], pending[64];
    static atomic_int norder;
    static item_t a, b, c;
    atomic_store(&norder, 0);
    a = (item_t){.r.run = item_run, .l = l, .again = 2, .order = order, .pending = pending,
                 .norder = &norder, .id = 1};
    b = (item_t){.r.run = item_run, .l = l, .order = order, .pending = pending, .norder = &norder,
                 .id = 2};
    c = (item_t){.r.run = item_run, .l = l, .order = order, .pending = pending, .norder = &norder,
                 .id = 3};
    abc[0] = &a;
    abc[1] = &b;
    abc[2] = &c;
    run_on(l, schedule_abc, l);
    for (int i = 0; i < 3; i++)
        settle(l);
    ck_assert_int_eq(atomic_load(&norder), 5);
    /* a, b, c, then a again (after b and c), then a */
    int expect[] = {1, 2, 3, 1, 1};
    /* others wait while b and c are behind a, and while a waits behind c; alone, a sees none */
    int expect_pending[] = {1, 1, 1, 0, 0};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(order[i], expect[i]);
        ck_assert_int_eq(pending[i], expect_pending[i]);
    }
    el_free(l);
}
END_TEST

/* ---------------------------------------------------------------- tasks, fds, stop */

static atomic_int cancelled_tasks, run_tasks_n;

static void counting_task(void *arg, int cancelled)
{
    (void)arg;
    atomic_fetch_add(cancelled ? &cancelled_tasks : &run_tasks_n, 1);
}

static void check_on_loop(void *arg)
{
    ck_assert(el_on_loop(arg));
}

typedef struct pipe_io {
    el_io_t io;
    atomic_int bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipe_io_t;

static void pipe_cb(el_io_t *io, uint32_t ev)
{
    pipe_io_t *p = (pipe_io_t *)io;
    char buf[64];
    ssize_t n;
    ck_assert(ev & EPOLLIN);
    while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->bytes, (int)n);
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static pipe_io_t P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static int sp[2];
static el_t *PL;

static void add_pipe(void *arg)
{
    (void)arg;
    P.io.cb = pipe_cb;
    ck_assert_int_eq(el_io_add(PL, &P.io, sp[0], EPOLLIN | EPOLLET), 0);
}

static void del_pipe(void *arg)
{
    (void)arg;
    el_io_del(PL, &P.io);
}

START_TEST(tasks_fds_and_stop)
{
    el_t *l = start_loop();
    PL = l;
    ck_assert(!el_on_loop(l));
    ck_assert_int_eq(run_on(l, check_on_loop, l), 1);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    run_on(l, add_pipe, NULL);
    ck_assert_int_eq(write(sp[1], "hello", 5), 5);
    pthread_mutex_lock(&P.mu);
    while (atomic_load(&P.bytes) < 5)
        pthread_cond_wait(&P.cv, &P.mu);
    pthread_mutex_unlock(&P.mu);
    el_stats_t st;
    el_get_stats(l, &st);
    ck_assert_int_eq(st.nfds, 1);
    run_on(l, del_pipe, NULL);
    el_get_stats(l, &st);
    ck_assert_int_eq(st.nfds, 0);
    close(sp[0]);
    close(sp[1]);

    static item_t late;
    late = (item_t){.r.run = item_run, .l = l};
    atomic_store(&cancelled_tasks, 0);
    atomic_store(&run_tasks_n, 0);
    for (int i = 0; i < 10; i++)
        el_post(l, counting_task, NULL);
    el_stop(l);
    ck_assert_int_eq(atomic_load(&run_tasks_n) + atomic_load(&cancelled_tasks), 10);
    el_post(l, counting_task, NULL); /* after stop: runs cancelled at once */
    ck_assert_int_eq(atomic_load(&run_tasks_n) + atomic_load(&cancelled_tasks), 11);
    ck_assert_int_ge(atomic_load(&cancelled_tasks), 1);
    ck_assert_int_eq(el_schedule(l, &late.r), 0); /* refused once stopped */
    el_free(l);
}
END_TEST

START_TEST(group_round_robin)
{
    char err[128];
    el_group_t *g = elg_new(3, err, sizeof(err));
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(elg_size(g), 3);
    ck_assert_int_eq(elg_start(g), 0);
    int seen[3] = {0};
    for (int i = 0; i < 9; i++)
        seen[el_index(elg_pick(g))]++;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(seen[i], 3);
    ck_assert_ptr_eq(elg_get(g, 4), elg_get(g, 1));
    elg_stop(g);
    elg_free(g);
}
END_TEST

Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, timers_fire_in_deadline_order);
    tcase_add_test(tc, ready_items_run_once_per_batch);
    tcase_add_test(tc, rescheduled_item_goes_to_the_back);
    tcase_add_test(tc, tasks_fds_and_stop);
    tcase_add_test(tc, group_round_robin);
    suite_add_tcase(s, tc);
    return s;
}
