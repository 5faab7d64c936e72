/* test_mux_bdp.c - the connection window grows with the measured bandwidth-delay product.
 *
 * One channel exported over a connection on `sim:mem:` with `delay 10ms`
 * each way (a round trip of at least 20 ms on a link with no rate limit),
 * the exporter's window starting at 64 KiB with a memory limit of 1 MiB.
 * A fast reader: the window is what limits the sender, the credit round
 * trips measure at least the link's 20 ms, and the window grows, never
 * beyond the limit, and never holds more than the limit. A slow reader on
 * the same link: the delivery rate is the reader's, the product small, and
 * the window stays where it started. A window fixed with
 * kc_mux_set_conn_window never grows. Every element arrives once and in
 * order in each.
 */
#include "mux_test.h"

#include "kcoro/sim.h"

#define DELAY "delay 10ms"
#define WIN (64u << 10)
#define LIMIT (1u << 20)
#define ELEM 1024

struct bdp {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    kc_sim_opts_t so;
    kc_transport_opts_t to;
    kc_chan_t *local, *remote;
    long n;
    long slow_us; /* the reader's pause per element */
    size_t cap;   /* the exported channel's capacity */
    int accept_rc, send_rc, end_rc;
    long received, out_of_order;
};

static int accept_one(void *arg)
{
    struct bdp *b = arg;
    b->accept_rc = kc_ipc_accept(b->srv, &b->exp, 30000 * MS, NULL);
    return 0;
}

static int sender(void *arg)
{
    struct bdp *b = arg;
    uint8_t e[ELEM] = {0};
    for (long i = 0; i < b->n; i++) {
        memcpy(e, &i, sizeof i);
        int rc = kc_chan_send(b->remote, e, KC_NO_TIMEOUT, NULL);
        if (rc != 0) {
            b->send_rc = rc;
            return 0;
        }
    }
    b->send_rc = kc_chan_close(b->remote);
    return 0;
}

static int receiver(void *arg)
{
    struct bdp *b = arg;
    uint8_t e[ELEM];
    long want = 0, v;
    int rc;
    while ((rc = kc_chan_recv(b->local, e, KC_NO_TIMEOUT, NULL)) == 0) {
        memcpy(&v, e, sizeof v);
        if (v != want)
            b->out_of_order++;
        want = v + 1;
        b->received++;
        if (b->slow_us)
            kc_sched_sleep(b->slow_us * 1000, NULL);
    }
    b->end_rc = rc;
    return 0;
}

