/* kc_port_san.h - ASan, TSan and Valgrind hooks for stack switching.
 *
 * Each tool must know when execution moves to another stack: ASan keeps a
 * fake stack and stack bounds per context (__sanitizer_start/finish_
 * switch_fiber), TSan keeps a fiber per context (__tsan_*_fiber), and
 * Valgrind must be told which ranges are stacks (VALGRIND_STACK_REGISTER).
 * The tools' headers are not POSIX, so they are included here, in the port
 * layer, only. Without the tool the hooks compile to nothing; Valgrind's
 * client requests cost a few instructions and run at create and destroy only.
 */
#ifndef KCORO_KC_PORT_SAN_H
#define KCORO_KC_PORT_SAN_H

#include <stddef.h>

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

/* TSan: the fiber of the running context, a new fiber, and its end. */
static inline void *kc__san_fiber_current(void)
{
#if KC_TSAN
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}

static inline void *kc__san_fiber_create(void)
{
#if KC_TSAN
    return __tsan_create_fiber(0);
#else
    return NULL;
#endif
}

static inline void kc__san_fiber_destroy(void *fiber)
{
#if KC_TSAN
    if (fiber != NULL)
        __tsan_destroy_fiber(fiber);
#else
    (void)fiber;
#endif
}

/* Valgrind: declare [lo, hi) a stack; returns the id to deregister. */
static inline unsigned kc__san_stack_register(void *lo, void *hi)
{
#if KC_VALGRIND
    return VALGRIND_STACK_REGISTER(lo, hi);
#else
    (void)lo;
    (void)hi;
    return 0;
#endif
}

static inline void kc__san_stack_deregister(unsigned id)
{
#if KC_VALGRIND
    VALGRIND_STACK_DEREGISTER(id);
#else
    (void)id;
#endif
}

/* ASan: clear poison left on a stack so its next owner starts clean. */
static inline void kc__san_unpoison(void *lo, size_t len)
{
#if KC_ASAN
    __asan_unpoison_memory_region(lo, len);
#else
    (void)lo;
    (void)len;
#endif
}

/* Just before a switch to the context with stack [bottom, bottom+size) and
 * TSan fiber `fiber`. fake_save is NULL when the context we leave is
 * finished for good (ASan then frees its fake stack). */
static inline void kc__san_start_switch(void **fake_save, const void *bottom, size_t size,
                                        void *fiber)
{
#if KC_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save;
    (void)bottom;
    (void)size;
#endif
#if KC_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
}

/* Just after a switch lands: ASan reports the bounds of the stack we came
 * from (the only way to learn a thread's own stack bounds). */
static inline void kc__san_finish_switch(void *fake, const void **bottom_old, size_t *size_old)
{
#if KC_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
    (void)fake;
    (void)bottom_old;
    (void)size_old;
#endif
}

#endif /* KCORO_KC_PORT_SAN_H */
