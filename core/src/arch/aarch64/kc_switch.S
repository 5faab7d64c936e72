/* kc_switch.S - AArch64 (AAPCS64) context switch.  KC-SYNC(ctx-layout)
 *
 * Frame saved on the suspended stack, lowest address first (160 bytes,
 * 16-byte aligned; struct kc_ctx_frame in kc_ctx_aarch64.c):
 *     0  x19 x20     16  x21 x22     32  x23 x24     48  x25 x26
 *    64  x27 x28     80  x29 (fp) x30 (lr = resume address)
 *    96  d8 d9      112  d10 d11    128  d12 d13    144  d14 d15
 * x18 is the platform register and is left alone. FPCR (rounding mode,
 * trap enables) is the thread's and is not switched: coroutines share
 * their thread's floating-point control (core/docs/COROUTINES.md).
 */
    .text
    .globl  kc__ctx_switch
    .hidden kc__ctx_switch
    .type   kc__ctx_switch, %function
    .p2align 4
/* int kc__ctx_switch(void **save_sp [x0], void *next_sp [x1], int value [w2]) */
kc__ctx_switch:
    .cfi_startproc
    stp     x19, x20, [sp, #-160]!  /* make the frame; callee-saved integers */
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]     /* frame pointer and return address */
    stp     d8, d9, [sp, #96]       /* low halves of v8-v15 */
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]                /* publish the suspended stack pointer */
    mov     sp, x1                  /* adopt the next context's stack */
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x19, x20, [sp], #160    /* the last pair, and drop the frame */
    mov     w0, w2                  /* what the next context's call returns */
    ret                             /* to x30 of the next context */
    .cfi_endproc
    .size   kc__ctx_switch, .-kc__ctx_switch

    .globl  kc__ctx_trampoline
    .hidden kc__ctx_trampoline
    .type   kc__ctx_trampoline, %function
    .p2align 4
/* First code of a new context: x19 holds the coroutine (kc__ctx_make put it
 * there) and x29 is 0, which ends the frame chain for debuggers. */
kc__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    bl      kc__coro_main           /* never returns */
    brk     #0
    .cfi_endproc
    .size   kc__ctx_trampoline, .-kc__ctx_trampoline

    .section .note.GNU-stack,"",%progbits
