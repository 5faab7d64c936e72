/* test_mux_desc.c - descriptors across a connection: arena to arena, exact ledger, reservations.
 *
 * A descriptor channel (elements are kc_zdesc_t naming arena payloads) is
 * exported by one scheduler and imported by another over a UNIX socket and
 * over `rel:sim:mem:` with loss, duplication, reordering and corruption
 * under the reliability layer. Descriptors go both ways with random
 * lengths; every payload is checked byte for byte on arrival (a checksum of
 * its index), arrives as an OWNED descriptor of the receiver's own arena,
 * and after the channels are gone both arenas hold zero live tickets. The
 * receiver's reservation (window x max_desc_len) is exhausted on purpose:
 * the import or the receive fails with -ENOMEM, no descriptor is lost, and
 * the stream resumes once the arena has room again. Descriptor checks are
 * those of a local channel (-EINVAL, -EMSGSIZE, -ESTALE).
 */
#include "mux_test.h"

#include "kcoro/arena.h"
#include "kcoro/rel.h"
#include "kcoro/sim.h"
#include "kcoro/zdesc.h"

#define LOSSY "loss 5% duplicate 1% reorder 10% gap 3 delay 1ms 1ms corrupt 0.1%"
#define MAXD ((size_t)65536)

struct denv {
    kc_sched_t *s[2]; /* [0] the exporter's, [1] the importer's */
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    int accept_rc;
    kc_sim_opts_t so;
    kc_rel_opts_t ra, rb;
    kc_transport_opts_t ta, tb;
};

static int accept_one(void *arg)
{
    struct denv *e = arg;
    e->accept_rc = kc_ipc_accept(e->srv, &e->exp, 30000 * MS, NULL);
    return 0;
}

/* Two schedulers connected over unix: (lossy false) or rel:sim:mem: with
 * LOSSY. */
