/* kc_guard.c - report stack overflows into a coroutine's guard region.
 *
 * A coroutine that runs off the bottom of its stack touches the guard region
 * below it and takes SIGSEGV. The handler runs on a per-thread alternate
 * signal stack (the faulting stack has no room left), names the coroutine
 * and its stack bounds on stderr, and aborts: never a silent segfault. Faults
 * that are not guard hits go to the handler that was installed before ours.
 * Everything in the handler is async-signal-safe: write(2) and a hand-rolled
 * number formatter.
 */
/* sigaltstack and SA_ONSTACK are POSIX XSI. */
#define _XOPEN_SOURCE 700
#include "coro/kc_coro_impl.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    KC_ALTSTACK_BYTES = 64 * 1024
};

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;
static struct sigaction prev_segv, prev_bus;

struct line {
    char buf[512];
    size_t n;
};

static void put_str(struct line *l, const char *s)
{
    while (*s && l->n < sizeof(l->buf) - 1)
        l->buf[l->n++] = *s++;
}

static void put_num(struct line *l, uint64_t v, unsigned base)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v && i < (int)sizeof(tmp));
    if (base == 16)
        put_str(l, "0x");
    while (i > 0 && l->n < sizeof(l->buf) - 1)
        l->buf[l->n++] = tmp[--i];
}

static void put_ptr(struct line *l, const void *p)
{
    put_num(l, (uint64_t)(uintptr_t)p, 16);
}

static void report(const struct kc_coro *co, const void *addr)
{
    struct line l = {.n = 0};
    put_str(&l, "kcoro: stack overflow in coroutine '");
    put_str(&l, co->name);
    put_str(&l, "' (id ");
    put_num(&l, co->id, 10);
    put_str(&l, "): fault at ");
    put_ptr(&l, addr);
    put_str(&l, ", stack [");
    put_ptr(&l, co->stack.lo);
    put_str(&l, ", ");
    put_ptr(&l, co->stack.hi);
    put_str(&l, ") of ");
    put_num(&l, (uint64_t)(co->stack.hi - co->stack.lo), 10);
    put_str(&l, " bytes, guard [");
    put_ptr(&l, co->stack.guard_lo);
    put_str(&l, ", ");
    put_ptr(&l, co->stack.lo);
    put_str(&l, "); raise the stack size (kc_coro_attr_t.stack_size or KCORO_STACK_SIZE)\n");
    ssize_t rc = write(STDERR_FILENO, l.buf, l.n);
    (void)rc;
}

/* How to find the thread's current coroutine without initialising
 * anything (we may be in a signal handler on a thread that never used
 * coroutines): the engine hands kc__coro_tls_peek in at kc__guard_thread_init,
 * so this file calls nothing of kc_coro.c. */
static const struct kc_coro *(*_Atomic peek_current)(void);

static const struct kc_coro *current_or_null(void)
{
    const struct kc_coro *(*peek)(void) = atomic_load_explicit(&peek_current, memory_order_relaxed);
    return peek != NULL ? peek() : NULL;
}

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    const struct kc_coro *co = current_or_null();
    const uint8_t *addr = info->si_addr;
    if (co != NULL && co->stack.origin != KC_STACK_NONE && addr >= co->stack.guard_lo &&
        addr < co->stack.lo) {
        report(co, addr);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: hand the fault to whoever handled it before us. */
    struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, info, uctx);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the access faults again. */
    sigaction(sig, prev, NULL);
}

static void free_altstack(void *mem)
{
    stack_t off = {.ss_flags = SS_DISABLE};
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == mem)
        sigaltstack(&off, NULL);
    free(mem);
}

/* Put on_fault in front of whatever SIGSEGV/SIGBUS handler is current,
 * keeping that one to chain to. */
static void take_over(int sig, struct sigaction *prev)
{
    struct sigaction cur, sa;
    if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_fault)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, prev);
}

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

static void take_over_all(void)
{
    pthread_mutex_lock(&install_lock);
    take_over(SIGSEGV, &prev_segv);
    take_over(SIGBUS, &prev_bus);
    pthread_mutex_unlock(&install_lock);
}

static void install(void)
{
    take_over_all();
    pthread_key_create(&altstack_key, free_altstack);
}

void kc__guard_thread_init(const struct kc_coro *(*peek)(void))
{
    atomic_store_explicit(&peek_current, peek, memory_order_relaxed);
    pthread_once(&install_once, install);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return; /* the thread already has one (ours or the program's) */
    void *mem = malloc(KC_ALTSTACK_BYTES);
    if (mem == NULL)
        return; /* overflows then end in a plain SIGSEGV */
    stack_t ss = {.ss_sp = mem, .ss_size = KC_ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        free(mem);
        return;
    }
    pthread_setspecific(altstack_key, mem);
}

void kc__guard_take_over(void)
{
    pthread_once(&install_once, install);
    take_over_all();
}
