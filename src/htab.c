/* htab.c - chained hash table over intrusive nodes; doubles its bucket array when full. */
#include "htab.h"

#include <stdlib.h>
#include <string.h>

#include "dg.h"

uint32_t ht_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int ht_init(ht_t *t, uint32_t initial)
{
    uint32_t n = 8;
    while (n < initial && n < (1u << 30))
        n <<= 1;
    t->buckets = calloc(n, sizeof(*t->buckets));
    t->nbuckets = t->buckets ? n : 0;
    t->n = 0;
    return t->buckets ? DG_OK : DG_ENOMEM;
}

void ht_free(ht_t *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = t->n = 0;
}

ht_node_t *ht_find(const ht_t *t, const char *key)
{
    if (!t->nbuckets)
        return NULL;
    uint32_t h = ht_hash(key);
    for (ht_node_t *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void grow(ht_t *t)
{
    uint32_t n = t->nbuckets * 2;
    ht_node_t **nb = n ? calloc(n, sizeof(*nb)) : NULL;
    if (!nb)
        return;
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        for (ht_node_t *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

void ht_insert(ht_t *t, ht_node_t *node, const char *key)
{
    if (t->n >= t->nbuckets)
        grow(t);
    node->key = key;
    node->hash = ht_hash(key);
    ht_node_t **b = &t->buckets[node->hash & (t->nbuckets - 1)];
    node->next = *b;
    *b = node;
    t->n++;
}

int ht_remove(ht_t *t, ht_node_t *node)
{
    if (!t->nbuckets)
        return DG_ENOTFOUND;
    for (ht_node_t **pp = &t->buckets[node->hash & (t->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == node) {
            *pp = node->next;
            node->next = NULL;
            t->n--;
            return DG_OK;
        }
    }
    return DG_ENOTFOUND;
}

ht_node_t *ht_any(const ht_t *t)
{
    for (uint32_t i = 0; t->n && i < t->nbuckets; i++)
        if (t->buckets[i])
            return t->buckets[i];
    return NULL;
}

void ht_iter_init(const ht_t *t, ht_iter_t *it)
{
    it->bucket = 0;
    it->next = t->nbuckets ? t->buckets[0] : NULL;
}

ht_node_t *ht_iter_next(const ht_t *t, ht_iter_t *it)
{
    while (!it->next) {
        if (++it->bucket >= t->nbuckets)
            return NULL;
        it->next = t->buckets[it->bucket];
    }
    ht_node_t *n = it->next;
    it->next = n->next;
    return n;
}
