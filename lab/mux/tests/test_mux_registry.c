/* test_mux_registry.c - imported and exported channels in the registry, the exporter's output.
 *
 * An import or an export is listed (kind remote_chan) when its options
 * carry KC_MUX_REGISTER or the process-wide switch covers remote channels,
 * with labels naming its role, remote name, connection and local channel,
 * and metrics counting the elements each way; the imported channel's local
 * face is listed as a channel too. Counts are exact: what was sent is what
 * the listing says, an export's counts survive its streams, and every
 * listing ends with its object.
 */
#include "mux_test.h"

#include "kcoro/monitor.h"
#include "kcoro/registry.h"

#include <pthread.h>
#include <stdatomic.h>

/* What a walk saw of one remote channel. */
struct seen {
    char name[KC_REGISTRY_NAME_MAX];
    uint64_t id;
    char role[16], remote[72], conn[72], conn_id[24], chan_id[24];
    double sent, received, inbox, streams, opens, state;
    int nlabels;
};

struct walk {
    struct seen v[8];
    int n;
};

static void on_label(void *ctx, const char *key, const char *value)
{
    struct seen *s = ctx;
    s->nlabels++;
    if (strcmp(key, "role") == 0)
        snprintf(s->role, sizeof s->role, "%s", value);
    else if (strcmp(key, "remote") == 0)
        snprintf(s->remote, sizeof s->remote, "%s", value);
    else if (strcmp(key, "conn") == 0)
        snprintf(s->conn, sizeof s->conn, "%s", value);
    else if (strcmp(key, "conn_id") == 0)
        snprintf(s->conn_id, sizeof s->conn_id, "%s", value);
    else if (strcmp(key, "chan_id") == 0)
        snprintf(s->chan_id, sizeof s->chan_id, "%s", value);
}

static void on_metric(void *ctx, const char *name, kc_registry_metric_type_t type, double v,
                      const char *help)
{
    (void)help;
    struct seen *s = ctx;
    if (strcmp(name, "sent_elements") == 0 && type == KC_REGISTRY_COUNTER)
        s->sent = v;
    else if (strcmp(name, "received_elements") == 0 && type == KC_REGISTRY_COUNTER)
        s->received = v;
    else if (strcmp(name, "inbox_elements") == 0 && type == KC_REGISTRY_GAUGE)
        s->inbox = v;
    else if (strcmp(name, "streams") == 0 && type == KC_REGISTRY_GAUGE)
        s->streams = v;
    else if (strcmp(name, "opens") == 0 && type == KC_REGISTRY_COUNTER)
        s->opens = v;
    else if (strcmp(name, "state") == 0 && type == KC_REGISTRY_GAUGE)
        s->state = v;
}

static int visit(const kc_registry_entry_t *e, void *arg)
{
    struct walk *w = arg;
    if (w->n == 8)
        return -ENOSPC;
    struct seen *s = &w->v[w->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", e->name);
    s->id = e->id;
    if (e->ops == NULL || e->ops->metrics == NULL || e->ops->labels == NULL)
        return -EINVAL;
    e->ops->metrics(e->object, on_metric, s);
    e->ops->labels(e->object, on_label, s);
    return 0;
}

static struct walk walk_remote(void)
{
    struct walk w = {.n = 0};
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_REMOTE_CHAN), visit, &w), 0);
    return w;
}

static const struct seen *find(const struct walk *w, const char *role)
{
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->v[i].role, role) == 0)
            return &w->v[i];
    return NULL;
}

static size_t count(uint32_t kind)
{
    return kc_registry_count(KC_REGISTRY_MASK(kind));
}

