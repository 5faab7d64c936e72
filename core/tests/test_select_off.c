/* test_select_off.c - select clauses that are off, discard, or all off.
 *
 * A clause with KC_CHAN_CLAUSE_OFF or a NULL channel never fires and keeps
 * its index; a receive clause without a buffer takes and drops one element
 * (an owned descriptor goes back to its arena); a select whose clauses are
 * all off ends only by its timeout or cancellation. The Go merge loop (turn
 * a case off once its channel is closed) runs without rebuilding its
 * clause array.
 */
#include "kcoro.h"

#include <pthread.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "kc_test_util.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_off_clauses_never_fire_and_keep_their_index(void **state)
{
    (void)state;
    kc_chan_t *ch[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_chan_make(&ch[i], KC_CHAN_UNLIMITED, 0, sizeof(uint64_t)), 0);
    uint64_t v = 7, got[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_chan_try_send(ch[i], &v), 0);
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(NULL, &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(ch[1], &got[1]),
                              KC_CHAN_CLAUSE_RECV_INIT(ch[2], &got[2])};
    kc_chan_clause_enable(&cl[1], false);
    assert_int_equal(kc_chan_select(cl, 3, KC_CHAN_SELECT_BIASED, 0, NULL), 2);
    assert_int_equal(got[2], 7);
    assert_int_equal(cl[2].result, 0);
    assert_int_equal(kc_chan_len(ch[1]), 1); /* the off clause took nothing */
    assert_int_equal(kc_chan_select(cl, 3, KC_CHAN_SELECT_UNBIASED, 0, NULL), -EAGAIN);
    kc_chan_clause_enable(&cl[1], true);
    assert_int_equal(cl[1].op, KC_CHAN_CLAUSE_RECV);
    assert_int_equal(kc_chan_select(cl, 3, KC_CHAN_SELECT_BIASED, 0, NULL), 1);
    assert_int_equal(got[1], 7);
    /* an off clause's channel and buffer are not looked at, even bad ones */
    kc_chan_clause_t bad[2] = {KC_CHAN_CLAUSE_SEND_INIT(ch[0], NULL),
                               KC_CHAN_CLAUSE_RECV_INIT(ch[0], &got[0])};
    kc_chan_clause_enable(&bad[0], false);
    assert_int_equal(kc_chan_select(bad, 2, 0, 0, NULL), 1);
    kc_chan_clause_enable(&bad[0], true);
    assert_int_equal(kc_chan_select(bad, 2, 0, 0, NULL), -EINVAL); /* a send needs a buffer */
    bad[1].size = 3;
    kc_chan_clause_enable(&bad[0], false);
    assert_int_equal(kc_chan_select(bad, 2, 0, 0, NULL), -EINVAL); /* sizes are still checked */
    for (int i = 0; i < 3; i++) {
        assert_chan_ok(ch[i]);
        assert_int_equal(kc_chan_destroy(ch[i]), 0);
    }
}

static void test_discard_clause_takes_one_element_and_drops_it(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 4, sizeof(uint32_t)), 0);
    uint32_t v = 1;
    for (v = 1; v <= 3; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_DISCARD_INIT(ch)};
    assert_int_equal(kc_chan_select(cl, 1, 0, 0, NULL), 0);
    assert_int_equal(cl[0].result, 0);
    assert_int_equal(kc_chan_len(ch), 2);
    uint32_t got = 0;
    assert_int_equal(kc_chan_try_recv(ch, &got), 0);
    assert_int_equal(got, 2); /* the first one was the one dropped */
    assert_int_equal(kc_chan_close(ch), 0);
    assert_int_equal(kc_chan_select(cl, 1, 0, 0, NULL), 0); /* 3 is still buffered */
    assert_int_equal(kc_chan_select(cl, 1, 0, 0, NULL), 0);
    assert_int_equal(cl[0].result, -EPIPE); /* closed and drained */
    kc_chan_snapshot_t sn = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &sn), 0);
    assert_int_equal(sn.receives, 3);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* Large elements are discarded through a heap scratch buffer. */
