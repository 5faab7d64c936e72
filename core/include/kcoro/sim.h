/* kcoro/sim.h - the impairment simulator: netem's words, applied per frame.
 *
 * A simulated link delays, drops, duplicates, reorders, corrupts, rate-limits
 * and bunches frames the way Linux netem does to packets, but in-process,
 * per frame (never per byte, so framing above stays intact), with one seeded
 * generator per direction so every run replays exactly from its seed.
 *
 * Three layers, usable on their own:
 *   kc_sim_spec_*   parse and print an impairment written as the argument
 *                   list of `tc qdisc ... netem` ("delay 20ms 5ms loss 1%").
 *   kc_sim_dir_*    one direction's decision engine: given a frame's arrival
 *                   time and length, decide its fate and delivery time.
 *   the sim: scheme a transport (kcoro/transport.h) that wraps any other one
 *                   ("sim:mem:name", "sim:unix:/path") and impairs every
 *                   frame it receives; kc_sim_register() installs it.
 *
 * A sim endpoint impairs its ingress: frames from the inner transport are
 * decided on arrival and handed to recv_frame at their delivery time. Wrap
 * both ends (or set KCORO_SIM in both processes) to impair both directions,
 * as netem on each host's egress would.
 */
#ifndef KCORO_SIM_H
#define KCORO_SIM_H

#include "kcoro/base.h"
#include "kcoro/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Specifications (netem words)                                         */

/* A parsed impairment, opaque. Immutable once parsed: one spec may drive
 * any number of directions and endpoints at once. */
typedef struct kc_sim_spec kc_sim_spec_t;

/* KC_SIM_ERR_MAX is a buffer size that holds any parse error message. */
#define KC_SIM_ERR_MAX 160

/* Parse `words`, written as netem's argument list:
 *   limit N | delay TIME [JITTER [CORR]] | distribution NAME |
 *   loss [random] PCT [CORR] | loss state P13 [P31 [P32 [P23 [P14]]]] |
 *   loss gemodel P [R [1-H [1-K]]] | duplicate PCT [CORR] |
 *   corrupt PCT [CORR] | reorder PCT [CORR] [gap N] |
 *   rate RATE [OVERHEAD [CELLSIZE [CELLOVERHEAD]]] |
 *   slot MIN [MAX] [packets N] [bytes B] |
 *   slot distribution NAME DELAY JITTER [packets N] [bytes B] | seed N
 * (core/docs/SIMULATOR.md lists units and defaults). An empty string is the
 * spec that changes nothing. OUT *out: GIVES a spec; free with
 * kc_sim_spec_free(). err (may be NULL) receives a message naming the word
 * at fault. Errors: -EINVAL (NULL words or out, or a bad word; nothing is
 * allocated); -ENOMEM. Never blocks. */
KC_API int kc_sim_spec_parse(const char *words, kc_sim_spec_t **out, char *err /* OUT */,
                             size_t errcap);

/* Print s as canonical netem words (units ns/us/ms/s, percentages with up
 * to six decimals) into buf; parsing the result gives an equal spec.
 * Returns the length written (without the NUL). Errors: -EINVAL (NULL);
 * -EMSGSIZE (cap too small; buf holds a truncated, NUL-terminated prefix).
 * Never blocks. */
KC_API int kc_sim_spec_format(const kc_sim_spec_t *s, char *buf /* OUT */, size_t cap);

/* The seed the words named (`seed N`), or 0 when they named none. */
KC_API uint64_t kc_sim_spec_seed(const kc_sim_spec_t *s);

/* Free a spec. NULL is a no-op. Directions and endpoints made from it keep
 * their own copy, so this may be called at once after creating them. */
KC_API void kc_sim_spec_free(kc_sim_spec_t *s);

/* ------------------------------------------------------------------ */
/* One direction's decisions                                            */

/* Fate bits of a decision. */
/* KC_SIM_F_DROP: the frame is lost (by the loss model). */
#define KC_SIM_F_DROP 0x01u
/* KC_SIM_F_LIMIT: the frame is lost because `limit` frames were queued. */
#define KC_SIM_F_LIMIT 0x02u
/* KC_SIM_F_DUP: the frame is delivered twice (t_deliver and t_dup). */
#define KC_SIM_F_DUP 0x04u
/* KC_SIM_F_CORRUPT: one bit of the payload, corrupt_bit, is flipped. */
#define KC_SIM_F_CORRUPT 0x08u
/* KC_SIM_F_REORDER: the frame skipped the delay queue (netem's reorder). */
#define KC_SIM_F_REORDER 0x10u