static void test_the_flag_lists_an_import_and_an_export_with_their_connection(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("none"), 0);
    size_t chans0 = count(KC_REGISTRY_CHAN);
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 2, 0), 0);
    assert_int_equal(count(KC_REGISTRY_CONN), 0);
    kc_chan_t *local, *remote, *quiet_local, *quiet;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 64, sizeof(uint64_t)), 0);
    assert_int_equal(kc_chan_make(&quiet_local, KC_CHAN_BUFFERED, 4, sizeof(uint64_t)), 0);
    kc_mux_export_opts_t xo = KC_MUX_EXPORT_OPTS_INIT;
    xo.flags = KC_MUX_REGISTER;
    xo.name = "orders-out";
    assert_int_equal(kc_ipc_export(e.exp, "orders", local, &xo), 0);
    assert_int_equal(kc_ipc_export(e.exp, "orders", local, &xo), -EEXIST); /* not listed twice */
    assert_int_equal(kc_ipc_export(e.exp, "quiet", quiet_local, NULL), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 1);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.flags = KC_MUX_REGISTER;
    io.name = "orders-in";
    assert_int_equal(kc_ipc_import(&remote, e.imp, "orders", &io, NULL), 0);
    assert_int_equal(kc_ipc_import(&quiet, e.imp, "quiet", NULL, NULL), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 2);
    assert_int_equal(count(KC_REGISTRY_CHAN), chans0 + 1); /* the import's local face */
    assert_string_equal(kc_chan_name(remote), "orders-in");

    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(kc_chan_send(remote, &i, 5000 * MS, NULL), 0);
    for (uint64_t i = 0; i < 10; i++) {
        uint64_t got;
        assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, i);
    }
    for (uint64_t i = 0; i < 7; i++)
        assert_int_equal(kc_chan_send(local, &i, 5000 * MS, NULL), 0);
    for (uint64_t i = 0; i < 5; i++) {
        uint64_t got;
        assert_int_equal(kc_chan_recv(remote, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, i);
    }
    /* the last two arrive in the import's inbox (window 64) */
    int64_t end = mux_now() + 20000 * MS;
    struct walk w;
    const struct seen *imp, *exp;
    for (;;) {
        w = walk_remote();
        imp = find(&w, "imported");
        if ((imp != NULL && imp->received == 7) || mux_now() > end)
            break;
        mux_usleep(1000);
    }
    assert_int_equal(w.n, 2);
    imp = find(&w, "imported");
    exp = find(&w, "exported");
    if (imp == NULL || exp == NULL)
        fail_msg("listed: %d", w.n);
    assert_string_equal(imp->name, "orders-in");
    assert_string_equal(imp->remote, "orders");
    assert_non_null(strstr(imp->conn, "to mem:mux-"));
    assert_string_equal(imp->conn_id, ""); /* the connection is not listed */
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)kc_chan_id(remote));
    assert_string_equal(imp->chan_id, id);
    assert_int_equal(imp->nlabels, 4);
    assert_true(imp->sent == 10 && imp->received == 7 && imp->inbox == 2 && imp->state == 1);
    assert_string_equal(exp->name, "orders-out");
    assert_string_equal(exp->remote, "orders");
    assert_non_null(strstr(exp->conn, "from pid "));
    snprintf(id, sizeof id, "%llu", (unsigned long long)kc_chan_id(local));
    assert_string_equal(exp->chan_id, id);
    assert_true(exp->received == 10 && exp->sent == 7 && exp->inbox == 0);
    assert_true(exp->streams == 1 && exp->opens == 1 && exp->state == 1);

    /* the exporter's output carries them */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_true(kc_monitor_render(f, KC_MONITOR_PROMETHEUS) >= 3);
    fclose(f);
    char want[256];
    snprintf(want, sizeof want,
             "kcoro_remote_chan_sent_elements_total{name=\"orders-in\",id=\"%llu\","
             "role=\"imported\",remote=\"orders\",conn=\"%s\",chan_id=\"%llu\"} 10\n",
             (unsigned long long)imp->id, imp->conn, (unsigned long long)kc_chan_id(remote));
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want,
             "kcoro_remote_chan_received_elements_total{name=\"orders-out\",id=\"%llu\","
             "role=\"exported\",remote=\"orders\",conn=\"%s\",chan_id=\"%llu\"} 10\n",
             (unsigned long long)exp->id, exp->conn, (unsigned long long)kc_chan_id(local));
    assert_non_null(strstr(buf, want));
    free(buf);

    /* the import ends: its listing with it; the export keeps its counts */
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(count(KC_REGISTRY_CHAN), chans0);
    end = mux_now() + 20000 * MS;
    for (;;) {
        w = walk_remote();
        exp = find(&w, "exported");
        if ((exp != NULL && exp->streams == 0) || mux_now() > end)
            break;
        mux_usleep(1000);
    }
    assert_int_equal(w.n, 1);
    assert_true(exp->received == 10 && exp->sent >= 7 && exp->streams == 0 && exp->opens == 1);
    assert_int_equal(kc_ipc_unexport(e.exp, "orders"), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 0);
    assert_int_equal(kc_chan_destroy(quiet), 0);
    mux_env_down(&e);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 0);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_chan_destroy(quiet_local), 0);
}

/* Finds the listed connection of id: its name, how often seen. */
struct conn_find {
    uint64_t id;
    char name[KC_REGISTRY_NAME_MAX];
    int found;
};

static int conn_visit(const kc_registry_entry_t *en, void *arg)
{
    struct conn_find *a = arg;
    if (en->id == a->id) {
        snprintf(a->name, sizeof a->name, "%s", en->name);
        a->found++;
    }
    return 0;
}

