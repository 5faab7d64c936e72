/* demo_coro.c - demo section: generator coroutines feeding each other.
 *
 * A prime sieve built from coroutines alone: "naturals" yields 2, 3, 4, ...;
 * every prime found adds a "sieve-<p>" coroutine that pulls from the one
 * before it and passes on only numbers p does not divide. Each number
 * travels through the chain by resume and yield, so the tour can count the
 * switches and time them. Then a coroutine overflows its stack on purpose,
 * in a child process, to show the guard page's report.
 */
#define _POSIX_C_SOURCE 200809L
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    PRIMES = 40,
    EXTRA = 2000
};

struct gen {
    kc_coro_t *co;
    struct gen *src; /* upstream generator, NULL for "naturals" */
    long prime;      /* the divisor this sieve removes */
    long value;      /* the value it yielded last */
    long pulled;     /* values it took from upstream */
};

static int naturals(void *arg)
{
    struct gen *g = arg;
    for (long n = 2;; n++) {
        g->value = n;
        kc_coro_yield();
    }
    return 0;
}

static long pull(struct gen *g)
{
    kc_coro_resume(g->co);
    return g->value;
}

static int sieve(void *arg)
{
    struct gen *g = arg;
    for (;;) {
        long v = pull(g->src);
        g->pulled++;
        if (v % g->prime != 0) {
            g->value = v;
            kc_coro_yield();
        }
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int recurse(int depth)
{
    volatile char frame[2048];
    frame[0] = (char)depth;
    return depth > 1 << 30 ? frame[0] : recurse(depth + 1) + frame[0];
}

static int overflow(void *arg)
{
    (void)arg;
    return recurse(0);
}

/* Overflow a 64 KiB stack in a child and relay what kcoro reports. */
static int show_overflow(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
        attr.name = "runaway-recursion";
        kc_coro_t *co;
        if (kc_coro_create(&co, overflow, NULL, &attr) == 0)
            kc_coro_resume(co);
        _exit(0);
    }
    close(fds[1]);
    char msg[1024];
    ssize_t n = read(fds[0], msg, sizeof(msg) - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    msg[n > 0 ? n : 0] = '\0';
    printf("  a child process runs 'runaway-recursion' with 2 KiB frames; kcoro says:\n    %s",
           msg);
    bool ok = WIFSIGNALED(status) && WTERMSIG(status) == 6 && strstr(msg, "stack overflow");
    printf("  child ended by signal %d (SIGABRT): %s\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
           ok ? "reported, never a silent segfault" : "NOT AS EXPECTED");
    return ok ? 0 : 1;
}

int kc_demo_coroutines(void)
{
    kc_demo_heading("coroutines: a prime sieve of generator coroutines");
    static struct gen gens[PRIMES + 1];
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    attr.name = "naturals";
    if (kc_coro_create(&gens[0].co, naturals, &gens[0], &attr) != 0)
        return 1;
    struct gen *head = &gens[0];
    long primes[PRIMES];
    uint64_t sw0 = kc_coro_thread_switches();
    double t0 = now_ms();
    for (int i = 0; i < PRIMES; i++) {
        primes[i] = pull(head);
        char name[KC_CORO_NAME_MAX];
        snprintf(name, sizeof(name), "sieve-%ld", primes[i]);
        struct gen *g = &gens[i + 1];
        g->src = head;
        g->prime = primes[i];
        attr.name = name;
        if (kc_coro_create(&g->co, sieve, g, &attr) != 0)
            return 1;
        head = g;
    }
    double ms = now_ms() - t0;
    uint64_t switches = kc_coro_thread_switches() - sw0;

    printf("  first %d primes:", PRIMES);
    for (int i = 0; i < PRIMES; i++)
        printf("%s%ld", i % 20 == 0 ? "\n    " : " ", primes[i]);
    printf("\n  chain: naturals -> %s -> %s -> ... -> %s (%d coroutines)\n",
           kc_coro_name(gens[1].co), kc_coro_name(gens[2].co), kc_coro_name(head->co), PRIMES + 1);
    printf("  sieve-2 pulled %ld numbers, sieve-3 %ld, sieve-%ld %ld\n", gens[1].pulled,
           gens[2].pulled, gens[PRIMES - 1].prime, gens[PRIMES - 1].pulled);
    printf("  building it took %llu switches and %.2f ms (creating stacks included)\n",
           (unsigned long long)switches, ms);

    /* Every prime below 173^2 passes the finished chain intact: pull more. */
    sw0 = kc_coro_thread_switches();
    t0 = now_ms();
    long last = 0;
    for (int i = 0; i < EXTRA; i++)
        last = pull(head);
    ms = now_ms() - t0;
    switches = kc_coro_thread_switches() - sw0;
    printf("  %d more primes through the 41-deep chain (the last: %ld): %llu switches in\n"
           "  %.2f ms, %.1f ns per switch, all on one thread\n",
           EXTRA, last, (unsigned long long)switches, ms,
           switches ? ms * 1e6 / (double)switches : 0.0);

    kc_coro_stack_stats_t st;
    kc_coro_stack_stats(&st);
    printf("  stacks: %zu KiB each, %zu KiB guard below each (%s), %llu live\n",
           st.default_stack_size / 1024, st.guard_size / 1024,
           st.guard_mode == KC_CORO_GUARD_MADVISE ? "MADV_GUARD_INSTALL" : "mprotect",
           (unsigned long long)st.live);
    for (int i = 0; i <= PRIMES; i++)
        kc_coro_destroy(gens[i].co);

    bool sieve_ok = primes[0] == 2 && primes[PRIMES - 1] == 173 && last == 17783;
    printf("  the 40th prime is %ld: %s\n", primes[PRIMES - 1], sieve_ok ? "correct" : "WRONG");
    return (sieve_ok ? 0 : 1) | show_overflow();
}
