/* kc_sanitizer.h - ASan, TSan and Valgrind annotations for context switches.
 *
 * Each sanitizer needs to know when execution moves to another stack:
 * ASan keeps a fake stack and stack bounds per context
 * (__sanitizer_start/finish_switch_fiber), TSan keeps a fiber per context
 * (__tsan_create/switch_to/destroy_fiber), and Valgrind must be told which
 * memory ranges are stacks (VALGRIND_STACK_REGISTER). In a build without the
 * sanitizer the hooks compile to nothing; Valgrind's client requests cost a
 * few instructions at create and destroy only.
 */
#ifndef KCORO_KC_SANITIZER_H
#define KCORO_KC_SANITIZER_H

#include "coro/kc_coro_impl.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define KC_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define KC_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define KC_TSAN 1
#include <sanitizer/tsan_interface.h>
#else
#define KC_TSAN 0
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define KC_VALGRIND 1
#endif
#endif
#ifndef KC_VALGRIND
#define KC_VALGRIND 0
#endif

/* The TSan fiber of the calling thread's own stack. */
static inline void *kc__san_current_fiber(void)
{
#if KC_TSAN
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}

/* A new coroutine: register its stack and give it a fiber. */
static inline void kc__san_create(struct kc_coro *co)
{
    co->asan_bottom = co->stack.lo;
    co->asan_size = (size_t)(co->stack.hi - co->stack.lo);
#if KC_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
#if KC_VALGRIND
    co->vg_stack_id = VALGRIND_STACK_REGISTER(co->stack.lo, co->stack.hi);
#endif
}

/* A coroutine about to be freed: drop its fiber and stack registration,
 * and clear ASan poison left on its stack so the next owner starts clean. */
static inline void kc__san_destroy(struct kc_coro *co)
{
#if KC_TSAN
    if (co->tsan_fiber != NULL)
        __tsan_destroy_fiber(co->tsan_fiber);
#endif
#if KC_VALGRIND
    VALGRIND_STACK_DEREGISTER(co->vg_stack_id);
#endif
#if KC_ASAN
    __asan_unpoison_memory_region(co->stack.lo, (size_t)(co->stack.hi - co->stack.lo));
#endif
    (void)co;
}

/* Just before the switch to `to`. fake_save is NULL when the context we
 * leave is finished for good. */
static inline void kc__san_start_switch(void **fake_save, const struct kc_coro *to)
{
#if KC_ASAN
    __sanitizer_start_switch_fiber(fake_save, to->asan_bottom, to->asan_size);
#else
    (void)fake_save;
#endif
#if KC_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)to;
}

/* Just after a switch lands in a context. ASan reports the bounds of the
 * stack we came from; we keep them for the thread's root context, whose
 * bounds we do not know otherwise. */
static inline void kc__san_finish_switch(void *fake, struct kc_coro *prev)
{
#if KC_ASAN
    const void *bottom = NULL;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(fake, &bottom, &size);
    if (prev != NULL && prev->stack.origin == KC_STACK_NONE) {
        prev->asan_bottom = bottom;
        prev->asan_size = size;
    }
#else
    (void)fake;
    (void)prev;
#endif
}

#endif /* KCORO_KC_SANITIZER_H */
