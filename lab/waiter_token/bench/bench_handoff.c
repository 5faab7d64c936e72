/* bench_handoff.c - rendezvous throughput: CAS cells against a locked channel.
 *
 * The same workload twice, alternating, in one process: P sender threads
 * hand N pointer values to P receiver threads through an unbuffered
 * channel, each value in one rendezvous. "cells" is the lab's design: one
 * one-shot kc_rv_cell per rendezvous, found by two fetch-and-add counters
 * (the segmented layout, preallocated here). "locked" is the Go-style
 * baseline: one mutex, a queue of parked senders and one of parked
 * receivers (kc_waiter_queue), the partner copied outside the lock. Both
 * use the same tokens, scope guard and thread parker, so the difference is
 * the synchronisation. Each run checks a checksum of what was received.
 *
 * A third figure runs both on one thread (a receiver publishes, a sender
 * meets it, the wake is a permit), which prices the protocol itself.
 *
 * Prints `BENCH waiter.<figure> <value> <unit>` lines (median of
 * KC_BENCH_REPS runs, default 5; spread on stderr), appends them to
 * $KC_BENCH_TSV, and the ratio cells/locked per thread count.
 */
#include "kc_rv_cell.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/kc_owners.h"

struct chan {
    bool locked;
    _Alignas(128) _Atomic uint64_t send_idx; /* cells: the two hot cursors, */
    _Alignas(128) _Atomic uint64_t recv_idx; /* each on its own 128-byte line */
    _Alignas(128) kc_rv_cell_t *cells;
    pthread_mutex_t mu; /* locked: guards both queues */
    kc_waiter_queue_t sendq, recvq;
};

struct worker {
    _Alignas(128) struct chan *ch;
    struct kc_lab_parker pk;
    bool sender;
    uint64_t first, step, count; /* values first, first+step, ... (count) */
    uint64_t sum;                /* of the values received */
    pthread_t t;
};

static uint8_t *tags; /* value v travels as &tags[v] */

/* The locked channel's cancellation hook: unlink under the lock. */
static int locked_cancel(kc_waiter_t *w)
{
    struct chan *ch = w->user;
    pthread_mutex_lock(&ch->mu);
    int won =
        w->site != NULL && kc__waiter_queue_remove(w->site, w) == 0 && kc__waiter_try_cancel(w);
    pthread_mutex_unlock(&ch->mu);
    return won;
}

/* One operation on the locked channel: take a parked partner or park. */
static int locked_offer(struct chan *ch, kc_waiter_t *w)
{
    bool snd = w->kind == KC_WAITER_SENDER;
    pthread_mutex_lock(&ch->mu);
    kc_waiter_t *peer = kc__waiter_queue_pop(snd ? &ch->recvq : &ch->sendq);
    if (peer == NULL) {
        w->cancel = locked_cancel;
        w->user = ch;
        kc__waiter_publish(w);
        kc__waiter_queue_push(snd ? &ch->sendq : &ch->recvq, w);
        pthread_mutex_unlock(&ch->mu);
        return KC_RV_PUBLISHED;
    }
    pthread_mutex_unlock(&ch->mu); /* peer is ours now: nobody else sees it */
    int rc = snd ? kc__waiter_transfer(w, peer) : kc__waiter_transfer(peer, w);
    w->result = peer->result = rc;
    kc__waiter_try_claim(peer);
    peer->ops->wake(peer->owner);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *me = arg;
    struct chan *ch = me->ch;
    for (uint64_t k = 0; k < me->count; k++) {
        uint64_t v = me->first + k * me->step;
        kc_waiter_t w;
        kc_waiter_scope_t sc;
        kc__waiter_init(&w, me->sender ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, &me->pk,
                        kc_lab_parker_ops());
        me->sender ? kc__waiter_put_ptr(&w, &tags[v]) : kc__waiter_want(&w, KC_PAYLOAD_PTR);
        kc__waiter_scope_begin(&sc, &w);
        if (ch->locked) {
            locked_offer(ch, &w);
        } else {
            _Atomic uint64_t *idx = me->sender ? &ch->send_idx : &ch->recv_idx;
            kc__rv_cell_offer(&ch->cells[atomic_fetch_add_explicit(idx, 1, memory_order_relaxed)],
                              &w, NULL);
        }
        int rc = kc__waiter_scope_end(&sc, KC_NO_TIMEOUT);
        void *p = NULL;
        if (!me->sender && rc == 0 && kc__waiter_take_ptr(&w, &p) == 0)
            me->sum += (uint64_t)((uint8_t *)p - tags);
    }
    return NULL;
}

/* One run: pairs senders and pairs receivers, n values. Returns M/s, or a
 * negative number when the checksum is wrong. */
