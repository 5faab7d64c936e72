/* kc_context.c - task-local context (kcoro/context.h).
 *
 * A task's context is a table of entry pointers indexed by key id (ids are
 * handed out from 1 the first time a key is set, up to KC_CTX_MAX_KEYS).
 * An entry is a value, its key's destructor and a reference count: every
 * task whose table points at it holds one reference. Only the task itself
 * writes its table (set, and its finish); a scope child's table is filled
 * from its parent's by the parent, while it spawns, before the child can
 * run. So tables need no lock, and only the counts are atomic.
 *
 * Invariants:
 *   C1  an entry's count is the number of tables pointing at it;
 *   C2  the destructor runs when a count drops to 0, once (the one thread
 *       whose decrement took it from 1 to 0 runs it and frees the entry);
 *   C3  a table never outlives its task: kc__ctx_release runs at finish.
 */
#include "kcoro/context.h"

#include "sched/kc_sched_impl.h"

#include <stdlib.h>

struct kc_ctx_entry {
    _Atomic uint32_t refs;
    void *value;
    kc_ctx_dtor_t dtor;
};

struct kc_ctx {
    uint32_t n; /* slots in e */
    struct kc_ctx_entry *e[];
};

static _Atomic uint32_t next_key_id;

static void entry_put(struct kc_ctx_entry *e)
{
    /* acq_rel: the last one sees every holder's use of the value (C2) */
    if (e != NULL && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        if (e->dtor != NULL)
            e->dtor(e->value);
        free(e);
    }
}

/* The key's id, handed out on first use; 0 when the ids ran out. */
static uint32_t key_id(kc_ctx_key_t *key)
{
    uint32_t id = atomic_load_explicit(&key->id, memory_order_acquire);
    if (id != 0)
        return id;
    uint32_t mine = atomic_fetch_add_explicit(&next_key_id, 1, memory_order_relaxed) + 1;
    if (mine >= KC_CTX_MAX_KEYS)
        return 0;
    /* acq_rel: a racing first use of the same key keeps the winner's id */
    if (!atomic_compare_exchange_strong_explicit(&key->id, &id, mine, memory_order_acq_rel,
                                                 memory_order_acquire))
        return id;
    return mine;
}

/* A table of at least n slots holding t's entries (t's own grows). */
static struct kc_ctx *table_fit(struct kc_ctx *old, uint32_t n)
{
    if (old != NULL && old->n >= n)
        return old;
    uint32_t cap = old != NULL && old->n * 2 > n ? old->n * 2 : (n < 8 ? 8 : n);
    if (cap > KC_CTX_MAX_KEYS)
        cap = KC_CTX_MAX_KEYS;
    struct kc_ctx *c = calloc(1, sizeof(*c) + cap * sizeof(c->e[0]));
    if (c == NULL)
        return NULL;
    c->n = cap;
    for (uint32_t i = 0; old != NULL && i < old->n; i++)
        c->e[i] = old->e[i];
    free(old);
    return c;
}

int kc_ctx_set(kc_ctx_key_t *key, void *value)
{
    if (key == NULL || key->size != sizeof(*key))
        return -EINVAL;
    struct kc_task *t = kc__task_self();
    if (t == NULL)
        return -EPERM;
    uint32_t id = key_id(key);
    if (id == 0)
        return -ENOMEM;
    struct kc_ctx_entry *e = NULL;
    if (value != NULL) {
        e = malloc(sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        atomic_init(&e->refs, 1);
        e->value = value;
        e->dtor = key->dtor;
    }
    struct kc_ctx *c = t->ctx;
    if (c == NULL || id >= c->n) {
        if (e == NULL)
            return 0; /* clearing what was never set */
        c = table_fit(c, id + 1);
        if (c == NULL) {
            free(e);
            return -ENOMEM;
        }
        t->ctx = c;
    }
    struct kc_ctx_entry *old = c->e[id];
    c->e[id] = e;
    entry_put(old);
    return 0;
}

void *kc_ctx_get(const kc_ctx_key_t *key)
{
    if (key == NULL)
        return NULL;
    uint32_t id = atomic_load_explicit(&key->id, memory_order_relaxed);
    struct kc_task *t = id != 0 ? kc__task_self() : NULL;
    if (t == NULL || t->ctx == NULL || id >= t->ctx->n || t->ctx->e[id] == NULL)
        return NULL;
    return t->ctx->e[id]->value;
}

int kc__ctx_inherit(struct kc_task *child, const struct kc_task *parent)
{
    const struct kc_ctx *p = parent->ctx;
    if (p == NULL)
        return 0;
    struct kc_ctx *c = table_fit(NULL, p->n);
    if (c == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < p->n; i++) {
        c->e[i] = p->e[i];
        if (c->e[i] != NULL) /* relaxed: the parent's own reference keeps it alive */
            atomic_fetch_add_explicit(&c->e[i]->refs, 1, memory_order_relaxed);
    }
    child->ctx = c;
    return 0;
}

void kc__ctx_release(struct kc_task *t)
{
    struct kc_ctx *c = t->ctx;
    if (c == NULL)
        return;
    t->ctx = NULL;
    for (uint32_t i = 0; i < c->n; i++)
        entry_put(c->e[i]);
    free(c);
}