static void denv_up(struct denv *e, bool lossy)
{
    static int n;
    memset(e, 0, sizeof *e);
    char url[108];
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    assert_int_equal(kc_sched_create(&e->s[0], &so), 0);
    assert_int_equal(kc_sched_create(&e->s[1], &so), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.tx_queue_bytes = 1 << 20;
    if (lossy) {
        snprintf(url, sizeof url, "rel:sim:mem:muxdesc-%d-%d", (int)getpid(), n++);
        e->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
        e->so.netem = LOSSY;
        e->so.seed = 2121;
        e->ra = (kc_rel_opts_t)KC_REL_OPTS_INIT;
        e->ra.inner = &e->so;
        e->rb = e->ra;
        e->ta = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
        e->tb = e->ta;
        e->ta.adapter = &e->ra;
        e->tb.adapter = &e->rb;
        o.ping_interval_ns = -1;
        o.transport = &e->tb;
    } else {
        snprintf(url, sizeof url, "unix:/tmp/kc-muxdesc-%d-%d", (int)getpid(), n++);
        unlink(url + 5);
    }
    o.sched = e->s[0];
    assert_int_equal(kc_ipc_listen(&e->srv, url, &o), 0);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(e->s[0], &t, accept_one, e, NULL), 0);
    o.sched = e->s[1];
    if (lossy)
        o.transport = &e->ta;
    assert_int_equal(kc_ipc_connect(&e->imp, url, &o, 30000 * MS, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(e->accept_rc, 0);
    if (!lossy)
        unlink(url + 5);
}

static void denv_down(struct denv *e)
{
    kc_ipc_close(e->imp);
    kc_ipc_close(e->exp);
    kc_ipc_server_close(e->srv);
    assert_int_equal(kc_sched_destroy(e->s[1]), 0);
    assert_int_equal(kc_sched_destroy(e->s[0]), 0);
}

static kc_arena_t *arena_of(size_t bytes)
{
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = bytes;
    kc_arena_t *a = NULL;
    assert_int_equal(kc_arena_create(&a, &o), 0);
    return a;
}

static uint64_t live(kc_arena_t *a)
{
    kc_arena_metrics_t m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    return m.live_tickets;
}

static kc_chan_t *desc_chan(kc_chan_kind_t kind, size_t cap, kc_arena_t *a, size_t max)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = kind;
    o.capacity = cap;
    o.elem_size = 0;
    o.arena = a;
    o.max_desc_len = max;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

/* The length and bytes of descriptor i (of a stream tagged `tag`). */
static size_t len_of(uint64_t tag, long i)
{
    uint64_t x = (tag + (uint64_t)i) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    size_t l = (size_t)(x % MAXD) + 1;
    return i % 7 == 0 ? MAXD : l; /* the largest now and then */
}

static uint8_t byte_of(uint64_t tag, long i, size_t k)
{
    return (uint8_t)((tag * 31 + (uint64_t)i * 131 + k * 7 + (k >> 8)) & 0xff);
}

/* ------------------------------------------------------------ streaming tasks */

struct flow {
    kc_chan_t *ch;
    kc_arena_t *arena;
    uint64_t tag;
    long n;
    long done;
    int rc;
    long bad; /* payloads not as sent, foreign or not owned */
};

static int send_flow(void *arg)
{
    struct flow *f = arg;
    for (f->done = 0; f->done < f->n; f->done++) {
        size_t len = len_of(f->tag, f->done);
        kc_zdesc_t d;
        if ((f->rc = kc_zdesc_alloc(&d, f->arena, len, 0)) < 0)
            return 0;
        uint8_t *p = d.ptr;
        for (size_t k = 0; k < len; k++)
            p[k] = byte_of(f->tag, f->done, k);
        if ((f->rc = kc_chan_send_desc(f->ch, &d, 30000 * MS, NULL)) < 0) {
            kc_zdesc_release(&d, f->arena);
            return 0;
        }
    }
    return 0;
}

static int recv_flow(void *arg)
{
    struct flow *f = arg;
    for (f->done = 0; f->done < f->n; f->done++) {
        kc_zdesc_t d;
        if ((f->rc = kc_chan_recv_desc(f->ch, &d, 30000 * MS, NULL)) < 0)
            return 0;
        void *p = NULL;
        size_t len = 0;
        int hrc = kc_zdesc_hydrate(&d, f->arena, &p, &len);
        if (!kc_zdesc_is_owned(&d) || hrc != 0 || len != len_of(f->tag, f->done)) {
            if (f->bad == 0)
                print_message("bad: owned %d hydrate %d len %zu want %zu\n", kc_zdesc_is_owned(&d),
                              hrc, len, len_of(f->tag, f->done));
            f->bad++;
        } else {
            for (size_t k = 0; k < len; k++)
                if (((uint8_t *)p)[k] != byte_of(f->tag, f->done, k)) {
                    f->bad++;
                    break;
                }
        }
        int rrc = kc_zdesc_release(&d, f->arena);
        if (rrc != 1) {
            if (f->bad == 0)
                print_message("bad: release %d\n", rrc);
            f->bad++; /* the receiver held the only reference */
        }
    }
    return 0;
}

/* Descriptors both ways at once between two schedulers, n each way: the
 * importer sends on "up" (the exporter receives), the exporter sends on
 * "down" (the importer receives); one connection carries both. */
static void both_ways(bool lossy, kc_chan_kind_t kind, long n)
{
    struct denv e;
    denv_up(&e, lossy);
    kc_arena_t *ea = arena_of(32 << 20), *ia = arena_of(32 << 20);
    size_t cap = kind == KC_CHAN_BUFFERED ? 16 : 0;
    kc_chan_t *up = desc_chan(kind, cap, ea, MAXD), *down = desc_chan(kind, cap, ea, MAXD);
    assert_int_equal(kc_ipc_export(e.exp, "up", up, NULL), 0);
    assert_int_equal(kc_ipc_export(e.exp, "down", down, NULL), 0);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.arena = ia;
    io.timeout_ns = 30000 * MS;
    kc_chan_t *rup = NULL, *rdown = NULL;
    assert_int_equal(kc_ipc_import(&rup, e.imp, "up", &io, NULL), 0);
    assert_int_equal(kc_ipc_import(&rdown, e.imp, "down", &io, NULL), 0);
    assert_int_equal(kc_chan_elem_size(rup), 0);
    struct flow f[4] = {
        {rup, ia, 1, n, 0, 0, 0},   /* importer sends */
        {up, ea, 1, n, 0, 0, 0},    /* exporter receives them */
        {down, ea, 2, n, 0, 0, 0},  /* exporter sends */
        {rdown, ia, 2, n, 0, 0, 0}, /* importer receives them */
    };
    kc_task_t *t[4];
    int64_t t0 = mux_now();
    assert_int_equal(kc_sched_spawn(e.s[1], &t[0], send_flow, &f[0], NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s[0], &t[1], recv_flow, &f[1], NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s[0], &t[2], send_flow, &f[2], NULL), 0);
    assert_int_equal(kc_sched_spawn(e.s[1], &t[3], recv_flow, &f[3], NULL), 0);
    for (int k = 0; k < 4; k++)
        assert_int_equal(kc_sched_join(t[k], NULL, KC_NO_TIMEOUT, NULL), 0);
    print_message(
        "descriptors over %s, %s: %ld each way in %.2f s\n", lossy ? "rel:sim:mem (lossy)" : "unix",
        kind == KC_CHAN_BUFFERED ? "buffered" : "rendezvous", n, (double)(mux_now() - t0) / 1e9);
    for (int k = 0; k < 4; k++) {
        if (f[k].rc != 0 || f[k].bad != 0)
            print_message("flow %d: rc %d, done %ld, bad %ld\n", k, f[k].rc, f[k].done, f[k].bad);
        assert_int_equal(f[k].rc, 0);
        assert_int_equal(f[k].done, n);
        assert_int_equal(f[k].bad, 0);
    }
    /* the exact ledger on both faces of both channels */
    uint64_t b1 = 0, b2 = 0;
    for (long i = 0; i < n; i++) {
        b1 += len_of(1, i);
        b2 += len_of(2, i);
    }
    kc_chan_snapshot_t s_rup = mux_snap(rup), s_up = mux_snap(up);
    kc_chan_snapshot_t s_rdown = mux_snap(rdown), s_down = mux_snap(down);
    assert_int_equal(s_rup.sends, (uint64_t)n);
    assert_int_equal(s_rup.desc_sends, (uint64_t)n);
    assert_int_equal(s_rup.bytes_sent, b1);
    assert_int_equal(s_up.receives, (uint64_t)n);
    assert_int_equal(s_up.sends, (uint64_t)n);
    assert_int_equal(s_down.sends, (uint64_t)n);
    assert_int_equal(s_rdown.receives, (uint64_t)n);
    assert_int_equal(s_rdown.desc_receives, (uint64_t)n);
    assert_int_equal(s_rdown.bytes_received, b2);
    assert_int_equal(s_rup.receives + s_rdown.sends, 0);
    kc_mux_stats_t is = mux_stats(e.imp), es = mux_stats(e.exp);
    assert_int_equal(is.elems_out, (uint64_t)n);
    assert_int_equal(es.elems_in, (uint64_t)n);
    assert_int_equal(es.elems_out, (uint64_t)n);
    assert_int_equal(is.elems_in, (uint64_t)n);
    assert_int_equal(es.undelivered, 0);
    assert_int_equal(kc_chan_destroy(rup), 0);
    assert_int_equal(kc_chan_destroy(rdown), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "up"), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "down"), 0);
    assert_int_equal(s_rdown.undelivered, 0);
    denv_down(&e);
    assert_int_equal(kc_chan_destroy(up), 0);
    assert_int_equal(kc_chan_destroy(down), 0);
    /* D4: zero live tickets on both sides */
    assert_int_equal(live(ia), 0);
    assert_int_equal(live(ea), 0);
    assert_int_equal(kc_arena_destroy(ia), 0);
    assert_int_equal(kc_arena_destroy(ea), 0);
}

