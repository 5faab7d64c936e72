/* obs_demo.c - kcoro-obs-demo: a small busy program to watch with the monitor and chanmon.
 *
 * Runs a registered scheduler with a handful of named channels doing
 * different things (a fast pipeline, a buffer filling up because its
 * consumer is slow, a queue whose try-sends fail when full, a conflated price,
 * an idle control channel with a waiting receiver, a select over two
 * channels), a bus, an arena and an IPC connection to itself (mem:, an
 * echo RPC every 5 ms), and serves them with kc_monitor_start on
 * the address given (or KCORO_MONITOR). It prints "ready ADDRESS" once the
 * monitor listens, and runs for --seconds N (default: until SIGINT or
 * SIGTERM). Used by core/tools/tests and the screenshot in
 * core/docs/OBSERVABILITY.md; not installed.
 */
#include "kcoro.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static kc_chan_t *orders, *backlog, *jobs, *prices, *control, *left, *right;
static kc_bus_pub_t *pub;
static kc_arena_t *arena;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static kc_chan_t *make(const char *name, kc_chan_kind_t kind, size_t cap, kc_chan_policy_t pol)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = kind;
    o.capacity = cap;
    o.policy = pol;
    o.elem_size = 64;
    o.name = name;
    o.flags = KC_CHAN_REGISTER;
    kc_chan_t *ch = NULL;
    if (kc_chan_create(&ch, &o) != 0) {
        fprintf(stderr, "kcoro-obs-demo: cannot create channel %s\n", name);
        exit(1);
    }
    return ch;
}

/* Sends on ch every `every_us` microseconds until the channel closes. */
struct prod {
    kc_chan_t *ch;
    int every_us;
    bool try_only;
};

static int producer(void *arg)
{
    struct prod *p = arg;
    char msg[64] = "order";
    for (;;) {
        int rc = p->try_only ? kc_chan_try_send(p->ch, msg)
                             : kc_chan_send(p->ch, msg, KC_NO_TIMEOUT, NULL);
        if (rc == -EPIPE)
            return 0;
        kc_sched_sleep((int64_t)p->every_us * 1000, NULL);
    }
}

struct cons {
    kc_chan_t *ch;
    int every_us;
};

static int consumer(void *arg)
{
    struct cons *c = arg;
    char msg[64];
    for (;;) {
        if (kc_chan_recv(c->ch, msg, KC_NO_TIMEOUT, NULL) == -EPIPE)
            return 0;
        if (c->every_us > 0)
            kc_sched_sleep((int64_t)c->every_us * 1000, NULL);
    }
}

static int selector(void *arg)
{
    (void)arg;
    char a[64], b[64];
    for (;;) {
        kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(left, a),
                                  KC_CHAN_CLAUSE_RECV_INIT(right, b)};
        int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
        if (i < 0 || cl[i].result == -EPIPE)
            return 0;
    }
}

static int ticker(void *arg)
{
    (void)arg;
    uint64_t n = 0;
    kc_arena_ticket_t live[64]; /* the last 64 allocations stay live */
    memset(live, 0, sizeof(live));
    while (!stop_flag) {
        kc_bus_publish(pub, &n, sizeof(n));
        kc_arena_ticket_t *slot = &live[n % 64];
        if (slot->check != 0)
            kc_arena_release(arena, *slot);
        if (kc_arena_alloc(arena, 256 + (n % 8) * 512, slot, NULL) != 0)
            memset(slot, 0, sizeof(*slot));
        n++;
        char price[64] = "42";
        kc_chan_send(prices, price, 0, NULL);
        kc_sched_sleep(2000000, NULL);
    }
    for (int i = 0; i < 64; i++)
        if (live[i].check != 0)
            kc_arena_release(arena, live[i]);
    return 0;
}

static int h_echo(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    if ((*out = malloc(r->len)) == NULL)
        return -ENOMEM;
    memcpy(*out, r->payload, r->len);
    *len = r->len;
    return 0;
}

struct rpc_pair {
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *svc;
};

static int rpc_accept(void *arg)
{
    struct rpc_pair *p = arg;
    return kc_ipc_accept(p->srv, &p->svc, 5000000000LL, NULL) == 0 ? 0 : 1;
}

/* A connection to ourselves, listed in the registry (kind conn), with an
 * echo every 5 ms until the demo stops, and a channel exported on one end
 * and imported on the other (kind remote_chan, both listed by
 * KC_MUX_REGISTER) carrying one quote per echo. */
static int rpc_loop(void *arg)
{
    (void)arg;
    char url[64];
    snprintf(url, sizeof(url), "mem:obs-demo-%d", (int)getpid());
    kc_rpc_router_t *router = NULL;
    struct rpc_pair p = {NULL, NULL};
    kc_ipc_conn_t *cli = NULL;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    kc_task_t *t = NULL;
    int st = 1;
    if (kc_rpc_router_create(&router) != 0 || kc_rpc_router_add(router, 1, h_echo, NULL) != 0)
        goto out_router;
    o.router = router;
    if (kc_ipc_listen(&p.srv, url, &o) != 0)
        goto out_router;
    if (kc_sched_spawn(kc_sched_current(), &t, rpc_accept, &p, NULL) != 0)
        goto out_server;
    int rc = kc_ipc_connect(&cli, url, &o, 5000000000LL, NULL);
    kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL);
    kc_chan_t *quotes = NULL, *remote = NULL;
    if (rc == 0 && st == 0 && kc_chan_make(&quotes, KC_CHAN_BUFFERED, 32, sizeof(int64_t)) == 0) {
        kc_mux_export_opts_t xo = KC_MUX_EXPORT_OPTS_INIT;
        xo.flags = KC_MUX_REGISTER;
        xo.name = "quotes-out";
        kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
        io.flags = KC_MUX_REGISTER;
        io.name = "quotes-in";
        if (kc_ipc_export(p.svc, "quotes", quotes, &xo) != 0 ||
            kc_ipc_import(&remote, cli, "quotes", &io, NULL) != 0)
            rc = -1;
    }
    for (int64_t q = 0; rc == 0 && st == 0 && !stop_flag; q++) {
        kc_rpc_call(cli, 1, 0, "tick", 4, 1000000000LL, NULL, NULL, NULL);
        int64_t got;
        if (remote != NULL && kc_chan_send(quotes, &q, 1000000000LL, NULL) == 0)
            kc_chan_recv(remote, &got, 1000000000LL, NULL);
        kc_sched_sleep(5000000, NULL);
    }
    kc_chan_destroy(remote);
    if (quotes != NULL)
        kc_ipc_unexport(p.svc, "quotes"); /* its pumps let go of quotes */
    kc_ipc_close(cli);
    kc_ipc_close(p.svc);
    kc_chan_destroy(quotes);
