/* bench_chan.c - channel and select benchmarks.
 *
 * Figures (ARCHITECTURE.md section 8), each the median of KC_BENCH_REPS runs:
 *   chan.unbuf_pingpong   ns       one round trip over two rendezvous channels
 *                                  between 2 coroutines on 1 worker
 *   chan.buf1024_1p1c     M msgs/s 1 producer and 1 consumer coroutine over a
 *                                  buffered(1024) channel, 2 workers
 *   chan.buf1024_4p4c     M msgs/s 4 producers and 4 consumers, same channel
 *                                  kind, 2 workers
 *   chan.select4_recv     ns       per message received by one coroutine
 *                                  selecting over 4 buffered(1024) channels,
 *                                  each fed by its own producer, 2 workers
 *   chan.close_wake       ns       per waiter: 1000 receivers parked on one
 *                                  channel, woken by kc_chan_close (2 workers)
 *   chan.cancel_wake      ns       the same, woken by firing the token they
 *                                  all wait with
 * The Go peer (peers/chan_go.go) measures the same shapes with goroutines
 * and GOMAXPROCS set to the same worker counts.
 */
#include "kcoro.h"

#include "kc_bench_util.h"

#include <stdio.h>
#include <stdlib.h>

static kc_sched_t *sched_with(int workers)
{
    kc_sched_t *s = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = workers;
    if (kc_sched_create(&s, &o) != 0)
        abort();
    return s;
}

static kc_chan_t *chan_of(kc_chan_kind_t kind, size_t cap)
{
    kc_chan_t *ch = NULL;
    if (kc_chan_make(&ch, kind, cap, sizeof(uint64_t)) != 0)
        abort();
    return ch;
}

static void join(kc_task_t *t)
{
    if (kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL) != 0)
        abort();
}

/* ------------------------------------------------------------ ping-pong */

struct pp {
    kc_chan_t *ping, *pong;
    long n;
};

static int pp_echo(void *arg)
{
    struct pp *p = arg;
    uint64_t v;
    for (long i = 0; i < p->n; i++) {
        kc_chan_recv(p->ping, &v, KC_NO_TIMEOUT, NULL);
        kc_chan_send(p->pong, &v, KC_NO_TIMEOUT, NULL);
    }
    return 0;
}

static int pp_drive(void *arg)
{
    struct pp *p = arg;
    uint64_t v = 0;
    for (long i = 0; i < p->n; i++) {
        kc_chan_send(p->ping, &v, KC_NO_TIMEOUT, NULL);
        kc_chan_recv(p->pong, &v, KC_NO_TIMEOUT, NULL);
    }
    return 0;
}

static double unbuf_pingpong(void *arg)
{
    (void)arg;
    kc_sched_t *s = sched_with(1);
    struct pp p = {chan_of(KC_CHAN_RENDEZVOUS, 0), chan_of(KC_CHAN_RENDEZVOUS, 0),
                   kc_bench_iters(500000)};
    kc_task_t *a, *b;
    uint64_t t0 = kc_bench_now_ns();
    kc_sched_spawn(s, &a, pp_echo, &p, NULL);
    kc_sched_spawn(s, &b, pp_drive, &p, NULL);
    join(a);
    join(b);
    double ns = (double)(kc_bench_now_ns() - t0) / (double)p.n;
    kc_chan_destroy(p.ping);
    kc_chan_destroy(p.pong);
    kc_sched_destroy(s);
    return ns;
}

/* ------------------------------------------------------------ buffered */

struct flow {
    kc_chan_t *ch;
    long per; /* messages per producer */
};

static int producer(void *arg)
{
    struct flow *f = arg;
    for (long i = 0; i < f->per; i++) {
        uint64_t v = (uint64_t)i;
        kc_chan_send(f->ch, &v, KC_NO_TIMEOUT, NULL);
    }
    return 0;
}

static int consumer(void *arg)
{
    struct flow *f = arg;
    uint64_t v, sum = 0;
    while (kc_chan_recv(f->ch, &v, KC_NO_TIMEOUT, NULL) == 0)
        sum += v;
    KC_BENCH_KEEP(sum);
    return 0;
}

/* Messages per second (in millions) through one buffered(1024) channel
 * with np producers and np consumers on 2 workers. */
static double buffered(int np)
{
    kc_sched_t *s = sched_with(2);
    struct flow f = {chan_of(KC_CHAN_BUFFERED, 1024), kc_bench_iters(2000000) / np};
    kc_task_t *prod[4], *cons[4];
    uint64_t t0 = kc_bench_now_ns();
    for (int i = 0; i < np; i++) {
        kc_sched_spawn(s, &cons[i], consumer, &f, NULL);
        kc_sched_spawn(s, &prod[i], producer, &f, NULL);
    }
    for (int i = 0; i < np; i++)
        join(prod[i]);
    kc_chan_close(f.ch);
    for (int i = 0; i < np; i++)
        join(cons[i]);
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    kc_chan_destroy(f.ch);
    kc_sched_destroy(s);
    return (double)f.per * np / secs / 1e6;
}