static void test_desc_both_ways_over_unix(void **state)
{
    (void)state;
    both_ways(false, KC_CHAN_BUFFERED, getenv("KCORO_TEST_FULL") ? 100000 : mux_scaled(3000));
}

static void test_desc_rendezvous_over_unix(void **state)
{
    (void)state;
    both_ways(false, KC_CHAN_RENDEZVOUS, mux_scaled(500));
}

static void test_desc_both_ways_over_a_lossy_rel_path(void **state)
{
    (void)state;
    both_ways(true, KC_CHAN_BUFFERED, getenv("KCORO_TEST_FULL") ? 20000 : mux_scaled(600));
}

/* ------------------------------------------------------------ checks and reservations */

static void test_desc_checks_are_those_of_a_local_channel(void **state)
{
    (void)state;
    struct denv e;
    denv_up(&e, false);
    kc_arena_t *ea = arena_of(4 << 20), *ia = arena_of(4 << 20), *other = arena_of(1 << 20);
    kc_chan_t *local = desc_chan(KC_CHAN_BUFFERED, 4, ea, 1024);
    /* exports: an arena and a bound are needed to reserve */
    kc_chan_t *bare = desc_chan(KC_CHAN_BUFFERED, 4, NULL, 1024);
    kc_chan_t *unbounded = desc_chan(KC_CHAN_BUFFERED, 4, ea, 0);
    assert_int_equal(kc_ipc_export(e.exp, "bare", bare, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(e.exp, "unbounded", unbounded, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(e.exp, "d", local, NULL), 0);
    /* an import without an arena is refused after the handshake, cleanly */
    kc_chan_t *remote = NULL;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "d", NULL, NULL), -EINVAL);
    assert_null(remote);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.arena = ia;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "d", &io, NULL), 0);
    kc_zdesc_t d, foreign, big, borrowed;
    char stack[16];
    assert_int_equal(kc_zdesc_alloc(&d, ia, 100, 0), 0);
    assert_int_equal(kc_zdesc_alloc(&foreign, other, 100, 0), 0);
    assert_int_equal(kc_zdesc_alloc(&big, ia, 1025, 0), 0);
    assert_int_equal(kc_zdesc_init(&borrowed, stack, sizeof stack, 0), 0);
    uint64_t word = 7;
    assert_int_equal(kc_chan_send(remote, &word, 0, NULL), -EINVAL); /* a copy call */
    assert_int_equal(kc_chan_try_send_desc(remote, &foreign), -ESTALE);
    assert_int_equal(kc_chan_try_send_desc(remote, &big), -EMSGSIZE);
    assert_int_equal(kc_chan_try_send_desc(remote, &borrowed), -EINVAL);
    kc_zdesc_t stale = d;
    stale.len = 99;
    assert_int_equal(kc_chan_try_send_desc(remote, &stale), -ESTALE);
    assert_int_equal(kc_chan_send_desc(remote, &d, 5000 * MS, NULL), 0);
    kc_zdesc_t got;
    assert_int_equal(kc_chan_recv_desc(local, &got, 5000 * MS, NULL), 0);
    assert_int_equal(got.len, 100);
    assert_int_equal(kc_zdesc_hydrate(&got, ea, NULL, NULL), 0);
    assert_int_equal(kc_zdesc_release(&got, ea), 1);
    kc_chan_snapshot_t rs = mux_snap(remote);
    assert_int_equal(rs.sends, 1);
    assert_int_equal(rs.failures_total, 5);
    /* the failed sends left their descriptors with us: release them */
    assert_int_equal(kc_zdesc_release(&foreign, other), 1);
    assert_int_equal(kc_zdesc_release(&big, ia), 1);
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "d"), 0);
    denv_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_chan_destroy(bare), 0);
    assert_int_equal(kc_chan_destroy(unbounded), 0);
    assert_int_equal(live(ia), 0);
    assert_int_equal(live(ea), 0);
    assert_int_equal(live(other), 0);
    kc_arena_destroy(ia);
    kc_arena_destroy(ea);
    kc_arena_destroy(other);
}

