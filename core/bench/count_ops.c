/* count_ops.c - kcoro's hot paths, each run N times on one worker, for
 * counting instructions under callgrind (mk/count-ops.sh, `make
 * bench-count`). Not a timed benchmark: the clock is noisy on shared
 * machines, the instruction count of a deterministic loop is not.
 *
 * Usage: count_ops FIGURE N. mk/count-ops.sh runs each figure twice (N and
 * 2N operations) under `valgrind --tool=callgrind --collect-bus=yes` and
 * divides the difference of the totals by N, so set-up and tear-down
 * cancel out; `Ge` (global bus events) counts locked instructions.
 *
 * Figures (one operation each):
 *   coro.switch_roundtrip   kc_coro_resume of a coroutine that yields
 *   sched.yield_pingpong    two tasks on one worker, one yield each
 *   sched.spawn_join        spawn an empty task and join it, from a task
 *   sched.timer_set_cancel  kc_timer_start then kc_timer_stop, with
 *                           1,000,000 other timers pending (deadlines as
 *                           the timed figure draws them)
 *   sched.timer_set_cancel_early  the same, the deadline (30 s) earlier
 *                           than every pending one (1 h)
 *   chan.unbuf_pingpong     two tasks, a round trip over two unbuffered
 *                           channels (send, receive, send back, receive)
 *   chan.buf_send_recv      kc_chan_try_send then kc_chan_try_recv on a
 *                           buffered channel (capacity 1024), one thread
 *   chan.select_ready       kc_chan_try_send on one of two locked-ring
 *                           channels (capacity 3), then a biased select of
 *                           receives on both that finds it, one thread
 *   chan.select_wait        two tasks: one selects over receives on two
 *                           unbuffered channels and waits, the other sends
 *                           on the second (a select that parks, each time)
 *   obs.pingpong_registered chan.unbuf_pingpong with the scheduler and both
 *                           channels registered (KC_SCHED_REGISTER,
 *                           KC_CHAN_REGISTER): the difference to
 *                           chan.unbuf_pingpong is what registration adds
 *                           to a round trip (issue 17's registry overhead)
 */
#include "kcoro.h"

#include "kc_bench_sched.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long n_ops;

static int yield_forever(void *arg)
{
    (void)arg;
    for (;;)
        kc_coro_yield();
    return 0;
}

static int switch_roundtrip(void)
{
    kc_coro_t *co;
    if (kc_coro_create(&co, yield_forever, NULL, NULL) != 0)
        return 1;
    for (long i = 0; i < n_ops; i++)
        kc_coro_resume(co);
    return 0; /* the coroutine is parked in yield: exit reclaims it */
}

static int yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < n_ops; i++)
        kc_sched_yield();
    return 0;
}

static int yield_pair(void *arg)
{
    (void)arg;
    kc_task_t *t;
    if (kc_sched_spawn(NULL, &t, yielder, NULL, NULL) != 0)
        return 1;
    yielder(NULL);
    return kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
}

static int empty(void *arg)
{
    (void)arg;
    return 0;
}

static int spawn_join(void *arg)
{
    (void)arg;
    for (long i = 0; i < n_ops; i++) {
        kc_task_t *t;
        if (kc_sched_spawn(NULL, &t, empty, NULL, NULL) != 0 ||
            kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL) != 0)
            return 1;
    }
    return 0;
}

static void never(void *arg)
{
    (void)arg;
    abort(); /* stopped before it is due */
}

/* The timed figure keeps 1,000,000 timers pending while it sets and
 * cancels one; so does this count (the heap's depth is part of the cost),
 * with deadlines drawn as the timed figure draws them: an hour and up to
 * one more second, in microseconds. */
enum {
    PENDING_TIMERS = 1000000
};
#define TIMER_DELAY_NS(us) (3600 * (int64_t)1000000000 + (int64_t)(us)*1000)

/* A few instructions per draw (rand() would add a few dozen). */
static int64_t next_us(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005u + 1442695040888963407u;
    return (int64_t)((*seed >> 33) % 1000000);
}

