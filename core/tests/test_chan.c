/* test_chan.c - channels without waiting: the kind x policy x op x outcome matrix.
 *
 * Every kind (and every overflow policy of BUFFERED) is driven into each
 * state (empty, full, closed and drained, closed with data), then every
 * operation (send, receive; copy and descriptor) runs in every mode (try,
 * timed, no timeout, cancelled token) and its result, the element moved,
 * the counters and the undelivered callback are compared with what the
 * channel model says. The rest covers creation, FIFO order and the
 * reservation indices, the drop policies' callbacks, conflation, unlimited
 * growth and shrink, close, destroy, descriptors, snapshots, rates and the
 * one-line dump. Waiting is in test_chan_wait.c.
 */
#include "kcoro.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "kc_test_util.h"

#include <sys/resource.h>

enum state {
    ST_EMPTY,
    ST_FULL,
    ST_CLOSED_EMPTY,
    ST_CLOSED_DATA,
    N_STATES
};
enum mode {
    M_TRY,
    M_TIMED,
    M_FOREVER,
    M_CANCELLED,
    N_MODES
};
static const char *const state_names[] = {"empty", "full", "closed-empty", "closed-data"};
static const char *const mode_names[] = {"try", "timed", "forever", "cancelled"};

static char payload[64]; /* what descriptors point at */

/* Elements carry a value: the u64 itself, or a descriptor's length. */
static void make_elem(bool desc, uint64_t v, void *out)
{
    if (desc)
        assert_int_equal(kc_zdesc_init(out, payload, (size_t)v, KC_ZDESC_OWNED), 0);
    else
        memcpy(out, &v, sizeof(v));
}

static uint64_t elem_value(bool desc, const void *e)
{
    if (desc)
        return ((const kc_zdesc_t *)e)->len;
    uint64_t v;
    memcpy(&v, e, sizeof(v));
    return v;
}

static size_t fill_count(const struct chan_cfg *c)
{
    switch (c->kind) {
    case KC_CHAN_BUFFERED:
        return c->capacity;
    case KC_CHAN_CONFLATED:
        return 1;
    case KC_CHAN_UNLIMITED:
        return 5;
    default:
        return 0;
    }
}

static int do_op(kc_chan_t *ch, bool desc, bool send, void *e, enum mode m, kc_cancel_t *fired)
{
    int64_t t = m == M_TRY ? 0 : m == M_TIMED ? SHORT_NS : KC_NO_TIMEOUT;
    const kc_cancel_t *c = m == M_CANCELLED ? fired : NULL;
    if (desc)
        return send ? kc_chan_send_desc(ch, e, t, c) : kc_chan_recv_desc(ch, e, t, c);
    return send ? kc_chan_send(ch, e, t, c) : kc_chan_recv(ch, e, t, c);
}

struct expect {
    int rc;
    bool blocks;    /* would wait: skipped in M_FOREVER */
    uint64_t value; /* received value, or the value the callback sees */
    int drop;       /* 0 none, 1 oldest, 2 latest */
};

/* The sequential model of one operation. Fill values are 1..n; the value
 * being sent is 100. */
static struct expect model(const struct chan_cfg *c, enum state st, bool send, enum mode m)
{
    struct expect x = {0, false, 0, 0};
    size_t n = st == ST_FULL ? fill_count(c) : st == ST_CLOSED_DATA ? 1 : 0;
    bool closed = st == ST_CLOSED_EMPTY || st == ST_CLOSED_DATA;
    if (m == M_CANCELLED) {
        x.rc = -ECANCELED;
        return x;
    }
    if (send) {
        bool full =
            c->kind == KC_CHAN_RENDEZVOUS || (st == ST_FULL && c->kind != KC_CHAN_UNLIMITED);
        if (closed) {
            x.rc = -EPIPE;
        } else if (!full) {
            x.rc = 0;
        } else if (c->kind == KC_CHAN_CONFLATED || c->policy == KC_CHAN_DROP_OLDEST) {
            x.drop = 1;
            x.value = 1;
        } else if (c->policy == KC_CHAN_DROP_LATEST) {
            x.drop = 2;
            x.value = 100;
        } else {
            x.blocks = true;
            x.rc = m == M_TRY ? -EAGAIN : -ETIME;
        }
        return x;
    }
    if (n > 0) {
        x.value = 1;
    } else if (closed) {
        x.rc = -EPIPE;
    } else {
        x.blocks = true;
        x.rc = m == M_TRY ? -EAGAIN : -ETIME;
    }
    return x;
}

