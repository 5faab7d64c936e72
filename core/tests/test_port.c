/* test_port.c - tests of the port layer's parking and polling primitives.
 *
 * Futex wait/wake (the Linux futex and the portable condition-variable
 * buckets, both run here), the futex lock under contention with an exact
 * count, both poller backends (one-shot readiness, re-arming, disarm, wake,
 * hang-up, bad fds), the thread-side single-fd wait and the non-blocking
 * accept helper. Threads synchronise through the primitives under test, never
 * through sleeps.
 */
#define _GNU_SOURCE
#include "port/kc_futex.h"
#include "port/kc_poller.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

/* ------------------------------------------------------------ futex */

typedef int (*wait_fn)(_Atomic uint32_t *, uint32_t, int64_t);
typedef void (*wake_fn)(_Atomic uint32_t *, int);

struct futex_case {
    wait_fn wait;
    wake_fn wake;
    _Atomic uint32_t word;
    int woke;
};

static void *futex_waiter(void *arg)
{
    struct futex_case *c = arg;
    /* acquire: pairs with the release store in futex_wake_releases_waiter */
    while (atomic_load_explicit(&c->word, memory_order_acquire) == 0)
        c->wait(&c->word, 0, -1);
    c->woke = 1;
    return NULL;
}

static void futex_contract(wait_fn wait, wake_fn wake)
{
    _Atomic uint32_t w = 5;
    /* The value differs: returns at once. */
    assert_int_equal(wait(&w, 4, -1), 0);
    /* Nobody wakes us: the timeout is reported. */
    assert_int_equal(wait(&w, 5, 1000000), -ETIME);
    /* A wake with no waiter is harmless. */
    wake(&w, 1);

    struct futex_case c = {wait, wake, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, futex_waiter, &c), 0);
    /* release: pairs with the waiter's acquire load */
    atomic_store_explicit(&c.word, 1, memory_order_release);
    wake(&c.word, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.woke, 1);
}

static void test_futex_linux_wait_wake_contract(void **state)
{
    (void)state;
    futex_contract(kc__futex_wait, kc__futex_wake);
}

static void test_futex_portable_wait_wake_contract(void **state)
{
    (void)state;
    futex_contract(kc__futex_wait_portable, kc__futex_wake_portable);
}

/* ------------------------------------------------------------ lock */

struct lock_case {
    kc_lock_t lock;
    long counter;
    long iters;
};

static void *lock_worker(void *arg)
{
    struct lock_case *c = arg;
    for (long i = 0; i < c->iters; i++) {
        kc__lock(&c->lock);
        c->counter++;
        kc__unlock(&c->lock);
    }
    return NULL;
}

