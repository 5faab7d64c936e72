/* test_abuse_chan.c - kcoro/chan.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 * (The full table of outcomes is ERROR_SEMANTICS.md; test_chan.c and
 * test_select.c cover the states, this file the arguments.)
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void test_abuse_chan_create_with_bad_options(void **state)
{
    (void)state;
    kc_chan_t *ch = (kc_chan_t *)(uintptr_t)1;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    assert_int_equal(kc_chan_create(NULL, &o), -EINVAL);
    assert_int_equal(kc_chan_create(&ch, NULL), -EINVAL);
    o.size = 2;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
    o.flags = 1;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
    o.kind = (kc_chan_kind_t)42;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o.kind = (kc_chan_kind_t)-1;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
    o.policy = (kc_chan_policy_t)9;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
    o.capacity = 4; /* a rendezvous channel has none */
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 0;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o.capacity = KC_CHAN_MAX_CAPACITY + 1;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o.capacity = SIZE_MAX;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o = (kc_chan_opts_t)KC_CHAN_OPTS_INIT;
    o.elem_size = KC_CHAN_MAX_ELEM + 1;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    o.elem_size = SIZE_MAX;
    assert_int_equal(kc_chan_create(&ch, &o), -EINVAL);
    assert_int_equal(kc_chan_make(NULL, KC_CHAN_RENDEZVOUS, 0, 8), -EINVAL);
    assert_int_equal(kc_chan_make(&ch, (kc_chan_kind_t)7, 0, 8), -EINVAL);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 0, 8), -EINVAL);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, SIZE_MAX, 8), -EINVAL);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, SIZE_MAX), -EINVAL);
    assert_int_equal(kc_chan_destroy(NULL), 0);
}

