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
 */
#ifndef KCORO_ZDESC_H
#define KCORO_ZDESC_H

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

#ifdef __cplusplus
}
#endif
#endif /* KCORO_ZDESC_H */
