/* test_mux_wire.c - the channel layer on the wire, against a hand-written peer.
 *
 * The test plays the exporter itself on a raw transport endpoint, so it
 * decides every credit and reads every frame kcoro sends: the deficit
 * round robin's exact order and frame sizes (quantum = max frame, an
 * element larger than a frame cut into fragments that interleave with
 * other streams), per-stream sequence numbers, the connection window
 * stopping everything and its grant resuming it, and credit frames that
 * are duplicated, stale or reordered changing nothing. Protocol
 * violations by the peer (data beyond the credit, a sequence gap) end the
 * connection with -EPROTO.
 */
#include "mux_test.h"

#include "kcoro/transport.h"

/* The wire form of a control message (kc_mux_impl.h, WIRE.md). */
enum {
    OP_OPEN = 1,
    OP_OPEN_OK = 2,
    OP_CREDIT = 4
};
#define EXP 0x80000000u

struct raw {
    kc_transport_t *l, *t;
    kc_sched_t *s;
    kc_ipc_conn_t *c;
    char url[64];
    int rc;
};

static int raw_connect(void *arg)
{
    struct raw *r = arg;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = r->s;
    r->rc = kc_ipc_connect(&r->c, r->url, &o, 5000 * MS, NULL);
    return 0;
}

static int raw_up(struct raw *r)
{
    static int n;
    memset(r, 0, sizeof *r);
    snprintf(r->url, sizeof r->url, "mem:muxraw-%d-%d", (int)getpid(), n++);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    kc_sched_create(&r->s, &so);
    if (kc_transport_listen(r->url, NULL, &r->l) != 0)
        return -1;
    kc_task_t *t;
    kc_sched_spawn(r->s, &t, raw_connect, r, NULL);
    int rc = kc_transport_accept(r->l, &r->t, NULL, 5000 * MS, NULL);
    kc_frame_hdr_t h;
    void *p = NULL;
    if (rc == 0)
        rc = kc_transport_recv_frame(r->t, &h, &p, KC_HELLO_MAX_SIZE, 5000 * MS, NULL);
    free(p);
    kc_hello_t hello;
    kc_hello_init(&hello);
    hello.features |= KC_HELLO_FEAT_DATA;
    uint8_t hb[64];
    int len = kc_hello_encode(&hello, hb, sizeof hb);
    h = (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)len};
    struct iovec v = {hb, (size_t)len};
    if (rc == 0)
        rc = kc_transport_send_frame(r->t, &h, &v, 1, 5000 * MS, NULL);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    return rc < 0 ? rc : r->rc;
}

static void raw_down(struct raw *r)
{
    kc_ipc_close(r->c);
    kc_transport_close(r->t);
    kc_transport_close(r->l);
    kc_sched_destroy(r->s);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* Send a control message (op, a, c, d) for chan_id. */
static int raw_ctl(struct raw *r, uint32_t chan_id, uint32_t id, uint8_t op, uint8_t a, uint32_t c,
                   uint64_t d)
{
    uint8_t b[16] = {op, a, 0, 0};
    put32(b + 4, c);
    put32(b + 8, (uint32_t)(d >> 32));
    put32(b + 12, (uint32_t)d);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_CHAN, 0, chan_id, id, 16};
    struct iovec v = {b, 16};
    return kc_transport_send_frame(r->t, &h, &v, 1, 5000 * MS, NULL);
}

/* The next frame that is not a credit from kcoro (those are its receive
 * windows, which this peer ignores). */
static int raw_next(struct raw *r, kc_frame_hdr_t *h, uint8_t **p)
{
    for (;;) {
        void *q = NULL;
        int rc = kc_transport_recv_frame(r->t, h, &q, 1 << 17, 5000 * MS, NULL);
        if (rc < 0)
            return rc;
        if (h->type == KC_FRAME_CHAN && h->len >= 1 && ((uint8_t *)q)[0] == OP_CREDIT) {
            free(q);
            continue;
        }
        *p = q;
        return 0;
    }
}

struct importer {
    kc_ipc_conn_t *c;
    const char *name;
    kc_chan_t *ch;
    int rc;
};

static int do_import(void *arg)
{
    struct importer *im = arg;
    im->rc = kc_ipc_import(&im->ch, im->c, im->name, NULL, NULL);
    return 0;
}

/* Import `name` with the raw peer answering OPEN_OK (buffered, capacity,
 * elem). Returns the channel; *id gets the stream id. */
static kc_chan_t *raw_import(struct raw *r, const char *name, uint32_t cap, uint32_t elem,
                             uint32_t *id)
{
    struct importer im = {r->c, name, NULL, 99};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(r->s, &t, do_import, &im, NULL), 0);
    kc_frame_hdr_t h;
    uint8_t *p;
    assert_int_equal(raw_next(r, &h, &p), 0);
    assert_int_equal(h.type, KC_FRAME_CHAN);
    assert_int_equal(p[0], OP_OPEN);
    assert_int_equal(h.len, 16 + strlen(name));
    assert_memory_equal(p + 16, name, strlen(name));
    free(p);
    assert_int_equal(h.chan_id & EXP, 0);
    *id = h.chan_id;
    assert_int_equal(raw_ctl(r, h.chan_id | EXP, 0, OP_OPEN_OK, KC_CHAN_BUFFERED, elem, cap), 0);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(im.rc, 0);
    return im.ch;
}

