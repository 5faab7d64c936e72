/* test_context.c - task-local context (kcoro/context.h).
 *
 * A task reads back what it set; code it calls reads it without being
 * passed anything; scope children inherit the values at spawn, and their
 * own sets change only their view; kc_sched_spawn children start empty;
 * every value's destructor runs exactly once, when its last holder ends or
 * lets go, also under a storm of nested scopes on several workers.
 */
#include "kcoro.h"
#include "kcoro/context.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static atomic_int freed;

struct val {
    int v;
    atomic_int dtors; /* must end at exactly 1 */
};

static void val_free(void *p)
{
    struct val *x = p;
    atomic_fetch_add(&x->dtors, 1);
    atomic_fetch_add(&freed, 1);
}

static kc_ctx_key_t request_id = KC_CTX_KEY_INIT("request-id", val_free);
static kc_ctx_key_t user = KC_CTX_KEY_INIT("user", val_free);
static kc_ctx_key_t unused = KC_CTX_KEY_INIT("unused", NULL);

static int deep_read(int depth)
{
    if (depth > 0)
        return deep_read(depth - 1);
    const struct val *x = kc_ctx_get(&request_id);
    return x != NULL ? x->v : -1;
}

struct probe {
    int want_req, want_user;
    int set_req; /* > 0: set a value of its own first */
    struct val *own;
};

static int child_probe(void *arg)
{
    struct probe *p = arg;
    kc_sched_yield();
    const struct val *r = kc_ctx_get(&request_id);
    const struct val *u = kc_ctx_get(&user);
    if ((r ? r->v : -1) != p->want_req || (u ? u->v : -1) != p->want_user)
        return -1;
    if (p->set_req > 0) {
        if (kc_ctx_set(&request_id, p->own) != 0 || deep_read(5) != p->set_req)
            return -2;
    }
    return 0;
}

struct parent_arg {
    struct val *req, *usr, *child_own;
    kc_sched_t *s;
};

static int parent(void *arg)
{
    struct parent_arg *a = arg;
    if (kc_ctx_get(&request_id) != NULL)
        return -10; /* a fresh kc_sched_spawn task has nothing */
    if (kc_ctx_set(&request_id, a->req) != 0 || kc_ctx_set(&user, a->usr) != 0)
        return -11;
    if (deep_read(10) != a->req->v)
        return -12;
    kc_scope_t *sc = NULL;
    if (kc_scope_create(&sc, NULL, 0) != 0)
        return -13;
    struct probe same = {a->req->v, a->usr->v, 0, NULL};
    struct probe own = {a->req->v, a->usr->v, a->child_own->v, a->child_own};
    int rc = kc_scope_spawn(sc, child_probe, &same, NULL) |
             kc_scope_spawn_copy(sc, child_probe, &own, sizeof(own), NULL);
    /* a plain spawn does not inherit */
    struct probe none = {-1, -1, 0, NULL};
    kc_task_t *t = NULL;
    rc |= kc_sched_spawn(NULL, &t, child_probe, &none, NULL);
    int st = 0;
    rc |= kc_scope_wait(sc, KC_NO_TIMEOUT, NULL) | kc_scope_destroy(sc);
    rc |= kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) | st;
    if (deep_read(3) != a->req->v) /* the child's set changed only its view */
        return -14;
    if (kc_ctx_set(&user, NULL) != 0 || kc_ctx_get(&user) != NULL)
        return -15;
    if (kc_ctx_get(&unused) != NULL || kc_ctx_set(&unused, NULL) != 0)
        return -16;
    return rc;
}

static void test_values_read_back_inherited_by_scope_children_freed_once(void **state)
{
    (void)state;
    atomic_store(&freed, 0);
    kc_sched_t *s = kc_test_sched(2);
    struct val req = {.v = 41}, usr = {.v = 7}, mine = {.v = 99};
    struct parent_arg a = {&req, &usr, &mine, s};
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, parent, &a, NULL), 0);
    int st = -100;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(atomic_load(&req.dtors), 1);
    assert_int_equal(atomic_load(&usr.dtors), 1); /* cleared by the parent, children done */
    assert_int_equal(atomic_load(&mine.dtors), 1);
    assert_int_equal(atomic_load(&freed), 3);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_errors_outside_a_task(void **state)
{
    (void)state;
    struct val v = {.v = 1};
    assert_int_equal(kc_ctx_set(&request_id, &v), -EPERM);
    assert_null(kc_ctx_get(&request_id));
    assert_null(kc_ctx_get(NULL));
    assert_int_equal(kc_ctx_set(NULL, &v), -EINVAL);
    kc_ctx_key_t bad = {0};
    assert_int_equal(kc_ctx_set(&bad, &v), -EINVAL);
    assert_int_equal(atomic_load(&v.dtors), 0); /* not taken */
}

