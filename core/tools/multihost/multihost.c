/* multihost.c - the two-host demonstration's program: a producer or a remote-select consumer.
 *
 * `make demo-multihost` (core/tools/multihost/demo.sh) runs four of these
 * in two network namespaces, a producer and a consumer in each; every
 * consumer takes the values of the producer in the *other* namespace. It
 * uses kcoro only as a user would: kcoro.h (with kcoro/mux.h, kcoro/rsel.h
 * and kcoro/rel.h) and the tcp adapter's header, adapters/tcp/include/kcoro/tcp.h.
 *
 *   kcoro-multihost producer NAME IP:PORT KEYFILE COUNT
 *       listens on rel:tcp://IP:PORT (libkcoro-tcp with the pre-shared key,
 *       under a rel: session that survives the loss of its TCP link for
 *       GRACE), puts the values 0..COUNT-1 into its channel NAME.out and
 *       serves it to every connection by remote select (kcoro/rsel.h);
 *       exports NAME.acks, where consumers acknowledge each value they
 *       recorded. A value stays the producer's until it is acknowledged:
 *       when a connection ends (a consumer killed), every value sent and
 *       not acknowledged is put into the channel again. Once every value
 *       is acknowledged it closes the channel, waits for its consumers to
 *       leave and prints its ledger.
 *   kcoro-multihost consumer NAME PRODUCER IP:PORT KEYFILE COUNT LEDGER
 *       connects to the producer PRODUCER at IP:PORT, imports its channel, and
 *       selects on it together with a local channel of progress ticks
 *       (kc_chan_select with a remote and a local clause) from SELECTORS
 *       threads. Each value is appended to the file LEDGER (one decimal
 *       line, write(2) with O_APPEND: it survives a SIGKILL of this
 *       process) and then acknowledged. At start it reads LEDGER, so a
 *       restarted consumer knows what it recorded before: a value it gets
 *       again (put again by the producer because its acknowledgement died
 *       with the killed process) is acknowledged and not recorded twice.
 *       Exits 0 when the producer closed the channel and it is drained.
 *
 * Both print "key value" lines on stdout when they finish (the script's
 * ledger reads them) and progress on stderr. KCORO_SIM, KCORO_MONITOR and
 * KCORO_REGISTRY apply as to any kcoro program. core/docs/OBSERVABILITY.md
 * ("The two-host demonstration") says what "nothing lost" means here.
 * Not installed.
 */
#include "kcoro.h"
#include "kcoro/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define SEC (1000 * MS)

enum {
    CHAN_ID = 1,     /* the remote-select number of NAME.out */
    CAPACITY = 64,   /* of NAME.out */
    WINDOW = 256,    /* values a producer has out unacknowledged at most */
    SELECTORS = 4,   /* selecting threads of a consumer */
    MAX_CONNS = 8,   /* connections a producer serves at once (rsel peers) */
    LEASE_MS = 300,  /* a reservation's lease */
    GRACE_MS = 4000, /* a rel: session's grace */
    COUNT_MAX = 10000000
};

static const char *g_prog = "kcoro-multihost";
static const char *g_name;