/* What happens to one frame. Times are nanoseconds on the clock the caller
 * passes to kc_sim_dir_decide() (monotonic or virtual). */
typedef struct kc_sim_decision {
    uint64_t frame;       /* ordinal of the frame in its direction, from 0 */
    int64_t t_arrive;     /* when the frame reached the simulator */
    int64_t t_deliver;    /* when it is delivered; -1 when dropped */
    int64_t t_dup;        /* when its duplicate is delivered; -1 if none */
    uint32_t len;         /* payload bytes */
    uint32_t fate;        /* KC_SIM_F_* bits; 0 = delivered once, intact */
    uint32_t corrupt_bit; /* the flipped bit (byte * 8 + bit) if CORRUPT */
} kc_sim_decision_t;

/* One direction's engine: the spec, its generator and its state (loss model
 * state, correlations, the link's serialisation clock, the slot). */
typedef struct kc_sim_dir kc_sim_dir_t;

/* Make a direction of s seeded with seed (the same spec and seed always give
 * the same decisions for the same arrivals). OUT *out: GIVES; free with
 * kc_sim_dir_destroy(). Errors: -EINVAL (NULL); -ENOMEM. Never blocks. */
KC_API int kc_sim_dir_create(const kc_sim_spec_t *s, uint64_t seed, kc_sim_dir_t **out);

/* Decide the fate of the next frame: len payload bytes arriving at now_ns;
 * queued is how many frames the caller still holds undelivered (for
 * `limit`). Arrival times must not go backwards. Fills *out and returns 0.
 * Errors: -EINVAL (NULL, or now_ns before the previous arrival).
 * Never blocks. */
KC_API int kc_sim_dir_decide(kc_sim_dir_t *d, int64_t now_ns, uint32_t len, uint32_t queued,
                             kc_sim_decision_t *out /* OUT */);

/* Free a direction. NULL is a no-op. */
KC_API void kc_sim_dir_destroy(kc_sim_dir_t *d);

/* Write d's decision as one NDJSON line (no newline) into buf: the replay
 * log's format. Returns the length. Errors: -EINVAL; -EMSGSIZE. */
KC_API int kc_sim_decision_json(const kc_sim_decision_t *d, const char *dir, char *buf /* OUT */,
                                size_t cap);

/* ------------------------------------------------------------------ */
/* The sim: transport                                                   */

/* A shared virtual clock. Endpoints opened with the same clock run their
 * delays in simulated time: a receiver whose next frame is due later than
 * the clock moves the clock forward instead of sleeping, so an hour of
 * 100 ms round trips takes as long as the frames' processing. */
typedef struct kc_sim_clock kc_sim_clock_t;

/* Make a virtual clock starting at 0. OUT *out: GIVES; free with
 * kc_sim_clock_destroy() after every endpoint using it is closed.
 * Errors: -EINVAL; -ENOMEM. Never blocks. */
KC_API int kc_sim_clock_create(kc_sim_clock_t **out);

/* The clock's time in nanoseconds. */
KC_API int64_t kc_sim_clock_now(const kc_sim_clock_t *c);

/* Free a clock. NULL is a no-op. Errors: -EBUSY (an endpoint or an actor
 * still uses it). */
KC_API int kc_sim_clock_destroy(kc_sim_clock_t *c);

