/* kcoro/chan.h - channels and select: typed hand-off between coroutines and threads.
 *
 * A channel moves elements from senders to receivers in FIFO order. Its
 * kind fixes how many it holds: RENDEZVOUS (none: a send waits for a
 * receiver), BUFFERED (a fixed capacity, with an overflow policy for a full
 * buffer), UNLIMITED (grows as needed) or CONFLATED (keeps only the newest).
 * An element is either a fixed number of bytes, copied in and out, or a
 * zero-copy descriptor (kcoro/zdesc.h) whose region moves by reference.
 *
 * A channel may have an arena attached (kc_chan_opts_t.arena). A
 * descriptor channel then checks every arena ticket it is sent (-ESTALE for
 * a released or forged one) and releases itself the references of owned
 * descriptors that are never received. A byte channel with an arena keeps
 * its elements in the arena instead of its ring ("boxed"): a copy send
 * places the bytes in the arena once and the ring carries the ticket, so
 * large elements cost ring memory only while they are buffered, and the
 * descriptor calls work on it too: kc_chan_recv_desc takes an element
 * without copying it out, kc_chan_send_desc hands in an arena descriptor
 * of exactly elem_size bytes without copying it in (core/docs/ZERO_COPY.md).
 *
 * Every blocking call works from a kcoro coroutine (it parks the coroutine
 * and its worker runs others) and from a plain thread (it parks the thread),
 * takes a relative timeout (KC_NO_TIMEOUT: none; 0 or any other negative
 * value: try once; the rule of kcoro/base.h) and a
 * cancellation token (NULL: none). Results are 0 or a negative errno; the
 * full table is core/docs/ERROR_SEMANTICS.md, the policies and ownership
 * rules core/docs/CHANNELS.md. In short:
 *   -EAGAIN     would block (try-variants, zero timeout)
 *   -ETIME      the timeout passed first
 *   -ECANCELED  the token fired first (it wins over the timeout; a token
 *               that has already fired at the call fails it at once)
 *   -EPIPE      closed: sends fail at once, receives after the buffer drains
 *   -EINVAL     bad argument (also: a copy call on a descriptor channel or
 *               the reverse); nothing changed
 *   -ENOMEM     an UNLIMITED channel could not grow; nothing changed
 *   -EMSGSIZE   a descriptor longer than the channel's max_desc_len
 *   -ESTALE     (arena attached) a descriptor whose ticket is not live
 * An operation that fails leaves its element with the caller; one that
 * succeeds has handed it over (to a receiver, the buffer, or, when the
 * policy drops it, the undelivered callback). A peer's match wins over a
 * timeout or cancellation that comes later: the call then returns 0. A
 * cancellation that comes first wins over a later match or close, even
 * before the waiting party has run again: they pass it by.
 *
 * Channel lifecycle:
 *
 *   state   event                                   next    done by
 *   ------  --------------------------------------  ------  ----------------
 *   OPEN    send / receive                          OPEN    kc_chan_send...
 *   OPEN    close: waiting parties get -EPIPE       CLOSED  kc_chan_close
 *   CLOSED  receive while elements remain           CLOSED  kc_chan_recv...
 *   CLOSED  send, or receive once drained: -EPIPE   CLOSED  kc_chan_send...
 *   any     destroy (nobody waiting): leftovers go  (freed) kc_chan_destroy
 *           to the undelivered callback
 */
#ifndef KCORO_CHAN_H
#define KCORO_CHAN_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/zdesc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque channel handle, valid from kc_chan_create() to kc_chan_destroy(). */
typedef struct kc_chan kc_chan_t;

/* How many elements a channel holds. */
typedef enum kc_chan_kind {
    /* No buffer: each send waits until a receiver takes the element (and
     * each receive until a sender offers one). */
    KC_CHAN_RENDEZVOUS = 0,
    /* A ring of `capacity` elements; a send to a full ring follows the
     * channel's overflow policy. */
    KC_CHAN_BUFFERED = 1,
    /* A ring that grows (and shrinks back after bursts); sends never wait
     * and fail only with -ENOMEM. */
    KC_CHAN_UNLIMITED = 2,
    /* One slot; a send replaces the element nobody received yet (the
     * replaced one goes to the undelivered callback). Latest-value state. */
    KC_CHAN_CONFLATED = 3
} kc_chan_kind_t;

