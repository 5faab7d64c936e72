/* kc_rsel_wire.c - the remote-select messages on the wire (kc_rsel_impl.h has the table).
 *
 * Header: cmd u8, op u8, why u16, chan u32, id u64, lease_ns u64, all
 * in network byte order (base/kc_bytes.h), then the element (a receive's
 * COMMIT, a send's CLAIM).
 * The decoder refuses what no sender makes: a short header, a command
 * outside 32-37, an op other than RECV or SEND (with PLAIN only on a
 * CLAIM).
 */
#include "kc_rsel_impl.h"

#include "base/kc_bytes.h"

#include <errno.h>
#include <string.h>

int kc__rsel_encode(const kc_rsel_msg_t *m, const void *elem, size_t elem_len, uint8_t *out,
                    size_t cap)
{
    if (cap < KC_RSEL_HDR || elem_len > cap - KC_RSEL_HDR)
        return -EMSGSIZE;
    out[0] = m->cmd;
    out[1] = m->op;
    kc__put_be16(out + 2, m->why);
    kc__put_be32(out + 4, m->chan);
    kc__put_be64(out + 8, m->id);
    kc__put_be64(out + 16, m->lease_ns);
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
    m->why = kc__get_be16(p + 2);
    m->chan = kc__get_be32(p + 4);
    m->id = kc__get_be64(p + 8);
    m->lease_ns = kc__get_be64(p + 16);
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
