/* kc_sim_impl.h - private to the simulator: the parsed spec, one direction's
 * state, the generator and the distribution tables.
 *
 * A spec is plain data (copied into every direction that uses it). A
 * direction owns one generator; every random draw of a decision comes from
 * it in a fixed order (duplicate, loss, corrupt, reorder, delay, duplicate's
 * delay, slot), so the same spec, seed and arrivals replay the same
 * decisions on any machine and under any number of workers.
 */
#ifndef KCORO_KC_SIM_IMPL_H
#define KCORO_KC_SIM_IMPL_H

#include "kcoro/sim.h"

#include <stdbool.h>
#include <stdint.h>

/* Delay distributions (netem's four). */
enum kc_sim_dist {
    KC_SIM_DIST_UNIFORM = 0,
    KC_SIM_DIST_NORMAL = 1,
    KC_SIM_DIST_PARETO = 2,
    KC_SIM_DIST_PARETONORMAL = 3
};

/* Loss models. */
enum kc_sim_loss {
    KC_SIM_LOSS_NONE = 0,
    KC_SIM_LOSS_RANDOM = 1, /* Bernoulli, optionally correlated */
    KC_SIM_LOSS_STATE = 2,  /* 4-state Markov (p13, p31, p32, p23, p14) */
    KC_SIM_LOSS_GEMODEL = 3 /* Gilbert-Elliott (p, r, 1-h, 1-k) */
};

/* The 4-state model's states, numbered as in netem's manual. */
enum {
    KC_SIM_ST_TX_GAP = 1,     /* good reception in a gap */
    KC_SIM_ST_TX_BURST = 2,   /* good reception inside a burst */
    KC_SIM_ST_LOST_BURST = 3, /* loss inside a burst */
    KC_SIM_ST_LOST_GAP = 4    /* isolated loss in a gap */
};

/* Probabilities are fractions in [0, 1]; times are nanoseconds. */
struct kc_sim_spec {
    uint32_t limit;           /* frames held at most (netem: 1000) */
    int64_t delay, jitter;    /* delay TIME [JITTER] */
    double delay_corr;        /* [CORR] */
    int dist;                 /* enum kc_sim_dist */
    bool dist_named;          /* `distribution` was written */
    int loss;                 /* enum kc_sim_loss */
    double loss_p, loss_corr; /* random */
    double p13, p31, p32, p23, p14;
    double ge_p, ge_r, ge_1h, ge_1k;
    int loss_nargs; /* numbers given after state/gemodel */
    double dup, dup_corr;
    double corrupt, corrupt_corr;
    double reorder, reorder_corr;
    uint32_t gap; /* 0: no reordering */
    bool gap_named;
    uint64_t rate_bps; /* 0: unlimited */
    int32_t overhead;  /* per-frame bytes added (may be < 0) */
    uint32_t cellsize; /* 0: no cells */
    int32_t celloverhead;
    bool slot;
    int64_t slot_min, slot_max; /* slot MIN [MAX] */
    int slot_dist;              /* -1: uniform in [min, max] */
    int64_t slot_delay, slot_jitter;
    uint32_t slot_packets; /* 0: no packet budget */
    uint64_t slot_bytes;   /* 0: no byte budget */
    uint64_t seed;
    bool seed_named;
};

/* A correlated draw (netem's get_crandom): next = (1 - rho) u + rho last. */
typedef struct kc_sim_corr {
    double rho;
    double last;
} kc_sim_corr_t;

struct kc_sim_dir {
    struct kc_sim_spec spec;
    uint64_t rng[4]; /* xoshiro256** state */
    kc_sim_corr_t c_delay, c_loss, c_dup, c_corrupt, c_reorder;
    int loss_state; /* 4-state: 1..4; gemodel: 0 good, 1 bad */
    uint64_t frame; /* next frame's ordinal */
    int64_t last_arrive;
    int64_t last_tts; /* rate: the previous frame's send time */
    bool have_tts;
    uint32_t reorder_count; /* netem's counter since the last reorder */
    int64_t slot_at;        /* the current slot's opening time */
    bool slot_started;
    uint32_t slot_pkts_left;
    uint64_t slot_bytes_left;
    bool identity; /* the spec changes nothing: decide skips every step */
};

