/* kc_rsel_wire.c - the remote-select messages on the wire (kc_rsel.h has the table).
 *
 * Header: cmd u8, op u8, why u16, chan u32, id u64, lease_ns u64, all
 * little-endian, then the element (a receive's COMMIT, a send's CLAIM).
 * The decoder refuses what no sender makes: a short header, a command
 * outside 32-37, an op other than RECV or SEND (with PLAIN only on a
 * CLAIM).
 */
#include "kc_rsel_impl.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int kc__rsel_encode(const kc_rsel_msg_t *m, const void *elem, size_t elem_len, uint8_t *out,
                    size_t cap)
{
    if (cap < KC_RSEL_HDR || elem_len > cap - KC_RSEL_HDR)
        return -EMSGSIZE;
    out[0] = m->cmd;
    out[1] = m->op;
    put16(out + 2, m->why);
    put32(out + 4, m->chan);
    put64(out + 8, m->id);
    put64(out + 16, m->lease_ns);
    if (elem_len != 0)
        memcpy(out + KC_RSEL_HDR, elem, elem_len);
    return (int)(KC_RSEL_HDR + elem_len);
}

int kc__rsel_decode(const uint8_t *p, size_t len, kc_rsel_msg_t *m, const uint8_t **elem,
                    size_t *elem_len)
{
    if (p == NULL || len < KC_RSEL_HDR)
        return -EPROTO;
    m->cmd = p[0];
    m->op = p[1];
    m->why = (uint16_t)get(p + 2, 2);
    m->chan = (uint32_t)get(p + 4, 4);
    m->id = get(p + 8, 8);
    m->lease_ns = get(p + 16, 8);
    if (m->cmd < KC_RSEL_REGISTER || m->cmd > KC_RSEL_REJECT)
        return -EPROTO;
    uint8_t op = m->op & (uint8_t)~KC_RSEL_PLAIN;
    if (op != KC_RSEL_RECV && op != KC_RSEL_SEND)
        return -EPROTO;
    if ((m->op & KC_RSEL_PLAIN) != 0 && m->cmd != KC_RSEL_CLAIM && m->cmd != KC_RSEL_COMMIT &&
        m->cmd != KC_RSEL_REJECT)
        return -EPROTO;
    *elem = p + KC_RSEL_HDR;
    *elem_len = len - KC_RSEL_HDR;
    return 0;
}
