/* test_arena_dump.c - metrics, the allocation-table dump, the invariant check.
 *
 * The dump is read back from a memory stream: the text form must name every
 * live ticket, page run and region; the JSON form must carry one object per
 * live ticket with its generation and refcount, and the metrics. Metrics are
 * checked field by field against a scripted sequence of operations, and
 * kc_arena_check() is shown to catch a corrupted page table (I1, I3).
 */
#include "kc_arena_impl.h"
#include "kc_arena_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

/* Run kc_arena_dump() into a heap string. GIVES: free() it. */
static char *dump_to_string(kc_arena_t *a, kc_arena_dump_format_t fmt)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    int rc = kc_arena_dump(a, f, fmt);
    fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char region_mem[4096];

/* A fixed scene: two slots, one 3-page run with 2 references, one region
 * ticket. */
static kc_arena_t *scene(kc_arena_ticket_t t[4], int *rid)
{
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    kc_arena_alloc(a, 100, &t[0], NULL);
    kc_arena_alloc(a, 100, &t[1], NULL);
    kc_arena_alloc(a, 3 * 4096, &t[2], NULL);
    kc_arena_retain(a, t[2]);
    *rid = kc_arena_register_region(a, region_mem, sizeof(region_mem), KC_ARENA_REGION_RDONLY);
    kc_arena_wrap(a, *rid, region_mem + 8, 32, &t[3]);
    return a;
}

static void release_scene(kc_arena_t *a, kc_arena_ticket_t t[4], int rid)
{
    kc_arena_release(a, t[2]);
    for (int i = 0; i < 4; i++)
        kc_arena_release(a, t[i]);
    kc_arena_unregister_region(a, rid);
}

