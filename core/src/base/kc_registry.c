/* kc_registry.c - the process-wide list of named objects (kcoro/registry.h).
 *
 * A doubly linked list of registrations under one mutex, appended at the
 * tail so a walk shows the oldest first. Only creation and destruction of
 * registered objects and the walks take the mutex; no operation on an
 * object does, which is what makes registration free on the hot paths.
 *
 * A visitor runs with the mutex held, so it may snapshot the object it is
 * shown (whose destroy waits in kc_registry_remove). It may also add or
 * remove registrations: the walking thread is marked (a thread-local flag),
 * and its own add and remove then work on the list directly, the remove
 * moving the walk's cursor past the entry it unlinks.
 *
 * Invariants:
 *   R1  every node is on the list exactly once, from kc_registry_add to
 *       kc_registry_remove, and count equals the list's length;
 *   R2  cursor[i] (i < depth) is NULL or the next node walk i visits;
 *   R3  ids are unique: one atomic counter hands them out.
 */
#include "kcoro/registry.h"

#include "port/kc_port.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kc_registry_node {
    struct kc_registry_node *prev, *next;
    kc_registry_entry_t e;
    char name[KC_REGISTRY_NAME_MAX];
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kc_registry_node *head, *tail; /* guarded by reg_mu (R1) */

/* Nodes come from slabs of NODE_SLAB and go back to a free list, never to
 * malloc: registering an object allocates nothing between it and the next
 * object the program creates, so a registered channel or scheduler lands
 * where it would have unregistered (the heap layout is the same, which is
 * what obs.registry_overhead compares). The registry keeps the memory of
 * its peak: NODE_SLAB nodes a slab. */
#define NODE_SLAB 32
struct node_slab {
    struct node_slab *next;
    struct kc_registry_node n[NODE_SLAB];
};
static struct node_slab *slabs;             /* guarded by reg_mu */
static struct kc_registry_node *free_nodes; /* guarded by reg_mu; linked by next */
/* The next node of each walk in progress on the walking thread: nested
 * walks (a visitor that walks again) stack up to WALK_DEPTH. */
#define WALK_DEPTH 4
static struct kc_registry_node *cursor[WALK_DEPTH]; /* guarded by reg_mu (R2) */
static int depth;                                   /* guarded by reg_mu */
static size_t count;                                /* guarded by reg_mu */
static _Atomic uint64_t next_id = 1;                /* R3 */
/* Kinds the process-wide switch registers; bit 0 says it was set. */
static _Atomic uint32_t switch_mask;
static _Thread_local bool walking; /* this thread runs a visitor (holds reg_mu) */

#define SWITCH_SET 1u

