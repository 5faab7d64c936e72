/* test_sim_env.c - KCORO_SIM impairs a program that never names the
 * simulator. The test runs itself as a child with KCORO_SIM in its
 * environment; the child opens a kcoro/ipc.h server and client on a plain
 * "mem:" URL (only ipc and sched calls, no sim symbol referenced: the
 * static library's simulator member is pulled in by the link flags kcoro
 * gives programs) and times RPC round trips. With "delay 5ms" every
 * direction is delayed, so a round trip takes at least 10 ms; with a bad
 * word the child's listen fails with -EINVAL and stderr names the word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kcoro/ipc.h"
#include "kcoro/sched.h"

#define MS ((int64_t)1000000)

extern char **environ;

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

/* The child: exit 0 when five round trips average at least min_ms, 2 when
 * they are faster, 3 when listen fails with -EINVAL, 4 on anything else. */
static int child(long min_ms)
{
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    kc_sched_t *sched = NULL;
    kc_rpc_router_t *router = NULL;
    if (kc_sched_create(&sched, &so) != 0 || kc_rpc_router_create(&router) != 0 ||
        kc_rpc_router_add(router, 1, h_echo, NULL) != 0)
        return 4;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = sched;
    o.router = router;
    char url[64];
    snprintf(url, sizeof url, "mem:sim-env-%d", (int)getpid());
    server_t s = {0};
    int rc = kc_ipc_listen(&s.srv, url, &o);
    if (rc == -EINVAL)
        return 3;
    if (rc != 0)
        return 4;
    pthread_t th;
    if (pthread_create(&th, NULL, accept_one, &s) != 0)
        return 4;
    kc_ipc_conn_t *c = NULL;
    rc = kc_ipc_connect(&c, url, &o, 10000 * MS, NULL);
    pthread_join(th, NULL);
    if (rc != 0 || s.rc != 0)
        return 4;
    int64_t t0 = mono_ns();
    for (int i = 0; i < 5; i++) {
        void *back = NULL;
        size_t len = 0;
        if (kc_rpc_call(c, 1, 0, "ping", 4, 10000 * MS, NULL, &back, &len) != 0 || len != 4 ||
            memcmp(back, "ping", 4) != 0)
            return 4;
        free(back);
    }
    int64_t per_call = (mono_ns() - t0) / 5;
    kc_ipc_close(c);
    kc_ipc_close(s.conn);
    kc_ipc_server_close(s.srv);
    kc_rpc_router_destroy(router);
    kc_sched_destroy(sched);
    return per_call >= min_ms * MS ? 0 : 2;
}

/* Run this program as a child with KCORO_SIM=words; its exit status, and
 * its stderr in err (cap bytes). */
static int run_child(const char *words, long min_ms, char *err, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char min[32], env_sim[256], arg1[] = "child";
    snprintf(min, sizeof min, "%ld", min_ms);
    snprintf(env_sim, sizeof env_sim, "KCORO_SIM=%s", words);
    char *argv[] = {self, arg1, min, NULL};
    char *envp[] = {env_sim, NULL};
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fds[0], err + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    err[got] = '\0';
    close(fds[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* qemu-user runs this binary, but a child it spawns would be run by the
 * host, which cannot execute it: the two tests run natively and under the
 * sanitizers and Valgrind. */
static bool under_qemu(void)
{
    if (getenv("KCORO_UNDER_QEMU") == NULL)
        return false;
    printf("[ SKIPPED  ] a spawned child under qemu-user\n");
    return true;
}

static void test_sim_env_delays_a_program_that_never_names_it(void **state)
{
    (void)state;
    if (under_qemu())
        return;
    char err[1024];
    assert_int_equal(run_child("delay 5ms", 10, err, sizeof err), 0);
    assert_string_equal(err, "");
}

static void test_sim_env_bad_words_are_refused_by_name(void **state)
{
    (void)state;
    if (under_qemu())
        return;
    char err[1024];
    assert_int_equal(run_child("delay soon", 0, err, sizeof err), 3);
    assert_non_null(strstr(err, "KCORO_SIM"));
    assert_non_null(strstr(err, "'soon'"));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child(atol(argv[2]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_env_delays_a_program_that_never_names_it),
        cmocka_unit_test(test_sim_env_bad_words_are_refused_by_name),
    };
    return cmocka_run_group_tests_name("sim_env", tests, NULL, NULL);
}