struct pour {
    kc_chan_t *ch;
    long n;
    uint32_t elem;
    long ok;
};

static int do_pour(void *arg)
{
    struct pour *w = arg;
    uint8_t *b = calloc(1, w->elem);
    for (long i = 0; i < w->n; i++) {
        memcpy(b, &i, sizeof i);
        if (kc_chan_send(w->ch, b, 5000 * MS, NULL) == 0)
            w->ok++;
    }
    free(b);
    return 0;
}

static void pour_now(struct raw *r, kc_chan_t *ch, long n, uint32_t elem)
{
    struct pour w = {ch, n, elem, 0};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(r->s, &t, do_pour, &w, NULL), 0);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(w.ok, n);
}

static void test_drr_order_fragments_and_sequences(void **state)
{
    (void)state;
    struct raw r;
    assert_int_equal(raw_up(&r), 0);
    uint32_t ida, idb, idc, idd;
    kc_chan_t *d = raw_import(&r, "d", 4096, 64, &idd);
    kc_chan_t *a = raw_import(&r, "a", 4096, 64, &ida);
    kc_chan_t *b = raw_import(&r, "b", 4096, 64, &idb);
    kc_chan_t *c = raw_import(&r, "c", 4, 100000, &idc);
    /* use up the first 64 KiB of connection credit on d */
    assert_int_equal(raw_ctl(&r, idd | EXP, 0, OP_CREDIT, 0, 0, 1024), 0);
    pour_now(&r, d, 1024, 64);
    long got = 0;
    uint32_t dseq = 0;
    while (got < 65536) {
        kc_frame_hdr_t h;
        uint8_t *p;
        assert_int_equal(raw_next(&r, &h, &p), 0);
        assert_int_equal(h.type, KC_FRAME_DATA);
        assert_int_equal(h.chan_id, idd);
        assert_int_equal(h.id, dseq); /* sequence of the first element */
        dseq += h.len / 64;
        got += h.len;
        free(p);
    }
    assert_int_equal(got, 65536);
    /* stream credit for a, b, c: everything queues, nothing moves (no
     * connection credit left) */
    assert_int_equal(raw_ctl(&r, ida | EXP, 0, OP_CREDIT, 0, 0, 2048), 0);
    assert_int_equal(raw_ctl(&r, idb | EXP, 0, OP_CREDIT, 0, 0, 2048), 0);
    assert_int_equal(raw_ctl(&r, idc | EXP, 0, OP_CREDIT, 0, 0, 2), 0);
    mux_usleep(20000);
    pour_now(&r, a, 2048, 64);
    pour_now(&r, b, 2048, 64);
    pour_now(&r, c, 2, 100000);
    assert_int_equal(kc_chan_try_send(a, &got), -EAGAIN); /* credit used up */
    kc_frame_hdr_t h;
    uint8_t *p;
    /* duplicated and stale connection credit first: 64 KiB is not news */
    uint64_t frames = mux_stats(r.c).data_frames_out;
    assert_int_equal(raw_ctl(&r, 0, 0, OP_CREDIT, 0, 0, 65536), 0);
    assert_int_equal(raw_ctl(&r, 0, 0, OP_CREDIT, 0, 0, 65536), 0);
    assert_int_equal(raw_ctl(&r, 0, 0, OP_CREDIT, 0, 0, 1000), 0);
    mux_usleep(20000);
    assert_int_equal(mux_stats(r.c).data_frames_out, frames);
    assert_int_equal(raw_ctl(&r, 0, 0, OP_CREDIT, 0, 0, 64u << 20), 0);
    /* the expected round robin: quantum 64 KiB, one add per turn */
    const struct {
        uint32_t id, seq, len;
        bool more;
    } want[] = {{ida, 0, 65536, false},    {idb, 0, 65536, false},    {idc, 0, 65536, true},
                {ida, 1024, 65536, false}, {idb, 1024, 65536, false}, {idc, 0, 34464, false},
                {idc, 1, 65536, true},     {idc, 1, 34464, false}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(raw_next(&r, &h, &p), 0);
        assert_int_equal(h.type, KC_FRAME_DATA);
        assert_int_equal(h.chan_id, want[i].id);
        assert_int_equal(h.id, want[i].seq);
        assert_int_equal(h.len, want[i].len);
        assert_int_equal((h.flags & KC_FRAME_F_MORE) != 0, want[i].more);
        if (h.chan_id == ida && h.id == 1024) { /* element 1024 of a */
            long v;
            memcpy(&v, p, sizeof v);
            assert_int_equal(v, 1024);
        }
        free(p);
    }
    /* stream credit: duplicated, reordered and stale grants; only the
     * largest counts (3000 elements of a in all) */
    assert_int_equal(raw_ctl(&r, ida | EXP, 0, OP_CREDIT, 0, 0, 3000), 0);
    assert_int_equal(raw_ctl(&r, ida | EXP, 0, OP_CREDIT, 0, 0, 2500), 0);
    assert_int_equal(raw_ctl(&r, ida | EXP, 0, OP_CREDIT, 0, 0, 3000), 0);
    assert_int_equal(raw_ctl(&r, ida | EXP, 0, OP_CREDIT, 0, 0, 100), 0);
    mux_usleep(20000);
    long ok = 0;
    for (long i = 0; i < 2000; i++) {
        uint8_t e[64] = {0}; /* a's elements are 64 bytes */
        memcpy(e, &i, sizeof i);
        if (kc_chan_try_send(a, e) == 0)
            ok++;
    }
    assert_int_equal(ok, 3000 - 2048);
    long wire = 0;
    while (wire < ok * 64) {
        assert_int_equal(raw_next(&r, &h, &p), 0);
        assert_int_equal(h.chan_id, ida);
        assert_int_equal(h.id, 2048 + wire / 64);
        wire += h.len;
        free(p);
    }
    assert_int_equal(wire, ok * 64);
    kc_mux_stats_t st = mux_stats(r.c);
    assert_int_equal(st.elems_out, 1024 + 2048 + 2048 + 2 + 952);
    assert_int_equal(st.undelivered, 0);
    kc_chan_destroy(a);
    kc_chan_destroy(b);
    kc_chan_destroy(c);
    kc_chan_destroy(d);
    raw_down(&r);
}

