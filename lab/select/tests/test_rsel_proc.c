/* test_rsel_proc.c - remote select between processes, one of them killed mid-stream.
 *
 * The parent owns channel X and serves it over a UNIX socket (kcoro/ipc.h,
 * graduated mux, kc_rsel_mux.c). Two forked children connect and select
 * on their import of X, writing every value they receive to a pipe. After
 * the victim has received a few, the parent kills it (SIGKILL): whatever
 * the owner had reserved for it is released when its connection goes, and
 * the survivor receives the rest. Checked: no value reaches two selects;
 * every value is received, except at most one committed to the victim and
 * still in flight when it died (a claim's answer it never read: the one
 * loss a connection's end can cause without the sessions of issue 21), and
 * the owner's ledger closes (taken == committed + held + returned).
 */
#include "kc_rsel_impl.h"
#include "kcoro/sched.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS 1000000LL

/* Values served (KCORO_TEST_SCALE divides them: sanitizers, qemu), and
 * how many the victim receives before it dies. */
static long N = 1500, KILL_AFTER = 50;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The child: connect, open the selector's side, select on X for ever,
 * write each value to fd. */
static void child(const char *url, int fd)
{
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    kc_sched_t *s;
    if (kc_sched_create(&s, &so) != 0)
        _exit(10);
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    kc_ipc_conn_t *c;
    if (kc_ipc_connect(&c, url, &io, 5000 * MS, NULL) != 0)
        _exit(11);
    kc_rsel_client_t *cl;
    kc_rsel_attach_t *m;
    if (kc_rsel_client_create(&cl, 50 * MS) != 0 ||
        kc_rsel_attach(&m, c, KC_RSEL_CLIENT_SIDE, 10000 * MS) != 0 ||
        kc_rsel_attach_client(m, cl) != 0)
        _exit(12);
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 16;
    co.elem_size = sizeof(long);
    kc_chan_t *x;
    if (kc_rsel_import(&x, cl, 1, &co) != 0)
        _exit(13);
    long v;
    kc_chan_clause_t cls[1] = {KC_CHAN_CLAUSE_RECV_INIT(x, &v)};
    for (;;) {
        int rc = kc_chan_select(cls, 1, 0, 200 * MS, NULL);
        if (rc == -ETIME)
            continue;
        if (rc != 0 || cls[0].result != 0)
            break; /* the parent closed the connection: done */
        if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
            _exit(14);
    }
    kc_rsel_detach(m); /* every thread joined: the sanitizers see no leak */
    if (kc_chan_destroy(x) != 0 || kc_rsel_client_destroy(cl) != 0)
        _exit(15);
    kc_ipc_close(c);
    kc_sched_destroy(s);
    _exit(0);
}

static int g_accept_rc;
static kc_ipc_server_t *g_srv;
static kc_ipc_conn_t *g_conn;

static int accept_one(void *arg)
{
    (void)arg;
    g_accept_rc = kc_ipc_accept(g_srv, &g_conn, 10000 * MS, NULL);
    return 0;
}

