/* rl_bus.cpp - the bus's seqlock slots and its edge-triggered wake-up under
 * Relacy.
 *
 * Drives the graduated bus (graduated/soa_bus): the publish fast path
 * (kc_bus_publish_with_mask with one publisher handle and the full mask),
 * the wake-up (kc__bus_wake), the single-message receive (kc_bus_try_recv:
 * join, take_one with its copy, acquire fence and re-check, lagged,
 * not_ready) and the blocking receive (kc_bus_recv: recv_wait's drain,
 * arm, re-check, park, disarm), with the parker of kc_park.c, all copied
 * by extract.pl with their memory orders. Messages are two words, both
 * equal to the message's sequence number plus one. Invariants checked:
 *   - no torn read: a message returned has both words equal and names the
 *     sequence the reader expected (the seqlock validation caught every
 *     overwrite racing the copy);
 *   - nothing lost without being counted: per subscriber, delivered +
 *     lagged + unread == published, and nothing is delivered twice;
 *   - no lost wake-up: a blocking receive returns the message published
 *     while it armed and parked, and no permit outlives the call (the
 *     disarm absorbs a wake already sent).
 */
//! extract: macro:KC_NO_TIMEOUT macro:KC__DEADLINE_NEVER kc__timeout_norm kc__deadline_from kc__deadline_after kc__deadline_left_at kc__deadline_left
//! extract: macro:KC_BUS_W_BUSY macro:KC_BUS_W_MASKED macro:KC_BUS_READY macro:KC_BUS_BUSY
//! extract: macro:KC_BUS_GEN macro:KC_BUS_MASK_ALL macro:KC_BUS_LAGGED macro:RELAXED
//! extract: enum:TAKE_ONE enum:P_IDLE kc_unpark take_permit park_thread
//! extract: kc__bus_bump kc__bus_load_msg kc__bus_wake
//! extract: kc_bus_publish_with_mask lagged not_ready join check_args take_one poll_once
//! extract: kc_bus_try_recv arm disarm recv_wait kc_bus_recv

//! mutant: busy_fence kc_bus_publish_with_mask:atomic_thread_fence(memory_order_release:relaxed
//! mutant: ready_rel kc_bus_publish_with_mask:KC_BUS_READY(s):relaxed
//! mutant: pub_fence kc_bus_publish_with_mask:atomic_thread_fence(memory_order_seq_cst:acq_rel
//! mutant: read_acq take_one:KC_BUS_SEQ(b,i),memory_order_acquire:relaxed
//! mutant: read_fence take_one:atomic_thread_fence:relaxed
//! mutant: arm_fence arm:atomic_thread_fence:acq_rel
//! mutant: arm_rel arm:want:relaxed
//! slack: disarm_acq disarm:want:relaxed
//! mutant: wake_acq_rel kc__bus_wake:want:relaxed
#include "kc_relacy.hpp"

#define KC_NO_TIMEOUT ((int64_t)-1)
#define KC__PARKER_THREAD 1
#define KC__PARKER_TASK 2
enum {
    KIND_THREAD = KC__PARKER_THREAD,
    KIND_TASK = KC__PARKER_TASK
};
/* kind and owner are race-checked: kc_parker_init writes them in the
 * receiver, kc_unpark reads them in the waker. */
typedef struct kc_parker {
    uint32_t size, version;
    kc_atomic<uint32_t> state;
    kc_rl_plain<uint32_t> kind;
    kc_rl_plain<void *> owner;
} kc_parker_t;

/* park_thread's cancellation and clock, unused here (no token). */
typedef void (*kc_cancel_fn_t)(void *arg);
typedef struct kc_cancel kc_cancel_t;
typedef struct {
    int unused;
} kc_cancel_reg_t;
static bool kc__cancel_fired_sc(const kc_cancel_t *c)
{
    return c != nullptr;
}
static bool kc_cancel_is_triggered(const kc_cancel_t *c)
{
    return c != nullptr;
}
static int kc_cancel_register(const kc_cancel_t *, kc_cancel_reg_t *, kc_cancel_fn_t, void *)
{
    RL_ASSERT(!"no cancellation token in this test");
    return 0;
}
static int kc_cancel_unregister(kc_cancel_reg_t *)
{
    return 0;
}
static void wake_noperm_cb(void *)
{
}
static int64_t kc__sched_now(void)
{
    return 0;
}
static uint64_t kc__port_now_ns(void)
{
    return 0;
}
/* The virtual clock's hook (kc_park.c): no clock takes turns in these
 * scenarios, and the real function returns at once when none does. */
