/* kc_switch.S - x86-64 System V context switch.  KC-SYNC(ctx-layout)
 *
 * Frame saved on the suspended stack, lowest address first (64 bytes,
 * 16-byte aligned; struct kc_ctx_frame in kc_ctx_x86_64.c):
 *    0  mxcsr (4 bytes) | x87 control word (2 bytes) | pad (2 bytes)
 *    8  r15
 *   16  r14
 *   24  r13
 *   32  r12
 *   40  rbx
 *   48  rbp
 *   56  return address
 * Caller-saved registers need no saving: kc__ctx_switch is an ordinary call,
 * so r8 is free to carry the resume address and eax the handed-over value.
 */
    .text
    .globl  kc__ctx_switch
    .hidden kc__ctx_switch
    .type   kc__ctx_switch, @function
    .p2align 4
/* int kc__ctx_switch(void **save_sp [rdi], void *next_sp [rsi], int value [edx]) */
kc__ctx_switch:
    .cfi_startproc
    leaq    -56(%rsp), %rsp     /* frame below the return address */
    stmxcsr (%rsp)              /* SSE control and status */
    fnstcw  4(%rsp)             /* x87 control word */
    movq    %r15, 8(%rsp)       /* callee-saved registers */
    movq    %r14, 16(%rsp)
    movq    %r13, 24(%rsp)
    movq    %r12, 32(%rsp)
    movq    %rbx, 40(%rsp)
    movq    %rbp, 48(%rsp)
    movq    %rsp, (%rdi)        /* publish the suspended stack pointer */
    movq    %rsi, %rsp          /* adopt the next context's stack */
    movq    56(%rsp), %r8       /* its resume address */
    ldmxcsr (%rsp)              /* its SSE control state */
    fldcw   4(%rsp)             /* its x87 control word */
    movq    8(%rsp), %r15
    movq    16(%rsp), %r14
    movq    24(%rsp), %r13
    movq    32(%rsp), %r12
    movq    40(%rsp), %rbx
    movq    48(%rsp), %rbp
    leaq    64(%rsp), %rsp      /* drop the frame and the resume address */
    movl    %edx, %eax          /* what the next context's call returns */
    /* Jump rather than ret: the return stack buffer predicts a return to our
     * own caller, which is wrong after a stack swap; the indirect jump is
     * predicted by its own history. */
    jmp     *%r8                /* into the next context */
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
