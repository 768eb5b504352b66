/* list.h - an intrusive, circular, doubly linked list (h2o's linklist): the node lives inside
 * the owner, so linking and unlinking never allocate and unlinking is O(1). Used for every FIFO
 * in dualgate (DG_CONTAINER_OF in dg.h gets the owner back). Not thread-safe: whoever owns the list guards it. Header-only. */
#ifndef LIST_H
#define LIST_H

#include <stddef.h>

typedef struct list {
    struct list *prev, *next; /* private; a node or a head; unlinked nodes point at NULL */
} list_t;

/* A head is an empty list pointing at itself. */
static inline void list_init(list_t *head)
{
    head->prev = head->next = head;
}

static inline int list_empty(const list_t *head)
{
    return head->next == head;
}

/* 1 when node is on some list (nodes start zeroed, i.e. unlinked). */
static inline int list_linked(const list_t *node)
{
    return node->next != NULL;
}

static inline void list_insert_before(list_t *pos, list_t *node)
{
    node->prev = pos->prev;
    node->next = pos;
    pos->prev->next = node;
    pos->prev = node;
}

/* Appends node at the tail of head (FIFO order). */
static inline void list_push(list_t *head, list_t *node)
{
    list_insert_before(head, node);
}

static inline void list_unlink(list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}

/* The first node, or NULL when empty. */
static inline list_t *list_first(const list_t *head)
{
    return list_empty(head) ? NULL : head->next;
}

/* Moves every node of from to the tail of to; from is empty afterwards. */
static inline void list_splice(list_t *to, list_t *from)
{
    if (list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    list_init(from);
}

#endif
