/* test_chan_stress.c - many producers and consumers, exact accounting.
 *
 * For every kind and policy, and for copied and descriptor elements, four
 * producers (two threads, two coroutines on a 2-worker scheduler) send
 * numbered elements with a mix of blocking, timed and try sends, and four
 * consumers (the same mix) receive until the channel is closed; one
 * consumer waits with a token that fires while it works. Afterwards every
 * element is accounted for exactly once: each send that returned 0 was
 * received once or handed to the undelivered callback once, each send that
 * failed was seen nowhere, and no consumer saw one producer's elements out
 * of order. The channel's own counters must agree:
 *   sends == receives + undelivered (after destroy).
 * KCORO_TEST_FULL=1 runs 40 times more elements.
 */
#include "kcoro.h"

#include <pthread.h>
#include <sched.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "kc_test_util.h"

enum {
    NP = 4,
    NC = 4,
    TIMED = 50000
};

struct stress {
    kc_chan_t *ch;
    bool desc;
    long per;
    _Atomic uint8_t *seen; /* receipts + undelivered, per element */
    uint8_t *sent_ok;      /* 1 when its send returned 0 (one writer each) */
    _Atomic long received, undelivered, order_errors, bad_results, cancelled;
    kc_cancel_t *cancel; /* consumer 0 waits with it */
};

struct role {
    struct stress *st;
    int id;
};

static size_t index_of(const struct stress *st, uint64_t v)
{
    return (size_t)(v >> 32) * (size_t)st->per + (size_t)(v & 0xffffffffu);
}

static void count_seen(struct stress *st, uint64_t v)
{
    atomic_fetch_add_explicit(&st->seen[index_of(st, v)], 1, memory_order_relaxed);
}

static void on_undelivered(void *elem, size_t size, void *arg)
{
    struct stress *st = arg;
    uint64_t v;
    if (size == sizeof(kc_zdesc_t))
        v = ((const kc_zdesc_t *)elem)->len;
    else
        memcpy(&v, elem, sizeof(v));
    count_seen(st, v);
    atomic_fetch_add_explicit(&st->undelivered, 1, memory_order_relaxed);
}

static char region[1];

static int send_one(struct stress *st, uint64_t v, int mode)
{
    kc_zdesc_t d;
    const void *e = &v;
    if (st->desc) {
        kc_zdesc_init(&d, region, (size_t)v, KC_ZDESC_OWNED); /* the value rides in len */
        e = &d;
    }
    int64_t t = mode == 0 ? KC_NO_TIMEOUT : mode == 1 ? TIMED : 0;
    return st->desc ? kc_chan_send_desc(st->ch, e, t, NULL) : kc_chan_send(st->ch, e, t, NULL);
}

static int producer(void *arg)
{
    struct role *r = arg;
    struct stress *st = r->st;
    for (long i = 0; i < st->per; i++) {
        uint64_t v = (uint64_t)r->id << 32 | (uint64_t)i;
        int mode = (int)((i + r->id) % 3), rc;
        while ((rc = send_one(st, v, mode)) == -EAGAIN && i % 7 != 0)
            kc_sched_yield(); /* a try send retries, except now and then */
        if (rc == 0)
            st->sent_ok[index_of(st, v)] = 1;
        else if (rc != -EAGAIN && rc != -ETIME)
            atomic_fetch_add_explicit(&st->bad_results, 1, memory_order_relaxed);
    }
    return 0;
}

static int recv_one(struct stress *st, uint64_t *v, int mode, const kc_cancel_t *c)
{
    int64_t t = mode == 0 ? KC_NO_TIMEOUT : mode == 1 ? TIMED : 0;
    if (!st->desc)
        return kc_chan_recv(st->ch, v, t, c);
    kc_zdesc_t d;
    int rc = kc_chan_recv_desc(st->ch, &d, t, c);
    if (rc == 0) {
        *v = d.len;
        if (!kc_zdesc_is_owned(&d))
            atomic_fetch_add_explicit(&st->bad_results, 1, memory_order_relaxed);
    }
    return rc;
}

static int consumer(void *arg)
{
    struct role *r = arg;
    struct stress *st = r->st;
    int64_t last[NP];
    for (int p = 0; p < NP; p++)
        last[p] = -1;
    const kc_cancel_t *c = r->id == 0 ? st->cancel : NULL;
    for (long n = 0;; n++) {
        uint64_t v;
        int rc = recv_one(st, &v, (int)(n % 3), c);
        if (rc == 0) {
            int p = (int)(v >> 32);
            int64_t seq = (int64_t)(v & 0xffffffffu);
            if (p >= NP || seq <= last[p])
                atomic_fetch_add_explicit(&st->order_errors, 1, memory_order_relaxed);
            else
                last[p] = seq;
            count_seen(st, v);
            atomic_fetch_add_explicit(&st->received, 1, memory_order_relaxed);
        } else if (rc == -EPIPE) {
            return 0;
        } else if (rc == -ECANCELED) {
            atomic_fetch_add_explicit(&st->cancelled, 1, memory_order_relaxed);
            return 0;
        } else if (rc == -EAGAIN) {
            kc_sched_yield();
        } else if (rc != -ETIME) {
            atomic_fetch_add_explicit(&st->bad_results, 1, memory_order_relaxed);
            return 0;
        }
    }
}

