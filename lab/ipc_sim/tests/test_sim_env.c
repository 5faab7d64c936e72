/* test_sim_env.c - KCORO_SIM impairs a program's connections with no code
 * change: a kcoro/ipc.h server and client opened on a plain "mem:" URL
 * while KCORO_SIM="delay 5ms" is set see every frame delayed in both
 * directions, so each RPC round trip takes at least 10 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcoro/ipc.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

#define MS ((int64_t)1000000)

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int h_echo(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    *out = malloc(r->len);
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, r->payload, r->len);
    *len = r->len;
    return 0;
}

typedef struct server {
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *conn;
    int rc;
} server_t;

static void *accept_one(void *arg)
{
    server_t *s = arg;
    s->rc = kc_ipc_accept(s->srv, &s->conn, 10000 * MS, NULL);
    return NULL;
}

static void test_sim_env_delays_every_connection(void **state)
{
    (void)state;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    kc_sched_t *sched = NULL;
    assert_int_equal(kc_sched_create(&sched, &so), 0);
    kc_rpc_router_t *router = NULL;
    assert_int_equal(kc_rpc_router_create(&router), 0);
    assert_int_equal(kc_rpc_router_add(router, 1, h_echo, NULL), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = sched;
    o.router = router;

    assert_int_equal(setenv("KCORO_SIM", "delay 5ms", 1), 0);
    assert_int_equal(kc_sim_register(), 0);
    char url[64];
    snprintf(url, sizeof url, "mem:env-%d", (int)getpid());
    server_t s = {0};
    assert_int_equal(kc_ipc_listen(&s.srv, url, &o), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_one, &s), 0);
    kc_ipc_conn_t *c = NULL;
    assert_int_equal(kc_ipc_connect(&c, url, &o, 10000 * MS, NULL), 0);
    pthread_join(th, NULL);
    assert_int_equal(s.rc, 0);

    const int rounds = 5;
    int64_t t0 = mono_ns();
    for (int i = 0; i < rounds; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "ping %d", i);
        void *back = NULL;
        size_t len = 0;
        assert_int_equal(kc_rpc_call(c, 1, 0, msg, (size_t)n, 10000 * MS, NULL, &back, &len), 0);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(back, msg, (size_t)n);
        free(back);
    }
    int64_t per_call = (mono_ns() - t0) / rounds;
    assert_true(per_call >= 10 * MS);

    assert_int_equal(kc_transport_interpose(NULL), 0);
    unsetenv("KCORO_SIM");
    assert_int_equal(kc_ipc_close(c), 0);
    assert_int_equal(kc_ipc_close(s.conn), 0);
    assert_int_equal(kc_ipc_server_close(s.srv), 0);
    kc_rpc_router_destroy(router);
    assert_int_equal(kc_sched_destroy(sched), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_env_delays_every_connection),
    };
    return cmocka_run_group_tests_name("sim_env", tests, NULL, NULL);
}
