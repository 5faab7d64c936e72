/* 06_blocking_and_context.c - tutorial step 6: blocking calls and task context.
 *
 * A handler sets its request id in its task-local context; the coroutines
 * it starts in a scope inherit it. One of them does a blocking call (here
 * a sleep standing for getaddrinfo or fsync) with kc_run_blocking: it runs
 * on a helper thread while the coroutine parks, so the single worker keeps
 * serving the others.
 */
#define _POSIX_C_SOURCE 200809L
#include <kcoro.h>
#include <stdio.h>
#include <time.h>

static kc_ctx_key_t request_id = KC_CTX_KEY_INIT("request-id", NULL);

static int slow_lookup(void *arg)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* blocks a helper thread, never a worker */
    return *(int *)arg + 1;
}

static int resolver(void *arg)
{
    (void)arg;
    int *id = kc_ctx_get(&request_id); /* inherited from the handler */
    int answer = 0;
    if (id == NULL || kc_run_blocking(slow_lookup, id, KC_NO_TIMEOUT, NULL, &answer) != 0)
        return -1;
    printf("request %d: lookup answered %d\n", *id, answer);
    return answer == *id + 1 ? 0 : -1;
}

static int ticker(void *arg)
{
    int *ticks = arg;
    for (int i = 0; i < 10; i++, (*ticks)++)
        kc_sched_sleep(1000 * 1000, NULL);
    return 0;
}

static int handler(void *arg)
{
    static int id = 7;
    kc_ctx_set(&request_id, &id);
    kc_scope_t *sc = NULL;
    kc_scope_create(&sc, NULL, 0);
    kc_scope_spawn(sc, resolver, NULL, NULL);
    kc_scope_spawn(sc, ticker, arg, NULL);
    int rc = kc_scope_wait(sc, KC_NO_TIMEOUT, NULL); /* kc_scope_destroy alone would cancel them */
    return rc | kc_scope_destroy(sc);
}

int main(void)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = KC_SCHED_F_SINGLE_THREAD; /* every coroutine on one thread */
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &o) != 0)
        return 1;
    int ticks = 0, status = -1;
    kc_task_t *t = NULL;
    kc_sched_spawn(s, &t, handler, &ticks, NULL);
    kc_sched_join(t, &status, KC_NO_TIMEOUT, NULL);
    printf("the single worker ticked %d times meanwhile; handler status %d\n", ticks, status);
    kc_sched_destroy(s);
    return status == 0 && ticks == 10 ? 0 : 1;
}
