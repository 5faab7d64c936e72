/* kc_cancel.c - cancellation tokens: a fired flag, callbacks, child tokens.
 *
 * A token is a one-way flag plus a list of registrations under a futex lock.
 * Firing sets the flag, then takes the registrations off the list one at a
 * time and runs each callback with the lock dropped, so a callback may do
 * anything short of blocking (including firing other tokens). A child token
 * is just a registration on its parent whose callback fires the child, so
 * hierarchies need no lock nesting.
 *
 * Registration states (kc_cancel_reg_t.state):
 *
 *   state    event                               next     done by
 *   -------  ----------------------------------  -------  ----------------------
 *   IDLE     registered on an untriggered token   LISTED   kc_cancel_register
 *   IDLE     token already fired                  IDLE     kc_cancel_register
 *   LISTED   withdrawn                            IDLE     kc_cancel_unregister
 *   LISTED   token fires: taken off the list      RUNNING  kc_cancel_trigger
 *   RUNNING  a withdrawer on another thread waits +WAITER  kc_cancel_unregister
 *   RUNNING  callback returned                    DONE     kc_cancel_trigger
 *
 * Invariants:
 *   C1  once `fired` is 1 it stays 1, and no registration is added after.
 *   C2  a registration is LISTED iff it is on its token's list; nregs counts
 *       the list.
 *   C3  each callback runs at most once, on the firing thread.
 *   C4  kc_cancel_unregister() returns only when the callback is not running
 *       on another thread, so the registration's memory may be reused.
 *   C5  (the lifetime rule) `users` counts what may still touch the token:
 *       each registration from kc_cancel_register until its
 *       kc_cancel_unregister (fired or not), each hold of a waiting call
 *       (kc__cancel_hold .. kc__cancel_release), and a kc_cancel_trigger
 *       from its flag exchange to its last unlock. kc_cancel_destroy frees
 *       the token only when users is 0; each user's decrement is its last
 *       touch (a release, or under the lock), so it happens before the free.
 */
#include "sched/kc_sched_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

enum {
    REG_IDLE = 0,
    REG_LISTED = 1,
    REG_RUNNING = 2,
    REG_DONE = 3,
    REG_WAITER = 4
};

/* How long an unregister spins on a running callback before it sleeps. */
enum {
    KC_CANCEL_SPINS = 128
};

struct kc_cancel {
    _Atomic uint32_t fired; /* C1 */
    kc_lock_t lock;
    kc_cancel_reg_t *head; /* guarded by lock (C2) */
    unsigned nregs;        /* guarded by lock */
    struct kc_cancel *parent;
    kc_cancel_reg_t parent_reg; /* our registration on the parent */
    _Atomic uint32_t users;     /* C5 */
};

static _Thread_local char thread_tag;

/* A per-thread address that identifies the calling thread. Never inlined
 * (ARCHITECTURE.md section 6): a coroutine asking twice across a yield may
 * get two different answers, which is the point. */
__attribute__((noinline)) const void *kc__thread_tag(void)
{
    const void *p = &thread_tag;
    __asm__ volatile("" : "+r"(p)::"memory");
    return p;
}

bool kc__cancel_fired_sc(const kc_cancel_t *c)
{
    /* seq_cst: pairs with the exchange in kc_cancel_trigger (Dekker with
     * kc_park's CAS to WAITING, see kc_park.c) */
    return c != NULL && atomic_load_explicit(&c->fired, memory_order_seq_cst) != 0;
}

static kc_cancel_t *unconst(const kc_cancel_t *c)
{
    return (kc_cancel_t *)(uintptr_t)c; /* waiters register; the flag is untouched */
}

static void fire_child(void *arg)
{
    kc_cancel_trigger(arg);
}

int kc_cancel_create(kc_cancel_t **out, const kc_cancel_t *parent)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    kc_cancel_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    if (parent != NULL) {
        c->parent = unconst(parent);
        if (kc_cancel_register(parent, &c->parent_reg, fire_child, c) == -ECANCELED)
            atomic_store_explicit(&c->fired, 1, memory_order_relaxed); /* born fired */
    }
    *out = c;
    return 0;
}

int kc_cancel_destroy(kc_cancel_t *c)
{
    if (c == NULL)
        return 0;
    kc__lock(&c->lock);
    /* acquire: pairs with kc__cancel_release's release (C5) */
    unsigned n = atomic_load_explicit(&c->users, memory_order_acquire);
    kc__unlock(&c->lock);
    if (n != 0)
        return -EBUSY;
    if (c->parent != NULL)
        kc_cancel_unregister(&c->parent_reg); /* waits if the parent is firing us */
    free(c);
    return 0;
}

unsigned kc__cancel_users(const kc_cancel_t *c)
{
    /* acquire: as kc_cancel_destroy */
    return c != NULL ? atomic_load_explicit(&c->users, memory_order_acquire) : 0;
}

void kc__cancel_hold(const kc_cancel_t *c)
{
    /* seq_cst: a destroy ordered after this call sees the hold */
    atomic_fetch_add_explicit(&unconst(c)->users, 1, memory_order_seq_cst);
}

void kc__cancel_release(const kc_cancel_t *c)
{
    /* release: pairs with kc_cancel_destroy's acquire load (C5) */
    atomic_fetch_sub_explicit(&unconst(c)->users, 1, memory_order_release);
}

