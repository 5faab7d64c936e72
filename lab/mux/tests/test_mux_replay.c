/* test_mux_replay.c - a whole remote-channel run replays byte for byte.
 *
 * Two channels exported over one connection on `rel:sim:mem:` with issue
 * 15's words (loss 5%, duplicate 1%, reorder 10% gap 3, delay 5ms 2ms,
 * corrupt 0.1%), on a virtual clock that adopts (kc_sim_clock_adopt): the
 * test's root coroutine joins the clock, and everything it starts - the
 * accept, the connections' rx and tx tasks, rel's pumps, the mux's stream
 * pumps, the senders and receivers - runs in the clock's turns, as do
 * their waits on channels, joins and queues. The run's log - every
 * simulator decision with its arrival time, every rel event (segments,
 * ACKs, timer expiries, with virtual times) and every element each
 * receiver takes with the virtual time it took it - is the same byte for
 * byte with one worker and with two, and differs for another seed. Every
 * element arrives once and in order. 5,000 elements a channel in make
 * test; 500,000 a channel (10^6 in all) in make test-full, where the two
 * logs are compared by length and a 64-bit FNV-1a hash instead of kept.
 */
#include "mux_test.h"

#include "kcoro/rel.h"
#include "kcoro/sim.h"

#include <pthread.h>
#include <stdatomic.h>

#define LOSSY "loss 5% duplicate 1% reorder 10% gap 3 delay 5ms 2ms corrupt 0.1%"
#define NCHAN 2
#define KEEP_MAX (64L << 20) /* logs up to this size are kept whole */

typedef struct textlog {
    pthread_mutex_t lk;
    char *buf;
    size_t len, cap;
    bool keep;
    uint64_t hash;
    long decisions, events, elements;
} textlog_t;

static void log_put(textlog_t *L, const char *s, size_t n)
{
    pthread_mutex_lock(&L->lk);
    for (size_t i = 0; i < n; i++)
        L->hash = (L->hash ^ (uint8_t)s[i]) * 0x100000001b3ull;
    if (L->keep) {
        if (L->len + n + 1 > L->cap) {
            size_t cap = L->cap ? L->cap * 2 : 1 << 16;
            while (cap < L->len + n + 1)
                cap *= 2;
            char *b = realloc(L->buf, cap);
            if (!b)
                abort();
            L->buf = b;
            L->cap = cap;
        }
        memcpy(L->buf + L->len, s, n);
        L->buf[L->len + n] = '\0';
    }
    L->len += n;
    pthread_mutex_unlock(&L->lk);
}

static void on_decision(void *arg, const char *dir, const kc_sim_decision_t *d)
{
    textlog_t *L = arg;
    char line[320];
    int n = kc_sim_decision_json(d, dir, line, sizeof line - 40);
    if (n <= 0)
        abort();
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
}

struct rep {
    kc_sim_clock_t *clk;
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    kc_sim_opts_t so;
    kc_rel_opts_t ra, rb;
    kc_rel_counters_t ca, cb;
    kc_transport_opts_t ta, tb;
    kc_chan_t *local[NCHAN], *remote[NCHAN];
    textlog_t log;
    char url[96];
    long n;
    int rc, accept_rc;
    int send_rc[NCHAN], end_rc[NCHAN];
    long received[NCHAN], out_of_order[NCHAN];
    int64_t end_ns;
};

struct side {
    struct rep *r;
    int k;
};

static int accept_one(void *arg)
{
    struct rep *r = arg;
    r->accept_rc = kc_ipc_accept(r->srv, &r->exp, KC_NO_TIMEOUT, NULL);
    return 0;
}

static int sender(void *arg)
{
    struct side *d = arg;
    struct rep *r = d->r;
    for (uint64_t i = 0; i < (uint64_t)r->n; i++) {
        int rc = kc_chan_send(r->remote[d->k], &i, KC_NO_TIMEOUT, NULL);
        if (rc != 0) {
            r->send_rc[d->k] = rc;
            return 0;
        }
    }
    r->send_rc[d->k] = kc_chan_close(r->remote[d->k]);
    return 0;
}

