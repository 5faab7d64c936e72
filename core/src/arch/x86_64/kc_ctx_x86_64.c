/* kc_ctx_x86_64.c - first-frame layout for x86-64 contexts.  KC-SYNC(ctx-layout)
 *
 * Mirrors the frame kc_switch.S saves, so that the first switch into a new
 * context "returns" into kc__ctx_trampoline with the coroutine in r12.
 */
#include "arch/kc_arch.h"

#include <stdint.h>

struct kc_ctx_frame {
    uint32_t mxcsr;
    uint16_t fpucw;
    uint16_t pad;
    uint64_t r15, r14, r13, r12, rbx, rbp;
    void (*ret)(void);
};

_Static_assert(offsetof(struct kc_ctx_frame, r15) == 8, "ctx-layout r15");
_Static_assert(offsetof(struct kc_ctx_frame, r12) == 32, "ctx-layout r12");
_Static_assert(offsetof(struct kc_ctx_frame, rbp) == 48, "ctx-layout rbp");
_Static_assert(offsetof(struct kc_ctx_frame, ret) == 56, "ctx-layout ret");
_Static_assert(sizeof(struct kc_ctx_frame) == 64, "ctx-layout size");

/* Power-on defaults: all SSE exceptions masked, round to nearest; x87 with
 * all exceptions masked, 64-bit precision. */
enum {
    MXCSR_DEFAULT = 0x1F80,
    FPUCW_DEFAULT = 0x037F
};

void kc__ctx_trampoline(void);

void *kc__ctx_make(void *hi, void *coro)
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    struct kc_ctx_frame *f = (struct kc_ctx_frame *)(top - sizeof(*f));

    *f = (struct kc_ctx_frame){
        .mxcsr = MXCSR_DEFAULT,
        .fpucw = FPUCW_DEFAULT,
        .r12 = (uint64_t)(uintptr_t)coro,
        .ret = kc__ctx_trampoline,
    };
    return f;
}