static void run_case(const struct chan_cfg *c, bool desc, enum state st, bool send, enum mode m,
                     kc_cancel_t *fired)
{
    struct expect x = model(c, st, send, m);
    if (m == M_FOREVER && x.blocks)
        return;
    if (st == ST_CLOSED_DATA && c->kind == KC_CHAN_RENDEZVOUS)
        return; /* a rendezvous channel never holds data */
    struct undelivered_log log = {0};
    kc_chan_t *ch = chan_new(c, desc ? 0 : sizeof(uint64_t), &log);
    unsigned char e[sizeof(kc_zdesc_t)];
    size_t n = st == ST_FULL ? fill_count(c) : st == ST_CLOSED_DATA ? 1 : 0;
    for (size_t i = 1; i <= n; i++) {
        make_elem(desc, i, e);
        assert_int_equal(desc ? kc_chan_try_send_desc(ch, (void *)e) : kc_chan_try_send(ch, e), 0);
    }
    if (st == ST_CLOSED_EMPTY || st == ST_CLOSED_DATA)
        assert_int_equal(kc_chan_close(ch), 0);
    kc_chan_snapshot_t before = snap(ch);
    make_elem(desc, send ? 100 : 0, e);
    int rc = do_op(ch, desc, send, e, m, fired);
    if (rc != x.rc)
        fail_msg("%s %s %s in %s state, %s: got %s, expected %s", c->name, desc ? "desc" : "copy",
                 send ? "send" : "recv", state_names[st], mode_names[m], kc_errname(rc),
                 kc_errname(x.rc));
    kc_chan_snapshot_t after = snap(ch);
    uint64_t fails = after.failures_total - before.failures_total;
    assert_int_equal(fails, rc == 0 ? 0 : 1);
    if (rc == -EAGAIN)
        assert_int_equal(after.failures.eagain - before.failures.eagain, 1);
    if (rc == -ETIME)
        assert_int_equal(after.failures.etime - before.failures.etime, 1);
    if (rc == -ECANCELED)
        assert_int_equal(after.failures.ecanceled - before.failures.ecanceled, 1);
    if (rc == -EPIPE)
        assert_int_equal(after.failures.epipe - before.failures.epipe, 1);
    assert_int_equal(after.sends - before.sends, send && rc == 0 ? 1 : 0);
    assert_int_equal(after.receives - before.receives, !send && rc == 0 ? 1 : 0);
    if (!send && rc == 0)
        assert_int_equal(elem_value(desc, e), x.value);
    assert_int_equal(after.drops_oldest - before.drops_oldest, rc == 0 && x.drop == 1);
    assert_int_equal(after.drops_latest - before.drops_latest, rc == 0 && x.drop == 2);
    assert_int_equal(log.calls, rc == 0 && x.drop ? 1 : 0);
    if (log.calls == 1)
        assert_int_equal(log.last, x.value);
    assert_int_equal(after.cancelled_waiters - before.cancelled_waiters, rc == -ETIME);
    assert_chan_ok(ch);
    assert_accounting(ch);
    uint64_t left = after.occupancy;
    uint64_t calls = log.calls;
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(log.calls, calls + left); /* leftovers go to the callback */
    if (desc)
        assert_int_equal(log.owned, log.calls);
}

static void test_chan_matrix_kind_policy_op_outcome(void **state)
{
    (void)state;
    kc_cancel_t *fired = fired_token();
    for (size_t c = 0; c < N_CHAN_CFGS; c++)
        for (int desc = 0; desc < 2; desc++)
            for (int st = 0; st < N_STATES; st++)
                for (int send = 0; send < 2; send++)
                    for (int m = 0; m < N_MODES; m++)
                        run_case(&chan_cfgs[c], desc, st, send, m, fired);
    assert_int_equal(kc_cancel_destroy(fired), 0);
}

