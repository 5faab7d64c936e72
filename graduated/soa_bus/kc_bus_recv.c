/* kc_bus_recv.c - the receiving half of the ring: copy, validate, lag, park.
 *
 * A reader expecting sequence s loads the slot word; READY(s) means it may
 * copy the payload (and, for a masked message, the ready word) with relaxed
 * loads; an acquire fence and a second load of the word tell it whether the
 * copy is whole (unchanged) or torn (a publisher started overwriting: it
 * lagged). A batch takes the run up to the tail (acquire: every sequence
 * below it is completely written), reads the run's slot words only when a
 * masked message may be among them (masked_hi), copies the run, and
 * validates it with one re-check of its first word: publishers overwrite in
 * sequence order, and each overwrite stores BUSY in its slot and issues a
 * release fence before touching any payload, so a copy that saw any
 * overwritten word in the run also sees the first slot's word change.
 *
 * A slot word below READY(s) means "not yet published"; above it means "s
 * was overwritten": the reader reports KC_BUS_LAGGED with n = the sequence
 * gap and resumes at the oldest live sequence (tail - cap). n counts every
 * overwritten message, whatever its topics: the ready masks of overwritten
 * slots are gone, so a per-topic count would be a guess. Per subscriber,
 * messages published since its start = delivered + lagged + filtered + unread.
 *
 * Blocking (kc_bus_recv) is edge-triggered: drain; arm (set the want bit,
 * then a seq_cst fence: the Dekker partner of the publisher's); re-check;
 * park through kc_park, so a coroutine on a scheduler worker parks its task
 * and a plain thread parks on a futex. A waker clears the bit before it
 * unparks, so on the way out a receiver that finds its bit already gone
 * knows one unpark is on its way and absorbs it before returning: no permit
 * outlives the call.
 *
 * Receiver states (one subscriber, in kc_bus_recv):
 *
 *   from       event                              to         function
 *   ---------  ---------------------------------  ---------  ----------------
 *   DRAINING   slot READY(next), copy whole       DRAINING   take_one / take_run
 *   DRAINING   slot overwritten or copy torn      DRAINING   lagged(): n, resume
 *   DRAINING   slot not yet written               ARMED      arm()
 *   ARMED      re-check finds a message/close     DISARMING  kc_bus_recv
 *   ARMED      re-check finds nothing             PARKED     kc_park
 *   PARKED     a waker cleared the bit, unparked  DRAINING   kc__bus_wake
 *   PARKED     cancel fires or deadline passes    DISARMING  kc_park
 *   DISARMING  bit still set: cleared by us       (return)   disarm()
 *   DISARMING  bit gone: absorb the unpark        (return)   disarm()
 */
#include "kc_bus_impl.h"

#include "sched/kc_sched_svc.h"

#include <limits.h>
#include <string.h>

#define RELAXED memory_order_relaxed

/* Largest run take_run validates at once (one bit per slot of flags). */
#define RUN_MAX 64

/* Account a lag found at sequence next (its slot word w is past READY). */
static int lagged(struct kc_bus_sub *s, struct kc_bus *b, uint64_t next, uint64_t w,
                  uint64_t *missed)
{
    /* Acquire pairs with the tail release in the publishers. */
    uint64_t tail = atomic_load_explicit(&b->pub.tail, memory_order_acquire);
    uint64_t oldest = tail > b->cap ? tail - b->cap : 0;
    uint64_t gen = KC_BUS_GEN(w);
    uint64_t by_word = gen > b->cap ? gen - b->cap : 0;

    /* The overwriter's sequence bounds the live window even when the tail
     * we loaded is older than the word; the gap is at least one. */
    if (oldest < by_word)
        oldest = by_word;
    if (oldest <= next)
        oldest = next + 1;
    uint64_t n = oldest - next;
    kc__bus_bump(&s->lagged, n);
    atomic_store_explicit(&s->next, oldest, RELAXED);
    atomic_fetch_add_explicit(&b->receiver_lag, n, RELAXED);
    if (missed != NULL)
        *missed = n;
    return KC_BUS_LAGGED;
}

