/* kc_sim_dir.c - one direction's decisions: what happens to each frame.
 *
 * For every frame, in arrival order, kc_sim_dir_decide() applies netem's
 * steps in netem's order, drawing from the direction's own generator:
 *
 *   1. duplicate  a second copy with probability `duplicate`
 *   2. loss       the loss model removes one copy (random, state, gemodel)
 *   3. limit      a frame arriving while `limit` frames are held is lost
 *   4. corrupt    one uniformly chosen payload bit is flipped
 *   5. reorder    after gap-1 delayed frames, a frame skips the delay with
 *                 probability `reorder` (and the count starts again)
 *   6. delay      mu + jitter * (a draw of the distribution), at least 0
 *   7. rate       frames leave one after another at `rate`, each occupying
 *                 the link for (len + overhead, in cells if given) * 8 / rate:
 *                 send = max(previous send, arrival + delay) + transmission
 *   8. slot       frames leave only when a slot opens, at most `packets`
 *                 frames and `bytes` bytes per slot
 *
 * Loss models (netem's):
 *
 *   random   lose with probability p (correlated draws if CORR is given)
 *   state    4-state Markov chain; a frame is lost when the chain moves to
 *            3 or 4 (or stays in 3):
 *              from 1 (tx in gap):    -> 4 w.p. p14, -> 3 w.p. p13, else 1
 *              from 2 (tx in burst):  -> 3 w.p. p23, else 2
 *              from 3 (lost, burst):  -> 2 w.p. p32, -> 1 w.p. p31, else 3
 *              from 4 (lost, gap):    -> 1
 *   gemodel  Gilbert-Elliott: in Good move to Bad w.p. p, in Bad move to Good
 *            w.p. r; the frame is lost w.p. 1-k if the chain was Good before
 *            the step and w.p. 1-h if it was Bad.
 *
 * Where kcoro differs from netem, and why: steps 7 and 8 are decided at
 * arrival rather than at dequeue (a decision is final when it is logged, so
 * the log replays without the queue); the duplicate copy draws its own delay
 * but skips rate and slot; delays below 0 become 0. Times are sums on the
 * caller's clock: they saturate at INT64_MAX (a frame due at the end of
 * time) rather than overflow, whatever now_ns the caller passes.
 */
#include "kc_sim_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SLOT_CATCH_UP bounds the slots slotted() walks to reach a frame. */
#define SLOT_CATCH_UP 4096

/* t + dt for dt >= 0, saturating at INT64_MAX (never undefined). */
static int64_t later(int64_t t, int64_t dt)
{
    return t > INT64_MAX - dt ? INT64_MAX : t + dt;
}

/* t - from for t >= 0, saturating at INT64_MAX (a log of a decision made
 * near INT64_MIN, or a forged one, stays defined). */
static int64_t span(int64_t t, int64_t from)
{
    return from < 0 && t > INT64_MAX + from ? INT64_MAX : t - from;
}

int kc_sim_dir_create(const kc_sim_spec_t *s, uint64_t seed, kc_sim_dir_t **out)
{
    if (!s || !out)
        return -EINVAL;
    kc_sim_dir_t *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->spec = *s;
    /* Built already when s came from kc_sim_spec_parse(); a spec made by
     * other means gets its tables here, before its first frame. */
    if (s->jitter)
        kc__sim_dist_warm(s->dist);
    if (s->slot && s->slot_dist >= 0 && s->slot_jitter)
        kc__sim_dist_warm(s->slot_dist);
    kc__sim_rng_seed(d->rng, seed);
    d->c_delay.rho = s->delay_corr;
    d->c_loss.rho = s->loss_corr;
    d->c_dup.rho = s->dup_corr;
    d->c_corrupt.rho = s->corrupt_corr;
    d->c_reorder.rho = s->reorder_corr;
    d->loss_state = s->loss == KC_SIM_LOSS_STATE ? KC_SIM_ST_TX_GAP : 0;
    d->last_arrive = INT64_MIN;
    d->identity = s->dup == 0 && s->loss == KC_SIM_LOSS_NONE && s->corrupt == 0 && s->gap == 0 &&
                  s->delay == 0 && s->jitter == 0 && s->rate_bps == 0 && !s->slot;
    *out = d;
    return 0;
}

void kc_sim_dir_destroy(kc_sim_dir_t *d)
{
    free(d);
}

