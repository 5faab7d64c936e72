/* test_ipc_registry.c - connections in the registry: listed when the
 * switch covers them or their options ask (KC_IPC_REGISTER and a name),
 * named by direction and peer otherwise, their frames, bytes,
 * RPCs in flight and state reported exactly, gone once closed. */
#include "ipc_test.h"

#include "kcoro/registry.h"

#define N_METRICS 18

/* One listed connection as a walk saw it. */
struct seen_conn {
    const void *object;
    char name[KC_REGISTRY_NAME_MAX];
    int n;
    char metric[N_METRICS][32];
    kc_registry_metric_type_t type[N_METRICS];
    double value[N_METRICS];
};

struct walk {
    struct seen_conn c[4];
    int n;
};

static void emit(void *ctx, const char *name, kc_registry_metric_type_t type, double value,
                 const char *help)
{
    struct seen_conn *c = ctx;
    if (c->n < N_METRICS && help != NULL && help[0] != '\0') {
        snprintf(c->metric[c->n], sizeof c->metric[0], "%s", name);
        c->type[c->n] = type;
        c->value[c->n] = value;
    }
    c->n++;
}

static int visit(const kc_registry_entry_t *e, void *arg)
{
    struct walk *w = arg;
    if (w->n == 4 || e->kind != KC_REGISTRY_CONN || e->ops == NULL)
        return -1;
    struct seen_conn *c = &w->c[w->n++];
    memset(c, 0, sizeof *c);
    c->object = e->object;
    snprintf(c->name, sizeof c->name, "%s", e->name);
    return e->ops->metrics(e->object, emit, c);
}

static struct walk walk(void)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CONN), visit, &w), 0);
    return w;
}

static const struct seen_conn *find(const struct walk *w, const void *object)
{
    for (int i = 0; i < w->n; i++)
        if (w->c[i].object == object)
            return &w->c[i];
    return NULL;
}

/* The value of metric name (which must be there, with its type). */
static double metric(const struct seen_conn *c, const char *name, kc_registry_metric_type_t type)
{
    assert_non_null(c);
    for (int i = 0; i < c->n && i < N_METRICS; i++)
        if (strcmp(c->metric[i], name) == 0) {
            assert_int_equal(c->type[i], type);
            return c->value[i];
        }
    fail_msg("no metric %s", name);
    return -1;
}

#define CTR(c, n) metric(c, n, KC_REGISTRY_COUNTER)
#define GAUGE(c, n) metric(c, n, KC_REGISTRY_GAUGE)

/* Wait (bounded) until the object's metric reads want. */
static void settle(const void *object, const char *name, double want)
{
    for (int i = 0; i < 5000; i++) {
        struct walk w = walk();
        const struct seen_conn *c = find(&w, object);
        for (int k = 0; c != NULL && k < c->n && k < N_METRICS; k++)
            if (strcmp(c->metric[k], name) == 0 && c->value[k] == want)
                return;
        ipc_usleep(1000);
    }
    fail_msg("%s never read %g", name, want);
}