/* Takes every element, writing what it took and when into the log. */
static int receiver(void *arg)
{
    struct side *d = arg;
    struct rep *r = d->r;
    uint64_t want = 0, v;
    int rc;
    while ((rc = kc_chan_recv(r->local[d->k], &v, KC_NO_TIMEOUT, NULL)) == 0) {
        if (v != want)
            r->out_of_order[d->k]++;
        want = v + 1;
        r->received[d->k]++;
        char line[64];
        int n = snprintf(line, sizeof line, "got %d %llu t=%lld\n", d->k, (unsigned long long)v,
                         (long long)kc_sim_clock_now(r->clk));
        log_put(&r->log, line, (size_t)n);
        r->log.elements++;
    }
    r->end_rc[d->k] = rc;
    return 0;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) {                                                                             \
            r->rc = rc_;                                                                           \
            fprintf(stderr, "%s:%d: %s: %d\n", __FILE__, __LINE__, #x, rc_);                       \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* The whole run, from the clock's first actor: everything it starts is an
 * actor too. */
static int root(void *arg)
{
    struct rep *r = arg;
    static const char *names[NCHAN] = {"left", "right"};
    struct side sides[NCHAN];
    kc_task_t *ta = NULL, *ts[NCHAN] = {0}, *tr[NCHAN] = {0};
    TRY(kc_sim_clock_join(r->clk, NULL));
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = r->s;
    o.ping_interval_ns = 200 * MS;  /* keep-alives in virtual time, replayed too */
    o.dead_after_ns = 3600000 * MS; /* (its verdict reads real time) */
    o.transport = &r->tb;
    TRY(kc_ipc_listen(&r->srv, r->url, &o));
    TRY(kc_sched_spawn(r->s, &ta, accept_one, r, NULL));
    o.transport = &r->ta;
    TRY(kc_ipc_connect(&r->imp, r->url, &o, KC_NO_TIMEOUT, NULL));
    TRY(kc_sched_join(ta, NULL, KC_NO_TIMEOUT, NULL));
    TRY(r->accept_rc);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.timeout_ns = KC_NO_TIMEOUT;
    for (int k = 0; k < NCHAN; k++) {
        TRY(kc_chan_make(&r->local[k], KC_CHAN_BUFFERED, 64, sizeof(uint64_t)));
        TRY(kc_ipc_export(r->exp, names[k], r->local[k], NULL));
        TRY(kc_ipc_import(&r->remote[k], r->imp, names[k], &io, NULL));
    }
    for (int k = 0; k < NCHAN; k++) {
        sides[k] = (struct side){r, k};
        TRY(kc_sched_spawn(r->s, &tr[k], receiver, &sides[k], NULL));
        TRY(kc_sched_spawn(r->s, &ts[k], sender, &sides[k], NULL));
    }
    for (int k = 0; k < NCHAN; k++) {
        TRY(kc_sched_join(ts[k], NULL, KC_NO_TIMEOUT, NULL));
        TRY(kc_sched_join(tr[k], NULL, KC_NO_TIMEOUT, NULL));
    }
    for (int k = 0; k < NCHAN; k++) {
        kc_chan_destroy(r->remote[k]);
        kc_ipc_unexport(r->exp, names[k]);
    }
    kc_ipc_close(r->imp);
    kc_ipc_close(r->exp);
    kc_ipc_server_close(r->srv);
    r->end_ns = kc_sim_clock_now(r->clk);
out:
    kc_sim_clock_leave(r->clk);
    return 0;
}

static void run(struct rep *r, int workers, const char *name, uint64_t seed, long n)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->log.lk, NULL);
    r->log.keep = (long)NCHAN * n * 60 < KEEP_MAX;
    r->log.hash = 0xcbf29ce484222325ull;
    r->n = n;
    assert_int_equal(kc_sim_clock_create(&r->clk), 0);
    assert_int_equal(kc_sim_clock_adopt(r->clk), 0);
    r->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    r->so.netem = LOSSY;
    r->so.seed = seed;
    r->so.clock = r->clk;
    r->so.log = on_decision;
    r->so.log_arg = &r->log;
    r->ra = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    r->ra.inner = &r->so;
    r->ra.trace = on_event;
    r->ra.trace_arg = &r->log;
    r->rb = r->ra;
    r->ra.counters = &r->ca;
    r->rb.counters = &r->cb;
    r->ta = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    r->tb = r->ta;
    r->ta.adapter = &r->ra;
    r->tb.adapter = &r->rb;
    snprintf(r->url, sizeof r->url, "rel:sim:mem:muxrep-%s-%d", name, (int)getpid());
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = workers;
    assert_int_equal(kc_sched_create(&r->s, &so), 0);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(r->s, &t, root, r, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_destroy(r->s), 0);
    assert_int_equal(r->rc, 0);
    assert_int_equal(kc_sim_clock_destroy(r->clk), 0); /* every actor left */
    for (int k = 0; k < NCHAN; k++) {
        assert_int_equal(r->send_rc[k], 0);
        assert_int_equal(r->received[k], n);
        assert_int_equal(r->out_of_order[k], 0);
        assert_int_equal(r->end_rc[k], -EPIPE);
        kc_chan_destroy(r->local[k]);
    }
}

