/* kc_runq.c - the Chase-Lev work-stealing deque and the global inject queue.
 *
 * The deque is the per-worker run queue (see kc_runq.h for the algorithm and
 * its source). Its invariants:
 *   D1  top <= bottom + 1 at every instant; the tasks are slot[top..bottom).
 *   D2  only the owner writes bottom; top only grows, by CAS.
 *   D3  a slot in [top, bottom) is written before bottom passes it (release)
 *       and read by a thief only after it saw that bottom (acquire).
 *   D4  a retired buffer is never freed before the deque is.
 * The inject queue is a locked FIFO of tasks linked through `link`:
 *   J1  n == number of tasks on the chain head..tail; head == NULL iff n == 0.
 */
#include "sched/kc_sched_impl.h"

#include <errno.h>
#include <stdlib.h>

static struct kc_deque_buf *buf_new(int64_t cap)
{
    struct kc_deque_buf *b = calloc(1, sizeof(*b) + (size_t)cap * sizeof(b->slot[0]));
    if (b != NULL)
        b->mask = cap - 1;
    return b;
}

int kc__deque_init(struct kc_deque *d, unsigned log2cap)
{
    struct kc_deque_buf *b = buf_new((int64_t)1 << log2cap);
    if (b == NULL)
        return -ENOMEM;
    atomic_store_explicit(&d->top, 0, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, 0, memory_order_relaxed);
    atomic_store_explicit(&d->buf, b, memory_order_relaxed);
    return 0;
}

void kc__deque_fini(struct kc_deque *d)
{
    struct kc_deque_buf *b = atomic_load_explicit(&d->buf, memory_order_relaxed);
    while (b != NULL) { /* D4: everything goes now */
        struct kc_deque_buf *older = b->retired;
        free(b);
        b = older;
    }
    atomic_store_explicit(&d->buf, NULL, memory_order_relaxed);
}

/* Owner only: double the buffer, copying the live range [t, b). */
static struct kc_deque_buf *grow(struct kc_deque *d, struct kc_deque_buf *a, int64_t t, int64_t b)
{
    struct kc_deque_buf *n = buf_new((a->mask + 1) * 2);
    if (n == NULL)
        return NULL;
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(&n->slot[i & n->mask],
                              atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed),
                              memory_order_relaxed);
    n->retired = a;
    /* release: pairs with the thieves' acquire load of buf, so a thief that
     * sees the new buffer sees its slots */
    atomic_store_explicit(&d->buf, n, memory_order_release);
    return n;
}

int kc__deque_push(struct kc_deque *d, struct kc_task *x)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with the thieves' CAS on top, so slots they emptied
     * are free for reuse */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct kc_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (b - t > a->mask) {
        a = grow(d, a, t, b);
        if (a == NULL)
            return -ENOMEM;
    }
    atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
    /* release (D3): publishes the slot, and the task it points to, to the
     * thieves' acquire load of bottom */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 0;
}

struct kc_task *kc__deque_pop(struct kc_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct kc_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* seq_cst fence: the bottom store above is ordered before the top load
     * below; pairs with the fence in kc__deque_steal (Dekker on top/bottom) */
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    struct kc_task *x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
    if (t == b) { /* the last one: race the thieves for it */
        /* seq_cst: part of the same Dekker order as the fences */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

struct kc_task *kc__deque_steal(struct kc_deque *d)
{
    /* acquire: pairs with other thieves' CAS, for a fresh top */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* seq_cst fence: pairs with the fence in kc__deque_pop */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire (D3): pairs with the release store of bottom in push */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return KC_DEQUE_EMPTY;
    /* acquire: pairs with the release store of buf in grow */
    struct kc_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    struct kc_task *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
    /* seq_cst: the claim; pairs with the owner's CAS in pop and other thieves */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return KC_DEQUE_ABORT;
    return x;
}

void kc__inject_push(struct kc_inject *q, struct kc_task *head, struct kc_task *tail,
                     int64_t count)
{
    tail->link = NULL;
    kc__lock(&q->lock);
    if (q->tail != NULL)
        q->tail->link = head;
    else
        q->head = head;
    q->tail = tail;
    atomic_store_explicit(&q->n, atomic_load_explicit(&q->n, memory_order_relaxed) + count,
                          memory_order_relaxed); /* J1; the lock orders the chain */
    kc__unlock(&q->lock);
}

struct kc_task *kc__inject_pop(struct kc_inject *q, int64_t max, int64_t *count)
{
    *count = 0;
    if (kc__inject_len(q) == 0)
        return NULL;
    kc__lock(&q->lock);
    struct kc_task *first = q->head, *last = NULL, *cur = q->head;
    int64_t k = 0;
    while (cur != NULL && k < max) {
        last = cur;
        cur = cur->link;
        k++;
    }
    if (k > 0) {
        q->head = cur;
        if (cur == NULL)
            q->tail = NULL;
        last->link = NULL;
        atomic_store_explicit(&q->n, atomic_load_explicit(&q->n, memory_order_relaxed) - k,
                              memory_order_relaxed); /* J1 */
    }
    kc__unlock(&q->lock);
    *count = k;
    return k > 0 ? first : NULL;
}
