/* test_chan_lincheck.c - linearizability: random concurrent histories vs a model.
 *
 * Each round runs a small random history: three threads, three operations
 * each (try_send, try_recv, timed send, timed receive, close), on a fresh
 * channel of one configuration. Every operation records when it was
 * invoked and when it returned (a shared atomic clock), its result and the
 * value it moved; after the threads join, the channel is drained and the
 * undelivered callback's values are collected. The checker then searches
 * for a sequential order that respects real time (a before b when a
 * returned before b was invoked) and that a sequential channel model
 * accepts, ending in the drained contents and the same dropped values.
 * No order found is a linearizability failure, printed with its seed.
 *
 * The model: a FIFO of capacity c (unlimited: none), a closed flag, and the
 * overflow policy. A timed operation that returned -ETIME changed nothing,
 * so it may be placed anywhere in its interval. On a rendezvous channel a
 * successful send is placed together with the receive that got its value
 * (one step), and a try that failed is not informative (whether a partner
 * was waiting is not part of the sequential state).
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
    THREADS = 3,
    PER = 3,
    MAX_OPS = 2 * THREADS * PER + 2,
    TIMED_NS = 200000
};
enum kind {
    TRY_SEND,
    TRY_RECV,
    SEND,
    RECV,
    CLOSE,
    N_KINDS
};
static const char *const kind_names[] = {"try_send", "try_recv", "send", "recv", "close"};

struct hop {
    enum kind kind;
    int thread;
    uint64_t value; /* sent, or received */
    int rc;
    uint64_t inv, resp;
};

struct history {
    const struct chan_cfg *cfg;
    kc_chan_t *ch;
    struct hop op[MAX_OPS];
    int n;
    _Atomic uint64_t clock;
    _Atomic int start;
    uint64_t dropped[MAX_OPS];
    int ndropped;
};

static void record_drop(void *elem, size_t size, void *arg)
{
    struct history *h = arg;
    (void)size;
    memcpy(&h->dropped[h->ndropped++], elem, sizeof(uint64_t));
}

static void run_op(struct history *h, struct hop *o)
{
    /* acq_rel on the clock: an op's interval is ordered with every other's */
    o->inv = atomic_fetch_add_explicit(&h->clock, 1, memory_order_acq_rel);
    switch (o->kind) {
    case TRY_SEND:
        o->rc = kc_chan_try_send(h->ch, &o->value);
        break;
    case TRY_RECV:
        o->rc = kc_chan_try_recv(h->ch, &o->value);
        break;
    case SEND:
        o->rc = kc_chan_send(h->ch, &o->value, TIMED_NS, NULL);
        break;
    case RECV:
        o->rc = kc_chan_recv(h->ch, &o->value, TIMED_NS, NULL);
        break;
    default:
        o->rc = kc_chan_close(h->ch);
    }
    o->resp = atomic_fetch_add_explicit(&h->clock, 1, memory_order_acq_rel);
}

struct worker_arg {
    struct history *h;
    int thread;
};

static void *thread_main(void *arg)
{
    struct worker_arg *a = arg;
    while (!atomic_load_explicit(&a->h->start, memory_order_acquire))
        sched_yield();
    for (int i = 0; i < a->h->n; i++)
        if (a->h->op[i].thread == a->thread)
            run_op(a->h, &a->h->op[i]);
    return NULL;
}

/* ------------------------------------------------------------ the model */

struct model {
    uint64_t q[MAX_OPS];
    int len;
    bool closed;
    uint64_t dropped[MAX_OPS];
    int ndropped;
};

static int cap_of(const struct chan_cfg *c)
{
    return c->kind == KC_CHAN_BUFFERED    ? (int)c->capacity
           : c->kind == KC_CHAN_CONFLATED ? 1
           : c->kind == KC_CHAN_UNLIMITED ? MAX_OPS
                                          : 0;
}

static void push(struct model *m, uint64_t v)
{
    m->q[m->len++] = v;
}

static uint64_t pop(struct model *m)
{
    uint64_t v = m->q[0];
    memmove(m->q, m->q + 1, (size_t)--m->len * sizeof(uint64_t));
    return v;
}

