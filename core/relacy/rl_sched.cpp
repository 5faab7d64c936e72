/* rl_sched.cpp - the scheduler's idle protocol under Relacy: a submitter's
 * push and notify against a worker going to sleep.
 *
 * Drives core/src/sched/kc_wake.c's kc__sched_notify (fence, then the
 * looks at nsearching and nidle), wake_one, kc__worker_take_sleeper, wake_worker,
 * kc__worker_park_idle (announce on the idle stack, stop searching, fence, look at
 * every queue once more, sleep on the park word), work_visible and unidle,
 * with the deque of kc_runq.c, all copied by extract.pl with their memory
 * orders. Worker 0 pushes a task on its deque and notifies; worker 1, idle
 * (searching or not), parks. The poller, timers and inject queue are
 * absent (no I/O waiters, no timers, an empty inject queue), and the steal
 * delay is 0, so a sleeper that sees work does not sleep. Invariants:
 *   - no lost wake-up: the sleeper either sees the task after its fence or
 *     is woken (a sleep nobody ends is a deadlock);
 *   - after waking, the sleeper steals the task, with its payload (the
 *     deque's release/acquire), exactly once;
 *   - the idle accounting is back to zero: nidle, nsearching and the idle
 *     stack agree (S3).
 */
//! extract: enum:KC_PARK_SLEEPING enum:KC_SCHED_STOPPING enum:KC_VIS_NOW
//! extract: grow@kc__deque_push kc__deque_push kc__deque_steal kc__deque_size kc__inject_len
//! extract: wake_worker kc__worker_take_sleeper wake_one kc__sched_notify work_visible unidle kc__worker_park_idle
//! mutant: notify_fence kc__sched_notify:atomic_thread_fence:acq_rel
//! mutant: park_fence kc__worker_park_idle:atomic_thread_fence:acq_rel
//! mutant: push_bottom kc__deque_push:&d->bottom:relaxed
//! mutant: steal_bottom kc__deque_steal:&d->bottom:relaxed
//! slack: unsearch_sc kc__worker_park_idle:&s->nsearching:relaxed
//! slack: wake_rel wake_worker:&v->park_word:relaxed
#include "kc_relacy.hpp"

typedef struct {
    rl::mutex m;
} kc_lock_t;
static void kc__lock(kc_lock_t *l)
{
    l->m.lock($);
}
static void kc__unlock(kc_lock_t *l)
{
    l->m.unlock($);
}
#define kc__futex_wait(w, v, timeout) kc_rl_futex_wait((w), (uint32_t)(v))
#define kc__futex_wake(w, n) kc_rl_futex_wake(w)
kc_rl_futex *kc_rl_futex_cur;

struct kc_task {
    rl::var<int> payload;
};
struct kc_deque_buf {
    int64_t mask;
    struct kc_deque_buf *retired;
    kc_atomic<struct kc_task *> slot[4];
};
struct kc_deque {
    kc_atomic<int64_t> top;
    kc_atomic<int64_t> bottom;
    kc_atomic<struct kc_deque_buf *> buf;
};
#define KC_DEQUE_EMPTY ((struct kc_task *)0)
#define KC_DEQUE_ABORT ((struct kc_task *)1)
static struct kc_deque_buf *buf_new(int64_t cap)
{
    RL_ASSERT(cap <= 4);
    struct kc_deque_buf *b = new kc_deque_buf;
    b->mask = cap - 1;
    b->retired = nullptr;
    for (auto &s : b->slot)
        s($).store(nullptr, rl::mo_relaxed);
    return b;
}

struct kc_inject {
    kc_atomic<int64_t> n;
};
struct kc_sched;
struct kc_worker_stats {
    kc_atomic<uint64_t> parks, wakeups;
};
struct kc_worker {
    struct kc_deque dq;
    struct kc_sched *sched;
    int index;
    bool searching;
    int64_t work_seen;
    kc_atomic<uint32_t> park_word;
    int idle_pos;
    bool poll_mode;
    bool wake_searching;
    kc_atomic<uint32_t> inbox_n;
    struct kc_worker_stats st;
};
struct kc_poller;
struct kc_sched {
    int nworkers;
    struct kc_worker *w;
    int64_t steal_delay_ns;
    struct kc_inject inject;
    kc_atomic<int> nsearching, nidle;
    kc_lock_t idle_lock;
    int *idle_stack;
    int idle_n;
    struct kc_worker *poll_sleeper;
    struct kc_poller *poller;
    kc_atomic<int> poll_owner;
    kc_atomic<int64_t> io_waiting;
    kc_atomic<uint32_t> state;
};
#define KC_STAT_ADD(w, field, v) ((void)0)

