/* test_zdesc_threads.c - arena descriptors across 4 threads: exact refcounts, nothing lost.
 *
 * Two concurrent workloads on plain threads (each parks on its futex while
 * it waits):
 *   - a ring of 4 threads and 4 descriptor channels with an arena attached:
 *     every hand-off is either a retained copy of one of 16 shared tickets
 *     or a fresh allocation; the receiver hydrates it, checks the stamp and
 *     releases. Afterwards each shared ticket has exactly 1 reference left
 *     (its owner's), every fresh one was freed, and no release was double.
 *   - a boxed byte channel with 2 producers copying elements in and 2
 *     consumers taking them out by copy and by descriptor, closed when the
 *     producers are done: every element arrives exactly once, and the
 *     arena ends empty.
 * KCORO_TEST_FULL=1 runs 1,000,000 hand-offs per ring thread (the default
 * is 20,000; KCORO_TEST_SCALE divides it). Threads record; the main thread
 * asserts after joining. The seed is printed on failure.
 */
#include "kcoro.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_zdesc_test.h"

enum {
    RING = 4,
    SHARED = 16,
    SHARED_LEN = 700,
    BOX_ELEM = 1024
};

static long ring_ops(void)
{
    const char *full = getenv("KCORO_TEST_FULL");
    return kc_test_scaled(full != NULL && *full == '1' ? 1000000 : 20000);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

struct ring {
    kc_arena_t *a;
    kc_chan_t *ch[RING];
    kc_zdesc_t shared[SHARED];
    long ops;
    uint64_t seed;
};

struct ring_thread {
    struct ring *r;
    int id;
    long fresh;  /* fresh payloads this thread allocated */
    long errors; /* failed calls or wrong stamps */
    int first_rc;
};

static void note(struct ring_thread *t, int rc)
{
    if (t->errors++ == 0)
        t->first_rc = rc;
}

/* Send one element to our channel: a retained shared ticket (stamp = its
 * index) or a fresh payload stamped with a value no shared one has. */
static void ring_send(struct ring_thread *t, uint64_t *rng, long k)
{
    struct ring *r = t->r;
    kc_zdesc_t d;
    uint64_t pick = xorshift(rng);
    int rc;
    if (pick % 3 != 0) {
        rc = kc_zdesc_retain(&r->shared[pick % SHARED], r->a, &d);
    } else {
        rc = kc_zdesc_alloc(&d, r->a, 64 + pick % 4000, 0);
        if (rc == 0) {
            zt_stamp(d.ptr, d.len, SHARED + ((uint64_t)t->id << 32) + (uint64_t)k);
            t->fresh++;
        }
    }
    if (rc == 0)
        rc = kc_chan_send_desc(r->ch[t->id], &d, KC_NO_TIMEOUT, NULL);
    if (rc != 0)
        note(t, rc);
}

/* Receive one element from the previous thread, check it, release it. */
static void ring_recv(struct ring_thread *t)
{
    struct ring *r = t->r;
    kc_zdesc_t d;
    void *p;
    size_t len;
    int rc = kc_chan_recv_desc(r->ch[(t->id + RING - 1) % RING], &d, KC_NO_TIMEOUT, NULL);
    if (rc == 0)
        rc = kc_zdesc_hydrate(&d, r->a, &p, &len);
    if (rc != 0) {
        note(t, rc);
        return;
    }
    uint64_t v = zt_read_stamp(p, len);
    bool shared = v < SHARED;
    if (v == UINT64_MAX || (shared && (p != r->shared[v].ptr || len != SHARED_LEN)))
        note(t, -EPROTO);
    rc = kc_zdesc_release(&d, r->a);
    if (rc != (shared ? 0 : 1)) /* a shared ticket's owner still holds one */
        note(t, rc < 0 ? rc : -EPROTO);
}

static void *ring_main(void *arg)
{
    struct ring_thread *t = arg;
    uint64_t rng = t->r->seed + (uint64_t)t->id * 0x9e3779b97f4a7c15ull;
    for (long k = 0; k < t->r->ops; k++) {
        ring_send(t, &rng, k);
        ring_recv(t);
    }
    return NULL;
}

static void test_zdesc_refcounts_exact_under_4_threads(void **state)
{
    (void)state;
    static struct ring r;
    r.a = zt_arena(0);
    r.ops = ring_ops();
    r.seed = 0x5eed2dULL;
    static const struct chan_cfg buf8 = {"ring", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 8};
    for (int i = 0; i < RING; i++)
        r.ch[i] = zt_chan(&buf8, r.a, 0, NULL);
    for (uint64_t j = 0; j < SHARED; j++)
        r.shared[j] = zt_desc(r.a, SHARED_LEN, j);
    struct ring_thread t[RING];
    pthread_t th[RING];
    for (int i = 0; i < RING; i++) {
        t[i] = (struct ring_thread){&r, i, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, ring_main, &t[i]), 0);
    }
    long fresh = 0;
    for (int i = 0; i < RING; i++) {
        pthread_join(th[i], NULL);
        if (t[i].errors != 0)
            fail_msg("seed %#llx: thread %d had %ld errors, first %d", (unsigned long long)r.seed,
                     i, t[i].errors, t[i].first_rc);
        fresh += t[i].fresh;
    }
    for (int j = 0; j < SHARED; j++) {
        kc_arena_ticket_t tk;
        assert_int_equal(kc_zdesc_ticket(&r.shared[j], &tk), 0);
        assert_int_equal(kc_arena_validate(r.a, tk, NULL, NULL), 1); /* exactly the owner's */
    }
    kc_arena_metrics_t m = zt_metrics(r.a);
    assert_int_equal(m.live_tickets, SHARED);
    assert_int_equal(m.allocs, SHARED + fresh);
    assert_int_equal(m.frees, fresh);
    assert_int_equal(m.stale_rejections, 0);
    assert_int_equal(m.double_releases, 0);
    for (int i = 0; i < RING; i++) {
        kc_chan_snapshot_t s = snap(r.ch[i]);
        assert_int_equal(s.sends, r.ops);
        assert_int_equal(s.receives, r.ops);
        assert_int_equal(kc_chan_destroy(r.ch[i]), 0);
    }
    for (int j = 0; j < SHARED; j++)
        assert_int_equal(kc_zdesc_release(&r.shared[j], r.a), 1);
    zt_assert_clean(r.a);
}