/* One step of the loss model: true when this frame is lost. */
static bool lost(kc_sim_dir_t *d)
{
    const struct kc_sim_spec *s = &d->spec;
    double u;
    switch (s->loss) {
    case KC_SIM_LOSS_RANDOM:
        return s->loss_p > 0 && kc__sim_corr_next(&d->c_loss, d->rng) < s->loss_p;
    case KC_SIM_LOSS_STATE:
        u = kc__sim_rng_unit(d->rng);
        switch (d->loss_state) {
        case KC_SIM_ST_TX_GAP:
            if (u < s->p14) {
                d->loss_state = KC_SIM_ST_LOST_GAP;
                return true;
            }
            if (u < s->p14 + s->p13) {
                d->loss_state = KC_SIM_ST_LOST_BURST;
                return true;
            }
            return false;
        case KC_SIM_ST_TX_BURST:
            if (u < s->p23) {
                d->loss_state = KC_SIM_ST_LOST_BURST;
                return true;
            }
            return false;
        case KC_SIM_ST_LOST_BURST:
            if (u < s->p32) {
                d->loss_state = KC_SIM_ST_TX_BURST;
                return false;
            }
            if (u < s->p32 + s->p31) {
                d->loss_state = KC_SIM_ST_TX_GAP;
                return false;
            }
            return true;
        default: /* KC_SIM_ST_LOST_GAP */
            d->loss_state = KC_SIM_ST_TX_GAP;
            return false;
        }
    case KC_SIM_LOSS_GEMODEL: {
        bool bad = d->loss_state != 0;
        u = kc__sim_rng_unit(d->rng);
        if (!bad && u < s->ge_p)
            d->loss_state = 1;
        else if (bad && u < s->ge_r)
            d->loss_state = 0;
        return kc__sim_rng_unit(d->rng) < (bad ? s->ge_1h : s->ge_1k);
    }
    default:
        return false;
    }
}

/* A delay draw: mu + jitter * value, at least 0. */
static int64_t draw_delay(kc_sim_dir_t *d, int64_t mu, int64_t sigma, int dist, kc_sim_corr_t *c)
{
    if (sigma == 0)
        return mu;
    double x = kc__sim_dist_value(dist, kc__sim_corr_next(c, d->rng));
    double v = (double)mu + (double)sigma * x;
    return v <= 0 ? 0 : v >= 9.2e18 ? INT64_MAX / 2 : (int64_t)(v + 0.5);
}

/* How long len bytes occupy the link at the spec's rate. */
static int64_t tx_time(const struct kc_sim_spec *s, uint32_t len)
{
    int64_t bytes = (int64_t)len + s->overhead;
    if (bytes < 0)
        bytes = 0;
    if (s->cellsize) {
        int64_t cells = (bytes + s->cellsize - 1) / s->cellsize;
        bytes = cells * ((int64_t)s->cellsize + s->celloverhead);
    }
    /* ns = bytes * 8e9 / rate, in 128 bits to keep precision and range. */
    unsigned __int128 ns = (unsigned __int128)(uint64_t)bytes * 8000000000ull / s->rate_bps;
    return ns > (unsigned __int128)(INT64_MAX / 4) ? INT64_MAX / 4 : (int64_t)ns;
}

static int64_t slot_length(kc_sim_dir_t *d)
{
    const struct kc_sim_spec *s = &d->spec;
    if (s->slot_dist >= 0) {
        kc_sim_corr_t none = {0, 0};
        int64_t v = draw_delay(d, s->slot_delay, s->slot_jitter, s->slot_dist, &none);
        return v > 0 ? v : 1;
    }
    if (s->slot_max == s->slot_min)
        return s->slot_min;
    return s->slot_min + (int64_t)kc__sim_rng_below(d->rng, (uint64_t)(s->slot_max - s->slot_min));
}

static void slot_open(kc_sim_dir_t *d, int64_t at)
{
    d->slot_at = at;
    d->slot_pkts_left = d->spec.slot_packets;
    d->slot_bytes_left = d->spec.slot_bytes;
}

/* The time the frame leaves under slotting, from its send time tts. */
static int64_t slotted(kc_sim_dir_t *d, int64_t tts, uint32_t len)
{
    const struct kc_sim_spec *s = &d->spec;
    if (!d->slot_started) {
        slot_open(d, later(d->last_arrive, slot_length(d)));
        d->slot_started = true;
    }
    /* Catch the slot grid up with the frame, slot by slot; after a gap of
     * more than SLOT_CATCH_UP slots (a long idle link, a clock jump, an
     * arrival near INT64_MAX) start the grid again at the frame, as netem
     * does when its next slot lies in the past, instead of walking it. */
    for (int n = 0; d->slot_at < tts; n++)
        slot_open(d, later(n < SLOT_CATCH_UP ? d->slot_at : tts, slot_length(d)));
    bool out_of_packets = s->slot_packets && d->slot_pkts_left == 0;
    bool out_of_bytes = s->slot_bytes && d->slot_bytes_left == 0;
    if (out_of_packets || out_of_bytes)
        slot_open(d, later(d->slot_at, slot_length(d)));
    if (s->slot_packets)
        d->slot_pkts_left--;
    if (s->slot_bytes)
        d->slot_bytes_left = d->slot_bytes_left > len ? d->slot_bytes_left - len : 0;
    return d->slot_at;
}

