/* bench_sched.c - scheduler benchmarks.
 *
 * Figures (ARCHITECTURE.md section 8; names fixed by issue 3):
 *   sched.yield_pingpong    ns  one kc_sched_yield of two coroutines taking
 *                               turns on one worker (per switch)
 *   sched.spawn_join        ns  spawn + join per coroutine, 1,000,000
 *                               coroutines in batches of 64, 2 workers
 *   sched.spawn_join_batch10k ns 200,000 coroutines in batches of 10,000
 *                               (10,000 stacks in flight: the stack pool's
 *                               slow path)
 *   sched.spawn_tree        ns  per coroutine of a binary spawn/join tree
 *                               (2^18 - 1 coroutines), 2 workers
 *   sched.timer_set_cancel  ns  one start + stop pair, the deadline pattern
 *                               of a timed operation, while 1,000,000 other
 *                               timers (random deadlines) are pending
 *   sched.timer_bulk_set_cancel ns per timer: 1,000,000 timers started, then
 *                               stopped in random order (memory-bound)
 *   sched.socket_echo_rtt   us  one 8-byte round trip between two coroutines
 *                               over a socketpair through the poller, 2 workers
 *                               (fds attached, as Go's net.FileConn registers
 *                               them once)
 * Peers (core/bench/peers/go_sched.go) measure the same shapes with
 * goroutines, WaitGroups, time.AfterFunc and net.FileConn.
 */
#include "kcoro.h"

#include "kc_bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static kc_sched_t *sched_new(int n)
{
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = n;
    if (kc_sched_create(&s, &o) != 0)
        abort();
    return s;
}

/* Run fn(arg) as a coroutine of a fresh n-worker scheduler and wait. */
static void run_on(int n, kc_coro_fn_t fn, void *arg)
{
    kc_sched_t *s = sched_new(n);
    kc_task_t *t;
    if (kc_sched_spawn(s, &t, fn, arg, NULL) != 0 ||
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL) != 0)
        abort();
    kc_sched_destroy(s);
}

/* ------------------------------------------------------------ yield */

static int yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        kc_sched_yield();
    return 0;
}

static double yield_pingpong(void *unused)
{
    (void)unused;
    long n = kc_bench_iters(2000000);
    kc_sched_t *s = sched_new(1);
    kc_task_t *a, *b;
    uint64_t t0 = kc_bench_now_ns();
    kc_sched_spawn(s, &a, yielder, &n, NULL);
    kc_sched_spawn(s, &b, yielder, &n, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    double ns = (double)(kc_bench_now_ns() - t0) / (double)(2 * n);
    kc_sched_destroy(s);
    return ns;
}

/* ------------------------------------------------------------ spawn+join */

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

struct spawn_join {
    long n, batch;
    double ns;
};

static int spawn_join_driver(void *arg)
{
    struct spawn_join *sj = arg;
    kc_task_t **t = malloc((size_t)sj->batch * sizeof(*t));
    uint64_t t0 = kc_bench_now_ns();
    for (long done = 0; done < sj->n; done += sj->batch) {
        for (long i = 0; i < sj->batch; i++)
            if (kc_sched_spawn(NULL, &t[i], nothing, NULL, NULL) != 0)
                abort();
        for (long i = 0; i < sj->batch; i++)
            kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    }
    sj->ns = (double)(kc_bench_now_ns() - t0) / (double)sj->n;
    free(t);
    return 0;
}

static double spawn_join(void *arg)
{
    long batch = (long)(intptr_t)arg;
    long total = batch > 64 ? 200000 : 1000000; /* the slow path needs fewer */
    struct spawn_join sj = {kc_bench_iters(total) / batch * batch, batch, 0};
    if (sj.n < batch)
        sj.n = batch;
    run_on(2, spawn_join_driver, &sj);
    return sj.ns;
}

/* ------------------------------------------------------------ tree */

static int tree(void *arg)
{
    long depth = (long)(intptr_t)arg;
    if (depth == 0)
        return 1;
    kc_task_t *a, *b;
    kc_sched_spawn(NULL, &a, tree, (void *)(intptr_t)(depth - 1), NULL);
    kc_sched_spawn(NULL, &b, tree, (void *)(intptr_t)(depth - 1), NULL);
    int x = 0, y = 0;
    kc_sched_join(a, &x, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, &y, KC_NO_TIMEOUT, NULL);
    return x + y + 1;
}

static double spawn_tree(void *unused)
{
    (void)unused;
    long depth = 17;
    kc_sched_t *s = sched_new(2);
    kc_task_t *t;
    int nodes = 0;
    uint64_t t0 = kc_bench_now_ns();
    kc_sched_spawn(s, &t, tree, (void *)(intptr_t)depth, NULL);
    kc_sched_join(t, &nodes, KC_NO_TIMEOUT, NULL);
    double ns = (double)(kc_bench_now_ns() - t0) / (double)nodes;
    kc_sched_destroy(s);
    if (nodes != (1 << (depth + 1)) - 1)
        abort();
    return ns;
}

/* ------------------------------------------------------------ timers */

static void never(void *arg)
{
    (void)arg;
    abort(); /* deadlines are an hour away */
}

struct timers {
    long n;
    kc_timer_t *t;
    int64_t *delay;
    long *order;
    double ns;
};

/* With n timers pending, start and at once stop one timer, n times. */
static int timer_pair_driver(void *arg)
{
    struct timers *tm = arg;
    for (long i = 0; i < tm->n; i++) {
        kc_timer_init(&tm->t[i], never, NULL);
        if (kc_timer_start(&tm->t[i], NULL, tm->delay[i]) != 0)
            abort();
    }
    kc_timer_t one;
    kc_timer_init(&one, never, NULL);
    uint64_t t0 = kc_bench_now_ns();
    /* the delays in order, as the Go peer reads them: delay[order[i]]
     * cost the loop a dependent cache miss of its own (half the figure)
     * that the peer does not pay; the deadlines are random either way */
    for (long i = 0; i < tm->n; i++) {
        if (kc_timer_start(&one, NULL, tm->delay[i]) != 0 || kc_timer_stop(&one) != 1)
            abort();
    }
    tm->ns = (double)(kc_bench_now_ns() - t0) / (double)tm->n;
    for (long i = 0; i < tm->n; i++)
        kc_timer_stop(&tm->t[i]);
    return 0;
}

/* Start n timers, then stop them all in random order. */
static int timer_bulk_driver(void *arg)
{
    struct timers *tm = arg;
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < tm->n; i++) {
        kc_timer_init(&tm->t[i], never, NULL);
        if (kc_timer_start(&tm->t[i], NULL, tm->delay[i]) != 0)
            abort();
    }
    for (long i = 0; i < tm->n; i++)
        if (kc_timer_stop(&tm->t[tm->order[i]]) != 1)
            abort();
    tm->ns = (double)(kc_bench_now_ns() - t0) / (double)tm->n;
    return 0;
}