/* The slot word w for sequence next is not READY(next): lagged, not yet
 * published (-EAGAIN), or closed and drained (-EPIPE); 0 = look again. */
static int not_ready(struct kc_bus_sub *s, struct kc_bus *b, uint64_t next, uint64_t w,
                     uint64_t *missed)
{
    if (KC_BUS_GEN(w) > next + 1)
        return lagged(s, b, next, w, missed);
    /* Acquire pairs with the closer's release: after it every slot ever
     * published is visible. */
    if (!atomic_load_explicit(&b->closed, memory_order_acquire))
        return -EAGAIN;
    w = atomic_load_explicit(KC_BUS_SEQ(b, next & b->mask), memory_order_acquire);
    if (KC_BUS_GEN(w) > next + 1)
        return lagged(s, b, next, w, missed);
    return (w & ~(uint64_t)KC_BUS_W_MASKED) == KC_BUS_READY(next) ? 0 : -EPIPE;
}

/* First read of a subscriber: wait until a publisher has joined it. */
static int join(struct kc_bus_sub *s, struct kc_bus *b)
{
    /* Acquire pairs with apply_changes' release CAS to ACTIVE (next and
     * start were set before it). */
    if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_BUS_S_ACTIVE) {
        /* Acquire pairs with the closer's release store of closed. */
        if (!atomic_load_explicit(&b->closed, memory_order_acquire))
            return -EAGAIN;
        /* A last publish may have made us ACTIVE just before the close. */
        if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_BUS_S_ACTIVE)
            return -EPIPE;
    }
    s->joined = true;
    return 0;
}

static int check_args(const struct kc_bus_sub *s, const void *buf, size_t len, size_t n)
{
    if (s == NULL || buf == NULL || n == 0)
        return -EINVAL;
    if (s->bus->arena != NULL)
        return -ENOTSUP; /* a ticket bus: kc_bus_try_recv_ticket */
    return len / n < s->bus->msg_size ? -EMSGSIZE : 0;
}

/* One message: 0 (copied), KC_BUS_LAGGED, -EAGAIN or -EPIPE. */
static int take_one(struct kc_bus_sub *s, struct kc_bus *b, void *buf, uint64_t *missed)
{
    for (;;) {
        uint64_t next = atomic_load_explicit(&s->next, RELAXED);
        uint64_t i = next & b->mask;
        /* Acquire pairs with the release store of READY. */
        uint64_t w1 = atomic_load_explicit(KC_BUS_SEQ(b, i), memory_order_acquire);

        if (__builtin_expect((w1 & ~(uint64_t)KC_BUS_W_MASKED) != KC_BUS_READY(next), 0)) {
            int rc = not_ready(s, b, next, w1, missed);
            if (rc != 0)
                return rc;
            continue;
        }
        bool mine = !(w1 & KC_BUS_W_MASKED) ||
                    (atomic_load_explicit(KC_BUS_MASKW(b, i), RELAXED) & s->bit) != 0;
        if (mine)
            kc__bus_load_msg(buf, b->msg_size, KC_BUS_MSG(b, i), b->words);
        /* Acquire fence: if the copy saw an overwriter's word, the re-check
         * sees its BUSY store (pairs with the publisher's first fence). */
        atomic_thread_fence(memory_order_acquire);
        uint64_t w2 = atomic_load_explicit(KC_BUS_SEQ(b, i), RELAXED);
        if (w2 != w1)
            return lagged(s, b, next, w2, missed);
        atomic_store_explicit(&s->next, next + 1, RELAXED);
        if (mine)
            return 0;
        kc__bus_bump(&s->filtered, 1);
    }
}

/* Copy the payloads of k slots from sequence next on into out, skipping the
 * ones flagged in `masked` that are not addressed to s; returns the count
 * copied and adds the skipped ones to *skipped. */