static void test_abuse_chan_null_channel_and_buffers(void **state)
{
    (void)state;
    uint64_t v = 1;
    kc_zdesc_t d = KC_ZDESC_INIT;
    void *p = NULL;
    size_t len = 0;
    char line[128];
    kc_chan_snapshot_t sa = KC_CHAN_SNAPSHOT_INIT, sb = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_rate_t r;
    assert_int_equal(kc_chan_close(NULL), -EINVAL);
    assert_int_equal(kc_chan_close_with(NULL, -EIO), -EINVAL);
    assert_int_equal(kc_chan_close_reason(NULL), 0);
    assert_false(kc_chan_is_closed(NULL));
    assert_int_equal(kc_chan_len(NULL), 0);
    assert_int_equal(kc_chan_capacity(NULL), 0);
    assert_int_equal(kc_chan_elem_size(NULL), 0);
    assert_int_equal(kc_chan_send(NULL, &v, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv(NULL, &v, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_chan_try_send(NULL, &v), -EINVAL);
    assert_int_equal(kc_chan_try_recv(NULL, &v), -EINVAL);
    assert_int_equal(kc_chan_send_desc(NULL, &d, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv_desc(NULL, &d, INT64_MIN, NULL), -EINVAL);
    assert_int_equal(kc_chan_try_send_desc(NULL, &d), -EINVAL);
    assert_int_equal(kc_chan_try_recv_desc(NULL, &d), -EINVAL);
    assert_int_equal(kc_chan_send_ptr(NULL, &v, 8, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv_ptr(NULL, &p, &len, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(NULL, 1, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_snapshot(NULL, &sa), -EINVAL);
    assert_int_equal(kc_chan_compute_rate(NULL, &sb, &r), -EINVAL);
    assert_int_equal(kc_chan_compute_rate(&sa, NULL, &r), -EINVAL);
    assert_int_equal(kc_chan_compute_rate(&sa, &sb, NULL), -EINVAL);
    assert_int_equal(kc_chan_dump(NULL, line, sizeof(line)), -EINVAL);
    assert_string_equal(kc_chan_kind_name((kc_chan_kind_t)99), "?");
    assert_string_equal(kc_chan_kind_name((kc_chan_kind_t)-1), "?");
    assert_string_equal(kc_chan_kind_name(KC_CHAN_CONFLATED), "CONFLATED");
    assert_string_equal(kc_chan_policy_name((kc_chan_policy_t)99), "?");
    assert_string_equal(kc_chan_policy_name(KC_CHAN_DROP_LATEST), "DROP_LATEST");
}

static void test_abuse_chan_bad_arguments_on_live_channels(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL, *dch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 2, sizeof(uint64_t)), 0);
    assert_int_equal(kc_chan_make(&dch, KC_CHAN_BUFFERED, 2, 0), 0);
    uint64_t v = 1;
    kc_zdesc_t d, bad;
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_zdesc_init(&d, &v, sizeof(v), 0), 0);
    assert_int_equal(kc_chan_send(ch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv(ch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_try_send(ch, NULL), -EINVAL);
    assert_int_equal(kc_chan_try_recv(ch, NULL), -EINVAL);
    assert_int_equal(kc_chan_send_desc(ch, &d, 0, NULL), -EINVAL); /* copy channel */
    assert_int_equal(kc_chan_try_send_desc(ch, &d), -EINVAL);
    assert_int_equal(kc_chan_try_recv_desc(ch, &d), -EINVAL);
    assert_int_equal(kc_chan_send(dch, &v, 0, NULL), -EINVAL); /* descriptor channel */
    assert_int_equal(kc_chan_send_desc(dch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv_desc(dch, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_send_ptr(dch, NULL, 4, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_recv_ptr(dch, NULL, &len, 0, NULL), -EINVAL);
    bad = d;
    bad.size = 0;
    assert_int_equal(kc_chan_try_send_desc(dch, &bad), -EINVAL);
    bad = d;
    bad.flags = 0xff;
    assert_int_equal(kc_chan_try_send_desc(dch, &bad), -EINVAL);
    /* timeouts: negative ones have run out (ERROR_SEMANTICS.md "Timeouts") */
    assert_int_equal(kc_chan_recv(ch, &v, -5, NULL), -EAGAIN);
    assert_int_equal(kc_chan_recv(ch, &v, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_chan_recv_ptr(dch, &p, &len, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_chan_send(ch, &v, INT64_MIN, NULL), 0); /* room: no wait needed */
    assert_int_equal(kc_chan_recv(ch, &v, INT64_MAX, NULL), 0);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    assert_int_equal(s.sends, 1);
    assert_int_equal(s.failures.einval, 7);
    assert_int_equal(s.failures.eagain, 2);
    s.size = 3;
    assert_int_equal(kc_chan_snapshot(ch, &s), -EINVAL);
    assert_int_equal(kc_chan_dump(ch, NULL, 0), kc_chan_dump(ch, NULL, 0)); /* length only */
    assert_true(kc_chan_dump(ch, NULL, 0) > 0);
    assert_int_equal(kc_chan_dump(ch, NULL, 10), -EINVAL);
    char tiny[1];
    assert_true(kc_chan_dump(ch, tiny, sizeof(tiny)) > 0);
    assert_int_equal(tiny[0], '\0');
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_destroy(dch), 0);
}

static void test_abuse_chan_stale_closed_channel_and_snapshots(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    uint64_t v = 1;
    kc_chan_snapshot_t a = KC_CHAN_SNAPSHOT_INIT, b = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_rate_t r;
    assert_int_equal(kc_chan_snapshot(ch, &a), 0);
    assert_int_equal(kc_chan_compute_rate(&a, &a, &r), -EINVAL); /* not later */
    assert_int_equal(kc_chan_close_reason(ch), 0);               /* open */
    assert_int_equal(kc_chan_close_with(ch, INT_MIN), 0);
    assert_int_equal(kc_chan_close(ch), -EPIPE); /* twice */
    assert_int_equal(kc_chan_close_with(ch, 5), -EPIPE);
    assert_int_equal(kc_chan_close_reason(ch), INT_MIN); /* the first reason stays */
    assert_true(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_send(ch, &v, INT64_MAX, NULL), -EPIPE);
    assert_int_equal(kc_chan_recv(ch, &v, INT64_MAX - 1, NULL), -EPIPE);
    assert_int_equal(kc_chan_try_send(ch, &v), -EPIPE);
    assert_int_equal(kc_chan_try_recv(ch, &v), -EPIPE);
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(ch, &v)};
    assert_int_equal(kc_chan_select(cl, 1, 0, INT64_MAX / 2, NULL), 0);
    assert_int_equal(cl[0].result, -EPIPE);
    assert_int_equal(kc_chan_select(cl, 0, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(cl, SIZE_MAX, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(cl, 1, UINT32_MAX, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_snapshot(ch, &b), 0);
    b.metrics_version = a.metrics_version + 1;
    assert_int_equal(kc_chan_compute_rate(&a, &b, &r), -EINVAL); /* other versions */
    assert_int_equal(kc_chan_compute_rate(&b, &a, &r), -EINVAL);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* Ids and names: NULL reads as 0 and "", a long name is cut to 31 bytes,
 * ids are distinct and stay with a closed channel. */
static void test_abuse_chan_ids_and_names(void **state)
{
    (void)state;
    assert_int_equal(kc_chan_id(NULL), 0);
    assert_string_equal(kc_chan_name(NULL), "");
    kc_chan_t *a = NULL, *b = NULL;
    assert_int_equal(kc_chan_make(&a, KC_CHAN_RENDEZVOUS, 0, 8), 0);
    assert_string_equal(kc_chan_name(a), ""); /* none given */
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.name = longname;
    assert_int_equal(kc_chan_create(&b, &o), 0);
    assert_int_equal(strlen(kc_chan_name(b)), 31);
    assert_int_equal(strncmp(kc_chan_name(b), longname, 31), 0);
    uint64_t ida = kc_chan_id(a), idb = kc_chan_id(b);
    assert_true(ida != 0 && idb != 0 && ida != idb);
    assert_int_equal(kc_chan_close(a), 0);
    assert_int_equal(kc_chan_id(a), ida); /* stale (closed): unchanged */
    assert_int_equal(kc_chan_destroy(a), 0);
    assert_int_equal(kc_chan_destroy(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_chan_ids_and_names),
        cmocka_unit_test(test_abuse_chan_create_with_bad_options),
        cmocka_unit_test(test_abuse_chan_null_channel_and_buffers),
        cmocka_unit_test(test_abuse_chan_bad_arguments_on_live_channels),
        cmocka_unit_test(test_abuse_chan_stale_closed_channel_and_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
