/* kc_blocking.c - kc_run_blocking: blocking calls on a bounded helper pool.
 *
 * One process-wide pool: a FIFO of jobs under a mutex, helper threads that
 * sleep on a condition variable, started one at a time when a job arrives
 * and no helper is idle, up to max_threads. A job lives on its caller's
 * stack: the caller waits until either it took the job back out of the
 * queue itself (a timeout or cancellation while QUEUED) or the helper's
 * unpark arrived after DONE, so the helper never touches a job that is
 * gone (the lifetime rule of kcoro/park.h).
 *
 *   job       event                                     next       by
 *   --------  ----------------------------------------  ---------  ------------
 *   QUEUED    a helper pops it                          RUNNING    helper
 *   QUEUED    the caller's wait ends early: unlinked    (gone)     caller
 *   RUNNING   fn returns: DONE under the lock, unpark   DONE       helper
 *   DONE      the caller consumed the permit            (gone)     caller
 *
 * Invariants: B1 a job is in the queue exactly while QUEUED; B2 the helper
 * unparks a job once, after its last write to it; B3 queued <= max_queue.
 */
#include "kcoro/blocking.h"

#include "kcoro/park.h"
#include "sched/kc_sched_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    JOB_QUEUED = 0,
    JOB_RUNNING = 1,
    JOB_DONE = 2
};

struct kc_job {
    kc_blocking_fn_t fn;
    void *arg;
    int result;
    int state; /* guarded by the pool's lock */
    int64_t queued_at;
    kc_parker_t parker;
    struct kc_job *prev, *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;
    bool started;
    unsigned max_threads, max_queue;
    unsigned threads, idle, busy, queued;
    struct kc_job *head, *tail;
    uint64_t submitted, completed, rejected, withdrawn, peak, wait_ns;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

/* Under the lock: read the bounds once, at first use. */
static void pool_start(void)
{
    if (pool.started)
        return;
    pool.started = true;
    if (pool.max_threads == 0) {
        const char *e = getenv("KCORO_BLOCKING_THREADS");
        long v = e != NULL ? atol(e) : 0;
        pool.max_threads =
            v >= 1 && v <= KC_BLOCKING_THREADS_MAX ? (unsigned)v : KC_BLOCKING_THREADS_DEFAULT;
    }
    if (pool.max_queue == 0) {
        const char *e = getenv("KCORO_BLOCKING_QUEUE");
        long v = e != NULL ? atol(e) : 0;
        pool.max_queue = v >= 1 && v <= (1L << 20) ? (unsigned)v : KC_BLOCKING_QUEUE_DEFAULT;
    }
}

int kc_blocking_configure(unsigned threads, unsigned queue)
{
    if (threads < 1 || threads > KC_BLOCKING_THREADS_MAX || queue < 1 || queue > (1u << 20))
        return -EINVAL;
    pthread_mutex_lock(&pool.lock);
    int rc = -EBUSY;
    if (!pool.started) {
        pool.max_threads = threads;
        pool.max_queue = queue;
        rc = 0;
    }
    pthread_mutex_unlock(&pool.lock);
    return rc;
}

static void unlink_job(struct kc_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        pool.head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    else
        pool.tail = j->prev;
    pool.queued--;
}

static void *helper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.head == NULL) {
            pool.idle++;
            pthread_cond_wait(&pool.work, &pool.lock);
            pool.idle--;
        }
        struct kc_job *j = pool.head;
        unlink_job(j);
        j->state = JOB_RUNNING;
        pool.busy++;
        pool.wait_ns += (uint64_t)(kc__sched_now() - j->queued_at);
        pthread_mutex_unlock(&pool.lock);
        int r = j->fn(j->arg);
        pthread_mutex_lock(&pool.lock);
        j->result = r;
        j->state = JOB_DONE;
        pool.busy--;
        pool.completed++;
        pthread_mutex_unlock(&pool.lock);
        kc_unpark(&j->parker); /* B2: our last touch of j */
        pthread_mutex_lock(&pool.lock);
    }
    return NULL;
}

/* Under the lock: make sure some helper will take the job just queued. */
static int ensure_helper(void)
{
    if (pool.idle > 0) {
        pthread_cond_signal(&pool.work);
        return 0;
    }
    if (pool.threads >= pool.max_threads)
        return 0; /* a busy helper takes it when it is done */
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &at, helper_main, NULL);
    pthread_attr_destroy(&at);
    if (e != 0)
        return pool.threads > 0 ? 0 : -e; /* the running ones will get to it */
    pool.threads++;
    return 0;
}

int kc_run_blocking(kc_blocking_fn_t fn, void *arg, int64_t timeout_ns, const kc_cancel_t *cancel,
                    int *result)
{
    if (fn == NULL)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    struct kc_job j;
    memset(&j, 0, sizeof(j));
    j.fn = fn;
    j.arg = arg;
    kc_parker_init(&j.parker);
    pthread_mutex_lock(&pool.lock);
    pool_start();
    if (pool.queued >= pool.max_queue) { /* B3 */
        pool.rejected++;
        pthread_mutex_unlock(&pool.lock);
        return -EAGAIN;
    }
    j.queued_at = kc__sched_now();
    j.prev = pool.tail;
    if (pool.tail != NULL)
        pool.tail->next = &j;
    else
        pool.head = &j;
    pool.tail = &j;
    pool.queued++;
    pool.submitted++;
    if (pool.queued > pool.peak)
        pool.peak = pool.queued;
    int rc = ensure_helper();
    if (rc < 0) {
        unlink_job(&j);
        pool.submitted--;
        pthread_mutex_unlock(&pool.lock);
        return rc;
    }
    pthread_mutex_unlock(&pool.lock);
    struct kc_task *self = kc__task_self();
    if (self != NULL) { /* the deadlock check: this wait can still end */
        kc__task_note_wait(self, KC_WAIT_BLOCKING, &pool, NULL, 0);
        atomic_fetch_add_explicit(&self->sched->outside, 1, memory_order_seq_cst);
    }
    rc = kc_park(&j.parker, timeout_ns, cancel);
    if (rc < 0) {
        pthread_mutex_lock(&pool.lock);
        bool queued = j.state == JOB_QUEUED;
        if (queued) { /* B1: it never started and never will */
            unlink_job(&j);
            pool.withdrawn++;
        }
        pthread_mutex_unlock(&pool.lock);
        if (!queued) { /* it runs: wait for the helper's unpark, whatever else fires */
            while (kc__park(&j.parker, KC_NO_TIMEOUT, NULL, false) != 0)
                ;
            rc = 0;
        }
    }
    if (self != NULL)
        atomic_fetch_sub_explicit(&self->sched->outside, 1, memory_order_seq_cst);
    if (rc == 0 && result != NULL)
        *result = j.result;
    return rc;
}

int kc_blocking_metrics(kc_blocking_metrics_t *out)
{
    if (out == NULL || out->size < sizeof(*out))
        return -EINVAL;
    pthread_mutex_lock(&pool.lock);
    out->threads = pool.threads;
    out->max_threads = pool.started ? pool.max_threads : 0;
    out->busy = pool.busy;
    out->queued = pool.queued;
    out->max_queue = pool.started ? pool.max_queue : 0;
    out->submitted = pool.submitted;
    out->completed = pool.completed;
    out->rejected = pool.rejected;
    out->withdrawn = pool.withdrawn;
    out->peak_queued = pool.peak;
    out->wait_ns = pool.wait_ns;
    pthread_mutex_unlock(&pool.lock);
    return 0;
}
