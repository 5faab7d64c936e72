/* test_rel_virtual.c - "rel:" on the simulator's virtual clock, and under
 * KCORO_SIM.
 *
 * - A whole reliable run over a lossy `rel:sim:mem:` link whose users are
 *   actors of the clock replays byte for byte from its seed: the
 *   simulator's decision log and rel's event trace (every segment, ACK,
 *   drop and timer expiry with its virtual time) are identical with one
 *   worker and with two, and differ for another seed.
 * - An hour of 100 ms round trips through `delay 50ms loss 1%` at both ends
 *   runs in virtual time (retransmission timers included) in seconds.
 * - KCORO_SIM impairs the link under rel:, not above it: `rel:mem:` opened
 *   with no simulator in the URL loses frames underneath and still
 *   delivers every one once and in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kc_rel_impl.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

#define LOSSY "loss 5% duplicate 1% reorder 10% gap 3 delay 5ms 2ms corrupt 0.1%"

static long scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    return div > 1 && n / div > 0 ? n / div : n;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int setup(void **state)
{
    (void)state;
    int rc = kc_sim_register();
    return rc < 0 ? rc : kc_rel_register();
}

/* ---- a text log: the decisions and the rel events, in order ---------- */

typedef struct textlog {
    pthread_mutex_t lk;
    char *buf;
    size_t len, cap;
    long decisions, events, timeouts;
} textlog_t;

static void log_put(textlog_t *L, const char *s, size_t n)
{
    pthread_mutex_lock(&L->lk);
    if (L->len + n + 1 > L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 1 << 16;
        while (cap < L->len + n + 1)
            cap *= 2;
        L->buf = realloc(L->buf, cap);
        assert_non_null(L->buf);
        L->cap = cap;
    }
    memcpy(L->buf + L->len, s, n);
    L->len += n;
    L->buf[L->len] = '\0';
    pthread_mutex_unlock(&L->lk);
}

static void on_decision(void *arg, const char *dir, const kc_sim_decision_t *d)
{
    textlog_t *L = arg;
    char line[320];
    int n = kc_sim_decision_json(d, dir, line, sizeof line - 40);
    assert_true(n > 0);
    /* The arrival time too: the replay is of when, not only of what. */
    n += snprintf(line + n, sizeof line - (size_t)n, " t=%lld\n", (long long)d->t_arrive);
    log_put(L, line, (size_t)n);
    L->decisions++;
}

static void on_event(void *arg, const kc_rel_event_t *ev)
{
    textlog_t *L = arg;
    char line[128];
    int n =
        snprintf(line, sizeof line, "rel t=%lld k=%u r=%u s=%llu l=%u a=%u\n", (long long)ev->t_ns,
                 ev->kind, ev->role, (unsigned long long)ev->seq, ev->len, ev->aux);
    log_put(L, line, (size_t)n);
    L->events++;
    L->timeouts += ev->kind == KC_REL_EV_TIMEOUT;
}

/* ---- one reliable run, every user an actor of the clock --------------- */

static size_t frame_len(long i)
{
    return i % 500 == 499 ? 3000 : 8 + (size_t)(i % 100);
}

static void fill(uint8_t *b, long i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i * 31 + (long)k * 7);
}

typedef struct vrun vrun_t;

typedef struct user {
    vrun_t *r;
    kc_sim_ticket_t *tk;
    kc_transport_t *t;
    int end; /* 0: the connector's endpoint, 1: the acceptor's */
    bool sender;
    long n, got, bad;
    int rc;
} user_t;

struct vrun {
    kc_sim_clock_t *clk;
    kc_sim_opts_t so;
    kc_rel_opts_t ro;
    kc_rel_counters_t cnt;
    kc_transport_opts_t o;
    textlog_t log;
    char url[96];
    long n;
    user_t u[4];
    kc_transport_t *ep[2];
    int done[2]; /* users finished per endpoint (changed only in turns) */
    int64_t end_ns;
    int rc;
};