/* Run n elements over the delayed link; the exporter's stats. */
static kc_mux_stats_t run(long n, long slow_us, size_t cap, uint32_t limit, double *secs)
{
    static int k;
    struct bdp *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->n = n;
    b->slow_us = slow_us;
    b->cap = cap;
    b->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    b->so.netem = DELAY;
    b->to = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    b->to.adapter = &b->so;
    char url[108];
    snprintf(url, sizeof url, "sim:mem:muxbdp-%d-%d", (int)getpid(), k++);
    kc_sched_opts_t sopts = KC_SCHED_OPTS_INIT;
    sopts.nworkers = 1;
    assert_int_equal(kc_sched_create(&b->s, &sopts), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = b->s;
    o.ping_interval_ns = -1;
    o.transport = &b->to;
    o.tx_queue_bytes = 1 << 20;
    assert_int_equal(kc_ipc_listen(&b->srv, url, &o), 0);
    kc_task_t *ta;
    assert_int_equal(kc_sched_spawn(b->s, &ta, accept_one, b, NULL), 0);
    assert_int_equal(kc_ipc_connect(&b->imp, url, &o, 30000 * MS, NULL), 0);
    assert_int_equal(kc_sched_join(ta, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(b->accept_rc, 0);
    /* bad sizes first: nothing attached */
    assert_int_equal(kc_mux_set_conn_memory(b->exp, WIN, WIN - 1), -EINVAL);
    assert_int_equal(kc_mux_set_conn_memory(b->exp, WIN - 1, LIMIT), -EINVAL);
    if (limit == WIN)
        assert_int_equal(kc_mux_set_conn_window(b->exp, WIN), 0); /* fixed */
    else
        assert_int_equal(kc_mux_set_conn_memory(b->exp, WIN, limit), 0);
    assert_int_equal(kc_mux_set_conn_memory(b->exp, WIN, LIMIT), -EBUSY);
    assert_int_equal(kc_chan_make(&b->local, KC_CHAN_BUFFERED, cap, ELEM), 0);
    assert_int_equal(kc_ipc_export(b->exp, "bdp", b->local, NULL), 0);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.timeout_ns = 30000 * MS;
    assert_int_equal(kc_ipc_import(&b->remote, b->imp, "bdp", &io, NULL), 0);
    kc_task_t *ts, *tr;
    int64_t t0 = mux_now();
    assert_int_equal(kc_sched_spawn(b->s, &tr, receiver, b, NULL), 0);
    assert_int_equal(kc_sched_spawn(b->s, &ts, sender, b, NULL), 0);
    assert_int_equal(kc_sched_join(ts, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(tr, NULL, KC_NO_TIMEOUT, NULL), 0);
    *secs = (double)(mux_now() - t0) / 1e9;
    assert_int_equal(b->send_rc, 0);
    assert_int_equal(b->end_rc, -EPIPE);
    assert_int_equal(b->received, n);
    assert_int_equal(b->out_of_order, 0);
    kc_mux_stats_t st = mux_stats(b->exp);
    kc_chan_destroy(b->remote);
    assert_int_equal(kc_ipc_unexport(b->exp, "bdp"), 0);
    kc_chan_destroy(b->local);
    kc_ipc_close(b->imp);
    kc_ipc_close(b->exp);
    kc_ipc_server_close(b->srv);
    kc_sched_destroy(b->s);
    free(b);
    return st;
}

static void test_window_grows_on_a_delayed_link_up_to_the_limit(void **state)
{
    (void)state;
    long n = getenv("KCORO_TEST_FULL") ? 32768 : 8192; /* 8 MiB (32 in test-full) */
    double secs;
    /* a stream window (the exported capacity, 8 MiB) far above the
     * connection's, so the connection window is what limits the sender */
    kc_mux_stats_t st = run(n, 0, 8192, LIMIT, &secs);
    print_message("%ld KiB in %.2f s (%.1f MB/s); window %llu -> %llu KiB (limit %u), %llu "
                  "grows, rtt_min %.1f ms, last BDP %llu KiB, peak held %llu KiB\n",
                  n, secs, (double)n * ELEM / secs / 1e6, (unsigned long long)WIN >> 10,
                  (unsigned long long)st.conn_window >> 10, LIMIT >> 10,
                  (unsigned long long)st.window_grows, (double)st.rtt_min_ns / 1e6,
                  (unsigned long long)st.bdp_bytes >> 10,
                  (unsigned long long)st.rx_bytes_peak >> 10);
    assert_true(st.window_grows >= 1);
    assert_true(st.conn_window > WIN);
    assert_true(st.conn_window <= LIMIT);
    assert_int_equal(st.conn_limit, LIMIT);
    assert_true(st.rx_bytes_peak <= LIMIT);
    assert_true(st.rtt_min_ns >= 20 * MS); /* a trip is at least the link's round trip */
    assert_int_equal(st.elems_in, n);
    assert_int_equal(st.undelivered, 0);
}

static void test_a_slow_reader_keeps_its_window(void **state)
{
    (void)state;
    double secs;
    /* 200 elements at one per 5 ms: 0.2 MB/s; with a 20 ms round trip the
     * product is about 4 KiB, far below the 64 KiB window. The exported
     * channel holds 16 elements, so the reader's pace reaches the link (a
     * large channel would take everything at once: a fast consumer). */
    kc_mux_stats_t st = run(200, 5000, 16, LIMIT, &secs);
    print_message("slow reader: %.2f s; window %llu KiB, %llu grows, rtt_min %.1f ms, last BDP "
                  "%llu KiB, peak held %llu KiB\n",
                  secs, (unsigned long long)st.conn_window >> 10,
                  (unsigned long long)st.window_grows, (double)st.rtt_min_ns / 1e6,
                  (unsigned long long)st.bdp_bytes >> 10,
                  (unsigned long long)st.rx_bytes_peak >> 10);
    assert_int_equal(st.window_grows, 0);
    assert_int_equal(st.conn_window, WIN);
    assert_true(st.rx_bytes_peak <= WIN);
}

/* kc_mux_set_conn_window fixes the window: the same link, 1 MiB, no
 * growth and no PROBE. */
static void test_a_fixed_window_stays(void **state)
{
    (void)state;
    double secs;
    kc_mux_stats_t st = run(1024, 0, 8192, WIN, &secs);
    print_message("fixed 64 KiB window: 1024 KiB in %.2f s (%.1f MB/s)\n", secs,
                  1024.0 * ELEM / secs / 1e6);
    assert_int_equal(st.window_grows, 0);
    assert_int_equal(st.probes_out, 0);
    assert_int_equal(st.conn_window, WIN);
    assert_int_equal(st.conn_limit, WIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_grows_on_a_delayed_link_up_to_the_limit),
        cmocka_unit_test(test_a_slow_reader_keeps_its_window),
        cmocka_unit_test(test_a_fixed_window_stays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
