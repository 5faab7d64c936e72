/* bench_rsel.c - what remote select costs, over a connection of one process (mem: transport, mux).
 *
 * An owner serves two buffered channels (capacity 64) that producer
 * threads keep full; a selector on the other end of a mem: connection
 * imports both. Figures (ns per element received, median of
 * KC_BENCH_REPS runs of KC_BENCH_N elements, defaults 3 and 2,000):
 *   rsel.remote1_recv   kc_chan_recv on one imported channel (one claim
 *                       round trip)
 *   rsel.remote2_recv   kc_chan_select over both imported channels (the
 *                       price of choice: the ratio to remote1_recv)
 *   rsel.mixed          kc_chan_select over one local channel and one
 *                       imported channel, both kept full
 *   rsel.local2_recv    kc_chan_select over two local channels, both full
 *                       (the peer of mixed)
 * Prints `BENCH rsel.<figure> <value> ns` lines and appends them to
 * $KC_BENCH_TSV. Not the two-process figures against zmq_poll:
 * one process, one scheduler, the protocol over mux's channels.
 */
#include "kc_rsel_impl.h"
#include "kcoro/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct rig {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *a, *b; /* the owner's end, the selector's */
    kc_chan_t *x[2], *imp[2], *l[2];
    kc_rsel_owner_t *o[2];
    kc_rsel_client_t *c;
    kc_rsel_attach_t *om[2], *cm;
    _Atomic int stop;
    int accept_rc;
};

static int accept_one(void *arg)
{
    struct rig *r = arg;
    r->accept_rc = kc_ipc_accept(r->srv, &r->a, 5000 * MS, NULL);
    return 0;
}

struct opener {
    kc_ipc_conn_t *c;
    int side;
    kc_rsel_attach_t *m;
    int rc;
};

static void *open_main(void *arg)
{
    struct opener *op = arg;
    op->rc = kc_rsel_attach(&op->m, op->c, op->side, 10000 * MS);
    return NULL;
}

static void *filler(void *arg)
{
    void **a = arg;
    struct rig *r = a[0];
    kc_chan_t *ch = a[1];
    long v = 1;
    while (!atomic_load(&r->stop))
        if (kc_chan_send(ch, &v, 5 * MS, NULL) != 0 && kc_chan_is_closed(ch))
            break;
    return NULL;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

static void report(const char *name, double ns)
{
    printf("BENCH rsel.%s %.1f ns\n", name, ns);
    const char *tsv = getenv("KC_BENCH_TSV");
    FILE *f = tsv != NULL ? fopen(tsv, "a") : NULL;
    if (f != NULL) {
        fprintf(f, "rsel.%s\t%.1f\tns\n", name, ns);
        fclose(f);
    }
}

/* ns per element of n selects (or receives) of kind k. */
static double run(struct rig *r, int k, long n)
{
    long got[2];
    kc_chan_clause_t two[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->imp[0], &got[0]),
                               KC_CHAN_CLAUSE_RECV_INIT(r->imp[1], &got[1])};
    kc_chan_clause_t mixed[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->l[0], &got[0]),
                                 KC_CHAN_CLAUSE_RECV_INIT(r->imp[0], &got[1])};
    kc_chan_clause_t local[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->l[0], &got[0]),
                                 KC_CHAN_CLAUSE_RECV_INIT(r->l[1], &got[1])};
    int64_t t = now_ns();
    for (long i = 0; i < n; i++) {
        int rc;
        switch (k) {
        case 0:
            rc = kc_chan_recv(r->imp[0], &got[0], 5000 * MS, NULL);
            break;
        case 1:
            rc = kc_chan_select(two, 2, KC_CHAN_SELECT_UNBIASED, 5000 * MS, NULL);
            break;
        case 2:
            rc = kc_chan_select(mixed, 2, KC_CHAN_SELECT_UNBIASED, 5000 * MS, NULL);
            break;
        default:
            rc = kc_chan_select(local, 2, KC_CHAN_SELECT_UNBIASED, 5000 * MS, NULL);
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "bench_rsel: figure %d failed: %d\n", k, rc);
            exit(1);
        }
    }
    return (double)(now_ns() - t) / (double)n;
}

