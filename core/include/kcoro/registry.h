/* kcoro/registry.h - the process-wide list of named runtime objects, for monitors.
 *
 * Channels, buses, arenas and schedulers can be named and registered, so a
 * monitor (kc_monitor_start, kcoro-chanmon, a debugger script) can find them
 * without the program handing them over. Registration is opt-in: an object
 * is listed when its options carry the KC_REGISTRY_FLAG bit (KC_CHAN_REGISTER,
 * KC_SCHED_REGISTER, KC_BUS_REGISTER, KC_ARENA_REGISTER), or when the
 * process-wide switch covers its kind: the KCORO_REGISTRY environment
 * variable ("all", "none", or a comma list of kind names such as
 * "chan,sched") or kc_registry_configure(). When KCORO_REGISTRY is not set
 * and KCORO_MONITOR is (kcoro/monitor.h), everything is registered.
 *
 * Costs: registering takes one short process-wide lock at create and at
 * destroy; sends, receives, publishes and allocations never touch the
 * registry. kc_registry_foreach walks the list under the same lock: while a
 * walk runs, creating or destroying a registered object waits for it, and
 * nothing else does.
 *
 * Other modules (connections, remote channels) register their objects with
 * kc_registry_add and a kc_registry_ops_t whose metrics callback reports
 * their counters (and whose labels callback says what they are attached
 * to), so exporters show kinds they were not written for.
 */
#ifndef KCORO_REGISTRY_H
#define KCORO_REGISTRY_H

#include "kcoro/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of objects the registry lists. Each has a bit in a kind mask
 * (KC_REGISTRY_MASK). */
typedef enum kc_registry_kind {
    /* A channel (kc_chan_t). */
    KC_REGISTRY_CHAN = 1,
    /* A broadcast bus (kc_bus_t). */
    KC_REGISTRY_BUS = 2,
    /* An arena (kc_arena_t). */
    KC_REGISTRY_ARENA = 3,
    /* A scheduler (kc_sched_t). */
    KC_REGISTRY_SCHED = 4,
    /* A connection of the distribution layer (registers with ops). */
    KC_REGISTRY_CONN = 5,
    /* A remote channel endpoint of the distribution layer (with ops). */
    KC_REGISTRY_REMOTE_CHAN = 6
} kc_registry_kind_t;

/* KC_REGISTRY_KIND_MAX is the largest kind number a mask can hold. */
#define KC_REGISTRY_KIND_MAX 31

/* KC_REGISTRY_MASK(kind) is the bit of one kind in a kind mask. */
#define KC_REGISTRY_MASK(kind) (1u << (unsigned)(kind))

/* KC_REGISTRY_ALL is the kind mask of every kind. */
#define KC_REGISTRY_ALL 0xfffffffeu

/* KC_REGISTRY_FLAG is the options-flag bit that asks for registration; the
 * per-module names (KC_CHAN_REGISTER, ...) are this bit. */
#define KC_REGISTRY_FLAG (1u << 31)

/* KC_REGISTRY_NAME_MAX bounds a registered name, terminator included;
 * longer names are cut. */
#define KC_REGISTRY_NAME_MAX 32

/* How a metric reported through kc_registry_ops_t.metrics behaves. */
typedef enum kc_registry_metric_type {
    /* Only grows (events, bytes); exporters add the _total suffix. */
    KC_REGISTRY_COUNTER = 0,
    /* Goes up and down (occupancy, waiters). */
    KC_REGISTRY_GAUGE = 1
} kc_registry_metric_type_t;

/* Called by a metrics callback once per metric: name is lower_snake
 * without the kind prefix ("frames_sent"), help one short sentence; both
 * BORROWED for the call. */
typedef void (*kc_registry_emit_fn)(void *ctx, const char *name, kc_registry_metric_type_t type,
                                    double value, const char *help);

/* Called by a labels callback once per label: key is lower_snake, a
 * valid Prometheus label name other than "name" and "id" (others are
 * dropped), value any text; both BORROWED for the call. */
typedef void (*kc_registry_label_fn)(void *ctx, const char *key, const char *value);

/* KC_REGISTRY_LABELS_MAX bounds the labels an object reports; more are
 * dropped. */
#define KC_REGISTRY_LABELS_MAX 8

