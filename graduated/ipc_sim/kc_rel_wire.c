/* kc_rel_wire.c - the reliability layer's pure parts: CRC32C, the SEG and
 * ACK codecs, and the RFC 6298 retransmission timer estimator.
 *
 * Owns the byte layouts of core/docs/WIRE.md's "Reliability layer" section.
 * Invariants:
 *   W1 a SEG or ACK is accepted only if its CRC32C, computed over the
 *      encoded 16-byte frame header followed by the payload after the CRC
 *      field, matches: a flipped bit anywhere in the frame is -EBADMSG.
 *   W2 a decoded ACK's blocks lie above cum, are non-empty, ascending and
 *      disjoint, at most KC_REL_MAX_SACK; anything else is -EPROTO.
 *   W3 the estimator's rto always lies in [min, max].
 */
#include "kc_rel_impl.h"

#include "base/kc_bytes.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* ---- CRC32C ----------------------------------------------------------- */

/* Reflected Castagnoli polynomial (iSCSI, RFC 3720 B.4). */
#define CRC32C_POLY 0x82f63b78u

/* Eight tables for slicing-by-8: tab[0] is the byte-at-a-time table,
 * tab[k][b] the CRC of byte b followed by k zero bytes. Built once. */
static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void crc_build(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        tab[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            tab[k][b] = (tab[k - 1][b] >> 8) ^ tab[0][tab[k - 1][b] & 0xff];
}

KC_API uint32_t kc_rel_crc32c(uint32_t crc, const void *buf, size_t len)
{
    if (buf == NULL)
        return crc;
    /* once, by one thread; the others wait for it (two builders at once
     * were a data race, even writing the same values) */
    pthread_once(&tab_once, crc_build);
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
            tab[4][lo >> 24] ^ tab[3][p[4]] ^ tab[2][p[5]] ^ tab[1][p[6]] ^ tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ---- helpers -------------------------------------------------------- */

uint64_t kc__rel_widen(uint64_t ref, uint32_t s32)
{
    int32_t d = (int32_t)(s32 - (uint32_t)ref);
    return d < 0 && (uint64_t)(-(int64_t)d) > ref ? (uint64_t)s32 : ref + (uint64_t)(int64_t)d;
}

/* The CRC of a frame: its encoded header, then the payload after the CRC
 * field (invariant W1). */
static uint32_t frame_crc(const kc_frame_hdr_t *h, const uint8_t *rest, size_t n)
{
    uint8_t eh[KC_FRAME_HDR_SIZE];
    kc_frame_encode(h, eh);
    return kc_rel_crc32c(kc_rel_crc32c(0, eh, sizeof eh), rest, n);
}

/* ---- SEG ------------------------------------------------------------ */

int kc__rel_seg_encode(uint64_t seq, uint32_t ts, const void *data, size_t len, kc_frame_hdr_t *hdr,
                       uint8_t pre[KC_REL_SEG_HDR])
{
    if (!hdr || !pre || (len && !data) || ts == 0 || len > KC_REL_MSS_MAX)
        return -EINVAL;
    *hdr = (kc_frame_hdr_t){
        KC_WIRE_VERSION, KC_FRAME_SEG, 0, 0, (uint32_t)seq, (uint32_t)(KC_REL_SEG_HDR + len)};
    kc__put_be32(pre + 4, ts);
    uint8_t eh[KC_FRAME_HDR_SIZE];
    kc_frame_encode(hdr, eh);
    uint32_t c = kc_rel_crc32c(kc_rel_crc32c(0, eh, sizeof eh), pre + 4, 4);
    kc__put_be32(pre, kc_rel_crc32c(c, data, len));
    return 0;
}

int kc__rel_seg_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload, uint32_t *ts,
                       size_t *data_off)
{
    if (!hdr || hdr->type != KC_FRAME_SEG || hdr->flags || hdr->chan_id ||
        hdr->len < KC_REL_SEG_HDR || hdr->len > KC_REL_SEG_HDR + KC_REL_MSS_MAX || !payload)
        return -EPROTO;
    if (frame_crc(hdr, payload + 4, hdr->len - 4) != kc__get_be32(payload))
        return -EBADMSG;
    uint32_t t = kc__get_be32(payload + 4);
    if (t == 0)
        return -EPROTO;
    *ts = t;
    *data_off = KC_REL_SEG_HDR;
    return 0;
}

/* ---- ACK ------------------------------------------------------------ */

int kc__rel_ack_encode(const kc_rel_ack_t *a, kc_frame_hdr_t *hdr, uint8_t *buf, size_t cap)
{
    if (!a || !hdr || !buf || a->n > KC_REL_MAX_SACK)
        return -EINVAL;
    uint64_t lo = a->cum;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->blk[i].start <= lo || a->blk[i].end <= a->blk[i].start ||
            a->blk[i].end - a->cum > 0x7fffffffu)
            return -EINVAL;
        lo = a->blk[i].end;
    }
    size_t len = KC_REL_ACK_HDR + 8 * (size_t)a->n;
    if (cap < len)
        return -EMSGSIZE;
    *hdr = (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_ACK, 0, 0, (uint32_t)a->cum, (uint32_t)len};
    kc__put_be32(buf + 4, a->ts_echo);
    kc__put_be32(buf + 8, a->window);
    kc__put_be32(buf + 12, a->n);
    for (uint32_t i = 0; i < a->n; i++) {
        kc__put_be32(buf + KC_REL_ACK_HDR + 8 * i, (uint32_t)a->blk[i].start);
        kc__put_be32(buf + KC_REL_ACK_HDR + 8 * i + 4, (uint32_t)a->blk[i].end);
    }
    kc__put_be32(buf, frame_crc(hdr, buf + 4, len - 4));
    return (int)len;
}

