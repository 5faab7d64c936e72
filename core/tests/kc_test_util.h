/* kc_test_util.h - small helpers shared by core's cmocka tests.
 *
 * Header-only so each test binary stays one translation unit: scaled counts
 * for slow checkers, a scheduler of n workers, death tests in a child
 * process with stderr captured, and white-box pokes that tests need and the
 * public API must not offer. Include it after cmocka.h.
 */
#ifndef KCORO_KC_TEST_UTIL_H
#define KCORO_KC_TEST_UTIL_H

#include "coro/kc_coro_impl.h"
#include "kcoro/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* KCORO_TEST_SCALE=N divides the big counts (make valgrind sets it): the
 * same assertions, on fewer operations. */
static inline long kc_test_scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    return n / div > 0 ? n / div : 1;
}

/* Sleep the calling thread for ms milliseconds. */
static inline void kc_test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll cond every millisecond for up to 30 s (a loaded 2-core host, or
 * qemu); the test fails past that. */
#define KC_TEST_WAIT_FOR(cond)                                                                     \
    do {                                                                                           \
        int waited_ = 0;                                                                           \
        while (!(cond)) {                                                                          \
            assert_true(waited_++ < 30000);                                                        \
            kc_test_sleep_ms(1);                                                                   \
        }                                                                                          \
    } while (0)

/* A scheduler with n workers (asserts that it was created). */
static inline kc_sched_t *kc_test_sched(int n)
{
    kc_sched_t *s = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = n;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    return s;
}

/* Valgrind runs signal handlers on its own terms; death tests that depend
 * on a guard-page SIGSEGV are skipped there (and only there). */
static inline bool kc_test_skip_under_valgrind(const char *what)
{
    if (getenv("KCORO_UNDER_VALGRIND") == NULL)
        return false;
    printf("[ SKIPPED  ] %s: not meaningful under valgrind\n", what);
    return true;
}

struct kc_child {
    int status;     /* waitpid status */
    char err[4096]; /* what the child wrote to stderr */
};

/* Run fn in a forked child with stderr captured; 0 or -errno. */
static inline int kc_test_run_child(struct kc_child *c, void (*fn)(void))
{
    int fds[2];
    memset(c, 0, sizeof(*c));
    if (pipe(fds) != 0)
        return -errno;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], c->err + n, sizeof(c->err) - 1 - n)) > 0)
        n += (size_t)r;
    c->err[n] = '\0';
    close(fds[0]);
    if (waitpid(pid, &c->status, 0) != pid)
        return -errno;
    return 0;
}

/* Overwrite the lowest word of a coroutine's stack, as an overflow that
 * jumped the guard region would. */
static inline void kc_test_clobber_stack_bottom(kc_coro_t *co)
{
    *(volatile uint64_t *)(void *)co->stack.lo = 0;
}

#endif /* KCORO_KC_TEST_UTIL_H */