/* What a send to a full BUFFERED channel does. Other kinds take SUSPEND
 * (CONFLATED also accepts DROP_OLDEST, which is what it does anyway). */
typedef enum kc_chan_policy {
    /* Wait for room (up to the timeout). The default. */
    KC_CHAN_SUSPEND = 0,
    /* Make room by dropping the oldest buffered element (to the undelivered
     * callback) and succeed at once. Keeps the newest data. */
    KC_CHAN_DROP_OLDEST = 1,
    /* Drop the element being sent (to the undelivered callback) and succeed
     * at once. Keeps the oldest data. */
    KC_CHAN_DROP_LATEST = 2
} kc_chan_policy_t;

/* Called exactly once for every element that was sent (the send returned
 * 0) but will never be received: dropped by DROP_OLDEST or DROP_LATEST,
 * replaced in a CONFLATED channel, or still buffered at kc_chan_destroy().
 * elem points at the element (elem_size bytes) or, on a descriptor channel,
 * at its kc_zdesc_t; the callback owns what it names (for a descriptor with
 * KC_ZDESC_OWNED, it must release the region) and may copy it, but elem
 * itself is BORROWED for the call only. With an arena attached, the
 * channel releases what it can itself, right after the call: the callback
 * gets the bytes of a boxed element, and a descriptor carrying a ticket
 * with KC_ZDESC_OWNED cleared (the payload is readable during the call;
 * the callback must not release it). It runs with the channel's lock
 * held: it must be short and must not call into the same channel, block,
 * park or yield. */
typedef void (*kc_chan_undelivered_fn)(void *elem, size_t elem_size, void *arg);

/* Options for kc_chan_create(). Initialise with KC_CHAN_OPTS_INIT and set
 * what differs. */
typedef struct kc_chan_opts {
    uint32_t size;                         /* sizeof(kc_chan_opts_t); set by the initialiser */
    uint32_t flags;                        /* 0 or KC_CHAN_REGISTER */
    kc_chan_kind_t kind;                   /* KC_CHAN_* kind */
    kc_chan_policy_t policy;               /* overflow policy (BUFFERED; see above) */
    size_t capacity;                       /* BUFFERED: 1..KC_CHAN_MAX_CAPACITY; others: 0 */
    size_t elem_size;                      /* bytes per copied element (1..KC_CHAN_MAX_ELEM),
                                        or 0 for a descriptor channel */
    size_t max_desc_len;                   /* descriptor channels: longest payload
                                        accepted (-EMSGSIZE beyond); 0 = any */
    kc_chan_undelivered_fn on_undelivered; /* may be NULL (drops are only counted) */
    void *undelivered_arg;                 /* passed to on_undelivered */
    const char *name;                      /* BORROWS: copied (first 31 bytes); for
                                        kc_chan_dump, snapshots and the registry;
                                        NULL = none */
    kc_arena_t *arena;                     /* BORROWS: must outlive the channel; NULL =
                                              none (see the top of this file) */
} kc_chan_opts_t;

/* KC_CHAN_OPTS_INIT is the initialiser for kc_chan_opts_t: a rendezvous
 * channel of descriptors, SUSPEND, no callback, no arena. */
#define KC_CHAN_OPTS_INIT                                                                          \
    {                                                                                              \
        sizeof(kc_chan_opts_t), 0, KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 0, 0, 0, NULL, NULL, NULL, \
            NULL                                                                                   \
    }

/* KC_CHAN_REGISTER (in kc_chan_opts_t.flags) lists the channel in the
 * registry (kcoro/registry.h) under its name, for monitors; KCORO_REGISTRY
 * can do it for every channel. Costs nothing on send and receive. */
#define KC_CHAN_REGISTER (1u << 31)

/* KC_CHAN_MAX_CAPACITY bounds a BUFFERED channel's capacity (2^30).
 * Creation commits at most 16 MiB of the ring whatever the capacity (a
 * larger ring is committed as elements are buffered); a ring the address
 * space cannot hold fails with -ENOMEM (core/docs/CHANNELS.md). */
