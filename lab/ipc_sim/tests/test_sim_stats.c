/* test_sim_stats.c - the simulator's decisions match the models they claim.
 *
 * Each test draws at least 10^5 decisions from a fixed seed and compares
 * what it observes with the configured model: counts by a z-test (binomial
 * variance, or batch means where draws are correlated), distributions by a
 * one-sample Kolmogorov-Smirnov test at significance 0.001 (critical value
 * 1.949 / sqrt(n)), bit positions by chi-square, loss bursts of the Markov
 * and Gilbert-Elliott models against their analytic means. Every bound is
 * one a correct model fails with probability below 10^-4; the seeds are
 * fixed, so a pass is repeatable and a failure is a real change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kc_sim_impl.h"

#define N 200000
#define MS 1000000LL

static kc_sim_dir_t *dir_of(const char *words, uint64_t seed)
{
    kc_sim_spec_t *s = NULL;
    char err[KC_SIM_ERR_MAX];
    if (kc_sim_spec_parse(words, &s, err, sizeof err) != 0) {
        print_error("%s\n", err);
        fail();
    }
    kc_sim_dir_t *d = NULL;
    assert_int_equal(kc_sim_dir_create(s, seed, &d), 0);
    kc_sim_spec_free(s);
    return d;
}

static kc_sim_decision_t next(kc_sim_dir_t *d, int64_t now, uint32_t len)
{
    kc_sim_decision_t r;
    assert_int_equal(kc_sim_dir_decide(d, now, len, 0, &r), 0);
    return r;
}

/* |observed - expected| within z standard errors, printed on failure. */
static void assert_near(const char *what, double obs, double expect, double se, double z)
{
    if (fabs(obs - expect) > z * se) {
        print_error("%s: observed %.6f, expected %.6f (se %.6f, %.1f se allowed)\n", what, obs,
                    expect, se, z);
        fail();
    }
}

static void count_fate(const char *words, uint32_t bit, double p)
{
    kc_sim_dir_t *d = dir_of(words, 11);
    long k = 0;
    for (long i = 0; i < N; i++)
        if (next(d, i, 100).fate & bit)
            k++;
    assert_near(words, (double)k / N, p, sqrt(p * (1 - p) / N), 4.0);
    kc_sim_dir_destroy(d);
}

static void test_sim_stats_bernoulli_rates(void **state)
{
    (void)state;
    count_fate("loss 1%", KC_SIM_F_DROP, 0.01);
    count_fate("loss random 30%", KC_SIM_F_DROP, 0.30);
    count_fate("duplicate 0.5%", KC_SIM_F_DUP, 0.005);
    count_fate("corrupt 0.1%", KC_SIM_F_CORRUPT, 0.001);
    count_fate("loss state 3%", KC_SIM_F_DROP, 0.03); /* p13 alone is Bernoulli */
}