static void die(const char *what, int rc)
{
    fprintf(stderr, "%s %s: %s: %s (%d)\n", g_prog, g_name ? g_name : "", what,
            rc ? kc_strerror(rc) : "failed", rc);
    exit(2);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- a connection's options */

static kc_rel_counters_t g_relc;
static kc_rel_opts_t g_rel = KC_REL_OPTS_INIT;
static kc_transport_opts_t g_topts = KC_TRANSPORT_OPTS_INIT;
static kc_ipc_opts_t g_io = KC_IPC_OPTS_INIT;
static kc_sched_t *g_sched;

static void setup(const char *key_file, const char *conn_name)
{
    int rc = kc_tcp_register();
    if (rc != 0)
        die("kc_tcp_register", rc);
    if ((rc = kc_rel_register()) != 0)
        die("kc_rel_register", rc);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    if ((rc = kc_sched_create(&g_sched, &so)) != 0)
        die("kc_sched_create", rc);
    g_rel.grace_ns = GRACE_MS * MS;
    g_rel.counters = &g_relc;
    g_topts.key_file = key_file;
    g_topts.adapter = &g_rel;
    g_io.sched = g_sched;
    g_io.transport = &g_topts;
    g_io.ping_interval_ns = -1; /* the session's grace decides when a peer is gone */
    g_io.flags = KC_IPC_REGISTER;
    g_io.name = conn_name;
}

static void print_rel(void)
{
    printf("rel_resumed %llu\n", (unsigned long long)atomic_load(&g_relc.resumed));
    printf("rel_retrans %llu\n", (unsigned long long)atomic_load(&g_relc.retrans));
    printf("rel_segs_out %llu\n", (unsigned long long)atomic_load(&g_relc.segs_out));
}

static kc_chan_opts_t longs(size_t cap, const char *name)
{
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = cap;
    co.elem_size = sizeof(long);
    co.name = name;
    co.flags = KC_CHAN_REGISTER;
    return co;
}

/* ---------------------------------------------------------------- the producer */

static long g_count;
static kc_chan_t *g_out, *g_acks;
static _Atomic(uint8_t) *g_acked; /* per value: acknowledged */
static _Atomic long g_nacked, g_next, g_dup_acks, g_reput, g_redeliveries;
static _Atomic int g_repush; /* connections ended, not yet answered by the feeder */
static _Atomic int g_done;   /* every value acknowledged, the channel closed */
static _Atomic int g_live;   /* connections being served */
static _Atomic long g_conns, g_conns_lost;

/* The feeder: the values in order, at most WINDOW unacknowledged; after a
 * connection ended, every value sent and not acknowledged again. */
static void *feeder(void *arg)
{
    (void)arg;
    for (;;) {
        if (atomic_exchange(&g_repush, 0) > 0) {
            long next = atomic_load(&g_next);
            long n = 0;
            atomic_fetch_add(&g_redeliveries, 1);
            for (long v = 0; v < next; v++)
                if (!atomic_load(&g_acked[v])) {
                    if (kc_chan_send(g_out, &v, KC_NO_TIMEOUT, NULL) != 0)
                        return NULL; /* closed: everything was acknowledged */
                    n++;
                }
            atomic_fetch_add(&g_reput, n);
            fprintf(stderr, "%s %s: a connection ended: %ld unacknowledged values put again\n",
                    g_prog, g_name, n);
            continue;
        }
        long v = atomic_load(&g_next);
        if (v >= g_count || v - atomic_load(&g_nacked) >= WINDOW) {
            if (atomic_load(&g_done))
                return NULL;
            sleep_ms(2);
            continue;
        }
        int rc = kc_chan_send(g_out, &v, 50 * MS, NULL);
        if (rc == -ETIME)
            continue; /* full: look at g_repush again */
        if (rc != 0)
            return NULL;
        atomic_store(&g_next, v + 1);
    }
}

/* The acknowledgements of every connection land in one local channel. */
static void *ack_reader(void *arg)
{
    (void)arg;
    long v;
    while (kc_chan_recv(g_acks, &v, KC_NO_TIMEOUT, NULL) == 0) {
        if (v < 0 || v >= g_count) {
            fprintf(stderr, "%s %s: acknowledgement of %ld: out of range\n", g_prog, g_name, v);
            exit(3);
        }
        if (atomic_exchange(&g_acked[v], 1)) {
            atomic_fetch_add(&g_dup_acks, 1);
            continue;
        }
        if (atomic_fetch_add(&g_nacked, 1) + 1 == g_count) {
            atomic_store(&g_done, 1);
            kc_chan_close(g_out); /* consumers drain it, then see -EPIPE */
        }
    }
    return NULL;
}

struct served {
    kc_ipc_conn_t *c;
    int peer;
    _Atomic int *slot_busy;
};

/* One connection: serve NAME.out by remote select and NAME.acks by mux
 * until the connection dies; then give back what its consumer held. */
static void *serve(void *arg)
{
    struct served *sv = arg;
    char acks[KC_MUX_NAME_MAX];
    snprintf(acks, sizeof acks, "%s.acks", g_name);
    kc_rsel_owner_t *o = NULL;
    kc_rsel_attach_t *a = NULL;
    int rc = kc_ipc_export(sv->c, acks, g_acks, NULL);
    if (rc == 0)
        rc = kc_rsel_owner_create(&o, g_out, CHAN_ID, LEASE_MS * MS);
    if (rc == 0)
        rc = kc_rsel_attach(&a, sv->c, KC_RSEL_OWNER_SIDE, 10 * SEC);
    if (rc == 0)
        rc = kc_rsel_attach_owner(a, o, sv->peer);
    if (rc != 0)
        fprintf(stderr, "%s %s: serving a connection: %s\n", g_prog, g_name, kc_strerror(rc));
    else
        rc = kc_ipc_wait_dead(sv->c, KC_NO_TIMEOUT, NULL);
    kc_rsel_detach(a);
    uint64_t leftover = 0;
    kc_rsel_owner_destroy(o, &leftover);
    kc_ipc_close(sv->c);
    if (!atomic_load(&g_done)) {
        atomic_fetch_add(&g_conns_lost, 1);
        fprintf(stderr, "%s %s: connection to peer %d lost (%s)\n", g_prog, g_name, sv->peer,
                kc_strerror(rc));
        atomic_fetch_add(&g_repush, 1);
    }
    atomic_store(sv->slot_busy, 0);
    atomic_fetch_sub(&g_live, 1);
    free(sv);
    return NULL;
}

static int producer(const char *addr, const char *key_file, long count)
{
    char url[160], out_name[32], conn_name[48];
    snprintf(url, sizeof url, "rel:tcp://%s", addr);
    snprintf(out_name, sizeof out_name, "%s.out", g_name);
    snprintf(conn_name, sizeof conn_name, "%s.server", g_name);
    setup(key_file, conn_name);
    g_count = count;
    g_acked = calloc((size_t)count, sizeof *g_acked);
    if (g_acked == NULL)
        die("calloc", -ENOMEM);
    kc_chan_opts_t co = longs(CAPACITY, out_name);
    int rc = kc_chan_create(&g_out, &co);
    char acks_name[32];
    snprintf(acks_name, sizeof acks_name, "%s.acks", g_name);
    kc_chan_opts_t ao = longs(1024, acks_name);
    if (rc == 0)
        rc = kc_chan_create(&g_acks, &ao);
    if (rc != 0)
        die("kc_chan_create", rc);
    kc_ipc_server_t *srv;
    if ((rc = kc_ipc_listen(&srv, url, &g_io)) != 0)
        die("kc_ipc_listen", rc);
    fprintf(stderr, "%s %s: listening on %s, %ld values\n", g_prog, g_name, url, count);
    pthread_t ft, at;
    if (pthread_create(&ft, NULL, feeder, NULL) != 0 ||
        pthread_create(&at, NULL, ack_reader, NULL) != 0)
        die("pthread_create", -EAGAIN);
    static _Atomic int busy[MAX_CONNS];
    int64_t linger_until = 0;
    /* Keep accepting: a session's new link is handed over inside accept. */
    for (;;) {
        kc_ipc_conn_t *c = NULL;
        rc = kc_ipc_accept(srv, &c, 200 * MS, NULL);
        if (rc == 0) {
            int peer = -1;
            for (int i = 0; i < MAX_CONNS && peer < 0; i++) {
                int zero = 0;
                if (atomic_compare_exchange_strong(&busy[i], &zero, 1))
                    peer = i;
            }
            struct served *sv = peer < 0 ? NULL : malloc(sizeof *sv);
            pthread_t st;
            if (sv == NULL) {
                kc_ipc_close(c);
                if (peer >= 0)
                    atomic_store(&busy[peer], 0);
                continue;
            }
            *sv = (struct served){c, peer, &busy[peer]};
            atomic_fetch_add(&g_live, 1);
            atomic_fetch_add(&g_conns, 1);
            if (pthread_create(&st, NULL, serve, sv) != 0)
                die("pthread_create", -EAGAIN);
            pthread_detach(st);
            continue;
        }
        if (rc != -ETIME)
            fprintf(stderr, "%s %s: accept: %s\n", g_prog, g_name, kc_strerror(rc));
        if (atomic_load(&g_done)) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t t = (int64_t)now.tv_sec * SEC + now.tv_nsec;
            if (linger_until == 0)
                linger_until = t + 20 * SEC; /* consumers drain and leave */
            if (atomic_load(&g_live) == 0 || t > linger_until)
                break;
        }
    }
    pthread_join(ft, NULL);
    kc_chan_close(g_acks);
    pthread_join(at, NULL);
    printf("role producer\nname %s\nsent %ld\nacked %ld\nreput %ld\nredeliveries %ld\n", g_name,
           atomic_load(&g_next), atomic_load(&g_nacked), atomic_load(&g_reput),
           atomic_load(&g_redeliveries));
    printf("dup_acks %ld\nconnections %ld\nconnections_lost %ld\nconsumers_left %d\n",
           atomic_load(&g_dup_acks), atomic_load(&g_conns), atomic_load(&g_conns_lost),
           atomic_load(&g_live));
    print_rel();
    fflush(stdout);
    /* Consumers that have not left by now are reported, not waited for. */
    return atomic_load(&g_nacked) == count && atomic_load(&g_live) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- the consumer */

static int g_ledger_fd;
static _Atomic(uint8_t) *g_have;
static _Atomic long g_recorded, g_before, g_dups, g_ticks;
static kc_chan_t *g_in, *g_tick, *g_ack_out;
static _Atomic int g_stop;

struct sel {
    int rc;
};

static void *selector(void *arg)
{
    struct sel *s = arg;
    long v = -1, t = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(g_in, &v),
                              KC_CHAN_CLAUSE_RECV_INIT(g_tick, &t)};
    for (;;) {
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 2 * SEC, NULL);
        if (rc == -ETIME)
            continue;
        if (rc < 0) {
            s->rc = rc;
            return NULL;
        }
        if (rc == 1) { /* the local clause: a progress line */
            if (cl[1].result == 0 && t % 4 == 0)
                fprintf(stderr, "%s %s: %ld recorded\n", g_prog, g_name,
                        atomic_load(&g_before) + atomic_load(&g_recorded));
            continue;
        }
        if (cl[0].result == -EPIPE) { /* closed by the producer and drained */
            s->rc = 0;
            return NULL;
        }
        if (v < 0 || v >= g_count) {
            fprintf(stderr, "%s %s: value %ld out of range\n", g_prog, g_name, v);
            s->rc = -ERANGE;
            return NULL;
        }
        if (atomic_exchange(&g_have[v], 1)) {
            atomic_fetch_add(&g_dups, 1); /* recorded before: acknowledge again only */
        } else {
            char line[24];
            int n = snprintf(line, sizeof line, "%ld\n", v);
            if (write(g_ledger_fd, line, (size_t)n) != n) {
                s->rc = -EIO;
                return NULL;
            }
            atomic_fetch_add(&g_recorded, 1);
        }
        rc = kc_chan_send(g_ack_out, &v, KC_NO_TIMEOUT, NULL);
        if (rc != 0) {
            s->rc = rc;
            return NULL;
        }
    }
}

