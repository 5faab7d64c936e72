/* rl_deque.cpp - the scheduler's Chase-Lev deque under Relacy.
 *
 * Drives kc__deque_push, kc__deque_pop, kc__deque_steal and grow, copied
 * from core/src/sched by extract.pl with their memory orders, through an
 * owner and two thieves. Each task carries a plain payload (an rl::var)
 * written before the push: a thief that reads it without the push's
 * release/acquire is a data race. Invariants checked:
 *   - no task is lost or taken twice (each is taken exactly once, counted
 *     after the threads end and the owner drained what is left);
 *   - a taken task's payload is the value written before its push (D3);
 *   - steal returns only EMPTY, ABORT or a task that was pushed.
 * The buffer starts with 2 slots, so the owner's pushes grow it twice
 * while thieves read it (the release/acquire on buf).
 */
//! extract: grow@kc__deque_push kc__deque_push kc__deque_pop kc__deque_steal
//! slack: push_top kc__deque_push:&d->top:relaxed
//! mutant: push_bottom kc__deque_push:&d->bottom:relaxed
//! mutant: grow_buf grow:&d->buf:relaxed
//! mutant: pop_fence kc__deque_pop:atomic_thread_fence:acq_rel
//! slack: pop_cas kc__deque_pop:compare_exchange:relaxed
//! slack: steal_top kc__deque_steal:load_explicit(&d->top:relaxed
//! mutant: steal_fence kc__deque_steal:atomic_thread_fence:acq_rel
//! mutant: steal_bottom kc__deque_steal:&d->bottom:relaxed
//! mutant: steal_buf kc__deque_steal:&d->buf:relaxed
//! slack: steal_cas kc__deque_steal:compare_exchange:relaxed
#include "kc_relacy.hpp"

struct kc_task {
    rl::var<int> payload; /* written by the owner before the push */
    rl::var<int> taken;   /* how many consumers got it */
};

struct kc_deque_buf {
    int64_t mask;
    struct kc_deque_buf *retired;
    kc_atomic<struct kc_task *> slot[8];
};

struct kc_deque {
    kc_atomic<int64_t> top;
    kc_atomic<int64_t> bottom;
    kc_atomic<struct kc_deque_buf *> buf;
};

#define KC_DEQUE_EMPTY ((struct kc_task *)0)
#define KC_DEQUE_ABORT ((struct kc_task *)1)

/* The allocation is not the algorithm: a fixed-size buffer whose slots
 * are constructed (Relacy atomics must be). */
static struct kc_deque_buf *buf_new(int64_t cap)
{
    RL_ASSERT(cap <= 8);
    struct kc_deque_buf *b = new kc_deque_buf;
    b->mask = cap - 1;
    b->retired = nullptr;
    for (auto &s : b->slot)
        s($).store(nullptr, rl::mo_relaxed);
    return b;
}

#include "kc_relacy_gen.h"

enum {
    NTASK = 5,
    NTHIEF = 2
};

/* One consumer got t: check its payload, count it. */
static void consume(struct kc_task *tasks, struct kc_task *t)
{
    RL_ASSERT(t >= tasks && t < tasks + NTASK);
    RL_ASSERT(t->payload($) == 100 + (int)(t - tasks));
    t->taken($) = t->taken($) + 1;
}

/* Owner: push 3 (grows 2 -> 4), pop 1, push 2 (grows 4 -> 8), pop until
 * empty. Thieves: two steal attempts each, racing the pops. */
struct deque_test : rl::test_suite<deque_test, 1 + NTHIEF> {
    struct kc_deque d;
    struct kc_task tasks[NTASK];

    void before()
    {
        d.top($).store(0, rl::mo_relaxed);
        d.bottom($).store(0, rl::mo_relaxed);
        d.buf($).store(buf_new(2), rl::mo_relaxed);
        for (auto &t : tasks)
            t.taken($) = 0;
    }

