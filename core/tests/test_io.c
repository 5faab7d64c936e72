/* test_io.c - tests of kcoro/io.h: readiness waits and the socket calls.
 *
 * kc_io_wait from coroutines (woken by data, timed out, cancelled, refused
 * when a second reader comes) and from plain threads; a socketpair echo
 * through kc_read/kc_write with ten thousand coroutines alive at once;
 * accept/connect over a Unix socket; recvmsg/sendmsg with scattered buffers;
 * and the same echo on the portable backends (poll() and condition
 * variables), run in a child process that main() forks before anything else
 * runs and that sets KCORO_PORT=portable before its first kcoro call (the
 * backend is chosen once per process). The child is forked, not re-executed:
 * under qemu-user /proc/self/exe is the emulator, and an exec of an AArch64
 * binary fails without binfmt_misc. Waits are synchronised on the
 * scheduler's own counters, never on sleeps.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void nb_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(kc_io_set_nonblock(sv[0]), 0);
    assert_int_equal(kc_io_set_nonblock(sv[1]), 0);
}

/* Wait (yielding) until n coroutines of s are parked in kc_io_wait. */
static void wait_io_waiters(kc_sched_t *s, uint64_t n)
{
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    do {
        kc_sched_yield();
        kc_sched_metrics(s, &m, NULL, 0);
    } while (m.io_waiting != n);
}

/* ------------------------------------------------------------ waits */

struct waiter {
    int fd;
    uint32_t events;
    int64_t timeout;
    const kc_cancel_t *cancel;
    int rc;
};

static int io_waits(void *arg)
{
    struct waiter *w = arg;
    w->rc = kc_io_wait(w->fd, w->events, w->timeout, w->cancel);
    return 0;
}

static void test_io_wait_rejects_bad_input_and_zero_timeout_tries(void **state)
{
    (void)state;
    int sv[2];
    nb_pair(sv);
    assert_int_equal(kc_io_wait(-1, KC_IO_IN, 0, NULL), -EINVAL);
    assert_int_equal(kc_io_wait(sv[0], 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_io_wait(sv[0], 0x10, 0, NULL), -EINVAL);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_IN, 0, NULL), -EAGAIN);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_OUT, 0, NULL), KC_IO_OUT);
    char c;
    assert_int_equal(kc_read(sv[0], &c, 1, 0, NULL), -EAGAIN);
    close(sv[0]);
    close(sv[1]);
}

static void test_io_wait_coroutine_woken_by_data_timeout_and_cancel(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    int sv[2];
    nb_pair(sv);
    kc_task_t *t;
    /* Woken by data. */
    struct waiter w = {sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    wait_io_waiters(s, 1);
    assert_int_equal(write(sv[1], "z", 1), 1);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, KC_IO_IN);
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    /* Timed out. */
    w = (struct waiter){sv[0], KC_IO_IN, 1000000, NULL, 99};
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, -ETIME);
    /* Cancelled while parked; a second reader meanwhile is refused. */
    kc_cancel_t *cx;
    assert_int_equal(kc_cancel_create(&cx, NULL), 0);
    w = (struct waiter){sv[0], KC_IO_IN, KC_NO_TIMEOUT, cx, 99};
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    wait_io_waiters(s, 1);
    struct waiter w2 = {sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    kc_task_t *t2;
    assert_int_equal(kc_sched_spawn(s, &t2, io_waits, &w2, NULL), 0);
    assert_int_equal(kc_sched_join(t2, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w2.rc, -EBUSY);
    kc_cancel_trigger(cx);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_cancel_destroy(cx), 0);
    /* A cancelling shutdown wakes an I/O waiter too. */
    w = (struct waiter){sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    wait_io_waiters(s, 1);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_CANCEL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_sched_destroy(s), 0);
    close(sv[0]);
    close(sv[1]);
}

/* ---- bad descriptors and kc_io_close (issue 12, defect 5) */

/* An fd number this process cannot have open: beyond RLIMIT_NOFILE. */
static int fd_beyond_limit(void)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t n = rl.rlim_cur < 1000000 ? rl.rlim_cur + 10 : 1000000;
    return (int)n;
}