static double timer_set_cancel(void *arg)
{
    struct timers *tm = arg;
    run_on(1, timer_pair_driver, tm);
    return tm->ns;
}

static double timer_bulk(void *arg)
{
    struct timers *tm = arg;
    run_on(1, timer_bulk_driver, tm);
    return tm->ns;
}

/* ------------------------------------------------------------ echo */

struct echo {
    int fd;
    long rounds;
    double us;
};

static int echo_server(void *arg)
{
    struct echo *e = arg;
    char buf[8];
    while (kc_read(e->fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL) == (ssize_t)sizeof(buf))
        if (kc_write(e->fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL) != (ssize_t)sizeof(buf))
            break;
    return 0;
}

static int echo_client(void *arg)
{
    struct echo *e = arg;
    char buf[8] = "pingpong";
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < e->rounds; i++) {
        if (kc_write(e->fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL) != (ssize_t)sizeof(buf) ||
            kc_read(e->fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL) != (ssize_t)sizeof(buf))
            abort();
    }
    e->us = (double)(kc_bench_now_ns() - t0) / 1000.0 / (double)e->rounds;
    shutdown(e->fd, SHUT_WR);
    return 0;
}

static double socket_echo(void *unused)
{
    (void)unused;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    kc_io_set_nonblock(sv[0]);
    kc_io_set_nonblock(sv[1]);
    struct echo srv = {sv[0], 0, 0}, cli = {sv[1], kc_bench_iters(50000), 0};
    kc_sched_t *s = sched_new(2);
    kc_io_attach(s, sv[0]); /* like Go's net.FileConn: registered once */
    kc_io_attach(s, sv[1]);
    kc_task_t *a, *b;
    kc_sched_spawn(s, &a, echo_server, &srv, NULL);
    kc_sched_spawn(s, &b, echo_client, &cli, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_io_detach(s, sv[0]);
    kc_io_detach(s, sv[1]);
    kc_sched_destroy(s);
    close(sv[0]);
    close(sv[1]);
    return cli.us;
}

int main(void)
{
    kc_bench_measure("sched.yield_pingpong", "ns", yield_pingpong, NULL);
    kc_bench_measure("sched.spawn_join", "ns", spawn_join, (void *)(intptr_t)64);
    kc_bench_measure("sched.spawn_join_batch10k", "ns", spawn_join, (void *)(intptr_t)10000);
    kc_bench_measure("sched.spawn_tree", "ns", spawn_tree, NULL);

    struct timers tm = {.n = kc_bench_iters(1000000)};
    tm.t = malloc((size_t)tm.n * sizeof(*tm.t));
    tm.delay = malloc((size_t)tm.n * sizeof(*tm.delay));
    tm.order = malloc((size_t)tm.n * sizeof(*tm.order));
    srand(1);
    for (long i = 0; i < tm.n; i++) {
        tm.delay[i] = 3600ll * 1000000000 + (int64_t)(rand() % 1000000) * 1000;
        tm.order[i] = i;
    }
    for (long i = tm.n - 1; i > 0; i--) {
        long j = rand() % (i + 1), x = tm.order[i];
        tm.order[i] = tm.order[j];
        tm.order[j] = x;
    }
    kc_bench_measure("sched.timer_set_cancel", "ns", timer_set_cancel, &tm);
    kc_bench_measure("sched.timer_bulk_set_cancel", "ns", timer_bulk, &tm);
    free(tm.t);
    free(tm.delay);
    free(tm.order);

    kc_bench_measure("sched.socket_echo_rtt", "us", socket_echo, NULL);
    return 0;
}
