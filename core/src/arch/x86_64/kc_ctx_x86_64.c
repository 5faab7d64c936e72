/* kc_ctx_x86_64.c - first-frame layout for x86-64 contexts.  KC-SYNC(ctx-layout)
 *
 * Mirrors the frame kc_switch.S saves, so that the first switch into a new
 * context "returns" into kc__ctx_trampoline with the coroutine in r12.
 */
#include "arch/kc_arch.h"

#include <stdint.h>

struct kc_ctx_frame {
    uint64_t r15, r14, r13, r12, rbx, rbp;
    void (*ret)(void);
};

_Static_assert(offsetof(struct kc_ctx_frame, r15) == 0, "ctx-layout r15");
_Static_assert(offsetof(struct kc_ctx_frame, r12) == 24, "ctx-layout r12");
_Static_assert(offsetof(struct kc_ctx_frame, rbp) == 40, "ctx-layout rbp");
_Static_assert(offsetof(struct kc_ctx_frame, ret) == 48, "ctx-layout ret");
_Static_assert(sizeof(struct kc_ctx_frame) == 56, "ctx-layout size");

void kc__ctx_trampoline(void);

/* The frame ends 16-byte aligned, so after the switch pops it the
 * trampoline starts with rsp 16-byte aligned (kc_switch.S). */
void *kc__ctx_make(void *hi, void *coro)
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    struct kc_ctx_frame *f = (struct kc_ctx_frame *)(top - sizeof(*f));

    *f = (struct kc_ctx_frame){
        .r12 = (uint64_t)(uintptr_t)coro,
        .ret = kc__ctx_trampoline,
    };
    return f;
}
