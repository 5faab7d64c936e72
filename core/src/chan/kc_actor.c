/* kc_actor.c - actors (kcoro/actor.h): a scope child, a mailbox, a handler.
 *
 * Built on the public API only: the mailbox is a BUFFERED channel of
 * envelopes (an ask pointer, then the message), the actor a coroutine of
 * its scope, and `done` a rendezvous channel the actor closes as the last
 * thing it does, which is how kc_actor_destroy waits for it.
 *
 * An ask's future is allocated (the asker may give up and return while
 * its message is still queued) and holds two references, the asker's and
 * the actor's; whoever drops the last frees it. Its state word decides who
 * wins a race between the answer and the asker giving up:
 *
 *   future    event                                    next       by
 *   --------  ---------------------------------------  ---------  ------------
 *   PENDING   the handler answered: reply written,     DONE       actor (CAS),
 *             then unpark                                         then unpark
 *   PENDING   the asker's wait ended (timeout, token)  ABANDONED  asker (CAS)
 *   ABANDONED the actor gets to it: drops its answer   (freed)    actor
 *   DONE      the asker reads reply and status         (freed)    asker
 *
 * The reply and status are written before the CAS to DONE, so an asker
 * that loses its CAS (the answer won) reads a complete answer.
 */
#include "kcoro/actor.h"

#include "kcoro/chan.h"
#include "kcoro/park.h"
#include "kcoro/sched.h"
#include "sched/kc_sched_svc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum {
    ASK_PENDING = 0,
    ASK_DONE = 1,
    ASK_ABANDONED = 2,
    KC_ACTOR_MAILBOX_DEFAULT = 64
};

struct kc_ask {
    _Atomic uint32_t refs;
    _Atomic uint32_t state;
    int status;
    kc_parker_t parker; /* the asker's */
    _Alignas(max_align_t) unsigned char reply[];
};

