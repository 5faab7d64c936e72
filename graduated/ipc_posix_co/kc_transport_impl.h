/* kc_transport_impl.h - private to the transport module: the endpoint
 * wrapper, the built-in backends and the deadline helpers they share.
 *
 * Internal services of core used here (declared, not copied): the port
 * layer's monotonic clock and UNIX peer credentials (port/kc_port.h) and the
 * KCORO_DEBUG log (base/kc_debug.h).
 */
#ifndef KCORO_KC_TRANSPORT_IMPL_H
#define KCORO_KC_TRANSPORT_IMPL_H

#include "kcoro/transport.h"

#include "port/kc_port.h"
#include "sched/kc_sched_svc.h"

#include <stdatomic.h>
#include <stdint.h>

/* An endpoint: its backend and the backend's object. */
struct kc_transport {
    const kc_transport_ops_t *ops;
    void *self;
    bool listener;
};

/* The built-in backends. */
extern const kc_transport_ops_t kc__transport_unix_ops;
extern const kc_transport_ops_t kc__transport_mem_ops;

/* An absolute deadline for a relative timeout, by core's one rule
 * (sched/kc_sched_svc.h): KC__DEADLINE_NEVER for KC_NO_TIMEOUT, 0 (passed)
 * for 0 and every other negative value, now + timeout otherwise
 * (saturating). The kc_transport_* wrappers normalise the timeout first
 * (kc__timeout_norm), so backends only ever see KC_NO_TIMEOUT or >= 0. */
static inline int64_t kc__tp_deadline(int64_t timeout_ns)
{
    return kc__deadline_after(timeout_ns);
}

/* What is left of a deadline from kc__tp_deadline(): KC_NO_TIMEOUT for
 * none, 0 when it has passed (a "try once" for the calls it is given to). */
static inline int64_t kc__tp_left(int64_t deadline)
{
    return kc__deadline_left(deadline);
}

/* Whether t's backend says KC_TRANSPORT_OPS_WHOLE (a try-once send of a
 * small frame never cuts it). Never blocks. */
bool kc__transport_whole(const kc_transport_t *t);

/* Refusal causes of a listener, one bit each for "logged once". */
enum {
    KC_TP_REFUSED_CRED = 1,
    KC_TP_REFUSED_LIMIT = 2
};

/* Log a listener's refusal under KCORO_DEBUG=log, once per cause per
 * listener (*logged keeps the causes already logged). */
void kc__tp_log_refusal(_Atomic unsigned *logged, unsigned cause, const char *where,
                        const char *why);

#endif /* KCORO_KC_TRANSPORT_IMPL_H */