/* Operations of a registered object that core does not know. */
typedef struct kc_registry_ops {
    uint32_t size; /* sizeof(kc_registry_ops_t) */
    /* Report every metric of object through emit (may be NULL: no
     * metrics). Runs inside kc_registry_foreach: it must not block, park
     * or create or destroy registered objects. */
    int (*metrics)(void *object, kc_registry_emit_fn emit, void *ctx);
    /* Report what identifies the object besides its name (a remote
     * channel's connection, peer and remote name) through emit, as text
     * labels (may be NULL: none). Exporters add them to every sample of
     * the object. Same rules as metrics. */
    int (*labels)(void *object, kc_registry_label_fn emit, void *ctx);
} kc_registry_ops_t;

/* One registered object as a walk shows it. Everything is BORROWED for
 * the visit only: the object cannot be destroyed during it. */
typedef struct kc_registry_entry {
    uint32_t size;                /* sizeof(kc_registry_entry_t) */
    uint32_t kind;                /* kc_registry_kind_t */
    uint64_t id;                  /* process-wide id, never reused */
    const char *name;             /* never NULL ("chan-7" when none was given) */
    void *object;                 /* the kc_chan_t, kc_bus_t, ... */
    const kc_registry_ops_t *ops; /* NULL for the kinds core knows */
    uint64_t registered_ns;       /* monotonic time of registration */
} kc_registry_entry_t;

/* An opaque registration, from kc_registry_add to kc_registry_remove. */
typedef struct kc_registry_node kc_registry_node_t;

/* Called once per listed object; a nonzero return stops the walk and is
 * what kc_registry_foreach returns. */
typedef int (*kc_registry_visit_fn)(const kc_registry_entry_t *e, void *arg);

/* Set the process-wide switch: spec is "all", "none" or a comma list of
 * kind names ("chan", "bus", "arena", "sched", "conn", "remote_chan").
 * Objects created afterwards follow it; listed ones stay listed. Without a
 * call the switch is read from KCORO_REGISTRY on first use.
 * Errors: -EINVAL (NULL, or an unknown name: the switch is unchanged).
 * Never blocks. */
KC_API int kc_registry_configure(const char *spec);

/* Predicate: should an object of this kind, created with these option
 * flags, be registered (the flag, or the process-wide switch)? Never
 * blocks. */
KC_API bool kc_registry_wants(uint32_t kind, uint32_t flags);

/* A fresh process-wide object id (never 0, never reused). Never blocks. */
KC_API uint64_t kc_registry_new_id(void);

/* List object under kind and name (BORROWS: copied, cut to
 * KC_REGISTRY_NAME_MAX - 1 bytes; NULL: "<kind>-<id>"). id 0 takes a
 * fresh one. ops: NULL for the kinds core knows, else BORROWED for as long
 * as the registration lasts. OUT *out: GIVES the registration; end it with
 * kc_registry_remove before the object goes away.
 * Errors: -EINVAL (NULL object or out, kind 0 or above
 * KC_REGISTRY_KIND_MAX); -ENOMEM. May be called from a visitor.
 * Waits only for a walk in progress. */
KC_API int kc_registry_add(uint32_t kind, void *object, uint64_t id, const char *name,
                           const kc_registry_ops_t *ops, kc_registry_node_t **out /* OUT */);

/* End a registration (NULL is a no-op). When it returns no walk shows the
 * object any more, so the caller may free it. May be called from a
 * visitor (the walk then skips the removed entry). Waits only for a walk
 * in progress. */
KC_API void kc_registry_remove(kc_registry_node_t *node);

/* The id and name of a registration (0 and "" for NULL). Never blocks. */
KC_API uint64_t kc_registry_node_id(const kc_registry_node_t *node);
/* See kc_registry_node_id. BORROWS: valid until kc_registry_remove. */
KC_API const char *kc_registry_node_name(const kc_registry_node_t *node);

/* Call fn for every listed object whose kind is in kinds (a mask of
 * KC_REGISTRY_MASK bits; 0 = all), oldest registration first. Returns 0,
 * or the first nonzero result of fn. A visitor may walk again (nested, up
 * to 4 deep). Errors: -EINVAL (NULL fn); -EDEADLK (walks nested deeper
 * than 4). Holds the registry lock for the walk:
 * creations and destructions of registered objects wait; nothing else
 * does. Never blocks otherwise. */
KC_API int kc_registry_foreach(uint32_t kinds, kc_registry_visit_fn fn, void *arg);

/* The number of listed objects whose kind is in kinds (0 = all). */
KC_API size_t kc_registry_count(uint32_t kinds);

/* "chan", "bus", "arena", "sched", "conn", "remote_chan", or "object" for
 * other kinds. Never blocks. */
KC_API const char *kc_registry_kind_name(uint32_t kind);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_REGISTRY_H */