static size_t copy_run(struct kc_bus_sub *s, struct kc_bus *b, unsigned char *out, uint64_t next,
                       size_t k, uint64_t masked, size_t *skipped)
{
    size_t got = 0;
#ifndef KC_BUS_LAYOUT_AOS
    /* SoA: the payloads of a run without masks are contiguous words (two
     * pieces when the run wraps), copied in one loop each. */
    if (masked == 0 && b->msg_size == (size_t)b->words * 8u) {
        uint64_t i0 = next & b->mask;
        size_t first = k < b->cap - i0 ? k : (size_t)(b->cap - i0);
        kc__bus_load_msg(out, first * b->msg_size, KC_BUS_MSG(b, i0), (uint32_t)(first * b->words));
        if (first < k)
            kc__bus_load_msg(out + first * b->msg_size, (k - first) * b->msg_size, KC_BUS_MSG(b, 0),
                             (uint32_t)((k - first) * b->words));
        return k;
    }
#else
    /* AoS: the same run, slot by slot (two pieces when it wraps), whole
     * words without length checks, walking the slots by their stride. */
    if (masked == 0 && b->msg_size == (size_t)b->words * 8u) {
        uint64_t i0 = next & b->mask;
        size_t first = k < b->cap - i0 ? k : (size_t)(b->cap - i0);
        const _Atomic uint64_t *src = KC_BUS_MSG(b, i0);
        for (size_t j = 0; j < k; j++, src += b->stride) {
            if (j == first)
                src = KC_BUS_MSG(b, 0);
            for (uint32_t w = 0; w < b->words; w++) {
                uint64_t v = atomic_load_explicit(&src[w], RELAXED);
                memcpy(out, &v, 8);
                out += 8;
            }
        }
        return k;
    }
#endif
    for (size_t j = 0; j < k; j++) {
        uint64_t i = (next + j) & b->mask;
        if (((masked >> j) & 1) &&
            (atomic_load_explicit(KC_BUS_MASKW(b, i), RELAXED) & s->bit) == 0) {
            (*skipped)++;
            continue;
        }
        kc__bus_load_msg(out + got * b->msg_size, b->msg_size, KC_BUS_MSG(b, i), b->words);
        got++;
    }
    return got;
}

/* The masked-message flags of the run [next, next + *k): reads the slot
 * words and shortens *k to the words still holding their sequence. */
static uint64_t scan_flags(struct kc_bus *b, uint64_t next, size_t *k)
{
    uint64_t masked = 0, want = KC_BUS_READY(next);

    for (size_t j = 0; j < *k; j++, want += 4u) {
        uint64_t w = atomic_load_explicit(KC_BUS_SEQ(b, (next + j) & b->mask), RELAXED);
        if ((w & ~(uint64_t)KC_BUS_W_MASKED) != want) {
            *k = j;
            break;
        }
        masked |= (uint64_t)((w >> 1) & 1u) << j;
    }
    return masked;
}

/* Up to max messages: 0 with *n >= 1, KC_BUS_LAGGED, -EAGAIN or -EPIPE.
 * The tail says how far the run goes (every sequence below it was written
 * completely before the tail's release store); the slot words are read
 * before copying only when a masked message may be in the run. */