/* The receiver's arena cannot reserve the window: an exporter that cannot
 * refuses the import (-ENOMEM); an importer whose arena fills up gets
 * -ENOMEM from a receive once nothing is reserved, loses nothing, and
 * goes on when its arena has room again. */
static void test_desc_reservation_exhaustion_loses_nothing(void **state)
{
    (void)state;
    struct denv e;
    denv_up(&e, false);
    /* exporter side: 64 x 64 KiB cannot be reserved in 1 MiB */
    kc_arena_t *small = arena_of(1 << 20), *ia = arena_of(1 << 20), *ea = arena_of(16 << 20);
    kc_chan_t *tight = desc_chan(KC_CHAN_BUFFERED, 64, small, MAXD);
    assert_int_equal(kc_ipc_export(e.exp, "tight", tight, NULL), 0);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.arena = ia;
    kc_chan_t *remote = NULL;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "tight", &io, NULL), -ENOMEM);
    assert_int_equal(live(small), 0); /* the partial reservation was given back */
    /* importer side: 1 MiB holds at most 15 buffers of 64 KiB */
    kc_chan_t *local = desc_chan(KC_CHAN_BUFFERED, 64, ea, MAXD);
    assert_int_equal(kc_ipc_export(e.exp, "big", local, NULL), 0);
    io.window = 64;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "big", &io, NULL), 0);
    long n = 40;
    for (long i = 0; i < n; i++) {
        kc_zdesc_t d;
        assert_int_equal(kc_zdesc_alloc(&d, ea, MAXD, 0), 0);
        memset(d.ptr, (int)i, MAXD);
        assert_int_equal(kc_chan_send_desc(local, &d, 5000 * MS, NULL), 0);
    }
    /* hold every payload received until the arena is full */
    kc_zdesc_t held[64];
    long got = 0;
    int rc;
    while ((rc = kc_chan_recv_desc(remote, &held[got], 5000 * MS, NULL)) == 0) {
        assert_int_equal(((uint8_t *)held[got].ptr)[MAXD - 1], (uint8_t)got);
        got++;
        assert_true(got < n);
    }
    assert_int_equal(rc, -ENOMEM);
    assert_true(got > 0);
    kc_chan_snapshot_t rs = mux_snap(remote);
    assert_int_equal(rs.receives, (uint64_t)got);
    /* room again: the rest arrives, in order, none lost */
    for (long i = 0; i < got; i++)
        assert_int_equal(kc_zdesc_release(&held[i], ia), 1);
    for (long i = got; i < n; i++) {
        kc_zdesc_t d;
        assert_int_equal(kc_chan_recv_desc(remote, &d, 5000 * MS, NULL), 0);
        assert_int_equal(d.len, MAXD);
        assert_int_equal(((uint8_t *)d.ptr)[0], (uint8_t)i);
        assert_int_equal(kc_zdesc_release(&d, ia), 1);
    }
    assert_int_equal(kc_chan_try_recv_desc(remote, &held[0]), -EAGAIN);
    kc_mux_stats_t es = mux_stats(e.exp);
    assert_int_equal(es.elems_out, (uint64_t)n);
    assert_int_equal(es.undelivered, 0);
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "big"), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "tight"), 0);
    denv_down(&e);
    kc_chan_destroy(local);
    kc_chan_destroy(tight);
    assert_int_equal(live(ia), 0);
    assert_int_equal(live(ea), 0);
    assert_int_equal(live(small), 0);
    kc_arena_destroy(ia);
    kc_arena_destroy(ea);
    kc_arena_destroy(small);
}