static void test_a_killed_selector_loses_at_most_its_answer_in_flight(void **state)
{
    (void)state;
    char url[108];
    snprintf(url, sizeof url, "unix:/tmp/kc-rsel-%d", (int)getpid());
    unlink(url + 5);
    int fds[2][2];
    pid_t pid[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pipe(fds[i]), 0);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    kc_sched_t *s;
    /* fork before any kcoro thread exists here; the children wait for the
     * socket to appear */
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            close(fds[i][0]);
            for (int t = 0; t < 200 && access(url + 5, F_OK) != 0; t++)
                sleep_ms(10);
            child(url, fds[i][1]);
        }
        close(fds[i][1]);
        fcntl(fds[i][0], F_SETFL, O_NONBLOCK);
    }
    assert_int_equal(kc_sched_create(&s, &so), 0);
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    assert_int_equal(kc_ipc_listen(&g_srv, url, &io), 0);
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 16;
    co.elem_size = sizeof(long);
    kc_chan_t *x;
    assert_int_equal(kc_chan_create(&x, &co), 0);
    kc_rsel_owner_t *o;
    assert_int_equal(kc_rsel_owner_create(&o, x, 1, 50 * MS), 0);
    kc_ipc_conn_t *conn[2];
    kc_rsel_attach_t *om[2];
    for (int i = 0; i < 2; i++) {
        kc_task_t *t;
        assert_int_equal(kc_sched_spawn(s, &t, accept_one, NULL, NULL), 0);
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
        assert_int_equal(g_accept_rc, 0);
        conn[i] = g_conn;
        assert_int_equal(kc_rsel_attach(&om[i], conn[i], KC_RSEL_OWNER_SIDE, 10000 * MS), 0);
        assert_int_equal(kc_rsel_attach_owner(om[i], o, i), 0);
    }
    /* which child is peer 0 is unknown: the victim is whichever child
     * reports first; the values tell the rest */
    const char *sc = getenv("KCORO_TEST_SCALE");
    long div = sc != NULL && atol(sc) > 1 ? atol(sc) : 1;
    N = 1500 / div > 150 ? 1500 / div : 150;
    KILL_AFTER = N / 30;
    uint8_t *seen = calloc((size_t)N, 1);
    assert_non_null(seen);
    long got = 0, from[2] = {0, 0}, sent = 0;
    int victim = -1;
    int quiet = 0, loops = 0;
    for (;;) {
        for (; sent < N && kc_chan_try_send(x, &sent) == 0; sent++)
            ;
        bool any = false;
        for (int i = 0; i < 2; i++) {
            long v;
            while (read(fds[i][0], &v, sizeof v) == (ssize_t)sizeof v) {
                assert_true(v >= 0 && v < N);
                assert_int_equal(seen[v]++, 0); /* never twice */
                got++;
                from[i]++;
                any = true;
            }
        }
        if (victim < 0 && (from[0] >= KILL_AFTER || from[1] >= KILL_AFTER)) {
            victim = from[0] >= KILL_AFTER ? 0 : 1;
            kill(pid[victim], SIGKILL);
            int st;
            waitpid(pid[victim], &st, 0);
        }
        if (got == N)
            break;
        /* the last one may have died with the victim: wait 2 s for it */
        quiet = victim >= 0 && got == N - 1 ? quiet + 1 : 0;
        if (quiet > 2000)
            break;
        if (++loops >= 300000) /* five minutes and more: stuck */
            fail_msg("stuck: %ld of %ld received (%ld, %ld), %ld sent, victim %d", got, N, from[0],
                     from[1], sent, victim);
        if (!any)
            sleep_ms(1);
    }
    /* drain what the victim wrote before it died */
    long v;
    while (read(fds[victim][0], &v, sizeof v) == (ssize_t)sizeof v) {
        assert_int_equal(seen[v]++, 0);
        got++;
    }
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(o, &st), 0);
    print_message("processes: %ld of %ld received (%ld by the victim before it died), "
                  "committed %llu, released %llu\n",
                  got, N, from[victim], (unsigned long long)st.committed,
                  (unsigned long long)st.released);
    assert_true(got >= N - 1);
    assert_int_equal(st.taken, st.committed + st.held + st.returned);
    assert_true(st.committed >= (uint64_t)got && st.committed <= (uint64_t)got + 1);
    for (int i = 0; i < 2; i++) {
        kc_rsel_detach(om[i]);
        kc_ipc_close(conn[i]);
    }
    int stt;
    waitpid(pid[1 - victim], &stt, 0);
    assert_true(WIFEXITED(stt));
    assert_int_equal(WEXITSTATUS(stt), 0);
    kc_rsel_owner_destroy(o, NULL);
    kc_chan_close(x);
    while (kc_chan_try_recv(x, &v) == 0)
        ;
    assert_int_equal(kc_chan_destroy(x), 0);
    kc_ipc_server_close(g_srv);
    kc_sched_destroy(s);
    unlink(url + 5);
    for (int i = 0; i < 2; i++)
        close(fds[i][0]);
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_killed_selector_loses_at_most_its_answer_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