#define KC_CHAN_MAX_CAPACITY ((size_t)1 << 30)

/* KC_CHAN_MAX_ELEM bounds the size of a copied element (64 KiB); larger
 * payloads belong in descriptors. */
#define KC_CHAN_MAX_ELEM ((size_t)64 << 10)

/* KC_CHAN_MAX_ARENA_ELEM bounds the element of a byte channel with an
 * arena attached (4 GiB - 1, an arena ticket's length): its ring holds
 * tickets, so the element size costs nothing until elements are sent. */
#define KC_CHAN_MAX_ARENA_ELEM ((size_t)UINT32_MAX)

/* Create a channel as opts describes.
 * OUT *out: GIVES a channel; free it with kc_chan_destroy().
 * Errors: -EINVAL (NULL out or opts, opts->size too small, unknown kind,
 * capacity or policy that does not fit the kind, elem_size above
 * KC_CHAN_MAX_ELEM, or above KC_CHAN_MAX_ARENA_ELEM with an arena, flags
 * other than KC_CHAN_REGISTER); -ENOMEM (also: the ring does not fit the
 * address space). An opts struct from before the arena field (a smaller
 * size) is accepted as having no arena. Never blocks. */
KC_API int kc_chan_create(kc_chan_t **out, const kc_chan_opts_t *opts);

/* Shorthand for kc_chan_create(): kind, capacity (BUFFERED only) and
 * elem_size (0 = descriptors), policy SUSPEND, no callback.
 * OUT *out: GIVES a channel. Errors as kc_chan_create(). Never blocks. */
KC_API int kc_chan_make(kc_chan_t **out, kc_chan_kind_t kind, size_t capacity, size_t elem_size);

/* Free a channel no call is inside. Elements still buffered go to the
 * undelivered callback first (counted as undelivered); with an arena
 * attached, the channel then releases their references. NULL is a no-op.
 * The lifetime rule (core/docs/ERROR_SEMANTICS.md): a call that was
 * waiting and has been woken (by a close, a peer, its timeout or its
 * token) is still inside until its last touch, and destroy returns 0 only
 * after that; it waits a short, bounded while for such calls to leave.
 * So `kc_chan_close(ch); while (kc_chan_destroy(ch) == -EBUSY) yield;`
 * is safe from any thread or coroutine.
 * Errors: -EBUSY when a send, receive or select is still waiting on it
 * (close it first), or a woken one did not leave within the bounded wait;
 * nothing changes. Never blocks for long (may yield a few times). */
KC_API int kc_chan_destroy(kc_chan_t *ch);

/* Close the channel: later sends fail with -EPIPE, receives still get what
 * is buffered and then -EPIPE; every waiting send and receive (and select
 * clause) returns -EPIPE now. Senders keep their elements.
 * Errors: -EINVAL (NULL); -EPIPE (already closed; nothing changes).
 * Never blocks (wakes the waiters). */
KC_API int kc_chan_close(kc_chan_t *ch);

/* kc_chan_close, recording reason (any int; by convention 0 for a normal
 * end, a negative errno for a failure) for kc_chan_close_reason(): Kotlin's
 * close(cause). A channel closed already keeps its first reason.
 * Errors: -EINVAL (NULL); -EPIPE (already closed). Never blocks. */
KC_API int kc_chan_close_with(kc_chan_t *ch, int reason);

/* The reason the channel was closed with (kc_chan_close_with, or a
 * producer's status: kcoro/produce.h); 0 while open, after kc_chan_close,
 * and for NULL. Receivers read it once they got -EPIPE. Never blocks. */
KC_API int kc_chan_close_reason(const kc_chan_t *ch);

/* Predicate: has the channel been closed? False for NULL. Never blocks. */
KC_API bool kc_chan_is_closed(const kc_chan_t *ch);

/* Elements buffered right now (send index - receive index; 0 for NULL).
 * A relaxed read: exact when nobody is sending or receiving. Never blocks. */
KC_API size_t kc_chan_len(const kc_chan_t *ch);