static const char *const kind_names[] = {NULL,    "chan", "bus",        "arena",
                                         "sched", "conn", "remote_chan"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *kc_registry_kind_name(uint32_t kind)
{
    return kind > 0 && kind < NKINDS ? kind_names[kind] : "object";
}

/* Parse a switch spec into a mask (with SWITCH_SET), or 0 when a word is
 * unknown. */
static uint32_t parse_spec(const char *spec)
{
    uint32_t mask = SWITCH_SET;
    const char *p = spec;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == 3 && strncmp(p, "all", 3) == 0) {
            mask |= KC_REGISTRY_ALL;
        } else if (n == 4 && strncmp(p, "none", 4) == 0) {
            mask = SWITCH_SET;
        } else if (n > 0) {
            uint32_t k = 1;
            while (k < NKINDS && (strlen(kind_names[k]) != n || strncmp(p, kind_names[k], n) != 0))
                k++;
            if (k == NKINDS)
                return 0;
            mask |= KC_REGISTRY_MASK(k);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return mask;
}

int kc_registry_configure(const char *spec)
{
    if (spec == NULL)
        return -EINVAL;
    uint32_t m = parse_spec(spec);
    if (m == 0)
        return -EINVAL;
    atomic_store_explicit(&switch_mask, m, memory_order_relaxed);
    return 0;
}

static uint32_t current_switch(void)
{
    uint32_t m = atomic_load_explicit(&switch_mask, memory_order_relaxed);
    if (m != 0)
        return m;
    const char *env = getenv("KCORO_REGISTRY");
    const char *mon = getenv("KCORO_MONITOR"); /* a monitor with nothing to show is no use */
    m = env != NULL                     ? parse_spec(env)
        : mon != NULL && mon[0] != '\0' ? (SWITCH_SET | KC_REGISTRY_ALL)
                                        : SWITCH_SET;
    if (m == 0) {
        fprintf(stderr, "kcoro: KCORO_REGISTRY='%s' not understood; nothing registered\n", env);
        m = SWITCH_SET;
    }
    uint32_t zero = 0;
    /* relaxed: the mask is a plain value; a racing configure wins */
    atomic_compare_exchange_strong_explicit(&switch_mask, &zero, m, memory_order_relaxed,
                                            memory_order_relaxed);
    return atomic_load_explicit(&switch_mask, memory_order_relaxed);
}

bool kc_registry_wants(uint32_t kind, uint32_t flags)
{
    if (kind == 0 || kind > KC_REGISTRY_KIND_MAX)
        return false;
    return (flags & KC_REGISTRY_FLAG) != 0 || (current_switch() & KC_REGISTRY_MASK(kind)) != 0;
}

uint64_t kc_registry_new_id(void)
{
    return atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
}

static void lock(void)
{
    if (!walking)
        pthread_mutex_lock(&reg_mu);
}

static void unlock(void)
{
    if (!walking)
        pthread_mutex_unlock(&reg_mu);
}

/* A zeroed node from the free list, or NULL (no memory for a slab). The
 * lock is held. */
static struct kc_registry_node *node_get(void)
{
    if (free_nodes == NULL) {
        struct node_slab *sl = calloc(1, sizeof(*sl));
        if (sl == NULL)
            return NULL;
        sl->next = slabs;
        slabs = sl;
        for (int i = NODE_SLAB - 1; i >= 0; i--) {
            sl->n[i].next = free_nodes;
            free_nodes = &sl->n[i];
        }
    }
    struct kc_registry_node *n = free_nodes;
    free_nodes = n->next;
    memset(n, 0, sizeof(*n));
    return n;
}

int kc_registry_add(uint32_t kind, void *object, uint64_t id, const char *name,
                    const kc_registry_ops_t *ops, kc_registry_node_t **out)
{
    if (object == NULL || out == NULL || kind == 0 || kind > KC_REGISTRY_KIND_MAX)
        return -EINVAL;
    lock();
    struct kc_registry_node *n = node_get();
    unlock();
    if (n == NULL)
        return -ENOMEM;
    n->e.size = sizeof(n->e);
    n->e.kind = kind;
    n->e.id = id != 0 ? id : kc_registry_new_id();
    n->e.object = object;
    n->e.ops = ops;
    n->e.registered_ns = kc__port_now_ns();
    if (name != NULL && name[0] != '\0')
        snprintf(n->name, sizeof(n->name), "%s", name);
    else
        snprintf(n->name, sizeof(n->name), "%s-%llu", kc_registry_kind_name(kind),
                 (unsigned long long)n->e.id);
    n->e.name = n->name;
    lock();
    n->prev = tail;
    if (tail != NULL)
        tail->next = n;
    else
        head = n;
    tail = n;
    count++;
    unlock();
    *out = n;
    return 0;
}

void kc_registry_remove(kc_registry_node_t *n)
{
    if (n == NULL)
        return;
    lock();
    for (int i = 0; i < depth; i++)
        if (cursor[i] == n)
            cursor[i] = n->next; /* R2 */
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        tail = n->prev;
    count--;
    n->next = free_nodes;
    free_nodes = n;
    unlock();
}

uint64_t kc_registry_node_id(const kc_registry_node_t *n)
{
    return n != NULL ? n->e.id : 0;
}

const char *kc_registry_node_name(const kc_registry_node_t *n)
{
    return n != NULL ? n->name : "";
}

int kc_registry_foreach(uint32_t kinds, kc_registry_visit_fn fn, void *arg)
{
    if (fn == NULL)
        return -EINVAL;
    bool nested = walking; /* a visitor walking again: the lock is ours */
    if (nested && depth == WALK_DEPTH)
        return -EDEADLK;
    if (kinds == 0)
        kinds = KC_REGISTRY_ALL;
    int rc = 0;
    if (!nested)
        pthread_mutex_lock(&reg_mu);
    walking = true;
    int me = depth++;
    for (struct kc_registry_node *n = head; n != NULL && rc == 0; n = cursor[me]) {
        cursor[me] = n->next; /* R2: a remove of that node moves it on */
        if ((kinds & KC_REGISTRY_MASK(n->e.kind)) != 0)
            rc = fn(&n->e, arg);
    }
    cursor[me] = NULL;
    depth--;
    if (!nested) {
        walking = false;
        pthread_mutex_unlock(&reg_mu);
    }
    return rc;
}

size_t kc_registry_count(uint32_t kinds)
{
    if (kinds == 0)
        kinds = KC_REGISTRY_ALL;
    size_t c = 0;
    lock();
    if (kinds == KC_REGISTRY_ALL) {
        c = count;
    } else {
        for (const struct kc_registry_node *n = head; n != NULL; n = n->next)
            c += (kinds & KC_REGISTRY_MASK(n->e.kind)) != 0;
    }
    unlock();
    return c;
}