/* Turns: a whole run that replays byte for byte.
 *
 * Coroutines and threads that join a clock become its actors. One actor
 * runs at a time: it holds the turn until it waits on one of the clock's
 * endpoints (a receive with nothing due, a send with no room, a timer of a
 * layer above such as rel:'s retransmission timer) or leaves; woken actors
 * take turns in the order they were woken, and when none can run the clock
 * jumps to the earliest deadline among the waiting ones (ties: the earlier
 * wait first) and wakes it. So what actors do, and every frame, decision
 * and timer that follows, depends on the seed only, with one worker or
 * many, and idle virtual time costs nothing. Code that runs between an
 * actor's waits runs alone among the actors; it must not block on another
 * actor except through the clock's endpoints (a kc_sched_join of an actor
 * that has not left would wait forever). A clock nobody joined moves
 * through its receivers instead (above).
 *
 * A clock that adopts (kc_sim_clock_adopt) takes in every coroutine its
 * actors spawn, and any kcoro wait of its actors: a coroutine an actor
 * spawns is an actor from its first step to its end (its place taken at
 * the spawn, in the spawner's turn); an actor that parks in any kcoro call
 * (a channel, a join, a connection's queue) gives the turn away and queues
 * for it again when it is woken, in its waker's turn. So a whole
 * application stack (connections, remote channels, their pumps) runs in
 * turns without knowing it, and a kc_sched_join of an actor works. Waits
 * that a real-time timer or another thread ends are not replayed, nor a
 * wake that reaches an actor between giving the turn away and parking
 * (it leaves a permit; the actor then queues when it resumes).
 *
 * Actors started by an actor take a ticket first, in order, so their place
 * does not depend on which worker starts them first. */
typedef struct kc_sim_actor kc_sim_ticket_t;

/* Reserve a place among c's actors for a task about to start; it joins
 * with kc_sim_clock_join(c, *out). Every ticket must be used: the clock
 * waits for its actor. OUT *out: BORROWED by the clock until the actor
 * leaves. Errors: -EINVAL (NULL); -ENOMEM. Never blocks. */
KC_API int kc_sim_clock_ticket(kc_sim_clock_t *c, kc_sim_ticket_t **out);

/* Make the calling coroutine or thread an actor of c (with ticket: the
 * place reserved for it; NULL: a new place at the end of the queue) and
 * wait for its turn. Returns 0 holding the turn.
 * Errors: -EINVAL (NULL c, a ticket of another clock or one used before);
 * -EALREADY (already an actor of c); -ENOMEM. Yields or blocks. */
KC_API int kc_sim_clock_join(kc_sim_clock_t *c, kc_sim_ticket_t *ticket);

/* Stop being an actor of c, giving the turn to the next one. Returns 0.
 * Errors: -EINVAL (NULL); -EPERM (the caller is not an actor of c).
 * Never blocks. */
KC_API int kc_sim_clock_leave(kc_sim_clock_t *c);

/* Make c adopt (above): from now on coroutines its actors spawn are its
 * actors, and its actors' kcoro waits pass the turn. Idempotent. Returns
 * 0. Errors: -EINVAL (NULL); -EBUSY (kcoro's turn hooks belong to another
 * user, which none does). Never blocks. */
KC_API int kc_sim_clock_adopt(kc_sim_clock_t *c);

/* Called once per decision of an endpoint, from the receiving caller. */
typedef void (*kc_sim_log_fn_t)(void *arg, const char *dir, const kc_sim_decision_t *d);

/* Options of a sim: endpoint, passed as kc_transport_opts_t.adapter.
 * Initialise with KC_SIM_OPTS_INIT. */
typedef struct kc_sim_opts {
    uint32_t size;         /* sizeof(kc_sim_opts_t) */
    const char *netem;     /* the words; NULL: KCORO_SIM, else none */
    uint64_t seed;         /* 0: the words' seed, else KCORO_SIM_SEED, else 1 */
    kc_sim_clock_t *clock; /* NULL: real time (the monotonic clock) */
    kc_sim_log_fn_t log;   /* optional decision log */
    void *log_arg;         /* passed to log */
    const void *inner;     /* the inner transport's adapter options */
} kc_sim_opts_t;

/* KC_SIM_OPTS_INIT: real time, words and seed from the environment. */
#define KC_SIM_OPTS_INIT                                                                           \
    {                                                                                              \
        sizeof(kc_sim_opts_t), NULL, 0, NULL, NULL, NULL, NULL                                     \
    }

/* Register the "sim" scheme with kc_transport_register(), and when
 * KCORO_SIM is set (non-empty) route every listen and connect through it
 * (kc_transport_interpose()): a program then runs impaired with no code
 * change, each endpoint taking its words from KCORO_SIM and its seed from
 * KCORO_SIM_SEED (bad words: -EINVAL from listen and connect, and one line
 * on stderr naming the word). The library calls it when it is loaded, so
 * setting KCORO_SIM before the program starts is enough; call it again
 * after changing KCORO_SIM at run time. Idempotent.
 * Errors: those of kc_transport_register() other than -EBUSY. */
KC_API int kc_sim_register(void);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_SIM_H */