static void user_done(user_t *u)
{
    vrun_t *r = u->r;
    /* The second user of an endpoint closes it, in its turn, so the close
     * (its linger and its last frames) is part of the replay. */
    if (++r->done[u->end] == 2) {
        kc_transport_close(r->ep[u->end]);
        if (r->done[1 - u->end] == 2)
            r->end_ns = kc_sim_clock_now(r->clk);
    }
}

static int co_user(void *arg)
{
    user_t *u = arg;
    if ((u->rc = kc_sim_clock_join(u->r->clk, u->tk)) < 0)
        return 1;
    uint8_t *buf = malloc(3008);
    for (long i = 0; u->sender && i < u->n; i++) {
        size_t n = frame_len(i);
        fill(buf, i, n);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)n};
        struct iovec iov = {buf, n};
        if ((u->rc = kc_transport_send_frame(u->t, &h, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
    }
    while (!u->sender && u->got < u->n) {
        kc_frame_hdr_t h;
        void *pl;
        int rc = kc_transport_recv_frame(u->t, &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL);
        if (rc < 0) {
            u->rc = rc;
            break;
        }
        size_t n = frame_len(u->got);
        fill(buf, u->got, n);
        if (h.id != (uint32_t)u->got || h.len != n || memcmp(pl, buf, n) != 0)
            u->bad++;
        free(pl);
        u->got++;
    }
    free(buf);
    user_done(u);
    kc_sim_clock_leave(u->r->clk);
    return 0;
}

static int co_vrun(void *arg)
{
    vrun_t *r = arg;
    kc_transport_t *lis;
    int rc = kc_sim_clock_join(r->clk, NULL);
    if (rc < 0)
        return rc;
    if ((rc = kc_transport_listen(r->url, &r->o, &lis)) < 0)
        return rc;
    if ((rc = kc_transport_connect(r->url, &r->o, &r->ep[0], KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    if ((rc = kc_transport_accept(lis, &r->ep[1], NULL, KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    kc_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        user_t *u = &r->u[i];
        *u = (user_t){r, NULL, r->ep[i / 2], i / 2, i % 2 == 1, r->n, 0, 0, 0};
        if ((rc = kc_sim_clock_ticket(r->clk, &u->tk)) < 0)
            return rc;
    }
    for (int i = 0; i < 4; i++)
        if ((rc = kc_sched_spawn(NULL, &t[i], co_user, &r->u[i], NULL)) < 0)
            return rc;
    /* This task's part is done: it leaves, and waits for the users in real
     * time (a join inside the turn would wait for actors that need it). */
    kc_sim_clock_leave(r->clk);
    for (int i = 0; i < 4; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_transport_close(lis);
    return 0;
}

static void vrun(vrun_t *r, int workers, const char *name, uint64_t seed, long n)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->log.lk, NULL);
    assert_int_equal(kc_sim_clock_create(&r->clk), 0);
    r->n = n;
    r->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    r->so.netem = LOSSY;
    r->so.seed = seed;
    r->so.clock = r->clk;
    r->so.log = on_decision;
    r->so.log_arg = &r->log;
    r->ro = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    r->ro.inner = &r->so;
    r->ro.counters = &r->cnt;
    r->ro.mss = 2048;
    r->ro.trace = on_event;
    r->ro.trace_arg = &r->log;
    r->o = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    r->o.sndbuf = 16u << 20;
    r->o.adapter = &r->ro;
    snprintf(r->url, sizeof r->url, "rel:sim:mem:%s-%d", name, (int)getpid());

    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = workers;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, co_vrun, r, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_sim_clock_destroy(r->clk), 0); /* every actor left */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r->u[i].rc, 0);
        assert_int_equal(r->u[i].bad, 0);
        if (!r->u[i].sender)
            assert_int_equal(r->u[i].got, n);
    }
}

static void vrun_free(vrun_t *r)
{
    free(r->log.buf);
    pthread_mutex_destroy(&r->log.lk);
    free(r);
}

/* A reliable run over the lossy link replays byte for byte: decisions,
 * segments, ACKs, drops and timer expiries at the same virtual times, with
 * one worker and with two; another seed gives another run. */
static void test_rel_virtual_replays_byte_for_byte(void **state)
{
    (void)state;
    long n = scaled(20000);
    vrun_t *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
           *other = calloc(1, sizeof *other);
    double t0 = mono_s();
    vrun(one, 1, "vrep1", 31, n);
    double t1 = mono_s();
    vrun(two, 2, "vrep2", 31, n);
    double t2 = mono_s();
    vrun(other, 2, "vrep3", 32, n);
    print_message("replay: %ld frames each way, %ld decisions, %ld rel events (%ld timeouts), "
                  "log %zu bytes, virtual %.3f s; wall %.2f s (1 worker), %.2f s (2 workers)\n",
                  n, one->log.decisions, one->log.events, one->log.timeouts, one->log.len,
                  one->end_ns / 1e9, t1 - t0, t2 - t1);
    /* The link impaired and the layer repaired, by SACK and by its timer. */
    assert_true(load(&one->cnt.retrans) > 0 && load(&one->cnt.fast_retrans) > 0);
    assert_true(load(&one->cnt.dups_in) > 0 && one->log.decisions > 2 * n / 40);
    assert_int_equal(one->log.len, two->log.len);
    assert_int_equal(memcmp(one->log.buf, two->log.buf, one->log.len), 0);
    assert_int_equal(one->end_ns, two->end_ns);
    assert_int_equal(load(&one->cnt.retrans), load(&two->cnt.retrans));
    assert_int_equal(load(&one->cnt.timeouts), load(&two->cnt.timeouts));
    assert_int_equal(atomic_load(&one->cnt.srtt_ns), atomic_load(&two->cnt.srtt_ns));
    assert_true(other->log.len != one->log.len ||
                memcmp(one->log.buf, other->log.buf, one->log.len) != 0);
    vrun_free(one);
    vrun_free(two);
    vrun_free(other);
}

/* ---- an hour of round trips -------------------------------------------- */

typedef struct hour {
    kc_sim_clock_t *clk;
    kc_sim_ticket_t *tk[2];
    kc_transport_t *t[2];
    long rounds, done;
    int rc[2];
} hour_t;

static int co_ping(void *arg)
{
    hour_t *h = arg;
    if ((h->rc[0] = kc_sim_clock_join(h->clk, h->tk[0])) < 0)
        return 1;
    uint8_t b[8] = {0};
    for (long i = 0; i < h->rounds; i++) {
        kc_frame_hdr_t hd = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, sizeof b};
        struct iovec iov = {b, sizeof b};
        if ((h->rc[0] = kc_transport_send_frame(h->t[0], &hd, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
        void *pl;
        if ((h->rc[0] = kc_transport_recv_frame(h->t[0], &hd, &pl, 64, KC_NO_TIMEOUT, NULL)) < 0)
            break;
        free(pl);
        if (hd.id != (uint32_t)i)
            break;
        h->done++;
    }
    kc_transport_close(h->t[0]);
    kc_sim_clock_leave(h->clk);
    return 0;
}

static int co_pong(void *arg)
{
    hour_t *h = arg;
    if ((h->rc[1] = kc_sim_clock_join(h->clk, h->tk[1])) < 0)
        return 1;
    for (long i = 0; i < h->rounds; i++) {
        kc_frame_hdr_t hd;
        void *pl;
        if ((h->rc[1] = kc_transport_recv_frame(h->t[1], &hd, &pl, 64, KC_NO_TIMEOUT, NULL)) < 0)
            break;
        struct iovec iov = {pl, hd.len};
        h->rc[1] = kc_transport_send_frame(h->t[1], &hd, &iov, 1, KC_NO_TIMEOUT, NULL);
        free(pl);
        if (h->rc[1] < 0)
            break;
    }
    kc_transport_close(h->t[1]);
    kc_sim_clock_leave(h->clk);
    return 0;
}

typedef struct hour_run {
    hour_t h;
    kc_transport_opts_t o;
    char url[96];
} hour_run_t;

static int co_hour(void *arg)
{
    hour_run_t *r = arg;
    hour_t *h = &r->h;
    kc_transport_t *lis;
    int rc = kc_sim_clock_join(h->clk, NULL);
    if (rc < 0)
        return rc;
    if ((rc = kc_transport_listen(r->url, &r->o, &lis)) < 0)
        return rc;
    if ((rc = kc_transport_connect(r->url, &r->o, &h->t[0], KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    if ((rc = kc_transport_accept(lis, &h->t[1], NULL, KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    for (int i = 0; i < 2; i++)
        if ((rc = kc_sim_clock_ticket(h->clk, &h->tk[i])) < 0)
            return rc;
    kc_task_t *t[2];
    if ((rc = kc_sched_spawn(NULL, &t[0], co_ping, h, NULL)) < 0 ||
        (rc = kc_sched_spawn(NULL, &t[1], co_pong, h, NULL)) < 0)
        return rc;
    kc_sim_clock_leave(h->clk);
    kc_sched_join(t[0], NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(t[1], NULL, KC_NO_TIMEOUT, NULL);
    kc_transport_close(lis);
    return 0;
}

static void test_rel_virtual_hour_of_round_trips(void **state)
{
    (void)state;
    hour_run_t *r = calloc(1, sizeof *r);
    hour_t *h = &r->h;
    assert_int_equal(kc_sim_clock_create(&h->clk), 0);
    h->rounds = scaled(36000); /* 3600 s / 100 ms */
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 50ms loss 1%";
    so.seed = 5;
    so.clock = h->clk;
    kc_rel_counters_t cnt;
    memset(&cnt, 0, sizeof cnt);
    kc_rel_opts_t ro = KC_REL_OPTS_INIT;
    ro.inner = &so;
    ro.counters = &cnt;
    r->o = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    r->o.adapter = &ro;
    snprintf(r->url, sizeof r->url, "rel:sim:mem:vhour-%d", (int)getpid());
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    double t0 = mono_s();
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, co_hour, r, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    double wall = mono_s() - t0;
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    int64_t virt = kc_sim_clock_now(h->clk);
    print_message("virtual hour: %ld round trips, %.1f virtual s in %.2f wall s (%.0fx); "
                  "%lu resent, %lu timer expiries, srtt %.1f ms\n",
                  h->done, virt / 1e9, wall, virt / 1e9 / wall, (unsigned long)load(&cnt.retrans),
                  (unsigned long)load(&cnt.timeouts), atomic_load(&cnt.srtt_ns) / 1e6);
    assert_int_equal(h->rc[0], 0);
    assert_int_equal(h->rc[1], 0);
    assert_int_equal(h->done, h->rounds);
    /* Every round trip took at least its 100 ms, and losses cost timer
     * expiries on top, all in virtual time. */
    assert_true(virt >= h->rounds * 100000000LL);
    if (h->rounds >= 10000)
        assert_true(load(&cnt.timeouts) > 0 && virt > h->rounds * 100000000LL);
    assert_true(atomic_load(&cnt.srtt_ns) >= 100000000);
    assert_int_equal(kc_sim_clock_destroy(h->clk), 0);
    free(r);
}

/* ---- KCORO_SIM goes under rel: ---------------------------------------- */

typedef struct envrun {
    kc_transport_t *t[2];
    long n;
    long got[2], bad[2];
    int rc[4];
} envrun_t;

typedef struct envuser {
    envrun_t *r;
    int end;
    bool sender;
} envuser_t;

static int co_env_user(void *arg)
{
    envuser_t *u = arg;
    envrun_t *r = u->r;
    uint8_t buf[3008];
    int *rc = &r->rc[u->end * 2 + u->sender];
    for (long i = 0; u->sender && i < r->n; i++) {
        size_t n = frame_len(i);
        fill(buf, i, n);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)n};
        struct iovec iov = {buf, n};
        if ((*rc = kc_transport_send_frame(r->t[u->end], &h, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
    }
    while (!u->sender && r->got[u->end] < r->n) {
        kc_frame_hdr_t h;
        void *pl;
        if ((*rc = kc_transport_recv_frame(r->t[u->end], &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL)) <
            0)
            break;
        long i = r->got[u->end]++;
        size_t n = frame_len(i);
        fill(buf, i, n);
        if (h.id != (uint32_t)i || h.len != n || memcmp(pl, buf, n) != 0)
            r->bad[u->end]++;
        free(pl);
    }
    return 0;
}

static void test_rel_under_kcoro_sim(void **state)
{
    (void)state;
    assert_int_equal(setenv("KCORO_SIM", "loss 5% duplicate 1% reorder 10% gap 3 delay 2ms 1ms", 1),
                     0);
    assert_int_equal(setenv("KCORO_SIM_SEED", "9", 1), 0);
    assert_int_equal(kc_sim_register(), 0); /* applies KCORO_SIM now */
    kc_rel_counters_t ca, cb;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    kc_rel_opts_t ra = KC_REL_OPTS_INIT, rb = KC_REL_OPTS_INIT;
    ra.mss = rb.mss = 2048;
    ra.counters = &ca;
    rb.counters = &cb;
    kc_transport_opts_t oa = KC_TRANSPORT_OPTS_INIT, ob = KC_TRANSPORT_OPTS_INIT;
    oa.sndbuf = ob.sndbuf = 4u << 20;
    oa.adapter = &ra;
    ob.adapter = &rb;
    char url[64];
    snprintf(url, sizeof url, "rel:mem:kcsim-%d", (int)getpid());
    kc_transport_t *lis;
    envrun_t r;
    memset(&r, 0, sizeof r);
    r.n = 3000; /* not scaled: the loss must happen under TSan's scale too */
    /* Opened from plain threads: the pumps are threads too. */
    assert_int_equal(kc_transport_listen(url, &ob, &lis), 0);
    assert_string_equal(kc_transport_scheme(lis), "rel"); /* the wrapper is not routed */
    assert_int_equal(kc_transport_connect(url, &oa, &r.t[0], KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_accept(lis, &r.t[1], NULL, KC_NO_TIMEOUT, NULL), 0);
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    envuser_t u[4];
    kc_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        u[i] = (envuser_t){&r, i / 2, i % 2 == 1};
        assert_int_equal(kc_sched_spawn(s, &t[i], co_env_user, &u[i], NULL), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    kc_transport_close(r.t[0]);
    kc_transport_close(r.t[1]);
    kc_transport_close(lis);
    assert_int_equal(kc_transport_interpose(NULL), 0);
    unsetenv("KCORO_SIM");
    unsetenv("KCORO_SIM_SEED");
    print_message("rel: under KCORO_SIM: %ld frames each way; resent %lu+%lu, dups in %lu\n", r.n,
                  (unsigned long)load(&ca.retrans), (unsigned long)load(&cb.retrans),
                  (unsigned long)(load(&ca.dups_in) + load(&cb.dups_in)));
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.rc[i], 0);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(r.got[e], r.n);
        assert_int_equal(r.bad[e], 0);
    }
    /* The loss happened under the layer, which repaired it. */
    assert_true(load(&ca.retrans) + load(&cb.retrans) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_virtual_replays_byte_for_byte),
        cmocka_unit_test(test_rel_virtual_hour_of_round_trips),
        cmocka_unit_test(test_rel_under_kcoro_sim),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
