/* test_zdesc_fault.c - arena exhaustion and injected allocation failures on the send path.
 *
 * Exhaustion: a small arena behind a boxed channel fills up; the send that
 * finds no room fails with -ENOMEM, counted by the channel and the arena,
 * and nothing that was sent is lost or torn; draining gives the memory
 * back, and the same number of sends succeeds again (recovery). The
 * descriptor maker and a select with a boxed send clause fail the same
 * way, with nothing happening.
 *
 * Fault injection: built with FLAVOR=fault (-DKC_FAULT_INJECT=1), every
 * KC_FAULT_EVERY-th arena allocation fails (this test sets 7 unless the
 * environment says otherwise; other builds inject nothing and the test
 * checks the same accounting with zero failures). Two producers send
 * descriptors and boxed copies while two consumers drain them: each
 * failure is an -ENOMEM that loses nothing, every successful send is
 * received once, and the arena ends with zero live tickets.
 */
#include "kcoro.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_zdesc_test.h"

enum {
    BIG = 16384, /* boxed element of the exhaustion test: 4 pages */
    SMALL_ARENA = 64 * 4096,
    ELEM = 2048
};

/* An arena created with fault injection off, whatever the environment. */
static kc_arena_t *arena_without_faults(size_t bytes)
{
    const char *env = getenv("KC_FAULT_EVERY");
    char saved[32] = "";
    if (env != NULL)
        snprintf(saved, sizeof(saved), "%s", env);
    unsetenv("KC_FAULT_EVERY");
    kc_arena_t *a = zt_arena(bytes);
    if (env != NULL)
        setenv("KC_FAULT_EVERY", saved, 1);
    return a;
}

/* Fill ch with boxed sends stamped first, first+1, ... until the arena is
 * full; returns how many got in (the failing send must be -ENOMEM). */
static uint64_t fill(kc_chan_t *ch, uint64_t first)
{
    static char bytes[BIG];
    for (uint64_t v = first;; v++) {
        zt_stamp(bytes, BIG, v);
        int rc = kc_chan_try_send(ch, bytes);
        if (rc == -ENOMEM)
            return v - first;
        assert_int_equal(rc, 0);
    }
}

static void drain(kc_chan_t *ch, uint64_t first, uint64_t n)
{
    static char out[BIG];
    for (uint64_t k = 0; k < n; k++) {
        assert_int_equal(kc_chan_try_recv(ch, out), 0);
        assert_int_equal(zt_read_stamp(out, BIG), first + k); /* in order, whole */
    }
    assert_int_equal(kc_chan_try_recv(ch, out), -EAGAIN);
}

static void test_zdesc_exhaustion_is_enomem_on_send_and_recovers(void **state)
{
    (void)state;
    kc_arena_t *a = arena_without_faults(SMALL_ARENA);
    static const struct chan_cfg unl = {"unlimited", KC_CHAN_UNLIMITED, KC_CHAN_SUSPEND, 0};
    kc_chan_t *ch = zt_chan(&unl, a, BIG, NULL);
    uint64_t n = fill(ch, 0);
    assert_int_equal(n, SMALL_ARENA / BIG); /* every page holds a payload */
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.failures.enomem, 1);
    assert_int_equal(s.occupancy, n); /* the failed send left nothing behind */
    assert_int_equal(s.sends, n);
    uint64_t failed = zt_metrics(a).failed_allocs;
    assert_true(failed >= 1);
    assert_int_equal(zt_live(a), n);

    /* the other ways in fail the same way, and change nothing */
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_alloc(&d, a, BIG, 0), -ENOMEM);
    static char bytes[BIG];
    kc_chan_t *other = NULL;
    assert_int_equal(kc_chan_make(&other, KC_CHAN_BUFFERED, 1, 8), 0);
    uint64_t one = 1;
    assert_int_equal(kc_chan_try_send(other, &one), 0);
    uint64_t got = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_SEND_INIT(ch, bytes),
                              KC_CHAN_CLAUSE_RECV_INIT(other, &got)};
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL), -ENOMEM);
    assert_int_equal(got, 0);
    assert_int_equal(kc_chan_len(other), 1); /* the ready receive did not happen */
    assert_int_equal(kc_chan_len(ch), n);
    assert_int_equal(kc_chan_destroy(other), 0);

    drain(ch, 0, n);
    assert_int_equal(zt_live(a), 0);
    uint64_t again = fill(ch, 1000); /* recovery: the same room again */
    assert_int_equal(again, n);
    drain(ch, 1000, again);
    assert_int_equal(snap(ch).failures.enomem, 3);
    assert_int_equal(kc_chan_destroy(ch), 0);
    zt_assert_clean(a);
}

/* ------------------------------------------------------- fault injection */

struct pipe_state {
    kc_arena_t *a;
    kc_chan_t *desc, *boxed;
    long per_producer;
};

