/* kcoro/zdesc.h - zero-copy descriptors: a region handed over by reference.
 *
 * A descriptor names a payload that stays where it is: a pointer, a length,
 * flags, and room for the allocator that owns the region (an arena ticket
 * and a region id). Channels carry descriptors instead of copying payloads
 * (kc_chan_send_desc / kc_chan_recv_desc), so a 1 MiB message costs the
 * same as an 8-byte one.
 *
 * The caller allocates descriptors (on its stack, in a pool, inside its own
 * message header) and fills them with kc_zdesc_init(). `size` and `version`
 * let the struct grow: kcoro refuses a descriptor whose size or version it
 * does not know (-EINVAL) rather than read past its end.
 *
 * Ownership: the flag KC_ZDESC_OWNED says the holder must release the
 * region. A successful send moves the descriptor, with its flags, to the
 * receiver; a failed send leaves it with the sender. A descriptor that is
 * sent but never received (dropped by an overflow policy, overwritten in a
 * conflated channel, left in a destroyed channel) goes to the channel's
 * undelivered callback exactly once, so an owned region is never leaked.
 *
 * Arena descriptors. The helpers below tie a descriptor to a kcoro arena
 * (kcoro/arena.h): the ticket field holds an arena ticket, and an OWNED
 * descriptor holds exactly one reference on it. kc_zdesc_alloc() makes one
 * from fresh arena memory, kc_zdesc_wrap() from memory of a registered
 * region (no copy; the region cannot be unregistered while it is out),
 * kc_zdesc_from_ticket() from a ticket the caller already holds.
 * kc_zdesc_hydrate() checks a descriptor against its arena (a released,
 * reused or forged ticket is refused with -ESTALE) and gives the payload;
 * kc_zdesc_retain() makes a second owned descriptor for the same payload;
 * kc_zdesc_release() drops the reference (the last one frees the payload).
 * Sending moves the reference; it is never copied or counted again, so a
 * payload costs one reference from allocation to its last release,
 * whichever way it leaves the channel (core/docs/ZERO_COPY.md).
 *
 * Descriptor lifecycle (the reference an OWNED arena descriptor holds):
 *
 *   holder    event                                    next       by
 *   --------  ---------------------------------------  ---------  -----------------------
 *   (none)    allocate / wrap / adopt a ticket         sender     kc_zdesc_alloc, _wrap,
 *                                                                 _from_ticket
 *   sender    second owner wanted                      2 holders  kc_zdesc_retain
 *   sender    send returns 0                           channel or kc_chan_send_desc
 *                                                      receiver
 *   sender    send fails (any error)                   sender     kc_chan_send_desc
 *   channel   received                                 receiver   kc_chan_recv_desc
 *   channel   dropped, conflated, left at destroy      released   the channel (arena
 *                                                                 attached) or callback
 *   receiver  done with it                             released   kc_zdesc_release
 */
#ifndef KCORO_ZDESC_H
#define KCORO_ZDESC_H

#include "kcoro/arena.h"
#include "kcoro/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KC_ZDESC_VERSION is the layout version kc_zdesc_init() writes; it grows
 * when a field changes meaning (new fields only grow `size`). */
#define KC_ZDESC_VERSION 1u

/* KC_ZDESC_OWNED marks a descriptor whose holder must release the region
 * (free it, return the arena ticket). Without it the region is borrowed:
 * static data, or memory whose owner outlives every receiver. */
#define KC_ZDESC_OWNED 0x1u

/* KC_ZDESC_READONLY asks receivers not to write into the region (it may be
 * shared by several descriptors). kcoro carries the flag unchanged. */
#define KC_ZDESC_READONLY 0x2u

/* KC_ZDESC_TICKET_BYTES is the room reserved for an allocator ticket: an
 * opaque handle (generation + slot) that names the region to its arena. */
#define KC_ZDESC_TICKET_BYTES 16

/* A descriptor. Caller-allocated; fill it with kc_zdesc_init() (or
 * KC_ZDESC_INIT) and then set the allocator fields if an arena owns the
 * region. kcoro copies the whole struct by value and never dereferences
 * `ptr`. */
typedef struct kc_zdesc {
    uint32_t size;                         /* sizeof(kc_zdesc_t); set by kc_zdesc_init */
    uint16_t version;                      /* KC_ZDESC_VERSION; set by kc_zdesc_init */
    uint16_t flags;                        /* KC_ZDESC_OWNED, KC_ZDESC_READONLY */
    void *ptr;                             /* first byte of the payload (NULL only when len is 0) */
    size_t len;                            /* payload bytes */
    uint64_t region;                       /* id of the registered region holding ptr; 0 = none */
    uint8_t ticket[KC_ZDESC_TICKET_BYTES]; /* arena ticket; all zero = none */
} kc_zdesc_t;

/* KC_ZDESC_INIT is a static initialiser for an empty descriptor (no payload,
 * not owned, no region). */
