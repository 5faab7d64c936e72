/* bus_ops.h - one table of entry points per ring layout, for the benchmarks.
 *
 * The SoA bus (the library) and the AoS baseline are built from the same
 * sources (src/, or graduated/soa_bus in core's bench_bus); the baseline is a second compilation with
 * KC_BUS_LAYOUT_AOS defined and every external name renamed
 * (aos/kc_bus_aos.c). Benchmarks call both through this table, so both pay
 * the same indirect call and run the same code apart from the slot layout.
 */
#ifndef KCORO_BUS_OPS_H
#define KCORO_BUS_OPS_H

#include "kcoro/bus.h"

struct kc_bus_ops {
    const char *prefix; /* figure prefix: "bus" or "bus_aos" */
    int (*create)(const kc_bus_opts_t *opts, kc_bus_t **bus, kc_bus_pub_t **pub);
    void (*release)(kc_bus_t *bus);
    void (*pub_release)(kc_bus_pub_t *pub);
    int (*subscribe_with_mask)(kc_bus_t *bus, uint64_t topics, kc_bus_sub_t **out);
    void (*unsubscribe)(kc_bus_sub_t *sub);
    int (*publish_with_mask)(kc_bus_pub_t *pub, uint64_t topics, const void *msg, size_t len);
    int (*publish_batch)(kc_bus_pub_t *pub, uint64_t topics, const void *msgs, size_t n);
    int (*try_recv)(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed);
    int (*try_recv_batch)(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n, uint64_t *missed);
    int (*recv_batch)(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n, uint64_t *missed,
                      int64_t timeout_ns, const kc_cancel_t *cancel);
    int (*sub_metrics)(const kc_bus_sub_t *sub, kc_bus_sub_metrics_t *out);
};

/* The library's SoA bus and the AoS baseline (aos/kc_bus_aos.c). */
extern const struct kc_bus_ops kc_bus_soa_ops;
extern const struct kc_bus_ops kc_bus_aos_ops;

#endif /* KCORO_BUS_OPS_H */