/* Descriptors left behind: read ahead by the importer and never received,
 * queued by the importer and never sent, waiting in the exported channel:
 * each is released once (the callbacks see views), no ticket outlives the
 * channels. A rendezvous try with no receiver fails and leaves the
 * descriptor with its sender. */
static long views;
static void count_view(void *elem, size_t size, void *arg)
{
    (void)arg;
    const kc_zdesc_t *d = elem;
    if (size == sizeof(kc_zdesc_t) && !kc_zdesc_is_owned(d) && kc_zdesc_has_ticket(d))
        views++;
}

static void test_desc_left_behind_are_released_once(void **state)
{
    (void)state;
    struct denv e;
    denv_up(&e, false);
    kc_arena_t *ea = arena_of(8 << 20), *ia = arena_of(8 << 20);
    kc_chan_t *local = desc_chan(KC_CHAN_BUFFERED, 8, ea, 4096);
    kc_chan_t *sink = desc_chan(KC_CHAN_BUFFERED, 8, ea, 4096);
    kc_chan_t *rv = desc_chan(KC_CHAN_RENDEZVOUS, 0, ea, 4096);
    assert_int_equal(kc_ipc_export(e.exp, "buf", local, NULL), 0);
    assert_int_equal(kc_ipc_export(e.exp, "sink", sink, NULL), 0);
    assert_int_equal(kc_ipc_export(e.exp, "rv", rv, NULL), 0);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.arena = ia;
    io.on_undelivered = count_view;
    kc_chan_t *remote = NULL, *rremote = NULL, *rsink = NULL;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "buf", &io, NULL), 0);
    assert_int_equal(kc_ipc_import(&rsink, e.imp, "sink", &io, NULL), 0);
    assert_int_equal(kc_ipc_import(&rremote, e.imp, "rv", &io, NULL), 0);
    /* rendezvous: nobody receives, the try fails, the sender keeps it */
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_alloc(&d, ia, 300, 0), 0);
    assert_int_equal(kc_chan_try_send_desc(rremote, &d), -EAGAIN);
    assert_true(kc_zdesc_release(&d, ia) >= 0); /* ours still (the wire's copy may be in tx) */
    /* read ahead: one receive asks, the exporter sends up to the window */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(kc_zdesc_alloc(&d, ea, 1000 + (size_t)i, 0), 0);
        assert_int_equal(kc_chan_send_desc(local, &d, 5000 * MS, NULL), 0);
    }
    assert_int_equal(kc_chan_recv_desc(remote, &d, 5000 * MS, NULL), 0);
    assert_int_equal(d.len, 1000);
    assert_int_equal(kc_zdesc_release(&d, ia), 1);
    int64_t t0 = mux_now();
    while (kc_chan_len(remote) < 5 && mux_now() - t0 < 10000 * MS)
        mux_usleep(1000);
    assert_int_equal(kc_chan_len(remote), 5);
    /* three into an exported channel that nobody there receives */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kc_zdesc_alloc(&d, ia, 2000, 0), 0);
        assert_int_equal(kc_chan_send_desc(rsink, &d, 5000 * MS, NULL), 0);
    }
    t0 = mux_now();
    while (kc_chan_len(sink) < 3 && mux_now() - t0 < 10000 * MS)
        mux_usleep(1000);
    assert_int_equal(kc_chan_len(sink), 3);
    views = 0;
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(views, 5);
    kc_chan_snapshot_t rs = mux_snap(rsink);
    assert_int_equal(rs.sends, 3);
    assert_int_equal(kc_chan_destroy(rsink), 0);
    assert_int_equal(kc_chan_destroy(rremote), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "buf"), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "sink"), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "rv"), 0);
    denv_down(&e);
    assert_int_equal(kc_chan_destroy(sink), 0); /* the three go back to ea */
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_chan_destroy(rv), 0);
    assert_int_equal(live(ia), 0);
    assert_int_equal(live(ea), 0);
    kc_arena_destroy(ia);
    kc_arena_destroy(ea);
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
        cmocka_unit_test(test_desc_both_ways_over_unix),
        cmocka_unit_test(test_desc_rendezvous_over_unix),
        cmocka_unit_test(test_desc_both_ways_over_a_lossy_rel_path),
        cmocka_unit_test(test_desc_checks_are_those_of_a_local_channel),
        cmocka_unit_test(test_desc_reservation_exhaustion_loses_nothing),
        cmocka_unit_test(test_desc_left_behind_are_released_once),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
