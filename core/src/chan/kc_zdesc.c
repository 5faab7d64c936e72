/* kc_zdesc.c - zero-copy descriptors: layout checks and the arena helpers.
 *
 * A descriptor is a caller-allocated value (kcoro/zdesc.h) that channels
 * copy by value and never dereference. This file checks its layout and
 * ties it to an arena: the ticket field holds a kc_arena_ticket_t (copied
 * in and out with memcpy, since the field is a byte array), and an OWNED
 * arena descriptor holds exactly one reference on that ticket. The helpers
 * here only make, check, duplicate and drop that reference; moving it is
 * what channels do (kc_chan_ops.c, kc_chan_arena.c). The descriptor's
 * lifecycle table is at the top of kcoro/zdesc.h.
 *
 * Rules kc_zdesc_check() enforces on every descriptor that enters a
 * channel:
 *   D1  size == sizeof(kc_zdesc_t) and version == KC_ZDESC_VERSION;
 *   D2  ptr != NULL whenever len > 0;
 *   D3  flags hold only KC_ZDESC_OWNED and KC_ZDESC_READONLY.
 * And kc_zdesc_hydrate() on an arena descriptor:
 *   D4  the ticket is live in the arena, and the descriptor's ptr and len
 *       are the payload the arena issued for it (so a descriptor whose
 *       pointer was changed in flight is refused like a forged ticket).
 */
#include "chan/kc_chan_impl.h"

#include <string.h>

_Static_assert(sizeof(kc_arena_ticket_t) == KC_ZDESC_TICKET_BYTES,
               "an arena ticket fills the descriptor's ticket field exactly");

#define KC_ZDESC_KNOWN_FLAGS (KC_ZDESC_OWNED | KC_ZDESC_READONLY)

int kc_zdesc_init(kc_zdesc_t *d, void *ptr, size_t len, uint32_t flags)
{
    if (d == NULL || (ptr == NULL && len > 0) || (flags & ~(uint32_t)KC_ZDESC_KNOWN_FLAGS) != 0)
        return -EINVAL;
    memset(d, 0, sizeof(*d));
    d->size = sizeof(*d);
    d->version = KC_ZDESC_VERSION;
    d->flags = (uint16_t)flags;
    d->ptr = ptr;
    d->len = len;
    return 0;
}

int kc_zdesc_check(const kc_zdesc_t *d)
{
    if (d == NULL || d->size != sizeof(*d) || d->version != KC_ZDESC_VERSION) /* D1 */
        return -EINVAL;
    if (d->ptr == NULL && d->len > 0) /* D2 */
        return -EINVAL;
    if ((d->flags & ~KC_ZDESC_KNOWN_FLAGS) != 0) /* D3 */
        return -EINVAL;
    return 0;
}

bool kc_zdesc_is_owned(const kc_zdesc_t *d)
{
    return d != NULL && (d->flags & KC_ZDESC_OWNED) != 0;
}

/* The ticket of d (all zero when it carries none). */
static inline kc_arena_ticket_t ticket_of(const kc_zdesc_t *d)
{
    kc_arena_ticket_t t;
    memcpy(&t, d->ticket, sizeof(t));
    return t;
}

/* Does d carry a ticket? Two word loads, for the hot paths. */
static inline bool has(const kc_zdesc_t *d)
{
    uint64_t w[2];
    memcpy(w, d->ticket, sizeof(w));
    return (w[0] | w[1]) != 0;
}

bool kc_zdesc_has_ticket(const kc_zdesc_t *d)
{
    return d != NULL && has(d);
}

int kc_zdesc_ticket(const kc_zdesc_t *d, kc_arena_ticket_t *t)
{
    if (t == NULL || d == NULL || !has(d))
        return -EINVAL;
    *t = ticket_of(d);
    return 0;
}

