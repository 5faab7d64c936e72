/* kc_sim_dist.c - the simulator's generator and delay distributions.
 *
 * The generator is xoshiro256** seeded through splitmix64: fast, 256 bits of
 * state, and the same sequence on every platform. Correlated draws follow
 * netem's definition (next = (1 - rho) u + rho last), which keeps the mean
 * but narrows the spread as rho grows; netem's manual calls the loss
 * correlation "broken" for that reason, and kcoro keeps the definition so
 * that netem's words mean here what they mean there.
 *
 * Delay distributions are quantile tables of KC_SIM_TABLE entries, as
 * netem's are: a draw u in [0, 1) reads the table with linear
 * interpolation, so tails are bounded (about 3.7 standard deviations for
 * the normal, 22 for the pareto) and a draw costs a multiply and two loads.
 * Normal and pareto tables come from their exact inverse CDFs; paretonormal
 * (0.25 normal + 0.75 pareto, rescaled) has no closed form and is built
 * from sorted samples of a fixed generator, so it is the same in every
 * process. Each table is built once, by kc__sim_dist_warm(), which
 * kc_sim_spec_parse() calls for the distributions a spec draws from: a
 * table is never built on a frame's path. (Built there, the paretonormal
 * samples and their sort took 90-250 ms on a loaded machine, inside the
 * first jittered frame's receive: longer than a 200 ms accept waits for a
 * connection's first frame.) The normal table costs about 1 ms: Newton
 * steps on the CDF from the previous entry, its upper half mirrored.
 */
#include "kc_sim_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define KC_SIM_TABLE 4096
#define KC_SIM_PN_SAMPLES (1u << 18)

/* ---- generator ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void kc__sim_rng_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next64(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double kc__sim_rng_unit(uint64_t s[4])
{
    return (double)(next64(s) >> 11) * 0x1.0p-53;
}

uint64_t kc__sim_rng_below(uint64_t s[4], uint64_t n)
{
    /* Rejection keeps the result exactly uniform. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = next64(s);
    while (x >= limit);
    return x % n;
}

double kc__sim_corr_next(kc_sim_corr_t *c, uint64_t s[4])
{
    double u = kc__sim_rng_unit(s);
    if (c->rho <= 0.0)
        return u;
    c->last = (1.0 - c->rho) * u + c->rho * c->last;
    return c->last;
}

/* ---- tables ------------------------------------------------------- */

static double t_normal[KC_SIM_TABLE];
static double t_pareto[KC_SIM_TABLE];
static double t_pn[KC_SIM_TABLE];
static pthread_once_t once_normal = PTHREAD_ONCE_INIT;
static pthread_once_t once_pareto = PTHREAD_ONCE_INIT;
static pthread_once_t once_pn = PTHREAD_ONCE_INIT;
static atomic_int built; /* bit d: distribution d's table is built */

static double normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* The standard normal quantile of p <= 1/2 by Newton steps on the CDF from
 * x (a nearby quantile), to the CDF's own precision. */
static double normal_quantile(double p, double x)
{
    for (int i = 0; i < 64; i++) {
        double dx = (normal_cdf(x) - p) / (0.3989422804014327 * exp(-0.5 * x * x));
        x -= dx;
        if (fabs(dx) <= 1e-15 * (1.0 + fabs(x)))
            break;
    }
    return x;
}

static void build_normal(void)
{
    /* The lower half from the far tail inwards, each entry's steps starting
     * at the one before; the upper half mirrors it (the quantile positions
     * (i + 0.5) / N are symmetric about 1/2). */
    double x = -3.7;
    for (int i = 0; i < KC_SIM_TABLE / 2; i++) {
        x = normal_quantile((i + 0.5) / KC_SIM_TABLE, x);
        t_normal[i] = x;
        t_normal[KC_SIM_TABLE - 1 - i] = -x;
    }
    atomic_fetch_or(&built, 1 << KC_SIM_DIST_NORMAL);
}

/* Pareto with shape 3 (x >= 1, mean 3/2, variance 3/4), standardised. */
#define PARETO_MEAN 1.5
#define PARETO_SD 0.8660254037844386

static double pareto_std(double u)
{
    return (pow(1.0 - u, -1.0 / 3.0) - PARETO_MEAN) / PARETO_SD;
}

