/* test_mux_lossy.c - remote channels over a lossy link.
 *
 * Two channels exported over one connection that runs on `rel:sim:mem:`
 * with issue 15's words (loss 5%, duplicate 1%, reorder 10% gap 3, delay
 * 5ms 2ms, corrupt 0.1%): the simulator drops, repeats, reorders and
 * corrupts the frames under the reliability layer, which repairs them, so
 * the channel layer above sees a clean stream. Each channel carries its
 * own numbered elements from a coroutine on the importing side into the
 * exporter's channel; the receivers check that every element arrives once
 * and in order, then that the close arrives after the last one. With one
 * worker and with two; 20,000 elements per channel in make test, 500,000
 * per channel (10^6 in all) in make test-full.
 *
 * And the same two channels over a `rel:` session on a UNIX socket whose
 * socket is shut down under the connection again and again, on either
 * side, while the elements flow: the session dials again, resends what
 * was not acknowledged, and the channel layer above never notices; the
 * ledger is exact as before, and each cut costs each end one new link.
 * The cuts fall at random points of the stream (a seeded choice of
 * distinct element numbers, and of the side cut at each): 1,000 in make
 * test-full, MUX_CUTS_QUICK in make test. At each point the sender waits
 * until both ends carry their new link, so every planned cut happens.
 */
#include "mux_test.h"

#include "kcoro/rel.h"
#include "kcoro/sim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define LOSSY "loss 5% duplicate 1% reorder 10% gap 3 delay 5ms 2ms corrupt 0.1%"
#define NCHAN 2
#define MUX_CUTS_FULL 10000
#define MUX_CUTS_QUICK 1000

struct lossy {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    kc_sim_opts_t so;
    kc_rel_opts_t ra, rb;
    kc_rel_counters_t ca, cb;
    kc_transport_opts_t ta, tb;
    kc_chan_t *local[NCHAN], *remote[NCHAN];
    long n;
    int accept_rc;
    int send_rc[NCHAN], recv_rc[NCHAN], end_rc[NCHAN];
    long received[NCHAN], out_of_order[NCHAN];
    /* cuts: each end's current link under rel (on_link), cut by sender 0 */
    bool cutting;
    pthread_mutex_t lk;
    kc_transport_t *inner[2];
    bool fresh[2];
    long links[2], cuts;
    long ncuts;        /* planned */
    uint64_t *cut_at;  /* element numbers, ascending, distinct */
    uint8_t *cut_side; /* which end's socket */
    long cut_late;     /* cut points where the links never came back */
    kc_cancel_t *stop; /* ends accept_more */
    long extra;
    int more_rc;
};

struct end {
    struct lossy *l;
    int e;
};

static void on_link(void *arg, kc_transport_t *inner)
{
    struct end *h = arg;
    struct lossy *l = h->l;
    pthread_mutex_lock(&l->lk);
    l->inner[h->e] = inner;
    l->fresh[h->e] = inner != NULL;
    l->links[h->e] += inner != NULL;
    pthread_mutex_unlock(&l->lk);
}

/* Shut end e's socket down, once both ends carry a link nobody has cut
 * (under the lock, so rel cannot close it meanwhile): one lost link that
 * each end must replace once. Waits (up to 30 s) for the links of the
 * previous cut; a cut that cannot happen is counted in cut_late. */
static void cut(struct lossy *l, int e)
{
    int64_t until = mux_now() + 30000 * MS;
    for (;;) {
        pthread_mutex_lock(&l->lk);
        if (l->fresh[0] && l->fresh[1]) {
            int fd = kc_transport_poll_handle(l->inner[e]);
            bool done = fd >= 0 && shutdown(fd, SHUT_RDWR) == 0;
            if (done) {
                l->fresh[0] = l->fresh[1] = false;
                l->cuts++;
            }
            pthread_mutex_unlock(&l->lk);
            if (!done)
                l->cut_late++;
            return;
        }
        pthread_mutex_unlock(&l->lk);
        if (mux_now() > until) {
            l->cut_late++;
            return;
        }
        kc_sched_sleep(MS / 5, NULL);
    }
}