static void turn_woken(const kc_parker_t *p, uint32_t kind, void *owner)
{
    (void)p;
    (void)kind;
    (void)owner;
}
static void kc__task_wake(void *t)
{
    (void)t;
    RL_ASSERT(!"a thread parker woke a task");
}
#define kc__futex_wait(w, v, timeout) kc_rl_futex_wait((w), (uint32_t)(v))
#define kc__futex_wake(w, n) kc_rl_futex_wake(w)
kc_rl_futex *kc_rl_futex_cur;

enum {
    CAP = 2,
    WORDS = 2,
    KC_BUS_S_ACTIVE = 3
};
typedef struct {
    int unused;
} kc_arena_t;
typedef struct {
    uint64_t w[2];
} kc_arena_ticket_t;

struct kc_bus;
typedef struct kc_bus_sub {
    struct kc_bus *bus;
    kc_atomic<uint64_t> next, lagged, filtered, parks;
    uint64_t bit;
    bool joined;
    kc_atomic<uint32_t> state;
    kc_atomic<uint64_t> notified;
    kc_parker_t parker;
} kc_bus_sub_t;

struct kc_bus_pubside {
    kc_atomic<uint64_t> tail, masked_hi, no_receivers, addressed, notify_sends;
    uint64_t live;
    int nlive;
};

struct kc_bus {
    kc_atomic<uint64_t> seq[CAP], ready[CAP], msg[CAP * WORDS];
    uint64_t mask;
    uint32_t cap, words;
    size_t msg_size, fast_len;
    kc_arena_t *arena;
    kc_atomic<int> npub, closed, changes;
    kc_atomic<uint64_t> receiver_lag, want;
    struct kc_bus_pubside pub;
    struct kc_bus_sub subs[1];
};
typedef struct kc_bus_pub {
    struct kc_bus *bus;
} kc_bus_pub_t;

/* The SoA layout (kc_bus_impl.h's accessors). */
#define KC_BUS_SEQ(b, i) (&(b)->seq[(i)])
#define KC_BUS_MASKW(b, i) (&(b)->ready[(i)])
#define KC_BUS_MSG(b, i) (&(b)->msg[(size_t)(i) * (b)->words])

/* Paths the tested calls do not take here. */
static int publish_one(struct kc_bus *, uint64_t, const void *, size_t)
{
    RL_ASSERT(!"the fast path was expected");
    return -1;
}
static int take_run(struct kc_bus_sub *, struct kc_bus *, unsigned char *, size_t, size_t *,
                    uint64_t *)
{
    RL_ASSERT(!"batch receive");
    return -1;
}
static int take_ticket(struct kc_bus_sub *, struct kc_bus *, kc_arena_ticket_t *, uint64_t *)
{
    RL_ASSERT(!"ticket receive");
    return -1;
}
static void parker_init(kc_parker_t *p)
{
    p->size = sizeof(*p);
    p->version = 1;
    p->state($).store(0, rl::mo_relaxed);
    p->kind = KIND_THREAD;
    p->owner = nullptr;
}
static void kc_parker_init(kc_parker_t *p)
{
    parker_init(p);
}
static int kc_park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel);
static int kc__park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr);

#include "kc_relacy_gen.h"

/* Parking a thread subscriber: park_thread with no token or deadline. */
static int kc_park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    RL_ASSERT(timeout_ns == KC_NO_TIMEOUT);
    return park_thread(p, timeout_ns, cancel);
}
static int kc__park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr)
{
    (void)intr;
    return park_thread(p, timeout_ns, cancel);
}

/* One publisher (thread 0) publishes NPUB messages, the first PRE of them
 * before the threads start; one subscriber reads with kc_bus_try_recv
 * (NPUB tries, or one when PRE: the copy of message 1 racing the overwrite
 * of its slot) or blocks in kc_bus_recv for each. */
template <int NPUB, bool BLOCK, int PRE = 0>
struct bus_test : rl::test_suite<bus_test<NPUB, BLOCK, PRE>, 2> {
    kc_rl_futex fx;
    struct kc_bus b;
    kc_bus_pub_t pub;
    uint64_t delivered, lag, last;

