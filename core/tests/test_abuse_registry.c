/* test_abuse_registry.c - kcoro/registry.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, out-of-range,
 * huge and stale arguments: each returns the documented negative errno (or
 * the documented 0, "" or "object") and lists nothing it should not;
 * nested walks stop at the documented depth. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/registry.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static int count_visit(const kc_registry_entry_t *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

static int stop_visit(const kc_registry_entry_t *e, void *arg)
{
    (void)e, (void)arg;
    return 7;
}

/* Walks again from inside the walk, as deep as it is allowed to. */
static int nest_visit(const kc_registry_entry_t *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
    return kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_KIND_MAX), nest_visit, arg);
}

static void test_abuse_registry_switch_and_names(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure(NULL), -EINVAL);
    assert_int_equal(kc_registry_configure("bogus"), -EINVAL);
    assert_int_equal(kc_registry_configure("chan,bogus"), -EINVAL);
    assert_int_equal(kc_registry_configure("none"), 0);
    assert_false(kc_registry_wants(KC_REGISTRY_CHAN, 0));
    assert_true(kc_registry_wants(KC_REGISTRY_CHAN, KC_REGISTRY_FLAG));
    assert_false(kc_registry_wants(0, KC_REGISTRY_FLAG)); /* no kind 0 */
    assert_false(kc_registry_wants(KC_REGISTRY_KIND_MAX + 1, KC_REGISTRY_FLAG));
    assert_false(kc_registry_wants(UINT32_MAX, UINT32_MAX));
    assert_int_equal(kc_registry_configure("chan"), 0);
    assert_true(kc_registry_wants(KC_REGISTRY_CHAN, 0));
    assert_false(kc_registry_wants(KC_REGISTRY_BUS, 0));
    assert_int_equal(kc_registry_configure("chan,nope"), -EINVAL); /* unchanged */
    assert_true(kc_registry_wants(KC_REGISTRY_CHAN, 0));
    assert_int_equal(kc_registry_configure("all"), 0);
    assert_true(kc_registry_wants(KC_REGISTRY_KIND_MAX, 0));
    assert_int_equal(kc_registry_configure("none"), 0);
    assert_string_equal(kc_registry_kind_name(KC_REGISTRY_CHAN), "chan");
    assert_string_equal(kc_registry_kind_name(KC_REGISTRY_REMOTE_CHAN), "remote_chan");
    assert_string_equal(kc_registry_kind_name(0), "object");
    assert_string_equal(kc_registry_kind_name(KC_REGISTRY_REMOTE_CHAN + 1), "object");
    assert_string_equal(kc_registry_kind_name(UINT32_MAX), "object");
    uint64_t a = kc_registry_new_id(), b = kc_registry_new_id();
    assert_true(a != 0 && b > a);
}

static void test_abuse_registry_add_walk_remove(void **state)
{
    (void)state;
    const uint32_t k = KC_REGISTRY_KIND_MAX; /* a kind nothing else uses */
    int obj = 0;
    kc_registry_node_t *n = NULL, *m = NULL;
    size_t before = kc_registry_count(0);
    assert_int_equal(kc_registry_add(0, &obj, 0, "x", NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(k + 1, &obj, 0, "x", NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(UINT32_MAX, &obj, 0, "x", NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(k, NULL, 0, "x", NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(k, &obj, 0, "x", NULL, NULL), -EINVAL);
    assert_null(n);
    assert_int_equal(kc_registry_count(0), before); /* nothing listed */
    assert_int_equal(kc_registry_node_id(NULL), 0);
    assert_string_equal(kc_registry_node_name(NULL), "");
    kc_registry_remove(NULL); /* a no-op */

    /* no name and id 0: a fresh id and "<kind>-<id>" */
    assert_int_equal(kc_registry_add(k, &obj, 0, NULL, NULL, &n), 0);
    uint64_t id = kc_registry_node_id(n);
    assert_true(id != 0);
    char want[64];
    snprintf(want, sizeof(want), "object-%llu", (unsigned long long)id);
    assert_string_equal(kc_registry_node_name(n), want);
    /* a huge name is cut; an explicit id is kept */
    char longname[300];
    memset(longname, 'q', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(kc_registry_add(k, &obj, UINT64_MAX, longname, NULL, &m), 0);
    assert_int_equal(kc_registry_node_id(m), UINT64_MAX);
    assert_int_equal(strlen(kc_registry_node_name(m)), KC_REGISTRY_NAME_MAX - 1);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(k)), 2);
    assert_int_equal(kc_registry_count(0), before + 2);

    int seen = 0;
    assert_int_equal(kc_registry_foreach(0, NULL, NULL), -EINVAL);
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(k), count_visit, &seen), 0);
    assert_int_equal(seen, 2);
    seen = 0;
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_BUS), count_visit, &seen), 0);
    assert_int_equal(seen, 0);
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(k), stop_visit, NULL), 7);
    seen = 0; /* four walks deep, the fifth is refused */
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(k), nest_visit, &seen), -EDEADLK);
    assert_int_equal(seen, 4);

    kc_registry_remove(n);
    kc_registry_remove(m);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(k)), 0);
    assert_int_equal(kc_registry_count(0), before);
    seen = 0;
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(k), count_visit, &seen), 0);
    assert_int_equal(seen, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_registry_switch_and_names),
        cmocka_unit_test(test_abuse_registry_add_walk_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
