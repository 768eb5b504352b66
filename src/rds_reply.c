/* rds_reply.c - hiredis reply objects from one arena per reply, for the stream readers. An
 * XREAD of 1,000 entries is some 16,000 redisReply objects and strings; hiredis' own functions
 * calloc and free each, which was a tenth of a saturated reader's CPU. Here a reply's objects
 * are bumped out of a few growing blocks that go in one walk. The objects are ordinary
 * redisReply structs, so the code reading them does not change. */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "rds_int.h"

#define BLK_FIRST 4096
#define BLK_MAX (256 * 1024)
#define ALIGN(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

typedef struct blk {
    struct blk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} blk_t;

/* Lives at the start of the first block; the root reply is inside it, so any object's root
 * task leads back to it. */
typedef struct arena {
    blk_t *first, *cur;
    redisReply root;
} arena_t;

static blk_t *blk_new(size_t cap)
{
    blk_t *b = malloc(sizeof(*b) + cap);
    if (b) {
        b->next = NULL;
        b->used = 0;
        b->cap = cap;
    }
    return b;
}

static void *bump(arena_t *a, size_t n)
{
    n = ALIGN(n);
    blk_t *b = a->cur;
    if (b->cap - b->used < n) {
        size_t cap = b->cap * 2 > BLK_MAX ? BLK_MAX : b->cap * 2;
        if (!(b->next = blk_new(n > cap ? n : cap)))
            return NULL;
        b = a->cur = b->next;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* A new reply object of type for task t, linked into its parent, and its arena (*ap, when ap
 * is not NULL); the root opens the arena. */
static redisReply *object(const redisReadTask *t, int type, arena_t **ap)
{
    redisReply *r;
    arena_t *a;
    if (!t->parent) {
        blk_t *b = blk_new(BLK_FIRST);
        if (!b)
            return NULL;
        a = (arena_t *)(void *)b->data;
        b->used = ALIGN(sizeof(*a));
        a->first = a->cur = b;
        r = &a->root;
    } else {
        const redisReadTask *root = t->parent;
        while (root->parent)
            root = root->parent;
        a = DG_CONTAINER_OF((redisReply *)root->obj, arena_t, root);
        if (!(r = bump(a, sizeof(*r))))
            return NULL;
        ((redisReply *)t->parent->obj)->element[t->idx] = r;
    }
    memset(r, 0, sizeof(*r));
    r->type = type;
    if (ap)
        *ap = a;
    return r;
}

static void *create_string(const redisReadTask *t, char *str, size_t len)
{
    arena_t *a;
    redisReply *r = object(t, t->type, &a);
    if (!r || !(r->str = bump(a, len + 1)))
        return NULL; /* hiredis frees the reply so far through free_object */
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *t, int elements)
{
    arena_t *a;
    redisReply *r = object(t, REDIS_REPLY_ARRAY, &a);
    if (!r)
        return NULL;
    if (elements > 0) {
        size_t n = (size_t)elements * sizeof(*r->element);
        if (!(r->element = bump(a, n)))
            return NULL;
        memset(r->element, 0, n);
    }
    r->elements = (size_t)elements;
    return r;
}

static void *create_integer(const redisReadTask *t, long long v)
{
    redisReply *r = object(t, REDIS_REPLY_INTEGER, NULL);
    if (r)
        r->integer = v;
    return r;
}

static void *create_nil(const redisReadTask *t)
{
    return object(t, REDIS_REPLY_NIL, NULL);
}

static void free_object(void *root)
{
    if (!root)
        return;
    blk_t *b = DG_CONTAINER_OF((redisReply *)root, arena_t, root)->first;
    while (b) {
        blk_t *next = b->next;
        free(b);
        b = next;
    }
}

static redisReplyObjectFunctions arena_fns = {create_string, create_array, create_integer,
                                              create_nil, free_object};

redisReplyObjectFunctions *rds_reply_arena(void)
{
    return &arena_fns;
}

void rds_reply_free(void *reply)
{
    free_object(reply);
}