    void before()
    {
        kc_rl_futex_cur = &fx;
        for (int i = 0; i < CAP; i++) {
            b.seq[i]($).store(0, rl::mo_relaxed);
            b.ready[i]($).store(0, rl::mo_relaxed);
        }
        for (auto &m : b.msg)
            m($).store(0, rl::mo_relaxed);
        b.mask = CAP - 1;
        b.cap = CAP;
        b.words = WORDS;
        b.msg_size = b.fast_len = WORDS * 8;
        b.arena = nullptr;
        b.npub($).store(1, rl::mo_relaxed);
        b.closed($).store(0, rl::mo_relaxed);
        b.changes($).store(0, rl::mo_relaxed);
        b.receiver_lag($).store(0, rl::mo_relaxed);
        b.want($).store(0, rl::mo_relaxed);
        b.pub.tail($).store(0, rl::mo_relaxed);
        b.pub.masked_hi($).store(0, rl::mo_relaxed);
        b.pub.no_receivers($).store(0, rl::mo_relaxed);
        b.pub.addressed($).store(0, rl::mo_relaxed);
        b.pub.notify_sends($).store(0, rl::mo_relaxed);
        b.pub.live = 1;
        b.pub.nlive = 1;
        kc_bus_sub_t *s = &b.subs[0];
        s->bus = &b;
        s->next($).store(0, rl::mo_relaxed);
        s->lagged($).store(0, rl::mo_relaxed);
        s->filtered($).store(0, rl::mo_relaxed);
        s->parks($).store(0, rl::mo_relaxed);
        s->notified($).store(0, rl::mo_relaxed);
        s->bit = 1;
        s->joined = false;
        s->state($).store(KC_BUS_S_ACTIVE, rl::mo_relaxed);
        parker_init(&s->parker);
        pub.bus = &b;
        delivered = lag = last = 0;
        for (uint64_t k = 1; k <= PRE; k++) { /* published before the race */
            uint64_t m[WORDS] = {k, k};
            RL_ASSERT(kc_bus_publish_with_mask(&pub, KC_BUS_MASK_ALL, m, sizeof(m)) == 1);
        }
    }

    /* A message received: whole, and the next one in sequence. */
    void got(const uint64_t *m, uint64_t missed_before)
    {
        RL_ASSERT(m[0] == m[1]); /* not torn */
        RL_ASSERT(m[0] >= 1 && m[0] <= NPUB);
        RL_ASSERT(m[0] > last); /* not twice, in order */
        RL_ASSERT(m[0] == last + missed_before + 1);
        last = m[0];
        delivered++;
    }

    void thread(unsigned idx)
    {
        kc_bus_sub_t *s = &b.subs[0];
        if (idx == 0) {
            for (uint64_t k = PRE + 1; k <= NPUB; k++) {
                uint64_t m[WORDS] = {k, k};
                RL_ASSERT(kc_bus_publish_with_mask(&pub, KC_BUS_MASK_ALL, m, sizeof(m)) == 1);
            }
            return;
        }
        uint64_t m[WORDS], missed = 0;
        for (int k = 0; k < (PRE ? 1 : NPUB); k++) {
            int rc = BLOCK ? kc_bus_recv(s, m, sizeof(m), &missed, KC_NO_TIMEOUT, nullptr)
                           : kc_bus_try_recv(s, m, sizeof(m), &missed);
            if (rc == 0) {
                got(m, 0);
            } else if (rc == KC_BUS_LAGGED) {
                lag += missed;
                last += missed;
            } else {
                RL_ASSERT(!BLOCK && rc == -EAGAIN);
            }
            if (BLOCK) /* no permit outlives the call */
                RL_ASSERT(s->parker.state($).load(rl::mo_relaxed) != P_PERMIT);
        }
    }

    void after()
    {
        kc_bus_sub_t *s = &b.subs[0];
        uint64_t m[WORDS], missed = 0;
        int rc;
        while ((rc = kc_bus_try_recv(s, m, sizeof(m), &missed)) != -EAGAIN) {
            if (rc == 0) {
                got(m, 0);
            } else {
                RL_ASSERT(rc == KC_BUS_LAGGED);
                lag += missed;
                last += missed;
            }
        }
        RL_ASSERT(delivered + lag == NPUB); /* counted, none lost silently */
        RL_ASSERT(s->lagged($).load(rl::mo_relaxed) == lag);
        if (BLOCK)
            RL_ASSERT(b.want($).load(rl::mo_relaxed) == 0);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<bus_test<4, false>>("bus: 4 publishes over 2 slots, racing reads", 100000);
    ok = ok && kc_rl_run<bus_test<3, false, 1>>("bus: an overwrite racing one copy", 100000);
    ok = ok && kc_rl_run<bus_test<2, true>>("bus: blocking receives, edge wake-up", 100000);
    return ok ? 0 : 1;
}