/* The capacity: 0 (rendezvous), n (buffered), 1 (conflated) or SIZE_MAX
 * (unlimited); 0 for NULL. Never blocks. */
KC_API size_t kc_chan_capacity(const kc_chan_t *ch);

/* The bytes of a copied element (boxed ones too), or 0 for a descriptor
 * channel (and NULL). */
KC_API size_t kc_chan_elem_size(const kc_chan_t *ch);

/* Send elem_size bytes from msg (copied; BORROWS msg for the call). On a
 * channel with an arena the bytes are copied into the arena first (one
 * allocation, released again if the send fails). Returns 0 when the
 * element was handed over. Errors: -EAGAIN, -ETIME, -ECANCELED, -EPIPE,
 * -EINVAL (NULL, descriptor channel), -ENOMEM (UNLIMITED, or
 * the arena is full: nothing was sent), -EMSGSIZE (the arena cannot hold
 * elem_size bytes). Can block (a thread) or yield (a coroutine). */
KC_API int kc_chan_send(kc_chan_t *ch, const void *msg, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* Receive one element into out (elem_size bytes). On a channel with an
 * arena the element is copied out of the arena and its reference released.
 * Returns 0. Errors: -EAGAIN, -ETIME, -ECANCELED, -EPIPE (closed and
 * drained), -EINVAL, -ESTALE (arena: the element's ticket was released
 * behind the channel's back; it is consumed and counted).
 * Can block (a thread) or yield (a coroutine). */
KC_API int kc_chan_recv(kc_chan_t *ch, void *out /* OUT */, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* kc_chan_send / kc_chan_recv with timeout 0: never block. */
KC_API int kc_chan_try_send(kc_chan_t *ch, const void *msg);
/* See kc_chan_try_send. */
KC_API int kc_chan_try_recv(kc_chan_t *ch, void *out /* OUT */);

/* Send a descriptor (copied by value; the region is not touched).
 * TAKES *d on success: the receiver (or the undelivered callback, or the
 * channel's arena) now owns an OWNED region; on failure it stays with the
 * caller. On a byte channel with an arena, d must be an OWNED descriptor
 * of that arena of exactly elem_size bytes; it moves in without a copy.
 * Errors: as kc_chan_send, plus -EINVAL (kc_zdesc_check fails, a copy
 * channel without an arena, or on one with an arena: not OWNED, no ticket,
 * shorter than elem_size), -EMSGSIZE (d->len above max_desc_len or
 * elem_size) and -ESTALE (arena attached: the ticket is released, reused
 * or forged, or d's ptr/len do not match it). Can block or yield. */
KC_API int kc_chan_send_desc(kc_chan_t *ch, const kc_zdesc_t *d, int64_t timeout_ns,
                             const kc_cancel_t *cancel);

/* Receive a descriptor into *out. GIVES: with KC_ZDESC_OWNED set, the
 * caller now releases the region. On a byte channel with an arena this
 * takes the element without copying it out: *out is an OWNED descriptor
 * of the arena (release it with kc_zdesc_release). Errors: as kc_chan_recv
 * (-EINVAL also for a copy channel without an arena). Can block or yield. */
KC_API int kc_chan_recv_desc(kc_chan_t *ch, kc_zdesc_t *out /* OUT */, int64_t timeout_ns,
                             const kc_cancel_t *cancel);

/* Descriptor try-variants: timeout 0, never block. */
KC_API int kc_chan_try_send_desc(kc_chan_t *ch, const kc_zdesc_t *d);
/* See kc_chan_try_send_desc. */
KC_API int kc_chan_try_recv_desc(kc_chan_t *ch, kc_zdesc_t *out /* OUT */);

/* Send a pointer and length as a borrowed descriptor (flags 0): the
 * receiver gets the same pointer; nothing is copied and nobody frees it.
 * Errors and blocking as kc_chan_send_desc. */
KC_API int kc_chan_send_ptr(kc_chan_t *ch, void *ptr, size_t len, int64_t timeout_ns,
                            const kc_cancel_t *cancel);

/* Receive a descriptor and return its pointer and length (len may be
 * NULL). The descriptor's flags are lost, so use it on channels whose
 * senders use kc_chan_send_ptr (a byte channel with an arena refuses it:
 * -EINVAL). Errors and blocking as kc_chan_recv_desc. */
KC_API int kc_chan_recv_ptr(kc_chan_t *ch, void **ptr /* OUT */, size_t *len /* OUT */,
                            int64_t timeout_ns, const kc_cancel_t *cancel);

/* ------------------------------------------------------------------ select */

/* What a select clause does. */
typedef enum kc_chan_clause_op {
    /* Send *buf (elem_size bytes, or a kc_zdesc_t on a descriptor channel). */
    KC_CHAN_CLAUSE_SEND = 1,
    /* Receive into buf (elem_size bytes, or a kc_zdesc_t). */
    KC_CHAN_CLAUSE_RECV = 2
} kc_chan_clause_op_t;

/* One clause of kc_chan_select(), caller-allocated (an array). Fill with
 * KC_CHAN_CLAUSE_SEND_INIT / KC_CHAN_CLAUSE_RECV_INIT. */
typedef struct kc_chan_clause {
    uint32_t size;   /* sizeof(kc_chan_clause_t); set by the initialisers */
    uint32_t op;     /* kc_chan_clause_op_t */
    kc_chan_t *chan; /* BORROWS: the channel */
    void *buf;       /* SEND: BORROWS the element; RECV: OUT, where it lands (elem_size
                        bytes on a byte channel, with or without an arena) */
    int result;      /* OUT: for the clause that fired, 0 or -EPIPE (closed) */
} kc_chan_clause_t;

/* KC_CHAN_CLAUSE_SEND_INIT(ch, elem) is a clause sending *elem on ch. */
#define KC_CHAN_CLAUSE_SEND_INIT(ch, elem)                                                         \
    {                                                                                              \
        sizeof(kc_chan_clause_t), KC_CHAN_CLAUSE_SEND, (ch), (void *)(elem), 0                     \
    }
/* KC_CHAN_CLAUSE_RECV_INIT(ch, out) is a clause receiving into out from ch. */
#define KC_CHAN_CLAUSE_RECV_INIT(ch, out)                                                          \
    {                                                                                              \
        sizeof(kc_chan_clause_t), KC_CHAN_CLAUSE_RECV, (ch), (out), 0                              \
    }

/* KC_CHAN_CLAUSE_OFF, ORed into a clause's op, turns the clause off: the
 * select skips it, as Go skips a nil channel, and its chan and buf are not
 * looked at. A clause whose chan is NULL is off too. Turning clauses on and
 * off keeps their indices, so a loop never rebuilds its array. */
#define KC_CHAN_CLAUSE_OFF 0x100u

/* KC_CHAN_CLAUSE_DISCARD_INIT(ch) is a receive clause without a buffer: the
 * element it takes is thrown away (an owned descriptor from a channel with
 * an arena is released to it). */
#define KC_CHAN_CLAUSE_DISCARD_INIT(ch) KC_CHAN_CLAUSE_RECV_INIT(ch, NULL)

/* Turn clause c on (on true) or off (KC_CHAN_CLAUSE_OFF). Never blocks. */
static inline void kc_chan_clause_enable(kc_chan_clause_t *c, bool on)
{
    c->op = on ? (c->op & ~KC_CHAN_CLAUSE_OFF) : (c->op | KC_CHAN_CLAUSE_OFF);
}

/* KC_CHAN_SELECT_BIASED tries the clauses in array order and takes the
 * first ready one: put the clause that must win (a stop channel) first. */
#define KC_CHAN_SELECT_BIASED 0u
/* KC_CHAN_SELECT_UNBIASED tries them in a fresh random order each call, so
 * no ready clause starves another. */
#define KC_CHAN_SELECT_UNBIASED 1u

/* KC_CHAN_SELECT_MAX bounds the number of clauses of one select. */
#define KC_CHAN_SELECT_MAX 64

/* Wait until one clause can complete, complete exactly that one, and
 * return its index. A clause whose channel is closed is ready too: it
 * fires with result -EPIPE (a receive only once the channel is drained).
 * Nothing happens on the other clauses. The same channel may appear in
 * several clauses. flags: KC_CHAN_SELECT_BIASED or _UNBIASED.
 * Clauses that are off (KC_CHAN_CLAUSE_OFF, or a NULL chan) are skipped and
 * never fire; a receive clause with a NULL buf discards what it takes (on
 * a descriptor channel only with an arena attached, which gets an owned
 * descriptor's reference back; without one: -EINVAL). When every clause is
 * off the select waits only for its timeout (-ETIME; 0: -EAGAIN at once;
 * KC_NO_TIMEOUT: forever) or its cancellation (-ECANCELED).
 * Errors: -EAGAIN (timeout 0 and nothing ready), -ETIME, -ECANCELED,
 * -EINVAL (NULL or empty clauses, n > KC_CHAN_SELECT_MAX, a clause with a
 * bad size or op, a send clause without a buffer, unknown flags), -EMSGSIZE
 * (a send clause's descriptor is too long), -ESTALE (a send clause's
 * arena ticket is not live), -ENOMEM (more than 8 clauses and no memory
 * for their tokens, an UNLIMITED ring could not grow, or a send clause on
 * a channel with an arena found the arena full); nothing happened then.
 * Send clauses on byte channels with an arena copy their element into the
 * arena before waiting; the copies of the clauses that do not fire are
 * released before select returns.
 * Can block (a thread) or yield (a coroutine). */
KC_API int kc_chan_select(kc_chan_clause_t *clauses /* INOUT */, size_t n, uint32_t flags,
                          int64_t timeout_ns, const kc_cancel_t *cancel);

/* ------------------------------------------------------------------ metrics */

/* KC_CHAN_METRICS_VERSION is what kc_chan_snapshot() writes into
 * metrics_version; it grows when a counter is added or changes meaning.
 * Version 3 added id and name; a caller whose size is
 * KC_CHAN_SNAPSHOT_V2_SIZE gets the version 2 layout (metrics_version 2). */
#define KC_CHAN_METRICS_VERSION 3u

/* Failed operations by result code. */
typedef struct kc_chan_failures {
    uint64_t eagain;    /* would block (try, zero timeout, select) */
    uint64_t etime;     /* timed out */
    uint64_t ecanceled; /* cancelled */
    uint64_t epipe;     /* closed */
    uint64_t einval;    /* bad argument */
    uint64_t enomem;    /* could not grow */
    uint64_t emsgsize;  /* descriptor too long */
    uint64_t estale;    /* arena ticket not live (version 2) */
} kc_chan_failures_t;

/* A channel's counters at one moment (each exact; the set is not one
 * instant while operations run). Set size with KC_CHAN_SNAPSHOT_INIT.
 * Accounting: sends == receives + undelivered + occupancy. */
typedef struct kc_chan_snapshot {
    uint32_t size;              /* sizeof(kc_chan_snapshot_t) */
    uint32_t metrics_version;   /* KC_CHAN_METRICS_VERSION */
    uint64_t taken_ns;          /* monotonic time of the snapshot */
    uint32_t kind;              /* kc_chan_kind_t */
    uint32_t policy;            /* kc_chan_policy_t */
    uint64_t capacity;          /* as kc_chan_capacity() */
    uint64_t elem_size;         /* 0 for descriptor channels */
    uint64_t send_idx;          /* elements ever accepted (the send reservation index) */
    uint64_t recv_idx;          /* elements ever taken out (received or dropped-oldest) */
    uint64_t occupancy;         /* send_idx - recv_idx */
    uint64_t sends;             /* successful sends (including DROP_LATEST drops) */
    uint64_t receives;          /* successful receives */
    uint64_t bytes_sent;        /* element bytes (descriptor: payload len) sent */
    uint64_t bytes_received;    /* element bytes received */
    uint64_t desc_sends;        /* sends of descriptors */
    uint64_t desc_receives;     /* receives of descriptors */
    uint64_t drops_oldest;      /* evicted by DROP_OLDEST or conflation */
    uint64_t drops_latest;      /* dropped by DROP_LATEST */
    uint64_t undelivered;       /* sent, never received (drops + destroy leftovers) */
    uint64_t cancelled_waiters; /* waits withdrawn by timeout or cancellation */
    uint64_t send_waiting;      /* senders (and send clauses) waiting now */
    uint64_t recv_waiting;      /* receivers (and receive clauses) waiting now */
    uint64_t failures_total;    /* sum of the failures below */
    kc_chan_failures_t failures;
    uint32_t closed;   /* 1 once closed */
    uint32_t reserved; /* 0 */
    /* Version 2: channels with an arena attached (0 for the others). */
    uint64_t arena_boxed;          /* copy sends whose bytes were placed in the arena */
    uint64_t arena_releases;       /* references the channel released itself: boxed
                                      elements copied out or failed, undelivered ones */
    uint64_t arena_release_errors; /* of those, refused by the arena (a reference
                                      released twice: see kc_arena_metrics) */
    /* Version 3. */
    uint64_t id;   /* process-wide channel id (the registry's) */
    char name[32]; /* the name given at create, or "" */
} kc_chan_snapshot_t;

/* KC_CHAN_SNAPSHOT_V2_SIZE is sizeof(kc_chan_snapshot_t) of version 2 (up
 * to arena_release_errors): kc_chan_snapshot() still fills that layout. */
#define KC_CHAN_SNAPSHOT_V2_SIZE offsetof(kc_chan_snapshot_t, id)

/* KC_CHAN_SNAPSHOT_INIT is the initialiser for kc_chan_snapshot_t. */
#define KC_CHAN_SNAPSHOT_INIT                                                                      \
    {                                                                                              \
        .size = sizeof(kc_chan_snapshot_t)                                                         \
    }

/* Read every counter with relaxed loads (wait-free: never takes the lock).
 * out->size selects the layout: sizeof(kc_chan_snapshot_t) or
 * KC_CHAN_SNAPSHOT_V2_SIZE (fields beyond it are left alone).
 * Errors: -EINVAL (NULL, out->size smaller than version 2). Never blocks. */
KC_API int kc_chan_snapshot(const kc_chan_t *ch, kc_chan_snapshot_t *out /* INOUT */);

/* Rates between two snapshots of one channel (b taken after a). */
typedef struct kc_chan_rate {
    double seconds;        /* b.taken_ns - a.taken_ns, in seconds */
    double sends_per_s;    /* successful sends per second */
    double receives_per_s; /* successful receives per second */
    double bytes_per_s;    /* bytes received per second */
    double failures_per_s; /* failed operations per second */
    double drops_per_s;    /* drops (oldest + latest) per second */
} kc_chan_rate_t;

/* Compute rates from a to b. Errors: -EINVAL (NULL, different versions,
 * b not later than a). Never blocks. */
KC_API int kc_chan_compute_rate(const kc_chan_snapshot_t *a, const kc_chan_snapshot_t *b,
                                kc_chan_rate_t *out /* OUT */);

/* Write a one-line summary (name, kind, capacity, policy, occupancy,
 * indices, counters, waiters, state) into buf, NUL-terminated and cut to
 * cap bytes, like snprintf. Returns the length of the full line.
 * Errors: -EINVAL (NULL ch, or NULL buf with cap > 0). Never blocks. */
KC_API int kc_chan_dump(const kc_chan_t *ch, char *buf /* OUT */, size_t cap);

/* "RENDEZVOUS", "BUFFERED", ... and "SUSPEND", "DROP_OLDEST", ...; "?" for a
 * value that names no kind or policy. Never blocks. */
KC_API const char *kc_chan_kind_name(kc_chan_kind_t k);
/* See kc_chan_kind_name. */
KC_API const char *kc_chan_policy_name(kc_chan_policy_t p);

/* The channel's process-wide id (kc_registry_new_id at create; 0 for
 * NULL). Never blocks. */
KC_API uint64_t kc_chan_id(const kc_chan_t *ch);

/* The channel's name ("" when none was given or for NULL). BORROWS: valid
 * while the channel lives. Never blocks. */
KC_API const char *kc_chan_name(const kc_chan_t *ch);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_CHAN_H */
