/* kc_bus_aos.c - the AoS baseline: the bus's own sources in the other layout.
 *
 * Compiles src/ (or graduated/soa_bus, for core's bench_bus: the one copy
 * of the baseline, core/bench/module.mk) once more with KC_BUS_LAYOUT_AOS (one {seq, ready, payload}
 * struct per slot; see kc_bus_impl.h) and every external name renamed, so
 * the benchmarks compare two buses that differ by layout alone: same
 * seqlock, lag detection, masks, metrics, batching and wake-ups. A name
 * missing from the list below shows up as a duplicate symbol at link time.
 */
#define KC_BUS_LAYOUT_AOS 1

#define kc_bus_autotune kc_bus_aos_autotune
#define kc_bus_create kc_bus_aos_create
#define kc_bus_release kc_bus_aos_release
#define kc_bus_msg_size kc_bus_aos_msg_size
#define kc_bus_pub_clone kc_bus_aos_pub_clone
#define kc_bus_pub_release kc_bus_aos_pub_release
#define kc_bus_subscribe kc_bus_aos_subscribe
#define kc_bus_subscribe_with_mask kc_bus_aos_subscribe_with_mask
#define kc_bus_unsubscribe kc_bus_aos_unsubscribe
#define kc_bus_publish kc_bus_aos_publish
#define kc_bus_publish_with_mask kc_bus_aos_publish_with_mask
#define kc_bus_publish_batch kc_bus_aos_publish_batch
#define kc_bus_publish_ticket kc_bus_aos_publish_ticket
#define kc_bus_try_recv_ticket kc_bus_aos_try_recv_ticket
#define kc_bus_recv_ticket kc_bus_aos_recv_ticket
#define kc_bus_try_recv kc_bus_aos_try_recv
#define kc_bus_try_recv_batch kc_bus_aos_try_recv_batch
#define kc_bus_recv kc_bus_aos_recv
#define kc_bus_recv_batch kc_bus_aos_recv_batch
#define kc_bus_metrics kc_bus_aos_metrics
#define kc_bus_sub_metrics kc_bus_aos_sub_metrics
#define kc_bus_check kc_bus_aos_check
#define kc__bus_unref kc__bus_aos_unref
#define kc__bus_wake kc__bus_aos_wake

#include "kc_bus.c"
#include "kc_bus_recv.c"
#include "kc_bus_ring.c"

#include "../bus_ops.h"

const struct kc_bus_ops kc_bus_aos_ops = {
    "bus_aos",
    kc_bus_create,
    kc_bus_release,
    kc_bus_pub_release,
    kc_bus_subscribe_with_mask,
    kc_bus_unsubscribe,
    kc_bus_publish_with_mask,
    kc_bus_publish_batch,
    kc_bus_try_recv,
    kc_bus_try_recv_batch,
    kc_bus_recv_batch,
    kc_bus_sub_metrics,
};