struct worker {
    struct pipe_state *p;
    int id;
    long sent, received, errors;
    long enomem_alloc, enomem_send; /* from kc_zdesc_alloc, from kc_chan_send */
    uint64_t sum_sent, sum_received;
};

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    struct pipe_state *p = w->p;
    static _Thread_local char bytes[ELEM];
    for (long k = 0; k < p->per_producer; k++) {
        uint64_t v = ((uint64_t)w->id << 40) | (uint64_t)k;
        int rc;
        if (k % 2 == 0) {
            kc_zdesc_t d;
            rc = kc_zdesc_alloc(&d, p->a, 100 + (size_t)(k % 3000), 0);
            if (rc == 0) {
                zt_stamp(d.ptr, d.len, v);
                rc = kc_chan_send_desc(p->desc, &d, KC_NO_TIMEOUT, NULL);
                if (rc != 0)
                    kc_zdesc_release(&d, p->a);
            }
        } else {
            zt_stamp(bytes, ELEM, v);
            rc = kc_chan_send(p->boxed, bytes, KC_NO_TIMEOUT, NULL);
        }
        if (rc == -ENOMEM) {
            if (k % 2 == 0)
                w->enomem_alloc++;
            else
                w->enomem_send++;
        } else if (rc != 0) {
            w->errors++;
        } else {
            w->sent++;
            w->sum_sent += v;
        }
    }
    return NULL;
}

/* Consumer 0 drains the descriptor channel, consumer 1 the boxed one (by
 * copy and by descriptor in turn), each until it is closed and empty. */
static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    struct pipe_state *p = w->p;
    static _Thread_local char out[ELEM];
    for (long k = 0;; k++) {
        uint64_t v = UINT64_MAX;
        int rc;
        if (w->id == 1 && k % 2 == 0) {
            rc = kc_chan_recv(p->boxed, out, KC_NO_TIMEOUT, NULL);
            if (rc == 0)
                v = zt_read_stamp(out, ELEM);
        } else {
            kc_zdesc_t d;
            void *q;
            size_t len;
            rc = kc_chan_recv_desc(w->id == 0 ? p->desc : p->boxed, &d, KC_NO_TIMEOUT, NULL);
            if (rc == 0 && kc_zdesc_hydrate(&d, p->a, &q, &len) == 0) {
                v = zt_read_stamp(q, len);
                if (kc_zdesc_release(&d, p->a) != 1)
                    v = UINT64_MAX;
            }
        }
        if (rc == -EPIPE)
            return NULL;
        if (rc != 0 || v == UINT64_MAX) {
            w->errors++;
            continue;
        }
        w->received++;
        w->sum_received += v;
    }
}

static void test_zdesc_fault_injection_loses_nothing_and_leaks_nothing(void **state)
{
    (void)state;
#if defined(KC_FAULT_INJECT) && KC_FAULT_INJECT
    setenv("KC_FAULT_EVERY", "7", 0); /* unless told otherwise */
    long every = atol(getenv("KC_FAULT_EVERY"));
#else
    long every = 0;
#endif
    static struct pipe_state p;
    p.a = zt_arena(0);
    p.per_producer = kc_test_scaled(20000);
    static const struct chan_cfg buf32 = {"fault", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 32};
    p.desc = zt_chan(&buf32, p.a, 0, NULL);
    p.boxed = zt_chan(&buf32, p.a, ELEM, NULL);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.p = &p, .id = i % 2};
        assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? producer_main : consumer_main, &w[i]),
                         0);
    }
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    assert_int_equal(kc_chan_close(p.desc), 0);
    assert_int_equal(kc_chan_close(p.boxed), 0);
    pthread_join(th[2], NULL);
    pthread_join(th[3], NULL);
    long sent = w[0].sent + w[1].sent;
    long on_send = w[0].enomem_send + w[1].enomem_send;
    long enomem = w[0].enomem_alloc + w[1].enomem_alloc + on_send;
    for (int i = 0; i < 4; i++)
        if (w[i].errors != 0)
            fail_msg("fault every %ld: worker %d had %ld errors", every, i, w[i].errors);
    assert_int_equal(sent + enomem, 2 * p.per_producer);
    assert_int_equal(w[2].received + w[3].received, sent);
    assert_int_equal(w[2].sum_received + w[3].sum_received, w[0].sum_sent + w[1].sum_sent);
    assert_int_equal(snap(p.boxed).failures.enomem, on_send); /* counted where it happened */
    assert_int_equal(snap(p.desc).failures.enomem, 0);
    kc_arena_metrics_t m = zt_metrics(p.a);
    assert_true(m.failed_allocs >= (uint64_t)enomem);
    if (every > 0)
        assert_true(enomem > 0);
    else
        assert_int_equal(enomem, 0);
    printf("  fault every %ld: %ld sends, %ld -ENOMEM, %llu failed arena allocations\n", every,
           sent, enomem, (unsigned long long)m.failed_allocs);
    assert_int_equal(kc_chan_destroy(p.desc), 0);
    assert_int_equal(kc_chan_destroy(p.boxed), 0);
    zt_assert_clean(p.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdesc_exhaustion_is_enomem_on_send_and_recovers),
        cmocka_unit_test(test_zdesc_fault_injection_loses_nothing_and_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