int kc_sim_dir_decide(kc_sim_dir_t *d, int64_t now, uint32_t len, uint32_t queued,
                      kc_sim_decision_t *out)
{
    if (!d || !out || now < d->last_arrive)
        return -EINVAL;
    const struct kc_sim_spec *s = &d->spec;
    d->last_arrive = now;
    if (d->identity && queued < s->limit) {
        *out = (kc_sim_decision_t){d->frame++, now, now, -1, len, 0, 0};
        return 0;
    }
    kc_sim_decision_t r = {d->frame++, now, -1, -1, len, 0, 0};

    int copies = 1;
    if (s->dup > 0 && kc__sim_corr_next(&d->c_dup, d->rng) < s->dup)
        copies++;
    if (s->loss != KC_SIM_LOSS_NONE && lost(d))
        copies--;
    if (copies == 0) {
        r.fate = KC_SIM_F_DROP;
        *out = r;
        return 0;
    }
    if (queued >= s->limit) {
        r.fate = KC_SIM_F_LIMIT;
        *out = r;
        return 0;
    }
    if (copies == 2)
        r.fate |= KC_SIM_F_DUP;
    if (s->corrupt > 0 && kc__sim_corr_next(&d->c_corrupt, d->rng) < s->corrupt && len > 0) {
        r.fate |= KC_SIM_F_CORRUPT;
        r.corrupt_bit = (uint32_t)kc__sim_rng_below(d->rng, (uint64_t)len * 8);
    }

    int64_t tts;
    bool skip = s->gap > 0 && d->reorder_count >= s->gap - 1 &&
                kc__sim_corr_next(&d->c_reorder, d->rng) < s->reorder;
    if (skip) {
        r.fate |= KC_SIM_F_REORDER;
        d->reorder_count = 0;
        tts = now;
    } else {
        d->reorder_count++;
        tts = later(now, draw_delay(d, s->delay, s->jitter, s->dist, &d->c_delay));
        if (s->rate_bps) {
            if (d->have_tts && d->last_tts > tts)
                tts = d->last_tts;
            tts = later(tts, tx_time(s, len));
            d->last_tts = tts;
            d->have_tts = true;
        }
    }
    if (s->slot)
        tts = slotted(d, tts, len);
    r.t_deliver = tts;
    if (copies == 2)
        r.t_dup = later(now, draw_delay(d, s->delay, s->jitter, s->dist, &d->c_delay));
    *out = r;
    return 0;
}

int kc_sim_decision_json(const kc_sim_decision_t *d, const char *dir, char *buf, size_t cap)
{
    if (!d || !dir || !buf || cap == 0)
        return -EINVAL;
    const char *fate = d->fate & KC_SIM_F_DROP    ? "dropped"
                       : d->fate & KC_SIM_F_LIMIT ? "limited"
                                                  : "delivered";
    int k = snprintf(buf, cap,
                     "{\"dir\":\"%s\",\"frame\":%" PRIu64 ",\"len\":%" PRIu32
                     ",\"fate\":\"%s\",\"dup\":%s,\"corrupt\":%s,\"reorder\":%s,"
                     "\"delay_ns\":%" PRId64 ",\"dup_delay_ns\":%" PRId64 ",\"bit\":%" PRId64 "}",
                     dir, d->frame, d->len, fate, d->fate & KC_SIM_F_DUP ? "true" : "false",
                     d->fate & KC_SIM_F_CORRUPT ? "true" : "false",
                     d->fate & KC_SIM_F_REORDER ? "true" : "false",
                     d->t_deliver >= 0 ? span(d->t_deliver, d->t_arrive) : -1,
                     d->t_dup >= 0 ? span(d->t_dup, d->t_arrive) : -1,
                     d->fate & KC_SIM_F_CORRUPT ? (int64_t)d->corrupt_bit : -1);
    if (k < 0 || (size_t)k >= cap)
        return -EMSGSIZE;
    return k;
}