static double run(bool locked, int pairs, uint64_t n)
{
    struct chan *ch = aligned_alloc(128, sizeof(*ch));
    struct worker *w = aligned_alloc(128, sizeof(*w) * (size_t)(2 * pairs));
    memset(ch, 0, sizeof(*ch));
    memset(w, 0, sizeof(*w) * (size_t)(2 * pairs));
    ch->locked = locked;
    pthread_mutex_init(&ch->mu, NULL);
    ch->cells = locked ? NULL : malloc(sizeof(kc_rv_cell_t) * n);
    for (uint64_t i = 0; !locked && i < n; i++)
        kc__rv_cell_init(&ch->cells[i]);
    for (int i = 0; i < 2 * pairs; i++) {
        uint64_t k = (uint64_t)(i % pairs);
        w[i].ch = ch;
        w[i].sender = i >= pairs;
        w[i].first = k;
        w[i].step = (uint64_t)pairs;
        w[i].count = n / (uint64_t)pairs + (k < n % (uint64_t)pairs);
        kc_lab_parker_init(&w[i].pk);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2 * pairs; i++)
        pthread_create(&w[i].t, NULL, worker_main, &w[i]);
    uint64_t sum = 0;
    for (int i = 0; i < 2 * pairs; i++) {
        pthread_join(w[i].t, NULL);
        sum += w[i].sum;
        kc_lab_parker_destroy(&w[i].pk);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    pthread_mutex_destroy(&ch->mu);
    free(ch->cells);
    free(ch);
    free(w);
    return sum == n * (n - 1) / 2 ? (double)n / s / 1e6 : -1.0;
}

/* One thread does whole rendezvous: a receiver publishes, a sender meets
 * it (the wake becomes a permit), the receiver settles and takes the value.
 * The protocol's own cost, without a second thread or a sleep. ns each. */
static double run_one_thread(bool locked, uint64_t n)
{
    struct chan *ch = aligned_alloc(128, sizeof(*ch));
    memset(ch, 0, sizeof(*ch));
    ch->locked = locked;
    pthread_mutex_init(&ch->mu, NULL);
    struct kc_lab_parker pr, ps;
    kc_lab_parker_init(&pr);
    kc_lab_parker_init(&ps);
    kc_rv_cell_t cell;
    uint64_t sum = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t v = 0; v < n; v++) {
        kc_waiter_t r, s;
        kc_waiter_scope_t rs, ss;
        void *p = NULL;
        kc__waiter_init(&r, KC_WAITER_RECEIVER, &pr, kc_lab_parker_ops());
        kc__waiter_want(&r, KC_PAYLOAD_PTR);
        kc__waiter_scope_begin(&rs, &r);
        kc__waiter_init(&s, KC_WAITER_SENDER, &ps, kc_lab_parker_ops());
        kc__waiter_put_ptr(&s, &tags[v]);
        kc__waiter_scope_begin(&ss, &s);
        if (locked) {
            locked_offer(ch, &r);
            locked_offer(ch, &s);
        } else {
            kc__rv_cell_init(&cell);
            kc__rv_cell_offer(&cell, &r, NULL);
            kc__rv_cell_offer(&cell, &s, NULL);
        }
        kc__waiter_scope_end(&ss, 0);
        if (kc__waiter_scope_end(&rs, KC_NO_TIMEOUT) == 0 && kc__waiter_take_ptr(&r, &p) == 0)
            sum += (uint64_t)((uint8_t *)p - tags);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    kc_lab_parker_destroy(&pr);
    kc_lab_parker_destroy(&ps);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
    return sum == n * (n - 1) / 2 ? ns / (double)n : -1.0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n, const char *name)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    double m = v[n / 2];
    fprintf(stderr, "  %s: median %.3f, spread %.0f%% over %d runs\n", name, m,
            m > 0 ? 100.0 * (v[n - 1] - v[0]) / m : 0.0, n);
    return m;
}

static void report(const char *name, double value, const char *unit)
{
    printf("BENCH waiter.%s %.3f %s\n", name, value, unit);
    const char *tsv = getenv("KC_BENCH_TSV");
    FILE *f = tsv ? fopen(tsv, "a") : NULL;
    if (f) {
        fprintf(f, "waiter.%s\t%.3f\t%s\n", name, value, unit);
        fclose(f);
    }
}

int main(void)
{
    const char *r = getenv("KC_BENCH_REPS");
    const char *sc = getenv("KC_BENCH_SCALE");
    int reps = r && atoi(r) > 0 ? atoi(r) : 5;
    if (reps > 31)
        reps = 31;
    uint64_t n = (uint64_t)(1000000.0 * (sc ? atof(sc) : 100.0) / 100.0);
    if (n < 1000)
        n = 1000;
    tags = calloc(n, 1);
    double one_c[31], one_l[31];
    for (int i = 0; i < reps; i++) {
        one_c[i] = run_one_thread(false, n);
        one_l[i] = run_one_thread(true, n);
        if (one_c[i] < 0 || one_l[i] < 0) {
            fprintf(stderr, "bench_handoff: checksum mismatch (one thread)\n");
            return 1;
        }
    }
    double oc = median(one_c, reps, "cells_1thread");
    double ol = median(one_l, reps, "locked_1thread");
    report("cells_1thread", oc, "ns");
    report("locked_1thread", ol, "ns");
    report("locked_over_cells_1thread", ol / oc, "x");
    static const int pairs[] = {1, 2};
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        double cells[31], locked[31];
        for (int i = 0; i < reps; i++) { /* alternate, so drift hits both */
            cells[i] = run(false, pairs[p], n);
            locked[i] = run(true, pairs[p], n);
            fprintf(stderr, "  %dp%dc run %d: cells %.3f, locked %.3f M/s\n", pairs[p], pairs[p], i,
                    cells[i], locked[i]);
            if (cells[i] < 0 || locked[i] < 0) {
                fprintf(stderr, "bench_handoff: checksum mismatch (%s)\n",
                        cells[i] < 0 ? "cells" : "locked");
                return 1;
            }
        }
        char name[64];
        snprintf(name, sizeof(name), "cells_%dp%dc", pairs[p], pairs[p]);
        double c = median(cells, reps, name);
        report(name, c, "M_rendezvous/s");
        snprintf(name, sizeof(name), "locked_%dp%dc", pairs[p], pairs[p]);
        double l = median(locked, reps, name);
        report(name, l, "M_rendezvous/s");
        snprintf(name, sizeof(name), "cells_over_locked_%dp%dc", pairs[p], pairs[p]);
        report(name, c / l, "x");
    }
    free(tags);
    return 0;
}
