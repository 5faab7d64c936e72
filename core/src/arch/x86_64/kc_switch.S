/* kc_switch.S - x86-64 System V context switch.  KC-SYNC(ctx-layout)
 *
 * Frame saved on the suspended stack, lowest address first (56 bytes; the
 * saved stack pointer is 8 mod 16, as at any call's entry; struct
 * kc_ctx_frame in kc_ctx_x86_64.c):
 *    0  r15
 *    8  r14
 *   16  r13
 *   24  r12
 *   32  rbx
 *   40  rbp
 *   48  return address (pushed by the call into kc__ctx_switch)
 * Caller-saved registers need no saving: kc__ctx_switch is an ordinary call,
 * so r8 is free to carry the resume address and eax the handed-over value.
 * The floating-point control state (MXCSR, the x87 control word) is the
 * thread's and is not switched: coroutines share their thread's rounding
 * mode and exception masks (core/docs/COROUTINES.md, "The switch").
 */
    .text
    .globl  kc__ctx_switch
    .hidden kc__ctx_switch
    .type   kc__ctx_switch, @function
    .p2align 4
/* int kc__ctx_switch(void **save_sp [rdi], void *next_sp [rsi], int value [edx]) */
kc__ctx_switch:
    .cfi_startproc
    pushq   %rbp                /* callee-saved registers, above the */
    pushq   %rbx                /* return address the call pushed */
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)        /* publish the suspended stack pointer */
    movq    %rsi, %rsp          /* adopt the next context's stack */
    popq    %r15                /* its callee-saved registers */
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %r8                 /* its resume address */
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
