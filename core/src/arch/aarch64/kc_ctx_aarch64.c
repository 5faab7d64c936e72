/* kc_ctx_aarch64.c - first-frame layout for AArch64 contexts.  KC-SYNC(ctx-layout)
 *
 * Mirrors the frame kc_switch.S saves, so that the first switch into a new
 * context returns into kc__ctx_trampoline with the coroutine in x19.
 */
#include "arch/kc_arch.h"

#include <stdint.h>

struct kc_ctx_frame {
    uint64_t x19_x28[10];
    uint64_t x29;
    void (*x30)(void);
    uint64_t d8_d15[8];
};

_Static_assert(offsetof(struct kc_ctx_frame, x29) == 80, "ctx-layout x29");
_Static_assert(offsetof(struct kc_ctx_frame, x30) == 88, "ctx-layout x30");
_Static_assert(offsetof(struct kc_ctx_frame, d8_d15) == 96, "ctx-layout d8");
_Static_assert(sizeof(struct kc_ctx_frame) == 160, "ctx-layout size");

void kc__ctx_trampoline(void);

void *kc__ctx_make(void *hi, void *coro)
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    struct kc_ctx_frame *f = (struct kc_ctx_frame *)(top - sizeof(*f));

    *f = (struct kc_ctx_frame){
        .x19_x28 = {(uint64_t)(uintptr_t)coro},
        .x29 = 0,
        .x30 = kc__ctx_trampoline,
    };
    return f;
}