/* Every kind of wait on a closed fd and on one beyond the limit. */
static int bad_fd_waits(void *arg)
{
    int *rc = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    close(sv[0]);
    close(sv[1]);
    int far = fd_beyond_limit();
    int k = 0;
    rc[k++] = kc_io_wait(sv[0], KC_IO_IN, 0, NULL);
    rc[k++] = kc_io_wait(sv[0], KC_IO_IN, 1000000000, NULL);
    rc[k++] = kc_io_wait(sv[0], KC_IO_OUT, KC_NO_TIMEOUT, NULL);
    rc[k++] = kc_io_wait(far, KC_IO_IN, 0, NULL);
    rc[k++] = kc_io_wait(far, KC_IO_IN, 1000000000, NULL);
    rc[k++] = kc_io_wait(far, KC_IO_IN | KC_IO_OUT, KC_NO_TIMEOUT, NULL);
    char c;
    rc[k++] = (int)kc_read(sv[0], &c, 1, 1000000000, NULL);
    return 0;
}

enum {
    N_BAD_FD_WAITS = 7
};

static void *bad_fd_waits_thread(void *arg)
{
    bad_fd_waits(arg);
    return NULL;
}

static void test_io_wait_on_closed_or_out_of_range_fd_is_ebadf_everywhere(void **state)
{
    (void)state;
    int on_thread[N_BAD_FD_WAITS], on_coro[N_BAD_FD_WAITS];
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bad_fd_waits_thread, on_thread), 0);
    pthread_join(th, NULL);
    kc_sched_t *s = kc_test_sched(1);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, bad_fd_waits, on_coro, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    for (int i = 0; i < N_BAD_FD_WAITS; i++) {
        if (on_thread[i] != -EBADF || on_coro[i] != -EBADF)
            fail_msg("wait %d: thread %d, coroutine %d, want -EBADF (%d)", i, on_thread[i],
                     on_coro[i], -EBADF);
    }
}

struct reader {
    int fd;
    int64_t timeout;
    int rc;
};

static int read_one(void *arg)
{
    struct reader *r = arg;
    char c;
    r->rc = (int)kc_read(r->fd, &c, 1, r->timeout, NULL);
    return 0;
}

static void test_io_close_wakes_every_coroutine_waiter_with_ebadf(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    int a[2], b[2];
    nb_pair(a);
    nb_pair(b);
    assert_int_equal(kc_io_attach(s, b[0]), 0); /* one plain, one attached */
    /* A reader and a writer on a[0] (the writer's buffer filled first),
     * an untimed and a timed reader on b[0]. */
    char fill[4096] = {0};
    while (write(a[0], fill, sizeof(fill)) > 0)
        ;
    struct waiter wr = {a[0], KC_IO_OUT, KC_NO_TIMEOUT, NULL, 99};
    struct waiter rd = {a[0], KC_IO_IN, 10 * 1000000000ll, NULL, 99};
    struct reader r1 = {b[0], KC_NO_TIMEOUT, 99};
    kc_task_t *t[3];
    assert_int_equal(kc_sched_spawn(s, &t[0], io_waits, &wr, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &t[1], io_waits, &rd, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &t[2], read_one, &r1, NULL), 0);
    wait_io_waiters(s, 3);
    uint64_t t0 = (uint64_t)time(NULL);
    assert_int_equal(kc_io_close(s, a[0]), 0);
    assert_int_equal(kc_io_close(s, b[0]), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_true((uint64_t)time(NULL) - t0 < 5); /* woken, not timed out */
    assert_int_equal(wr.rc, -EBADF);
    assert_int_equal(rd.rc, -EBADF);
    assert_int_equal(r1.rc, -EBADF);
    /* Closed for good: the descriptors are gone, and closing again fails. */
    assert_int_equal(fcntl(a[0], F_GETFD), -1);
    assert_int_equal(kc_io_close(s, a[0]), -EBADF);
    assert_int_equal(kc_io_close(s, -1), -EINVAL);
    assert_int_equal(kc_io_close(NULL, a[1]), -EPERM); /* no scheduler here */
    assert_int_equal(kc_sched_destroy(s), 0);
    close(a[1]);
    close(b[1]);
}

static void *cancel_later(void *arg)
{
    for (int i = 0; i < 50; i++)
        kc_sched_yield();
    kc_cancel_trigger(arg);
    return NULL;
}

static void test_io_wait_from_plain_thread(void **state)
{
    (void)state;
    int sv[2];
    nb_pair(sv);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_IN, 1000000, NULL), -ETIME);
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, c), 0);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_IN, KC_NO_TIMEOUT, c), -ECANCELED);
    pthread_join(th, NULL);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_IN, KC_NO_TIMEOUT, c), -ECANCELED);
    assert_int_equal(kc_cancel_destroy(c), 0);
    assert_int_equal(write(sv[1], "q", 1), 1);
    assert_int_equal(kc_io_wait(sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL), KC_IO_IN);
    char c2;
    assert_int_equal(kc_read(sv[0], &c2, 1, KC_NO_TIMEOUT, NULL), 1);
    close(sv[0]);
    close(sv[1]);
}