bool kc_cancel_is_triggered(const kc_cancel_t *c)
{
    /* acquire: pairs with the exchange in kc_cancel_trigger, so a caller that
     * sees the flag also sees what the canceller wrote before firing */
    return c != NULL && atomic_load_explicit(&c->fired, memory_order_acquire) != 0;
}

static void unlink_reg(kc_cancel_t *c, kc_cancel_reg_t *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    c->nregs--;
}

int kc_cancel_trigger(kc_cancel_t *c)
{
    if (c == NULL)
        return -EINVAL;
    const void *me = kc__thread_tag();
    kc__lock(&c->lock);
    /* seq_cst: release pairs with the acquire loads of kc_cancel_is_triggered;
     * seq_cst orders it against the parker's CAS to WAITING (kc_park.c).
     * Under the lock, so this call is a user (C5) before anyone can see
     * the token fired and go on to destroy it. */
    if (atomic_exchange_explicit(&c->fired, 1, memory_order_seq_cst) != 0) {
        kc__unlock(&c->lock);
        return 0;
    }
    atomic_fetch_add_explicit(&c->users, 1, memory_order_relaxed); /* under the lock */
    kc_cancel_reg_t *r;
    while ((r = c->head) != NULL) {
        unlink_reg(c, r);
        r->runner = me;
        atomic_store_explicit(&r->state, REG_RUNNING, memory_order_relaxed); /* under lock */
        kc__unlock(&c->lock);
        r->fn(r->arg); /* C3 */
        uint32_t exp = REG_RUNNING;
        /* release: pairs with the acquire loads in kc_cancel_unregister, so
         * the withdrawer sees everything the callback did */
        if (!atomic_compare_exchange_strong_explicit(&r->state, &exp, REG_DONE,
                                                     memory_order_release, memory_order_relaxed)) {
            /* release: as above; a withdrawer sleeps on the word */
            atomic_store_explicit(&r->state, REG_DONE, memory_order_release);
            kc__futex_wake(&r->state, INT_MAX);
        }
        kc__lock(&c->lock);
    }
    atomic_fetch_sub_explicit(&c->users, 1, memory_order_relaxed); /* under the lock */
    kc__unlock(&c->lock);                                          /* the last touch of c */
    return 1;
}

int kc_cancel_register(const kc_cancel_t *cc, kc_cancel_reg_t *r, kc_cancel_fn_t fn, void *arg)
{
    if (cc == NULL || r == NULL || fn == NULL)
        return -EINVAL;
    kc_cancel_t *c = unconst(cc);
    r->size = sizeof(*r);
    r->fn = fn;
    r->arg = arg;
    r->token = NULL; /* set once listed: only then does unregister touch c */
    r->runner = NULL;
    r->prev = r->next = NULL;
    atomic_store_explicit(&r->state, REG_IDLE, memory_order_relaxed);
    if (kc_cancel_is_triggered(c))
        return -ECANCELED;
    kc__lock(&c->lock);
    /* relaxed: the lock orders this after the firer's exchange (C1) */
    if (atomic_load_explicit(&c->fired, memory_order_relaxed) != 0) {
        kc__unlock(&c->lock);
        return -ECANCELED;
    }
    r->next = c->head;
    if (c->head != NULL)
        c->head->prev = r;
    c->head = r;
    c->nregs++;
    r->token = c;
    atomic_fetch_add_explicit(&c->users, 1, memory_order_relaxed);      /* under the lock (C5) */
    atomic_store_explicit(&r->state, REG_LISTED, memory_order_relaxed); /* under lock */
    kc__unlock(&c->lock);
    return 0;
}

int kc_cancel_unregister(kc_cancel_reg_t *r)
{
    if (r == NULL)
        return -EINVAL;
    kc_cancel_t *c = r->token;
    if (c == NULL)
        return 0;
    kc__lock(&c->lock);
    uint32_t s = atomic_load_explicit(&r->state, memory_order_relaxed);
    const void *runner = r->runner;
    if (s == REG_LISTED) {
        unlink_reg(c, r);
        atomic_store_explicit(&r->state, REG_IDLE, memory_order_relaxed);
    }
    r->token = NULL; /* withdrawn or fired: a second unregister returns at once */
    atomic_fetch_sub_explicit(&c->users, 1, memory_order_relaxed); /* under the lock (C5) */
    kc__unlock(&c->lock); /* the last touch of c: what follows waits on r only */
    if (s == REG_LISTED || s == REG_IDLE)
        return 0;
    if (runner == kc__thread_tag())
        return 1; /* called from the callback itself (or one it triggered) */
    /* C4: wait for the callback to return. acquire: pairs with the release
     * in kc_cancel_trigger. */
    for (int i = 0; i < KC_CANCEL_SPINS; i++) {
        if (atomic_load_explicit(&r->state, memory_order_acquire) == REG_DONE)
            return 1;
        kc__port_relax();
    }
    uint32_t exp = REG_RUNNING;
    atomic_compare_exchange_strong_explicit(&r->state, &exp, REG_RUNNING | REG_WAITER,
                                            memory_order_relaxed, memory_order_relaxed);
    /* acquire: pairs with the release store of DONE in kc_cancel_trigger */
    while (atomic_load_explicit(&r->state, memory_order_acquire) != REG_DONE)
        kc__futex_wait(&r->state, REG_RUNNING | REG_WAITER, -1);
    return 1;
}