static void test_lock_excludes_and_counts_exactly(void **state)
{
    (void)state;
    struct lock_case c = {KC_LOCK_INIT, 0, kc_test_scaled(200000)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, lock_worker, &c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(c.counter, 4 * c.iters);
    assert_true(kc__lock_try(&c.lock));
    assert_false(kc__lock_try(&c.lock));
    kc__unlock(&c.lock);
}

/* ------------------------------------------------------------ pollers */

typedef int (*open_fn)(struct kc_poller **);

static void poller_contract(open_fn open_poller, const char *name)
{
    struct kc_poller *p;
    assert_int_equal(open_poller(&p), 0);
    assert_string_equal(kc__poller_name(p), name);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct kc_poll_event ev[8];

    /* Armed for input, nothing to read: nothing reported. */
    assert_int_equal(kc__poller_arm(p, sv[0], KC__POLL_IN, false), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    /* Data arrives: reported once, then the fd is disabled (one-shot). */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_int_equal(ev[0].fd, sv[0]);
    assert_true(ev[0].events & KC__POLL_IN);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    /* Re-armed while still readable: reported again. */
    assert_int_equal(kc__poller_arm(p, sv[0], KC__POLL_IN, true), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    /* Disarmed: never reported. */
    assert_int_equal(kc__poller_arm(p, sv[0], KC__POLL_IN, true), 0);
    assert_int_equal(kc__poller_disarm(p, sv[0]), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    /* Output on an empty socket buffer is ready at once. */
    assert_int_equal(kc__poller_arm(p, sv[1], KC__POLL_OUT, false), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_int_equal(ev[0].fd, sv[1]);
    assert_true(ev[0].events & KC__POLL_OUT);
    /* A wake makes a forever-wait return with no events. */
    kc__poller_wake(p);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 0);
    /* A bad fd is refused. */
    assert_int_equal(kc__poller_arm(p, 1 << 20, KC__POLL_IN, false), -EBADF);
    /* The peer hangs up: the waiting side hears about it. */
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    assert_int_equal(kc__poller_arm(p, sv[0], KC__POLL_IN, true), 0);
    close(sv[1]);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_true(ev[0].events & (KC__POLL_HUP | KC__POLL_IN));
    /* Timeouts end a wait with zero events. */
    assert_int_equal(kc__poller_wait(p, ev, 8, 1000000), 0);
    close(sv[0]);
    kc__poller_close(p);
}

static void test_poller_epoll_is_one_shot(void **state)
{
    (void)state;
    poller_contract(kc__poller_open_epoll, "epoll");
}

static void test_poller_poll_is_one_shot(void **state)
{
    (void)state;
    poller_contract(kc__poller_open_poll, "poll");
}

/* An attached fd is watched edge-triggered for what it was attached for:
 * for input only, a socket's peer reading our bytes reports nothing (it
 * would wake a sleeping worker for no waiter); output is reported once
 * asked for, and the events change in place. poll() has no such mode. */
static void test_poller_attached_fd_reports_output_only_when_asked(void **state)
{
    (void)state;
    struct kc_poller *p;
    assert_int_equal(kc__poller_open_epoll(&p), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct kc_poll_event ev[8];
    char c;
    assert_int_equal(kc__poller_attach(p, sv[0], KC__POLL_IN, false), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0); /* writable, but not asked */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_int_equal(ev[0].fd, sv[0]);
    assert_int_equal(ev[0].events, KC__POLL_IN);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0); /* an edge: once */
    assert_int_equal(read(sv[0], &c, 1), 1);
    for (int i = 0; i < 3; i++) { /* the peer reads what we wrote: silence */
        assert_int_equal(write(sv[0], "y", 1), 1);
        assert_int_equal(read(sv[1], &c, 1), 1);
        assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    }
    /* Output asked for: writable now, so reported at once, then edges. */
    assert_int_equal(kc__poller_attach(p, sv[0], KC__POLL_IN | KC__POLL_OUT, true), 0);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_int_equal(ev[0].events, KC__POLL_OUT);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    assert_int_equal(write(sv[0], "z", 1), 1);
    assert_int_equal(read(sv[1], &c, 1), 1);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 1); /* output again */
    assert_int_equal(ev[0].events, KC__POLL_OUT);
    /* Input only again: silence after the peer reads; input still heard. */
    assert_int_equal(kc__poller_attach(p, sv[0], KC__POLL_IN, true), 0);
    assert_int_equal(write(sv[0], "w", 1), 1);
    assert_int_equal(read(sv[1], &c, 1), 1);
    assert_int_equal(kc__poller_wait(p, ev, 8, 0), 0);
    assert_int_equal(write(sv[1], "v", 1), 1);
    assert_int_equal(kc__poller_wait(p, ev, 8, -1), 1);
    assert_int_equal(ev[0].events, KC__POLL_IN);
    assert_int_equal(kc__poller_disarm(p, sv[0]), 0);
    kc__poller_close(p);

    assert_int_equal(kc__poller_open_poll(&p), 0);
    assert_int_equal(kc__poller_attach(p, sv[0], KC__POLL_IN, false), -ENOTSUP);
    kc__poller_close(p);
    close(sv[0]);
    close(sv[1]);
}

struct wake_case {
    struct kc_poller *p;
    int rc;
};

static void *blocked_poller(void *arg)
{
    struct wake_case *w = arg;
    struct kc_poll_event ev[4];
    w->rc = kc__poller_wait(w->p, ev, 4, -1);
    return NULL;
}

static void poller_wake_from_thread(open_fn open_poller)
{
    struct wake_case w = {NULL, -1};
    assert_int_equal(open_poller(&w.p), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_poller, &w), 0);
    kc__poller_wake(w.p); /* before or during the wait: either way it returns */
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    kc__poller_close(w.p);
}

static void test_poller_wake_releases_blocked_thread(void **state)
{
    (void)state;
    poller_wake_from_thread(kc__poller_open_epoll);
    poller_wake_from_thread(kc__poller_open_poll);
}

/* ------------------------------------------------------------ fd helpers */

static void test_wait_fd_reports_ready_timeout_and_wake(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct kc_wakefd w;
    assert_int_equal(kc__wakefd_open(&w, false), 0);
    assert_int_equal(kc__port_wait_fd(sv[0], KC__POLL_IN, 1000000, &w), -ETIME);
    kc__wakefd_signal(&w);
    kc__wakefd_signal(&w);
    assert_int_equal(kc__port_wait_fd(sv[0], KC__POLL_IN, -1, &w), 0);
    /* The two signals were drained by one wait. */
    assert_int_equal(kc__port_wait_fd(sv[0], KC__POLL_IN, 0, &w), -ETIME);
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(kc__port_wait_fd(sv[0], KC__POLL_IN, -1, NULL), KC__POLL_IN);
    kc__wakefd_close(&w);
    assert_int_equal(kc__wakefd_open(&w, true), 0); /* the pipe flavour */
    kc__wakefd_signal(&w);
    assert_int_equal(kc__port_wait_fd(sv[1], KC__POLL_IN, -1, &w), 0);
    kc__wakefd_close(&w);
    close(sv[0]);
    close(sv[1]);
}

static void test_accept_gives_nonblocking_socket(void **state)
{
    (void)state;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/kc_test_port_%d.sock", (int)getpid());
    unlink(sa.sun_path);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(kc__port_set_nonblock(l), 0);
    assert_int_equal(kc__port_accept(l, NULL, NULL), -EAGAIN);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int a = kc__port_accept(l, NULL, NULL);
    assert_true(a >= 0);
    assert_true(fcntl(a, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(kc__port_set_nonblock(-1), -EBADF);
    close(a);
    close(c);
    close(l);
    unlink(sa.sun_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_futex_linux_wait_wake_contract),
        cmocka_unit_test(test_futex_portable_wait_wake_contract),
        cmocka_unit_test(test_lock_excludes_and_counts_exactly),
        cmocka_unit_test(test_poller_epoll_is_one_shot),
        cmocka_unit_test(test_poller_poll_is_one_shot),
        cmocka_unit_test(test_poller_attached_fd_reports_output_only_when_asked),
        cmocka_unit_test(test_poller_wake_releases_blocked_thread),
        cmocka_unit_test(test_wait_fd_reports_ready_timeout_and_wake),
        cmocka_unit_test(test_accept_gives_nonblocking_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