static void test_io_wait_on_regular_file_is_ready(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    char path[] = "/tmp/kc_test_io_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    struct waiter w = {fd, KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, KC_IO_IN);
    close(fd);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ echo */

struct echo {
    int fd;
    int rounds;
    int id;
    kc_sched_t *attached; /* detach before close */
    _Atomic long *echoed;
    _Atomic long *errors;
};

static int echo_server(void *arg)
{
    struct echo *e = arg;
    char buf[64];
    for (;;) {
        ssize_t n = kc_read(e->fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL);
        if (n <= 0) {
            if (n < 0)
                atomic_fetch_add(e->errors, 1);
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = kc_write(e->fd, buf + off, (size_t)(n - off), KC_NO_TIMEOUT, NULL);
            if (w < 0) {
                atomic_fetch_add(e->errors, 1);
                return -1;
            }
            off += w;
        }
    }
    if (e->attached != NULL && kc_io_detach(e->attached, e->fd) != 0)
        atomic_fetch_add(e->errors, 1);
    close(e->fd);
    return 0;
}

static int echo_client(void *arg)
{
    struct echo *e = arg;
    for (int r = 0; r < e->rounds; r++) {
        int64_t msg[2] = {e->id, r}, back[2] = {-1, -1};
        if (kc_write(e->fd, msg, sizeof(msg), KC_NO_TIMEOUT, NULL) != sizeof(msg)) {
            atomic_fetch_add(e->errors, 1);
            break;
        }
        size_t got = 0;
        while (got < sizeof(back)) {
            ssize_t n = kc_read(e->fd, (char *)back + got, sizeof(back) - got, KC_NO_TIMEOUT, NULL);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != sizeof(back) || back[0] != e->id || back[1] != r)
            atomic_fetch_add(e->errors, 1);
        else
            atomic_fetch_add(e->echoed, 1);
    }
    if (e->attached != NULL && kc_io_detach(e->attached, e->fd) != 0)
        atomic_fetch_add(e->errors, 1);
    close(e->fd); /* the server reads end-of-file and exits */
    return 0;
}

/* Run `pairs` client/server pairs (fds attached when asked); returns echoed
 * messages, -1 on setup failure. */
static long run_echo(int pairs, int rounds, bool attach, long *errors)
{
    kc_sched_t *s = kc_test_sched(2);
    if (s == NULL)
        return -1;
    _Atomic long echoed = 0, errs = 0;
    struct echo *e = calloc((size_t)pairs * 2, sizeof(*e));
    if (e == NULL)
        return -1;
    for (int i = 0; i < pairs; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || kc_io_set_nonblock(sv[0]) != 0 ||
            kc_io_set_nonblock(sv[1]) != 0)
            return -1;
        if (attach && (kc_io_attach(s, sv[0]) != 0 || kc_io_attach(s, sv[1]) != 0))
            return -1;
        e[2 * i] = (struct echo){sv[0], rounds, i, attach ? s : NULL, &echoed, &errs};
        e[2 * i + 1] = (struct echo){sv[1], rounds, i, attach ? s : NULL, &echoed, &errs};
        if (kc_sched_spawn(s, NULL, echo_server, &e[2 * i], NULL) != 0 ||
            kc_sched_spawn(s, NULL, echo_client, &e[2 * i + 1], NULL) != 0)
            return -1;
    }
    kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL);
    kc_sched_destroy(s);
    free(e);
    *errors = atomic_load(&errs);
    return atomic_load(&echoed);
}

