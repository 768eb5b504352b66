/* wpool.c - writer threads over one ready list (FIFO, intrusive). */
#include "wpool.h"

#include <pthread.h>
#include <stdlib.h>

struct wpool {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* items queued, or stopping */
    pthread_cond_t idle;  /* some flush() finished */
    wp_item_t *head, *tail;
    int stopping;
    int nthreads;
    wp_flush_fn flush;
    void *ud;
    pthread_t threads[];
};

static void enqueue(wpool_t *p, wp_item_t *it)
{
    it->queued = 1;
    it->next = NULL;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_cond_signal(&p->ready);
}

static void *wp_main(void *arg)
{
    wpool_t *p = arg;
    buf_t scratch = BUF_INIT;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->ready, &p->lock);
        if (p->stopping)
            break;
        wp_item_t *it = p->head;
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        it->next = NULL;
        it->queued = 0;
        it->busy = 1;
        pthread_mutex_unlock(&p->lock);
        buf_reset(&scratch);
        p->flush(it, &scratch, p->ud);
        if (scratch.cap > (1u << 20))
            buf_free(&scratch); /* one huge batch should not pin memory for good */
        pthread_mutex_lock(&p->lock);
        it->busy = 0;
        if (it->again) {
            it->again = 0;
            enqueue(p, it);
        }
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    buf_free(&scratch);
    return NULL;
}

wpool_t *wp_new(int nthreads, wp_flush_fn flush, void *ud)
{
    wpool_t *p = calloc(1, sizeof(*p) + sizeof(pthread_t) * (size_t)nthreads);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->flush = flush;
    p->ud = ud;
    for (; p->nthreads < nthreads; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, wp_main, p) != 0) {
            wp_free(p);
            return NULL;
        }
    }
    return p;
}

void wp_schedule(wpool_t *p, wp_item_t *it)
{
    pthread_mutex_lock(&p->lock);
    if (it->busy)
        it->again = 1;
    else if (!it->queued && !p->stopping)
        enqueue(p, it);
    pthread_mutex_unlock(&p->lock);
}

static void unlink_item(wpool_t *p, wp_item_t *it)
{
    wp_item_t **pp = &p->head, *prev = NULL;
    while (*pp != it) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = it->next;
    if (p->tail == it)
        p->tail = prev;
    it->queued = 0;
    it->next = NULL;
}

void wp_cancel(wpool_t *p, wp_item_t *it)
{
    pthread_mutex_lock(&p->lock);
    it->again = 0;
    for (;;) {
        if (it->queued) /* possibly re-queued by the flush we waited for */
            unlink_item(p, it);
        if (!it->busy)
            break;
        pthread_cond_wait(&p->idle, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

void wp_free(wpool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
