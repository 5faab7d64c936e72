/* demo_ergo.c - demo section: Go and Kotlin idioms in kcoro.
 *
 * Go's merge of two channels: one select loop over both, each case turned
 * off (its channel set to NULL, as Go sets it to nil) once its channel is
 * closed, and a third case that discards "noise" it does not need. The
 * numbers are checked at the end: every value of both producers arrived
 * once, in each producer's order, and every noise element was taken.
 *
 * Spawning with arguments and produce: a prime sieve in Go's style, each
 * filter started with KC_GO on its own copy of (in, out, prime), fed by a
 * producer (KC_PRODUCE) whose channel closes when it returns; a ticker and
 * a one-shot timer channel in one select with a typed result channel.
 *
 * Task-local context: a request handler sets its request id once; the
 * workers it starts in a scope read it deep in their call chains without
 * being passed it, and its destructor runs once, after the last of them.
 * A blocking call: a slow "lookup" (a 30 ms sleep on a helper thread) while
 * the only worker of a single-thread scheduler keeps serving others.
 *
 * The deadlock report: two coroutines that each wait to receive what only
 * the other sends. With KC_SCHED_F_DEADLOCK_CHECK the join says -EDEADLK
 * instead of hanging (KCORO_DEBUG=1 also lists both and their channels),
 * and cancelling them ends it.
 */
#include "kcoro.h"
#include "kcoro/chan_typed.h"

#include <time.h>

#include "kcoro_demo.h"

#include <stdio.h>

enum {
    MERGE_A = 40,
    MERGE_B = 25,
    NOISE = 10
};

struct merge_demo {
    kc_chan_t *a, *b, *noise;
    int got_a, got_b, noise_taken, order_ok;
};

struct feed {
    kc_chan_t *ch;
    int n;
};

static int feed(void *arg)
{
    struct feed *f = arg;
    for (int i = 0; i < f->n; i++)
        if (kc_chan_send(f->ch, &i, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
    return kc_chan_close(f->ch);
}

static int merge_loop(void *arg)
{
    struct merge_demo *m = arg;
    int va = 0, vb = 0;
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(m->a, &va),
                              KC_CHAN_CLAUSE_RECV_INIT(m->b, &vb),
                              KC_CHAN_CLAUSE_DISCARD_INIT(m->noise)};
    m->order_ok = 1;
    while (cl[0].chan != NULL || cl[1].chan != NULL || cl[2].chan != NULL) {
        int i = kc_chan_select(cl, 3, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
        if (i < 0)
            return i;
        if (cl[i].result == -EPIPE) {
            cl[i].chan = NULL; /* this case is off from now on */
            continue;
        }
        if (i == 0)
            m->order_ok &= va == m->got_a++;
        else if (i == 1)
            m->order_ok &= vb == m->got_b++;
        else
            m->noise_taken++;
    }
    return 0;
}

static int demo_merge(kc_sched_t *s)
{
    struct merge_demo m = {0};
    int bad = kc_chan_make(&m.a, KC_CHAN_RENDEZVOUS, 0, sizeof(int)) |
              kc_chan_make(&m.b, KC_CHAN_BUFFERED, 4, sizeof(int)) |
              kc_chan_make(&m.noise, KC_CHAN_BUFFERED, 2, sizeof(int));
    struct feed fa = {m.a, MERGE_A}, fb = {m.b, MERGE_B}, fn = {m.noise, NOISE};
    kc_task_t *t = NULL;
    bad |= kc_sched_spawn(s, NULL, feed, &fa, NULL) | kc_sched_spawn(s, NULL, feed, &fb, NULL) |
           kc_sched_spawn(s, NULL, feed, &fn, NULL) | kc_sched_spawn(s, &t, merge_loop, &m, NULL);
    int status = -1;
    if (t != NULL)
        bad |= kc_sched_join(t, &status, KC_NO_TIMEOUT, NULL);
    printf("merge: %d from a, %d from b, %d noise discarded, every case off at the end\n", m.got_a,
           m.got_b, m.noise_taken);
    bad |= status != 0 || m.got_a != MERGE_A || m.got_b != MERGE_B || m.noise_taken != NOISE ||
           !m.order_ok;
    kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL);
    kc_chan_destroy(m.a);
    kc_chan_destroy(m.b);
    kc_chan_destroy(m.noise);
    return bad != 0;
}

typedef KC_CHAN_OF(int) chan_int_t;

struct count_from {
    int from, to;
};

static int count_up(kc_chan_t *out, void *arg)
{
    const struct count_from *c = arg;
    for (int i = c->from; i <= c->to; i++)
        if (kc_chan_send(out, &i, KC_NO_TIMEOUT, NULL) != 0)
            return -ECANCELED;
    return 0;
}

struct filter {
    kc_chan_t *in;
    chan_int_t out;
    int prime;
};

/* Pass on what prime does not divide; close out at the end. */
static int filter(void *arg)
{
    struct filter *f = arg; /* its own copy, on its own stack */
    int v;
    while (kc_chan_recv(f->in, &v, KC_NO_TIMEOUT, NULL) == 0)
        if (v % f->prime != 0 && KC_SEND(f->out, &v, KC_NO_TIMEOUT, NULL) != 0)
            break;
    return kc_chan_close(f->out.ch);
}

/* Go's concurrent prime sieve: the first 25 primes (up to 97). */
static int demo_sieve(kc_sched_t *s)
{
    enum {
        PRIMES = 25
    };
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.elem_size = sizeof(int);
    kc_chan_t *src = NULL;
    if (KC_PRODUCE(&src, s, &o, count_up, (struct count_from){2, 100}) != 0)
        return 1;
    kc_chan_t *chans[PRIMES + 1] = {src};
    int primes[PRIMES], n = 0, bad = 0;
    kc_chan_t *in = src;
    while (n < PRIMES) {
        int p;
        if (kc_chan_recv(in, &p, KC_NO_TIMEOUT, NULL) != 0)
            break;
        primes[n++] = p;
        chan_int_t out;
        if (KC_CHAN_MAKE(&out, KC_CHAN_RENDEZVOUS, 0) != 0 ||
            KC_GO(s, filter, (struct filter){.in = in, .out = out, .prime = p}) != 0) {
            bad = 1;
            break;
        }
        chans[n] = in = out.ch;
    }
    int last;
    while (kc_chan_recv(in, &last, KC_NO_TIMEOUT, NULL) == 0)
        bad = 1; /* everything after 97 was filtered out */
    printf("sieve: %d primes through %d filters, the last %d; producer closed with reason %d\n", n,
           n, n > 0 ? primes[n - 1] : 0, kc_chan_close_reason(src));
    bad |= n != PRIMES || primes[PRIMES - 1] != 97 || kc_chan_close_reason(src) != 0;
    kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL);
    for (int i = 0; i <= n && i <= PRIMES; i++)
        kc_chan_destroy(chans[i]);
    return bad;
}

