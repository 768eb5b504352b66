/* htab.h - dualgate's one hash table: intrusive, chained, keyed by NUL-terminated strings
 * (room names, Engine.IO sids, peer addresses). The node lives inside the owner and points at
 * the owner's key, so inserting never copies the key; the bucket array doubles as it fills.
 * Not thread-safe: whoever owns the table guards it. It is not an allocator for entries. */
#ifndef HTAB_H
#define HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct ht_node {
    struct ht_node *next; /* private */
    uint32_t hash;        /* private */
    const char *key;      /* read-only: set by ht_insert, must stay valid while inserted */
} ht_node_t;

typedef struct ht {
    ht_node_t **buckets; /* private */
    uint32_t nbuckets;   /* private: a power of two */
    uint32_t n;          /* read-only: entries */
} ht_t;

/* FNV-1a of s. */
uint32_t ht_hash(const char *s);

/* Prepares an empty table of initial (rounded up to a power of two) buckets.
 * Returns 0 or DG_ENOMEM. */
int ht_init(ht_t *t, uint32_t initial);
/* Frees the buckets (entries are the owner's); t must be initialised again before reuse. */
void ht_free(ht_t *t);

/* The node with key, or NULL. */
ht_node_t *ht_find(const ht_t *t, const char *key);
/* Inserts node under key (not copied); a key may be inserted once (the caller checks with
 * ht_find). Grows the table when it is full; a failed growth leaves longer chains, still correct. */
void ht_insert(ht_t *t, ht_node_t *node, const char *key);
/* Removes node. Returns 0, or DG_ENOTFOUND when it is not in t. */
int ht_remove(ht_t *t, ht_node_t *node);

/* Any one entry (for draining a table), or NULL when empty. */
ht_node_t *ht_any(const ht_t *t);

/* A walk over every entry; the table must not change during it. */
typedef struct ht_iter {
    uint32_t bucket;  /* private */
    ht_node_t *next;  /* private */
} ht_iter_t;
void ht_iter_init(const ht_t *t, ht_iter_t *it);
/* The next entry, or NULL at the end. */
ht_node_t *ht_iter_next(const ht_t *t, ht_iter_t *it);

#endif