static void test_chan_create_rejects_bad_options(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    assert_int_equal(kc_chan_create(NULL, &o), -EINVAL);
    assert_int_equal(kc_chan_create(&ch, NULL), -EINVAL);
    struct {
        kc_chan_kind_t kind;
        kc_chan_policy_t policy;
        size_t cap, elem;
        uint32_t size, flags;
    } bad[] = {
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 0, 8, sizeof(o), 0}, /* no capacity */
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, KC_CHAN_MAX_CAPACITY + 1, 8, sizeof(o), 0},
        {KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 4, 8, sizeof(o), 0}, /* capacity on rendezvous */
        {KC_CHAN_RENDEZVOUS, KC_CHAN_DROP_OLDEST, 0, 8, sizeof(o), 0},
        {KC_CHAN_UNLIMITED, KC_CHAN_DROP_LATEST, 0, 8, sizeof(o), 0},
        {KC_CHAN_CONFLATED, KC_CHAN_DROP_LATEST, 0, 8, sizeof(o), 0},
        {(kc_chan_kind_t)7, KC_CHAN_SUSPEND, 0, 8, sizeof(o), 0},
        {KC_CHAN_BUFFERED, (kc_chan_policy_t)9, 4, 8, sizeof(o), 0},
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, KC_CHAN_MAX_ELEM + 1, sizeof(o), 0},
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, 8, sizeof(o) - 1, 0}, /* old struct */
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, 8, sizeof(o), 1},     /* unknown flag */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
        o.kind = bad[i].kind;
        o.policy = bad[i].policy;
        o.capacity = bad[i].cap;
        o.elem_size = bad[i].elem;
        o.size = bad[i].size;
        o.flags = bad[i].flags;
        ch = NULL;
        if (kc_chan_create(&ch, &o) != -EINVAL)
            fail_msg("bad option set %zu was accepted", i);
        assert_null(ch);
    }
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_CONFLATED, 0, 8), 0); /* DROP_OLDEST implied */
    assert_int_equal(kc_chan_capacity(ch), 1);
    assert_int_equal(kc_chan_elem_size(ch), 8);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_UNLIMITED, 0, 0), 0);
    assert_int_equal(kc_chan_capacity(ch), SIZE_MAX);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_destroy(NULL), 0);
}