/* Fill *d as an OWNED descriptor for ticket t naming [ptr, ptr+len). */
static inline void fill(kc_zdesc_t *d, void *ptr, size_t len, uint32_t flags, uint64_t region,
                        kc_arena_ticket_t t)
{
    *d = (kc_zdesc_t){
        sizeof(*d), KC_ZDESC_VERSION, (uint16_t)(flags | KC_ZDESC_OWNED), ptr, len, region, {0}};
    memcpy(d->ticket, &t, sizeof(t));
}

/* The flags a maker accepts: READONLY, and OWNED (implied anyway). */
static inline bool maker_flags_ok(uint32_t flags)
{
    return (flags & ~(uint32_t)KC_ZDESC_KNOWN_FLAGS) == 0;
}

int kc_zdesc_alloc(kc_zdesc_t *d, kc_arena_t *arena, size_t len, uint32_t flags)
{
    if (d == NULL || arena == NULL || len == 0 || !maker_flags_ok(flags))
        return -EINVAL;
    kc_arena_ticket_t t;
    void *p;
    int rc = kc_arena_alloc(arena, len, &t, &p);
    if (rc != 0)
        return rc; /* -EMSGSIZE or -ENOMEM: nothing was allocated */
    fill(d, p, len, flags, 0, t);
    return 0;
}

int kc_zdesc_wrap(kc_zdesc_t *d, kc_arena_t *arena, int region, const void *ptr, size_t len,
                  uint32_t flags)
{
    if (d == NULL || arena == NULL || ptr == NULL || !maker_flags_ok(flags))
        return -EINVAL;
    kc_arena_ticket_t t;
    int rc = kc_arena_wrap(arena, region, ptr, len, &t);
    if (rc != 0)
        return rc;
    fill(d, (void *)(uintptr_t)ptr, len, flags, (uint64_t)(uint32_t)region, t);
    return 0;
}

int kc_zdesc_from_ticket(kc_zdesc_t *d, kc_arena_t *arena, kc_arena_ticket_t t, uint32_t flags)
{
    if (d == NULL || arena == NULL || !maker_flags_ok(flags))
        return -EINVAL;
    void *p;
    size_t len;
    int rc = kc_arena_validate(arena, t, &p, &len);
    if (rc < 0)
        return rc;
    fill(d, p, len, flags, 0, t);
    return 0;
}

int kc__zdesc_vet(const kc_zdesc_t *d, kc_arena_t *arena)
{
    void *p;
    size_t n;
    int rc = kc_arena_validate(arena, ticket_of(d), &p, &n);
    if (rc < 0)
        return rc;
    return p == d->ptr && n == d->len ? 0 : -ESTALE; /* D4: a changed pointer or length */
}

int kc_zdesc_hydrate(const kc_zdesc_t *d, kc_arena_t *arena, void **ptr, size_t *len)
{
    if (arena == NULL || kc_zdesc_check(d) != 0 || !has(d))
        return -EINVAL;
    int rc = kc__zdesc_vet(d, arena);
    if (rc != 0)
        return rc;
    if (ptr != NULL)
        *ptr = d->ptr;
    if (len != NULL)
        *len = d->len;
    return 0;
}

int kc_zdesc_retain(const kc_zdesc_t *d, kc_arena_t *arena, kc_zdesc_t *copy)
{
    if (copy == NULL || arena == NULL || kc_zdesc_check(d) != 0 || !has(d))
        return -EINVAL;
    int rc = kc_arena_retain(arena, ticket_of(d));
    if (rc != 0)
        return rc;
    *copy = *d;
    copy->flags |= KC_ZDESC_OWNED;
    return 0;
}

int kc_zdesc_release(kc_zdesc_t *d, kc_arena_t *arena)
{
    if (arena == NULL || kc_zdesc_check(d) != 0 || (d->flags & KC_ZDESC_OWNED) == 0 || !has(d))
        return -EINVAL;
    int rc = kc_arena_release(arena, ticket_of(d));
    if (rc < 0)
        return rc; /* a double release or a forged ticket: counted by the arena */
    *d = (kc_zdesc_t)KC_ZDESC_INIT;
    return rc;
}