static double buf_1p1c(void *arg)
{
    (void)arg;
    return buffered(1);
}

static double buf_4p4c(void *arg)
{
    (void)arg;
    return buffered(4);
}

/* ------------------------------------------------------------ select */

struct sel4 {
    struct flow in[4];
    long total;
};

static int select_consumer(void *arg)
{
    struct sel4 *x = arg;
    uint64_t got[4], sum = 0;
    kc_chan_clause_t cl[4];
    for (int i = 0; i < 4; i++)
        cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(x->in[i].ch, &got[i]);
    for (long n = 0; n < x->total; n++) {
        int k = kc_chan_select(cl, 4, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
        if (k < 0)
            abort();
        sum += got[k];
    }
    KC_BENCH_KEEP(sum);
    return 0;
}

static double select4_recv(void *arg)
{
    (void)arg;
    kc_sched_t *s = sched_with(2);
    struct sel4 x;
    long per = kc_bench_iters(1000000) / 4;
    for (int i = 0; i < 4; i++)
        x.in[i] = (struct flow){chan_of(KC_CHAN_BUFFERED, 1024), per};
    x.total = per * 4;
    kc_task_t *c, *p[4];
    uint64_t t0 = kc_bench_now_ns();
    kc_sched_spawn(s, &c, select_consumer, &x, NULL);
    for (int i = 0; i < 4; i++)
        kc_sched_spawn(s, &p[i], producer, &x.in[i], NULL);
    join(c);
    for (int i = 0; i < 4; i++)
        join(p[i]);
    double ns = (double)(kc_bench_now_ns() - t0) / (double)x.total;
    for (int i = 0; i < 4; i++)
        kc_chan_destroy(x.in[i].ch);
    kc_sched_destroy(s);
    return ns;
}

/* ------------------------------------------------------------ close, cancel */

enum {
    WAKERS = 1000
};

struct herd {
    kc_chan_t *ch;
    kc_cancel_t *tok;
    bool cancel;
    _Atomic long woken;
    double ns;
};

static int herd_waiter(void *arg)
{
    struct herd *h = arg;
    uint64_t v;
    int rc = kc_chan_recv(h->ch, &v, KC_NO_TIMEOUT, h->cancel ? h->tok : NULL);
    if (rc != -EPIPE && rc != -ECANCELED)
        abort();
    atomic_fetch_add_explicit(&h->woken, 1, memory_order_relaxed);
    return 0;
}

/* The waker is a coroutine too (as Go's main goroutine is): it waits until
 * every receiver is parked, then times the close (or the token) until the
 * last one has run again. */
static int herd_waker(void *arg)
{
    struct herd *h = arg;
    kc_chan_snapshot_t snap = KC_CHAN_SNAPSHOT_INIT;
    do {
        kc_sched_yield();
        kc_chan_snapshot(h->ch, &snap);
    } while (snap.recv_waiting != WAKERS);
    uint64_t t0 = kc_bench_now_ns();
    if (h->cancel)
        kc_cancel_trigger(h->tok);
    else
        kc_chan_close(h->ch);
    while (atomic_load_explicit(&h->woken, memory_order_relaxed) != WAKERS)
        kc_sched_yield();
    h->ns = (double)(kc_bench_now_ns() - t0) / WAKERS;
    return 0;
}

/* ns per waiter to wake WAKERS receivers parked on one channel, by closing
 * it or by firing the token they all wait with. */
static double wake_herd(bool cancel)
{
    kc_sched_t *s = sched_with(2);
    struct herd h = {chan_of(KC_CHAN_RENDEZVOUS, 0), NULL, cancel, 0, 0};
    if (kc_cancel_create(&h.tok, NULL) != 0)
        abort();
    kc_task_t **t = malloc((WAKERS + 1) * sizeof(*t));
    if (t == NULL)
        abort();
    for (int i = 0; i < WAKERS; i++)
        kc_sched_spawn(s, &t[i], herd_waiter, &h, NULL);
    kc_sched_spawn(s, &t[WAKERS], herd_waker, &h, NULL);
    for (int i = 0; i <= WAKERS; i++)
        join(t[i]);
    free(t);
    kc_chan_destroy(h.ch);
    kc_cancel_destroy(h.tok);
    kc_sched_destroy(s);
    return h.ns;
}

static double close_wake(void *arg)
{
    (void)arg;
    return wake_herd(false);
}

static double cancel_wake(void *arg)
{
    (void)arg;
    return wake_herd(true);
}

int main(void)
{
    kc_bench_measure("chan.unbuf_pingpong", "ns", unbuf_pingpong, NULL);
    kc_bench_measure("chan.buf1024_1p1c", "Mmsg/s", buf_1p1c, NULL);
    kc_bench_measure("chan.buf1024_4p4c", "Mmsg/s", buf_4p4c, NULL);
    kc_bench_measure("chan.select4_recv", "ns", select4_recv, NULL);
    kc_bench_measure("chan.close_wake", "ns", close_wake, NULL);
    kc_bench_measure("chan.cancel_wake", "ns", cancel_wake, NULL);
    return 0;
}
