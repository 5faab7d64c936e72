/* test_stack_clash.c - a frame larger than the guard is still reported as an overflow.
 *
 * A coroutine's stack has a 16 KiB guard below it. A function whose frame
 * is larger than that moves the stack pointer past the guard in one step
 * and writes below it without a fault, into whatever lies there (another
 * coroutine's stack), unless the compiler probes large frames page by page
 * (-fstack-clash-protection): then the first probe below the stack lands in
 * the guard, and the overflow reporter names the coroutine.
 *
 * This file is compiled with the Cflags of kcoro.pc (core/tests/module.mk
 * gives it exactly those, not the library's own hardening flags), so it
 * checks what a program built with `pkg-config --cflags kcoro` gets: a
 * 64 KiB frame in a coroutine with a 32 KiB stack (the frame ends 17 KiB
 * below the guard) is reported as an overflow of that coroutine, by name.
 */
#include "kcoro.h"

#include <signal.h>
#include <stdio.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

enum {
    BIG_FRAME = 64 * 1024,
    SMALL_STACK = 32 * 1024
};

/* noinline: the frame must be this function's own. */
__attribute__((noinline)) static int big_frame(int seed)
{
    volatile char frame[BIG_FRAME];
    frame[0] = (char)seed; /* the lowest byte: far below the guard */
    return frame[0];
}

static int big_frame_body(void *arg)
{
    return big_frame((int)(intptr_t)arg);
}

static void child_big_frame(void)
{
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    attr.name = "big-frame";
    attr.stack_size = SMALL_STACK;
    kc_coro_t *co, *below;
    /* cmocka replaced the SIGSEGV handler to catch test crashes. */
    kc_coro_install_overflow_handler();
    /* A neighbour, so the memory under the guard may well be a stack. */
    if (kc_coro_create(&below, big_frame_body, (void *)(intptr_t)1, &attr) != 0 ||
        kc_coro_create(&co, big_frame_body, (void *)(intptr_t)2, &attr) != 0)
        _exit(3);
    kc_coro_resume(co);
    _exit(0); /* only when the frame jumped the guard without a fault */
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KC_TEST_SANITIZED 1
#endif
#endif

static void test_coro_frame_larger_than_the_guard_is_reported_by_name(void **state)
{
    (void)state;
    if (kc_test_skip_under_valgrind("the guard-page death test"))
        return;
#ifdef KC_TEST_SANITIZED
    /* The sanitizers lay frames out themselves (redzones, ASan's fake
     * stack) and Clang 14 does not probe those: the claim is about the
     * flags of a normal build. */
    printf("[ SKIPPED  ] stack-clash probes: not what a sanitizer build lays out\n");
    return;
#endif
    struct kc_child child;
    assert_int_equal(kc_test_run_child(&child, child_big_frame), 0);
    if (!WIFSIGNALED(child.status) || WTERMSIG(child.status) != SIGABRT ||
        strstr(child.err, "kcoro: stack overflow in coroutine 'big-frame'") == NULL)
        fail_msg("a 64 KiB frame was not reported as an overflow (%s %d; stderr: %s)",
                 WIFSIGNALED(child.status) ? "signal" : "exit",
                 WIFSIGNALED(child.status) ? WTERMSIG(child.status) : WEXITSTATUS(child.status),
                 child.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coro_frame_larger_than_the_guard_is_reported_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