int kc__rel_ack_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload, uint64_t ref,
                       kc_rel_ack_t *out)
{
    if (!hdr || !out || hdr->type != KC_FRAME_ACK || hdr->flags || hdr->chan_id ||
        hdr->len < KC_REL_ACK_HDR || !payload)
        return -EPROTO;
    uint32_t n = kc__get_be32(payload + 12);
    if (n > KC_REL_MAX_SACK || hdr->len != KC_REL_ACK_HDR + 8 * n) {
        /* The count may be the corrupted field: a CRC failure says so. */
        return frame_crc(hdr, payload + 4, hdr->len - 4) != kc__get_be32(payload) ? -EBADMSG
                                                                                  : -EPROTO;
    }
    if (frame_crc(hdr, payload + 4, hdr->len - 4) != kc__get_be32(payload))
        return -EBADMSG;
    kc_rel_ack_t a;
    a.cum = kc__rel_widen(ref, hdr->id);
    a.ts_echo = kc__get_be32(payload + 4);
    a.window = kc__get_be32(payload + 8);
    a.n = n;
    uint64_t lo = a.cum;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *b = payload + KC_REL_ACK_HDR + 8 * i;
        uint32_t s = kc__get_be32(b), e = kc__get_be32(b + 4);
        /* Offsets from cum, so blocks compare without wrap-around. */
        uint32_t so = s - (uint32_t)a.cum, eo = e - (uint32_t)a.cum;
        if (so == 0 || so > 0x7fffffffu || eo > 0x7fffffffu || eo <= so || a.cum + so < lo)
            return -EPROTO;
        if (i > 0 && a.cum + so <= lo)
            return -EPROTO;
        a.blk[i].start = a.cum + so;
        a.blk[i].end = a.cum + eo;
        lo = a.blk[i].end;
    }
    *out = a;
    return 0;
}

/* ---- SESS ----------------------------------------------------------- */

int kc__rel_sess_encode(const kc_rel_sess_t *m, kc_frame_hdr_t *hdr, uint8_t buf[KC_REL_SESS_LEN])
{
    if (!m || !hdr || !buf || !m->kind || (m->kind & ~KC_REL_SESS_KNOWN))
        return -EINVAL;
    *hdr = (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_ACK, 0, KC_REL_CHAN_SESS, 0, KC_REL_SESS_LEN};
    kc__put_be32(buf + 4, m->kind);
    kc__put_be64(buf + 8, m->id);
    kc__put_be64(buf + 16, m->rcv_nxt);
    kc__put_be32(buf, frame_crc(hdr, buf + 4, KC_REL_SESS_LEN - 4));
    return 0;
}

int kc__rel_sess_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload, kc_rel_sess_t *out)
{
    if (!hdr || !out || hdr->type != KC_FRAME_ACK || hdr->flags ||
        hdr->chan_id != KC_REL_CHAN_SESS || hdr->id || hdr->len != KC_REL_SESS_LEN || !payload)
        return -EPROTO;
    if (frame_crc(hdr, payload + 4, hdr->len - 4) != kc__get_be32(payload))
        return -EBADMSG;
    kc_rel_sess_t m = {kc__get_be32(payload + 4), kc__get_be64(payload + 8),
                       kc__get_be64(payload + 16)};
    if (!m.kind || (m.kind & ~KC_REL_SESS_KNOWN))
        return -EPROTO;
    *out = m;
    return 0;
}

/* ---- RFC 6298 ------------------------------------------------------- */

/* G, the clock granularity of RFC 6298 2.2: the scheduler's timers fire
 * within about a millisecond. */
#define REL_CLOCK_G 1000000

static int64_t clamp(const kc_rel_rto_t *r, int64_t v)
{
    return v < r->min ? r->min : v > r->max ? r->max : v;
}

void kc__rel_rto_init(kc_rel_rto_t *r, int64_t min, int64_t init, int64_t max)
{
    r->srtt = r->rttvar = 0;
    r->min = min;
    r->max = max;
    r->backoff = 0;
    r->rto = clamp(r, init);
}

void kc__rel_rto_sample(kc_rel_rto_t *r, int64_t rtt)
{
    if (rtt <= 0)
        rtt = 1;
    if (r->srtt == 0) {
        r->srtt = rtt; /* 2.2: SRTT <- R, RTTVAR <- R/2 */
        r->rttvar = rtt / 2;
    } else {
        int64_t d = r->srtt > rtt ? r->srtt - rtt : rtt - r->srtt;
        r->rttvar = r->rttvar - r->rttvar / 4 + d / 4; /* 2.3, beta 1/4 */
        r->srtt = r->srtt - r->srtt / 8 + rtt / 8;     /* alpha 1/8 */
    }
    int64_t k = 4 * r->rttvar;
    r->rto = clamp(r, r->srtt + (k > REL_CLOCK_G ? k : REL_CLOCK_G));
    r->backoff = 0;
}

void kc__rel_rto_backoff(kc_rel_rto_t *r)
{
    r->rto = clamp(r, r->rto > r->max / 2 ? r->max : r->rto * 2);
    r->backoff++;
}