static void *ticker(void *arg)
{
    (void)arg;
    for (long i = 0; !atomic_load(&g_stop); i++) {
        sleep_ms(250);
        (void)kc_chan_send(g_tick, &i, 0, NULL); /* a tick nobody took is dropped */
        atomic_fetch_add(&g_ticks, 1);
    }
    return NULL;
}

static void read_ledger(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    long v;
    while (fscanf(f, "%ld", &v) == 1) {
        if (v < 0 || v >= g_count || atomic_exchange(&g_have[v], 1)) {
            fprintf(stderr, "%s %s: ledger %s holds %ld: out of range or twice\n", g_prog, g_name,
                    path, v);
            exit(3);
        }
        atomic_fetch_add(&g_before, 1);
    }
    fclose(f);
}

static int consumer(const char *prod, const char *addr, const char *key_file, long count,
                    const char *ledger)
{
    char url[160], conn_name[48], acks[KC_MUX_NAME_MAX], in_name[32];
    snprintf(url, sizeof url, "rel:tcp://%s", addr);
    snprintf(conn_name, sizeof conn_name, "%s.client", g_name);
    snprintf(in_name, sizeof in_name, "%s.in", g_name);
    setup(key_file, conn_name);
    g_count = count;
    g_have = calloc((size_t)count, sizeof *g_have);
    if (g_have == NULL)
        die("calloc", -ENOMEM);
    read_ledger(ledger);
    g_ledger_fd = open(ledger, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (g_ledger_fd < 0)
        die("open the ledger", -errno);
    kc_ipc_conn_t *c = NULL;
    int rc = -1;
    for (int t = 0; t < 300 && rc != 0; t++) /* the producer may start later */
        if ((rc = kc_ipc_connect(&c, url, &g_io, 5 * SEC, NULL)) != 0)
            sleep_ms(100);
    if (rc != 0)
        die("kc_ipc_connect", rc);
    fprintf(stderr, "%s %s: connected to %s, %ld recorded before\n", g_prog, g_name, url,
            atomic_load(&g_before));
    snprintf(acks, sizeof acks, "%s.acks", prod);
    kc_mux_import_opts_t mo = KC_MUX_IMPORT_OPTS_INIT;
    mo.timeout_ns = 10 * SEC;
    /* The producer exports it once it has accepted us: ask again until then. */
    for (int t = 0; t < 100; t++) {
        if ((rc = kc_ipc_import(&g_ack_out, c, acks, &mo, NULL)) != -ENOENT)
            break;
        sleep_ms(50);
    }
    if (rc != 0)
        die("kc_ipc_import", rc);
    kc_rsel_client_t *cl;
    kc_rsel_attach_t *a;
    if ((rc = kc_rsel_client_create(&cl, LEASE_MS * MS)) != 0 ||
        (rc = kc_rsel_attach(&a, c, KC_RSEL_CLIENT_SIDE, 10 * SEC)) != 0 ||
        (rc = kc_rsel_attach_client(a, cl)) != 0)
        die("kc_rsel_attach", rc);
    kc_chan_opts_t co = longs(CAPACITY, in_name);
    kc_chan_opts_t to = longs(1, "tick");
    if ((rc = kc_rsel_import(&g_in, cl, CHAN_ID, &co)) != 0 || (rc = kc_chan_create(&g_tick, &to)))
        die("kc_rsel_import", rc);
    pthread_t tt, th[SELECTORS];
    struct sel s[SELECTORS];
    if (pthread_create(&tt, NULL, ticker, NULL) != 0)
        die("pthread_create", -EAGAIN);
    for (int i = 0; i < SELECTORS; i++) {
        s[i].rc = 1;
        if (pthread_create(&th[i], NULL, selector, &s[i]) != 0)
            die("pthread_create", -EAGAIN);
    }
    int bad = 0;
    for (int i = 0; i < SELECTORS; i++) {
        pthread_join(th[i], NULL);
        if (s[i].rc != 0) {
            fprintf(stderr, "%s %s: a selector ended with %s\n", g_prog, g_name,
                    kc_strerror(s[i].rc));
            bad = 1;
        }
    }
    atomic_store(&g_stop, 1);
    pthread_join(tt, NULL);
    kc_rsel_client_stats_t cs = KC_RSEL_CLIENT_STATS_INIT;
    (void)kc_rsel_client_stats(cl, &cs);
    kc_rsel_detach(a);
    (void)kc_chan_destroy(g_in);
    (void)kc_rsel_client_destroy(cl);
    (void)kc_chan_destroy(g_ack_out);
    kc_ipc_close(c);
    close(g_ledger_fd);
    printf("role consumer\nname %s\nrecorded_before %ld\nrecorded %ld\nduplicates %ld\n", g_name,
           atomic_load(&g_before), atomic_load(&g_recorded), atomic_load(&g_dups));
    printf("rsel_claims %llu\nrsel_commits %llu\nrsel_rejects %llu\n",
           (unsigned long long)cs.claims, (unsigned long long)cs.commits,
           (unsigned long long)cs.rejects);
    print_rel();
    fflush(stdout);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "producer") == 0) {
        g_name = argv[2];
        long n = atol(argv[5]);
        if (n <= 0 || n > COUNT_MAX)
            die("COUNT out of range", -EINVAL);
        return producer(argv[3], argv[4], n);
    }
    if (argc >= 8 && strcmp(argv[1], "consumer") == 0) {
        g_name = argv[2];
        long n = atol(argv[6]);
        if (n <= 0 || n > COUNT_MAX)
            die("COUNT out of range", -EINVAL);
        return consumer(argv[3], argv[4], argv[5], n, argv[7]);
    }
    fprintf(stderr,
            "usage: %s producer NAME IP:PORT KEYFILE COUNT\n"
            "       %s consumer NAME PRODUCER IP:PORT KEYFILE COUNT LEDGER\n",
            g_prog, g_prog);
    return 2;
}
