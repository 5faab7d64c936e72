/* kc_frame.c - the wire codecs: frame header and HELLO, pure functions.
 *
 * Owns the byte layout of core/docs/WIRE.md. Nothing here allocates, blocks
 * or keeps state, so the fuzz target calls these functions directly on
 * arbitrary bytes. Invariants:
 *   F1 decode accepts exactly what encode can produce (version, known type,
 *      known flags); anything else is -EPROTO.
 *   F2 a decoded HELLO has ver_min <= ver_max, limits inside the negotiable
 *      ranges, at most KC_HELLO_MAX_EXT extensions, and every extension
 *      lies inside the buffer; the buffer has no trailing bytes.
 */
#include "kcoro/transport.h"

#include "base/kc_bytes.h"

#include <string.h>

static bool hdr_valid(uint8_t version, uint8_t type, uint16_t flags)
{
    return version == KC_WIRE_VERSION && type >= KC_FRAME_HELLO && type <= KC_FRAME_TYPE_MAX &&
           (flags & ~KC_FRAME_F_KNOWN) == 0 &&
           ((flags & KC_FRAME_F_CREDIT) == 0 || type == KC_FRAME_DATA);
}

KC_API int kc_frame_encode(const kc_frame_hdr_t *h, uint8_t *out)
{
    if (h == NULL || out == NULL)
        return -EINVAL;
    if (!hdr_valid(h->version, h->type, h->flags))
        return -EPROTO;
    out[0] = h->version;
    out[1] = h->type;
    kc__put_be16(out + 2, h->flags);
    kc__put_be32(out + 4, h->chan_id);
    kc__put_be32(out + 8, h->id);
    kc__put_be32(out + 12, h->len);
    return KC_FRAME_HDR_SIZE;
}

KC_API int kc_frame_decode(const uint8_t *buf, size_t len, kc_frame_hdr_t *out)
{
    if (buf == NULL || out == NULL)
        return -EINVAL;
    if (len < KC_FRAME_HDR_SIZE)
        return -EAGAIN;
    kc_frame_hdr_t h;
    h.version = buf[0];
    h.type = buf[1];
    h.flags = kc__get_be16(buf + 2);
    if (!hdr_valid(h.version, h.type, h.flags))
        return -EPROTO;
    h.chan_id = kc__get_be32(buf + 4);
    h.id = kc__get_be32(buf + 8);
    h.len = kc__get_be32(buf + 12);
    *out = h;
    return KC_FRAME_HDR_SIZE;
}

KC_API void kc_hello_init(kc_hello_t *h)
{
    if (h == NULL)
        return;
    memset(h, 0, sizeof *h);
    h->ver_min = 1;
    h->ver_max = KC_WIRE_VERSION;
    h->features = KC_HELLO_FEAT_RPC | KC_HELLO_FEAT_PING | KC_HELLO_FEAT_DATA;
    h->max_frame = KC_FRAME_MAX_DEFAULT;
    h->max_msg = KC_MSG_MAX_DEFAULT;
}

static bool limits_valid(uint32_t max_frame, uint32_t max_msg)
{
    return max_frame >= KC_FRAME_MIN_MAX && max_frame <= KC_FRAME_MAX_MAX &&
           max_msg >= KC_MSG_MIN_MAX && max_msg <= KC_MSG_MAX_MAX;
}

KC_API int kc_hello_encode(const kc_hello_t *h, uint8_t *buf, size_t cap)
{
    if (h == NULL || buf == NULL)
        return -EINVAL;
    if (h->ver_min == 0 || h->ver_min > h->ver_max || !limits_valid(h->max_frame, h->max_msg) ||
        h->n_ext > KC_HELLO_MAX_EXT)
        return -EINVAL;
    size_t need = KC_HELLO_MIN_SIZE;
    for (unsigned i = 0; i < h->n_ext; i++) {
        const kc_hello_ext_t *e = &h->ext[i];
        if (e->type == 0 || e->len > KC_HELLO_EXT_MAX_LEN || (e->len > 0 && e->val == NULL))
            return -EINVAL;
        need += 4u + e->len;
    }
    if (need > KC_HELLO_MAX_SIZE)
        return -EINVAL;
    if (cap < need)
        return -EMSGSIZE;
    kc__put_be32(buf, KC_HELLO_MAGIC);
    buf[4] = h->ver_min;
    buf[5] = h->ver_max;
    kc__put_be16(buf + 6, h->n_ext);
    kc__put_be32(buf + 8, h->features);
    kc__put_be32(buf + 12, h->max_frame);
    kc__put_be32(buf + 16, h->max_msg);
    kc__put_be32(buf + 20, 0);
    size_t at = KC_HELLO_MIN_SIZE;
    for (unsigned i = 0; i < h->n_ext; i++) {
        const kc_hello_ext_t *e = &h->ext[i];
        kc__put_be16(buf + at, e->type);
        kc__put_be16(buf + at + 2, e->len);
        if (e->len > 0)
            memcpy(buf + at + 4, e->val, e->len);
        at += 4u + e->len;
    }
    return (int)at;
}

KC_API int kc_hello_decode(const uint8_t *buf, size_t len, kc_hello_t *out)
{
    if (buf == NULL || out == NULL)
        return -EINVAL;
    if (len > KC_HELLO_MAX_SIZE)
        return -EMSGSIZE;
    if (len < KC_HELLO_MIN_SIZE || kc__get_be32(buf) != KC_HELLO_MAGIC)
        return -EPROTO;
    kc_hello_t h;
    memset(&h, 0, sizeof h);
    h.ver_min = buf[4];
    h.ver_max = buf[5];
    h.n_ext = kc__get_be16(buf + 6);
    h.features = kc__get_be32(buf + 8);
    h.max_frame = kc__get_be32(buf + 12);
    h.max_msg = kc__get_be32(buf + 16);
    if (h.ver_min == 0 || h.ver_min > h.ver_max || !limits_valid(h.max_frame, h.max_msg) ||
        h.n_ext > KC_HELLO_MAX_EXT || kc__get_be32(buf + 20) != 0)
        return -EPROTO;
    size_t at = KC_HELLO_MIN_SIZE;
    for (unsigned i = 0; i < h.n_ext; i++) {
        if (len - at < 4)
            return -EPROTO;
        kc_hello_ext_t *e = &h.ext[i];
        e->type = kc__get_be16(buf + at);
        e->len = kc__get_be16(buf + at + 2);
        if (e->type == 0 || e->len > KC_HELLO_EXT_MAX_LEN || len - at - 4 < e->len)
            return -EPROTO;
        e->val = e->len > 0 ? buf + at + 4 : NULL;
        at += 4u + e->len;
    }
    if (at != len)
        return -EPROTO;
    *out = h;
    return 0;
}

KC_API int kc_hello_negotiate(const kc_hello_t *mine, const kc_hello_t *peer, kc_hello_t *out)
{
    if (mine == NULL || peer == NULL || out == NULL)
        return -EINVAL;
    uint8_t hi = mine->ver_max < peer->ver_max ? mine->ver_max : peer->ver_max;
    uint8_t lo = mine->ver_min > peer->ver_min ? mine->ver_min : peer->ver_min;
    if (lo > hi)
        return -EPROTO;
    kc_hello_t r;
    memset(&r, 0, sizeof r);
    r.ver_min = r.ver_max = hi;
    r.features = mine->features & peer->features;
    r.max_frame = mine->max_frame < peer->max_frame ? mine->max_frame : peer->max_frame;
    r.max_msg = mine->max_msg < peer->max_msg ? mine->max_msg : peer->max_msg;
    *out = r;
    return 0;
}
