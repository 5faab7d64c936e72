/* kc_rsel_impl.h - remote select: the claim protocol between a channel's owner and its selectors.
 *
 * The public side is kcoro/rsel.h: a process that owns a channel serves it
 * to peers (kc_rsel_owner_create); a peer imports it as a remote kc_chan_t
 * (kc_rsel_import) whose select operations (core/src/chan/kc_chan_svc.h)
 * speak this protocol, so kc_chan_select takes its clauses beside local
 * ones. Messages (seed 001 N5's command numbers kept):
 *
 *   cmd  name             from      meaning
 *   ---  ---------------  --------  ---------------------------------------------
 *   32   SELECT_REGISTER  selector  subscribe `id` to op's readiness on `chan`
 *                                   (lease_ns: how long a reservation is held)
 *   33   SELECT_CANCEL    selector  end subscription `id` (its reservation, if
 *                                   any, goes to the next waiter)
 *   34   SELECT_NOTIFY    owner     `id` may proceed; for a receive, an element
 *                                   is reserved for it until its lease ends
 *   35   SELECT_CLAIM     selector  take the reservation of `id` (or, with
 *                                   KC_RSEL_PLAIN, whatever is there now); a
 *                                   send carries its element
 *   36   SELECT_COMMIT    owner     done: the element moved (a receive's rides
 *                                   along)
 *   37   SELECT_REJECT    owner     not done (`why`): re-arm and try again
 *
 * A message is a 24-byte header (cmd u8, op u8, why u16, chan u32, id u64,
 * lease_ns u64, network byte order) and, for a receive's COMMIT and a send's
 * CLAIM, the element. The selector's claim word decides before it claims
 * (kc_select_remote.c); core/model/select_remote.pml checks the whole
 * exchange in SPIN. The protocol needs only an ordered, reliable stream
 * per peer: an in-process pipe with delay and jitter (kc_rsel_pipe.c) or a
 * connection's channels (kc_rsel_mux.c).
 *
 * Files, front over lower (no call loop): kc_rsel_mux.c (attachments)
 * over kc_rsel_owner.c and kc_rsel_client.c over kc_rsel_wire.c;
 * kc_rsel_pipe.c stands alone.
 */
#ifndef KCORO_KC_RSEL_IMPL_H
#define KCORO_KC_RSEL_IMPL_H

#include "kcoro/rsel.h"

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>

/* The protocol's commands (table above). */
enum {
    KC_RSEL_REGISTER = 32,
    KC_RSEL_CANCEL = 33,
    KC_RSEL_NOTIFY = 34,
    KC_RSEL_CLAIM = 35,
    KC_RSEL_COMMIT = 36,
    KC_RSEL_REJECT = 37
};

/* op: which clause; KC_RSEL_PLAIN marks a claim without a reservation. */
enum {
    KC_RSEL_RECV = 1,
    KC_RSEL_SEND = 2,
    KC_RSEL_PLAIN = 0x80
};

/* Why a claim was rejected. */
enum {
    KC_RSEL_WHY_GONE = 1,  /* no reservation under that id (lease expired, stale) */
    KC_RSEL_WHY_EMPTY = 2, /* nothing to take, or no room */
    KC_RSEL_WHY_CLOSED = 3 /* the channel is closed (and drained, for a receive) */
};

#define KC_RSEL_HDR 24 /* bytes of a message's header */

/* A message's header. */
typedef struct kc_rsel_msg {
    uint8_t cmd, op;
    uint16_t why;
    uint32_t chan;
    uint64_t id;
    uint64_t lease_ns;
} kc_rsel_msg_t;

/* Encode m and elem_len bytes of elem into out (cap bytes). Returns the
 * length, or -EMSGSIZE when it does not fit. Never blocks. */
int kc__rsel_encode(const kc_rsel_msg_t *m, const void *elem, size_t elem_len, uint8_t *out,
                    size_t cap);
/* Decode p[0..len): 0, or -EPROTO (short, unknown command or op). OUT *m;
 * *elem and *elem_len name the bytes after the header. Never blocks. */
int kc__rsel_decode(const uint8_t *p, size_t len, kc_rsel_msg_t *m /* OUT */,
                    const uint8_t **elem /* OUT */, size_t *elem_len /* OUT */);

/* The transport over a connection (kc_rsel_mux.c): each side exports a
 * channel of records as its inbox and imports the other's. A record is the
 * message's length (u16) and the message, padded to KC_RSEL_MUX_REC bytes. */
#define KC_RSEL_MUX_REC 256
_Static_assert(KC_RSEL_ATTACH_ELEM_MAX == KC_RSEL_MUX_REC - 2 - KC_RSEL_HDR,
               "kcoro/rsel.h's limit is what a record holds");

/* The element size of o's channel, and the number it is served under
 * (kc_rsel_owner.c). Never block. */
size_t kc__rsel_owner_elem(const kc_rsel_owner_t *o);
uint32_t kc__rsel_owner_chan(const kc_rsel_owner_t *o);

#endif /* KCORO_KC_RSEL_IMPL_H */