static void test_chan_bad_arguments_return_einval_and_change_nothing(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL, *dch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 4, 8), 0);
    assert_int_equal(kc_chan_make(&dch, KC_CHAN_BUFFERED, 4, 0), 0);
    uint64_t v = 1;
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_init(&d, &v, sizeof(v), 0), 0);
    assert_int_equal(kc_chan_send(NULL, &v, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv(NULL, &v, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_send(ch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv(ch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_send_desc(ch, &d, 0, NULL), -EINVAL); /* copy channel */
    assert_int_equal(kc_chan_send(dch, &v, 0, NULL), -EINVAL);     /* descriptor channel */
    assert_int_equal(kc_chan_recv(dch, &v, 0, NULL), -EINVAL);
    kc_zdesc_t bad = d;
    bad.version = 99;
    assert_int_equal(kc_chan_send_desc(dch, &bad, 0, NULL), -EINVAL);
    bad = d;
    bad.ptr = NULL;
    assert_int_equal(kc_chan_send_desc(dch, &bad, 0, NULL), -EINVAL);
    bad = d;
    bad.flags = 0x80;
    assert_int_equal(kc_chan_send_desc(dch, &bad, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv_ptr(dch, NULL, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_send_ptr(dch, NULL, 4, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_close(NULL), -EINVAL);
    assert_false(kc_chan_is_closed(NULL));
    assert_int_equal(kc_chan_len(NULL), 0);
    assert_int_equal(snap(ch).failures.einval, 3);
    assert_int_equal(snap(dch).failures.einval, 7);
    assert_int_equal(snap(ch).sends + snap(dch).sends, 0);
    assert_int_equal(kc_chan_len(ch) + kc_chan_len(dch), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_destroy(dch), 0);
}

static void test_chan_buffered_is_fifo_and_indices_count_reservations(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 5, sizeof(uint64_t)), 0);
    uint64_t next = 0, expect = 0;
    for (int round = 0; round < 40; round++) { /* wraps the ring many times */
        for (int i = 0; i < 3; i++, next++)
            assert_int_equal(kc_chan_try_send(ch, &next), 0);
        assert_int_equal(kc_chan_len(ch), 3);
        for (int i = 0; i < 3; i++, expect++) {
            uint64_t v = 99;
            assert_int_equal(kc_chan_try_recv(ch, &v), 0);
            assert_int_equal(v, expect);
        }
        assert_chan_ok(ch);
    }
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.send_idx, 120);
    assert_int_equal(s.recv_idx, 120);
    assert_int_equal(s.bytes_sent, 120 * sizeof(uint64_t));
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_drop_oldest_keeps_newest_and_calls_back_once_each(void **state)
{
    (void)state;
    struct undelivered_log log = {0};
    const struct chan_cfg cfg = {"do", KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 3};
    kc_chan_t *ch = chan_new(&cfg, sizeof(uint64_t), &log);
    for (uint64_t v = 1; v <= 10; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_int_equal(log.calls, 7);
    assert_int_equal(log.sum, 1 + 2 + 3 + 4 + 5 + 6 + 7);
    assert_int_equal(log.elem_size, sizeof(uint64_t));
    for (uint64_t want = 8; want <= 10; want++) {
        uint64_t v = 0;
        assert_int_equal(kc_chan_try_recv(ch, &v), 0);
        assert_int_equal(v, want);
    }
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.drops_oldest, 7);
    assert_int_equal(s.undelivered, 7);
    assert_int_equal(s.send_idx, 10);
    assert_int_equal(s.recv_idx, 10); /* evictions advance the receive index */
    assert_accounting(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_drop_latest_keeps_oldest_and_calls_back_once_each(void **state)
{
    (void)state;
    struct undelivered_log log = {0};
    const struct chan_cfg cfg = {"dl", KC_CHAN_BUFFERED, KC_CHAN_DROP_LATEST, 3};
    kc_chan_t *ch = chan_new(&cfg, sizeof(uint64_t), &log);
    for (uint64_t v = 1; v <= 10; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_int_equal(log.calls, 7);
    assert_int_equal(log.sum, 4 + 5 + 6 + 7 + 8 + 9 + 10);
    for (uint64_t want = 1; want <= 3; want++) {
        uint64_t v = 0;
        assert_int_equal(kc_chan_try_recv(ch, &v), 0);
        assert_int_equal(v, want);
    }
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.drops_latest, 7);
    assert_int_equal(s.sends, 10); /* a dropped send still succeeded */
    assert_int_equal(s.send_idx, 3);
    assert_accounting(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_conflated_keeps_only_the_latest_value(void **state)
{
    (void)state;
    struct undelivered_log log = {0};
    const struct chan_cfg cfg = {"cf", KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0};
    kc_chan_t *ch = chan_new(&cfg, sizeof(uint64_t), &log);
    uint64_t v;
    for (v = 1; v <= 5; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_int_equal(kc_chan_try_recv(ch, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(kc_chan_try_recv(ch, &v), -EAGAIN);
    assert_int_equal(log.calls, 4);
    assert_int_equal(snap(ch).drops_oldest, 4);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_unlimited_grows_then_gives_memory_back(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_UNLIMITED, 0, sizeof(uint64_t)), 0);
    size_t start = ch->ring_slots;
    const uint64_t n = 10000;
    for (uint64_t v = 0; v < n; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_int_equal(kc_chan_len(ch), n);
    assert_true(ch->ring_slots >= n);
    assert_chan_ok(ch);
    for (uint64_t want = 0; want < n; want++) {
        uint64_t v = 0;
        assert_int_equal(kc_chan_try_recv(ch, &v), 0);
        assert_int_equal(v, want);
    }
    assert_int_equal(ch->ring_slots, start); /* shrunk back after the burst */
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_close_delivers_buffered_then_epipe(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 4, sizeof(uint64_t)), 0);
    for (uint64_t v = 1; v <= 3; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_false(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_close(ch), 0);
    assert_true(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_close(ch), -EPIPE); /* once */
    uint64_t v = 9;
    assert_int_equal(kc_chan_try_send(ch, &v), -EPIPE);
    for (uint64_t want = 1; want <= 3; want++) {
        assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(v, want);
    }
    assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(kc_chan_try_recv(ch, &v), -EPIPE);
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.failures.epipe, 3);
    assert_int_equal(s.closed, 1);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_descriptors_move_by_value_with_their_flags(void **state)
{
    (void)state;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 2;
    o.max_desc_len = 32;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    kc_zdesc_t d, r;
    assert_int_equal(kc_zdesc_init(&d, payload, 32, KC_ZDESC_OWNED), 0);
    d.region = 7;
    d.ticket[0] = 0xab;
    d.ticket[15] = 0xcd;
    assert_int_equal(kc_chan_try_send_desc(ch, &d), 0);
    assert_int_equal(kc_chan_try_recv_desc(ch, &r), 0);
    assert_memory_equal(&r, &d, sizeof(d)); /* the whole descriptor, ticket too */
    assert_true(kc_zdesc_is_owned(&r));
    d.len = 33;
    assert_int_equal(kc_chan_try_send_desc(ch, &d), -EMSGSIZE);
    assert_int_equal(kc_chan_send_ptr(ch, payload + 3, 5, 0, NULL), 0);
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_chan_recv_ptr(ch, &p, &len, 0, NULL), 0);
    assert_ptr_equal(p, payload + 3);
    assert_int_equal(len, 5);
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.desc_sends, 2);
    assert_int_equal(s.desc_receives, 2);
    assert_int_equal(s.bytes_received, 32 + 5);
    assert_int_equal(s.failures.emsgsize, 1);
    assert_int_equal(kc_zdesc_init(NULL, NULL, 0, 0), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, NULL, 1, 0), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, payload, 1, 0x100), -EINVAL);
    assert_false(kc_zdesc_is_owned(NULL));
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_snapshot_rate_and_dump(void **state)
{
    (void)state;
    const struct chan_cfg cfg = {"ticks", KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 4};
    kc_chan_t *ch = chan_new(&cfg, sizeof(uint64_t), NULL);
    kc_chan_snapshot_t a = snap(ch);
    assert_int_equal(a.metrics_version, KC_CHAN_METRICS_VERSION);
    assert_int_equal(a.size, sizeof(a));
    for (uint64_t v = 0; v < 6; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    uint64_t v;
    assert_int_equal(kc_chan_try_recv(ch, &v), 0);
    kc_chan_snapshot_t b = snap(ch);
    while (b.taken_ns == a.taken_ns)
        b = snap(ch);
    kc_chan_rate_t r;
    assert_int_equal(kc_chan_compute_rate(&a, &b, &r), 0);
    assert_true(r.seconds > 0);
    assert_true(r.sends_per_s > 0 && r.receives_per_s > 0 && r.drops_per_s > 0);
    assert_int_equal(kc_chan_compute_rate(&b, &a, &r), -EINVAL); /* backwards */
    assert_int_equal(kc_chan_compute_rate(NULL, &a, &r), -EINVAL);
    kc_chan_snapshot_t small = {.size = 8};
    assert_int_equal(kc_chan_snapshot(ch, &small), -EINVAL);
    char line[512];
    int n = kc_chan_dump(ch, line, sizeof(line));
    assert_true(n > 0 && (size_t)n < sizeof(line));
    assert_non_null(strstr(line, "chan=ticks kind=BUFFERED cap=4 policy=DROP_OLDEST"));
    assert_non_null(strstr(line, "occ=3 send_idx=6 recv_idx=3"));
    assert_non_null(strstr(line, "drops_oldest=2"));
    assert_non_null(strstr(line, "state=OPEN"));
    char tiny[8];
    assert_int_equal(kc_chan_dump(ch, tiny, sizeof(tiny)), n); /* cut, full length back */
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(kc_chan_dump(ch, NULL, 0), n);
    assert_int_equal(kc_chan_dump(NULL, line, sizeof(line)), -EINVAL);
    assert_string_equal(kc_chan_kind_name(KC_CHAN_CONFLATED), "CONFLATED");
    assert_string_equal(kc_chan_policy_name(KC_CHAN_DROP_LATEST), "DROP_LATEST");
    assert_string_equal(kc_chan_kind_name((kc_chan_kind_t)9), "?");
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* ---- huge capacities (issue 12, defect 6) */

/* Resident and virtual size of this process, in bytes (/proc/self/statm). */
static void mem_now(size_t *resident, size_t *virt)
{
    unsigned long vpages = 0, rpages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu %lu", &vpages, &rpages), 2);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    *resident = rpages * (size_t)page;
    *virt = vpages * (size_t)page;
}

static void test_chan_huge_capacity_commits_no_memory_up_front(void **state)
{
    (void)state;
    /* 2^24 elements of 8 bytes: a 128 MiB ring (256 MiB as a seq ring). */
    size_t r0, r1, v;
    mem_now(&r0, &v);
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, (size_t)1 << 24, sizeof(uint64_t)), 0);
    mem_now(&r1, &v);
    size_t grown = r1 > r0 ? r1 - r0 : 0;
    if (grown >= (size_t)64 << 20)
        fail_msg("creating a channel of 2^24 elements made %zu MiB resident", grown >> 20);
    /* It still works, and its first and last slots are usable. */
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(kc_chan_try_send(ch, &i), 0);
    uint64_t got;
    assert_int_equal(kc_chan_try_recv(ch, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(kc_chan_len(ch), 2);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KC_TEST_SANITIZED 1
#endif
#endif

#ifndef KC_TEST_SANITIZED
/* In a child under an address-space limit of its size + 512 MiB: the
 * largest capacities fail with -ENOMEM, a fitting one still works.
 * Exits 0, or the number of the check that failed. */
static void huge_under_rlimit(void)
{
    size_t r, v;
    unsigned long vpages = 0, rpages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%lu %lu", &vpages, &rpages) != 2)
        _exit(10);
    fclose(f);
    v = vpages * (size_t)sysconf(_SC_PAGESIZE);
    (void)r;
    struct rlimit lim = {v + ((size_t)512 << 20), v + ((size_t)512 << 20)};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(11);
    kc_chan_t *ch = NULL;
    if (kc_chan_make(&ch, KC_CHAN_BUFFERED, KC_CHAN_MAX_CAPACITY, sizeof(uint64_t)) != -ENOMEM)
        _exit(1);
    if (kc_chan_make(&ch, KC_CHAN_BUFFERED, KC_CHAN_MAX_CAPACITY, KC_CHAN_MAX_ELEM) != -ENOMEM)
        _exit(2);
    if (kc_chan_make(&ch, KC_CHAN_BUFFERED, (size_t)1 << 28, 4) != -ENOMEM) /* 1 GiB */
        _exit(3);
    if (kc_chan_make(&ch, KC_CHAN_BUFFERED, (size_t)1 << 20, sizeof(uint64_t)) != 0) /* 8 MiB */
        _exit(4);
    uint64_t x = 5;
    if (kc_chan_try_send(ch, &x) != 0 || kc_chan_destroy(ch) != 0)
        _exit(5);
    _exit(0);
}
#endif

static void test_chan_huge_capacity_under_address_space_limit_is_enomem(void **state)
{
    (void)state;
#ifdef KC_TEST_SANITIZED
    printf("[ SKIPPED  ] RLIMIT_AS: the sanitizers reserve more address space than any limit\n");
#else
    if (getenv("KCORO_UNDER_QEMU") != NULL) {
        printf("[ SKIPPED  ] RLIMIT_AS: qemu-user maps the guest's address space itself\n");
        return;
    }
    struct kc_child c;
    assert_int_equal(kc_test_run_child(&c, huge_under_rlimit), 0);
    if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
        fail_msg("child: %s %d (stderr: %s)", WIFEXITED(c.status) ? "exit" : "signal",
                 WIFEXITED(c.status) ? WEXITSTATUS(c.status) : WTERMSIG(c.status), c.err);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_matrix_kind_policy_op_outcome),
        cmocka_unit_test(test_chan_create_rejects_bad_options),
        cmocka_unit_test(test_chan_bad_arguments_return_einval_and_change_nothing),
        cmocka_unit_test(test_chan_buffered_is_fifo_and_indices_count_reservations),
        cmocka_unit_test(test_chan_drop_oldest_keeps_newest_and_calls_back_once_each),
        cmocka_unit_test(test_chan_drop_latest_keeps_oldest_and_calls_back_once_each),
        cmocka_unit_test(test_chan_conflated_keeps_only_the_latest_value),
        cmocka_unit_test(test_chan_unlimited_grows_then_gives_memory_back),
        cmocka_unit_test(test_chan_close_delivers_buffered_then_epipe),
        cmocka_unit_test(test_chan_descriptors_move_by_value_with_their_flags),
        cmocka_unit_test(test_chan_snapshot_rate_and_dump),
        cmocka_unit_test(test_chan_huge_capacity_commits_no_memory_up_front),
        cmocka_unit_test(test_chan_huge_capacity_under_address_space_limit_is_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