static void test_discard_of_a_large_element_and_a_waiting_discard(void **state)
{
    (void)state;
    enum {
        BIG = 4096
    };
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 2, BIG), 0);
    static unsigned char msg[BIG];
    memset(msg, 0x5a, sizeof(msg));
    assert_int_equal(kc_chan_try_send(ch, msg), 0);
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(NULL, NULL),
                              KC_CHAN_CLAUSE_DISCARD_INIT(ch)};
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, NULL), 1);
    assert_int_equal(kc_chan_len(ch), 0);
    assert_int_equal(kc_chan_select(cl, 2, 0, 10 * 1000 * 1000, NULL), -ETIME);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_discard_on_descriptor_channels(void **state)
{
    (void)state;
    kc_chan_t *plain = NULL, *with = NULL;
    assert_int_equal(kc_chan_make(&plain, KC_CHAN_BUFFERED, 2, 0), 0);
    char buf[8];
    assert_int_equal(kc_chan_send_ptr(plain, buf, sizeof(buf), 0, NULL), 0);
    kc_chan_clause_t cl = KC_CHAN_CLAUSE_DISCARD_INIT(plain);
    assert_int_equal(kc_chan_select(&cl, 1, 0, 0, NULL), -EINVAL); /* nobody could release it */
    assert_int_equal(kc_chan_len(plain), 1);                       /* nothing happened */
    kc_arena_t *a = NULL;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 1 << 20;
    assert_int_equal(kc_arena_create(&a, &ao), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 4;
    o.arena = a;
    assert_int_equal(kc_chan_create(&with, &o), 0);
    for (int i = 0; i < 3; i++) {
        kc_zdesc_t d;
        assert_int_equal(kc_zdesc_alloc(&d, a, 100, 0), 0);
        assert_int_equal(kc_chan_try_send_desc(with, &d), 0);
    }
    kc_arena_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 3);
    cl = (kc_chan_clause_t)KC_CHAN_CLAUSE_DISCARD_INIT(with);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_chan_select(&cl, 1, 0, 0, NULL), 0);
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 0); /* each dropped descriptor was released once */
    assert_int_equal(kc_chan_destroy(with), 0);
    assert_int_equal(kc_chan_destroy(plain), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

struct fire_later {
    kc_cancel_t *c;
    int64_t after_ns;
};

static void *fire_later(void *arg)
{
    struct fire_later *f = arg;
    struct timespec ts = {0, (long)f->after_ns};
    nanosleep(&ts, NULL);
    kc_cancel_trigger(f->c);
    return NULL;
}

static void test_all_off_waits_for_the_timeout_or_the_token_only(void **state)
{
    (void)state;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(NULL, NULL),
                              KC_CHAN_CLAUSE_SEND_INIT(NULL, NULL)};
    assert_int_equal(kc_chan_select(cl, 2, 0, 0, NULL), -EAGAIN);
    int64_t t0 = now_ns();
    assert_int_equal(kc_chan_select(cl, 2, 0, 20 * 1000 * 1000, NULL), -ETIME);
    assert_true(now_ns() - t0 >= 20 * 1000 * 1000);
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct fire_later f = {c, 10 * 1000 * 1000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fire_later, &f), 0);
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, c), -ECANCELED);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, c), -ECANCELED); /* fired: at once */
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static int all_off_forever(void *arg)
{
    (void)arg;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(NULL, NULL)};
    return kc_chan_select(cl, 1, 0, KC_NO_TIMEOUT, NULL); /* Go's select {} */
}

static void test_all_off_in_a_coroutine_ends_by_task_cancellation(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, all_off_forever, NULL, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, 20 * 1000 * 1000, NULL), -ETIME);
    assert_int_equal(kc_sched_cancel(t), 0);
    int status = 0;
    assert_int_equal(kc_sched_join(t, &status, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(status, -ECANCELED);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* Go's merge: for a != nil || b != nil { select { case v, ok := <-a: if
 * !ok { a = nil } ... } }, one clause array for the whole loop. */
struct merge {
    kc_chan_t *a, *b, *out;
    int n;
};

static int produce(void *arg)
{
    struct merge *m = arg;
    kc_chan_t *ch = m->n > 0 ? m->a : m->b;
    int base = m->n > 0 ? 0 : 1000;
    int count = m->n > 0 ? m->n : -m->n;
    for (int i = 0; i < count; i++) {
        int v = base + i;
        if (kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
    }
    return kc_chan_close(ch);
}

static int merge(void *arg)
{
    struct merge *m = arg;
    int va = 0, vb = 0, got = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(m->a, &va),
                              KC_CHAN_CLAUSE_RECV_INIT(m->b, &vb)};
    while (cl[0].chan != NULL || cl[1].chan != NULL) {
        int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
        if (i < 0)
            return i;
        if (cl[i].result == -EPIPE) {
            cl[i].chan = NULL; /* like setting a Go channel to nil */
            continue;
        }
        int v = i == 0 ? va : vb;
        if (kc_chan_send(m->out, &v, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
        got++;
    }
    kc_chan_close(m->out);
    return got;
}

static void test_go_merge_loop_turns_closed_cases_off(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct merge ma = {0}, mb;
    assert_int_equal(kc_chan_make(&ma.a, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    assert_int_equal(kc_chan_make(&ma.b, KC_CHAN_BUFFERED, 3, sizeof(int)), 0);
    assert_int_equal(kc_chan_make(&ma.out, KC_CHAN_UNLIMITED, 0, sizeof(int)), 0);
    mb = ma;
    ma.n = 500;
    mb.n = -300;
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, NULL, produce, &ma, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, NULL, produce, &mb, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &t, merge, &ma, NULL), 0);
    int status = 0;
    assert_int_equal(kc_sched_join(t, &status, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(status, 800);
    int v, next_a = 0, next_b = 1000, n = 0;
    while (kc_chan_try_recv(ma.out, &v) == 0) {
        if (v < 1000)
            assert_int_equal(v, next_a++); /* each producer's order is kept */
        else
            assert_int_equal(v, next_b++);
        n++;
    }
    assert_int_equal(n, 800);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_chan_destroy(ma.a), 0);
    assert_int_equal(kc_chan_destroy(ma.b), 0);
    assert_int_equal(kc_chan_destroy(ma.out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_clauses_never_fire_and_keep_their_index),
        cmocka_unit_test(test_discard_clause_takes_one_element_and_drops_it),
        cmocka_unit_test(test_discard_of_a_large_element_and_a_waiting_discard),
        cmocka_unit_test(test_discard_on_descriptor_channels),
        cmocka_unit_test(test_all_off_waits_for_the_timeout_or_the_token_only),
        cmocka_unit_test(test_all_off_in_a_coroutine_ends_by_task_cancellation),
        cmocka_unit_test(test_go_merge_loop_turns_closed_cases_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