/* The measured part of the timer figures: where a timer lands depends on
 * the clock, so the million pending ones cost a little more or less to set
 * up from one run to the next; mk/count-ops.sh counts only inside this
 * function (callgrind's --toggle-collect). early: a 30-second deadline,
 * else one drawn as the pending ones were. */
__attribute__((noinline, noclone)) static int count_timer_loop(uint64_t *seed, bool early)
{
    kc_timer_t tm;
    kc_timer_init(&tm, never, NULL);
    for (long i = 0; i < n_ops; i++) {
        int64_t d = early ? 30 * (int64_t)1000000000 + i : TIMER_DELAY_NS(next_us(seed));
        if (kc_timer_start(&tm, kc_sched_current(), d) != 0)
            return 1;
        kc_timer_stop(&tm);
    }
    return 0;
}

static int timer_set_cancel(void *arg)
{
    (void)arg;
    kc_timer_t *bg = calloc(PENDING_TIMERS, sizeof *bg);
    uint64_t seed = 7;
    if (bg == NULL)
        return 1;
    for (long i = 0; i < PENDING_TIMERS; i++) {
        kc_timer_init(&bg[i], never, NULL);
        if (kc_timer_start(&bg[i], kc_sched_current(), TIMER_DELAY_NS(next_us(&seed))) != 0)
            return 1;
    }
    if (count_timer_loop(&seed, false) != 0)
        return 1;
    for (long i = 0; i < PENDING_TIMERS; i++)
        kc_timer_stop(&bg[i]);
    free(bg);
    return 0;
}

/* The same with a deadline earlier than every pending one: a 30-second
 * timeout under a million hour-long ones (a heap sifts it to the top). */
static int timer_set_cancel_early(void *arg)
{
    (void)arg;
    kc_timer_t *bg = calloc(PENDING_TIMERS, sizeof *bg);
    uint64_t seed = 7;
    if (bg == NULL)
        return 1;
    for (long i = 0; i < PENDING_TIMERS; i++) {
        kc_timer_init(&bg[i], never, NULL);
        if (kc_timer_start(&bg[i], kc_sched_current(), TIMER_DELAY_NS(next_us(&seed))) != 0)
            return 1;
    }
    if (count_timer_loop(&seed, true) != 0)
        return 1;
    for (long i = 0; i < PENDING_TIMERS; i++)
        kc_timer_stop(&bg[i]);
    free(bg);
    return 0;
}

typedef struct pingpong {
    kc_chan_t *ping, *pong;
} pingpong_t;

static int ponger(void *arg)
{
    pingpong_t *p = arg;
    long v;
    for (long i = 0; i < n_ops; i++) {
        if (kc_chan_recv(p->ping, &v, KC_NO_TIMEOUT, NULL) != 0 ||
            kc_chan_send(p->pong, &v, KC_NO_TIMEOUT, NULL) != 0)
            return 1;
    }
    return 0;
}

/* A rendezvous channel of longs; registered under name when reg is on. */
static int make_pp_chan(kc_chan_t **c, bool reg, const char *name)
{
    if (!reg)
        return kc_chan_make(c, KC_CHAN_RENDEZVOUS, 0, sizeof(long));
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.elem_size = sizeof(long);
    o.flags = KC_CHAN_REGISTER;
    o.name = name;
    return kc_chan_create(c, &o);
}

/* arg: non-NULL registers both channels */
static int unbuf_pingpong(void *arg)
{
    pingpong_t p;
    if (make_pp_chan(&p.ping, arg != NULL, "ping") != 0 ||
        make_pp_chan(&p.pong, arg != NULL, "pong") != 0)
        return 1;
    kc_task_t *t;
    if (kc_sched_spawn(NULL, &t, ponger, &p, NULL) != 0)
        return 1;
    for (long i = 0; i < n_ops; i++) {
        long v = i;
        if (kc_chan_send(p.ping, &v, KC_NO_TIMEOUT, NULL) != 0 ||
            kc_chan_recv(p.pong, &v, KC_NO_TIMEOUT, NULL) != 0 || v != i)
            return 1;
    }
    int st = 1;
    kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL);
    kc_chan_destroy(p.ping);
    kc_chan_destroy(p.pong);
    return st;
}

