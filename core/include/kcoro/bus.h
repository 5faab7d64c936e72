/* kcoro/bus.h - the lossy broadcast bus: one ring, many subscribers.
 *
 * A bus is a bounded ring of fixed-size messages in structure-of-arrays
 * layout. Publishing never waits for subscribers: when the ring is full the
 * oldest message is overwritten, and a subscriber that fell behind learns how
 * many messages it missed (KC_BUS_LAGGED) and resumes at the oldest message
 * still in the ring. Each subscriber has a 64-bit topic mask; a message
 * published with a topic mask reaches the subscribers whose masks intersect
 * it and never wakes the others. When the last publisher handle is released
 * the bus is closed: subscribers drain what is left, then get -EPIPE.
 *
 * Threading: any number of threads may publish, each through its own
 * publisher handle (kc_bus_pub_clone); a single handle, publisher or
 * subscriber, is used by one thread at a time. With one publisher handle the
 * publish path takes no lock; with several, publishes are serialised by a
 * short internal lock that never waits for a subscriber.
 */
#ifndef KCORO_BUS_H
#define KCORO_BUS_H

#include "kcoro/arena.h"
#include "kcoro/base.h"
#include "kcoro/cancel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A bus (the ring and its subscriber table). Opaque; reference counted by
 * the bus handle, its publisher handles and its subscribers. */
typedef struct kc_bus kc_bus_t;

/* A publisher handle. The bus closes when the last one is released. */
typedef struct kc_bus_pub kc_bus_pub_t;

/* A subscriber: a cursor into the ring plus its topic mask and counters. */
typedef struct kc_bus_sub kc_bus_sub_t;

/* KC_BUS_MAX_SUBS is how many subscribers one bus holds at a time: each owns
 * one bit of the per-slot ready mask. kc_bus_subscribe returns -EBUSY past it. */
#define KC_BUS_MAX_SUBS 64

/* KC_BUS_MASK_ALL is the full topic mask: subscribe to every topic, or
 * publish to every subscriber. Publishing with it takes the fast path. */
#define KC_BUS_MASK_ALL UINT64_MAX

/* KC_BUS_CAP_MAX bounds an explicit capacity (slots); larger requests get
 * -EINVAL. Capacities are powers of two from 2 up to this. */
#define KC_BUS_CAP_MAX (1u << 22)

/* KC_BUS_MSG_MAX bounds the fixed message size in bytes. Larger payloads
 * belong out of line (an arena ticket travels on the bus instead). */
#define KC_BUS_MSG_MAX 65536u

/* KC_BUS_CAP_WARN: capacities above this many slots count in the
 * autotune_warn metric; the ring then outgrows the caches it is tuned for. */
#define KC_BUS_CAP_WARN 256u

/* KC_BUS_LAGGED is the positive result of a receive that found its next
 * message overwritten: nothing was copied, *missed says how many messages
 * were lost, and the next receive resumes at the oldest live message. */
#define KC_BUS_LAGGED 1

/* KC_BUS_HIST_BUCKETS is the number of batch-length histogram buckets:
 * bucket k counts batches of 2^k to 2^(k+1)-1 messages; the last bucket also
 * holds every longer batch. */
#define KC_BUS_HIST_BUCKETS 12

/* Options for kc_bus_create. Zero-initialise, set size = sizeof(kc_bus_opts_t)
 * and msg_size; capacity 0 asks for autotuning from expected_subs. With an
 * arena the bus carries arena tickets instead of bytes (msg_size 0 or
 * sizeof(kc_arena_ticket_t)): see kc_bus_publish_ticket. */
typedef struct kc_bus_opts {
    size_t size;            /* sizeof(kc_bus_opts_t), for growth */
    size_t msg_size;        /* bytes per message, 1..KC_BUS_MSG_MAX */
    uint32_t capacity;      /* slots, a power of two; 0 = autotune */
    uint32_t expected_subs; /* autotune hint: <=4 -> 64, <=16 -> 128, else 256 */
    kc_arena_t *arena;      /* BORROWS until the bus is freed; NULL = byte messages */
    uint32_t flags;         /* 0 or KC_BUS_REGISTER (older, shorter structs: 0) */
    const char *name;       /* BORROWS: copied (31 bytes); NULL = "bus-<id>" */
} kc_bus_opts_t;