/* Apply one op (not a rendezvous pair) to m; false if m rejects it. */
static bool apply(const struct chan_cfg *c, struct model *m, const struct hop *o)
{
    bool rv = c->kind == KC_CHAN_RENDEZVOUS;
    bool drops = c->kind == KC_CHAN_CONFLATED || c->policy != KC_CHAN_SUSPEND;
    if (o->rc == -ETIME)
        return true; /* waited, nothing happened */
    switch (o->kind) {
    case CLOSE:
        if (o->rc == 0 ? m->closed : !m->closed)
            return false;
        m->closed = true;
        return true;
    case TRY_SEND:
    case SEND:
        if (o->rc == -EPIPE)
            return m->closed;
        if (rv)
            return o->rc == -EAGAIN; /* successes are paired elsewhere */
        if (o->rc == -EAGAIN)
            return !m->closed && !drops && m->len == cap_of(c);
        if (o->rc != 0 || m->closed)
            return false;
        if (m->len < cap_of(c)) {
            push(m, o->value);
        } else if (!drops) {
            return false;
        } else if (c->kind == KC_CHAN_CONFLATED || c->policy == KC_CHAN_DROP_OLDEST) {
            m->dropped[m->ndropped++] = pop(m);
            push(m, o->value);
        } else {
            m->dropped[m->ndropped++] = o->value;
        }
        return true;
    default: /* receives */
        if (o->rc == -EPIPE)
            return m->closed && m->len == 0;
        if (o->rc == -EAGAIN)
            return rv || (!m->closed && m->len == 0);
        if (o->rc != 0 || rv || m->len == 0 || m->q[0] != o->value)
            return false;
        pop(m);
        return true;
    }
}

static bool same_drops(const struct model *m, const struct history *h)
{
    if (m->ndropped != h->ndropped)
        return false;
    uint64_t seen = 0; /* values are < 64 */
    for (int i = 0; i < m->ndropped; i++)
        seen ^= 1ull << m->dropped[i];
    for (int i = 0; i < h->ndropped; i++)
        seen ^= 1ull << h->dropped[i];
    return seen == 0;
}

/* May op i go next: every op that returned before i was invoked is done? */
static bool minimal(const struct history *h, uint32_t done, int i)
{
    for (int j = 0; j < h->n; j++)
        if (!(done & (1u << j)) && j != i && h->op[j].resp < h->op[i].inv)
            return false;
    return true;
}

static bool search(const struct history *h, uint32_t done, const struct model *m)
{
    if (done == (1u << h->n) - 1)
        return m->len == 0 && same_drops(m, h);
    bool rv = h->cfg->kind == KC_CHAN_RENDEZVOUS;
    for (int i = 0; i < h->n; i++) {
        const struct hop *o = &h->op[i];
        if ((done & (1u << i)) || !minimal(h, done, i))
            continue;
        bool rv_send = rv && (o->kind == SEND || o->kind == TRY_SEND) && o->rc == 0;
        bool rv_recv = rv && (o->kind == RECV || o->kind == TRY_RECV) && o->rc == 0;
        if (rv_recv)
            continue; /* taken with its send */
        if (rv_send) {
            for (int j = 0; j < h->n; j++) {
                const struct hop *r = &h->op[j];
                if ((done & (1u << j)) || (r->kind != RECV && r->kind != TRY_RECV) || r->rc != 0 ||
                    r->value != o->value || !minimal(h, done | (1u << i), j))
                    continue;
                if (r->inv > o->resp || o->inv > r->resp)
                    continue; /* one instant must lie inside both intervals */
                if (!m->closed && search(h, done | (1u << i) | (1u << j), m))
                    return true;
            }
            continue;
        }
        struct model next = *m;
        if (apply(h->cfg, &next, o) && search(h, done | (1u << i), &next))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ rounds */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void print_history(const struct history *h, uint64_t seed)
{
    print_message("not linearizable: %s, seed %llu\n", h->cfg->name, (unsigned long long)seed);
    for (int i = 0; i < h->n; i++)
        print_message("  t%d [%3llu,%3llu] %-8s v=%-3llu %s\n", h->op[i].thread,
                      (unsigned long long)h->op[i].inv, (unsigned long long)h->op[i].resp,
                      kind_names[h->op[i].kind], (unsigned long long)h->op[i].value,
                      kc_errname(h->op[i].rc));
    for (int i = 0; i < h->ndropped; i++)
        print_message("  dropped %llu\n", (unsigned long long)h->dropped[i]);
}

static bool one_round(const struct chan_cfg *cfg, uint64_t seed)
{
    struct history h;
    memset(&h, 0, sizeof(h));
    h.cfg = cfg;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = cfg->kind;
    o.policy = cfg->policy;
    o.capacity = cfg->kind == KC_CHAN_BUFFERED ? cfg->capacity : 0;
    o.elem_size = sizeof(uint64_t);
    o.on_undelivered = record_drop;
    o.undelivered_arg = &h;
    assert_int_equal(kc_chan_create(&h.ch, &o), 0);
    uint64_t s = seed * 2654435761u + 1, value = 1;
    for (int t = 0; t < THREADS; t++) {
        for (int k = 0; k < PER; k++) {
            struct hop *op = &h.op[h.n++];
            uint64_t r = rnd(&s) % 16;
            op->kind = r < 4 ? TRY_SEND : r < 7 ? SEND : r < 10 ? TRY_RECV : r < 15 ? RECV : CLOSE;
            op->thread = t;
            op->value = op->kind == TRY_SEND || op->kind == SEND ? value++ : 0;
        }
    }
    pthread_t th[THREADS];
    struct worker_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct worker_arg){&h, t};
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &args[t]), 0);
    }
    /* release: pairs with the threads' acquire spin */
    atomic_store_explicit(&h.start, 1, memory_order_release);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (;;) { /* drain: sequential receives after everything */
        struct hop *op = &h.op[h.n];
        *op = (struct hop){TRY_RECV, THREADS, 0, 0, 0, 0};
        run_op(&h, op);
        h.n++;
        if (op->rc != 0 || h.n == MAX_OPS)
            break;
    }
    assert_chan_ok(h.ch);
    assert_accounting(h.ch);
    assert_int_equal(kc_chan_destroy(h.ch), 0);
    struct model m;
    memset(&m, 0, sizeof(m));
    bool ok = search(&h, 0, &m);
    if (!ok)
        print_history(&h, seed);
    return ok;
}