/* A ticker every 10 ms, stopped after a 55 ms one-shot timer fires. */
static int demo_timers(kc_sched_t *s)
{
    kc_chan_t *tick = NULL, *done = NULL;
    if (kc_chan_ticker(&tick, s, 10 * 1000 * 1000) != 0)
        return 1;
    if (kc_chan_after(&done, s, 55 * 1000 * 1000) != 0) {
        kc_chan_destroy(tick);
        return 1;
    }
    int64_t at = 0, ticks = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(done, &at),
                              KC_CHAN_CLAUSE_DISCARD_INIT(tick)};
    for (;;) {
        int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL);
        if (i != 1)
            break;
        ticks++;
    }
    printf("timers: %lld ticks of a 10 ms ticker before a 55 ms timer fired\n", (long long)ticks);
    kc_chan_destroy(tick); /* stops it */
    kc_chan_destroy(done);
    return ticks < 1 || ticks > 6; /* about 5; fewer on a machine too busy to keep up */
}

static atomic_int request_freed;

static void request_free(void *v)
{
    (void)v;
    atomic_fetch_add(&request_freed, 1);
}

static kc_ctx_key_t request_key = KC_CTX_KEY_INIT("request", request_free);

/* Deep in some library code: which request is this? */
static int log_line(int depth)
{
    if (depth > 0)
        return log_line(depth - 1);
    const int *id = kc_ctx_get(&request_key);
    return id != NULL ? *id : -1;
}

static int request_worker(void *arg)
{
    atomic_int *seen = arg;
    kc_sched_yield();
    if (log_line(8) == 4711)
        atomic_fetch_add(seen, 1);
    return 0;
}

static int handle_request(void *arg)
{
    static int id = 4711;
    atomic_int *seen = arg;
    if (kc_ctx_set(&request_key, &id) != 0)
        return -1;
    kc_scope_t *sc = NULL;
    if (kc_scope_create(&sc, NULL, 0) != 0)
        return -1;
    for (int i = 0; i < 4; i++)
        kc_scope_spawn(sc, request_worker, seen, NULL);
    int rc = kc_scope_wait(sc, KC_NO_TIMEOUT, NULL); /* destroy alone would cancel them */
    return rc | kc_scope_destroy(sc);
}