static void *as_thread(void *arg)
{
    struct role *r = arg;
    if (r->id >= 100)
        consumer(&(struct role){r->st, r->id - 100});
    else
        producer(r);
    return NULL;
}

static void run_stress(kc_sched_t *s, const struct chan_cfg *cfg, bool desc, long per)
{
    struct stress st;
    memset(&st, 0, sizeof(st));
    st.desc = desc;
    st.per = per;
    st.seen = calloc((size_t)(NP * per), 1);
    st.sent_ok = calloc((size_t)(NP * per), 1);
    assert_non_null(st.seen);
    assert_non_null(st.sent_ok);
    assert_int_equal(kc_cancel_create(&st.cancel, NULL), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = cfg->kind;
    o.policy = cfg->policy;
    o.capacity = cfg->kind == KC_CHAN_BUFFERED ? 16 : 0;
    o.elem_size = desc ? 0 : sizeof(uint64_t);
    o.on_undelivered = on_undelivered;
    o.undelivered_arg = &st;
    assert_int_equal(kc_chan_create(&st.ch, &o), 0);
    struct role prod[NP], cons[NC];
    pthread_t pt[2], ct[2];
    kc_task_t *ptask[2], *ctask[2];
    for (int i = 0; i < NC; i++) {
        cons[i] = (struct role){&st, i < 2 ? 100 + i : i};
        if (i < 2)
            assert_int_equal(pthread_create(&ct[i], NULL, as_thread, &cons[i]), 0);
        else
            assert_int_equal(kc_sched_spawn(s, &ctask[i - 2], consumer, &cons[i], NULL), 0);
    }
    for (int i = 0; i < NP; i++) {
        prod[i] = (struct role){&st, i};
        if (i < 2)
            assert_int_equal(pthread_create(&pt[i], NULL, as_thread, &prod[i]), 0);
        else
            assert_int_equal(kc_sched_spawn(s, &ptask[i - 2], producer, &prod[i], NULL), 0);
    }
    kc_cancel_trigger(st.cancel); /* consumer 0 leaves early, mid-stream */
    for (int i = 0; i < 2; i++) {
        pthread_join(pt[i], NULL);
        assert_int_equal(kc_sched_join(ptask[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    }
    assert_int_equal(kc_chan_close(st.ch), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(ct[i], NULL);
        assert_int_equal(kc_sched_join(ctask[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    }
    assert_chan_ok(st.ch);
    kc_chan_snapshot_t sn = snap(st.ch);
    assert_int_equal(kc_chan_destroy(st.ch), 0);
    long ok = 0, lost = 0, dup = 0, ghost = 0;
    for (long i = 0; i < NP * per; i++) {
        uint8_t n = atomic_load(&st.seen[i]);
        ok += st.sent_ok[i];
        lost += st.sent_ok[i] && n == 0;
        dup += n > 1;
        ghost += !st.sent_ok[i] && n > 0;
    }
    if (lost || dup || ghost || st.order_errors || st.bad_results)
        fail_msg("%s %s: %ld lost, %ld duplicated, %ld seen but not sent, %ld out of order, "
                 "%ld bad results",
                 cfg->name, desc ? "desc" : "copy", lost, dup, ghost, (long)st.order_errors,
                 (long)st.bad_results);
    print_message("%-22s %s: %ld sent, %ld received, %ld undelivered, %llu waits withdrawn\n",
                  cfg->name, desc ? "desc" : "copy", ok, (long)st.received, (long)st.undelivered,
                  (unsigned long long)sn.cancelled_waiters);
    assert_int_equal(sn.sends, ok);
    assert_int_equal(sn.receives, st.received);
    assert_int_equal(sn.sends, st.received + st.undelivered);
    assert_int_equal(sn.drops_oldest + sn.drops_latest + sn.occupancy, st.undelivered);
    assert_int_equal(st.cancelled, 1);
    free(st.seen);
    free(st.sent_ok);
    assert_int_equal(kc_cancel_destroy(st.cancel), 0);
}

static void test_chan_mpmc_stress_accounts_for_every_element(void **state)
{
    (void)state;
    long per = kc_test_scaled(getenv("KCORO_TEST_FULL") ? 200000 : 5000);
    kc_sched_t *s = kc_test_sched(2);
    for (size_t c = 0; c < N_CHAN_CFGS; c++)
        for (int desc = 0; desc < 2; desc++)
            run_stress(s, &chan_cfgs[c], desc, per);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_mpmc_stress_accounts_for_every_element),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
