/* test_abuse_sim.c - kcoro/sim.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or the
 * documented 0 / no-op) and allocates nothing on failure; decisions at the
 * ends of the clock's range stay defined (times saturate at INT64_MAX:
 * UBSan checks them under make sanitize); a sim: endpoint over mem: takes
 * expired and huge timeouts by the rule of kcoro/base.h. mk/lint-abuse.sh
 * holds every public header to having such a file. Leaks show under ASan
 * and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/sim.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void test_abuse_sim_specs(void **state)
{
    (void)state;
    kc_sim_spec_t *s = (kc_sim_spec_t *)(uintptr_t)1;
    char err[KC_SIM_ERR_MAX];
    assert_int_equal(kc_sim_spec_parse(NULL, &s, err, sizeof(err)), -EINVAL);
    assert_int_equal(kc_sim_spec_parse("delay 1ms", NULL, err, sizeof(err)), -EINVAL);
    static const char *const bad[] = {
        "delay",
        "delay -1ms",
        "delay soon",
        "delay 1e300s",
        "delay inf",
        "delay nan",
        "loss 101%",
        "loss -1%",
        "loss random",
        "limit -1",
        "limit 99999999999999999999999",
        "rate 0",
        "rate -5mbit",
        "slot 0",
        "seed -1",
        "seed 99999999999999999999999",
        "reorder 5%",
        "distribution nope",
        "frobnicate",
        "corrupt 1%%",
        "duplicate 200",
        "slot 2ms 1ms",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = NULL;
        err[0] = '\0';
        int rc = kc_sim_spec_parse(bad[i], &s, err, sizeof(err));
        if (rc != -EINVAL)
            printf("  \"%s\": %d\n", bad[i], rc);
        assert_int_equal(rc, -EINVAL);
        assert_null(s);
        assert_true(err[0] != '\0'); /* names the word */
    }
    assert_int_equal(kc_sim_spec_parse("loss 101%", &s, NULL, 0), -EINVAL); /* no err buffer */
    assert_int_equal(kc_sim_spec_parse("loss 101%", &s, err, 1), -EINVAL);  /* a tiny one */
    assert_string_equal(err, "");

    assert_int_equal(kc_sim_spec_seed(NULL), 0);
    assert_int_equal(kc_sim_spec_parse("", &s, NULL, 0), 0); /* changes nothing */
    assert_int_equal(kc_sim_spec_seed(s), 0);
    char buf[256];
    assert_int_equal(kc_sim_spec_format(NULL, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(kc_sim_spec_format(s, NULL, sizeof(buf)), -EINVAL);
    assert_int_equal(kc_sim_spec_format(s, buf, 0), -EINVAL);
    kc_sim_spec_free(s);
    kc_sim_spec_free(NULL);
    assert_int_equal(
        kc_sim_spec_parse("delay 9200000000s 1s loss 100% seed 18446744073709551615", &s, NULL, 0),
        0);
    assert_int_equal(kc_sim_spec_seed(s), UINT64_MAX);
    int len = kc_sim_spec_format(s, buf, sizeof(buf));
    assert_true(len > 0 && (size_t)len == strlen(buf));
    memset(buf, 'z', sizeof(buf));
    assert_int_equal(kc_sim_spec_format(s, buf, 4), -EMSGSIZE); /* truncated, terminated */
    assert_int_equal(strlen(buf), 3);
    kc_sim_spec_free(s);
}

static void test_abuse_sim_directions_at_the_ends_of_time(void **state)
{
    (void)state;
    kc_sim_spec_t *s = NULL;
    kc_sim_dir_t *d = (kc_sim_dir_t *)(uintptr_t)1;
    kc_sim_decision_t r;
    assert_int_equal(kc_sim_dir_create(NULL, 1, &d), -EINVAL);
    assert_int_equal(
        kc_sim_spec_parse("delay 20ms 5ms duplicate 100% rate 1kbit slot 1ms 2ms", &s, NULL, 0), 0);
    assert_int_equal(kc_sim_dir_create(s, 1, NULL), -EINVAL);
    assert_int_equal(kc_sim_dir_create(s, UINT64_MAX, &d), 0);
    kc_sim_spec_free(s); /* the direction keeps its own copy */
    assert_int_equal(kc_sim_dir_decide(NULL, 0, 1, 0, &r), -EINVAL);
    assert_int_equal(kc_sim_dir_decide(d, 0, 1, 0, NULL), -EINVAL);
    /* INT64_MIN is a valid first arrival; then time only moves forward */
    assert_int_equal(kc_sim_dir_decide(d, INT64_MIN, UINT32_MAX, 0, &r), 0);
    assert_true(r.t_deliver >= r.t_arrive);
    char line[512];
    assert_true(kc_sim_decision_json(&r, "ab", line, sizeof(line)) > 0);
    assert_int_equal(kc_sim_dir_decide(d, INT64_MAX - 1, 1, UINT32_MAX, &r), 0);
    assert_int_equal(r.fate, KC_SIM_F_LIMIT);                       /* a full queue: lost */
    assert_int_equal(kc_sim_dir_decide(d, INT64_MAX, 1, 0, &r), 0); /* saturates */
    assert_int_equal(r.t_arrive, INT64_MAX);
    assert_int_equal(r.t_deliver, INT64_MAX);
    assert_int_equal(r.t_dup, INT64_MAX);
    assert_int_equal(kc_sim_dir_decide(d, INT64_MAX - 1, 1, 0, &r), -EINVAL); /* backwards */
    assert_int_equal(kc_sim_dir_decide(d, 0, 1, 0, &r), -EINVAL);
    kc_sim_dir_destroy(d);
    kc_sim_dir_destroy(NULL);

    /* the log line: NULLs, tiny buffers, a forged decision spanning the clock */
    kc_sim_decision_t forged = {UINT64_MAX, INT64_MIN,  INT64_MAX, INT64_MAX,
                                UINT32_MAX, UINT32_MAX, UINT32_MAX};
    assert_int_equal(kc_sim_decision_json(NULL, "ab", line, sizeof(line)), -EINVAL);
    assert_int_equal(kc_sim_decision_json(&forged, NULL, line, sizeof(line)), -EINVAL);
    assert_int_equal(kc_sim_decision_json(&forged, "ab", NULL, sizeof(line)), -EINVAL);
    assert_int_equal(kc_sim_decision_json(&forged, "ab", line, 0), -EINVAL);
    assert_int_equal(kc_sim_decision_json(&forged, "ab", line, 8), -EMSGSIZE);
    assert_true(kc_sim_decision_json(&forged, "ab", line, sizeof(line)) > 0);
    assert_non_null(strstr(line, "\"delay_ns\":9223372036854775807")); /* saturated */
}

static void test_abuse_sim_clocks_and_endpoints(void **state)
{
    (void)state;
    kc_sim_clock_t *c = NULL;
    assert_int_equal(kc_sim_clock_create(NULL), -EINVAL);
    assert_int_equal(kc_sim_clock_now(NULL), 0);
    assert_int_equal(kc_sim_clock_destroy(NULL), 0);
    assert_int_equal(kc_sim_clock_create(&c), 0);
    assert_int_equal(kc_sim_clock_now(c), 0);
    assert_int_equal(kc_sim_register(), 0);
    assert_int_equal(kc_sim_register(), 0); /* idempotent */

    char url[96];
    snprintf(url, sizeof(url), "sim:mem:abuse-sim-%d", (int)getpid());
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 10ms";
    so.clock = c;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &so;
    kc_transport_t *l = NULL, *a = NULL, *b = NULL;
    assert_int_equal(kc_transport_listen(url, &o, &l), 0);
    assert_int_equal(kc_sim_clock_destroy(c), -EBUSY); /* in use */
    assert_int_equal(kc_transport_accept(l, &b, NULL, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_accept(l, &b, NULL, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_transport_connect(url, &o, &a, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &b, NULL, INT64_MAX - 1, NULL), 0);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, 3};
    struct iovec iov = {(void *)(uintptr_t) "abc", 3};
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_send_frame(a, &h, &iov, 1, INT64_MIN, NULL), 0);
    /* virtual time: a huge timeout lets the clock run to the delivery */
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, INT64_MAX, NULL), 0);
    assert_int_equal(h.len, 3);
    assert_memory_equal(p, "abc", 3);
    free(p);
    assert_int_equal(kc_sim_clock_now(c), 10000000); /* moved by the delay, not slept */
    assert_int_equal(kc_transport_close(a), 0);
    assert_int_equal(kc_transport_close(b), 0);
    assert_int_equal(kc_transport_close(l), 0);
    assert_int_equal(kc_sim_clock_destroy(c), 0);
}