/* KC_BUS_REGISTER (in kc_bus_opts_t.flags) lists the bus in the registry
 * (kcoro/registry.h) under its name until its memory goes; KCORO_REGISTRY
 * can do it for every bus. Publishing and receiving never touch it. */
#define KC_BUS_REGISTER (1u << 31)

/* Bus-wide counters, read by a wait-free snapshot (kc_bus_metrics). */
typedef struct kc_bus_metrics {
    size_t size;                /* set by the caller: sizeof(kc_bus_metrics_t) */
    uint64_t published;         /* messages published */
    uint64_t no_receivers;      /* messages published to no subscriber */
    uint64_t receiver_lag;      /* messages subscribers missed (sum of lagged) */
    uint64_t notify_sends;      /* wake-ups sent (to receivers that armed to sleep) */
    uint64_t notify_suppressed; /* addressed receivers not waiting: no wake-up needed */
    uint64_t batch_publish;     /* kc_bus_publish_batch calls */
    uint64_t batch_len_hist[KC_BUS_HIST_BUCKETS]; /* batch lengths, log2 */
    uint64_t autotune_warn;    /* buses created with capacity > KC_BUS_CAP_WARN */
    uint32_t cap_selected;     /* capacity in slots */
    uint32_t subscribers;      /* subscribers the publisher currently serves */
    uint64_t msg_size;         /* bytes per message */
    uint64_t tickets_released; /* ticket references the bus dropped (overwrite, free) */
    uint64_t tickets_stale;    /* tickets overwritten between a reader's copy and retain */
    uint64_t id;               /* process-wide bus id (the registry's) */
    char name[32];             /* opts.name, or "bus-<id>" */
} kc_bus_metrics_t;

/* Per-subscriber counters (kc_bus_sub_metrics). Once a subscriber has
 * joined, published-since-start = delivered + lagged + filtered + unread. */
typedef struct kc_bus_sub_metrics {
    size_t size;        /* set by the caller: sizeof(kc_bus_sub_metrics_t) */
    uint64_t delivered; /* messages copied out to the caller */
    uint64_t lagged;    /* messages overwritten before they were read */
    uint64_t filtered;  /* messages skipped: not addressed to this subscriber */
    uint64_t notified;  /* wake-ups sent to it (one per time it armed to sleep) */
    uint64_t parks;     /* times its blocking receive went to sleep */
    uint64_t start_seq; /* first sequence it could see (valid once joined) */
    uint64_t next_seq;  /* the sequence it reads next */
    uint64_t topics;    /* its topic mask */
    bool joined;        /* a publisher has assigned its start sequence */
} kc_bus_sub_metrics_t;

/* kc_bus_create makes a bus and its first publisher handle.
 * OUT *bus: GIVES a bus handle, released with kc_bus_release.
 * OUT *pub: GIVES a publisher handle, released with kc_bus_pub_release.
 * Errors: -EINVAL (NULL arguments, opts->size too small, msg_size 0 or
 * > KC_BUS_MSG_MAX, capacity not a power of two in 2..KC_BUS_CAP_MAX,
 * flags other than KC_BUS_REGISTER),
 * -ENOMEM. On error nothing is allocated.
 * Never blocks. */
KC_API int kc_bus_create(const kc_bus_opts_t *opts, kc_bus_t **bus, kc_bus_pub_t **pub);

/* kc_bus_release drops the bus handle. The memory goes when the bus handle,
 * every publisher handle and every subscriber are released. NULL is a no-op.
 * Never blocks. */
KC_API void kc_bus_release(kc_bus_t *bus);

/* kc_bus_autotune returns the capacity kc_bus_create picks: explicit when
 * nonzero (returned as is), else 64 for <= 4 expected subscribers, 128 for
 * <= 16, 256 above. Never blocks. */
KC_API uint32_t kc_bus_autotune(uint32_t expected_subs, uint32_t explicit_cap);

/* kc_bus_msg_size returns the fixed message size of a bus in bytes (0 for
 * NULL). Never blocks. */
KC_API size_t kc_bus_msg_size(const kc_bus_t *bus);

/* kc_bus_pub_clone makes another publisher handle for the same bus, for
 * another thread. Call it from the thread that owns pub.
 * OUT *out: GIVES a handle, released with kc_bus_pub_release.
 * Errors: -EINVAL (NULL), -EPIPE (pub already released), -ENOMEM.
 * Never blocks. */
