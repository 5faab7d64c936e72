/* kc_relacy.h - compile kcoro's C11 atomics against Relacy's checked ones.
 *
 * A Relacy test (core/relacy/rl_*.cpp) defines the structs an algorithm
 * works on with kc_atomic<T> fields, includes this header, then the
 * functions core/relacy/extract.pl copied out of the real sources. The
 * macros below turn each <stdatomic.h> call into the same operation, with
 * the same memory order, on Relacy's atomic, so Relacy explores the
 * interleavings and weak-memory outcomes the C code allows. Plain data
 * that must be published by those orders is an rl::var (a data race or a
 * read of an unpublished value is then a failure), and every test asserts
 * its algorithm's invariants.
 *
 * The futex is modelled with a Relacy mutex and condition variable: the
 * value check and the sleep are atomic with respect to a wake, as in the
 * kernel, so a lost wake-up shows as a deadlock.
 */
#ifndef KCORO_KC_RELACY_H
#define KCORO_KC_RELACY_H

#include <relacy/relacy.hpp>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

/* relacy.hpp redefines the C++ memory orders with a debug-info suffix and
 * new/delete/malloc/free with its tracking versions; our macros carry the
 * debug info themselves, and the tests allocate with new. */
#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef assert
#undef errno
#define errno (rl::get_errno())

#define memory_order_relaxed rl::mo_relaxed
#define memory_order_consume rl::mo_consume
#define memory_order_acquire rl::mo_acquire
#define memory_order_release rl::mo_release
#define memory_order_acq_rel rl::mo_acq_rel
#define memory_order_seq_cst rl::mo_seq_cst

template <class T> using kc_atomic = rl::atomic<T>;

/* Mutants (extract.pl -m): the order a mutated call uses. 0 runs the real
 * code; kc_rl_select() sets the number from the command line. */
static int kc_rl_mutant;
#define kc_rl_mo(k, real, weak) (kc_rl_mutant == (k) ? (weak) : (real))

#define atomic_init(p, v) ((*(p))($).store((v), rl::mo_relaxed))
#define atomic_load_explicit(p, mo) ((*(p))($).load(mo))
#define atomic_store_explicit(p, v, mo) ((*(p))($).store((v), mo))
#define atomic_exchange_explicit(p, v, mo) ((*(p))($).exchange((v), mo))
#define atomic_compare_exchange_strong_explicit(p, e, d, s, f)                                     \
    ((*(p))($).compare_exchange_strong(*(e), (d), s, f))
#define atomic_compare_exchange_weak_explicit(p, e, d, s, f)                                       \
    ((*(p))($).compare_exchange_weak(*(e), (d), s, f))
#define atomic_fetch_add_explicit(p, v, mo) ((*(p))($).fetch_add((v), mo))
#define atomic_fetch_sub_explicit(p, v, mo) ((*(p))($).fetch_sub((v), mo))
#define atomic_fetch_or_explicit(p, v, mo) ((*(p))($).fetch_or((v), mo))
#define atomic_fetch_and_explicit(p, v, mo) ((*(p))($).fetch_and((v), mo))
#define atomic_thread_fence(mo) rl::atomic_thread_fence((mo), $)
#define atomic_signal_fence(mo) ((void)0)

/* A plain (non-atomic) field whose reads and writes Relacy checks for
 * races, used where the C code reads it as an ordinary lvalue (p->kind):
 * it converts to T with a checked read and assigns with a checked write. */
template <class T> struct kc_rl_plain {
    mutable rl::var<T> v;
    operator T() const
    {
        return v($);
    }
    kc_rl_plain &operator=(T x)
    {
        v($) = x;
        return *this;
    }
};

/* C's implicit conversion of void * (calloc's result) to any pointer. */
struct kc_rl_any_ptr {
    void *p;
    template <class T> operator T *() const
    {
        return static_cast<T *>(p);
    }
};

/* A futex word: kc_rl_futex_wait sleeps while *w == v, until a wake. One
 * mutex and condition variable per test stand for the kernel's hash
 * bucket (tests reset it in before()). */
struct kc_rl_futex {
    rl::mutex m;
    rl::condition_variable cv;
};
extern kc_rl_futex *kc_rl_futex_cur;

template <class T> static inline int kc_rl_futex_wait(kc_atomic<T> *w, T v)
{
    kc_rl_futex *f = kc_rl_futex_cur;
    f->m.lock($);
    if ((*w)($).load(rl::mo_relaxed) == v)
        f->cv.wait(f->m, $);
    f->m.unlock($);
    return 0;
}

template <class T> static inline void kc_rl_futex_wake(kc_atomic<T> *w)
{
    (void)w;
    kc_rl_futex *f = kc_rl_futex_cur;
    f->m.lock($);
    f->cv.notify_all($);
    f->m.unlock($);
}

/* The iteration count: KC_RELACY_ITERS in the environment (make verify
 * sets a bounded one, make test-full a larger one), else dflt. */
static inline unsigned long kc_rl_iterations(unsigned long dflt)
{
    const char *s = getenv("KC_RELACY_ITERS");
    return s != nullptr && *s ? strtoul(s, nullptr, 10) : dflt;
}

/* Pick the mutant named by argv[1] (none: the real orders). Returns false,
 * after listing the names, for an unknown one. */
template <size_t N> static bool kc_rl_select(int argc, char **argv, const char *const (&names)[N])
{
    if (argc < 2)
        return true;
    for (size_t k = 1; k < N; k++)
        if (std::strcmp(argv[1], names[k]) == 0) {
            kc_rl_mutant = (int)k;
            std::printf("  mutant  %s\n", names[k]);
            return true;
        }
    std::fprintf(stderr, "unknown mutant %s; the mutants are:", argv[1]);
    for (size_t k = 1; k < N; k++)
        std::fprintf(stderr, " %s", names[k]);
    std::fprintf(stderr, "\n");
    return false;
}

/* Run test suite T with the random scheduler for the configured number of
 * iterations; prints Relacy's report on a failure. True when it held. */
template <class T> static bool kc_rl_run(const char *name, unsigned long dflt)
{
    rl::test_params p;
    p.iteration_count = kc_rl_iterations(dflt);
    p.search_type = rl::random_scheduler_type;
    std::printf("  relacy  %s: %lu iterations\n", name, (unsigned long)p.iteration_count);
    std::fflush(stdout);
    bool ok = rl::simulate<T>(p);
    std::fflush(stdout);
    return ok;
}

#endif
