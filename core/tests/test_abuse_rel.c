/* test_abuse_rel.c - kcoro/rel.h called as a careless user would.
 *
 * The CRC with NULL, empty and chained buffers; registration twice; rel:
 * endpoints with options that are too small, zero-sized, negative or out of
 * range (each -EINVAL, nothing opened); and a live rel:sim:mem: pair
 * driven with expired and huge timeouts by the rule of kcoro/base.h
 * (UBSan checks the deadline sums under make sanitize). mk/lint-abuse.sh
 * holds every public header to having such a file. Leaks show under ASan
 * and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/rel.h"
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

static void test_abuse_rel_crc32c(void **state)
{
    (void)state;
    assert_int_equal(kc_rel_crc32c(0, NULL, 5), 0);
    assert_int_equal(kc_rel_crc32c(7, NULL, SIZE_MAX), 7); /* NULL adds nothing */
    assert_int_equal(kc_rel_crc32c(0x12345678u, "x", 0), 0x12345678u);
    assert_int_equal(kc_rel_crc32c(0, "123456789", 9), 0xe3069283u); /* the check value */
    assert_int_equal(kc_rel_crc32c(kc_rel_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_abuse_rel_bad_options_and_timeouts(void **state)
{
    (void)state;
    assert_int_equal(kc_sim_register(), 0);
    assert_int_equal(kc_rel_register(), 0);
    assert_int_equal(kc_rel_register(), 0); /* idempotent */
    char url[96];
    snprintf(url, sizeof(url), "rel:sim:mem:abuse-rel-%d", (int)getpid());
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "";
    kc_rel_opts_t ro = KC_REL_OPTS_INIT;
    ro.inner = &so;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &ro;
    kc_transport_t *l = NULL, *a = NULL, *b = NULL;

    kc_rel_opts_t bad = ro;
    bad.size = 0;
    o.adapter = &bad;
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    assert_int_equal(kc_transport_connect(url, &o, &a, INT64_MAX, NULL), -EINVAL);
    bad = ro;
    bad.rto_min_ns = -5;
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    bad = ro;
    bad.rto_min_ns = INT64_MIN;
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    bad = ro;
    bad.rto_init_ns = 1; /* below the minimum RTO */
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    bad = ro;
    bad.window = KC_REL_WINDOW_MAX + 1;
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    bad = ro;
    bad.mss = UINT32_MAX;
    assert_int_equal(kc_transport_listen(url, &o, &l), -EINVAL);
    assert_null(l);
    assert_null(a);

    /* a live pair: expired timeouts try once, huge ones saturate */
    o.adapter = &ro;
    assert_int_equal(kc_transport_listen(url, &o, &l), 0);
    assert_int_equal(kc_transport_accept(l, &b, NULL, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_connect(url, &o, &a, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &b, NULL, INT64_MAX - 1, NULL), 0);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, 3};
    struct iovec iov = {(void *)(uintptr_t) "abc", 3};
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_transport_send_frame(a, &h, &iov, 1, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(b, &h, &p, 64, INT64_MAX, NULL), 0);
    assert_int_equal(h.len, 3);
    assert_memory_equal(p, "abc", 3);
    free(p);
    assert_int_equal(kc_transport_send_frame(b, &h, &iov, 1, INT64_MAX / 2, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(a, &h, &p, 64, INT64_MAX - 1, NULL), 0);
    free(p);
    assert_int_equal(kc_transport_close(a), 0);
    assert_int_equal(kc_transport_close(b), 0);
    assert_int_equal(kc_transport_close(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_rel_crc32c),
        cmocka_unit_test(test_abuse_rel_bad_options_and_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