KC_API int kc_bus_pub_clone(kc_bus_pub_t *pub, kc_bus_pub_t **out);

/* kc_bus_pub_release drops a publisher handle. Releasing the last one closes
 * the bus and wakes every subscriber. NULL is a no-op.
 * Never blocks. */
KC_API void kc_bus_pub_release(kc_bus_pub_t *pub);

/* kc_bus_publish copies len bytes into the next slot (bytes past len up to
 * msg_size read as zero), overwriting the oldest message when the ring is
 * full, and wakes subscribers whose pending flag goes 0 -> 1.
 * BORROWS msg for the call.
 * Returns the number of subscribers the message is addressed to (0 counts
 * in no_receivers). Errors: -EINVAL (NULL), -EMSGSIZE (len > msg_size).
 * Never blocks on subscribers. */
KC_API int kc_bus_publish(kc_bus_pub_t *pub, const void *msg, size_t len);

/* kc_bus_publish_with_mask publishes to the subscribers whose topic masks
 * intersect topics (KC_BUS_MASK_ALL: all of them, the fast path).
 * Results and errors as kc_bus_publish, plus -EINVAL for topics == 0.
 * Never blocks on subscribers. */
KC_API int kc_bus_publish_with_mask(kc_bus_pub_t *pub, uint64_t topics, const void *msg,
                                    size_t len);

/* kc_bus_publish_batch publishes n messages of msg_size bytes each, stored
 * back to back in msgs, with one notify sweep for the whole batch (and one
 * pair of release fences per ring's worth of messages).
 * BORROWS msgs for the call. Returns the number of subscribers addressed.
 * Errors: -EINVAL (NULL, n == 0, n > INT_MAX, topics == 0).
 * Never blocks on subscribers. */
KC_API int kc_bus_publish_batch(kc_bus_pub_t *pub, uint64_t topics, const void *msgs, size_t n);

/* kc_bus_subscribe adds a subscriber to every topic (KC_BUS_MASK_ALL). */
KC_API int kc_bus_subscribe(kc_bus_t *bus, kc_bus_sub_t **out);

/* kc_bus_subscribe_with_mask adds a subscriber for the given topics. It
 * sees the messages published after a publisher next picks it up (its start
 * sequence); nothing older is replayed.
 * OUT *out: GIVES a subscriber, released with kc_bus_unsubscribe.
 * Errors: -EINVAL (NULL, topics == 0), -EBUSY (KC_BUS_MAX_SUBS in use),
 * -EPIPE (the bus is already closed).
 * Never blocks. */
KC_API int kc_bus_subscribe_with_mask(kc_bus_t *bus, uint64_t topics, kc_bus_sub_t **out);

/* kc_bus_unsubscribe releases a subscriber; publishers stop addressing it
 * from their next publish on. NULL is a no-op. Never blocks. */
KC_API void kc_bus_unsubscribe(kc_bus_sub_t *sub);

/* kc_bus_try_recv takes the subscriber's next message without waiting.
 * OUT buf: len >= msg_size bytes, filled on 0. OUT *missed (may be NULL):
 * on KC_BUS_LAGGED, how many messages were lost.
 * Returns 0 (a message in buf), KC_BUS_LAGGED (missed > 0, buf untouched),
 * -EAGAIN (nothing new), -EPIPE (closed and drained), -EINVAL (NULL buf or
 * sub), -EMSGSIZE (len < msg_size).
 * Never blocks. */
KC_API int kc_bus_try_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed);

/* kc_bus_try_recv_batch takes up to *n of the subscriber's next messages
 * without waiting, stored back to back (msg_size bytes each) in buf. It
 * reads the slot words of the run first, copies the run and validates it
 * once, so it costs less per message than kc_bus_try_recv.
 * INOUT *n: in, room in buf in messages (>= 1); out, messages copied (>= 1
 * on 0, else 0). OUT buf: len >= *n * msg_size bytes. OUT *missed as
 * kc_bus_try_recv.
 * Returns as kc_bus_try_recv; -EINVAL also for NULL n or *n == 0.
 * Never blocks. */
KC_API int kc_bus_try_recv_batch(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n,
                                 uint64_t *missed);

