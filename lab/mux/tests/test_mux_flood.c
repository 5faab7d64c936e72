/* test_mux_flood.c - regressions named after floods peers did not survive: cancels and resets.
 *
 * A flood of cancels: 128,000 rendezvous sends on one remote channel
 * (`make test-full`: about 100,000 of them cancelled, each with its CANCEL
 * frame; `make test` sends 6,000), each ended by its own
 * try (-EAGAIN), a timeout of 50-350 us (-ETIME: long enough for the
 * credit, short for a verdict, so its CANCEL goes out) or a cancel token
 * that fired already (-ECANCELED), while a receiver in the exporting side
 * takes one element a millisecond: every send's verdict is exact (the set of elements whose send
 * returned 0 is exactly the set received, none twice), a buffered channel
 * beside it on the same connection delivers all its elements in order, and
 * afterwards the layer holds nothing (no stream, no byte, no credit lost).
 * A flood of resets (HTTP/2's "rapid reset"): streams opened and destroyed
 * again and again, each with elements in flight: the connection window
 * comes back whole (HTTP/2 implementations leaked it to reset streams) and
 * a channel beside them still flows. Both under one and two workers.
 */
#include "mux_test.h"

static long flood_n(void)
{
    return getenv("KCORO_TEST_FULL") ? 128000 : mux_scaled(6000);
}

struct flood {
    kc_chan_t *ch;
    long n;
    uint8_t *fate; /* per element: 1 its send returned 0 */
    long ok, again, timedout, canceled, other;
    _Atomic int done;
};

static int flood_send(void *arg)
{
    struct flood *f = arg;
    kc_cancel_t *fired;
    kc_cancel_create(&fired, NULL);
    kc_cancel_trigger(fired);
    for (long i = 0; i < f->n; i++) {
        long v = i;
        int rc;
        switch (i % 10) {
        case 0:
            rc = kc_chan_try_send(f->ch, &v);
            break;
        case 1:
            rc = kc_chan_send(f->ch, &v, KC_NO_TIMEOUT, fired);
            break;
        default: /* long enough for credit, short for a verdict: CANCEL */
            rc = kc_chan_send(f->ch, &v, (int64_t)(i % 7 + 1) * 50000, NULL);
            break;
        }
        if (rc == 0) {
            f->fate[i] = 1;
            f->ok++;
        } else if (rc == -EAGAIN) {
            f->again++;
        } else if (rc == -ETIME) {
            f->timedout++;
        } else if (rc == -ECANCELED) {
            f->canceled++;
        } else {
            f->other++;
        }
    }
    kc_cancel_destroy(fired);
    atomic_store(&f->done, 1);
    return 0;
}

struct taker {
    kc_chan_t *ch;
    struct flood *f;
    uint8_t *seen;
    long got, twice, bad;
};

static int flood_take(void *arg)
{
    struct taker *t = arg;
    for (;;) {
        long v;
        int rc = kc_chan_recv(t->ch, &v, 2 * MS, NULL);
        if (rc == -ETIME) {
            if (atomic_load(&t->f->done))
                break;
            continue;
        }
        if (rc != 0)
            break;
        if (v < 0 || v >= t->f->n) {
            t->bad++;
            continue;
        }
        if (t->seen[v])
            t->twice++;
        t->seen[v] = 1;
        t->got++;
        kc_sched_sleep(1000000, NULL); /* a while away: sends in between are withdrawn */
    }
    return 0;
}

struct bystander {
    kc_chan_t *ch;
    long n;
    int rc;
};

static int by_send(void *arg)
{
    struct bystander *b = arg;
    for (long i = 0; i < b->n && b->rc == 0; i++)
        b->rc = kc_chan_send(b->ch, &i, 10000 * MS, NULL);
    return 0;
}

static int by_recv(void *arg)
{
    struct bystander *b = arg;
    for (long i = 0; i < b->n && b->rc == 0; i++) {
        long v;
        b->rc = kc_chan_recv(b->ch, &v, 10000 * MS, NULL);
        if (b->rc == 0 && v != i)
            b->rc = -EPROTO;
    }
    return 0;
}

/* Wait (bounded) until the layer of c holds nothing received. */
static kc_mux_stats_t settled(kc_ipc_conn_t *c, uint32_t streams)
{
    kc_mux_stats_t st = mux_stats(c);
    for (int i = 0; i < 10000 && (st.rx_bytes_held != 0 || st.streams != streams); i++) {
        mux_usleep(1000);
        st = mux_stats(c);
    }
    return st;
}

