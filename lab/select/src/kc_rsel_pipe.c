/* kc_rsel_pipe.c - an in-process connection for the remote-select protocol: ordered, delayed, cuttable.
 *
 * Two directions, each a queue of copied messages and a thread that hands
 * them to the receiving end's deliver() once due. A message is due after
 * the delay plus a uniform jitter, but never before the one queued ahead
 * of it (a stream keeps order). Cutting drops what is queued and calls
 * each end's lost() once, from its thread; a send after the cut fails with
 * -EPIPE. No lock of the pipe is held while deliver() or lost() runs, so
 * an end may send from inside them.
 */
#include "kc_rsel_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pmsg {
    struct pmsg *next;
    int64_t due;
    size_t len;
    uint8_t data[];
};

struct dir {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pmsg *head, *tail;
    int64_t last_due;
    bool cut, lost_told;
    uint64_t rng;
    kc_rsel_endpoint_t to; /* the end that receives */
    pthread_t th;
    struct kc_rsel_pipe *p;
    int index;
};

struct kc_rsel_pipe {
    kc_rsel_pipe_opts_t o;
    struct pipe_end_ref {
        struct kc_rsel_pipe *p;
        int end;
    } ends[2];       /* the contexts of kc_rsel_pipe_link */
    struct dir d[2]; /* d[i]: sent by end i */
    _Atomic uint64_t messages;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *pump(void *arg)
{
    struct dir *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        if (d->cut)
            break;
        if (d->head == NULL) {
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        int64_t now = now_ns();
        if (d->head->due > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (d->head->due - now);
            ts.tv_sec = at / 1000000000;
            ts.tv_nsec = at % 1000000000;
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            continue;
        }
        struct pmsg *m = d->head;
        d->head = m->next;
        if (d->head == NULL)
            d->tail = NULL;
        pthread_mutex_unlock(&d->mu);
        if (d->p->o.trace != NULL)
            d->p->o.trace(d->p->o.trace_arg, d->index, m->data, m->len);
        atomic_fetch_add_explicit(&d->p->messages, 1, memory_order_relaxed);
        d->to.deliver(d->to.self, m->data, m->len);
        free(m);
        pthread_mutex_lock(&d->mu);
    }
    while (d->head != NULL) { /* dropped by the cut */
        struct pmsg *m = d->head;
        d->head = m->next;
        free(m);
    }
    d->tail = NULL;
    bool tell = !d->lost_told;
    d->lost_told = true;
    pthread_mutex_unlock(&d->mu);
    if (tell && d->to.lost != NULL)
        d->to.lost(d->to.self);
    return NULL;
}

int kc_rsel_pipe_create(kc_rsel_pipe_t **out, const kc_rsel_pipe_opts_t *o,
                        const kc_rsel_endpoint_t *e0, const kc_rsel_endpoint_t *e1)
{
    if (out == NULL || e0 == NULL || e1 == NULL || e0->deliver == NULL || e1->deliver == NULL ||
        (o != NULL && (o->size != sizeof(*o) || o->delay_ns < 0 || o->jitter_ns < 0)))
        return -EINVAL;
    kc_rsel_pipe_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    kc_rsel_pipe_opts_t defaults = KC_RSEL_PIPE_OPTS_INIT;
    p->o = o != NULL ? *o : defaults;
    for (int i = 0; i < 2; i++) {
        p->ends[i].p = p;
        p->ends[i].end = i;
    }
    for (int i = 0; i < 2; i++) {
        struct dir *d = &p->d[i];
        pthread_mutex_init(&d->mu, NULL);
        pthread_cond_init(&d->cv, NULL);
        d->to = i == 0 ? *e1 : *e0;
        d->rng = (p->o.seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1))) | 1;
        d->p = p;
        d->index = i;
    }
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&p->d[i].th, NULL, pump, &p->d[i]) != 0) {
            if (i == 1) {
                p->d[0].to.lost = NULL; /* nobody was told of a pipe they never had */
                kc_rsel_pipe_cut(p);
                pthread_join(p->d[0].th, NULL);
            }
            for (int k = 0; k < 2; k++) {
                pthread_mutex_destroy(&p->d[k].mu);
                pthread_cond_destroy(&p->d[k].cv);
            }
            free(p);
            return -EAGAIN;
        }
    }
    *out = p;
    return 0;
}

int kc_rsel_pipe_send(kc_rsel_pipe_t *p, int end, const uint8_t *msg, size_t len)
{
    if (p == NULL || (end != 0 && end != 1) || msg == NULL)
        return -EINVAL;
    struct pmsg *m = malloc(sizeof(*m) + len);
    if (m == NULL)
        return -ENOMEM;
    memcpy(m->data, msg, len);
    m->len = len;
    m->next = NULL;
    struct dir *d = &p->d[end];
    pthread_mutex_lock(&d->mu);
    if (d->cut) {
        pthread_mutex_unlock(&d->mu);
        free(m);
        return -EPIPE;
    }
    int64_t due = now_ns() + p->o.delay_ns;
    if (p->o.jitter_ns > 0) {
        d->rng ^= d->rng << 13;
        d->rng ^= d->rng >> 7;
        d->rng ^= d->rng << 17;
        due += (int64_t)(d->rng % (uint64_t)p->o.jitter_ns);
    }
    if (due < d->last_due)
        due = d->last_due; /* a stream keeps its order */
    d->last_due = due;
    m->due = due;
    if (d->tail != NULL)
        d->tail->next = m;
    else
        d->head = m;
    d->tail = m;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static int pipe_link_send(void *ctx, const uint8_t *msg, size_t len)
{
    const struct pipe_end_ref *e = ctx;
    return kc_rsel_pipe_send(e->p, e->end, msg, len);
}

int kc_rsel_pipe_link(kc_rsel_pipe_t *p, int end, kc_rsel_link_t *out)
{
    if (p == NULL || out == NULL || (end != 0 && end != 1))
        return -EINVAL;
    out->send = pipe_link_send;
    out->ctx = &p->ends[end];
    return 0;
}

void kc_rsel_pipe_cut(kc_rsel_pipe_t *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&p->d[i].mu);
        p->d[i].cut = true;
        pthread_cond_signal(&p->d[i].cv);
        pthread_mutex_unlock(&p->d[i].mu);
    }
}

void kc_rsel_pipe_destroy(kc_rsel_pipe_t *p)
{
    if (p == NULL)
        return;
    kc_rsel_pipe_cut(p);
    for (int i = 0; i < 2; i++) {
        pthread_join(p->d[i].th, NULL);
        pthread_mutex_destroy(&p->d[i].mu);
        pthread_cond_destroy(&p->d[i].cv);
    }
    free(p);
}

uint64_t kc_rsel_pipe_messages(const kc_rsel_pipe_t *p)
{
    if (p == NULL)
        return 0;
    return atomic_load_explicit(&p->messages, memory_order_relaxed);
}
