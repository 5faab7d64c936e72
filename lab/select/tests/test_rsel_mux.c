/* test_rsel_mux.c - remote select over real connections (kcoro/ipc.h, graduated mux).
 *
 * An owner serves its channel X to two selector connections (two clients
 * over mem: connections to one listener, each with its own protocol
 * channels, kc_rsel_mux.c's attachments); on each connection two threads select over
 * the imported X and a local channel L shared by all. Checked: every
 * element of X and of L received exactly once, the owner's ledger closed
 * and nothing held; then a connection ended under a select gives its
 * clause -ECONNRESET.
 */
#include "kc_rsel_impl.h"
#include "kcoro/sched.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS 1000000LL

enum {
    CONNS = 2,
    PER = 2000, /* elements of X, and of L */
    SELECTORS = 2
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct side {
    kc_ipc_conn_t *srv_end, *cli_end;
    kc_rsel_client_t *client;
    kc_rsel_attach_t *om, *cm; /* the owner's and the client's protocol channels */
    kc_chan_t *imp;
    int accept_rc;
};

struct net {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_chan_t *x, *l;
    kc_rsel_owner_t *o;
    struct side sd[CONNS];
    _Atomic uint8_t seen[2 * PER];
    _Atomic long received;
    _Atomic int stop;
};

static struct net *g_net;
static int g_accept_i;

static int accept_one(void *arg)
{
    struct net *n = arg;
    struct side *sd = &n->sd[g_accept_i];
    sd->accept_rc = kc_ipc_accept(n->srv, &sd->srv_end, 5000 * MS, NULL);
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

static void net_up(struct net *n)
{
    memset(n, 0, sizeof(*n));
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    assert_int_equal(kc_sched_create(&n->s, &so), 0);
    char url[64];
    snprintf(url, sizeof url, "mem:rsel-%d", (int)getpid());
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = n->s;
    assert_int_equal(kc_ipc_listen(&n->srv, url, &io), 0);
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 16;
    co.elem_size = sizeof(long);
    assert_int_equal(kc_chan_create(&n->x, &co), 0);
    assert_int_equal(kc_chan_make(&n->l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    assert_int_equal(kc_rsel_owner_create(&n->o, n->x, 1, 100 * MS), 0);
    for (int i = 0; i < CONNS; i++) {
        struct side *sd = &n->sd[i];
        g_accept_i = i;
        kc_task_t *t;
        assert_int_equal(kc_sched_spawn(n->s, &t, accept_one, n, NULL), 0);
        assert_int_equal(kc_ipc_connect(&sd->cli_end, url, &io, 5000 * MS, NULL), 0);
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
        assert_int_equal(sd->accept_rc, 0);
        assert_int_equal(kc_rsel_client_create(&sd->client, 100 * MS), 0);
        /* both sides attach at once: each waits for the other's inbox */
        struct opener oo = {sd->srv_end, KC_RSEL_OWNER_SIDE, NULL, -1};
        struct opener oc = {sd->cli_end, KC_RSEL_CLIENT_SIDE, NULL, -1};
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, open_main, &oo), 0);
        assert_int_equal(pthread_create(&b, NULL, open_main, &oc), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        assert_int_equal(oo.rc, 0);
        assert_int_equal(oc.rc, 0);
        sd->om = oo.m;
        sd->cm = oc.m;
        assert_int_equal(kc_rsel_attach_owner(sd->om, n->o, i), 0);
        assert_int_equal(kc_rsel_attach_owner(sd->om, n->o, i), -EBUSY);      /* one per channel */
        assert_int_equal(kc_rsel_attach_client(sd->om, sd->client), -EINVAL); /* wrong side */
        assert_int_equal(kc_rsel_attach_client(sd->cm, sd->client), 0);
        assert_int_equal(kc_rsel_import(&sd->imp, sd->client, 1, &co), 0);
    }
}

static void net_down(struct net *n)
{
    for (int i = 0; i < CONNS; i++) {
        struct side *sd = &n->sd[i];
        kc_rsel_detach(sd->cm);
        kc_rsel_detach(sd->om);
        assert_int_equal(kc_chan_destroy(sd->imp), 0);
        assert_int_equal(kc_rsel_client_destroy(sd->client), 0);
        kc_ipc_close(sd->cli_end);
        kc_ipc_close(sd->srv_end);
    }
    uint64_t left = 9;
    kc_rsel_owner_destroy(n->o, &left);
    kc_chan_close(n->x);
    long v;
    while (kc_chan_try_recv(n->x, &v) == 0)
        ;
    assert_int_equal(kc_chan_destroy(n->x), 0);
    assert_int_equal(kc_chan_destroy(n->l), 0);
    kc_ipc_server_close(n->srv);
    kc_sched_destroy(n->s);
}

struct sel {
    struct net *n;
    int side;
};

static void *selector(void *arg)
{
    struct sel *me = arg;
    struct net *n = me->n;
    long got[2];
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(n->sd[me->side].imp, &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(n->l, &got[1])};
    while (!atomic_load(&n->stop)) {
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 20 * MS, NULL);
        if (rc == -ETIME)
            continue;
        assert_true(rc == 0 || rc == 1);
        assert_int_equal(cl[rc].result, 0);
        long v = got[rc];
        assert_true(v >= 0 && v < 2 * PER);
        assert_int_equal(atomic_fetch_add(&n->seen[v], 1), 0);
        atomic_fetch_add(&n->received, 1);
    }
    return NULL;
}

struct prod {
    kc_chan_t *ch;
    long base;
};

static void *producer(void *arg)
{
    struct prod *p = arg;
    for (long i = 0; i < PER; i++) {
        long v = p->base + i;
        assert_int_equal(kc_chan_send(p->ch, &v, KC_NO_TIMEOUT, NULL), 0);
        if (i % 128 == 127)
            sleep_ms(1);
    }
    return NULL;
}

static void test_selects_on_two_connections_take_every_element_once(void **state)
{
    (void)state;
    struct net *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    g_net = n;
    net_up(n);
    pthread_t th[CONNS * SELECTORS], pr[2];
    struct sel who[CONNS * SELECTORS];
    for (int i = 0; i < CONNS * SELECTORS; i++) {
        who[i] = (struct sel){n, i % CONNS};
        assert_int_equal(pthread_create(&th[i], NULL, selector, &who[i]), 0);
    }
    struct prod px = {n->x, 0}, pl = {n->l, PER};
    assert_int_equal(pthread_create(&pr[0], NULL, producer, &px), 0);
    assert_int_equal(pthread_create(&pr[1], NULL, producer, &pl), 0);
    pthread_join(pr[0], NULL);
    pthread_join(pr[1], NULL);
    int waited = 0;
    while (atomic_load(&n->received) < 2 * PER) {
        assert_true(waited++ < 120000);
        sleep_ms(1);
    }
    atomic_store(&n->stop, 1);
    for (int i = 0; i < CONNS * SELECTORS; i++)
        pthread_join(th[i], NULL);
    for (long v = 0; v < 2 * PER; v++)
        assert_int_equal(atomic_load(&n->seen[v]), 1);
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(n->o, &st), 0);
    assert_int_equal(st.committed, PER);
    assert_int_equal(st.taken, st.committed + st.held + st.returned);
    print_message("over mux: %d elements of X and %d of L, %llu notifies, %llu rejects\n", PER, PER,
                  (unsigned long long)st.notifies, (unsigned long long)st.rejects);
    /* a connection ended under a select */
    long b = -1;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(n->sd[0].imp, &b)};
    kc_ipc_shutdown(n->sd[0].cli_end, 0, NULL); /* ended; the handle stays valid */
    int rc = kc_chan_select(cl, 1, 0, 10000 * MS, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(cl[0].result, -ECONNRESET);
    net_down(n);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selects_on_two_connections_take_every_element_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