static void run_cancel_flood(int nworkers)
{
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, true, nworkers, 0), 0);
    kc_chan_t *rv, *buf, *rrv, *rbuf;
    assert_int_equal(kc_chan_make(&rv, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    assert_int_equal(kc_chan_make(&buf, KC_CHAN_BUFFERED, 16, sizeof(long)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "rv", rv, NULL), 0);
    assert_int_equal(kc_ipc_export(e.exp, "buf", buf, NULL), 0);
    assert_int_equal(kc_ipc_import(&rrv, e.imp, "rv", NULL, NULL), 0);
    assert_int_equal(kc_ipc_import(&rbuf, e.imp, "buf", NULL, NULL), 0);
    struct flood f = {.ch = rrv, .n = flood_n()};
    f.fate = calloc((size_t)f.n, 1);
    struct taker tk = {.ch = rv, .f = &f};
    tk.seen = calloc((size_t)f.n, 1);
    struct bystander bs = {rbuf, f.n, 0}, br = {buf, f.n, 0};
    kc_task_t *t[4];
    int64_t t0 = mux_now();
    assert_int_equal(kc_sched_spawn(e.s, &t[0], flood_send, &f, NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s, &t[1], flood_take, &tk, NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s, &t[2], by_send, &bs, NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s, &t[3], by_recv, &br, NULL), 0);
    for (int i = 0; i < 4; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    int64_t t1 = mux_now();
    kc_mux_stats_t is = settled(e.imp, 2), es = settled(e.exp, 2);
    print_message("%d workers: %ld sends: %ld delivered, %ld -EAGAIN, %ld -ETIME, %ld -ECANCELED, "
                  "%ld other; received %ld; CANCELs %llu sent, %llu received; %.2f s\n",
                  nworkers, f.n, f.ok, f.again, f.timedout, f.canceled, f.other, tk.got,
                  (unsigned long long)is.cancels_out, (unsigned long long)es.cancels_in,
                  (double)(t1 - t0) / 1e9);
    /* every verdict exact: delivered iff received, never twice */
    assert_int_equal(f.other, 0);
    assert_int_equal(tk.bad, 0);
    assert_int_equal(tk.twice, 0);
    assert_int_equal(f.ok + f.again + f.timedout + f.canceled, f.n);
    assert_int_equal(tk.got, f.ok);
    long mismatch = 0;
    for (long i = 0; i < f.n; i++)
        mismatch += f.fate[i] != tk.seen[i];
    assert_int_equal(mismatch, 0);
    /* it was a flood of CANCELs, every one heard (under qemu-user a timeout
     * may run out before the credit arrives, and fewer sends get as far) */
    assert_int_equal(is.cancels_out, es.cancels_in);
    assert_true(is.cancels_out >= (getenv("KCORO_UNDER_QEMU") ? 1 : (uint64_t)f.n / 4));
    /* the channel beside it delivered everything in order */
    assert_int_equal(bs.rc, 0);
    assert_int_equal(br.rc, 0);
    /* nothing held, nothing left over */
    assert_int_equal(is.rx_bytes_held, 0);
    assert_int_equal(es.rx_bytes_held, 0);
    assert_int_equal(es.undelivered, 0);
    assert_int_equal(is.streams, 2);
    assert_int_equal(es.streams, 2);
    kc_chan_destroy(rrv);
    kc_chan_destroy(rbuf);
    mux_env_down(&e);
    kc_chan_destroy(rv);
    kc_chan_destroy(buf);
    free(f.fate);
    free(tk.seen);
}

static void test_a_flood_of_cancels_one_worker(void **state)
{
    (void)state;
    run_cancel_flood(1);
}

static void test_a_flood_of_cancels_two_workers(void **state)
{
    (void)state;
    run_cancel_flood(2);
}

/* ------------------------------------------------------------ resets */

static void run_reset_flood(int nworkers)
{
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, nworkers, 0), 0);
    const uint32_t win = 256u << 10;
    assert_int_equal(kc_mux_set_conn_window(e.exp, win), 0);
    kc_chan_t *sink, *keep, *rkeep;
    /* nobody reads sink: what the importers send stays in the exporter's
     * layer until their reset gives it back */
    assert_int_equal(kc_chan_make(&sink, KC_CHAN_BUFFERED, 1, 1024), 0);
    assert_int_equal(kc_chan_make(&keep, KC_CHAN_BUFFERED, 16, sizeof(long)), 0);
    kc_mux_export_opts_t xo = KC_MUX_EXPORT_OPTS_INIT;
    xo.window = 64;
    assert_int_equal(kc_ipc_export(e.exp, "sink", sink, &xo), 0);
    assert_int_equal(kc_ipc_export(e.exp, "keep", keep, NULL), 0);
    assert_int_equal(kc_ipc_import(&rkeep, e.imp, "keep", NULL, NULL), 0);
    long n = getenv("KCORO_TEST_FULL") ? 10000 : mux_scaled(500);
    static char big[1024];
    for (long i = 0; i < n; i++) {
        kc_chan_t *r;
        assert_int_equal(kc_ipc_import(&r, e.imp, "sink", NULL, NULL), 0);
        uint64_t out0 = mux_stats(e.imp).elems_out;
        for (int k = 0; k < 64; k++) /* the window's 64 (the credit comes after OPEN_OK) */
            assert_int_equal(kc_chan_send(r, big, 10000 * MS, NULL), 0);
        for (int k = 0; k < 10000 && mux_stats(e.imp).elems_out < out0 + 64; k++)
            mux_usleep(100); /* on the wire: the reset finds them in the exporter's layer */
        assert_int_equal(kc_chan_destroy(r), 0); /* RESET, elements in flight */
        if (i % 64 == 0) {                       /* the channel beside them still flows */
            long v = i, w = -1;
            int src = kc_chan_send(rkeep, &v, 10000 * MS, NULL);
            int rrc = src == 0 ? kc_chan_recv(keep, &w, 10000 * MS, NULL) : src;
            if (rrc != 0) {
                kc_mux_stats_t a = mux_stats(e.imp), b = mux_stats(e.exp);
                print_message("stream %ld: send %d recv %d; importer out %llu frames %llu; "
                              "exporter in %llu held %llu direct %llu undelivered %llu\n",
                              i, src, rrc, (unsigned long long)a.elems_out,
                              (unsigned long long)a.data_frames_out, (unsigned long long)b.elems_in,
                              (unsigned long long)b.rx_bytes_held, (unsigned long long)b.direct,
                              (unsigned long long)b.undelivered);
            }
            assert_int_equal(src, 0);
            assert_int_equal(rrc, 0);
            assert_int_equal(w, v);
        }
    }
    /* the connection window came back whole (each reset stream held up to
     * 64 KiB of a 256 KiB window): nothing stays held, and one more
     * stream still gets its whole window of 64 elements through */
    kc_mux_stats_t es = settled(e.exp, 1);
    print_message("%d workers: %ld streams opened and reset; exporter held %llu (peak %llu), "
                  "undelivered %llu, dropped %llu\n",
                  nworkers, n, (unsigned long long)es.rx_bytes_held,
                  (unsigned long long)es.rx_bytes_peak, (unsigned long long)es.undelivered,
                  (unsigned long long)es.dropped_in);
    assert_int_equal(es.rx_bytes_held, 0);
    assert_true(es.rx_bytes_peak <= win);
    kc_chan_t *r;
    while (kc_chan_try_recv(sink, big) == 0)
        ;
    assert_int_equal(kc_ipc_import(&r, e.imp, "sink", NULL, NULL), 0);
    int sent = 0;
    for (int k = 0; k < 64; k++)
        sent += kc_chan_send(r, big, 5000 * MS, NULL) == 0;
    assert_int_equal(sent, 64);
    for (int k = 0; k < 64; k++)
        assert_int_equal(kc_chan_recv(sink, big, 5000 * MS, NULL), 0);
    assert_int_equal(kc_chan_try_recv(sink, big), -EAGAIN);
    assert_int_equal(kc_chan_destroy(r), 0);
    kc_chan_destroy(rkeep);
    mux_env_down(&e);
    kc_chan_destroy(sink);
    kc_chan_destroy(keep);
}

static void test_a_flood_of_resets_one_worker(void **state)
{
    (void)state;
    run_reset_flood(1);
}

static void test_a_flood_of_resets_two_workers(void **state)
{
    (void)state;
    run_reset_flood(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_flood_of_cancels_one_worker),
        cmocka_unit_test(test_a_flood_of_cancels_two_workers),
        cmocka_unit_test(test_a_flood_of_resets_one_worker),
        cmocka_unit_test(test_a_flood_of_resets_two_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
