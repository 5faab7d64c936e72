/* kc_ipc_map.c - the id map behind the awaiter and handler tables.
 *
 * A chained hash of intrusive nodes keyed by a 32-bit request id, with
 * power-of-two buckets that double when the load passes 2. Request ids
 * are sequential, so the low bits spread them evenly; a multiplicative
 * mix guards against patterns anyway. The caller holds the lock that
 * guards the map; nothing here blocks. A failed growth leaves the map as
 * it was (longer chains, still correct).
 */
#include "kc_ipc_impl.h"

#include <stdlib.h>

static uint32_t slot(const struct kc_idmap *m, uint32_t id)
{
    return (id * 2654435761u) >> 8 & m->mask;
}

int kc__idmap_init(struct kc_idmap *m)
{
    m->mask = 15;
    m->count = 0;
    m->b = calloc(m->mask + 1, sizeof *m->b);
    return m->b ? 0 : -ENOMEM;
}

void kc__idmap_free(struct kc_idmap *m)
{
    free(m->b);
    m->b = NULL;
}

struct kc_idmap_node *kc__idmap_find(const struct kc_idmap *m, uint32_t id)
{
    for (struct kc_idmap_node *n = m->b[slot(m, id)]; n; n = n->next)
        if (n->id == id)
            return n;
    return NULL;
}

static void grow(struct kc_idmap *m)
{
    uint32_t nmask = m->mask * 2 + 1;
    struct kc_idmap_node **nb = calloc((size_t)nmask + 1, sizeof *nb);
    if (nb == NULL)
        return;
    struct kc_idmap old = *m;
    m->b = nb;
    m->mask = nmask;
    for (uint32_t i = 0; i <= old.mask; i++) {
        struct kc_idmap_node *n = old.b[i];
        while (n) {
            struct kc_idmap_node *next = n->next;
            uint32_t s = slot(m, n->id);
            n->next = m->b[s];
            m->b[s] = n;
            n = next;
        }
    }
    free(old.b);
}

void kc__idmap_put(struct kc_idmap *m, struct kc_idmap_node *n)
{
    if (m->count >= 2 * (m->mask + 1) && m->mask < (1u << 24))
        grow(m);
    uint32_t s = slot(m, n->id);
    n->next = m->b[s];
    m->b[s] = n;
    m->count++;
}

bool kc__idmap_del(struct kc_idmap *m, struct kc_idmap_node *n)
{
    for (struct kc_idmap_node **pp = &m->b[slot(m, n->id)]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            m->count--;
            return true;
        }
    }
    return false;
}

struct kc_idmap_node *kc__idmap_pop(struct kc_idmap *m)
{
    if (m->count == 0)
        return NULL;
    for (uint32_t i = 0; i <= m->mask; i++) {
        struct kc_idmap_node *n = m->b[i];
        if (n) {
            m->b[i] = n->next;
            n->next = NULL;
            m->count--;
            return n;
        }
    }
    return NULL;
}