#define KC_ZDESC_INIT                                                                              \
    {                                                                                              \
        sizeof(kc_zdesc_t), KC_ZDESC_VERSION, 0, NULL, 0, 0,                                       \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Fill *d with ptr, len and flags (KC_ZDESC_*), no region and no ticket.
 * Errors: -EINVAL (NULL d; NULL ptr with len > 0; unknown flags); *d is
 * left untouched then. Never blocks. */
KC_API int kc_zdesc_init(kc_zdesc_t *d /* OUT */, void *ptr, size_t len, uint32_t flags);

/* Validate a descriptor someone filled: known size and version, a pointer
 * when len > 0, known flags. Returns 0 or -EINVAL. Never blocks. */
KC_API int kc_zdesc_check(const kc_zdesc_t *d);

/* Predicate: must the holder of d release its region? False for NULL. */
KC_API bool kc_zdesc_is_owned(const kc_zdesc_t *d);

/* Predicate: does d carry an arena ticket (a ticket field not all zero)?
 * False for NULL. Never blocks. */
KC_API bool kc_zdesc_has_ticket(const kc_zdesc_t *d);

/* Copy d's arena ticket into *t. Errors: -EINVAL (NULL arguments, or d
 * carries no ticket). Never blocks. */
KC_API int kc_zdesc_ticket(const kc_zdesc_t *d, kc_arena_ticket_t *t /* OUT */);

/* Allocate len bytes in arena and make *d an OWNED descriptor for them
 * (ptr, len, ticket; region 0). flags: 0 or KC_ZDESC_READONLY (OWNED is
 * implied). GIVES: the one reference; drop it with kc_zdesc_release(), or
 * send d and let the receiver do it. The payload is uninitialised.
 * Errors: -EINVAL (NULL d or arena, len 0, unknown flags), -EMSGSIZE (len
 * larger than the arena can hold), -ENOMEM (the arena is full; counted by
 * the arena; *d untouched). Never blocks. */
KC_API int kc_zdesc_alloc(kc_zdesc_t *d /* OUT */, kc_arena_t *arena, size_t len, uint32_t flags);

/* Make *d an OWNED descriptor for [ptr, ptr+len) inside the registered
 * region `region` of arena, without copying (kc_arena_wrap()); d->region
 * records the region id. While d (or any copy sent on) is live the region
 * cannot be unregistered (-EBUSY). flags: 0 or KC_ZDESC_READONLY. GIVES:
 * one reference, dropped with kc_zdesc_release(). Errors: -EINVAL (NULL
 * arguments, len 0 or above UINT32_MAX, range outside the region, unknown
 * flags), -ESTALE (region not registered), -ENOMEM (ticket table full).
 * Never blocks. */
KC_API int kc_zdesc_wrap(kc_zdesc_t *d /* OUT */, kc_arena_t *arena, int region, const void *ptr,
                         size_t len, uint32_t flags);

/* Make *d an OWNED descriptor for ticket t of arena, whose payload address
 * and length come from the arena. TAKES one reference the caller holds on
 * t (from kc_arena_alloc, kc_arena_hydrate, kc_arena_retain...): it now
 * belongs to d. flags: 0 or KC_ZDESC_READONLY. Errors: -EINVAL (NULL d or
 * arena, null ticket, unknown flags), -ESTALE (t is not live; counted by
 * the arena; nothing changes and the caller keeps nothing). Never blocks. */
KC_API int kc_zdesc_from_ticket(kc_zdesc_t *d /* OUT */, kc_arena_t *arena, kc_arena_ticket_t t,
                                uint32_t flags);

/* Check d against arena and give its payload: the ticket must be live and
 * d's ptr and len must be what the arena issued. Takes no reference: the
 * holder's own keeps the payload alive (kc_arena_validate()). BORROWS *ptr
 * for as long as the holder keeps d's reference. ptr and len may be NULL.
 * Errors: -EINVAL (NULL d or arena, d fails kc_zdesc_check, no ticket),
 * -ESTALE (released, reused, foreign or forged ticket, or ptr/len that do
 * not match it; nothing written). Never blocks. */
KC_API int kc_zdesc_hydrate(const kc_zdesc_t *d, kc_arena_t *arena, void **ptr /* OUT */,
                            size_t *len /* OUT */);

/* Take one more reference on d's payload and make *copy an OWNED
 * descriptor holding it (d keeps its own): for fan-out, one descriptor per
 * receiver. GIVES: copy's reference. Errors: -EINVAL (NULL arguments, no
 * ticket), -ESTALE (not live; counted), -ENOMEM (2^32-1 references).
 * Never blocks. */
KC_API int kc_zdesc_retain(const kc_zdesc_t *d, kc_arena_t *arena, kc_zdesc_t *copy /* OUT */);

/* Drop the reference an OWNED descriptor holds; the last one frees the
 * payload (or ends the region use). On success *d becomes empty (no
 * payload, not owned), so releasing the same variable twice is -EINVAL;
 * releasing a stale copy of it is a double release, which the arena
 * refuses with -ESTALE and counts (kc_arena_metrics: double_releases).
 * Returns 1 when the payload was freed, 0 when other references remain.
 * Errors: -EINVAL (NULL d or arena, d not OWNED or without a ticket),
 * -ESTALE (already released or forged; *d unchanged). Never blocks. */
KC_API int kc_zdesc_release(kc_zdesc_t *d /* INOUT */, kc_arena_t *arena);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_ZDESC_H */
