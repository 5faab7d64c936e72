/* kc_sim_clock.c - the virtual clock and its turns.
 *
 * A clock is a time (nanoseconds from 0) and, once contexts join it, a
 * turn-taking scheduler that makes a whole simulated run deterministic:
 *
 *   - Only the context holding the turn runs among the clock's actors (the
 *     coroutines and threads that joined). It keeps the turn until it waits
 *     on the clock (kc__sim_clock_wait) or leaves.
 *   - A waiting actor is woken by another actor (kc__sim_clock_wake), by
 *     its deadline, or by its cancellation token; woken actors queue for
 *     the turn in the order they were woken (FIFO).
 *   - Time moves only when no actor can run: the turn goes to the actor
 *     with the earliest deadline (ties by the order the waits began), and
 *     the clock jumps to that deadline.
 *
 * Since one actor runs at a time and each hand-over is chosen from state
 * that only actors change, the actors' steps, and so every frame, decision
 * and timer of the run, follow from the seed alone, with one worker or
 * many. Actors started by an actor reserve their place first
 * (kc_sim_clock_ticket), so their order does not depend on which worker
 * starts them first.
 *
 * A clock nobody joined keeps the earlier mode: receivers move it
 * (kc_sim_transport.c, recv_virtual). Everything here is under the clock's
 * mutex; parkers are unparked under it (kc_unpark never blocks).
 *
 *   actor state  event                               next     by
 *   -----------  ----------------------------------  -------  -----------------
 *   (ticket)     ticket / join(NULL)                  READY    holder / joiner
 *   READY        the turn comes (FIFO)                RUNNING  dispatch
 *   RUNNING      wait (deadline, list)                WAITING  the actor
 *   RUNNING      leave                                (gone)   the actor
 *   WAITING      wake / kick / cancel / deadline      READY    anyone / dispatch
 *   RUNNING      parks in kcoro (adopting clock)       BLOCKED  turn_blocking
 *   BLOCKED      its waker's kc_unpark / cancel        READY    turn_woken
 *   BLOCKED      the park ended by other means         READY    turn_resumed
 *
 * An adopting clock (kc_sim_clock_adopt) binds each actor to its task
 * (kc__task_turn_bind), so the scheduler reports the task's parks, wakes,
 * spawns and end (kc_sched_svc.h, "turns"): a spawn by an actor takes a
 * ticket for the child in the spawner's turn; a task that finishes still
 * holding its place leaves after its joiner was woken.
 */
#include "kc_sim_impl.h"

#include "kcoro/park.h"
#include "kcoro/sched.h"

#include "sched/kc_sched_svc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

enum {
    A_READY = 1,
    A_RUNNING = 2,
    A_WAITING = 3,
    A_BLOCKED = 4
};

struct kc_sim_actor {
    kc_sim_clock_t *clock;
    kc_parker_t p;
    const void *owner; /* the context (task or thread) it belongs to */
    bool started;      /* owner bound, p initialised */
    int state;
    bool permit;    /* woken while not waiting */
    bool cancelled; /* its token fired while it ran */
    int why;        /* the wait's outcome: 0, -ETIME, -ECANCELED */
    int list;       /* KC_SIM_LIST_* it waits on (0: none) */
    int64_t deadline;
    uint64_t seq;
    bool timed;
    kc_sim_actor_t *qnext; /* the ready queue */
    kc_sim_actor_t *tnext; /* the timed waiters, by (deadline, seq) */
    kc_sim_actor_t *anext; /* every actor, in the order they came */
};

struct kc_sim_clock {
    _Atomic int64_t now;
    _Atomic int users; /* endpoints and actors */
    _Atomic uint64_t connects;
    pthread_mutex_t lk;
    _Atomic(const void *) holder_id; /* the running actor's context, or NULL */
    kc_sim_actor_t *holder;
    kc_sim_actor_t *qhead, *qtail;
    kc_sim_actor_t *timed;
    kc_sim_actor_t *all, *all_tail;
    uint64_t seq;
    _Atomic int actors;
    _Atomic bool adopt;
};

static const void *self_id(void)
{
    static _Thread_local char anchor;
    kc_task_t *t = kc_sched_self();
    return t ? (const void *)t : (const void *)&anchor;
}

int kc_sim_clock_create(kc_sim_clock_t **out)
{
    if (!out)
        return -EINVAL;
    kc_sim_clock_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->lk, NULL);
    *out = c;
    return 0;
}

int64_t kc_sim_clock_now(const kc_sim_clock_t *c)
{
    return c ? atomic_load_explicit(&c->now, memory_order_acquire) : 0;
}