static int take_run(struct kc_bus_sub *s, struct kc_bus *b, unsigned char *out, size_t max,
                    size_t *n, uint64_t *missed)
{
    if (max > RUN_MAX)
        max = RUN_MAX;
    for (;;) {
        uint64_t next = atomic_load_explicit(&s->next, RELAXED);
        _Atomic uint64_t *first = KC_BUS_SEQ(b, next & b->mask);
        /* Acquire pairs with the publishers' release store of the tail. */
        uint64_t tail = atomic_load_explicit(&b->pub.tail, memory_order_acquire);
        uint64_t masked = 0;
        size_t k, skipped = 0;

        if (tail <= next || tail - next > b->cap) {
            /* Nothing new, or lagged: the slot word says which. Acquire
             * pairs with the release store of READY. */
            int rc =
                not_ready(s, b, next, atomic_load_explicit(first, memory_order_acquire), missed);
            if (rc != 0)
                return rc;
            continue;
        }
        k = tail - next < max ? (size_t)(tail - next) : max;
        /* Relaxed: ordered after the tail's acquire, so at least as new as
         * the value stored before that tail. */
        if (atomic_load_explicit(&b->pub.masked_hi, RELAXED) > next) {
            masked = scan_flags(b, next, &k);
            if (k == 0)
                return lagged(s, b, next, atomic_load_explicit(first, RELAXED), missed);
        }
        size_t got = copy_run(s, b, out, next, k, masked, &skipped);
        /* Acquire fence, then one re-check validates the whole run (see the
         * file comment; pairs with the publishers' first release fence). */
        atomic_thread_fence(memory_order_acquire);
        uint64_t w2 = atomic_load_explicit(first, RELAXED);
        if ((w2 & ~(uint64_t)KC_BUS_W_MASKED) != KC_BUS_READY(next))
            return lagged(s, b, next, w2, missed);
        if (skipped)
            kc__bus_bump(&s->filtered, skipped);
        atomic_store_explicit(&s->next, next + k, RELAXED);
        if (got > 0) {
            *n = got;
            return 0;
        }
    }
}

/* One ticket, with the reader's own reference: take_one, then retain. A
 * ticket the bus released in between (the slot was overwritten after the
 * copy was validated) is one lagged message: the cursor has moved past it. */
static int take_ticket(struct kc_bus_sub *s, struct kc_bus *b, kc_arena_ticket_t *out,
                       uint64_t *missed)
{
    int rc = take_one(s, b, out, missed);
    if (rc != 0 || kc_arena_retain(b->arena, *out) == 0)
        return rc;
    kc__bus_bump(&s->lagged, 1);
    atomic_fetch_add_explicit(&b->receiver_lag, 1, RELAXED);
    atomic_fetch_add_explicit(&b->tickets_stale, 1, RELAXED);
    if (missed != NULL)
        *missed = 1;
    return KC_BUS_LAGGED;
}

/* What one attempt takes: a message, a run, or a ticket. */
enum take {
    TAKE_ONE,
    TAKE_RUN,
    TAKE_TICKET
};

/* One attempt: join if needed, then take what `how` says. */
static int poll_once(struct kc_bus_sub *s, enum take how, unsigned char *buf, size_t max, size_t *n,
                     uint64_t *missed)
{
    if (__builtin_expect(!s->joined, 0)) {
        int rc = join(s, s->bus);
        if (rc != 0)
            return rc;
    }
    if (how == TAKE_ONE)
        return take_one(s, s->bus, buf, missed);
    if (how == TAKE_RUN)
        return take_run(s, s->bus, buf, max, n, missed);
    return take_ticket(s, s->bus, (kc_arena_ticket_t *)(void *)buf, missed);
}

int kc_bus_try_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed)
{
    int rc = check_args(sub, buf, len, 1);
    return rc != 0 ? rc : poll_once(sub, TAKE_ONE, buf, 0, NULL, missed);
}

int kc_bus_try_recv_batch(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n, uint64_t *missed)
{
    if (n == NULL)
        return -EINVAL;
    size_t max = *n;
    int rc = check_args(sub, buf, len, max);
    *n = 0;
    return rc != 0 ? rc : poll_once(sub, TAKE_RUN, buf, max, n, missed);
}

/* Set the want bit: the receiver is about to sleep. Release: pairs with
 * the waker's acq_rel clear (kc__bus_wake), which then sees the parker
 * kc_parker_init bound. The seq_cst fence after it is the Dekker partner
 * of the publisher's fence before it loads want (finish()): of two seq_cst
 * fences one precedes the other, so either the publisher sees the bit or
 * the re-check after this call sees the message. A seq_cst RMW alone is
 * not enough: C11 lets the re-check, an acquire load, still read the
 * slot's old word while the publisher's relaxed load of want misses the
 * bit (store buffering; Relacy shows the lost wake-up,
 * core/relacy/rl_bus.cpp). x86 and AArch64 order the RMW before the load
 * anyway; the fence makes it so for C11 and POWER. */