static int buf_send_recv(void)
{
    kc_chan_t *c;
    if (kc_chan_make(&c, KC_CHAN_BUFFERED, 1024, sizeof(long)) != 0)
        return 1;
    for (long i = 0; i < n_ops; i++) {
        long v = i;
        if (kc_chan_try_send(c, &v) != 0 || kc_chan_try_recv(c, &v) != 0 || v != i)
            return 1;
    }
    return kc_chan_destroy(c) == 0 ? 0 : 1;
}

static int select_ready(void)
{
    kc_chan_t *a, *b;
    if (kc_chan_make(&a, KC_CHAN_BUFFERED, 3, sizeof(long)) != 0 ||
        kc_chan_make(&b, KC_CHAN_BUFFERED, 3, sizeof(long)) != 0)
        return 1;
    long va = -1, vb = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(a, &va), KC_CHAN_CLAUSE_RECV_INIT(b, &vb)};
    for (long i = 0; i < n_ops; i++) {
        long v = i;
        if (kc_chan_try_send(b, &v) != 0 ||
            kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL) != 1 || vb != i)
            return 1;
    }
    return kc_chan_destroy(a) == 0 && kc_chan_destroy(b) == 0 ? 0 : 1;
}

static int select_sender(void *arg)
{
    pingpong_t *p = arg;
    for (long i = 0; i < n_ops; i++)
        if (kc_chan_send(p->pong, &i, KC_NO_TIMEOUT, NULL) != 0)
            return 1;
    return 0;
}

static int select_wait(void *arg)
{
    (void)arg;
    pingpong_t p;
    if (kc_chan_make(&p.ping, KC_CHAN_RENDEZVOUS, 0, sizeof(long)) != 0 ||
        kc_chan_make(&p.pong, KC_CHAN_RENDEZVOUS, 0, sizeof(long)) != 0)
        return 1;
    kc_task_t *t;
    if (kc_sched_spawn(NULL, &t, select_sender, &p, NULL) != 0)
        return 1;
    long va = -1, vb = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(p.ping, &va),
                              KC_CHAN_CLAUSE_RECV_INIT(p.pong, &vb)};
    for (long i = 0; i < n_ops; i++)
        if (kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL) != 1 || vb != i)
            return 1;
    int st = 1;
    kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL);
    kc_chan_destroy(p.ping);
    kc_chan_destroy(p.pong);
    return st;
}

/* unbuf_pingpong on a registered one-worker scheduler, channels registered */
static int registered_pingpong(void)
{
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 1;
    o.flags = KC_SCHED_REGISTER;
    if (kc_sched_create(&s, &o) != 0)
        return 1;
    static int reg = 1;
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(s, &t, unbuf_pingpong, &reg, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0)
        return 1;
    kc_sched_destroy(s);
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (n_ops = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: count_ops FIGURE N (N > 0)\n");
        return 2;
    }
    const char *f = argv[1];
    if (strcmp(f, "coro.switch_roundtrip") == 0)
        return switch_roundtrip();
    if (strcmp(f, "sched.yield_pingpong") == 0)
        return kc_bench_run_task(yield_pair, NULL);
    if (strcmp(f, "sched.spawn_join") == 0)
        return kc_bench_run_task(spawn_join, NULL);
    if (strcmp(f, "sched.timer_set_cancel") == 0)
        return kc_bench_run_task(timer_set_cancel, NULL);
    if (strcmp(f, "sched.timer_set_cancel_early") == 0)
        return kc_bench_run_task(timer_set_cancel_early, NULL);
    if (strcmp(f, "chan.unbuf_pingpong") == 0)
        return kc_bench_run_task(unbuf_pingpong, NULL);
    if (strcmp(f, "chan.buf_send_recv") == 0)
        return buf_send_recv();
    if (strcmp(f, "chan.select_ready") == 0)
        return select_ready();
    if (strcmp(f, "chan.select_wait") == 0)
        return kc_bench_run_task(select_wait, NULL);
    if (strcmp(f, "obs.pingpong_registered") == 0)
        return registered_pingpong();
    fprintf(stderr, "count_ops: unknown figure '%s'\n", f);
    return 2;
}
