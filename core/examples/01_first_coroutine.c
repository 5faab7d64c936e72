/* 01_first_coroutine.c - tutorial step 1: a coroutine is a function that can pause.
 *
 * A generator: the coroutine yields the Fibonacci numbers one at a time
 * through a shared variable, and main resumes it for each one.
 */
#include <kcoro.h>
#include <stdio.h>

static long current; /* what the generator hands over at each yield */

static int fibonacci(void *arg)
{
    int n = *(int *)arg;
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        current = a;
        kc_coro_yield(); /* pause here; main continues */
        long next = a + b;
        a = b;
        b = next;
    }
    return 0;
}

int main(void)
{
    int n = 10;
    kc_coro_t *gen = NULL;
    if (kc_coro_create(&gen, fibonacci, &n, NULL) != 0)
        return 1;
    long sum = 0;
    while (kc_coro_resume(gen) == 0) { /* 0: it yielded; 1: it finished */
        printf("%ld ", current);
        sum += current;
    }
    printf("\nsum %ld, coroutine %s\n", sum,
           kc_coro_state(gen) == KC_CORO_FINISHED ? "finished" : "not finished");
    kc_coro_destroy(gen);
    return sum == 88 ? 0 : 1;
}
