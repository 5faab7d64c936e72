/* test_abuse_monitor.c - kcoro/monitor.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge,
 * malformed and stale arguments: each returns the documented negative
 * errno and leaves nothing behind (no socket file, no listener, no
 * coroutine). mk/lint-abuse.sh holds every public header to having such a
 * file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/monitor.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void test_abuse_monitor_start_with_bad_arguments(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_monitor_t *m = (kc_monitor_t *)(uintptr_t)1;
    char path[96], url[128];
    snprintf(path, sizeof(path), "/tmp/kc-abuse-monitor-%d", (int)getpid());
    snprintf(url, sizeof(url), "unix:%s", path);
    unlink(path);
    kc_monitor_opts_t o = KC_MONITOR_OPTS_INIT;
    assert_int_equal(kc_monitor_start(s, NULL, NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(s, url, NULL, NULL), -EINVAL);
    assert_int_equal(kc_monitor_start(NULL, url, NULL, &m), -EPERM); /* not on a scheduler */
    assert_null(m);
    o.size = 0;
    assert_int_equal(kc_monitor_start(s, url, &o, &m), -EINVAL);
    o = (kc_monitor_opts_t)KC_MONITOR_OPTS_INIT;
    o.flags = 0x80u; /* unknown */
    assert_int_equal(kc_monitor_start(s, url, &o, &m), -EINVAL);
    o.flags = 0;
    o.max_clients = -1;
    assert_int_equal(kc_monitor_start(s, url, &o, &m), -EINVAL);
    o.max_clients = INT_MIN;
    assert_int_equal(kc_monitor_start(s, url, &o, &m), -EINVAL);
    o.max_clients = 0;
    static const char *const bad[] = {
        "",
        "unix:",
        "ftp:127.0.0.1:80",
        "tcp:",
        "tcp:127.0.0.1",
        "tcp:127.0.0.1:",
        "tcp:127.0.0.1:65536",
        "tcp:127.0.0.1:-1",
        "tcp:127.0.0.1:99999999999999999999",
        "tcp:127.0.0.1:80x",
        "tcp:not-an-ip:80",
        "tcp:[::1]:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kc_monitor_start(s, bad[i], &o, &m), -EINVAL);
    char longurl[300] = "unix:/tmp/";
    memset(longurl + 10, 'p', sizeof(longurl) - 11);
    longurl[sizeof(longurl) - 1] = '\0';
    assert_int_equal(kc_monitor_start(s, longurl, &o, &m), -EINVAL);        /* path too long */
    assert_int_equal(kc_monitor_start(s, "tcp:8.8.8.8:0", &o, &m), -EPERM); /* not loopback */
    assert_null(m);
    assert_int_equal(access(path, F_OK), -1); /* nothing left behind */

    /* a live monitor: its address, a second one on the same path, stop */
    assert_int_equal(kc_monitor_start(s, url, &o, &m), 0);
    assert_non_null(m);
    kc_monitor_t *m2 = NULL;
    assert_int_equal(kc_monitor_start(s, url, &o, &m2), -EADDRINUSE);
    assert_null(m2);
    char buf[160];
    assert_int_equal(kc_monitor_address(NULL, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(kc_monitor_address(m, NULL, 5), -EINVAL);
    int len = kc_monitor_address(m, NULL, 0); /* the length only */
    assert_int_equal(len, (int)strlen(url));
    memset(buf, 'z', sizeof(buf));
    assert_int_equal(kc_monitor_address(m, buf, 4), len); /* cut, NUL-terminated */
    assert_string_equal(buf, "uni");
    assert_int_equal(kc_monitor_address(m, buf, sizeof(buf)), len);
    assert_string_equal(buf, url);
    assert_int_equal(kc_monitor_stop(m), 0);
    assert_int_equal(access(path, F_OK), -1); /* the socket file is gone */
    assert_int_equal(kc_monitor_stop(NULL), 0);

    /* a stopping scheduler refuses */
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    m = NULL;
    assert_int_equal(kc_monitor_start(s, url, &o, &m), -EPIPE);
    assert_null(m);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_abuse_monitor_render_bad_files_and_formats(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    FILE *ro = fopen("/dev/null", "r"); /* every write fails */
    assert_non_null(ro);
    assert_int_equal(kc_monitor_render(NULL, KC_MONITOR_NDJSON), -EINVAL);
    assert_int_equal(kc_monitor_render(f, (kc_monitor_format_t)2), -EINVAL);
    assert_int_equal(kc_monitor_render(f, (kc_monitor_format_t)-1), -EINVAL);
    assert_int_equal(kc_monitor_render(f, (kc_monitor_format_t)INT_MAX), -EINVAL);
    assert_int_equal(ftell(f), 0);
    assert_int_equal(kc_monitor_render(ro, KC_MONITOR_NDJSON), -EIO);
    assert_int_equal(kc_monitor_render(ro, KC_MONITOR_PROMETHEUS), -EIO);
    assert_int_equal(kc_monitor_render(f, KC_MONITOR_NDJSON), 0); /* nothing registered */
    assert_int_equal(kc_monitor_render(f, KC_MONITOR_PROMETHEUS), 0);
    fclose(ro);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_monitor_start_with_bad_arguments),
        cmocka_unit_test(test_abuse_monitor_render_bad_files_and_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
