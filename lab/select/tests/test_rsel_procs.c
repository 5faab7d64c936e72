/* test_rsel_procs.c - competing selects from several processes on the same remote channels.
 *
 * The parent owns two channels (even values in one, odd in the other) and
 * serves both on one connection per child (kcoro/rsel.h attachments over
 * kcoro/ipc.h). Three forked children each run two threads that select,
 * unbiased, over their imports of both channels and write every value they
 * receive to a pipe; a clause whose channel is closed and drained is turned
 * off (Go's nil channel), and a thread ends when both are. After a third of
 * the values, when every selector waits subscribed on the empty channels,
 * one child is stopped (SIGSTOP) while the others take a tenth more (and
 * for four leases at least), then continued: the reservations the owners made for its subscriptions run
 * out (at least one lease expires) and go to the others; its late claims
 * are rejected. Checked: every
 * value is received exactly once, by exactly one select in one process,
 * the owners committed exactly N and hold nothing, and their ledgers close
 * (taken == committed + held + returned).
 *
 * Scale: N = 6,000 in `make test`, 10^6 in `make test-full`
 * (KCORO_TEST_FULL), divided by KCORO_TEST_SCALE (sanitizers, qemu). The
 * second test runs the same under the impairment simulator (KCORO_SIM:
 * delay, jitter, reordering and loss on every link, in every process) with
 * the connection over `rel:` so the protocol's stream stays ordered and
 * complete: N = 3,000, 10^5 in test-full.
 */
#include "kc_rsel_impl.h"
#include "kcoro/sched.h"
#include "kcoro/rel.h"
#include "kcoro/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#define NPROC 3
#define THREADS 2
#define LEASE (50 * MS)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long scaled(long n)
{
    const char *sc = getenv("KCORO_TEST_SCALE");
    long div = sc != NULL && atol(sc) > 1 ? atol(sc) : 1;
    return n / div > 600 ? n / div : 600;
}

static kc_chan_opts_t longs(void)
{
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 64;
    co.elem_size = sizeof(long);
    return co;
}

/* ---- a child: two selecting threads over both remote channels */

struct sel_thread {
    kc_chan_t *x[2];
    int fd;
    int rc;
};

static void *selector(void *arg)
{
    struct sel_thread *t = arg;
    long v[2];
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(t->x[0], &v[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(t->x[1], &v[1])};
    int open = 2;
    while (open > 0) {
        /* a long timeout: a select that waits stays subscribed */
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 30000 * MS, NULL);
        if (rc == -ETIME)
            continue;
        if (rc < 0) {
            t->rc = 20;
            return NULL;
        }
        if (cl[rc].result == -EPIPE) { /* closed and drained: off, as Go's nil */
            cl[rc].chan = NULL;
            open--;
            continue;
        }
        if (cl[rc].result != 0) {
            t->rc = 21;
            return NULL;
        }
        if (write(t->fd, &v[rc], sizeof v[rc]) != (ssize_t)sizeof v[rc]) {
            t->rc = 22;
            return NULL;
        }
    }
    return NULL;
}

static void child(const char *url, int fd)
{
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    kc_sched_t *s;
    if (kc_sched_create(&s, &so) != 0)
        _exit(10);
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    io.ping_interval_ns = -1; /* a stopped peer must not look dead: leases decide */
    kc_ipc_conn_t *c = NULL;
    for (int t = 0; t < 3000 && kc_ipc_connect(&c, url, &io, 10000 * MS, NULL) != 0; t++)
        sleep_ms(10); /* the parent is not listening yet */
    if (c == NULL)
        _exit(11);
    kc_rsel_client_t *cl;
    kc_rsel_attach_t *a;
    if (kc_rsel_client_create(&cl, LEASE) != 0 ||
        kc_rsel_attach(&a, c, KC_RSEL_CLIENT_SIDE, 60000 * MS) != 0 ||
        kc_rsel_attach_client(a, cl) != 0)
        _exit(12);
    kc_chan_opts_t co = longs();
    kc_chan_t *x[2];
    for (int k = 0; k < 2; k++)
        if (kc_rsel_import(&x[k], cl, (uint32_t)k + 1, &co) != 0)
            _exit(13);
    struct sel_thread t[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i] = (struct sel_thread){{x[0], x[1]}, fd, 0};
        if (pthread_create(&th[i], NULL, selector, &t[i]) != 0)
            _exit(14);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (t[i].rc != 0)
            bad = t[i].rc;
    }
    kc_rsel_detach(a); /* every thread joined: the sanitizers see no leak */
    for (int k = 0; k < 2; k++)
        if (kc_chan_destroy(x[k]) != 0)
            _exit(15);
    if (kc_rsel_client_destroy(cl) != 0)
        _exit(16);
    kc_ipc_close(c);
    kc_sched_destroy(s);
    _exit(bad);
}

/* ---- the parent: owners, producers, the ledger */