/* Generator: seed a xoshiro256** state from one 64-bit seed (splitmix64). */
void kc__sim_rng_seed(uint64_t s[4], uint64_t seed);
/* A uniform double in [0, 1). */
double kc__sim_rng_unit(uint64_t s[4]);
/* A uniform integer in [0, n), n > 0. */
uint64_t kc__sim_rng_below(uint64_t s[4], uint64_t n);
/* A correlated uniform draw in [0, 1). */
double kc__sim_corr_next(kc_sim_corr_t *c, uint64_t s[4]);

/* The standardised value (mean 0, standard deviation 1; uniform spans
 * [-1, 1) as netem's does) of distribution dist at quantile u in [0, 1). */
double kc__sim_dist_value(int dist, double u);
/* Build distribution dist's table now if it is not built (once per
 * process; uniform needs none). kc_sim_spec_parse() calls it for every
 * distribution a spec draws from, so no frame's decision builds one. */
void kc__sim_dist_warm(int dist);
/* Predicate: is distribution dist's table built (uniform: always)? */
bool kc__sim_dist_built(int dist);
/* The distribution's cumulative probability at standardised x (tests and
 * the lab's histogram compare samples with it). Paretonormal, which has no
 * closed form, is read from its table. */
double kc__sim_dist_cdf(int dist, double x);
/* The name of a distribution ("normal"), or NULL. */
const char *kc__sim_dist_name(int dist);

/* ---- the virtual clock's turns (kc_sim_clock.c) ---------------------- */

/* One actor of a clock (kcoro/sim.h's kc_sim_ticket_t). */
typedef struct kc_sim_actor kc_sim_actor_t;

/* What an actor waiting on a clock waits for besides a wake and its
 * deadline: frames to arrive on some sim endpoint of the clock, or room to
 * send (kc__sim_clock_kick wakes every waiter of one list). */
enum {
    KC_SIM_LIST_NONE = 0,
    KC_SIM_LIST_FRAMES = 1,
    KC_SIM_LIST_ROOM = 2
};

/* Count an endpoint (or actor) that uses c (destroy says -EBUSY). */
void kc__sim_clock_use(kc_sim_clock_t *c, int delta);
/* The ordinal of the next connect made on c (seeds replay per clock). */
uint64_t kc__sim_clock_next_connect(kc_sim_clock_t *c);
/* Move c forward to t (never back). */
void kc__sim_clock_advance(kc_sim_clock_t *c, int64_t t);
/* Predicate: has c any actors (time then moves only by turns)? */
bool kc__sim_clock_turns(const kc_sim_clock_t *c);
/* Predicate: does the calling context hold c's turn? */
bool kc__sim_clock_mine(const kc_sim_clock_t *c);
/* The calling context's actor on c, or NULL. */
kc_sim_actor_t *kc__sim_clock_self(kc_sim_clock_t *c);
/* The running actor a waits: gives the turn away until woken
 * (kc__sim_clock_wake, a kick of `list`), the clock reaches deadline (-1:
 * none) or cancel fires, then waits for the turn again. A wake that came
 * while a ran is kept (a permit) and ends the next wait at once. Returns 0
 * (woken), -ETIME, -ECANCELED. */
int kc__sim_clock_wait(kc_sim_actor_t *a, int64_t deadline, int list, const kc_cancel_t *cancel);
/* Withdraw a ticket whose task never started (NULL: nothing). */
void kc__sim_clock_drop(kc_sim_actor_t *a);
/* Wake a (NULL: nothing); callable by anyone. */
void kc__sim_clock_wake(kc_sim_actor_t *a);
/* Wake every actor waiting on list. */
void kc__sim_clock_kick(kc_sim_clock_t *c, int list);
/* Whether c adopts (kc_sim_clock_adopt). */
bool kc__sim_clock_adopts(const kc_sim_clock_t *c);

#endif /* KCORO_KC_SIM_IMPL_H */