static void build_pareto(void)
{
    for (int i = 0; i < KC_SIM_TABLE; i++)
        t_pareto[i] = pareto_std((i + 0.5) / KC_SIM_TABLE);
    atomic_fetch_or(&built, 1 << KC_SIM_DIST_PARETO);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void build_pn(void)
{
    /* Paretonormal: 0.25 N + 0.75 P has variance 0.625; rescale to 1. */
    double *v = malloc(sizeof(double) * KC_SIM_PN_SAMPLES);
    if (!v) {
        /* Without memory for the samples, fall back to the normal table:
         * draws stay in range, and the tests would show the difference. */
        pthread_once(&once_normal, build_normal);
        for (int i = 0; i < KC_SIM_TABLE; i++)
            t_pn[i] = t_normal[i];
        atomic_fetch_or(&built, 1 << KC_SIM_DIST_PARETONORMAL);
        return;
    }
    uint64_t s[4];
    kc__sim_rng_seed(s, 0x70617265746f6e6full); /* fixed: the same table everywhere */
    for (uint32_t i = 0; i < KC_SIM_PN_SAMPLES; i++) {
        double u1 = 1.0 - kc__sim_rng_unit(s); /* (0, 1] */
        double u2 = kc__sim_rng_unit(s);
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        double p = pareto_std(kc__sim_rng_unit(s)) * PARETO_SD + PARETO_MEAN;
        /* 0.25 N(0,1) + 0.75 (P - mean), rescaled to unit variance. */
        v[i] = (0.25 * z + 0.75 * (p - PARETO_MEAN)) / sqrt(0.25 * 0.25 + 0.75 * 0.75 * 0.75);
    }
    qsort(v, KC_SIM_PN_SAMPLES, sizeof(double), cmp_double);
    for (int i = 0; i < KC_SIM_TABLE; i++)
        t_pn[i] = v[(size_t)((i + 0.5) / KC_SIM_TABLE * KC_SIM_PN_SAMPLES)];
    free(v);
    atomic_fetch_or(&built, 1 << KC_SIM_DIST_PARETONORMAL);
}

/* Distribution dist's table, built if it was not (NULL: uniform, which
 * needs none, or no such distribution). */
static const double *table_of(int dist)
{
    switch (dist) {
    case KC_SIM_DIST_NORMAL:
        pthread_once(&once_normal, build_normal);
        return t_normal;
    case KC_SIM_DIST_PARETO:
        pthread_once(&once_pareto, build_pareto);
        return t_pareto;
    case KC_SIM_DIST_PARETONORMAL:
        pthread_once(&once_pn, build_pn);
        return t_pn;
    default:
        return NULL;
    }
}

void kc__sim_dist_warm(int dist)
{
    (void)table_of(dist);
}

bool kc__sim_dist_built(int dist)
{
    if (dist == KC_SIM_DIST_UNIFORM)
        return true;
    if (dist < 0 || dist > KC_SIM_DIST_PARETONORMAL)
        return false;
    return (atomic_load(&built) >> dist) & 1;
}

double kc__sim_dist_value(int dist, double u)
{
    const double *t = table_of(dist);
    if (!t)
        return 2.0 * u - 1.0; /* uniform: mu - sigma .. mu + sigma */
    double pos = u * KC_SIM_TABLE - 0.5;
    if (pos <= 0.0)
        return t[0];
    int i = (int)pos;
    if (i >= KC_SIM_TABLE - 1)
        return t[KC_SIM_TABLE - 1];
    double f = pos - i;
    return t[i] + f * (t[i + 1] - t[i]);
}

double kc__sim_dist_cdf(int dist, double x)
{
    switch (dist) {
    case KC_SIM_DIST_UNIFORM:
        return x <= -1.0 ? 0.0 : x >= 1.0 ? 1.0 : (x + 1.0) / 2.0;
    case KC_SIM_DIST_NORMAL:
        return normal_cdf(x);
    case KC_SIM_DIST_PARETO: {
        double raw = x * PARETO_SD + PARETO_MEAN;
        return raw <= 1.0 ? 0.0 : 1.0 - pow(raw, -3.0);
    }
    default: {
        /* Invert the table: the quantile positions are (i + 0.5) / N. */
        const double *t = table_of(dist);
        if (x <= t[0])
            return 0.5 / KC_SIM_TABLE;
        if (x >= t[KC_SIM_TABLE - 1])
            return 1.0 - 0.5 / KC_SIM_TABLE;
        int lo = 0, hi = KC_SIM_TABLE - 1;
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (t[mid] <= x)
                lo = mid;
            else
                hi = mid;
        }
        double f = t[hi] > t[lo] ? (x - t[lo]) / (t[hi] - t[lo]) : 0.0;
        return (lo + 0.5 + f) / KC_SIM_TABLE;
    }
    }
}

const char *kc__sim_dist_name(int dist)
{
    static const char *const names[] = {"uniform", "normal", "pareto", "paretonormal"};
    return dist >= 0 && dist <= KC_SIM_DIST_PARETONORMAL ? names[dist] : NULL;
}