int kc_sim_clock_destroy(kc_sim_clock_t *c)
{
    if (!c)
        return 0;
    if (atomic_load_explicit(&c->users, memory_order_acquire) != 0)
        return -EBUSY;
    pthread_mutex_destroy(&c->lk);
    free(c);
    return 0;
}

void kc__sim_clock_use(kc_sim_clock_t *c, int delta)
{
    atomic_fetch_add_explicit(&c->users, delta, memory_order_acq_rel);
}

uint64_t kc__sim_clock_next_connect(kc_sim_clock_t *c)
{
    return atomic_fetch_add_explicit(&c->connects, 1, memory_order_relaxed);
}

void kc__sim_clock_advance(kc_sim_clock_t *c, int64_t t)
{
    int64_t cur = atomic_load_explicit(&c->now, memory_order_relaxed);
    /* release: pairs with kc_sim_clock_now's acquire, so a receiver that
     * reads the new time also sees the frames delivered before it moved. */
    while (cur < t && !atomic_compare_exchange_weak_explicit(&c->now, &cur, t, memory_order_release,
                                                             memory_order_relaxed))
        ;
}

bool kc__sim_clock_turns(const kc_sim_clock_t *c)
{
    return c && atomic_load_explicit(&c->actors, memory_order_acquire) > 0;
}

bool kc__sim_clock_mine(const kc_sim_clock_t *c)
{
    return c && atomic_load_explicit(&c->holder_id, memory_order_acquire) == self_id();
}

/* ---- under c->lk ------------------------------------------------------ */

static void enqueue(kc_sim_clock_t *c, kc_sim_actor_t *a)
{
    a->state = A_READY;
    a->qnext = NULL;
    if (c->qtail)
        c->qtail->qnext = a;
    else
        c->qhead = a;
    c->qtail = a;
}

static void untime(kc_sim_clock_t *c, kc_sim_actor_t *a)
{
    if (!a->timed)
        return;
    for (kc_sim_actor_t **pp = &c->timed; *pp; pp = &(*pp)->tnext) {
        if (*pp == a) {
            *pp = a->tnext;
            break;
        }
    }
    a->timed = false;
}

/* A waiting actor becomes ready with outcome why. */
static void ready(kc_sim_clock_t *c, kc_sim_actor_t *a, int why)
{
    untime(c, a);
    a->list = 0;
    a->why = why;
    enqueue(c, a);
}

/* Give the turn to the next ready actor; with none, move time to the
 * earliest deadline and wake its waiter; with none either, nobody runs. */
static void dispatch(kc_sim_clock_t *c)
{
    for (;;) {
        kc_sim_actor_t *a = c->qhead;
        if (a) {
            c->qhead = a->qnext;
            if (!c->qhead)
                c->qtail = NULL;
            a->state = A_RUNNING;
            c->holder = a;
            atomic_store_explicit(&c->holder_id, a->started ? a->owner : NULL,
                                  memory_order_release);
            if (a->started)
                kc_unpark(&a->p);
            return;
        }
        if (c->timed) {
            a = c->timed;
            kc__sim_clock_advance(c, a->deadline);
            ready(c, a, -ETIME);
            continue;
        }
        c->holder = NULL;
        atomic_store_explicit(&c->holder_id, NULL, memory_order_release);
        return;
    }
}

static kc_sim_actor_t *find(kc_sim_clock_t *c, const void *id)
{
    for (kc_sim_actor_t *a = c->all; a; a = a->anext)
        if (a->started && a->owner == id)
            return a;
    return NULL;
}

static kc_sim_actor_t *add(kc_sim_clock_t *c)
{
    kc_sim_actor_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->clock = c;
    if (c->all_tail)
        c->all_tail->anext = a;
    else
        c->all = a;
    c->all_tail = a;
    atomic_fetch_add_explicit(&c->actors, 1, memory_order_acq_rel);
    kc__sim_clock_use(c, 1);
    enqueue(c, a);
    if (!c->holder)
        dispatch(c);
    return a;
}

/* Wait, outside the lock, until a runs (its owner calls this). The park
 * on a->p is the clock's own: unbound from the task's turn, so the
 * scheduler does not report it (kc_sched_svc.h). */
static void await_turn(kc_sim_clock_t *c, kc_sim_actor_t *a)
{
    void *bound = kc__task_turn();
    if (bound)
        kc__task_turn_bind(NULL);
    pthread_mutex_lock(&c->lk);
    while (a->state != A_RUNNING) {
        pthread_mutex_unlock(&c->lk);
        (void)kc_park(&a->p, KC_NO_TIMEOUT, NULL);
        pthread_mutex_lock(&c->lk);
    }
    pthread_mutex_unlock(&c->lk);
    if (bound)
        kc__task_turn_bind(bound);
}

/* ---- actors ------------------------------------------------------------ */