static void arm(struct kc_bus_sub *s)
{
    atomic_fetch_or_explicit(&s->bus->want, s->bit, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
}

/* Leave the armed state. If a waker already cleared the bit, its unpark is
 * committed: take that permit now so none outlives this call (invariant 8
 * guarantees it comes, and the waker never blocks before sending it). The
 * wait ignores cancellation: it is a bounded hand-over, not a wait for
 * data. */
static void disarm(struct kc_bus_sub *s)
{
    /* Acquire pairs with the waker's acq_rel clear. */
    uint64_t old = atomic_fetch_and_explicit(&s->bus->want, ~s->bit, memory_order_acquire);
    if ((old & s->bit) == 0)
        kc__park(&s->parker, KC_NO_TIMEOUT, NULL, false);
}

/* Shared by kc_bus_recv and kc_bus_recv_batch: try, arm, re-check, park.
 * Cancellation wins over the deadline; a message found wins over both. */
static int recv_wait(struct kc_bus_sub *s, enum take how, unsigned char *buf, size_t max, size_t *n,
                     uint64_t *missed, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int rc;

    rc = poll_once(s, how, buf, max, n, missed);
    if (rc != -EAGAIN)
        return rc;
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    /* A negative timeout other than KC_NO_TIMEOUT has run out: as 0. */
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (timeout_ns == 0)
        return -EAGAIN;
    int64_t deadline = kc__deadline_after(timeout_ns);
    /* Bind the parker to this caller (thread or coroutine). No unpark can
     * be in flight: the bit is clear and every earlier call absorbed its
     * wake-up (invariant 7). */
    kc_parker_init(&s->parker);
    for (;;) {
        arm(s);
        rc = poll_once(s, how, buf, max, n, missed);
        if (rc != -EAGAIN)
            break;
        int64_t left = kc__deadline_left(deadline);
        kc__bus_bump(&s->parks, 1);
        rc = kc_park(&s->parker, left, cancel);
        if (rc != 0)
            break; /* -ETIME or -ECANCELED (cancel wins, see park.h) */
        /* Woken: the waker cleared our bit (invariant 8). */
        rc = poll_once(s, how, buf, max, n, missed);
        if (rc != -EAGAIN)
            return rc;
    }
    disarm(s);
    return rc;
}

int kc_bus_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed, int64_t timeout_ns,
                const kc_cancel_t *cancel)
{
    int rc = check_args(sub, buf, len, 1);
    return rc != 0 ? rc : recv_wait(sub, TAKE_ONE, buf, 0, NULL, missed, timeout_ns, cancel);
}

int kc_bus_recv_batch(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n, uint64_t *missed,
                      int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (n == NULL)
        return -EINVAL;
    size_t max = *n;
    int rc = check_args(sub, buf, len, max);
    *n = 0;
    return rc != 0 ? rc : recv_wait(sub, TAKE_RUN, buf, max, n, missed, timeout_ns, cancel);
}

static int check_ticket_args(const struct kc_bus_sub *s, const kc_arena_ticket_t *t)
{
    if (s == NULL || t == NULL)
        return -EINVAL;
    return s->bus->arena == NULL ? -ENOTSUP : 0;
}

int kc_bus_try_recv_ticket(kc_bus_sub_t *sub, kc_arena_ticket_t *ticket, uint64_t *missed)
{
    int rc = check_ticket_args(sub, ticket);
    return rc != 0 ? rc : poll_once(sub, TAKE_TICKET, (unsigned char *)ticket, 0, NULL, missed);
}

int kc_bus_recv_ticket(kc_bus_sub_t *sub, kc_arena_ticket_t *ticket, uint64_t *missed,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int rc = check_ticket_args(sub, ticket);
    return rc != 0 ? rc
                   : recv_wait(sub, TAKE_TICKET, (unsigned char *)ticket, 0, NULL, missed,
                               timeout_ns, cancel);
}