out_server:
    kc_ipc_server_close(p.srv);
out_router:
    kc_rpc_router_destroy(router);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("KCORO_MONITOR");
    double seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0) {
            puts("usage: kcoro-obs-demo [--seconds N] [MONITOR-URL]");
            return 0;
        } else
            url = argv[i];
    }
    if (url == NULL)
        url = "tcp:127.0.0.1:0";
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    kc_registry_configure("conn"); /* connections have no flag of their own */
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    so.flags = KC_SCHED_REGISTER;
    so.name = "demo";
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &so) != 0)
        return 1;
    orders = make("orders", KC_CHAN_BUFFERED, 256, KC_CHAN_SUSPEND);
    backlog = make("backlog", KC_CHAN_BUFFERED, 64, KC_CHAN_SUSPEND);
    jobs = make("jobs", KC_CHAN_BUFFERED, 16, KC_CHAN_SUSPEND);
    prices = make("prices", KC_CHAN_CONFLATED, 0, KC_CHAN_SUSPEND);
    control = make("control", KC_CHAN_RENDEZVOUS, 0, KC_CHAN_SUSPEND);
    left = make("left", KC_CHAN_RENDEZVOUS, 0, KC_CHAN_SUSPEND);
    right = make("right", KC_CHAN_BUFFERED, 8, KC_CHAN_SUSPEND);
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = 8, .capacity = 64};
    bo.flags = KC_BUS_REGISTER;
    bo.name = "ticks";
    kc_bus_t *bus = NULL;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 4 << 20;
    ao.name = "payloads";
    ao.flags = KC_ARENA_REGISTER;
    if (kc_bus_create(&bo, &bus, &pub) != 0 || kc_arena_create(&arena, &ao) != 0)
        return 1;
    kc_bus_sub_t *sub = NULL;
    kc_bus_subscribe(bus, &sub);
    static struct prod p_orders = {NULL, 200, false}, p_backlog = {NULL, 1000, false},
                       p_jobs = {NULL, 300, true}, p_left = {NULL, 5000, false},
                       p_right = {NULL, 2000, false};
    static struct cons c_orders = {NULL, 0}, c_backlog = {NULL, 5000}, c_jobs = {NULL, 1000},
                       c_control = {NULL, 0};
    p_orders.ch = c_orders.ch = orders;
    p_backlog.ch = c_backlog.ch = backlog;
    p_jobs.ch = c_jobs.ch = jobs;
    c_control.ch = control;
    p_left.ch = left;
    p_right.ch = right;
    struct {
        const char *name;
        kc_coro_fn_t fn;
        void *arg;
    } tasks[] = {{"orders-in", producer, &p_orders},
                 {"orders-out", consumer, &c_orders},
                 {"backlog-in", producer, &p_backlog},
                 {"backlog-slow", consumer, &c_backlog},
                 {"jobs-in", producer, &p_jobs},
                 {"jobs-out", consumer, &c_jobs},
                 {"control-wait", consumer, &c_control},
                 {"left-in", producer, &p_left},
                 {"right-in", producer, &p_right},
                 {"select-lr", selector, NULL},
                 {"ticker", ticker, NULL},
                 {"rpc", rpc_loop, NULL}};
    kc_task_t *handles[sizeof(tasks) / sizeof(tasks[0])];
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = tasks[i].name;
        if (kc_sched_spawn(s, &handles[i], tasks[i].fn, tasks[i].arg, &at) != 0)
            return 1;
    }
    kc_monitor_t *m = NULL;
    int rc = kc_monitor_start(s, url, NULL, &m);
    if (rc != 0) {
        fprintf(stderr, "kcoro-obs-demo: monitor on %s: %s\n", url, kc_strerror(rc));
        return 1;
    }
    char addr[128];
    kc_monitor_address(m, addr, sizeof(addr));
    printf("ready %s\n", addr);
    fflush(stdout);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!stop_flag) {
        struct timespec tick = {0, 50 * 1000000};
        nanosleep(&tick, NULL);
        kc_sched_stamp_waits(s);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (seconds > 0 &&
            (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            stop_flag = 1;
    }
    kc_monitor_stop(m);
    kc_chan_t *all[] = {orders, backlog, jobs, prices, control, left, right};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kc_chan_close(all[i]);
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
        kc_sched_join(handles[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_destroy(s);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kc_chan_destroy(all[i]);
    kc_bus_unsubscribe(sub);
    kc_bus_pub_release(pub);
    kc_bus_release(bus);
    kc_arena_destroy(arena);
    return 0;
}