static void lifecycle(const char *url)
{
    assert_int_equal(kc_registry_configure("conn"), 0);
    size_t before = kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CONN));
    assert_int_equal(before, 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = -1; /* no PING: the counts below are exact */
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, &o), 0);

    /* Named by direction and peer; every metric there, all zero yet. */
    struct walk w = walk();
    assert_int_equal(w.n, 2);
    const struct seen_conn *cli = find(&w, e.cli), *svc = find(&w, e.svc);
    assert_non_null(cli);
    assert_non_null(svc);
    char want[KC_REGISTRY_NAME_MAX];
    snprintf(want, sizeof want, "to %s", url);
    assert_string_equal(cli->name, want);
    snprintf(want, sizeof want, "from pid %d", (int)getpid());
    assert_string_equal(svc->name, want);
    assert_int_equal(cli->n, N_METRICS);
    assert_int_equal(svc->n, N_METRICS);
    for (int i = 0; i < N_METRICS; i++)
        if (strcmp(cli->metric[i], "max_frame_bytes") != 0)
            assert_true(cli->value[i] == 0);
    assert_true(GAUGE(cli, "max_frame_bytes") == KC_FRAME_MAX_DEFAULT);
    assert_true(GAUGE(cli, "state") == 0);

    /* One echo of 5 bytes: one frame of 16 + 8 + 5 bytes each way. */
    void *out = NULL;
    size_t len = 0;
    assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 7, "hello", 5, 5000 * MS, NULL, &out, &len), 0);
    free(out);
    settle(e.svc, "sent_frames", 1); /* tx counts once the frame is out */
    settle(e.cli, "sent_frames", 1);
    w = walk();
    cli = find(&w, e.cli);
    svc = find(&w, e.svc);
    assert_true(CTR(cli, "sent_frames") == 1 && CTR(cli, "received_frames") == 1);
    assert_true(CTR(cli, "sent_bytes") == 29 && CTR(cli, "received_bytes") == 29);
    assert_true(CTR(cli, "requests_sent") == 1 && CTR(cli, "requests_received") == 0);
    assert_true(CTR(svc, "sent_frames") == 1 && CTR(svc, "received_frames") == 1);
    assert_true(CTR(svc, "sent_bytes") == 29 && CTR(svc, "received_bytes") == 29);
    assert_true(CTR(svc, "requests_received") == 1 && CTR(svc, "replies_sent") == 1);
    assert_true(GAUGE(cli, "rpcs_outstanding") == 0 && GAUGE(svc, "rpcs_serving") == 0);

    /* A request in flight: outstanding here, being served there. */
    kc_rpc_future_t *f = NULL;
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_HANG, 0, NULL, 0, NULL, &f), 0);
    settle(e.svc, "rpcs_serving", 1);
    w = walk();
    assert_true(GAUGE(find(&w, e.cli), "rpcs_outstanding") == 1);
    kc_rpc_cancel(f);
    settle(e.svc, "rpcs_serving", 0);
    settle(e.cli, "cancels_sent", 1);
    w = walk();
    cli = find(&w, e.cli);
    assert_true(GAUGE(cli, "rpcs_outstanding") == 0);
    assert_true(CTR(find(&w, e.svc), "cancels_received") == 1);
    /* REQUEST (24) + CANCEL (16) more from the client */
    assert_true(CTR(cli, "sent_frames") == 3 && CTR(cli, "sent_bytes") == 29 + 24 + 16);

    /* Shut down: still listed, dead; closed: gone. The server's end
     * learns of it from the link. */
    assert_int_equal(kc_ipc_shutdown(e.cli, 5000 * MS, NULL), 0);
    w = walk();
    assert_true(GAUGE(find(&w, e.cli), "state") == 2);
    assert_true(CTR(find(&w, e.cli), "sent_frames") == 4); /* + GOAWAY */
    settle(e.svc, "state", 2);
    kc_ipc_close(e.cli);
    e.cli = NULL;
    w = walk();
    assert_int_equal(w.n, 1);
    assert_ptr_equal(w.c[0].object, e.svc);
    env_down(&e);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CONN)), 0);
    assert_int_equal(kc_registry_configure("none"), 0);
}

static void test_connections_are_listed_with_exact_counters_over_mem(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "reg");
    lifecycle(url);
}

static void test_connections_are_listed_with_exact_counters_over_unix(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "reg");
    lifecycle(url);
}

static void test_connections_are_not_listed_unless_the_switch_covers_them(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("chan,sched"), 0);
    char url[64];
    ipc_mem_url(url, sizeof url, "unlisted");
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 1, NULL), 0);
    assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 0, "x", 1, 5000 * MS, NULL, NULL, NULL), 0);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CONN)), 0);
    env_down(&e);
    assert_int_equal(kc_registry_configure("none"), 0);
}

static void test_a_connection_asks_to_be_listed_by_its_options(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("none"), 0);
    char url[64];
    ipc_mem_url(url, sizeof url, "flagged");
    char name[16] = "billing";
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.flags = KC_IPC_REGISTER;
    o.name = name;
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 1, &o), 0);
    memcpy(name, "clobbered", 10); /* BORROWS: nothing kept points here */
    struct walk w = walk();
    assert_int_equal(w.n, 2);
    assert_string_equal(find(&w, e.cli)->name, "billing");
    char want[KC_REGISTRY_NAME_MAX];
    snprintf(want, sizeof want, "billing from pid %d", (int)getpid());
    assert_string_equal(find(&w, e.svc)->name, want);
    assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 0, "x", 1, 5000 * MS, NULL, NULL, NULL), 0);
    settle(e.cli, "requests_sent", 1);
    env_down(&e);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CONN)), 0);

    /* Flags it does not know, and a size too small for any version. */
    kc_ipc_conn_t *c = NULL;
    kc_ipc_server_t *srv = NULL;
    o = (kc_ipc_opts_t)KC_IPC_OPTS_INIT;
    o.flags = 1;
    assert_int_equal(kc_ipc_connect(&c, url, &o, 0, NULL), -EINVAL);
    assert_int_equal(kc_ipc_listen(&srv, url, &o), -EINVAL);
    o.flags = 0;
    o.size = 8;
    assert_int_equal(kc_ipc_listen(&srv, url, &o), -EINVAL);
    assert_null(c);
    assert_null(srv);
    /* Options of the first version (no flags, no name): still accepted. */
    o.size = (uint32_t)offsetof(kc_ipc_opts_t, flags);
    assert_int_equal(kc_ipc_listen(&srv, url, &o), 0);
    assert_int_equal(kc_ipc_server_close(srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connections_are_listed_with_exact_counters_over_mem),
        cmocka_unit_test(test_connections_are_listed_with_exact_counters_over_unix),
        cmocka_unit_test(test_connections_are_not_listed_unless_the_switch_covers_them),
        cmocka_unit_test(test_a_connection_asks_to_be_listed_by_its_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
