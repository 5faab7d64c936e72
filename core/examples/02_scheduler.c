/* 02_scheduler.c - tutorial step 2: many coroutines on a scheduler.
 *
 * KC_GO starts a coroutine with its own copy of an argument struct, like
 * Go's `go f(x, y)`; kc_sched_join waits for one and takes its result.
 */
#include <kcoro.h>
#include <stdio.h>

struct job {
    int id;
    int64_t nap_ns;
    atomic_int *done;
};

static int worker(void *arg)
{
    struct job *j = arg;             /* this coroutine's own copy */
    kc_sched_sleep(j->nap_ns, NULL); /* parks the coroutine, not the thread */
    atomic_fetch_add(j->done, 1);
    return j->id * j->id;
}

int main(void)
{
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0) /* one worker thread per CPU */
        return 1;
    atomic_int done = 0;
    for (int i = 0; i < 1000; i++) /* a thousand sleeping coroutines are cheap */
        KC_GO(s, worker, (struct job){.id = i, .nap_ns = 1000000, .done = &done});
    kc_task_t *t = NULL;
    KC_GO_TASK(s, &t, worker, (struct job){.id = 12, .nap_ns = 0, .done = &done});
    int result = 0;
    kc_sched_join(t, &result, KC_NO_TIMEOUT, NULL);
    kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL); /* the detached ones */
    printf("joined task returned %d; %d coroutines finished on %d workers\n", result,
           atomic_load(&done), kc_sched_nworkers(s));
    kc_sched_destroy(s);
    return result == 144 && atomic_load(&done) == 1001 ? 0 : 1;
}