static void test_the_switch_lists_every_one_and_joins_its_connection(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("remote_chan,conn"), 0);
    size_t chans0 = count(KC_REGISTRY_CHAN);
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, true, 1, 0), 0);
    assert_int_equal(count(KC_REGISTRY_CONN), 2);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 8, sizeof(uint64_t)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "ticks", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "ticks", NULL, NULL), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 2);
    assert_int_equal(count(KC_REGISTRY_CHAN), chans0); /* "chan" is not switched on */
    long n = mux_scaled(3000);
    for (long i = 0; i < n; i++) {
        uint64_t v = (uint64_t)i;
        assert_int_equal(kc_chan_send(remote, &v, 5000 * MS, NULL), 0);
        uint64_t got;
        assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, v);
    }
    struct walk w = walk_remote();
    assert_int_equal(w.n, 2);
    const struct seen *imp = find(&w, "imported"), *exp = find(&w, "exported");
    if (imp == NULL || exp == NULL)
        fail_msg("listed: %d", w.n);
    assert_string_equal(imp->name, "ticks"); /* the export's name by default */
    assert_string_equal(exp->name, "ticks");
    assert_true(imp->sent == (double)n && exp->received == (double)n);
    /* conn_id is the listed connection's id, conn its name */
    for (int k = 0; k < 2; k++) {
        const struct seen *s = k ? exp : imp;
        assert_int_equal(s->nlabels, 5);
        struct conn_find c = {strtoull(s->conn_id, NULL, 10), "", 0};
        assert_true(c.id != 0);
        assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CONN), conn_visit, &c),
                         0);
        assert_int_equal(c.found, 1);
        assert_string_equal(c.name, s->conn);
    }
    assert_non_null(strstr(imp->conn, "to unix:/tmp/kc-mux-"));
    /* the connection dies: the import stays listed, dead, until destroyed */
    kc_ipc_close(e.exp);
    e.exp = NULL;
    int64_t end = mux_now() + 20000 * MS;
    for (;;) {
        w = walk_remote();
        imp = find(&w, "imported");
        if ((imp != NULL && imp->state == 2) || mux_now() > end)
            break;
        mux_usleep(1000);
    }
    assert_int_equal(w.n, 1); /* the export went with its connection's memory */
    assert_non_null(imp);
    assert_true(imp->state == 2 && imp->sent == (double)n);
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 0);
    mux_env_down(&e);
    assert_int_equal(count(KC_REGISTRY_CONN), 0);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_registry_configure("none"), 0);
}

static void test_nothing_is_listed_without_the_flag_or_the_switch(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("chan,conn"), 0); /* other kinds only */
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 1, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "r", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "r", NULL, NULL), 0);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 0);
    assert_int_equal(kc_chan_destroy(remote), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_registry_configure("none"), 0);
}

/* Walks while imports and exports come and go: the listing's lock order
 * (registry, then mux) holds, and nothing is read after it went. */
static atomic_int walking_stop;
static atomic_long walks;

static void *walker(void *arg)
{
    (void)arg;
    FILE *f = fopen("/dev/null", "w");
    while (!atomic_load(&walking_stop)) {
        kc_monitor_render(f, (atomic_load(&walks) & 1) ? KC_MONITOR_PROMETHEUS : KC_MONITOR_NDJSON);
        atomic_fetch_add(&walks, 1);
    }
    fclose(f);
    return NULL;
}

static void test_walks_race_imports_exports_and_destroys(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("all"), 0);
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 2, 0), 0);
    atomic_store(&walking_stop, 0);
    atomic_store(&walks, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, walker, NULL), 0);
    kc_chan_t *local;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 16, sizeof(uint64_t)), 0);
    long rounds = mux_scaled(200);
    uint64_t moved = 0;
    for (long r = 0; r < rounds; r++) {
        assert_int_equal(kc_ipc_export(e.exp, "churn", local, NULL), 0);
        for (int k = 0; k < 3; k++) {
            kc_chan_t *remote;
            assert_int_equal(kc_ipc_import(&remote, e.imp, "churn", NULL, NULL), 0);
            uint64_t v = (uint64_t)r, got;
            assert_int_equal(kc_chan_send(remote, &v, 5000 * MS, NULL), 0);
            assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
            assert_int_equal(got, v);
            moved++;
            assert_int_equal(kc_chan_destroy(remote), 0);
        }
        assert_int_equal(kc_ipc_unexport(e.exp, "churn"), 0);
    }
    atomic_store(&walking_stop, 1);
    pthread_join(th, NULL);
    assert_true(atomic_load(&walks) > 0);
    assert_int_equal(moved, (uint64_t)rounds * 3);
    assert_int_equal(count(KC_REGISTRY_REMOTE_CHAN), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(count(KC_REGISTRY_CONN), 0);
    assert_int_equal(kc_registry_configure("none"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_flag_lists_an_import_and_an_export_with_their_connection),
        cmocka_unit_test(test_the_switch_lists_every_one_and_joins_its_connection),
        cmocka_unit_test(test_nothing_is_listed_without_the_flag_or_the_switch),
        cmocka_unit_test(test_walks_race_imports_exports_and_destroys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