static kc_ipc_server_t *g_srv;
static kc_ipc_conn_t *g_conn;
static int g_accept_rc;

static int accept_one(void *arg)
{
    (void)arg;
    g_accept_rc = kc_ipc_accept(g_srv, &g_conn, 60000 * MS, NULL);
    return 0;
}

struct attacher {
    kc_ipc_conn_t *c;
    kc_rsel_attach_t *a;
    int rc;
};

static void *attach_main(void *arg)
{
    struct attacher *at = arg;
    at->rc = kc_rsel_attach(&at->a, at->c, KC_RSEL_OWNER_SIDE, 60000 * MS);
    return NULL;
}

struct producer {
    kc_chan_t *x;
    long first, n;       /* values first, first + 2, ... (n of them) */
    _Atomic long *limit; /* sends only values of index < *limit */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < p->n; i++) {
        while (i >= atomic_load(p->limit))
            sleep_ms(1);
        long v = p->first + 2 * i;
        if (kc_chan_send(p->x, &v, KC_NO_TIMEOUT, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

static void run(const char *url, long n, const char *label)
{
    int fds[NPROC][2];
    pid_t pid[NPROC];
    for (int i = 0; i < NPROC; i++)
        assert_int_equal(pipe(fds[i]), 0);
    /* fork before any kcoro thread of this run exists; the children retry
     * their connect until the parent listens */
    fflush(NULL);
    for (int i = 0; i < NPROC; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            for (int j = 0; j < NPROC; j++)
                if (j != i)
                    close(fds[j][1]);
            close(fds[i][0]);
            child(url, fds[i][1]);
        }
        close(fds[i][1]);
        fcntl(fds[i][0], F_SETFL, O_NONBLOCK);
    }
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    kc_sched_t *s;
    assert_int_equal(kc_sched_create(&s, &so), 0);
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    io.ping_interval_ns = -1;
    assert_int_equal(kc_ipc_listen(&g_srv, url, &io), 0);
    kc_chan_opts_t co = longs();
    kc_chan_t *x[2];
    kc_rsel_owner_t *o[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(kc_chan_create(&x[k], &co), 0);
        assert_int_equal(kc_rsel_owner_create(&o[k], x[k], (uint32_t)k + 1, LEASE), 0);
    }
    kc_ipc_conn_t *conn[NPROC];
    kc_rsel_attach_t *att[NPROC];
    for (int i = 0; i < NPROC; i++) {
        kc_task_t *t;
        assert_int_equal(kc_sched_spawn(s, &t, accept_one, NULL, NULL), 0);
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
        assert_int_equal(g_accept_rc, 0);
        conn[i] = g_conn;
        struct attacher at = {conn[i], NULL, -1};
        attach_main(&at);
        assert_int_equal(at.rc, 0);
        att[i] = at.a;
        for (int k = 0; k < 2; k++)
            assert_int_equal(kc_rsel_attach_owner(att[i], o[k], i), 0);
    }
    /* a third first; then, once every selector waits on empty channels,
     * process 0 is stopped and the rest follows */
    _Atomic long limit = n / 6;
    struct producer pr[2] = {{x[0], 0, n / 2, &limit}, {x[1], 1, n - n / 2, &limit}};
    pthread_t pt[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&pt[k], NULL, produce, &pr[k]), 0);

    uint8_t *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    long got = 0, from[NPROC] = {0};
    int stopped = -1;
    int64_t stop_at = 0, stop_t = 0;
    long idle_ms = 0;
    /* two minutes without progress: stuck (RSELP_IDLE: milliseconds, for runs by hand) */
    const long idle_limit = getenv("RSELP_IDLE") ? atol(getenv("RSELP_IDLE")) : 120000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < n) {
        bool any = false;
        for (int i = 0; i < NPROC; i++) {
            long v[64];
            ssize_t r;
            while ((r = read(fds[i][0], v, sizeof v)) > 0) {
                assert_int_equal(r % (ssize_t)sizeof(long), 0);
                for (ssize_t j = 0; j < r / (ssize_t)sizeof(long); j++) {
                    assert_true(v[j] >= 0 && v[j] < n);
                    if (seen[v[j]]++ != 0)
                        fail_msg("%s: value %ld received twice", label, v[j]);
                    got++;
                    from[i]++;
                    any = true;
                }
            }
        }
        if (stopped < 0 && got == 2 * (n / 6)) {
            /* all sent so far received: once every selector waits
             * subscribed on both channels, stop process 0 and let the rest
             * come: its subscriptions reach the head of the owners' lines,
             * get reservations and lose them by lease */
            for (int k = 0; k < 2; k++) {
                kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
                for (int t = 0;; t++) {
                    assert_int_equal(kc_rsel_owner_stats(o[k], &st), 0);
                    if (st.waiting == NPROC * THREADS)
                        break;
                    if (t > 120000)
                        fail_msg("%s: %llu of %d selectors subscribed", label,
                                 (unsigned long long)st.waiting, NPROC * THREADS);
                    sleep_ms(1);
                }
            }
            stopped = 0;
            kill(pid[stopped], SIGSTOP);
            stop_t = now_ns();
            stop_at = got;
            atomic_store(&limit, n);
        } else if (stopped >= 0 && stop_at >= 0 && (got >= stop_at + n / 10 + 1 || got == n) &&
                   now_ns() - stop_t >= 4 * LEASE) {
            kill(pid[stopped], SIGCONT); /* the others took a tenth meanwhile, and the
                                            stop lasted four leases */
            stop_at = -1;
        }
        if (!any) {
            sleep_ms(1);
            if (++idle_ms > idle_limit) {
                for (int j = 0; j < NPROC; j++)
                    kill(pid[j], SIGKILL);
                fail_msg("%s: stuck at %ld of %ld (%ld, %ld, %ld)", label, got, n, from[0], from[1],
                         from[2]);
            }
        } else {
            idle_ms = 0;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (stop_at >= 0 && stopped >= 0)
        kill(pid[stopped], SIGCONT);
    for (int k = 0; k < 2; k++) {
        void *prc = (void *)1;
        pthread_join(pt[k], &prc);
        assert_null(prc);
        kc_chan_close(x[k]); /* drained: the selects see -EPIPE and end */
    }
    for (int i = 0; i < NPROC; i++) { /* each ends once both channels are drained */
        int st = 0;
        pid_t w = 0;
        for (long t = 0; (w = waitpid(pid[i], &st, WNOHANG)) == 0 && t < idle_limit; t++)
            sleep_ms(1);
        if (w != pid[i]) {
            for (int j = 0; j < NPROC; j++)
                kill(pid[j], SIGKILL);
            fail_msg("%s: child %d did not end", label, i);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s: child %d ended with status %d", label, i, st);
    }
    uint64_t committed = 0, expired = 0;
    for (int k = 0; k < 2; k++) {
        kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
        assert_int_equal(kc_rsel_owner_stats(o[k], &st), 0);
        assert_int_equal(st.taken, st.committed + st.held + st.returned);
        assert_int_equal(st.held, 0);
        committed += st.committed;
        expired += st.expired;
        print_message("%s: owner %d: taken %llu committed %llu released %llu expired %llu "
                      "returned %llu rejects %llu\n",
                      label, k, (unsigned long long)st.taken, (unsigned long long)st.committed,
                      (unsigned long long)st.released, (unsigned long long)st.expired,
                      (unsigned long long)st.returned, (unsigned long long)st.rejects);
    }
    assert_int_equal(committed, n);
    assert_true(expired >= 1); /* the stopped process's reservations went on by lease */
    for (long v = 0; v < n; v++)
        if (seen[v] != 1)
            fail_msg("%s: value %ld received %d times", label, v, seen[v]);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("%s: %ld values exactly once through %d processes x %d selecting threads "
                  "in %.2f s (%ld, %ld, %ld; process 0 stopped for a tenth)\n",
                  label, n, NPROC, THREADS, secs, from[0], from[1], from[2]);
    for (int i = 0; i < NPROC; i++) {
        kc_rsel_detach(att[i]);
        kc_ipc_close(conn[i]);
        close(fds[i][0]);
    }
    for (int k = 0; k < 2; k++) {
        kc_rsel_owner_destroy(o[k], NULL);
        assert_int_equal(kc_chan_destroy(x[k]), 0);
    }
    kc_ipc_server_close(g_srv);
    kc_sched_destroy(s);
    free(seen);
}

static void test_competing_selects_in_three_processes_take_every_value_once(void **state)
{
    (void)state;
    char url[108];
    snprintf(url, sizeof url, "unix:@kc-rselp-%d", (int)getpid());
    run(url, getenv("KCORO_TEST_FULL") ? 1000000 : scaled(6000), "unix");
}

/* The same under delay, jitter, reordering and loss in every process: the
 * connection runs over rel:, which the simulator sits under (KCORO_SIM
 * routes the innermost link), so the protocol's stream stays ordered. */
static void test_the_same_under_the_impairment_simulator(void **state)
{
    (void)state;
    assert_int_equal(kc_rel_register(), 0);
    setenv("KCORO_SIM", "delay 300us 200us reorder 10% gap 3 loss 1%", 1);
    assert_int_equal(kc_sim_register(), 0);
    char url[108];
    snprintf(url, sizeof url, "rel:unix:@kc-rselp-sim-%d", (int)getpid());
    run(url, getenv("KCORO_TEST_FULL") ? 100000 : scaled(3000), "rel over KCORO_SIM");
    unsetenv("KCORO_SIM");
    assert_int_equal(kc_sim_register(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_competing_selects_in_three_processes_take_every_value_once),
        cmocka_unit_test(test_the_same_under_the_impairment_simulator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
