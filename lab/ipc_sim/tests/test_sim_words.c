/* test_sim_words.c - netem's words: what parses, what each word sets, the
 * errors that name the word at fault, and printing that parses back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kc_sim_impl.h"

static kc_sim_spec_t *parse_ok(const char *w)
{
    kc_sim_spec_t *s = NULL;
    char err[KC_SIM_ERR_MAX];
    int rc = kc_sim_spec_parse(w, &s, err, sizeof err);
    if (rc != 0)
        print_error("parse '%s': %s\n", w, err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

static void expect_error(const char *w, const char *needle)
{
    kc_sim_spec_t *s = (kc_sim_spec_t *)0x1;
    char err[KC_SIM_ERR_MAX];
    assert_int_equal(kc_sim_spec_parse(w, &s, err, sizeof err), -EINVAL);
    assert_ptr_equal(s, (kc_sim_spec_t *)0x1); /* untouched */
    if (!strstr(err, needle)) {
        print_error("'%s' gave '%s', expected it to name '%s'\n", w, err, needle);
        fail();
    }
}

static void test_sim_words_issue_example(void **state)
{
    (void)state;
    kc_sim_spec_t *s = parse_ok("delay 20ms 5ms 25% distribution normal loss 1% duplicate 0.5% "
                                "reorder 10% 50% gap 5 corrupt 0.1% rate 10mbit");
    assert_int_equal(s->delay, 20000000);
    assert_int_equal(s->jitter, 5000000);
    assert_true(s->delay_corr > 0.2499 && s->delay_corr < 0.2501);
    assert_int_equal(s->dist, KC_SIM_DIST_NORMAL);
    assert_int_equal(s->loss, KC_SIM_LOSS_RANDOM);
    assert_true(s->loss_p > 0.00999 && s->loss_p < 0.01001);
    assert_true(s->dup > 0.004999 && s->dup < 0.005001);
    assert_true(s->reorder > 0.0999 && s->reorder < 0.1001);
    assert_true(s->reorder_corr > 0.4999 && s->reorder_corr < 0.5001);
    assert_int_equal(s->gap, 5);
    assert_true(s->corrupt > 0.000999 && s->corrupt < 0.001001);
    assert_int_equal(s->rate_bps, 10000000);
    assert_int_equal(s->limit, 1000);
    kc_sim_spec_free(s);
}

static void test_sim_words_units(void **state)
{
    (void)state;
    kc_sim_spec_t *s = parse_ok("delay 1s 250us");
    assert_int_equal(s->delay, 1000000000);
    assert_int_equal(s->jitter, 250000);
    kc_sim_spec_free(s);
    s = parse_ok("delay 100"); /* bare: microseconds, as tc */
    assert_int_equal(s->delay, 100000);
    kc_sim_spec_free(s);
    s = parse_ok("delay 7ns rate 1gibit 14 64 5");
    assert_int_equal(s->delay, 7);
    assert_int_equal(s->rate_bps, 1073741824ull);
    assert_int_equal(s->overhead, 14);
    assert_int_equal(s->cellsize, 64);
    assert_int_equal(s->celloverhead, 5);
    kc_sim_spec_free(s);
    s = parse_ok("rate 2mbps loss 0.5"); /* bytes/s; a bare percentage */
    assert_int_equal(s->rate_bps, 16000000);
    assert_true(s->loss_p > 0.004999 && s->loss_p < 0.005001);
    kc_sim_spec_free(s);
    s = parse_ok("slot 10ms 20ms packets 4 bytes 64kb limit 50 seed 99");
    assert_true(s->slot);
    assert_int_equal(s->slot_min, 10000000);
    assert_int_equal(s->slot_max, 20000000);
    assert_int_equal(s->slot_packets, 4);
    assert_int_equal(s->slot_bytes, 65536);
    assert_int_equal(s->limit, 50);
    assert_int_equal(kc_sim_spec_seed(s), 99);
    kc_sim_spec_free(s);
    s = parse_ok("");
    assert_int_equal(s->loss, KC_SIM_LOSS_NONE);
    assert_int_equal(s->delay, 0);
    kc_sim_spec_free(s);
}