static int demo_context(kc_sched_t *s)
{
    atomic_int seen = 0;
    atomic_store(&request_freed, 0);
    kc_task_t *t = NULL;
    int st = -1;
    int bad = kc_sched_spawn(s, &t, handle_request, &seen, NULL) != 0 ||
              kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0;
    printf("context: 4 scope children read request id 4711 without being passed it; "
           "destructor ran %d time(s)\n",
           atomic_load(&request_freed));
    return bad || atomic_load(&seen) != 4 || atomic_load(&request_freed) != 1;
}

static int slow_lookup(void *arg)
{
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL); /* stands for getaddrinfo, fsync, ... */
    return *(const int *)arg * 2;
}

static int lookup(void *arg)
{
    int r = 0;
    int rc = kc_run_blocking(slow_lookup, arg, KC_NO_TIMEOUT, NULL, &r);
    return rc < 0 ? rc : r;
}

static int busy_counter(void *arg)
{
    int *n = arg;
    for (int i = 0; i < 10; i++) {
        (*n)++;
        kc_sched_sleep(1000 * 1000, NULL);
    }
    return 0;
}

static int demo_blocking(void)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = KC_SCHED_F_SINGLE_THREAD;
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &o) != 0)
        return 1;
    int key = 21, counted = 0, st = -1;
    kc_task_t *t = NULL, *c = NULL;
    int bad = kc_sched_spawn(s, &t, lookup, &key, NULL) |
              kc_sched_spawn(s, &c, busy_counter, &counted, NULL);
    bad |= kc_sched_join(c, NULL, KC_NO_TIMEOUT, NULL) | kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL);
    kc_blocking_metrics_t m = {.size = sizeof(m)};
    kc_blocking_metrics(&m);
    printf("blocking: lookup answered %d from a helper thread (%u of at most %u started) while "
           "the one worker counted to %d\n",
           st, m.threads, m.max_threads, counted);
    bad |= kc_sched_destroy(s);
    return bad != 0 || st != 42 || counted != 10;
}

struct cross {
    kc_chan_t *first, *then;
};

static int cross(void *arg)
{
    struct cross *c = arg;
    int v = 0;
    int rc = kc_chan_recv(c->first, &v, KC_NO_TIMEOUT, NULL);
    return rc != 0 ? rc : kc_chan_send(c->then, &v, KC_NO_TIMEOUT, NULL);
}

static int demo_deadlock(void)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = KC_SCHED_F_DEADLOCK_CHECK;
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &o) != 0)
        return 1;
    kc_chan_t *c1 = NULL, *c2 = NULL;
    int bad = kc_chan_make(&c1, KC_CHAN_RENDEZVOUS, 0, sizeof(int)) |
              kc_chan_make(&c2, KC_CHAN_RENDEZVOUS, 0, sizeof(int));
    struct cross ca = {c1, c2}, cb = {c2, c1};
    kc_task_t *a = NULL, *b = NULL;
    bad |= kc_sched_spawn(s, &a, cross, &ca, NULL) | kc_sched_spawn(s, &b, cross, &cb, NULL);
    int rc = a != NULL ? kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL) : -EINVAL;
    printf("deadlock: join of a task waiting on c1 while its peer waits on c2: %s\n",
           kc_errname(rc));
    bad |= rc != -EDEADLK;
    int sa = 0, sb = 0;
    if (a != NULL && b != NULL) {
        kc_sched_cancel(a);
        kc_sched_cancel(b);
        bad |=
            kc_sched_join(a, &sa, KC_NO_TIMEOUT, NULL) | kc_sched_join(b, &sb, KC_NO_TIMEOUT, NULL);
    }
    printf("deadlock: after cancelling both, they returned %s and %s\n", kc_errname(sa),
           kc_errname(sb));
    bad |= sa != -ECANCELED || sb != -ECANCELED;
    bad |= kc_sched_destroy(s);
    kc_chan_destroy(c1);
    kc_chan_destroy(c2);
    return bad != 0;
}

int kc_demo_ergonomics(void)
{
    kc_demo_heading("Go and Kotlin idioms: select cases off, KC_GO, produce, timer channels, "
                    "typed channels, context, blocking calls, deadlock report");
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    int bad = demo_merge(s);
    bad |= demo_sieve(s);
    bad |= demo_timers(s);
    bad |= demo_context(s);
    bad |= kc_sched_destroy(s) != 0;
    bad |= demo_blocking();
    bad |= demo_deadlock();
    return bad;
}