/* A value replaced while children still hold it dies with the last child. */
static atomic_int released_before_children;

struct holder {
    struct val *x;
    kc_chan_t *gate;
};

static int hold_until_gate(void *arg)
{
    struct holder *h = arg;
    int g;
    kc_chan_recv(h->gate, &g, KC_NO_TIMEOUT, NULL);
    const struct val *x = kc_ctx_get(&request_id);
    return x == h->x && atomic_load(&h->x->dtors) == 0 ? 0 : -1;
}

static int replacer(void *arg)
{
    struct holder *h = arg;
    kc_ctx_set(&request_id, h->x);
    kc_scope_t *sc = NULL;
    if (kc_scope_create(&sc, NULL, KC_SCOPE_F_CANCEL_ON_FAIL) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        kc_scope_spawn(sc, hold_until_gate, h, NULL);
    kc_ctx_set(&request_id, NULL); /* our reference goes; the children's stay */
    atomic_store(&released_before_children, atomic_load(&h->x->dtors));
    for (int i = 0; i < 3; i++) {
        int g = i;
        kc_chan_send(h->gate, &g, KC_NO_TIMEOUT, NULL);
    }
    int rc = kc_scope_wait(sc, KC_NO_TIMEOUT, NULL);
    return rc | kc_scope_destroy(sc);
}

static void test_replaced_value_lives_until_its_last_holder_ends(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct val x = {.v = 5};
    struct holder h = {&x, NULL};
    assert_int_equal(kc_chan_make(&h.gate, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, replacer, &h, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(atomic_load(&released_before_children), 0);
    assert_int_equal(atomic_load(&x.dtors), 1);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_chan_destroy(h.gate), 0);
}

/* Nested scopes three deep, fan-out 4, on 4 workers, 20 rounds: every
 * level sets its own value and checks it sees its parent's before. */
static atomic_int storm_bad;

struct level {
    int depth, id, parent;
    struct val *vals; /* one per task, by id */
    atomic_int *next_id;
};

static int storm_task(void *arg)
{
    struct level *l = arg;
    const struct val *up = kc_ctx_get(&user);
    if (up != (l->depth == 0 ? NULL : &l->vals[l->parent]))
        atomic_fetch_add(&storm_bad, 1); /* inherited the parent's, or nothing at the root */
    struct val *mine = &l->vals[l->id];
    mine->v = l->id;
    if (kc_ctx_set(&user, mine) != 0)
        atomic_fetch_add(&storm_bad, 1);
    if (l->depth == 3)
        return 0;
    kc_scope_t *sc = NULL;
    if (kc_scope_create(&sc, NULL, 0) != 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        struct level c = {l->depth + 1, atomic_fetch_add(l->next_id, 1), l->id, l->vals,
                          l->next_id};
        if (kc_scope_spawn_copy(sc, storm_task, &c, sizeof(c), NULL) != 0)
            atomic_fetch_add(&storm_bad, 1);
    }
    kc_sched_yield();
    if (kc_ctx_get(&user) != mine)
        atomic_fetch_add(&storm_bad, 1);
    int rc = kc_scope_wait(sc, KC_NO_TIMEOUT, NULL); /* destroy alone would cancel them */
    return rc | kc_scope_destroy(sc);
}

static void test_nested_scope_storm_frees_every_value_once(void **state)
{
    (void)state;
    enum {
        TASKS = 1 + 4 + 16 + 64
    };
    kc_sched_t *s = kc_test_sched(4);
    static struct val vals[TASKS];
    for (int round = 0; round < 20; round++) {
        memset(vals, 0, sizeof(vals));
        atomic_int next = 1;
        struct level root = {0, 0, -1, vals, &next};
        kc_task_t *t = NULL;
        assert_int_equal(kc_sched_spawn_copy(s, &t, storm_task, &root, sizeof(root), NULL), 0);
        int st = -1;
        assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
        assert_int_equal(atomic_load(&next), TASKS);
        for (int i = 0; i < TASKS; i++)
            assert_int_equal(atomic_load(&vals[i].dtors), 1);
    }
    assert_int_equal(atomic_load(&storm_bad), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_read_back_inherited_by_scope_children_freed_once),
        cmocka_unit_test(test_errors_outside_a_task),
        cmocka_unit_test(test_replaced_value_lives_until_its_last_holder_ends),
        cmocka_unit_test(test_nested_scope_storm_frees_every_value_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