int kc_sim_clock_ticket(kc_sim_clock_t *c, kc_sim_ticket_t **out)
{
    if (!c || !out)
        return -EINVAL;
    pthread_mutex_lock(&c->lk);
    kc_sim_actor_t *a = add(c);
    pthread_mutex_unlock(&c->lk);
    if (!a)
        return -ENOMEM;
    *out = a;
    return 0;
}

int kc_sim_clock_join(kc_sim_clock_t *c, kc_sim_ticket_t *ticket)
{
    if (!c || (ticket && ticket->clock != c))
        return -EINVAL;
    const void *id = self_id();
    pthread_mutex_lock(&c->lk);
    if (find(c, id)) {
        pthread_mutex_unlock(&c->lk);
        return -EALREADY;
    }
    kc_sim_actor_t *a = ticket;
    if (a && a->started) {
        pthread_mutex_unlock(&c->lk);
        return -EINVAL; /* a ticket is used once */
    }
    if (!a && !(a = add(c))) {
        pthread_mutex_unlock(&c->lk);
        return -ENOMEM;
    }
    a->owner = id;
    kc_parker_init(&a->p);
    a->started = true;
    if (a->state == A_RUNNING)
        atomic_store_explicit(&c->holder_id, id, memory_order_release);
    bool adopt = atomic_load_explicit(&c->adopt, memory_order_relaxed);
    pthread_mutex_unlock(&c->lk);
    if (adopt)
        kc__task_turn_bind(a); /* outside a task: nothing */
    await_turn(c, a);
    return 0;
}

int kc_sim_clock_leave(kc_sim_clock_t *c)
{
    if (!c)
        return -EINVAL;
    pthread_mutex_lock(&c->lk);
    kc_sim_actor_t *a = find(c, self_id());
    if (!a || c->holder != a) {
        pthread_mutex_unlock(&c->lk);
        return -EPERM;
    }
    for (kc_sim_actor_t **pp = &c->all, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->anext) {
        if (*pp == a) {
            *pp = a->anext;
            if (c->all_tail == a)
                c->all_tail = prev;
            break;
        }
    }
    atomic_fetch_sub_explicit(&c->actors, 1, memory_order_acq_rel);
    dispatch(c);
    pthread_mutex_unlock(&c->lk);
    if (kc__task_turn() == a)
        kc__task_turn_bind(NULL);
    free(a);
    kc__sim_clock_use(c, -1);
    return 0;
}

void kc__sim_clock_drop(kc_sim_actor_t *a)
{
    if (!a)
        return;
    kc_sim_clock_t *c = a->clock;
    pthread_mutex_lock(&c->lk);
    for (kc_sim_actor_t **pp = &c->qhead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->qnext) {
        if (*pp == a) {
            *pp = a->qnext;
            if (c->qtail == a)
                c->qtail = prev;
            break;
        }
    }
    for (kc_sim_actor_t **pp = &c->all, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->anext) {
        if (*pp == a) {
            *pp = a->anext;
            if (c->all_tail == a)
                c->all_tail = prev;
            break;
        }
    }
    atomic_fetch_sub_explicit(&c->actors, 1, memory_order_acq_rel);
    if (c->holder == a)
        dispatch(c);
    pthread_mutex_unlock(&c->lk);
    free(a);
    kc__sim_clock_use(c, -1);
}

kc_sim_actor_t *kc__sim_clock_self(kc_sim_clock_t *c)
{
    pthread_mutex_lock(&c->lk);
    kc_sim_actor_t *a = find(c, self_id());
    pthread_mutex_unlock(&c->lk);
    return a;
}

static void on_cancel(void *arg)
{
    kc_sim_actor_t *a = arg;
    kc_sim_clock_t *c = a->clock;
    pthread_mutex_lock(&c->lk);
    if (a->state == A_WAITING) {
        ready(c, a, -ECANCELED);
        if (!c->holder)
            dispatch(c);
    } else {
        a->cancelled = true;
    }
    pthread_mutex_unlock(&c->lk);
}