/* kc_bus_recv is kc_bus_try_recv that waits up to timeout_ns (KC_NO_TIMEOUT
 * = forever, 0 or any other negative value = try once: the rule of
 * kcoro/base.h) for a message or the close, unless cancel (NULL =
 * not cancellable) fires first.
 * Returns as kc_bus_try_recv, plus -ETIME when the deadline passed first
 * (-EAGAIN only for timeout 0) and -ECANCELED when cancel fired (it wins over
 * the deadline, and over -EAGAIN; a message or the close that is already
 * there wins over cancel).
 * Can block or yield: a coroutine on a scheduler worker parks its task, a
 * plain thread parks on a futex, until a publisher's notify. */
KC_API int kc_bus_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed,
                       int64_t timeout_ns, const kc_cancel_t *cancel);

/* kc_bus_recv_batch is kc_bus_try_recv_batch that waits like kc_bus_recv
 * when nothing is there. Returns as kc_bus_try_recv_batch, plus -ETIME and
 * -ECANCELED as kc_bus_recv.
 * Can block or yield, as kc_bus_recv. */
KC_API int kc_bus_recv_batch(kc_bus_sub_t *sub, void *buf, size_t len, size_t *n, uint64_t *missed,
                             int64_t timeout_ns, const kc_cancel_t *cancel);

/* Arena tickets. A bus created with an arena (kc_bus_opts_t.arena) carries
 * kc_arena_ticket_t values and owns one reference per ticket in the ring:
 * it drops it when the slot is overwritten or when the bus is freed, so
 * every published ticket is released exactly once by the bus. A reader
 * that receives a ticket gets its own reference (taken with
 * kc_arena_retain) and releases it with kc_arena_release. The byte
 * functions (kc_bus_publish*, kc_bus_try_recv*, kc_bus_recv*) return
 * -ENOTSUP on such a bus, and the ticket functions on a byte bus. */

/* kc_bus_publish_ticket publishes a ticket to the subscribers whose topic
 * masks intersect topics, and drops the bus's reference to the ticket it
 * overwrites, if any.
 * TAKES the caller's reference to ticket on success; on error the caller
 * keeps it. Returns the number of subscribers addressed.
 * Errors: -EINVAL (NULL pub, null ticket, topics == 0), -ENOTSUP (no arena).
 * Never blocks on subscribers. */
KC_API int kc_bus_publish_ticket(kc_bus_pub_t *pub, uint64_t topics, kc_arena_ticket_t ticket);

/* kc_bus_try_recv_ticket takes the subscriber's next ticket without
 * waiting. OUT *ticket: on 0, GIVES a reference (kc_arena_release it).
 * Returns as kc_bus_try_recv; a ticket overwritten (and released by the bus)
 * between the copy and the retain counts as one lagged message
 * (KC_BUS_LAGGED, *missed = 1, tickets_stale). -ENOTSUP on a byte bus.
 * Never blocks. */
KC_API int kc_bus_try_recv_ticket(kc_bus_sub_t *sub, kc_arena_ticket_t *ticket, uint64_t *missed);

/* kc_bus_recv_ticket is kc_bus_try_recv_ticket that waits like kc_bus_recv
 * (timeout, cancel). Returns as kc_bus_recv.
 * Can block or yield, as kc_bus_recv. */
KC_API int kc_bus_recv_ticket(kc_bus_sub_t *sub, kc_arena_ticket_t *ticket, uint64_t *missed,
                              int64_t timeout_ns, const kc_cancel_t *cancel);

/* kc_bus_metrics takes a wait-free snapshot of the bus counters. Set
 * out->size first; fields beyond it are left alone.
 * Errors: -EINVAL (NULL, size too small for the first counter).
 * Never blocks. */
KC_API int kc_bus_metrics(const kc_bus_t *bus, kc_bus_metrics_t *out);

/* kc_bus_sub_metrics takes a wait-free snapshot of one subscriber's
 * counters; set out->size first. Errors: -EINVAL. Never blocks. */
KC_API int kc_bus_sub_metrics(const kc_bus_sub_t *sub, kc_bus_sub_metrics_t *out);

/* kc_bus_check verifies the bus invariants (numbered in kc_bus.c) and
 * returns 0, or -EPROTO naming the broken invariant on stderr (-EINVAL for
 * NULL). Exact only
 * while no thread publishes or receives. Never blocks. */
KC_API int kc_bus_check(const kc_bus_t *bus);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_BUS_H */