static const struct chan_cfg lin_cfgs[] = {
    {"rendezvous", KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 0},
    {"buffered1", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 1},
    {"buffered2", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2},
    {"buffered2/drop_oldest", KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 2},
    {"buffered1/drop_latest", KC_CHAN_BUFFERED, KC_CHAN_DROP_LATEST, 1},
    {"unlimited", KC_CHAN_UNLIMITED, KC_CHAN_SUSPEND, 0},
    {"conflated", KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0},
};

static void test_chan_random_histories_are_linearizable(void **state)
{
    (void)state;
    long rounds = kc_test_scaled(getenv("KCORO_TEST_FULL") ? 20000 : 400);
    long failed = 0;
    for (size_t c = 0; c < sizeof(lin_cfgs) / sizeof(lin_cfgs[0]); c++)
        for (long r = 0; r < rounds && failed < 3; r++)
            failed += !one_round(&lin_cfgs[c], (uint64_t)(c * 1000003 + (size_t)r));
    assert_int_equal(failed, 0);
}

/* The checker itself must reject what is not linearizable. */
static void test_lincheck_rejects_impossible_histories(void **state)
{
    (void)state;
    const struct chan_cfg *buf2 = &lin_cfgs[2];
    struct history h;
    memset(&h, 0, sizeof(h));
    h.cfg = buf2;
    /* FIFO broken: 1 then 2 sent in sequence, 2 received first */
    h.op[0] = (struct hop){TRY_SEND, 0, 1, 0, 0, 1};
    h.op[1] = (struct hop){TRY_SEND, 0, 2, 0, 2, 3};
    h.op[2] = (struct hop){TRY_RECV, 1, 2, 0, 4, 5};
    h.op[3] = (struct hop){TRY_RECV, 1, 1, 0, 6, 7};
    h.n = 4;
    struct model m;
    memset(&m, 0, sizeof(m));
    assert_false(search(&h, 0, &m));
    h.op[2].value = 1; /* fixed: FIFO */
    h.op[3].value = 2;
    assert_true(search(&h, 0, &m));
    /* a receive that failed with -EAGAIN while an element sat there */
    h.op[2] = (struct hop){TRY_RECV, 1, 0, -EAGAIN, 4, 5};
    h.op[3] = (struct hop){TRY_RECV, 1, 1, 0, 6, 7};
    h.n = 4;
    assert_false(search(&h, 0, &m));
    /* a send accepted after close */
    h.op[0] = (struct hop){CLOSE, 0, 0, 0, 0, 1};
    h.op[1] = (struct hop){TRY_SEND, 1, 5, 0, 2, 3};
    h.op[2] = (struct hop){TRY_RECV, 1, 5, 0, 4, 5};
    h.n = 3;
    assert_false(search(&h, 0, &m));
    /* a rendezvous receive of a value nobody sent in its interval */
    h.cfg = &lin_cfgs[0];
    h.op[0] = (struct hop){SEND, 0, 9, 0, 0, 1};
    h.op[1] = (struct hop){RECV, 1, 9, 0, 2, 3};
    h.n = 2;
    assert_false(search(&h, 0, &m));
    h.op[1].inv = 0; /* overlapping: fine */
    h.op[0].resp = 3;
    assert_true(search(&h, 0, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lincheck_rejects_impossible_histories),
        cmocka_unit_test(test_chan_random_histories_are_linearizable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