/* Turns: bad clocks and tickets, joining twice, leaving without joining;
 * an actor's endpoints then wait in virtual time with no peer to move it. */
static void test_abuse_sim_turns(void **state)
{
    (void)state;
    kc_sim_clock_t *c = NULL, *other = NULL;
    kc_sim_ticket_t *tk = NULL;
    assert_int_equal(kc_sim_clock_ticket(NULL, &tk), -EINVAL);
    assert_int_equal(kc_sim_clock_join(NULL, NULL), -EINVAL);
    assert_int_equal(kc_sim_clock_leave(NULL), -EINVAL);
    assert_int_equal(kc_sim_clock_adopt(NULL), -EINVAL);
    assert_int_equal(kc_sim_clock_create(&c), 0);
    assert_int_equal(kc_sim_clock_create(&other), 0);
    assert_int_equal(kc_sim_clock_ticket(c, NULL), -EINVAL);
    assert_int_equal(kc_sim_clock_leave(c), -EPERM); /* not an actor */
    assert_int_equal(kc_sim_clock_ticket(c, &tk), 0);
    assert_int_equal(kc_sim_clock_join(other, tk), -EINVAL); /* another clock's */
    assert_int_equal(kc_sim_clock_destroy(c), -EBUSY);       /* the ticket waits */
    assert_int_equal(kc_sim_clock_join(c, tk), 0);           /* the turn is ours */
    assert_int_equal(kc_sim_clock_join(c, tk), -EALREADY);
    assert_int_equal(kc_sim_clock_join(c, NULL), -EALREADY);

    /* A timed receive of an actor with nothing sent: the clock jumps by the
     * timeout (no other actor can run) and says -ETIME. */
    char url[96];
    snprintf(url, sizeof(url), "sim:mem:abuse-turns-%d", (int)getpid());
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 10ms";
    so.clock = c;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &so;
    kc_transport_t *l = NULL, *a = NULL, *b = NULL;
    assert_int_equal(kc_transport_listen(url, &o, &l), 0);
    assert_int_equal(kc_transport_connect(url, &o, &a, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &b, NULL, INT64_MAX, NULL), 0);
    assert_true(kc_transport_clock(a) == c && kc_transport_clock(l) == c);
    kc_frame_hdr_t h;
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, 5000000, NULL), -ETIME);
    assert_int_equal(kc_sim_clock_now(c), 5000000);
    kc_frame_hdr_t s = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, 3};
    struct iovec iov = {(void *)(uintptr_t) "abc", 3};
    assert_int_equal(kc_transport_send_frame(a, &s, &iov, 1, INT64_MIN, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, INT64_MAX, NULL), 0);
    free(p);
    assert_int_equal(kc_sim_clock_now(c), 15000000); /* sent at 5 ms, 10 ms delay */
    assert_int_equal(kc_transport_close(a), 0);
    assert_int_equal(kc_transport_close(b), 0);
    assert_int_equal(kc_transport_close(l), 0);
    assert_int_equal(kc_sim_clock_leave(c), 0);
    assert_int_equal(kc_sim_clock_leave(c), -EPERM);
    assert_int_equal(kc_sim_clock_destroy(c), 0);
    assert_int_equal(kc_sim_clock_destroy(other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_sim_specs),
        cmocka_unit_test(test_abuse_sim_directions_at_the_ends_of_time),
        cmocka_unit_test(test_abuse_sim_clocks_and_endpoints),
        cmocka_unit_test(test_abuse_sim_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