static void test_sim_words_loss_model_defaults(void **state)
{
    (void)state;
    kc_sim_spec_t *s = parse_ok("loss state 2%");
    assert_int_equal(s->loss, KC_SIM_LOSS_STATE);
    assert_true(s->p31 > 0.9799 && s->p31 < 0.9801); /* 1 - p13 */
    assert_true(s->p32 == 0.0 && s->p23 == 1.0 && s->p14 == 0.0);
    kc_sim_spec_free(s);
    s = parse_ok("loss state 5% 40% 20% 30% 2%");
    assert_true(s->p14 > 0.0199 && s->p14 < 0.0201);
    assert_true(s->p23 > 0.2999 && s->p23 < 0.3001);
    kc_sim_spec_free(s);
    s = parse_ok("loss gemodel 1%");
    assert_int_equal(s->loss, KC_SIM_LOSS_GEMODEL);
    assert_true(s->ge_r > 0.9899 && s->ge_r < 0.9901); /* 1 - p */
    assert_true(s->ge_1h == 1.0 && s->ge_1k == 0.0);
    kc_sim_spec_free(s);
    s = parse_ok("reorder 25% delay 10ms"); /* gap defaults to 1 */
    assert_int_equal(s->gap, 1);
    kc_sim_spec_free(s);
}

static void test_sim_words_errors_name_the_word(void **state)
{
    (void)state;
    expect_error("delay", "at the end: expected a time");
    expect_error("delay 20xs", "word 2 '20xs'");
    expect_error("delay 20ms loss 101%", "word 4 '101%'");
    expect_error("loss -1%", "word 2 '-1%'");
    expect_error("jitter 5ms", "word 1 'jitter': not a netem option");
    expect_error("delay 10ms 1ms distribution lognormal", "word 5 'lognormal'");
    expect_error("distribution normal", "word 1 'distribution': a distribution needs a delay");
    expect_error("reorder 5%", "word 1 'reorder': reordering needs a delay");
    expect_error("delay 1ms gap 5", "word 3 'gap': a gap needs a reorder");
    expect_error("loss 1% ecn", "word 3 'ecn'");
    expect_error("rate fast", "word 2 'fast'");
    expect_error("slot 20ms 10ms", "the slot's maximum is below");
    expect_error("slot 10ms packets -3", "word 4 '-3'");
    expect_error("limit 1.5", "word 2 '1.5'");
    expect_error("loss state 60% 10% 10% 10% 50%", "p13 + p14 exceed");
    expect_error("seed", "at the end");

    char err[KC_SIM_ERR_MAX];
    kc_sim_spec_t *s = NULL;
    assert_int_equal(kc_sim_spec_parse(NULL, &s, err, sizeof err), -EINVAL);
    assert_int_equal(kc_sim_spec_parse("delay 1ms", NULL, err, sizeof err), -EINVAL);
    assert_int_equal(kc_sim_spec_parse("delay", &s, NULL, 0), -EINVAL); /* no message wanted */
    char tiny[8];
    assert_int_equal(kc_sim_spec_parse("delay x", &s, tiny, sizeof tiny), -EINVAL);
    assert_int_equal(strlen(tiny), sizeof tiny - 1); /* truncated, terminated */
    kc_sim_spec_free(NULL);
}

static void test_sim_words_format_round_trips(void **state)
{
    (void)state;
    const char *cases[] = {
        ("delay 20ms 5ms 25% distribution normal loss random 1% duplicate 0.5% corrupt 0.1% "
         "reorder 10% 50% gap 5 rate 10000000bit"),
        "limit 10 delay 1s loss state 5% 40% 20% 30% 2% slot 10ms 20ms packets 4 bytes 65536",
        "delay 1500us 3ns loss gemodel 1% 30% 100% 0% rate 8bit -4 53 5 seed 7",
        "slot distribution pareto 5ms 1ms packets 2",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kc_sim_spec_t *a = parse_ok(cases[i]);
        char one[512], two[512];
        int n = kc_sim_spec_format(a, one, sizeof one);
        assert_true(n >= 0);
        assert_int_equal((size_t)n, strlen(one));
        kc_sim_spec_t *b = parse_ok(one);
        assert_int_equal(kc_sim_spec_format(b, two, sizeof two), n);
        assert_string_equal(one, two);
        assert_string_equal(one, cases[i]); /* the cases are written canonically */
        kc_sim_spec_free(a);
        kc_sim_spec_free(b);
    }
    kc_sim_spec_t *s = parse_ok("delay 20ms 5ms");
    char small[6];
    assert_int_equal(kc_sim_spec_format(s, small, sizeof small), -EMSGSIZE);
    assert_int_equal(kc_sim_spec_format(NULL, small, sizeof small), -EINVAL);
    assert_int_equal(kc_sim_spec_format(s, NULL, 10), -EINVAL);
    kc_sim_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_words_issue_example),
        cmocka_unit_test(test_sim_words_units),
        cmocka_unit_test(test_sim_words_loss_model_defaults),
        cmocka_unit_test(test_sim_words_errors_name_the_word),
        cmocka_unit_test(test_sim_words_format_round_trips),
    };
    return cmocka_run_group_tests_name("sim_words", tests, NULL, NULL);
}