static void test_io_socketpair_echo_with_ten_thousand_coroutines(void **state)
{
    (void)state;
    int pairs = (int)kc_test_scaled(5000), rounds = 4;
    long errors = -1;
    long echoed = run_echo(pairs, rounds, false, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(echoed, (long)pairs * rounds);
}

static void test_io_attached_fds_echo_and_detach_refuses_while_waited(void **state)
{
    (void)state;
    int pairs = (int)kc_test_scaled(1000), rounds = 8;
    long errors = -1;
    long echoed = run_echo(pairs, rounds, true, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(echoed, (long)pairs * rounds);

    kc_sched_t *s = kc_test_sched(1);
    int sv[2];
    nb_pair(sv);
    assert_int_equal(kc_io_attach(NULL, sv[0]), -EPERM);
    assert_int_equal(kc_io_attach(s, -1), -EINVAL);
    assert_int_equal(kc_io_attach(s, sv[0]), 0);
    assert_int_equal(kc_io_attach(s, sv[0]), 0); /* twice is harmless */
    struct waiter w = {sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    wait_io_waiters(s, 1);
    assert_int_equal(kc_io_detach(s, sv[0]), -EBUSY);
    assert_int_equal(write(sv[1], "a", 1), 1);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.rc, KC_IO_IN);
    /* An edge seen with nobody waiting is remembered for the next wait. */
    assert_int_equal(write(sv[1], "b", 1), 1);
    w = (struct waiter){sv[0], KC_IO_IN, KC_NO_TIMEOUT, NULL, 99};
    assert_int_equal(kc_sched_spawn(s, &t, io_waits, &w, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_true(w.rc & KC_IO_IN);
    assert_int_equal(kc_io_detach(s, sv[0]), 0);
    assert_int_equal(kc_io_detach(s, sv[0]), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    close(sv[0]);
    close(sv[1]);
}

/* A writer on an attached fd whose socket buffer is full parks until the
 * peer drains it (output is watched only while it waits), three times in
 * a row, with a reader waiting on the same fd all along. */
struct bulk {
    int fd;
    size_t n;
    ssize_t rc;
};

static int write_bulk(void *arg)
{
    struct bulk *b = arg;
    char *buf = calloc(1, b->n);
    if (buf == NULL)
        return 1;
    size_t done = 0;
    ssize_t r = 0;
    while (done < b->n && (r = kc_write(b->fd, buf + done, b->n - done, KC_NO_TIMEOUT, NULL)) > 0)
        done += (size_t)r;
    b->rc = r < 0 ? r : (ssize_t)done;
    free(buf);
    return 0;
}

static void test_io_attached_fd_writer_parks_until_drained(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    int sv[2];
    nb_pair(sv);
    assert_int_equal(kc_io_attach(s, sv[0]), 0);
    struct reader r = {sv[0], KC_NO_TIMEOUT, 99};
    kc_task_t *rt;
    assert_int_equal(kc_sched_spawn(s, &rt, read_one, &r, NULL), 0);
    wait_io_waiters(s, 1);
    for (int round = 0; round < 3; round++) {
        char fill[4096] = {0};
        size_t filled = 0;
        ssize_t n;
        while ((n = write(sv[0], fill, sizeof(fill))) > 0)
            filled += (size_t)n;
        struct bulk b = {sv[0], 100000, 0};
        kc_task_t *t;
        assert_int_equal(kc_sched_spawn(s, &t, write_bulk, &b, NULL), 0);
        wait_io_waiters(s, 2); /* the reader and the parked writer */
        size_t want = filled + b.n, got = 0;
        char sink[8192];
        while (got < want) { /* drain from this thread */
            n = read(sv[1], sink, sizeof(sink));
            if (n > 0)
                got += (size_t)n;
            else
                usleep(1000);
        }
        assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(b.rc, (ssize_t)b.n);
        assert_int_equal(got, want);
    }
    assert_int_equal(r.rc, 99); /* the reader still waits: nothing came in */
    assert_int_equal(write(sv[1], "r", 1), 1);
    assert_int_equal(kc_sched_join(rt, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(r.rc, 1);
    assert_int_equal(kc_io_detach(s, sv[0]), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    close(sv[0]);
    close(sv[1]);
}

/* ------------------------------------------------------------ accept */

struct listener {
    int fd, clients;
    _Atomic long served;
};

static int handle_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16];
    ssize_t n = kc_read(fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL);
    if (n > 0)
        kc_write(fd, buf, (size_t)n, KC_NO_TIMEOUT, NULL);
    close(fd);
    return 0;
}

static int acceptor(void *arg)
{
    struct listener *l = arg;
    for (int i = 0; i < l->clients; i++) {
        int fd = kc_accept(l->fd, NULL, NULL, KC_NO_TIMEOUT, NULL);
        if (fd < 0)
            return fd;
        if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
            return -EINVAL;
        kc_sched_spawn(NULL, NULL, handle_one, (void *)(intptr_t)fd, NULL);
        atomic_fetch_add(&l->served, 1);
    }
    return 0;
}

struct dialer {
    const struct sockaddr_un *sa;
    int ok;
};

static int dial(void *arg)
{
    struct dialer *d = arg;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    kc_io_set_nonblock(fd);
    if (kc_connect(fd, (const struct sockaddr *)d->sa, sizeof(*d->sa), KC_NO_TIMEOUT, NULL) == 0 &&
        kc_write(fd, "hello", 5, KC_NO_TIMEOUT, NULL) == 5) {
        char buf[8];
        d->ok =
            kc_read(fd, buf, sizeof(buf), KC_NO_TIMEOUT, NULL) == 5 && memcmp(buf, "hello", 5) == 0;
    }
    close(fd);
    return 0;
}

static void test_io_accept_and_connect_over_unix_socket(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/kc_test_io_%d.sock", (int)getpid());
    unlink(sa.sun_path);
    struct listener l = {socket(AF_UNIX, SOCK_STREAM, 0), 64, 0};
    assert_int_equal(bind(l.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l.fd, 128), 0);
    assert_int_equal(kc_io_set_nonblock(l.fd), 0);
    kc_task_t *a;
    assert_int_equal(kc_sched_spawn(s, &a, acceptor, &l, NULL), 0);
    struct dialer d[64];
    for (int i = 0; i < l.clients; i++) {
        d[i] = (struct dialer){&sa, 0};
        assert_int_equal(kc_sched_spawn(s, NULL, dial, &d[i], NULL), 0);
    }
    int st = -1;
    assert_int_equal(kc_sched_join(a, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    for (int i = 0; i < l.clients; i++)
        assert_int_equal(d[i].ok, 1);
    assert_int_equal(atomic_load(&l.served), l.clients);
    close(l.fd);
    unlink(sa.sun_path);
    /* Nobody listens there any more. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    kc_io_set_nonblock(fd);
    int rc = kc_connect(fd, (struct sockaddr *)&sa, sizeof(sa), KC_NO_TIMEOUT, NULL);
    assert_true(rc == -ENOENT || rc == -ECONNREFUSED);
    close(fd);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ msg */

struct msg_pair {
    int fd;
    ssize_t rc;
    char a[4], b[4];
};

static int send_msg(void *arg)
{
    struct msg_pair *m = arg;
    char x[] = "abc", y[] = "defg";
    struct iovec iov[2] = {{x, 3}, {y, 4}};
    struct msghdr h = {.msg_iov = iov, .msg_iovlen = 2};
    m->rc = kc_sendmsg(m->fd, &h, 0, KC_NO_TIMEOUT, NULL);
    return 0;
}

static int recv_msg(void *arg)
{
    struct msg_pair *m = arg;
    struct iovec iov[2] = {{m->a, 3}, {m->b, 4}};
    struct msghdr h = {.msg_iov = iov, .msg_iovlen = 2};
    m->rc = kc_recvmsg(m->fd, &h, MSG_WAITALL, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_io_recvmsg_and_sendmsg_scatter_gather(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    int sv[2];
    nb_pair(sv);
    struct msg_pair rx = {.fd = sv[0]}, tx = {.fd = sv[1]};
    kc_task_t *r, *w;
    assert_int_equal(kc_sched_spawn(s, &r, recv_msg, &rx, NULL), 0);
    wait_io_waiters(s, 1);
    assert_int_equal(kc_sched_spawn(s, &w, send_msg, &tx, NULL), 0);
    assert_int_equal(kc_sched_join(w, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(r, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(tx.rc, 7);
    assert_int_equal(rx.rc, 7);
    assert_memory_equal(rx.a, "abc", 3);
    assert_memory_equal(rx.b, "defg", 4);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ portable */

/* The portable child: forked by main() before any test, so nothing in it
 * has chosen a backend yet. It waits on a pipe for the test's go-ahead; an
 * end of file instead (the test did not run) ends it quietly. */
static struct {
    pid_t pid;
    int go_fd;
} portable = {-1, -1};

static int portable_child(void)
{
    long errors = -1;
    int pairs = (int)kc_test_scaled(500);
    long echoed = run_echo(pairs, 4, false, &errors);
    long errors2 = -1;
    long echoed2 = run_echo(pairs, 4, true, &errors2); /* attach: a no-op here */
    printf("portable echo: %ld + %ld echoed, %ld + %ld errors\n", echoed, echoed2, errors, errors2);
    return echoed == (long)pairs * 4 && echoed2 == echoed && errors == 0 && errors2 == 0 ? 0 : 1;
}

static void fork_portable_child(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[1]);
        char go;
        ssize_t r;
        do
            r = read(fds[0], &go, 1);
        while (r < 0 && errno == EINTR);
        close(fds[0]);
        if (r != 1)
            _exit(0);
        setenv("KCORO_PORT", "portable", 1);
        exit(portable_child()); /* exit, not _exit: leak checkers run */
    }
    close(fds[0]);
    portable.pid = pid;
    portable.go_fd = fds[1];
}

static void test_io_echo_on_portable_backends(void **state)
{
    (void)state;
    assert_true(portable.pid > 0); /* main() could fork it */
    fflush(stdout);
    char go = 1;
    assert_int_equal(write(portable.go_fd, &go, 1), 1);
    close(portable.go_fd);
    portable.go_fd = -1;
    int st = 0;
    assert_int_equal(waitpid(portable.pid, &st, 0), portable.pid);
    portable.pid = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    fork_portable_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_wait_rejects_bad_input_and_zero_timeout_tries),
        cmocka_unit_test(test_io_wait_coroutine_woken_by_data_timeout_and_cancel),
        cmocka_unit_test(test_io_wait_from_plain_thread),
        cmocka_unit_test(test_io_wait_on_regular_file_is_ready),
        cmocka_unit_test(test_io_wait_on_closed_or_out_of_range_fd_is_ebadf_everywhere),
        cmocka_unit_test(test_io_close_wakes_every_coroutine_waiter_with_ebadf),
        cmocka_unit_test(test_io_socketpair_echo_with_ten_thousand_coroutines),
        cmocka_unit_test(test_io_attached_fds_echo_and_detach_refuses_while_waited),
        cmocka_unit_test(test_io_attached_fd_writer_parks_until_drained),
        cmocka_unit_test(test_io_accept_and_connect_over_unix_socket),
        cmocka_unit_test(test_io_recvmsg_and_sendmsg_scatter_gather),
        cmocka_unit_test(test_io_echo_on_portable_backends),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (portable.pid > 0) { /* its test did not run: let it go */
        close(portable.go_fd);
        waitpid(portable.pid, NULL, 0);
    }
    return failed;
}