    void push(int i)
    {
        tasks[i].payload($) = 100 + i;
        RL_ASSERT(kc__deque_push(&d, &tasks[i]) == 0);
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            push(0);
            push(1);
            push(2);
            struct kc_task *t = kc__deque_pop(&d);
            if (t != nullptr)
                consume(tasks, t);
            push(3);
            push(4);
            while ((t = kc__deque_pop(&d)) != nullptr)
                consume(tasks, t);
        } else {
            for (int k = 0; k < 2; k++) {
                struct kc_task *t = kc__deque_steal(&d);
                if (t != KC_DEQUE_EMPTY && t != KC_DEQUE_ABORT)
                    consume(tasks, t);
            }
        }
    }

    void after()
    {
        struct kc_task *t;
        while ((t = kc__deque_pop(&d)) != nullptr)
            consume(tasks, t);
        for (int i = 0; i < NTASK; i++)
            RL_ASSERT(tasks[i].taken($) == 1); /* not lost, not duplicated */
        struct kc_deque_buf *b = d.buf($).load(rl::mo_relaxed);
        while (b != nullptr) {
            struct kc_deque_buf *older = b->retired;
            delete b;
            b = older;
        }
    }
};

/* The last task: the owner pops the one task a thief steals at the same
 * moment (the Dekker race of the seq_cst fences and the CAS on top). */
struct deque_last_test : rl::test_suite<deque_last_test, 2> {
    struct kc_deque d;
    struct kc_task tasks[NTASK];

    void before()
    {
        d.top($).store(0, rl::mo_relaxed);
        d.bottom($).store(0, rl::mo_relaxed);
        d.buf($).store(buf_new(2), rl::mo_relaxed);
        for (auto &t : tasks)
            t.taken($) = 0;
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            for (int i = 0; i < 2; i++) {
                tasks[i].payload($) = 100 + i;
                RL_ASSERT(kc__deque_push(&d, &tasks[i]) == 0);
            }
            struct kc_task *t;
            while ((t = kc__deque_pop(&d)) != nullptr)
                consume(tasks, t);
        } else {
            struct kc_task *t;
            while ((t = kc__deque_steal(&d)) == KC_DEQUE_ABORT) {
            }
            if (t != KC_DEQUE_EMPTY)
                consume(tasks, t);
        }
    }

    void after()
    {
        struct kc_task *t;
        while ((t = kc__deque_pop(&d)) != nullptr)
            consume(tasks, t);
        for (int i = 0; i < 2; i++)
            RL_ASSERT(tasks[i].taken($) == 1);
        delete d.buf($).load(rl::mo_relaxed);
    }
};

/* Slot reuse: with 2 slots, a thief steals task 0 while the owner pushes
 * task 2 into the slot task 0 occupied (when it sees the steal's top, it
 * does not grow). The thief must still get task 0 (push's acquire of top). */
struct deque_wrap_test : rl::test_suite<deque_wrap_test, 2> {
    struct kc_deque d;
    struct kc_task tasks[NTASK];

    void before()
    {
        d.top($).store(0, rl::mo_relaxed);
        d.bottom($).store(0, rl::mo_relaxed);
        d.buf($).store(buf_new(2), rl::mo_relaxed);
        for (auto &t : tasks)
            t.taken($) = 0;
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            for (int i = 0; i < 4; i++) {
                tasks[i].payload($) = 100 + i;
                RL_ASSERT(kc__deque_push(&d, &tasks[i]) == 0);
            }
        } else {
            for (int k = 0; k < 3; k++) {
                struct kc_task *t = kc__deque_steal(&d);
                if (t != KC_DEQUE_EMPTY && t != KC_DEQUE_ABORT)
                    consume(tasks, t);
            }
        }
    }

    void after()
    {
        struct kc_task *t;
        while ((t = kc__deque_pop(&d)) != nullptr)
            consume(tasks, t);
        for (int i = 0; i < 4; i++)
            RL_ASSERT(tasks[i].taken($) == 1);
        struct kc_deque_buf *b = d.buf($).load(rl::mo_relaxed);
        while (b != nullptr) {
            struct kc_deque_buf *older = b->retired;
            delete b;
            b = older;
        }
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<deque_test>("deque: owner + 2 thieves, growing", 200000);
    ok = ok && kc_rl_run<deque_last_test>("deque: the last task, pop vs steal", 200000);
    ok = ok && kc_rl_run<deque_wrap_test>("deque: slot reuse, push vs steal", 200000);
    return ok ? 0 : 1;
}
