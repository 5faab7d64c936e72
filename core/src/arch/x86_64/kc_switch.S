/* kc_switch.S - x86-64 System V context switch.  KC-SYNC(ctx-layout)
 *
 * Frame saved on the suspended stack, lowest address first (64 bytes,
 * 16-byte aligned; struct kc_ctx_frame in kc_ctx_x86_64.h):
 *    0  mxcsr (4 bytes) | x87 control word (2 bytes) | pad (2 bytes)
 *    8  r15
 *   16  r14
 *   24  r13
 *   32  r12
 *   40  rbx
 *   48  rbp
 *   56  return address
 * Caller-saved registers need no saving: kc__ctx_switch is an ordinary call.
 */
    .text
    .globl  kc__ctx_switch
    .hidden kc__ctx_switch
    .type   kc__ctx_switch, @function
    .p2align 4
/* void kc__ctx_switch(void **save_sp [rdi], void *next_sp [rsi]) */
kc__ctx_switch:
    .cfi_startproc
    pushq   %rbp                /* callee-saved registers, ABI order */
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    leaq    -8(%rsp), %rsp      /* room for the FP control words */
    stmxcsr (%rsp)              /* SSE control and status */
    fnstcw  4(%rsp)             /* x87 control word */
    movq    %rsp, (%rdi)        /* publish the suspended stack pointer */
    movq    %rsi, %rsp          /* adopt the next context's stack */
    ldmxcsr (%rsp)              /* its SSE control state */
    fldcw   4(%rsp)             /* its x87 control word */
    leaq    8(%rsp), %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret                         /* into the next context */
    .cfi_endproc
    .size   kc__ctx_switch, .-kc__ctx_switch

    .globl  kc__ctx_trampoline
    .hidden kc__ctx_trampoline
    .type   kc__ctx_trampoline, @function
    .p2align 4
/* First code of a new context: r12 holds the coroutine (kc__ctx_make put it
 * there), rsp is 16-byte aligned, so the call below keeps the ABI alignment. */
kc__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip          /* outermost frame: debuggers stop here */
    movq    %r12, %rdi
    call    kc__coro_main       /* never returns */
    ud2
    .cfi_endproc
    .size   kc__ctx_trampoline, .-kc__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
