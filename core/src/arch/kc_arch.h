/* kc_arch.h - the context-switch contract between C and per-arch assembly.
 *
 * A suspended context is one pointer: the stack pointer saved by
 * kc__ctx_switch(). Everything else (callee-saved registers, floating-point
 * control state, the return address) sits in a frame on that stack whose
 * layout each architecture declares in its kc_ctx_<arch>.h and asserts with
 * _Static_assert. Grep tag: KC-SYNC(ctx-layout).
 */
#ifndef KCORO_KC_ARCH_H
#define KCORO_KC_ARCH_H

#include <stddef.h>

/* Save the running context on its stack, store the stack pointer in
 * *save_sp, then continue the context whose stack pointer is next_sp; its own
 * kc__ctx_switch call returns `value`. Returns, with the value handed over,
 * when something switches back to the saved context.
 *
 * Handing the value over lets callers end in a tail call to this function:
 * then no `ret` runs between two contexts, and the return-stack predictor,
 * which cannot know that the stack changed, is never consulted (a
 * misprediction on every switch otherwise). */
int kc__ctx_switch(void **save_sp, void *next_sp, int value);

/* Lay out the first frame of a new context at the top of [lo, hi): the first
 * switch to the returned stack pointer calls kc__coro_main(coro) and never
 * returns. */
void *kc__ctx_make(void *hi, void *coro);

/* The first C function a new context runs (defined in coro/kc_coro.c). */
void kc__coro_main(void *coro) __attribute__((noreturn));

#endif /* KCORO_KC_ARCH_H */