int kc__sim_clock_wait(kc_sim_actor_t *a, int64_t deadline, int list, const kc_cancel_t *cancel)
{
    kc_sim_clock_t *c = a->clock;
    kc_cancel_reg_t reg;
    bool registered = false;
    if (cancel) {
        /* Registered while this actor still runs, so a token fired by the
         * next actor always finds it waiting. */
        int rc = kc_cancel_register(cancel, &reg, on_cancel, a);
        if (rc == -ECANCELED)
            return -ECANCELED;
        registered = rc == 0;
    }
    pthread_mutex_lock(&c->lk);
    int rc = 1;
    if (a->cancelled) {
        a->cancelled = false;
        rc = -ECANCELED;
    } else if (a->permit) {
        a->permit = false;
        rc = 0;
    } else if (deadline >= 0 && deadline <= atomic_load_explicit(&c->now, memory_order_relaxed)) {
        rc = -ETIME;
    }
    if (rc != 1) {
        pthread_mutex_unlock(&c->lk);
        if (registered)
            kc_cancel_unregister(&reg);
        return rc;
    }
    a->state = A_WAITING;
    a->list = list;
    a->why = 0;
    if (deadline >= 0 && deadline != INT64_MAX) {
        a->deadline = deadline;
        a->seq = c->seq++;
        a->timed = true;
        kc_sim_actor_t **pp = &c->timed;
        while (*pp &&
               ((*pp)->deadline < deadline || ((*pp)->deadline == deadline && (*pp)->seq < a->seq)))
            pp = &(*pp)->tnext;
        a->tnext = *pp;
        *pp = a;
    }
    if (c->holder == a)
        dispatch(c);
    pthread_mutex_unlock(&c->lk);
    await_turn(c, a);
    if (registered)
        kc_cancel_unregister(&reg);
    pthread_mutex_lock(&c->lk);
    rc = a->why;
    a->cancelled = false;
    pthread_mutex_unlock(&c->lk);
    return rc;
}

void kc__sim_clock_wake(kc_sim_actor_t *a)
{
    if (!a)
        return;
    kc_sim_clock_t *c = a->clock;
    pthread_mutex_lock(&c->lk);
    if (a->state == A_WAITING) {
        ready(c, a, 0);
        if (!c->holder)
            dispatch(c);
    } else {
        a->permit = true;
    }
    pthread_mutex_unlock(&c->lk);
}

/* ---- adoption: the scheduler's turn hooks ----------------------------- */

static bool turn_blocking(void *turn, const kc_parker_t *p)
{
    (void)p;
    kc_sim_actor_t *a = turn;
    kc_sim_clock_t *c = a->clock;
    pthread_mutex_lock(&c->lk);
    bool gave = c->holder == a && a->state == A_RUNNING;
    if (gave) {
        a->state = A_BLOCKED;
        dispatch(c);
    }
    pthread_mutex_unlock(&c->lk);
    return gave;
}

static void turn_woken(void *turn, const kc_parker_t *p)
{
    kc_sim_actor_t *a = turn;
    kc_sim_clock_t *c = a->clock;
    if (p == &a->p)
        return; /* the clock's own hand-over (dispatch, under c->lk) */
    pthread_mutex_lock(&c->lk);
    if (a->state == A_BLOCKED) {
        enqueue(c, a);
        if (!c->holder)
            dispatch(c);
    }
    pthread_mutex_unlock(&c->lk);
}

static void turn_resumed(void *turn)
{
    kc_sim_actor_t *a = turn;
    kc_sim_clock_t *c = a->clock;
    turn_woken(a, NULL); /* ended by a timer, a token or an old permit: queue now */
    await_turn(c, a);
}

static void *turn_spawned(void *parent)
{
    kc_sim_actor_t *a = parent;
    kc_sim_clock_t *c = a->clock;
    if (!atomic_load_explicit(&c->adopt, memory_order_relaxed))
        return NULL;
    pthread_mutex_lock(&c->lk);
    kc_sim_actor_t *child = add(c);
    pthread_mutex_unlock(&c->lk);
    return child; /* NULL (no memory): the child runs outside the turns */
}

static void turn_started(void *turn)
{
    kc_sim_actor_t *a = turn;
    (void)kc_sim_clock_join(a->clock, a);
}

static void turn_finished(void *turn)
{
    kc__sim_clock_drop(turn);
}

static const struct kc__turn_ops turn_ops = {turn_blocking, turn_resumed, turn_woken,
                                             turn_spawned,  turn_started, turn_finished};

int kc_sim_clock_adopt(kc_sim_clock_t *c)
{
    if (!c)
        return -EINVAL;
    int rc = kc__sched_turns_install(&turn_ops);
    if (rc < 0)
        return rc;
    atomic_store_explicit(&c->adopt, true, memory_order_relaxed);
    return 0;
}

bool kc__sim_clock_adopts(const kc_sim_clock_t *c)
{
    return c && atomic_load_explicit(&c->adopt, memory_order_relaxed);
}

void kc__sim_clock_kick(kc_sim_clock_t *c, int list)
{
    pthread_mutex_lock(&c->lk);
    bool any = false;
    for (kc_sim_actor_t *a = c->all; a; a = a->anext) {
        if (a->state == A_WAITING && a->list == list) {
            ready(c, a, 0);
            any = true;
        }
    }
    if (any && !c->holder)
        dispatch(c);
    pthread_mutex_unlock(&c->lk);
}
