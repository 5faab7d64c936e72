/* test_abuse_io.c - kcoro/io.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale (closed) arguments, from a thread and from a coroutine: each
 * returns the documented negative errno and changes nothing.
 * mk/lint-abuse.sh holds every public header to having such a file. Leaks
 * show under ASan and Valgrind.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

/* An fd number that is certainly closed: one just closed. */
static int closed_fd(void)
{
    int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    return fd;
}

/* Every call of io.h with bad arguments; failures counted, not asserted, so
 * that it can run on a coroutine stack (STYLE.md: no cmocka longjmp there). */
static int abuse_io(void)
{
    int bad = 0;
#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        long long got_ = (long long)(call);                                                        \
        if (got_ != (long long)(want)) {                                                           \
            printf("  %s: %lld, wanted %lld\n", #call, got_, (long long)(want));                   \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 1000;
    int gone = closed_fd();
    char buf[8] = {0};
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    /* one byte to move: qemu-user answers a message of no iovec with 0
     * before it reaches the kernel, whatever the descriptor */
    struct iovec one = {buf, 1};
    m.msg_iov = &one;
    m.msg_iovlen = 1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    socklen_t sl = sizeof(sa);

    EXPECT(kc_io_wait(-1, KC_IO_IN, 0, NULL), -EINVAL);
    EXPECT(kc_io_wait(INT_MIN, KC_IO_IN, INT64_MAX, NULL), -EINVAL);
    EXPECT(kc_io_wait(sv[0], 0, 0, NULL), -EINVAL);
    EXPECT(kc_io_wait(sv[0], KC_IO_ERR, 0, NULL), -EINVAL);
    EXPECT(kc_io_wait(sv[0], UINT32_MAX, 0, NULL), -EINVAL);
    EXPECT(kc_io_wait(sv[0], KC_IO_IN, 0, NULL), -EAGAIN);
    EXPECT(kc_io_wait(sv[0], KC_IO_IN, -5, NULL), -EAGAIN);
    EXPECT(kc_io_wait(sv[0], KC_IO_OUT, INT64_MAX, NULL), KC_IO_OUT);

    EXPECT(kc_read(-1, buf, 1, 0, NULL), -EBADF);
    EXPECT(kc_read(gone, buf, 1, INT64_MAX, NULL), -EBADF);
    EXPECT(kc_read(sv[0], NULL, 1, 0, NULL), -EINVAL);
    EXPECT(kc_read(sv[0], buf, 0, 0, NULL), 0); /* nothing asked, nothing read */
    EXPECT(kc_read(sv[0], buf, 1, INT64_MIN, NULL), -EAGAIN);
    EXPECT(kc_write(-1, buf, 1, 0, NULL), -EBADF);
    EXPECT(kc_write(gone, buf, 1, INT64_MAX, NULL), -EBADF);
    EXPECT(kc_write(sv[0], NULL, 1, 0, NULL), -EINVAL);
    EXPECT(kc_write(sv[0], buf, 0, 0, NULL), 0);
    EXPECT(kc_recvmsg(-1, &m, 0, 0, NULL), -EBADF);
    EXPECT(kc_recvmsg(sv[0], NULL, 0, 0, NULL), -EINVAL);
    EXPECT(kc_recvmsg(sv[0], &m, 0, -5, NULL), -EAGAIN);
    EXPECT(kc_sendmsg(-1, &m, 0, 0, NULL), -EBADF);
    EXPECT(kc_sendmsg(gone, &m, 0, 0, NULL), -EBADF);
    EXPECT(kc_sendmsg(sv[0], NULL, 0, 0, NULL), -EINVAL);
    EXPECT(kc_accept(-1, NULL, NULL, 0, NULL), -EBADF);
    EXPECT(kc_accept(gone, NULL, NULL, INT64_MAX, NULL), -EBADF);
    EXPECT(kc_accept(sv[0], (struct sockaddr *)&sa, NULL, 0, NULL), -EINVAL);
    EXPECT(kc_accept(sv[0], NULL, NULL, 0, NULL), -EINVAL); /* not a listener */
    EXPECT(kc_connect(-1, (struct sockaddr *)&sa, sl, 0, NULL), -EBADF);
    EXPECT(kc_connect(sv[0], NULL, 0, 0, NULL), -EINVAL);
    EXPECT(kc_connect(gone, (struct sockaddr *)&sa, sl, 0, NULL), -EBADF);
    EXPECT(kc_io_set_nonblock(-1), -EBADF);
    EXPECT(kc_io_set_nonblock(gone), -EBADF);
    EXPECT(kc_io_set_nonblock(sv[0]), 0);
    EXPECT(kc_io_set_nonblock(sv[0]), 0); /* twice */

    kc_cancel_t *c = NULL;
    if (kc_cancel_create(&c, NULL) != 0 || kc_cancel_trigger(c) != 1)
        return 1000;
    EXPECT(kc_io_wait(sv[0], KC_IO_IN, INT64_MAX, c), -ECANCELED);
    EXPECT(kc_read(sv[0], buf, 1, INT64_MAX, c), -ECANCELED);
    EXPECT(kc_cancel_destroy(c), 0);
    close(sv[0]);
    close(sv[1]);
#undef EXPECT
    return bad;
}

static void test_abuse_io_from_a_thread(void **state)
{
    (void)state;
    assert_int_equal(abuse_io(), 0);
    kc_sched_t *s = kc_test_sched(1);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(kc_io_attach(NULL, sv[0]), -EPERM); /* not on a scheduler */
    assert_int_equal(kc_io_detach(NULL, sv[0]), -EPERM);
    assert_int_equal(kc_io_attach(s, -1), -EINVAL);
    assert_int_equal(kc_io_attach(s, INT_MAX), -EINVAL); /* beyond any table */
    assert_int_equal(kc_io_detach(s, -1), -EINVAL);
    assert_int_equal(kc_io_detach(s, sv[0]), 0); /* never attached */
    assert_int_equal(kc_io_detach(s, INT_MAX), 0);
    assert_int_equal(kc_io_attach(s, sv[0]), 0);
    assert_int_equal(kc_io_attach(s, sv[0]), 0); /* twice is harmless */
    assert_int_equal(kc_io_detach(s, sv[0]), 0);
    assert_int_equal(kc_io_detach(s, sv[0]), 0);
    int gone = closed_fd();
    int rc = kc_io_attach(s, gone);
    assert_true(rc == -EBADF || rc == 0); /* 0 only on a poller that does nothing (poll) */
    assert_int_equal(kc_io_detach(s, gone), 0);
    /* kc_io_close: bad and stale descriptors, no scheduler; nothing closed
     * unless it says so */
    assert_int_equal(kc_io_close(NULL, sv[0]), -EPERM); /* not on a scheduler */
    assert_true(fcntl(sv[0], F_GETFD) >= 0);            /* still open */
    assert_int_equal(kc_io_close(s, -1), -EINVAL);
    assert_int_equal(kc_io_close(s, INT_MIN), -EINVAL);
    assert_int_equal(kc_io_close(s, gone), -EBADF);
    assert_int_equal(kc_io_close(s, INT_MAX), -EBADF);
    assert_int_equal(kc_io_attach(s, sv[0]), 0);
    assert_int_equal(kc_io_close(s, sv[0]), 0); /* detached and closed */
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    assert_int_equal(kc_io_close(s, sv[0]), -EBADF); /* stale: closed already */
    close(sv[1]);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static int abuse_io_coro(void *arg)
{
    (void)arg;
    return abuse_io();
}

static void test_abuse_io_from_a_coroutine(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_task_t *t = NULL;
    int bad = -1;
    assert_int_equal(kc_sched_spawn(s, &t, abuse_io_coro, NULL, NULL), 0);
    assert_int_equal(kc_sched_join(t, &bad, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_io_from_a_thread),
        cmocka_unit_test(test_abuse_io_from_a_coroutine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