static void test_arena_text_dump_lists_tickets_runs_and_regions(void **state)
{
    (void)state;
    kc_arena_ticket_t t[4];
    int rid;
    kc_arena_t *a = scene(t, &rid);
    char *s = dump_to_string(a, KC_ARENA_DUMP_TEXT);
    assert_non_null(s);
    assert_non_null(strstr(s, "arena \"test\": 4096-byte pages x 256"));
    assert_non_null(strstr(s, "live_tickets       4"));
    assert_non_null(strstr(s, "slab    112-byte slots"));
    assert_non_null(strstr(s, "run\n"));
    assert_non_null(strstr(s, "rdonly"));
    assert_int_equal(count_of(s, "  slot    page "), 2);
    assert_int_equal(count_of(s, "  run     page "), 1);
    assert_int_equal(count_of(s, "  region  region "), 1);
    char want[64];
    snprintf(want, sizeof(want), "  %-8u  %-10u  2     12288", t[2].index, t[2].gen);
    assert_non_null(strstr(s, want)); /* the run, with its two references */
    free(s);
    release_scene(a, t, rid);
    s = dump_to_string(a, KC_ARENA_DUMP_TEXT);
    assert_int_equal(count_of(s, " page "), 0);
    assert_int_equal(count_of(s, "rdonly"), 0);
    free(s);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_json_dump_has_one_object_per_live_ticket(void **state)
{
    (void)state;
    kc_arena_ticket_t t[4];
    int rid;
    kc_arena_t *a = scene(t, &rid);
    char *s = dump_to_string(a, KC_ARENA_DUMP_JSON);
    assert_non_null(s);
    assert_int_equal(s[0], '{');
    assert_int_equal(count_of(s, "\"index\":"), 4);
    assert_int_equal(count_of(s, "\"refs\":2"), 1);
    assert_int_equal(count_of(s, "\"kind\":\"region\""), 1);
    assert_int_equal(count_of(s, "\"kind\":\"slab\""), 1);
    assert_int_equal(count_of(s, "\"rdonly\":true"), 1);
    assert_non_null(strstr(s, "\"live_tickets\":4,"));
    assert_non_null(strstr(s, "\"region_tickets\":1,"));
    char want[64];
    snprintf(want, sizeof(want), "{\"id\":%d,", rid);
    assert_non_null(strstr(s, want));
    assert_int_equal(count_of(s, "{"), count_of(s, "}"));
    assert_int_equal(count_of(s, "["), count_of(s, "]"));
    size_t n = strlen(s);
    assert_true(n > 2 && s[n - 2] == '}' && s[n - 1] == '\n');
    free(s);
    release_scene(a, t, rid);
    s = dump_to_string(a, KC_ARENA_DUMP_JSON);
    assert_int_equal(count_of(s, "\"index\":"), 0);
    assert_non_null(strstr(s, "\"tickets\":[]}"));
    free(s);
    assert_int_equal(kc_arena_dump(a, NULL, KC_ARENA_DUMP_JSON), -EINVAL);
    assert_int_equal(kc_arena_dump(a, stdout, (kc_arena_dump_format_t)7), -EINVAL);
    assert_int_equal(kc_arena_dump(NULL, stdout, KC_ARENA_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_metrics_follow_the_operations(void **state)
{
    (void)state;
    kc_arena_ticket_t t[4], bogus = {1, 1, 1, 1};
    int rid;
    kc_arena_t *a = scene(t, &rid);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.size, sizeof(m));
    assert_int_equal(m.page_size, 4096);
    assert_int_equal(m.pages_total, 256);
    assert_int_equal(m.pages_used, 1 + 3);
    assert_int_equal(m.pages_high_water, 4);
    assert_int_equal(m.allocs, 3);
    assert_int_equal(m.frees, 0);
    assert_int_equal(m.live_tickets, 4);
    assert_int_equal(m.live_bytes, 100 + 100 + 3 * 4096);
    assert_int_equal(m.regions, 1);
    assert_int_equal(m.region_tickets, 1);
    assert_int_equal(m.largest_free_run, 252);
    assert_true(m.fragmentation > 0.0 && m.fragmentation < 0.25);
    assert_true(m.free_fragmentation == 0.0);
    kc_arena_release(a, bogus);
    kc_arena_hydrate(a, bogus, NULL, NULL);
    release_scene(a, t, rid);
    kc_arena_release(a, t[0]);
    m = kc_at_metrics(a);
    assert_int_equal(m.frees, 3);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.live_bytes, 0);
    assert_int_equal(m.stale_rejections, 2);
    assert_int_equal(m.double_releases, 1);
    assert_int_equal(m.regions, 0);
    assert_int_equal(m.pages_high_water, 4);
    assert_true(m.fragmentation == (m.pages_used > 0 ? 1.0 : 0.0)); /* only cache left */
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_metrics_size_field_is_honoured(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    kc_arena_metrics_t m;
    memset(&m, 0xff, sizeof(m));
    m.size = offsetof(kc_arena_metrics_t, pages_used); /* an older, shorter struct */
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.size, offsetof(kc_arena_metrics_t, pages_used));
    assert_int_equal(m.pages_total, 256);
    assert_int_equal(m.pages_used, UINT64_MAX); /* beyond its size: untouched */
    m.size = 4;
    assert_int_equal(kc_arena_metrics(a, &m), -EINVAL);
    assert_int_equal(kc_arena_metrics(a, NULL), -EINVAL);
    assert_int_equal(kc_arena_metrics(NULL, &m), -EINVAL);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* kc_arena_check() reports a broken page table instead of passing it. */
static void test_arena_check_catches_corruption(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    struct kc_arena *ai = a;
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_alloc(a, 64, &t, NULL), 0);
    assert_int_equal(kc_arena_check(a), 0);
    ai->pages[0].count++; /* I3: one free slot too many */
    assert_int_equal(kc_arena_check(a), -EPROTO);
    ai->pages[0].count--;
    ai->free_map[0] |= 1; /* I1: a used page marked free */
    assert_int_equal(kc_arena_check(a), -EPROTO);
    ai->free_map[0] &= ~(uint64_t)1;
    assert_int_equal(kc_arena_check(a), 0);
    atomic_store(&ai->table[t.index].state, KC_ARENA_STATE(t.gen + 1, 1)); /* I5 */
    assert_int_equal(kc_arena_check(a), -EPROTO);
    atomic_store(&ai->table[t.index].state, KC_ARENA_STATE(t.gen, 1));
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_check(NULL), -EINVAL);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_text_dump_lists_tickets_runs_and_regions),
        cmocka_unit_test(test_arena_json_dump_has_one_object_per_live_ticket),
        cmocka_unit_test(test_arena_metrics_follow_the_operations),
        cmocka_unit_test(test_arena_metrics_size_field_is_honoured),
        cmocka_unit_test(test_arena_check_catches_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
