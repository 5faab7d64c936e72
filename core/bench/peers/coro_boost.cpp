// coro_boost.cpp - peer benchmark: Boost.Context context switches.
// kc-peer-libs: -lboost_context
//
// Prints `BENCH peer.boost.coro.switch_roundtrip <ns> ns`: one round trip
// (jump into a context and back) with the fcontext primitives that
// Boost.Context's fiber and callcc are built on, plus the same round trip
// through boost::context::fiber for reference.
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ctx = boost::context;
namespace det = boost::context::detail;

static long iters(long n)
{
    const char *s = std::getenv("KC_BENCH_SCALE");
    long pct = s ? std::atol(s) : 100;
    return std::max(1L, n / 100 * std::max(1L, pct));
}

static int reps()
{
    const char *s = std::getenv("KC_BENCH_REPS");
    int n = s ? std::atoi(s) : 5;
    return std::min(101, std::max(1, n));
}

static double now_ns()
{
    using namespace std::chrono;
    return (double)duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bouncer(det::transfer_t t)
{
    for (;;)
        t = det::jump_fcontext(t.fctx, nullptr);
}

static double fcontext_roundtrip()
{
    static char stack[64 * 1024] __attribute__((aligned(16)));
    det::fcontext_t c = det::make_fcontext(stack + sizeof(stack), sizeof(stack), bouncer);
    long n = iters(10000000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        c = det::jump_fcontext(c, nullptr).fctx;
    return (now_ns() - t0) / (double)n;
}

static double fiber_roundtrip()
{
    long n = iters(10000000);
    ctx::fiber f{[](ctx::fiber &&main) {
        for (;;)
            main = std::move(main).resume();
        return std::move(main);
    }};
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        f = std::move(f).resume();
    return (now_ns() - t0) / (double)n;
}

static void report(const char *name, double (*fn)())
{
    std::vector<double> v;
    for (int i = 0; i < reps(); i++)
        v.push_back(fn());
    std::printf("BENCH %s %.4g ns\n", name, median(v));
    std::fflush(stdout);
}

int main()
{
    report("peer.boost.coro.switch_roundtrip", fcontext_roundtrip);
    report("peer.boost.coro.fiber_roundtrip", fiber_roundtrip);
    return 0;
}