/* The envelope: the ask (NULL for a tell), then the message, aligned. */
struct env_head {
    struct kc_ask *ask;
};
#define ENV_HEAD                                                                                   \
    ((sizeof(struct env_head) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

struct kc_actor {
    kc_chan_t *mailbox, *done;
    kc_actor_fn_t fn;
    kc_actor_init_fn_t init;
    void *state;
    size_t msg_size, reply_size, env_size;
    kc_actor_policy_t policy;
    int max_restarts;
    _Atomic int restarts;
    _Atomic uint64_t self_id; /* the actor's coroutine id once it runs */
    int status;               /* written before `done` is closed */
};

static void ask_put(struct kc_ask *f)
{
    /* acq_rel: the last one sees the other side's writes before freeing */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

/* The actor's side of an ask: answer it, unless the asker gave up. */
static void answer(struct kc_ask *f, int status, const void *reply, size_t reply_size)
{
    if (reply != NULL && reply_size > 0)
        memcpy(f->reply, reply, reply_size);
    f->status = status;
    uint32_t e = ASK_PENDING;
    /* acq_rel: publishes reply and status to the asker (see the top) */
    if (atomic_compare_exchange_strong_explicit(&f->state, &e, ASK_DONE, memory_order_acq_rel,
                                                memory_order_acquire))
        kc_unpark(&f->parker);
    ask_put(f);
}

/* Stopped: nothing more is handled; every queued ask gets -EPIPE. */
static void drain(kc_actor_t *a, unsigned char *env)
{
    while (kc_chan_try_recv(a->mailbox, env) == 0) {
        struct env_head h;
        memcpy(&h, env, sizeof(h));
        if (h.ask != NULL)
            answer(h.ask, -EPIPE, NULL, 0);
    }
}

static int actor_main(void *arg)
{
    kc_actor_t *a = arg;
    atomic_store_explicit(&a->self_id, kc_sched_self_id(), memory_order_release);
    _Alignas(max_align_t) unsigned char env[ENV_HEAD + KC_ACTOR_MSG_MAX];
    _Alignas(max_align_t) unsigned char reply[KC_ACTOR_MSG_MAX];
    int status = a->init != NULL ? a->init(a->state) : 0;
    while (status >= 0) {
        int rc = kc_chan_recv(a->mailbox, env, KC_NO_TIMEOUT, NULL);
        if (rc != 0) { /* -EPIPE: stopped; -ECANCELED: its scope was cancelled */
            status = 0;
            break;
        }
        struct env_head h;
        memcpy(&h, env, sizeof(h));
        if (h.ask != NULL)
            memset(reply, 0, a->reply_size);
        int st = a->fn(a->state, env + ENV_HEAD, h.ask != NULL ? reply : NULL);
        int next = 0; /* what the actor does after answering: go on, or stop with it */
        if (st < 0 && kc_sched_is_cancelled()) {
            next = 1; /* the failure came from the cancellation: not a crash */
        } else if (st < 0) {
            next = st;
            if (a->policy == KC_ACTOR_RESTART &&
                atomic_load_explicit(&a->restarts, memory_order_relaxed) < a->max_restarts) {
                atomic_fetch_add_explicit(&a->restarts, 1, memory_order_relaxed);
                int ir = a->init != NULL ? a->init(a->state) : 0;
                next = ir >= 0 ? 0 : ir;
            }
        }
        if (h.ask != NULL) /* after the restart: the asker sees its count */
            answer(h.ask, st, reply, a->reply_size);
        if (next == 1)
            break;
        status = next; /* < 0: a crash the scope sees */
    }
    kc_chan_close_with(a->mailbox, status); /* -EPIPE when stopped already */
    drain(a, env);
    a->status = status;
    kc_chan_close(a->done); /* the last touch of a: kc_actor_destroy may free it now */
    return status;
}

int kc_actor_start(kc_actor_t **out, kc_scope_t *sc, const kc_actor_opts_t *o, kc_actor_fn_t fn,
                   void *state)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (sc == NULL || o == NULL || fn == NULL || o->size < sizeof(*o) || o->flags != 0 ||
        o->msg_size == 0 || o->msg_size > KC_ACTOR_MSG_MAX || o->reply_size > KC_ACTOR_MSG_MAX ||
        (o->policy != KC_ACTOR_STOP && o->policy != KC_ACTOR_RESTART) || o->max_restarts < 0 ||
        o->mailbox > KC_CHAN_MAX_CAPACITY)
        return -EINVAL;
    kc_actor_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->fn = fn;
    a->init = o->init;
    a->state = state;
    a->msg_size = o->msg_size;
    a->reply_size = o->reply_size;
    a->env_size = ENV_HEAD + o->msg_size;
    a->policy = o->policy;
    a->max_restarts = o->max_restarts;
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = o->mailbox != 0 ? o->mailbox : KC_ACTOR_MAILBOX_DEFAULT;
    co.elem_size = a->env_size;
    co.name = o->name;
    int rc = kc_chan_create(&a->mailbox, &co);
    if (rc == 0)
        rc = kc_chan_make(&a->done, KC_CHAN_RENDEZVOUS, 0, 1);
    if (rc == 0) {
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = o->name;
        rc = kc_scope_spawn(sc, actor_main, a, &at);
    }
    if (rc < 0) {
        kc_chan_destroy(a->mailbox);
        kc_chan_destroy(a->done);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int post(kc_actor_t *a, struct kc_ask *f, const void *msg, int64_t timeout_ns,
                const kc_cancel_t *cancel)
{
    _Alignas(max_align_t) unsigned char env[ENV_HEAD + KC_ACTOR_MSG_MAX];
    struct env_head h = {f};
    memcpy(env, &h, sizeof(h));
    memcpy(env + ENV_HEAD, msg, a->msg_size);
    return kc_chan_send(a->mailbox, env, timeout_ns, cancel);
}

int kc_actor_tell(kc_actor_t *a, const void *msg, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (a == NULL || msg == NULL)
        return -EINVAL;
    return post(a, NULL, msg, timeout_ns, cancel);
}

int kc_actor_ask(kc_actor_t *a, const void *msg, void *reply, int64_t timeout_ns,
                 const kc_cancel_t *cancel)
{
    if (a == NULL || msg == NULL)
        return -EINVAL;
    int64_t deadline = kc__deadline_after(timeout_ns); /* covers both waits */
    struct kc_ask *f = malloc(sizeof(*f) + a->reply_size);
    if (f == NULL)
        return -ENOMEM;
    atomic_init(&f->refs, 2);
    atomic_init(&f->state, ASK_PENDING);
    f->status = 0;
    kc_parker_init(&f->parker);
    int rc = post(a, f, msg, timeout_ns, cancel);
    if (rc != 0) {
        free(f); /* the actor never saw it */
        return rc;
    }
    for (;;) {
        rc = kc_park(&f->parker, kc__deadline_left(deadline), cancel);
        /* acquire: pairs with the answer's CAS */
        if (atomic_load_explicit(&f->state, memory_order_acquire) == ASK_DONE)
            break;
        if (rc == 0)
            continue; /* not the answer's permit (there is no other, but be exact) */
        uint32_t e = ASK_PENDING;
        if (atomic_compare_exchange_strong_explicit(&f->state, &e, ASK_ABANDONED,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            ask_put(f);
            return rc; /* -ETIME or -ECANCELED: the answer will be dropped */
        }
        break; /* the answer won the race: take it */
    }
    rc = f->status;
    if (reply != NULL && a->reply_size > 0)
        memcpy(reply, f->reply, a->reply_size);
    ask_put(f);
    return rc;
}

int kc_actor_stop(kc_actor_t *a)
{
    if (a == NULL)
        return -EINVAL;
    return kc_chan_close(a->mailbox);
}

int kc_actor_restarts(const kc_actor_t *a)
{
    return a != NULL
               ? atomic_load_explicit(&((kc_actor_t *)(uintptr_t)a)->restarts, memory_order_relaxed)
               : 0;
}

int kc_actor_destroy(kc_actor_t *a)
{
    if (a == NULL)
        return 0;
    uint64_t me = kc_sched_self_id();
    if (me != 0 && atomic_load_explicit(&a->self_id, memory_order_acquire) == me)
        return -EPERM;
    kc_actor_stop(a);
    unsigned char b;
    while (kc_chan_recv(a->done, &b, KC_NO_TIMEOUT, NULL) != -EPIPE)
        kc_sched_yield(); /* a cancelled caller: its waits fail at once; keep waiting */
    int status = a->status;
    kc_chan_destroy(a->mailbox);
    kc_chan_destroy(a->done);
    free(a);
    return status;
}