/* No timers, no poller in this test. */
static int64_t kc__timer_next(struct kc_worker *w)
{
    (void)w;
    return INT64_MAX;
}
static int64_t kc__sched_now(void)
{
    return 0;
}
static void kc__poller_wake(struct kc_poller *p)
{
    (void)p;
    RL_ASSERT(!"no poller");
}
static int kc__io_poll(struct kc_sched *s, struct kc_worker *w, int64_t timeout)
{
    (void)s, (void)w, (void)timeout;
    RL_ASSERT(!"no poller");
    return 0;
}

#include "kc_relacy_gen.h"

/* Worker 0 submits one task; worker 1 goes idle (a searcher if SEARCHER). */
template <bool SEARCHER> struct idle_test : rl::test_suite<idle_test<SEARCHER>, 2> {
    kc_rl_futex fx;
    struct kc_sched s;
    struct kc_worker w[2];
    int idle_stack[2];
    struct kc_task task;

    void before()
    {
        kc_rl_futex_cur = &fx;
        s.nworkers = 2;
        s.w = w;
        s.steal_delay_ns = 0;
        s.inject.n($).store(0, rl::mo_relaxed);
        s.nsearching($).store(SEARCHER ? 1 : 0, rl::mo_relaxed);
        s.nidle($).store(0, rl::mo_relaxed);
        s.idle_stack = idle_stack;
        s.idle_n = 0;
        s.poll_sleeper = nullptr;
        s.poller = nullptr;
        s.poll_owner($).store(0, rl::mo_relaxed);
        s.io_waiting($).store(0, rl::mo_relaxed);
        s.state($).store(KC_SCHED_RUNNING, rl::mo_relaxed);
        for (int i = 0; i < 2; i++) {
            kc__deque_init_rl(&w[i].dq);
            w[i].sched = &s;
            w[i].index = i;
            w[i].searching = SEARCHER && i == 1;
            w[i].work_seen = 0;
            w[i].park_word($).store(KC_PARK_AWAKE, rl::mo_relaxed);
            w[i].idle_pos = -1;
            w[i].poll_mode = false;
            w[i].wake_searching = false;
            w[i].inbox_n($).store(0, rl::mo_relaxed);
            w[i].st.parks($).store(0, rl::mo_relaxed);
            w[i].st.wakeups($).store(0, rl::mo_relaxed);
        }
    }

    static void kc__deque_init_rl(struct kc_deque *d)
    {
        d->top($).store(0, rl::mo_relaxed);
        d->bottom($).store(0, rl::mo_relaxed);
        d->buf($).store(buf_new(2), rl::mo_relaxed);
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            task.payload($) = 7;
            RL_ASSERT(kc__deque_push(&w[0].dq, &task) == 0);
            kc__sched_notify(&s);
            return;
        }
        /* The worker loop's shape: park, look, park again after a
         * spurious wake (a futex may return without a wake). */
        struct kc_task *t;
        for (;;) {
            kc__worker_park_idle(&w[1]); /* returns: saw the work, was woken, or spuriously */
            while ((t = kc__deque_steal(&w[0].dq)) == KC_DEQUE_ABORT) {
            }
            if (t != KC_DEQUE_EMPTY)
                break;
            rl::yield(1, $);
        }
        RL_ASSERT(t == &task); /* nothing else takes it */
        RL_ASSERT(t->payload($) == 7);
    }

    void after()
    {
        RL_ASSERT(s.nidle($).load(rl::mo_relaxed) == 0 && s.idle_n == 0);
        RL_ASSERT(s.nsearching($).load(rl::mo_relaxed) == (w[1].searching ? 1 : 0));
        for (auto &x : w)
            delete x.dq.buf($).load(rl::mo_relaxed);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<idle_test<false>>("sched: submit vs an idle worker parking", 100000);
    ok = ok && kc_rl_run<idle_test<true>>("sched: submit vs the last searcher parking", 100000);
    return ok ? 0 : 1;
}
