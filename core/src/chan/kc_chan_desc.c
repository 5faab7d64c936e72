/* kc_chan_desc.c - zero-copy descriptors and the channel calls that carry them.
 *
 * A descriptor channel's slot is a whole kc_zdesc_t, copied by value; the
 * region it names is never touched. The descriptor calls are the canonical
 * zero-copy surface; the pointer calls compose a borrowed descriptor (flags
 * 0) around a pointer and a length, and take it apart again on receive.
 *
 * Ownership (kcoro/zdesc.h): the KC_ZDESC_OWNED flag travels with the
 * descriptor. A send that returns 0 has given it away (to a receiver, the
 * ring, or the undelivered callback); any other result leaves it with the
 * sender, so an owned region is released exactly once by exactly one
 * party. kc_zdesc_check() guards every descriptor that enters a channel,
 * so a descriptor of an unknown layout version is refused, not misread.
 *
 * Layout rules the checks rely on:
 *   D1  size == sizeof(kc_zdesc_t) and version == KC_ZDESC_VERSION;
 *   D2  ptr != NULL whenever len > 0;
 *   D3  flags hold only KC_ZDESC_OWNED and KC_ZDESC_READONLY.
 */
#include "chan/kc_chan_impl.h"

#include <string.h>

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

int kc_chan_send_desc(kc_chan_t *ch, const kc_zdesc_t *d, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    return kc__chan_send_elem(ch, true, d, timeout_ns, cancel);
}

int kc_chan_recv_desc(kc_chan_t *ch, kc_zdesc_t *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return kc__chan_recv_elem(ch, true, out, timeout_ns, cancel);
}

int kc_chan_try_send_desc(kc_chan_t *ch, const kc_zdesc_t *d)
{
    return kc__chan_send_elem(ch, true, d, 0, NULL);
}

int kc_chan_try_recv_desc(kc_chan_t *ch, kc_zdesc_t *out)
{
    return kc__chan_recv_elem(ch, true, out, 0, NULL);
}

int kc_chan_send_ptr(kc_chan_t *ch, void *ptr, size_t len, int64_t timeout_ns,
                     const kc_cancel_t *cancel)
{
    kc_zdesc_t d;
    if (kc_zdesc_init(&d, ptr, len, 0) != 0)
        return ch != NULL ? kc__chan_fail(ch, -EINVAL) : -EINVAL;
    return kc__chan_send_elem(ch, true, &d, timeout_ns, cancel);
}

int kc_chan_recv_ptr(kc_chan_t *ch, void **ptr, size_t *len, int64_t timeout_ns,
                     const kc_cancel_t *cancel)
{
    if (ptr == NULL)
        return ch != NULL ? kc__chan_fail(ch, -EINVAL) : -EINVAL;
    kc_zdesc_t d;
    int rc = kc__chan_recv_elem(ch, true, &d, timeout_ns, cancel);
    if (rc == 0) {
        *ptr = d.ptr;
        if (len != NULL)
            *len = d.len;
    }
    return rc;
}