int main(void)
{
    long n = getenv("KC_BENCH_N") ? atol(getenv("KC_BENCH_N")) : 2000;
    int reps = getenv("KC_BENCH_REPS") ? atoi(getenv("KC_BENCH_REPS")) : 3;
    if (n < 1 || reps < 1 || reps > 31)
        return 2;
    struct rig *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return 1;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    char url[64];
    snprintf(url, sizeof url, "mem:bench-rsel-%d", (int)getpid());
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 64;
    co.elem_size = sizeof(long);
    kc_task_t *t;
    if (kc_sched_create(&r->s, &so) != 0)
        return 1;
    io.sched = r->s;
    if (kc_ipc_listen(&r->srv, url, &io) != 0 ||
        kc_sched_spawn(r->s, &t, accept_one, r, NULL) != 0 ||
        kc_ipc_connect(&r->b, url, &io, 5000 * MS, NULL) != 0)
        return 1;
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    if (r->accept_rc != 0 || kc_rsel_client_create(&r->c, 100 * MS) != 0)
        return 1;
    for (int k = 0; k < 2; k++)
        if (kc_chan_create(&r->x[k], &co) != 0 || kc_chan_create(&r->l[k], &co) != 0 ||
            kc_rsel_owner_create(&r->o[k], r->x[k], (uint32_t)k + 1, 100 * MS) != 0)
            return 1;
    /* one connection carries both owners' protocol */
    struct opener oo = {r->a, KC_RSEL_OWNER_SIDE, NULL, -1};
    struct opener oc = {r->b, KC_RSEL_CLIENT_SIDE, NULL, -1};
    pthread_t pa, pb;
    pthread_create(&pa, NULL, open_main, &oo);
    pthread_create(&pb, NULL, open_main, &oc);
    pthread_join(pa, NULL);
    pthread_join(pb, NULL);
    if (oo.rc != 0 || oc.rc != 0)
        return 1;
    for (int k = 0; k < 2; k++)
        if (kc_rsel_attach_owner(oo.m, r->o[k], 0) != 0 ||
            kc_rsel_import(&r->imp[k], r->c, (uint32_t)k + 1, &co) != 0)
            return 1;
    if (kc_rsel_attach_client(oc.m, r->c) != 0)
        return 1;
    pthread_t fill[4];
    void *args[4][2] = {{r, r->x[0]}, {r, r->x[1]}, {r, r->l[0]}, {r, r->l[1]}};
    for (int i = 0; i < 4; i++)
        pthread_create(&fill[i], NULL, filler, args[i]);
    static const char *const names[] = {"remote1_recv", "remote2_recv", "mixed", "local2_recv"};
    double fig[4];
    for (int k = 0; k < 4; k++) {
        double v[31];
        run(r, k, n / 10 + 1); /* warm up */
        for (int i = 0; i < reps; i++)
            v[i] = run(r, k, k == 3 ? n * 100 : n);
        fig[k] = median(v, reps);
        report(names[k], fig[k]);
    }
    printf("rsel: price of choice (remote2_recv / remote1_recv) %.2fx; mixed / local2_recv %.1fx\n",
           fig[1] / fig[0], fig[2] / fig[3]);
    atomic_store(&r->stop, 1);
    for (int k = 0; k < 2; k++) {
        kc_chan_close(r->x[k]);
        kc_chan_close(r->l[k]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(fill[i], NULL);
    kc_rsel_detach(oc.m);
    kc_rsel_detach(oo.m);
    for (int k = 0; k < 2; k++)
        kc_chan_destroy(r->imp[k]);
    for (int k = 0; k < 2; k++) {
        kc_rsel_owner_destroy(r->o[k], NULL);
        long v;
        while (kc_chan_try_recv(r->x[k], &v) == 0)
            ;
        while (kc_chan_try_recv(r->l[k], &v) == 0)
            ;
        kc_chan_destroy(r->x[k]);
        kc_chan_destroy(r->l[k]);
    }
    (void)kc_rsel_client_destroy(r->c);
    kc_ipc_close(r->b);
    kc_ipc_close(r->a);
    kc_ipc_server_close(r->srv);
    kc_sched_destroy(r->s);
    free(r);
    return 0;
}
