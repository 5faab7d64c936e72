/* kc_current.c - what runs here: this thread's worker, this coroutine's
 * task, the worker count of its scheduler and what it waits on.
 *
 * The leaves every other file of the scheduler asks first; they call
 * nothing above the coroutine engine.
 */
#include "sched/kc_sched_impl.h"

static _Thread_local __attribute__((tls_model("initial-exec"))) struct kc_worker *tls_worker;

/* ARCHITECTURE.md section 6: never inlined, and the asm hides the address,
 * so no coroutine keeps &tls_worker across a switch to another thread. */
__attribute__((noinline)) struct kc_worker *kc__sched_worker_self(void)
{
    struct kc_worker **p = &tls_worker;
    __asm__ volatile("" : "+r"(p)::"memory");
    return *p;
}

__attribute__((noinline)) void kc__sched_set_worker_self(struct kc_worker *w)
{
    struct kc_worker **p = &tls_worker;
    __asm__ volatile("" : "+r"(p)::"memory");
    *p = w;
}

struct kc_task *kc__task_self(void)
{
    /* kc_coro_self() without its call: one non-inlined accessor, no more */
    return (struct kc_task *)kc__coro_owner_current(); /* A1 */
}

int kc__task_nworkers(const struct kc_task *t)
{
    return t->sched->nworkers;
}

void kc__task_note_chan(struct kc_task *t, enum kc_wait_op op, const void *ch, const char *name)
{
    /* relaxed atomic stores (plain moves): kc_sched_dump samples them. A
     * send or receive leaves wait_aux and wait_arg as they were: no reader
     * looks at them for these kinds. */
    __atomic_store_n(&t->wait_obj, ch, __ATOMIC_RELAXED);
    __atomic_store_n(&t->wait_name, name, __ATOMIC_RELAXED);
    atomic_store_explicit(&t->wait_since, 0, memory_order_relaxed);
    __atomic_store_n(&t->wait_op, (uint8_t)op, __ATOMIC_RELAXED);
}

void kc__task_note_seen(struct kc_task *t, enum kc_wait_op op, const void *ch, const char *name)
{
    /* a select is seen once per queued clause: its kind is enough (the
     * clauses themselves are always noted, kc__task_note_arg) */
    uint8_t was = __atomic_load_n(&t->wait_op, __ATOMIC_RELAXED);
    if (was != (uint8_t)op ||
        (op != KC_WAIT_SELECT && __atomic_load_n(&t->wait_obj, __ATOMIC_RELAXED) != ch))
        kc__task_note_chan(t, op, ch, name);
}

void kc__task_note_wait(struct kc_task *t, enum kc_wait_op op, const void *obj, const char *name,
                        uint32_t n)
{
    __atomic_store_n(&t->wait_aux, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&t->wait_arg, (int64_t)n, __ATOMIC_RELAXED);
    kc__task_note_chan(t, op, obj, name);
}

void kc__task_note_arg(struct kc_task *t, const void *aux, int64_t arg)
{
    __atomic_store_n(&t->wait_aux, aux, __ATOMIC_RELAXED);
    __atomic_store_n(&t->wait_arg, arg, __ATOMIC_RELAXED);
}