/* ---------------------------------------------------- boxed, 2 x 2 threads */

struct boxed {
    kc_arena_t *a;
    kc_chan_t *ch;
    long per_producer;
};

struct box_thread {
    struct boxed *b;
    int id;
    long count;       /* elements sent or received */
    uint64_t sum;     /* of their stamps */
    long errors;      /* failed calls or torn payloads */
    uint64_t seen[2]; /* consumers: elements seen per producer */
};

static void *producer_main(void *arg)
{
    struct box_thread *t = arg;
    static _Thread_local char bytes[BOX_ELEM];
    for (long k = 0; k < t->b->per_producer; k++) {
        uint64_t v = ((uint64_t)t->id << 32) | (uint64_t)k;
        zt_stamp(bytes, BOX_ELEM, v);
        if (kc_chan_send(t->b->ch, bytes, KC_NO_TIMEOUT, NULL) != 0) {
            t->errors++;
            continue;
        }
        t->count++;
        t->sum += v;
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct box_thread *t = arg;
    static _Thread_local char out[BOX_ELEM];
    for (long k = 0;; k++) {
        uint64_t v;
        int rc;
        if (k % 2 == 0) { /* copied out by the channel */
            rc = kc_chan_recv(t->b->ch, out, KC_NO_TIMEOUT, NULL);
            v = rc == 0 ? zt_read_stamp(out, BOX_ELEM) : 0;
        } else { /* taken without a copy */
            kc_zdesc_t d;
            void *p;
            rc = kc_chan_recv_desc(t->b->ch, &d, KC_NO_TIMEOUT, NULL);
            if (rc == 0 && kc_zdesc_hydrate(&d, t->b->a, &p, NULL) == 0) {
                v = zt_read_stamp(p, BOX_ELEM);
                rc = kc_zdesc_release(&d, t->b->a) == 1 ? 0 : -EPROTO;
            } else {
                v = 0;
            }
        }
        if (rc == -EPIPE)
            return NULL;
        if (rc != 0 || v == UINT64_MAX || (v >> 32) > 1) {
            t->errors++;
            continue;
        }
        t->count++;
        t->sum += v;
        t->seen[v >> 32]++;
    }
}

static void test_zdesc_boxed_channel_2x2_threads_delivers_each_element_once(void **state)
{
    (void)state;
    static struct boxed b;
    b.a = zt_arena(0);
    b.per_producer = ring_ops();
    static const struct chan_cfg buf16 = {"boxed", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 16};
    b.ch = zt_chan(&buf16, b.a, BOX_ELEM, NULL);
    struct box_thread t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct box_thread){&b, i % 2, 0, 0, 0, {0, 0}};
        assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? producer_main : consumer_main, &t[i]),
                         0);
    }
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    assert_int_equal(kc_chan_close(b.ch), 0);
    pthread_join(th[2], NULL);
    pthread_join(th[3], NULL);
    for (int i = 0; i < 4; i++)
        if (t[i].errors != 0)
            fail_msg("thread %d had %ld errors", i, t[i].errors);
    assert_int_equal(t[0].count + t[1].count, 2 * b.per_producer);
    assert_int_equal(t[2].count + t[3].count, 2 * b.per_producer);
    assert_int_equal(t[2].sum + t[3].sum, t[0].sum + t[1].sum);
    for (int p = 0; p < 2; p++)
        assert_int_equal(t[2].seen[p] + t[3].seen[p], b.per_producer);
    kc_chan_snapshot_t s = snap(b.ch);
    assert_int_equal(s.arena_boxed, 2 * b.per_producer);
    assert_int_equal(s.arena_release_errors, 0);
    assert_int_equal(kc_chan_destroy(b.ch), 0);
    zt_assert_clean(b.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdesc_refcounts_exact_under_4_threads),
        cmocka_unit_test(test_zdesc_boxed_channel_2x2_threads_delivers_each_element_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