/* Data beyond the credit we gave, or out of sequence, ends the connection. */
static void test_peer_violations_end_the_connection(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        struct raw r;
        assert_int_equal(raw_up(&r), 0);
        uint32_t id;
        kc_chan_t *ch = raw_import(&r, "v", 4, 8, &id);
        int64_t v = 0;
        /* start receiving: kcoro grants 4 elements */
        assert_int_equal(kc_chan_recv(ch, &v, 10 * MS, NULL), -ETIME);
        uint8_t data[5 * 8] = {0};
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA,  0,
                            id | EXP,        k == 0 ? 0 : 1, k == 0 ? 40 : 8};
        struct iovec iv = {data, h.len};
        assert_int_equal(kc_transport_send_frame(r.t, &h, &iv, 1, 5000 * MS, NULL), 0);
        assert_int_equal(kc_ipc_wait_dead(r.c, 5000 * MS, NULL), -EPROTO);
        assert_int_equal(kc_chan_recv(ch, &v, 5000 * MS, NULL), -ECONNRESET);
        kc_chan_destroy(ch);
        raw_down(&r);
    }
}

/* 100 streams with equal demand, all backlogged: every window of 100
 * DATA frames carries the same bytes for every stream (Jain's index 1.0;
 * the gate is 0.99). */
static void test_equal_demand_gets_equal_shares_of_the_link(void **state)
{
    (void)state;
    struct raw r;
    assert_int_equal(raw_up(&r), 0);
    enum {
        N = 100,
        PER = 256,
        ELEM = 1024
    };
    kc_chan_t *ch[N];
    uint32_t id[N];
    for (int i = 0; i < N; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        ch[i] = raw_import(&r, name, PER, ELEM, &id[i]);
        assert_int_equal(raw_ctl(&r, id[i] | EXP, 0, OP_CREDIT, 0, 0, PER), 0);
    }
    mux_usleep(20000);
    for (int i = 0; i < N; i++)
        pour_now(&r, ch[i], PER, ELEM);
    /* the first 64 KiB of connection credit went out while we poured */
    long early = 0;
    kc_frame_hdr_t h;
    uint8_t *p;
    while (early < 65536) {
        assert_int_equal(raw_next(&r, &h, &p), 0);
        early += h.len;
        free(p);
    }
    assert_int_equal(early, 65536);
    assert_int_equal(raw_ctl(&r, 0, 0, OP_CREDIT, 0, 0, 1ull << 40), 0);
    double worst = 1.0;
    for (int w = 0; w < 3; w++) {
        double bytes[N] = {0};
        for (int f = 0; f < N; f++) {
            assert_int_equal(raw_next(&r, &h, &p), 0);
            assert_int_equal(h.type, KC_FRAME_DATA);
            for (int i = 0; i < N; i++)
                if (id[i] == h.chan_id)
                    bytes[i] += h.len;
            free(p);
        }
        double s = 0, s2 = 0;
        for (int i = 0; i < N; i++)
            s += bytes[i], s2 += bytes[i] * bytes[i];
        double j = s * s / (N * s2);
        worst = j < worst ? j : worst;
    }
    print_message("Jain's index of bytes per stream, worst of 3 windows of 100 frames: %.4f\n",
                  worst);
    assert_true(worst >= 0.99);
    for (int i = 0; i < N; i++)
        kc_chan_destroy(ch[i]);
    raw_down(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drr_order_fragments_and_sequences),
        cmocka_unit_test(test_peer_violations_end_the_connection),
        cmocka_unit_test(test_equal_demand_gets_equal_shares_of_the_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
