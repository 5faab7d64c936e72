/* test_rel_units.c - the reliability layer's pure parts: CRC32C against
 * known vectors, the SEG and ACK codecs (every flipped bit is caught,
 * malformed frames are -EPROTO), the RFC 6298 estimator, the receive
 * window's bounds and the sender's loss detection and congestion window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kc_rel_impl.h"

/* A bit-at-a-time CRC32C, the definition the table code must match. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

/* RFC 3720 B.4 and the "123456789" check value. */
static void test_rel_crc32c_known_vectors(void **state)
{
    (void)state;
    uint8_t b[32];
    assert_int_equal(kc_rel_crc32c(0, "123456789", 9), 0xe3069283u);
    memset(b, 0, sizeof b);
    assert_int_equal(kc_rel_crc32c(0, b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    assert_int_equal(kc_rel_crc32c(0, b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(kc_rel_crc32c(0, b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(kc_rel_crc32c(0, b, 32), 0x113fdb5cu);
    assert_int_equal(kc_rel_crc32c(0, NULL, 0), 0);
    assert_int_equal(kc_rel_crc32c(0x1234, NULL, 99), 0x1234);
}

/* Every length and split point agrees with the bitwise definition. */
static void test_rel_crc32c_matches_bitwise_and_chains(void **state)
{
    (void)state;
    uint8_t b[300];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof b; n++) {
        uint32_t want = crc_ref(b, n);
        assert_int_equal(kc_rel_crc32c(0, b, n), want);
        size_t cut = n / 3;
        assert_int_equal(kc_rel_crc32c(kc_rel_crc32c(0, b, cut), b + cut, n - cut), want);
    }
}

static void test_rel_seg_roundtrip_and_every_bit_flip(void **state)
{
    (void)state;
    uint8_t data[40];
    for (int i = 0; i < 40; i++)
        data[i] = (uint8_t)(i * 3);
    kc_frame_hdr_t h;
    uint8_t pl[KC_REL_SEG_HDR + 40];
    assert_int_equal(kc__rel_seg_encode(0x100000005ull, 777, data, 40, &h, pl), 0);
    memcpy(pl + KC_REL_SEG_HDR, data, 40);
    assert_int_equal(h.type, KC_FRAME_SEG);
    assert_int_equal(h.id, 5);
    assert_int_equal(h.len, sizeof pl);
    uint32_t ts;
    size_t off;
    assert_int_equal(kc__rel_seg_decode(&h, pl, &ts, &off), 0);
    assert_int_equal(ts, 777);
    assert_int_equal(off, KC_REL_SEG_HDR);
    /* Each of the payload's bits, and the header's id, is covered. */
    for (size_t bit = 0; bit < sizeof pl * 8; bit++) {
        pl[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(kc__rel_seg_decode(&h, pl, &ts, &off), -EBADMSG);
        pl[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (int bit = 0; bit < 32; bit++) {
        h.id ^= 1u << bit;
        assert_int_equal(kc__rel_seg_decode(&h, pl, &ts, &off), -EBADMSG);
        h.id ^= 1u << bit;
    }
    /* Malformed: wrong type, flags, channel, too short; a valid CRC over a
     * zero timestamp. */
    kc_frame_hdr_t bad = h;
    bad.type = KC_FRAME_ACK;
    assert_int_equal(kc__rel_seg_decode(&bad, pl, &ts, &off), -EPROTO);
    bad = h;
    bad.flags = KC_FRAME_F_MORE;
    assert_int_equal(kc__rel_seg_decode(&bad, pl, &ts, &off), -EPROTO);
    bad = h;
    bad.chan_id = 1;
    assert_int_equal(kc__rel_seg_decode(&bad, pl, &ts, &off), -EPROTO);
    bad = h;
    bad.len = KC_REL_SEG_HDR - 1;
    assert_int_equal(kc__rel_seg_decode(&bad, pl, &ts, &off), -EPROTO);
    assert_int_equal(kc__rel_seg_decode(&h, NULL, &ts, &off), -EPROTO);
    uint8_t z[KC_REL_SEG_HDR] = {0};
    kc_frame_hdr_t zh = {KC_WIRE_VERSION, KC_FRAME_SEG, 0, 0, 1, KC_REL_SEG_HDR};
    uint8_t eh[KC_FRAME_HDR_SIZE];
    kc_frame_encode(&zh, eh);
    uint32_t c = kc_rel_crc32c(kc_rel_crc32c(0, eh, sizeof eh), z + 4, 4);
    z[0] = (uint8_t)(c >> 24), z[1] = (uint8_t)(c >> 16), z[2] = (uint8_t)(c >> 8),
    z[3] = (uint8_t)c;
    assert_int_equal(kc__rel_seg_decode(&zh, z, &ts, &off), -EPROTO);
    assert_int_equal(kc__rel_seg_encode(1, 0, data, 4, &h, pl), -EINVAL);
    assert_int_equal(kc__rel_seg_encode(1, 1, NULL, 4, &h, pl), -EINVAL);
    assert_int_equal(kc__rel_seg_encode(1, 1, data, KC_REL_MSS_MAX + 1, &h, pl), -EINVAL);
}

static void test_rel_sack_roundtrip_wrap_and_malformed(void **state)
{
    (void)state;
    /* cum just below 2^32, blocks across the wrap of the 32-bit field. */
    uint64_t cum = 0xfffffff0ull;
    kc_rel_ack_t a = {
        cum, 99, 64, 3, {{cum + 2, cum + 5}, {cum + 8, cum + 20}, {cum + 30, cum + 31}}};
    kc_frame_hdr_t h;
    uint8_t buf[KC_REL_ACK_HDR + 8 * KC_REL_MAX_SACK];
    int n = kc__rel_ack_encode(&a, &h, buf, sizeof buf);
    assert_int_equal(n, KC_REL_ACK_HDR + 24);
    assert_int_equal(h.len, (uint32_t)n);
    kc_rel_ack_t d;
    assert_int_equal(kc__rel_ack_decode(&h, buf, cum - 100, &d), 0);
    assert_true(d.cum == cum);
    assert_int_equal(d.ts_echo, 99);
    assert_int_equal(d.window, 64);
    assert_int_equal(d.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(d.blk[i].start == a.blk[i].start);
        assert_true(d.blk[i].end == a.blk[i].end);
    }
    for (int bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(kc__rel_ack_decode(&h, buf, cum, &d), -EBADMSG);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* The encoder refuses blocks that are not above cum, ascending and
     * disjoint, and too many of them. */
    kc_rel_ack_t b = a;
    b.blk[0].start = cum;
    assert_int_equal(kc__rel_ack_encode(&b, &h, buf, sizeof buf), -EINVAL);
    b = a;
    b.blk[1] = (kc_rel_block_t){cum + 4, cum + 9};
    assert_int_equal(kc__rel_ack_encode(&b, &h, buf, sizeof buf), -EINVAL);
    b = a;
    b.blk[2] = (kc_rel_block_t){cum + 31, cum + 31};
    assert_int_equal(kc__rel_ack_encode(&b, &h, buf, sizeof buf), -EINVAL);
    b = a;
    b.n = KC_REL_MAX_SACK + 1;
    assert_int_equal(kc__rel_ack_encode(&b, &h, buf, sizeof buf), -EINVAL);
    assert_int_equal(kc__rel_ack_encode(&a, &h, buf, KC_REL_ACK_HDR), -EMSGSIZE);
    /* The decoder: hand-made frames with valid CRCs but bad contents. */
    struct {
        uint32_t n, s0, e0, s1, e1;
        uint32_t len;
    } cases[] = {
        {1, 0, 3, 0, 0, KC_REL_ACK_HDR + 8},          /* block starts at cum */
        {1, 5, 5, 0, 0, KC_REL_ACK_HDR + 8},          /* empty block */
        {1, 7, 5, 0, 0, KC_REL_ACK_HDR + 8},          /* reversed block */
        {2, 5, 9, 2, 4, KC_REL_ACK_HDR + 16},         /* descending */
        {2, 2, 9, 4, 12, KC_REL_ACK_HDR + 16},        /* overlapping */
        {1, 2, 3, 0, 0, KC_REL_ACK_HDR + 16},         /* length disagrees */
        {9, 2, 3, 0, 0, KC_REL_ACK_HDR + 72},         /* too many blocks */
        {1, 2, 0x80000005u, 0, 0, KC_REL_ACK_HDR + 8} /* 2^31 above cum */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t p[KC_REL_ACK_HDR + 72] = {0};
        uint32_t w[] = {cases[i].n, 100 + cases[i].s0, 100 + cases[i].e0, 100 + cases[i].s1,
                        100 + cases[i].e1};
        for (int k = 0; k < 5; k++) {
            uint8_t *q = p + 12 + 4 * k;
            q[0] = (uint8_t)(w[k] >> 24), q[1] = (uint8_t)(w[k] >> 16), q[2] = (uint8_t)(w[k] >> 8),
            q[3] = (uint8_t)w[k];
        }
        kc_frame_hdr_t ah = {KC_WIRE_VERSION, KC_FRAME_ACK, 0, 0, 100, cases[i].len};
        uint8_t eh[KC_FRAME_HDR_SIZE];
        kc_frame_encode(&ah, eh);
        uint32_t c = kc_rel_crc32c(kc_rel_crc32c(0, eh, sizeof eh), p + 4, ah.len - 4);
        p[0] = (uint8_t)(c >> 24), p[1] = (uint8_t)(c >> 16), p[2] = (uint8_t)(c >> 8),
        p[3] = (uint8_t)c;
        assert_int_equal(kc__rel_ack_decode(&ah, p, 100, &d), -EPROTO);
    }
    kc_frame_hdr_t sh = h;
    sh.type = KC_FRAME_SEG;
    assert_int_equal(kc__rel_ack_decode(&sh, buf, cum, &d), -EPROTO);
    sh = h;
    sh.len = KC_REL_ACK_HDR - 4;
    assert_int_equal(kc__rel_ack_decode(&sh, buf, cum, &d), -EPROTO);
    assert_int_equal(kc__rel_ack_decode(&h, NULL, cum, &d), -EPROTO);
}

static void test_rel_widen_nearest(void **state)
{
    (void)state;
    assert_true(kc__rel_widen(0, 5) == 5);
    assert_true(kc__rel_widen(0xfffffffeull, 1) == 0x100000001ull);
    assert_true(kc__rel_widen(0x100000001ull, 0xfffffffeu) == 0xfffffffeull);
    assert_true(kc__rel_widen(3, 0xffffffffu) == 0xffffffffull); /* nothing below 0 */
}

/* RFC 6298: first sample sets SRTT = R, RTTVAR = R/2; later ones move
 * them by 1/8 and 1/4; RTO = SRTT + max(G, 4 RTTVAR) within [min, max];
 * a timeout doubles it, a new sample undoes the backoff. */
static void test_rel_rto_estimator_rfc6298(void **state)
{
    (void)state;
    const int64_t ms = 1000000;
    kc_rel_rto_t r;
    kc__rel_rto_init(&r, 10 * ms, 200 * ms, 10000 * ms);
    assert_true(r.rto == 200 * ms && r.srtt == 0);
    kc__rel_rto_sample(&r, 100 * ms);
    assert_true(r.srtt == 100 * ms && r.rttvar == 50 * ms && r.rto == 300 * ms);
    kc__rel_rto_sample(&r, 100 * ms);
    assert_true(r.srtt == 100 * ms);
    assert_true(r.rttvar == 37500000);
    assert_true(r.rto == 250 * ms);
    kc__rel_rto_sample(&r, 180 * ms); /* |100 - 180| = 80 */
    assert_true(r.rttvar == 37500000 - 37500000 / 4 + 20 * ms);
    assert_true(r.srtt == 100 * ms - 100 * ms / 8 + 180 * ms / 8);
    for (int i = 0; i < 200; i++)
        kc__rel_rto_sample(&r, 2 * ms);
    assert_true(r.rto == 10 * ms); /* the floor */
    kc__rel_rto_backoff(&r);
    assert_true(r.rto == 20 * ms && r.backoff == 1);
    for (int i = 0; i < 20; i++)
        kc__rel_rto_backoff(&r);
    assert_true(r.rto == 10000 * ms); /* the ceiling */
    kc__rel_rto_sample(&r, 2 * ms);
    assert_true(r.backoff == 0 && r.rto == 10 * ms);
    kc_rel_rto_t g;
    kc__rel_rto_init(&g, 1, 1000, 1000000000);
    for (int i = 0; i < 50; i++)
        kc__rel_rto_sample(&g, 5000);
    assert_true(g.rto >= g.srtt + 1000000); /* G, 1 ms */
}

static uint8_t *seg_of(uint8_t v, uint32_t len)
{
    uint8_t *b = malloc(len);
    memset(b, v, len);
    return b;
}

/* The reordering buffer holds nothing beyond the window, suppresses
 * duplicates, delivers in order, and opens the window as the reader
 * consumes. */
static void test_rel_reorder_buffer_bounded_by_window(void **state)
{
    (void)state;
    kc_rel_rcv_t r;
    assert_int_equal(kc__rel_rcv_init(&r, 8), 0);
    assert_int_equal(kc__rel_rcv_window(&r), 8);
    uint8_t *b8 = seg_of(8, 4);
    assert_int_equal(kc__rel_rcv_put(&r, 8, b8, 4), -ERANGE);
    free(b8);
    for (int s = 7; s >= 1; s -= 2)
        assert_int_equal(kc__rel_rcv_put(&r, (uint64_t)s, seg_of((uint8_t)s, 4), 4), 1);
    uint8_t *dup = seg_of(3, 4);
    assert_int_equal(kc__rel_rcv_put(&r, 3, dup, 4), 0);
    free(dup);
    assert_true(r.nxt == 0 && r.avail == 0);
    kc_rel_ack_t a;
    kc__rel_rcv_ack(&r, &a);
    assert_true(a.cum == 0 && a.window == 8 && a.n == 4);
    assert_true(a.blk[0].start == 1 && a.blk[0].end == 2);
    assert_true(a.blk[3].start == 7 && a.blk[3].end == 8);
    assert_int_equal(kc__rel_rcv_put(&r, 0, seg_of(0, 4), 4), 1);
    assert_true(r.nxt == 2 && r.avail == 8);
    assert_int_equal(kc__rel_rcv_window(&r), 6);
    uint8_t *low = seg_of(0, 4);
    assert_int_equal(kc__rel_rcv_put(&r, 1, low, 4), 0); /* below nxt */
    free(low);
    uint8_t out[8];
    kc__rel_rcv_peek(&r, out, 6);
    assert_int_equal(out[3], 0);
    assert_int_equal(out[4], 1);
    kc__rel_rcv_read(&r, out, 6); /* consumes slot 0 and half of slot 1 */
    assert_true(r.base == 1 && r.off == 2 && r.avail == 2);
    assert_int_equal(kc__rel_rcv_window(&r), 7);
    uint8_t *b9 = seg_of(9, 4);
    assert_int_equal(kc__rel_rcv_put(&r, 9, b9, 4), -ERANGE); /* base 1: [1, 9) */
    free(b9);
    kc__rel_rcv_read(&r, out, 2);
    assert_true(r.base == 2 && r.off == 0 && r.avail == 0);
    /* Slot 8 is inside the window now (base 2): stored, not in order. */
    assert_int_equal(kc__rel_rcv_put(&r, 8, seg_of(8, 4), 4), 1);
    kc__rel_rcv_ack(&r, &a);
    assert_true(a.cum == 2 && a.n == 3);
    assert_true(a.blk[2].start == 7 && a.blk[2].end == 9);
    kc__rel_rcv_free(&r);
}

static void sent(kc_rel_snd_t *s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        kc_rel_seg_t *g = &s->seg[s->end % s->cap];
        g->buf = malloc(8);
        g->len = 8;
        s->end++;
    }
    while (s->nxt < s->end)
        s->seg[s->nxt++ % s->cap].st = KC_REL_S_SENT;
}

/* Three SACKed segments above a hole make it lost (fast retransmit) and
 * cut cwnd by KC_REL_BETA once per window; a timeout marks every unSACKed
 * segment lost and collapses cwnd to one; an ACK for what was never sent
 * is -EPROTO. */
static void test_rel_scoreboard_fast_retransmit_and_timeout(void **state)
{
    (void)state;
    kc_rel_snd_t s;
    assert_int_equal(kc__rel_snd_init(&s, 64, 32), 0);
    assert_true(s.cwnd == 4);
    sent(&s, 10);
    assert_int_equal(kc__rel_snd_pipe(&s), 10);
    kc_rel_ack_t a = {2, 0, 32, 0, {{0, 0}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 0);
    assert_true(s.una == 2 && s.cwnd == 6); /* slow start: +2 */
    a = (kc_rel_ack_t){2, 0, 32, 1, {{3, 5}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 0); /* two above: not yet */
    a = (kc_rel_ack_t){2, 0, 32, 1, {{3, 6}}};
    double before = 6 + 2; /* the two SACKed segments grew it */
    assert_true(s.cwnd == before);
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 1); /* segment 2 */
    assert_true(s.seg[2].st & KC_REL_S_LOST);
    assert_true(s.in_recovery && s.recover == 10);
    assert_true(s.cwnd > (before + 1) * KC_REL_BETA - 1e-9 &&
                s.cwnd < (before + 1) * KC_REL_BETA + 1e-9);
    double cut = s.cwnd;
    /* Another loss in the same window does not cut again. */
    a = (kc_rel_ack_t){2, 0, 32, 1, {{7, 10}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 1); /* segment 6 */
    assert_true(s.seg[6].st & KC_REL_S_LOST);
    assert_true(s.cwnd == cut);
    assert_int_equal(kc__rel_snd_pipe(&s), 0); /* 2 and 6 lost, the rest SACKed */
    a = (kc_rel_ack_t){11, 0, 32, 0, {{0, 0}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), -EPROTO);
    a = (kc_rel_ack_t){2, 0, 32, 1, {{4, 11}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), -EPROTO);
    /* Everything acknowledged ends the recovery. */
    a = (kc_rel_ack_t){10, 0, 32, 0, {{0, 0}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 0);
    assert_true(!s.in_recovery && s.una == 10);
    sent(&s, 6);
    a = (kc_rel_ack_t){10, 0, 32, 1, {{12, 13}}};
    assert_int_equal(kc__rel_snd_on_ack(&s, &a, 32), 0);
    kc__rel_snd_on_timeout(&s);
    assert_true(s.cwnd == 1);
    assert_true(s.ssthresh == 2.5); /* pipe 5 / 2 */
    for (uint64_t q = 10; q < 16; q++)
        assert_int_equal(!!(s.seg[q % s.cap].st & KC_REL_S_LOST), q != 12);
    assert_int_equal(kc__rel_snd_pipe(&s), 0);
    kc__rel_snd_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_crc32c_known_vectors),
        cmocka_unit_test(test_rel_crc32c_matches_bitwise_and_chains),
        cmocka_unit_test(test_rel_seg_roundtrip_and_every_bit_flip),
        cmocka_unit_test(test_rel_sack_roundtrip_wrap_and_malformed),
        cmocka_unit_test(test_rel_widen_nearest),
        cmocka_unit_test(test_rel_rto_estimator_rfc6298),
        cmocka_unit_test(test_rel_reorder_buffer_bounded_by_window),
        cmocka_unit_test(test_rel_scoreboard_fast_retransmit_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