static void rep_free(struct rep *r)
{
    free(r->log.buf);
    pthread_mutex_destroy(&r->log.lk);
    free(r);
}

static void test_remote_channel_run_replays_byte_for_byte(void **state)
{
    (void)state;
    long n = getenv("KCORO_TEST_FULL") ? 500000 : mux_scaled(5000);
    struct rep *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
               *other = calloc(1, sizeof *other);
    assert_true(one && two && other);
    int64_t t0 = mux_now();
    run(one, 1, "1", 41, n);
    int64_t t1 = mux_now();
    run(two, 2, "2", 41, n);
    int64_t t2 = mux_now();
    run(other, 2, "3", 42, n);
    uint64_t resent = atomic_load(&one->ca.retrans) + atomic_load(&one->cb.retrans);
    uint64_t bad = atomic_load(&one->ca.bad_crc) + atomic_load(&one->cb.bad_crc);
    print_message("mux replay: %ld elements x %d channels, %ld decisions, %ld rel events, %ld "
                  "elements logged, log %zu bytes (hash %016llx), virtual %.3f s; %llu resent, "
                  "%llu bad CRCs; wall %.2f s (1 worker), %.2f s (2 workers)\n",
                  n, NCHAN, one->log.decisions, one->log.events, one->log.elements, one->log.len,
                  (unsigned long long)one->log.hash, one->end_ns / 1e9, (unsigned long long)resent,
                  (unsigned long long)bad, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    /* The link impaired and the layer repaired; the run was logged whole. */
    if (n >= 5000)
        assert_true(resent > 0);
    assert_int_equal(one->log.elements, NCHAN * n);
    assert_true(one->log.decisions > 0 && one->log.events > 0);
    /* One worker and two: the same run, byte for byte. */
    assert_int_equal(one->log.len, two->log.len);
    assert_true(one->log.hash == two->log.hash);
    if (one->log.keep) {
        assert_int_equal(memcmp(one->log.buf, two->log.buf, one->log.len), 0);
        assert_true(other->log.len != one->log.len ||
                    memcmp(one->log.buf, other->log.buf, one->log.len) != 0);
    }
    assert_int_equal(one->end_ns, two->end_ns);
    assert_true(other->log.hash != one->log.hash);
    rep_free(one);
    rep_free(two);
    rep_free(other);
}

static int setup(void **state)
{
    (void)state;
    int rc = kc_sim_register();
    return rc < 0 ? rc : kc_rel_register();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_channel_run_replays_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