static uint64_t rng(uint64_t *x)
{
    *x ^= *x << 13; /* xorshift64 */
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Plan l->ncuts distinct cut points in [0, n - 1000) and their sides. */
static void plan_cuts(struct lossy *l, uint64_t seed)
{
    uint64_t span = (uint64_t)l->n - 1000, x = seed * 0x9e3779b97f4a7c15ull + 1;
    uint8_t *taken = calloc(span, 1);
    l->cut_at = calloc((size_t)l->ncuts, sizeof *l->cut_at);
    l->cut_side = calloc((size_t)l->ncuts, 1);
    assert_non_null(taken);
    assert_non_null(l->cut_at);
    assert_non_null(l->cut_side);
    for (long k = 0; k < l->ncuts;) {
        uint64_t at = rng(&x) % span;
        if (!taken[at]) {
            taken[at] = 1;
            l->cut_at[k++] = at;
        }
    }
    qsort(l->cut_at, (size_t)l->ncuts, sizeof *l->cut_at, by_value);
    for (long k = 0; k < l->ncuts; k++)
        l->cut_side[k] = (uint8_t)(rng(&x) & 1);
    free(taken);
}

struct side {
    struct lossy *l;
    int k;
};

static int accept_one(void *arg)
{
    struct lossy *l = arg;
    l->accept_rc = kc_ipc_accept(l->srv, &l->exp, 30000 * MS, NULL);
    return 0;
}

/* A server keeps accepting, as any does: a session's new link is handed
 * over inside accept. Any connection it returns is a new session, which
 * none of these tests opens. */
static int accept_more(void *arg)
{
    struct lossy *l = arg;
    kc_ipc_conn_t *c;
    int rc;
    while ((rc = kc_ipc_accept(l->srv, &c, KC_NO_TIMEOUT, l->stop)) == 0) {
        l->extra++;
        kc_ipc_close(c);
    }
    l->more_rc = rc;
    return 0;
}

/* Sends 0 .. n-1 on the imported channel, then closes it. */
static int sender(void *arg)
{
    struct side *d = arg;
    struct lossy *l = d->l;
    long next = 0;
    for (uint64_t i = 0; i < (uint64_t)l->n; i++) {
        int rc = kc_chan_send(l->remote[d->k], &i, KC_NO_TIMEOUT, NULL);
        if (rc != 0) {
            l->send_rc[d->k] = rc;
            return 0;
        }
        /* Cuts at the planned points, never in the last 1,000 elements. */
        if (l->cutting && d->k == 0 && next < l->ncuts && l->cut_at[next] == i)
            cut(l, l->cut_side[next++]);
    }
    l->send_rc[d->k] = kc_chan_close(l->remote[d->k]);
    return 0;
}

/* Receives from the exported channel until the close reaches it. */
static int receiver(void *arg)
{
    struct side *d = arg;
    struct lossy *l = d->l;
    uint64_t want = 0, v;
    int rc;
    while ((rc = kc_chan_recv(l->local[d->k], &v, KC_NO_TIMEOUT, NULL)) == 0) {
        if (v != want)
            l->out_of_order[d->k]++;
        want = v + 1;
        l->received[d->k]++;
    }
    l->end_rc[d->k] = rc;
    return 0;
}

static void run(int nworkers, uint64_t seed, bool cutting)
{
    struct lossy *l = calloc(1, sizeof *l);
    assert_non_null(l);
    struct end ends[2] = {{l, 0}, {l, 1}};
    pthread_mutex_init(&l->lk, NULL);
    l->cutting = cutting;
    bool full = getenv("KCORO_TEST_FULL") != NULL;
    l->n = full ? 500000 : mux_scaled(20000);
    if (cutting && l->n < 20000)
        l->n = 20000; /* not scaled: the cuts need the stream's length */
    if (cutting) {
        l->ncuts = full ? MUX_CUTS_FULL : mux_scaled(MUX_CUTS_QUICK);
        plan_cuts(l, seed);
    }
    l->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    l->so.netem = LOSSY;
    l->so.seed = seed;
    l->ra = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    if (cutting) {
        l->ra.grace_ns = 10000 * MS;
        l->ra.on_link = on_link;
    } else {
        l->ra.inner = &l->so;
    }
    l->rb = l->ra;
    l->ra.counters = &l->ca;
    l->rb.counters = &l->cb;
    l->ra.link_arg = &ends[0];
    l->rb.link_arg = &ends[1];
    l->ta = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    l->tb = l->ta;
    l->ta.adapter = &l->ra;
    l->tb.adapter = &l->rb;
    char url[108];
    if (cutting)
        snprintf(url, sizeof url, "rel:unix:@kc-muxsess-%d-%d", (int)getpid(), nworkers);
    else
        snprintf(url, sizeof url, "rel:sim:mem:muxlossy-%d-%d", (int)getpid(), nworkers);

    kc_sched_opts_t sopts = KC_SCHED_OPTS_INIT;
    sopts.nworkers = nworkers;
    assert_int_equal(kc_sched_create(&l->s, &sopts), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = l->s;
    o.ping_interval_ns = -1; /* the link is slow on purpose: no keep-alive verdicts */
    o.transport = &l->tb;
    assert_int_equal(kc_ipc_listen(&l->srv, url, &o), 0);
    kc_task_t *ta;
    assert_int_equal(kc_sched_spawn(l->s, &ta, accept_one, l, NULL), 0);
    o.transport = &l->ta;
    assert_int_equal(kc_ipc_connect(&l->imp, url, &o, 30000 * MS, NULL), 0);
    assert_int_equal(kc_sched_join(ta, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(l->accept_rc, 0);
    assert_int_equal(kc_cancel_create(&l->stop, NULL), 0);
    kc_task_t *tm;
    assert_int_equal(kc_sched_spawn(l->s, &tm, accept_more, l, NULL), 0);

    const char *names[NCHAN] = {"left", "right"};
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.timeout_ns = 30000 * MS;
    for (int k = 0; k < NCHAN; k++) {
        assert_int_equal(kc_chan_make(&l->local[k], KC_CHAN_BUFFERED, 64, sizeof(uint64_t)), 0);
        assert_int_equal(kc_ipc_export(l->exp, names[k], l->local[k], NULL), 0);
        assert_int_equal(kc_ipc_import(&l->remote[k], l->imp, names[k], &io, NULL), 0);
    }
    struct side sides[NCHAN];
    kc_task_t *ts[NCHAN], *tr[NCHAN];
    int64_t t0 = mux_now();
    for (int k = 0; k < NCHAN; k++) {
        sides[k] = (struct side){l, k};
        assert_int_equal(kc_sched_spawn(l->s, &tr[k], receiver, &sides[k], NULL), 0);
        assert_int_equal(kc_sched_spawn(l->s, &ts[k], sender, &sides[k], NULL), 0);
    }
    for (int k = 0; k < NCHAN; k++) {
        assert_int_equal(kc_sched_join(ts[k], NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_sched_join(tr[k], NULL, KC_NO_TIMEOUT, NULL), 0);
    }
    double secs = (double)(mux_now() - t0) / 1e9;
    kc_cancel_trigger(l->stop);
    assert_int_equal(kc_sched_join(tm, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(l->more_rc, -ECANCELED);
    assert_int_equal(l->extra, 0);
    assert_int_equal(kc_cancel_destroy(l->stop), 0);
    uint64_t retrans = atomic_load(&l->ca.retrans) + atomic_load(&l->cb.retrans);
    uint64_t bad_crc = atomic_load(&l->ca.bad_crc) + atomic_load(&l->cb.bad_crc);
    print_message("mux over %s: %d worker(s): %ld elements x %d channels in %.2f s, "
                  "%llu segments resent, %llu bad CRCs, %ld cuts at random points, links "
                  "%ld+%ld\n",
                  cutting ? "a cut rel session" : "rel:sim", nworkers, l->n, NCHAN, secs,
                  (unsigned long long)retrans, (unsigned long long)bad_crc, l->cuts, l->links[0],
                  l->links[1]);
    for (int k = 0; k < NCHAN; k++) {
        assert_int_equal(l->send_rc[k], 0);
        assert_int_equal(l->received[k], l->n);
        assert_int_equal(l->out_of_order[k], 0);
        assert_int_equal(l->end_rc[k], -EPIPE);
    }
    /* The lossy link lost segments and they were repaired (at a
     * sanitizer's scale too few frames may pass for a loss to be certain;
     * a cut may find nothing unacknowledged, so it need not resend). */
    if (!cutting && l->n >= 20000)
        assert_true(retrans > 0);
    if (cutting) { /* every planned cut happened and was repaired by one new link at each end */
        assert_int_equal(l->cut_late, 0);
        assert_int_equal(l->cuts, l->ncuts);
        pthread_mutex_lock(&l->lk);
        assert_int_equal(l->links[0], l->cuts + 1);
        assert_int_equal(l->links[1], l->cuts + 1);
        pthread_mutex_unlock(&l->lk);
    }

    for (int k = 0; k < NCHAN; k++) {
        kc_chan_destroy(l->remote[k]);
        kc_ipc_unexport(l->exp, names[k]);
    }
    kc_ipc_close(l->imp);
    kc_ipc_close(l->exp);
    kc_ipc_server_close(l->srv);
    assert_int_equal(kc_sched_destroy(l->s), 0);
    for (int k = 0; k < NCHAN; k++)
        kc_chan_destroy(l->local[k]);
    pthread_mutex_destroy(&l->lk);
    free(l->cut_at);
    free(l->cut_side);
    free(l);
}

static void test_remote_channels_survive_a_lossy_link_one_worker(void **state)
{
    (void)state;
    run(1, 41, false);
}

static void test_remote_channels_survive_a_lossy_link_two_workers(void **state)
{
    (void)state;
    run(2, 42, false);
}

static void test_remote_channels_survive_cut_links_one_worker(void **state)
{
    (void)state;
    run(1, 43, true);
}

static void test_remote_channels_survive_cut_links_two_workers(void **state)
{
    (void)state;
    run(2, 44, true);
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
        cmocka_unit_test(test_remote_channels_survive_a_lossy_link_one_worker),
        cmocka_unit_test(test_remote_channels_survive_a_lossy_link_two_workers),
        cmocka_unit_test(test_remote_channels_survive_cut_links_one_worker),
        cmocka_unit_test(test_remote_channels_survive_cut_links_two_workers),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