static void test_sim_stats_corrupt_bit_uniform(void **state)
{
    (void)state;
    enum {
        LEN = 64,
        BITS = LEN * 8
    };
    kc_sim_dir_t *d = dir_of("corrupt 50%", 12);
    long hist[BITS] = {0}, k = 0;
    for (long i = 0; i < N; i++) {
        kc_sim_decision_t r = next(d, i, LEN);
        if (r.fate & KC_SIM_F_CORRUPT) {
            assert_true(r.corrupt_bit < BITS);
            hist[r.corrupt_bit]++;
            k++;
        }
    }
    double e = (double)k / BITS, chi = 0;
    for (int b = 0; b < BITS; b++)
        chi += (hist[b] - e) * (hist[b] - e) / e;
    /* 511 degrees of freedom: the 10^-4 upper quantile is about 630. */
    if (chi > 630) {
        print_error("chi-square %.1f over %d bit positions\n", chi, BITS);
        fail();
    }
    kc_sim_decision_t r = next(d, N, 0);
    assert_false(r.fate & KC_SIM_F_CORRUPT); /* nothing to flip */
    kc_sim_dir_destroy(d);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One-sample KS of standardised delays against the distribution's CDF. */
static void ks_delay(const char *words, int dist, int64_t mu, int64_t sigma)
{
    kc_sim_dir_t *d = dir_of(words, 13);
    double *x = malloc(sizeof(double) * N);
    assert_non_null(x);
    double sum = 0, sum2 = 0;
    for (long i = 0; i < N; i++) {
        kc_sim_decision_t r = next(d, i, 100);
        x[i] = (double)(r.t_deliver - r.t_arrive - mu) / (double)sigma;
        sum += x[i];
        sum2 += x[i] * x[i];
    }
    qsort(x, N, sizeof(double), cmp_double);
    double dmax = 0;
    for (long i = 0; i < N; i++) {
        double f = kc__sim_dist_cdf(dist, x[i]);
        double a = fabs(f - (double)i / N), b = fabs((double)(i + 1) / N - f);
        dmax = fmax(dmax, fmax(a, b));
    }
    if (dmax > 1.949 / sqrt(N)) {
        print_error("%s: KS distance %.5f > %.5f\n", words, dmax, 1.949 / sqrt(N));
        fail();
    }
    if (dist != KC_SIM_DIST_UNIFORM) {
        /* Standardised: mean 0 and standard deviation 1. The tables stop
         * at the 1/8192 quantiles, which trims the spread a little (and
         * the pareto's heavy tail most: its spread is about 0.9). */
        double mean = sum / N, sd = sqrt(sum2 / N - mean * mean);
        assert_near("mean", mean, 0.0, 1.0 / sqrt(N), 4.5);
        if (!(sd > 0.85 && sd < 1.01)) {
            print_error("%s: standard deviation %.4f\n", words, sd);
            fail();
        }
    }
    free(x);
    kc_sim_dir_destroy(d);
}

static void test_sim_stats_delay_distributions(void **state)
{
    (void)state;
    ks_delay("delay 100ms 5ms distribution normal", KC_SIM_DIST_NORMAL, 100 * MS, 5 * MS);
    ks_delay("delay 100ms 5ms", KC_SIM_DIST_NORMAL, 100 * MS, 5 * MS); /* normal by default */
    ks_delay("delay 100ms 20ms distribution uniform", KC_SIM_DIST_UNIFORM, 100 * MS, 20 * MS);
    ks_delay("delay 500ms 10ms distribution pareto", KC_SIM_DIST_PARETO, 500 * MS, 10 * MS);
    ks_delay("delay 500ms 10ms distribution paretonormal", KC_SIM_DIST_PARETONORMAL, 500 * MS,
             10 * MS);
}

/* Lag-1 autocorrelation of uniform delays is the configured correlation:
 * netem's draw next = (1 - rho) u + rho last is an AR(1) process. */
static void test_sim_stats_delay_correlation(void **state)
{
    (void)state;
    const double rho[] = {0.0, 0.25, 0.6};
    const char *words[] = {"delay 50ms 10ms 0% distribution uniform",
                           "delay 50ms 10ms 25% distribution uniform",
                           "delay 50ms 10ms 60% distribution uniform"};
    for (int c = 0; c < 3; c++) {
        kc_sim_dir_t *d = dir_of(words[c], 14);
        double *x = malloc(sizeof(double) * N);
        assert_non_null(x);
        double mean = 0;
        for (long i = 0; i < N; i++) {
            kc_sim_decision_t r = next(d, i, 1);
            x[i] = (double)(r.t_deliver - r.t_arrive);
            mean += x[i];
        }
        mean /= N;
        double num = 0, den = 0;
        for (long i = 0; i < N; i++) {
            den += (x[i] - mean) * (x[i] - mean);
            if (i > 0)
                num += (x[i] - mean) * (x[i - 1] - mean);
        }
        assert_near(words[c], num / den, rho[c], sqrt((1 - rho[c] * rho[c]) / N), 5.0);
        free(x);
        kc_sim_dir_destroy(d);
    }
}

/* reorder P gap G: after G-1 delayed frames each frame skips the queue with
 * probability P. The fraction of skipping frames is 1 / (G - 1 + 1/P) (a
 * renewal process: cycle = G-1 frames + a geometric wait); every skipping
 * frame overtakes the frames still in the delay queue. */
static void test_sim_stats_reorder_gap(void **state)
{
    (void)state;
    kc_sim_dir_t *d = dir_of("delay 10ms reorder 25% gap 5", 15);
    long k = 0, overtakes = 0, since = 100;
    int64_t prev_deliver = -1;
    for (long i = 0; i < N; i++) {
        kc_sim_decision_t r = next(d, i * MS, 100);
        if (r.fate & KC_SIM_F_REORDER) {
            k++;
            assert_true(since >= 4); /* never inside the gap */
            assert_int_equal(r.t_deliver, r.t_arrive);
            since = 0;
        } else {
            assert_int_equal(r.t_deliver, r.t_arrive + 10 * MS);
            since++;
        }
        if (r.t_deliver < prev_deliver)
            overtakes++;
        prev_deliver = r.t_deliver;
    }
    /* Cycle length L = 4 + Geometric(1/4): mean 8, variance 12; the count
     * of cycles in n frames has variance n * var / mean^3. */
    double frac = (double)k / N;
    assert_near("reorder fraction", frac, 1.0 / 8.0, sqrt(12.0 / (8.0 * 8.0 * 8.0) / N), 4.0);
    assert_int_equal(overtakes, k);
    kc_sim_dir_destroy(d);

    d = dir_of("delay 10ms reorder 100% gap 5", 15); /* exactly every fifth */
    for (long i = 0; i < 1000; i++)
        assert_int_equal(!!(next(d, i, 1).fate & KC_SIM_F_REORDER), i % 5 == 4);
    kc_sim_dir_destroy(d);
}

/* Loss runs of a sequence of decisions. */
typedef struct runs {
    long lost, bursts;
    double sum_len, sum_len2;
    double batch[100];
} runs_t;

static runs_t loss_runs(const char *words, long n)
{
    kc_sim_dir_t *d = dir_of(words, 16);
    runs_t r;
    memset(&r, 0, sizeof r);
    long run = 0, per_batch = n / 100;
    for (long i = 0; i < n; i++) {
        bool l = next(d, i, 1).fate & KC_SIM_F_DROP;
        if (l) {
            r.lost++;
            r.batch[i / per_batch] += 1.0 / per_batch;
            run++;
        } else if (run) {
            r.bursts++;
            r.sum_len += run;
            r.sum_len2 += (double)run * run;
            run = 0;
        }
    }
    kc_sim_dir_destroy(d);
    return r;
}

/* Standard error of the loss rate from 100 batch means (the losses of a
 * Markov model are correlated, so the binomial variance would be wrong). */
static double batch_se(const runs_t *r, double mean)
{
    double v = 0;
    for (int b = 0; b < 100; b++)
        v += (r->batch[b] - mean) * (r->batch[b] - mean);
    return sqrt(v / 99.0 / 100.0);
}

static void check_bursts(const char *words, const runs_t *r, double expect_rate,
                         double expect_burst)
{
    double rate = (double)r->lost / (100 * (N / 100));
    assert_near(words, rate, expect_rate, batch_se(r, rate), 4.5);
    double mean = r->sum_len / r->bursts;
    double var = r->sum_len2 / r->bursts - mean * mean;
    assert_near(words, mean, expect_burst, sqrt(var / r->bursts), 4.5);
}

static void test_sim_stats_four_state_markov(void **state)
{
    (void)state;
    const double p13 = 0.05, p31 = 0.40, p32 = 0.20, p23 = 0.30, p14 = 0.02;
    /* Stationary distribution by power iteration of the chain. */
    double pi[5] = {0, 1, 0, 0, 0};
    for (int it = 0; it < 20000; it++) {
        double q[5] = {0};
        q[4] += pi[1] * p14;
        q[3] += pi[1] * p13;
        q[1] += pi[1] * (1 - p13 - p14);
        q[3] += pi[2] * p23;
        q[2] += pi[2] * (1 - p23);
        q[2] += pi[3] * p32;
        q[1] += pi[3] * p31;
        q[3] += pi[3] * (1 - p31 - p32);
        q[1] += pi[4];
        memcpy(pi, q, sizeof pi);
    }
    double rate = pi[3] + pi[4];
    /* A burst is a single isolated loss (state 4) or a run of state 3,
     * geometric with mean 1 / (p31 + p32). */
    double in3 = pi[1] * p13 + pi[2] * p23, in4 = pi[1] * p14;
    double burst = (in3 / (p31 + p32) + in4) / (in3 + in4);
    runs_t r = loss_runs("loss state 5% 40% 20% 30% 2%", N);
    check_bursts("4-state", &r, rate, burst);
}

static void test_sim_stats_gilbert_elliott(void **state)
{
    (void)state;
    /* Simple Gilbert: every frame in Bad is lost, none in Good: the loss
     * rate is p / (p + r) and bursts are geometric with mean 1 / r. */
    runs_t r = loss_runs("loss gemodel 1% 30% 100% 0%", N);
    check_bursts("gilbert", &r, 0.01 / 0.31, 1.0 / 0.30);
    /* Full Gilbert-Elliott: rate = piG (1-k) + piB (1-h). */
    double p = 0.02, rr = 0.25, h1 = 0.80, k1 = 0.005;
    double bad = p / (p + rr);
    r = loss_runs("loss gemodel 2% 25% 80% 0.5%", N);
    double rate = (double)r.lost / N;
    assert_near("gilbert-elliott", rate, (1 - bad) * k1 + bad * h1, batch_se(&r, rate), 4.5);
}

static void test_sim_stats_rate_serialises(void **state)
{
    (void)state;
    kc_sim_dir_t *d = dir_of("rate 10mbit", 17);
    for (int i = 0; i < 1000; i++) /* a burst at t = 0: 800 us apart */
        assert_int_equal(next(d, 0, 1000).t_deliver, (int64_t)(i + 1) * 800000);
    kc_sim_decision_t r = next(d, 10 * 1000 * MS, 1000); /* an idle link: no wait */
    assert_int_equal(r.t_deliver - r.t_arrive, 800000);
    kc_sim_dir_destroy(d);
    /* 1000 + 24 bytes in 53-byte cells of 58: 20 cells, 1160 bytes. */
    d = dir_of("delay 5ms rate 10mbit 24 53 5", 17);
    assert_int_equal(next(d, 0, 1000).t_deliver, 5 * MS + 928000);
    assert_int_equal(next(d, 0, 1000).t_deliver, 5 * MS + 2 * 928000);
    kc_sim_dir_destroy(d);
}

static void test_sim_stats_slots_bunch(void **state)
{
    (void)state;
    kc_sim_dir_t *d = dir_of("slot 10ms packets 3", 18);
    int64_t last = 0;
    int in_slot = 0;
    for (int i = 0; i < 1000; i++) {
        kc_sim_decision_t r = next(d, (int64_t)i * MS, 100);
        assert_int_equal(r.t_deliver % (10 * MS), 0);
        assert_true(r.t_deliver >= r.t_arrive);
        assert_true(r.t_deliver >= last);
        in_slot = r.t_deliver == last ? in_slot + 1 : 1;
        assert_true(in_slot <= 3);
        last = r.t_deliver;
    }
    kc_sim_dir_destroy(d);
}

static void test_sim_stats_limit_and_order(void **state)
{
    (void)state;
    kc_sim_dir_t *d = dir_of("limit 4 delay 1ms", 19);
    kc_sim_decision_t r;
    assert_int_equal(kc_sim_dir_decide(d, 5, 1, 3, &r), 0);
    assert_int_equal(r.fate, 0);
    assert_int_equal(kc_sim_dir_decide(d, 6, 1, 4, &r), 0);
    assert_int_equal(r.fate, KC_SIM_F_LIMIT);
    assert_int_equal(r.t_deliver, -1);
    assert_int_equal(r.frame, 1);
    assert_int_equal(kc_sim_dir_decide(d, 4, 1, 0, &r), -EINVAL); /* time went back */
    assert_int_equal(kc_sim_dir_decide(NULL, 7, 1, 0, &r), -EINVAL);
    assert_int_equal(kc_sim_dir_decide(d, 7, 1, 0, NULL), -EINVAL);
    kc_sim_dir_destroy(d);
    kc_sim_dir_destroy(NULL);
    assert_int_equal(kc_sim_dir_create(NULL, 1, &d), -EINVAL);
}

/* The same words and seed give byte-identical logs; another seed does not. */
static void test_sim_stats_seeded_replay(void **state)
{
    (void)state;
    const char *w = "delay 20ms 5ms 25% distribution normal loss 1% duplicate 0.5% "
                    "reorder 10% 50% gap 5 corrupt 0.1% rate 10mbit";
    unsigned long h[3] = {5381, 5381, 5381};
    const uint64_t seeds[3] = {42, 42, 43};
    for (int k = 0; k < 3; k++) {
        kc_sim_dir_t *d = dir_of(w, seeds[k]);
        char line[256];
        for (long i = 0; i < 20000; i++) {
            kc_sim_decision_t r = next(d, i * 100000, (uint32_t)(i % 1500));
            int n = kc_sim_decision_json(&r, "a>b", line, sizeof line);
            assert_true(n > 0);
            for (int c = 0; c < n; c++)
                h[k] = h[k] * 33 + (unsigned char)line[c];
        }
        kc_sim_dir_destroy(d);
    }
    assert_true(h[0] == h[1]);
    assert_true(h[0] != h[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_stats_bernoulli_rates),
        cmocka_unit_test(test_sim_stats_corrupt_bit_uniform),
        cmocka_unit_test(test_sim_stats_delay_distributions),
        cmocka_unit_test(test_sim_stats_delay_correlation),
        cmocka_unit_test(test_sim_stats_reorder_gap),
        cmocka_unit_test(test_sim_stats_four_state_markov),
        cmocka_unit_test(test_sim_stats_gilbert_elliott),
        cmocka_unit_test(test_sim_stats_rate_serialises),
        cmocka_unit_test(test_sim_stats_slots_bunch),
        cmocka_unit_test(test_sim_stats_limit_and_order),
        cmocka_unit_test(test_sim_stats_seeded_replay),
    };
    return cmocka_run_group_tests_name("sim_stats", tests, NULL, NULL);
}
