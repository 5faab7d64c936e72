/* test_timeouts.c - the one timeout rule, on every blocking call.
 *
 * kcoro/base.h and ERROR_SEMANTICS.md ("Timeouts"): KC_NO_TIMEOUT waits
 * without limit, 0 and every other negative value try once, and a huge
 * finite value saturates into "no limit" instead of overflowing into the
 * past. Each probe below is one blocking call with the objects it needs and
 * an action (provide) that lets a waiting call complete. Every probe runs
 * with INT64_MAX, INT64_MAX - 1 and INT64_MAX / 2 (the call must wait until
 * the action, then succeed) and with -5 and INT64_MIN (the call must return
 * its "would wait" result at once, before the action that is held back for
 * two seconds in case it waits), from a plain thread and from a scheduler
 * coroutine. Under ASan+UBSan (make sanitize) any overflow in a deadline
 * computation aborts the binary. The pure helpers of sched/kc_sched_svc.h and port/kc_deadline.h
 * are checked on their edge values (invariants D1-D3).
 */
#define _GNU_SOURCE
#include "kcoro.h"
#include "kcoro/ipc.h"
#include "kcoro/transport.h"

#include "port/kc_deadline.h"
#include "sched/kc_sched_svc.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

/* How long the action waits for a call that should block (it must still be
 * waiting then), and how long it holds back for one that should not. */
#define WAIT_MS 20
#define HOLD_MS 2000

/* Everything one probe may use. */
struct fix {
    kc_sched_t *s; /* the scheduler the coroutine callers run on */
    kc_chan_t *ch;
    kc_chan_t *gate; /* what join, idle and scope targets wait for */
    kc_parker_t parker;
    kc_task_t *task;
    kc_sched_t *other;
    kc_scope_t *scope;
    kc_cancel_t *cancel;
    int fd[2];
    int lfd, cfd, pending;
    struct sockaddr_un addr;
    socklen_t addr_len;
    kc_arena_t *arena;
    kc_bus_t *bus;
    kc_bus_pub_t *pub;
    kc_bus_sub_t *sub;
    kc_transport_t *tl, *tc, *ts; /* listener, client, server side */
    kc_actor_t *actor;
    pthread_t occupier;      /* holds the blocking pool's one helper */
    _Atomic int occupying;   /* its call runs on the helper */
    _Atomic int release;     /* let it return */
    kc_rpc_router_t *router; /* the server's: CMD_GATE waits for the gate */
    kc_ipc_server_t *srv;    /* listening on url */
    kc_ipc_conn_t *cc, *sc;  /* client and server side of a connection */
    kc_rpc_future_t *fut;    /* a request CMD_GATE, not consumed yet */
    char url[64];
    uint64_t v;
    _Atomic int ready;    /* the caller is about to make the blocking call */
    _Atomic int done;     /* it returned */
    _Atomic int provided; /* the action ran */
};

struct probe {
    const char *name;
    void (*setup)(struct fix *f);
    int (*call)(struct fix *f, int64_t timeout); /* 0 on success */
    void (*provide)(struct fix *f);
    int expired; /* the result for 0 and negative timeouts, nothing ready */
    int woken;   /* the result once provided */
    void (*teardown)(struct fix *f);
};

static void go(struct fix *f)
{
    atomic_store(&f->ready, 1);
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- channels */

static void chan_rv(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
}

static void chan_full(struct fix *f) /* a buffered (seq-ring) channel with no room */
{
    assert_int_equal(kc_chan_make(&f->ch, KC_CHAN_BUFFERED, 1, sizeof(uint64_t)), 0);
    uint64_t v = 1;
    assert_int_equal(kc_chan_try_send(f->ch, &v), 0);
}

static void chan_empty(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->ch, KC_CHAN_BUFFERED, 1, sizeof(uint64_t)), 0);
}

static void chan_desc(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->ch, KC_CHAN_RENDEZVOUS, 0, 0), 0);
}

static void chan_free(struct fix *f)
{
    assert_int_equal(kc_chan_destroy(f->ch), 0);
}

static void give_elem(struct fix *f)
{
    uint64_t v = 42;
    assert_int_equal(kc_chan_send(f->ch, &v, KC_NO_TIMEOUT, NULL), 0);
}

static void take_elem(struct fix *f)
{
    uint64_t v = 0;
    assert_int_equal(kc_chan_recv(f->ch, &v, KC_NO_TIMEOUT, NULL), 0);
}

static void give_desc(struct fix *f)
{
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_init(&d, &f->v, sizeof(f->v), 0), 0);
    assert_int_equal(kc_chan_send_desc(f->ch, &d, KC_NO_TIMEOUT, NULL), 0);
}

static void take_desc(struct fix *f)
{
    kc_zdesc_t d;
    assert_int_equal(kc_chan_recv_desc(f->ch, &d, KC_NO_TIMEOUT, NULL), 0);
}

static int call_send(struct fix *f, int64_t t)
{
    uint64_t v = 7;
    go(f);
    return kc_chan_send(f->ch, &v, t, NULL);
}

static int call_recv(struct fix *f, int64_t t)
{
    uint64_t v = 0;
    go(f);
    int rc = kc_chan_recv(f->ch, &v, t, NULL);
    return rc == 0 && v != 42 ? -EPROTO : rc;
}

static int call_send_desc(struct fix *f, int64_t t)
{
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_init(&d, &f->v, sizeof(f->v), 0), 0);
    go(f);
    return kc_chan_send_desc(f->ch, &d, t, NULL);
}

static int call_recv_desc(struct fix *f, int64_t t)
{
    kc_zdesc_t d;
    go(f);
    int rc = kc_chan_recv_desc(f->ch, &d, t, NULL);
    return rc == 0 && d.ptr != &f->v ? -EPROTO : rc;
}

static int call_send_ptr(struct fix *f, int64_t t)
{
    go(f);
    return kc_chan_send_ptr(f->ch, &f->v, sizeof(f->v), t, NULL);
}

static int call_recv_ptr(struct fix *f, int64_t t)
{
    void *p = NULL;
    size_t len = 0;
    go(f);
    int rc = kc_chan_recv_ptr(f->ch, &p, &len, t, NULL);
    return rc == 0 && (p != &f->v || len != sizeof(f->v)) ? -EPROTO : rc;
}

static int call_select(struct fix *f, int64_t t)
{
    uint64_t v = 0;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(f->ch, &v)};
    go(f);
    int rc = kc_chan_select(cl, 1, KC_CHAN_SELECT_BIASED, t, NULL);
    return rc == 0 ? cl[0].result : rc;
}

/* ------------------------------------------------------- park and friends */

static void nothing(struct fix *f)
{
    (void)f;
}

static int call_park(struct fix *f, int64_t t)
{
    kc_parker_init(&f->parker); /* owned by the caller: thread or coroutine */
    go(f);
    return kc_park(&f->parker, t, NULL);
}

static void unpark(struct fix *f)
{
    kc_unpark(&f->parker);
}

static int gate_wait(void *arg)
{
    struct fix *f = arg;
    uint64_t v;
    (void)kc_chan_recv(f->gate, &v, KC_NO_TIMEOUT, NULL); /* -EPIPE once closed */
    return 7;
}

static void open_gate(struct fix *f)
{
    int rc = kc_chan_close(f->gate);
    assert_true(rc == 0 || rc == -EPIPE);
}

static void join_setup(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->gate, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_sched_spawn(f->s, &f->task, gate_wait, f, NULL), 0);
}

static int call_join(struct fix *f, int64_t t)
{
    int st = 0;
    go(f);
    int rc = kc_sched_join(f->task, &st, t, NULL);
    if (rc == 0)
        f->task = NULL;
    return rc == 0 && st != 7 ? -EPROTO : rc;
}

static void join_teardown(struct fix *f)
{
    open_gate(f);
    if (f->task != NULL)
        assert_int_equal(kc_sched_join(f->task, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_chan_destroy(f->gate), 0);
}

static void idle_setup(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->gate, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    f->other = kc_test_sched(1);
    assert_int_equal(kc_sched_spawn(f->other, NULL, gate_wait, f, NULL), 0);
}

static int call_idle(struct fix *f, int64_t t)
{
    go(f);
    return kc_sched_run_until_idle(f->other, t, NULL);
}

static void idle_teardown(struct fix *f)
{
    open_gate(f);
    assert_int_equal(kc_sched_destroy(f->other), 0);
    assert_int_equal(kc_chan_destroy(f->gate), 0);
}

static void scope_setup(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->gate, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_scope_create(&f->scope, f->s, 0), 0);
    assert_int_equal(kc_scope_spawn(f->scope, gate_wait, f, NULL), 0);
}

static int call_scope(struct fix *f, int64_t t)
{
    go(f);
    return kc_scope_wait(f->scope, t, NULL);
}

static void scope_teardown(struct fix *f)
{
    open_gate(f);
    assert_int_equal(kc_scope_wait(f->scope, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_scope_destroy(f->scope), 0);
    assert_int_equal(kc_chan_destroy(f->gate), 0);
}

static void cancel_setup(struct fix *f)
{
    assert_int_equal(kc_cancel_create(&f->cancel, NULL), 0);
}

static int call_sleep(struct fix *f, int64_t t)
{
    go(f);
    return kc_sched_sleep(t, f->cancel);
}

static void fire(struct fix *f)
{
    assert_true(kc_cancel_trigger(f->cancel) >= 0);
}

static void cancel_teardown(struct fix *f)
{
    assert_int_equal(kc_cancel_destroy(f->cancel), 0);
}

/* ---------------------------------------------------------------------- io */

static void pair_setup(struct fix *f)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->fd), 0);
}

static void pair_full(struct fix *f) /* fd[0] cannot take another byte */
{
    pair_setup(f);
    int small = 4096;
    assert_int_equal(setsockopt(f->fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    static char junk[4096];
    while (write(f->fd[0], junk, sizeof(junk)) > 0)
        ;
    while (write(f->fd[0], junk, 1) > 0)
        ;
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void pair_teardown(struct fix *f)
{
    close(f->fd[0]);
    close(f->fd[1]);
}

static void poke(struct fix *f)
{
    assert_int_equal(write(f->fd[1], "x", 1), 1);
}

static void drain(struct fix *f)
{
    static char buf[65536];
    while (read(f->fd[1], buf, sizeof(buf)) > 0)
        ;
}

static int call_io_wait(struct fix *f, int64_t t)
{
    go(f);
    int rc = kc_io_wait(f->fd[0], KC_IO_IN, t, NULL);
    return rc > 0 ? ((rc & KC_IO_IN) ? 0 : -EPROTO) : rc;
}

static int call_read(struct fix *f, int64_t t)
{
    char c = 0;
    go(f);
    ssize_t r = kc_read(f->fd[0], &c, 1, t, NULL);
    return r == 1 ? (c == 'x' ? 0 : -EPROTO) : (int)r;
}

static int call_recvmsg(struct fix *f, int64_t t)
{
    char c = 0;
    struct iovec iov = {&c, 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    go(f);
    ssize_t r = kc_recvmsg(f->fd[0], &m, 0, t, NULL);
    return r == 1 ? (c == 'x' ? 0 : -EPROTO) : (int)r;
}

static int call_write(struct fix *f, int64_t t)
{
    go(f);
    ssize_t r = kc_write(f->fd[0], "y", 1, t, NULL);
    return r == 1 ? 0 : (int)r;
}

static int call_sendmsg(struct fix *f, int64_t t)
{
    char c = 'y';
    struct iovec iov = {&c, 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    go(f);
    ssize_t r = kc_sendmsg(f->fd[0], &m, 0, t, NULL);
    return r == 1 ? 0 : (int)r;
}

/* A listening AF_UNIX socket in the abstract namespace, backlog 0. */
static void listen_setup(struct fix *f)
{
    static _Atomic int seq;
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    memset(&f->addr, 0, sizeof(f->addr));
    f->addr.sun_family = AF_UNIX;
    int n = snprintf(f->addr.sun_path + 1, sizeof(f->addr.sun_path) - 1, "kcoro-timeouts-%d-%d",
                     (int)getpid(), atomic_fetch_add(&seq, 1));
    f->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&f->addr, f->addr_len), 0);
    assert_int_equal(listen(f->lfd, 0), 0);
    f->cfd = -1;
    f->pending = -1;
}

static void listen_teardown(struct fix *f)
{
    close(f->lfd);
    if (f->cfd >= 0)
        close(f->cfd);
    if (f->pending >= 0)
        close(f->pending);
}

static void dial(struct fix *f)
{
    f->pending = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->pending >= 0);
    assert_int_equal(connect(f->pending, (struct sockaddr *)&f->addr, f->addr_len), 0);
}

static int call_accept(struct fix *f, int64_t t)
{
    go(f);
    int fd = kc_accept(f->lfd, NULL, NULL, t, NULL);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* The backlog (0) is full with one connection nobody accepted: a further
 * non-blocking connect says EAGAIN until that one is accepted. */
static void backlog_full(struct fix *f)
{
    listen_setup(f);
    f->pending = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(f->pending, (struct sockaddr *)&f->addr, f->addr_len), 0);
    f->cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(f->cfd >= 0);
}

static void accept_one(struct fix *f)
{
    int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
}

static int call_connect(struct fix *f, int64_t t)
{
    go(f);
    return kc_connect(f->cfd, (struct sockaddr *)&f->addr, f->addr_len, t, NULL);
}

/* --------------------------------------------------------------------- bus */

static void bus_setup(struct fix *f)
{
    kc_bus_opts_t o = {sizeof(o), sizeof(uint64_t), 0, 1, NULL, 0, NULL};
    assert_int_equal(kc_bus_create(&o, &f->bus, &f->pub), 0);
    assert_int_equal(kc_bus_subscribe(f->bus, &f->sub), 0);
}

static void ticket_bus_setup(struct fix *f)
{
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 1 << 16;
    assert_int_equal(kc_arena_create(&f->arena, &ao), 0);
    kc_bus_opts_t o = {sizeof(o), sizeof(kc_arena_ticket_t), 0, 1, f->arena, 0, NULL};
    assert_int_equal(kc_bus_create(&o, &f->bus, &f->pub), 0);
    assert_int_equal(kc_bus_subscribe(f->bus, &f->sub), 0);
}

static void bus_teardown(struct fix *f)
{
    kc_bus_unsubscribe(f->sub);
    kc_bus_pub_release(f->pub);
    kc_bus_release(f->bus);
    if (f->arena != NULL)
        assert_int_equal(kc_arena_destroy(f->arena), 0);
}

static void publish(struct fix *f)
{
    uint64_t v = 42;
    assert_int_equal(kc_bus_publish(f->pub, &v, sizeof(v)), 1);
}

static void publish_ticket(struct fix *f)
{
    kc_arena_ticket_t tk;
    void *p = NULL;
    assert_int_equal(kc_arena_alloc(f->arena, 64, &tk, &p), 0);
    assert_int_equal(kc_bus_publish_ticket(f->pub, KC_BUS_MASK_ALL, tk), 1);
}

static int call_bus_recv(struct fix *f, int64_t t)
{
    uint64_t v = 0, missed = 0;
    go(f);
    int rc = kc_bus_recv(f->sub, &v, sizeof(v), &missed, t, NULL);
    return rc == 0 && v != 42 ? -EPROTO : rc;
}

static int call_bus_recv_batch(struct fix *f, int64_t t)
{
    uint64_t v[4] = {0}, missed = 0;
    size_t n = 4;
    go(f);
    int rc = kc_bus_recv_batch(f->sub, v, sizeof(v), &n, &missed, t, NULL);
    return rc == 0 && (n != 1 || v[0] != 42) ? -EPROTO : rc;
}

static int call_bus_recv_ticket(struct fix *f, int64_t t)
{
    kc_arena_ticket_t tk;
    uint64_t missed = 0;
    go(f);
    int rc = kc_bus_recv_ticket(f->sub, &tk, &missed, t, NULL);
    if (rc == 0)
        assert_true(kc_arena_release(f->arena, tk) >= 0);
    return rc;
}

/* --------------------------------------------------------------- transport */

static void tp_listen(struct fix *f)
{
    static _Atomic int seq;
    char url[64];
    snprintf(url, sizeof(url), "mem:timeouts-%d", atomic_fetch_add(&seq, 1));
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.sndbuf = 16; /* one 16-byte frame fills a direction */
    assert_int_equal(kc_transport_listen(url, &o, &f->tl), 0);
    snprintf(f->addr.sun_path, sizeof(f->addr.sun_path), "%s", url);
}

static void tp_dial(struct fix *f)
{
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.sndbuf = 16;
    assert_int_equal(kc_transport_connect(f->addr.sun_path, &o, &f->tc, KC_NO_TIMEOUT, NULL), 0);
}

static void tp_pair(struct fix *f)
{
    tp_listen(f);
    tp_dial(f);
    assert_int_equal(kc_transport_accept(f->tl, &f->ts, NULL, KC_NO_TIMEOUT, NULL), 0);
}

static int tp_send(kc_transport_t *t, int64_t timeout)
{
    static const char sixteen[16] = "0123456789abcde";
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, sizeof(sixteen)};
    struct iovec iov = {(void *)(uintptr_t)sixteen, sizeof(sixteen)};
    return kc_transport_send_frame(t, &h, &iov, 1, timeout, NULL);
}

static int tp_recv(kc_transport_t *t, int64_t timeout)
{
    kc_frame_hdr_t h;
    void *p = NULL;
    int rc = kc_transport_recv_frame(t, &h, &p, 64, timeout, NULL);
    free(p);
    return rc == 0 && h.len != 16 ? -EPROTO : rc;
}

static void tp_full(struct fix *f) /* client to server: one frame, no room */
{
    tp_pair(f);
    assert_int_equal(tp_send(f->tc, 0), 0);
}

static void tp_teardown(struct fix *f)
{
    assert_int_equal(kc_transport_close(f->tc), 0);
    assert_int_equal(kc_transport_close(f->ts), 0);
    assert_int_equal(kc_transport_close(f->tl), 0);
}

static int call_tp_accept(struct fix *f, int64_t t)
{
    go(f);
    return kc_transport_accept(f->tl, &f->ts, NULL, t, NULL);
}

static int call_tp_recv(struct fix *f, int64_t t)
{
    go(f);
    return tp_recv(f->ts, t);
}

static int call_tp_send(struct fix *f, int64_t t)
{
    go(f);
    return tp_send(f->tc, t);
}

/* A batch of one (kc_transport_send_frames; mem: has no batch of its own,
 * so this is the wrappers' loop): it needs room. */
static int call_tp_send_frames(struct fix *f, int64_t t)
{
    static const char sixteen[16] = "0123456789abcde";
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, sizeof(sixteen)};
    struct iovec iov = {(void *)(uintptr_t)sixteen, sizeof(sixteen)};
    kc_frame_out_t fo[1] = {{h, &iov, 1}};
    go(f);
    return kc_transport_send_frames(f->tc, fo, 1, t, NULL);
}

static void tp_give(struct fix *f)
{
    assert_int_equal(tp_send(f->tc, KC_NO_TIMEOUT), 0);
}

static void tp_take(struct fix *f)
{
    assert_int_equal(tp_recv(f->ts, KC_NO_TIMEOUT), 0);
}

/* ------------------------------------------------------------------ actors */

/* Every message waits for the gate, then answers 42 with status 5. */
static int gated_handler(void *state, const void *msg, void *reply)
{
    struct fix *f = state;
    (void)msg;
    uint64_t v;
    (void)kc_chan_recv(f->gate, &v, KC_NO_TIMEOUT, NULL); /* -EPIPE once open */
    if (reply != NULL)
        *(uint64_t *)reply = 42;
    return 5;
}

static void actor_setup(struct fix *f)
{
    assert_int_equal(kc_chan_make(&f->gate, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_scope_create(&f->scope, f->s, 0), 0);
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(uint64_t);
    o.reply_size = sizeof(uint64_t);
    o.mailbox = 1;
    assert_int_equal(kc_actor_start(&f->actor, f->scope, &o, gated_handler, f), 0);
}

/* The actor holds one message in its handler and one in its mailbox. */
static void actor_full(struct fix *f)
{
    actor_setup(f);
    uint64_t m = 1;
    assert_int_equal(kc_actor_tell(f->actor, &m, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_actor_tell(f->actor, &m, KC_NO_TIMEOUT, NULL), 0);
}

static void actor_teardown(struct fix *f)
{
    open_gate(f);
    assert_int_equal(kc_actor_destroy(f->actor), 0);
    assert_int_equal(kc_scope_wait(f->scope, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_scope_destroy(f->scope), 0);
    assert_int_equal(kc_chan_destroy(f->gate), 0);
}

static int call_tell(struct fix *f, int64_t t)
{
    uint64_t m = 2;
    go(f);
    return kc_actor_tell(f->actor, &m, t, NULL);
}

static int call_ask(struct fix *f, int64_t t)
{
    uint64_t m = 3, reply = 0;
    go(f);
    int rc = kc_actor_ask(f->actor, &m, &reply, t, NULL);
    return rc == 5 ? (reply == 42 ? 0 : -EPROTO) : rc < 0 ? rc : -EPROTO;
}

/* ------------------------------------------------------------ blocking pool */

/* The pool has one helper (main); this call holds it until released. */
static int occupy_fn(void *arg)
{
    struct fix *f = arg;
    atomic_store(&f->occupying, 1);
    while (!atomic_load(&f->release))
        nap_ms(1);
    return 0;
}

static void *occupier_main(void *arg)
{
    struct fix *f = arg;
    int r = -1;
    int rc = kc_run_blocking(occupy_fn, f, KC_NO_TIMEOUT, NULL, &r);
    return (void *)(intptr_t)(rc == 0 && r == 0 ? 0 : 1);
}

static void pool_busy(struct fix *f)
{
    assert_int_equal(pthread_create(&f->occupier, NULL, occupier_main, f), 0);
    while (!atomic_load(&f->occupying))
        nap_ms(1);
}

static void free_helper(struct fix *f)
{
    atomic_store(&f->release, 1);
}

static void pool_teardown(struct fix *f)
{
    free_helper(f);
    void *ret = (void *)(intptr_t)1;
    assert_int_equal(pthread_join(f->occupier, &ret), 0);
    assert_null(ret);
}

static int answer_fn(void *arg)
{
    (void)arg;
    return 77;
}

static int call_run_blocking(struct fix *f, int64_t t)
{
    int r = 0;
    go(f);
    int rc = kc_run_blocking(answer_fn, f, t, NULL, &r);
    return rc == 0 && r != 77 ? -EPROTO : rc;
}

/* ----------------------------------------------------- connections and RPC */

#define CMD_GATE 1

static int gate_rpc(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    struct fix *f = arg;
    (void)req, (void)out, (void)out_len;
    uint64_t v;
    (void)kc_chan_recv(f->gate, &v, KC_NO_TIMEOUT, req->cancel); /* -EPIPE once open */
    return 0;
}

static kc_ipc_opts_t ipc_opts(struct fix *f)
{
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = f->s;
    o.router = f->router;
    return o;
}

static void ipc_listen(struct fix *f)
{
    static _Atomic int seq;
    assert_int_equal(kc_chan_make(&f->gate, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_rpc_router_create(&f->router), 0);
    assert_int_equal(kc_rpc_router_add(f->router, CMD_GATE, gate_rpc, f), 0);
    snprintf(f->url, sizeof(f->url), "mem:timeouts-ipc-%d-%d", (int)getpid(),
             atomic_fetch_add(&seq, 1));
    kc_ipc_opts_t o = ipc_opts(f);
    assert_int_equal(kc_ipc_listen(&f->srv, f->url, &o), 0);
}

static void ipc_dial(struct fix *f)
{
    kc_ipc_opts_t o = ipc_opts(f);
    assert_int_equal(kc_ipc_connect(&f->cc, f->url, &o, KC_NO_TIMEOUT, NULL), 0);
}

static void ipc_answer(struct fix *f)
{
    assert_int_equal(kc_ipc_accept(f->srv, &f->sc, KC_NO_TIMEOUT, NULL), 0);
}

static void *dial_main(void *arg)
{
    ipc_dial(arg);
    return NULL;
}

static void ipc_pair(struct fix *f)
{
    ipc_listen(f);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dial_main, f), 0);
    ipc_answer(f);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* A request the server holds at the gate, its future not consumed. */
static void ipc_pending(struct fix *f)
{
    ipc_pair(f);
    assert_int_equal(kc_rpc_send_async(f->cc, CMD_GATE, 0, NULL, 0, NULL, &f->fut), 0);
    /* until the server has it: a GOAWAY would refuse one still on its way */
    kc_ipc_stats_t st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    for (int ms = 0; ms < HOLD_MS; ms++) {
        assert_int_equal(kc_ipc_stats(f->sc, &st), 0);
        if (st.req_received == 1)
            break;
        nap_ms(1);
    }
    assert_int_equal(st.req_received, 1);
}

static void ipc_teardown(struct fix *f)
{
    open_gate(f);
    if (f->fut != NULL) { /* answered, or -EPIPE after an expired shutdown ended the link */
        int rc = kc_rpc_await(f->fut, KC_NO_TIMEOUT, NULL, NULL, NULL, NULL);
        assert_true(rc == 0 || rc == -EPIPE);
    }
    assert_int_equal(kc_ipc_close(f->cc), 0);
    assert_int_equal(kc_ipc_close(f->sc), 0);
    assert_int_equal(kc_ipc_server_close(f->srv), 0);
    assert_int_equal(kc_rpc_router_destroy(f->router), 0);
    assert_int_equal(kc_chan_destroy(f->gate), 0);
}

static int call_ipc_accept(struct fix *f, int64_t t)
{
    go(f);
    return kc_ipc_accept(f->srv, &f->sc, t, NULL);
}

static int call_ipc_connect(struct fix *f, int64_t t)
{
    kc_ipc_opts_t o = ipc_opts(f);
    go(f);
    return kc_ipc_connect(&f->cc, f->url, &o, t, NULL);
}

static int call_wait_dead(struct fix *f, int64_t t)
{
    go(f);
    int rc = kc_ipc_wait_dead(f->cc, t, NULL);
    return rc == -EPIPE ? 0 : rc == 0 ? -EPROTO : rc; /* the peer's GOAWAY: -EPIPE */
}

static void peer_goaway(struct fix *f)
{
    assert_int_equal(kc_ipc_shutdown(f->sc, KC_NO_TIMEOUT, NULL), 0);
}

static int call_shutdown(struct fix *f, int64_t t)
{
    go(f);
    return kc_ipc_shutdown(f->cc, t, NULL);
}

static int call_rpc_await(struct fix *f, int64_t t)
{
    int rc = 1;
    go(f);
    int r = kc_rpc_await(f->fut, t, NULL, &rc, NULL, NULL);
    if (r != -EAGAIN)
        f->fut = NULL; /* consumed */
    return r == 0 && rc != 0 ? -EPROTO : r;
}

static int call_rpc_call(struct fix *f, int64_t t)
{
    void *p = NULL;
    size_t len = 1;
    go(f);
    int rc = kc_rpc_call(f->cc, CMD_GATE, 0, NULL, 0, t, NULL, &p, &len);
    return rc == 0 && (p != NULL || len != 0) ? -EPROTO : rc;
}

/* ------------------------------------------------------------------ driver */

static const struct probe probes[] = {
    {"chan_send rendezvous", chan_rv, call_send, take_elem, -EAGAIN, 0, chan_free},
    {"chan_recv rendezvous", chan_rv, call_recv, give_elem, -EAGAIN, 0, chan_free},
    {"chan_send buffered", chan_full, call_send, take_elem, -EAGAIN, 0, chan_free},
    {"chan_recv buffered", chan_empty, call_recv, give_elem, -EAGAIN, 0, chan_free},
    {"chan_send_desc", chan_desc, call_send_desc, take_desc, -EAGAIN, 0, chan_free},
    {"chan_recv_desc", chan_desc, call_recv_desc, give_desc, -EAGAIN, 0, chan_free},
    {"chan_send_ptr", chan_desc, call_send_ptr, take_desc, -EAGAIN, 0, chan_free},
    {"chan_recv_ptr", chan_desc, call_recv_ptr, give_desc, -EAGAIN, 0, chan_free},
    {"chan_select", chan_rv, call_select, give_elem, -EAGAIN, 0, chan_free},
    {"park", nothing, call_park, unpark, -ETIME, 0, nothing},
    {"sched_join", join_setup, call_join, open_gate, -ETIME, 0, join_teardown},
    {"sched_run_until_idle", idle_setup, call_idle, open_gate, -ETIME, 0, idle_teardown},
    {"scope_wait", scope_setup, call_scope, open_gate, -ETIME, 0, scope_teardown},
    {"sched_sleep", cancel_setup, call_sleep, fire, 0, -ECANCELED, cancel_teardown},
    {"io_wait", pair_setup, call_io_wait, poke, -EAGAIN, 0, pair_teardown},
    {"read", pair_setup, call_read, poke, -EAGAIN, 0, pair_teardown},
    {"recvmsg", pair_setup, call_recvmsg, poke, -EAGAIN, 0, pair_teardown},
    {"write", pair_full, call_write, drain, -EAGAIN, 0, pair_teardown},
    {"sendmsg", pair_full, call_sendmsg, drain, -EAGAIN, 0, pair_teardown},
    {"accept", listen_setup, call_accept, dial, -EAGAIN, 0, listen_teardown},
    {"connect", backlog_full, call_connect, accept_one, -EAGAIN, 0, listen_teardown},
    {"bus_recv", bus_setup, call_bus_recv, publish, -EAGAIN, 0, bus_teardown},
    {"bus_recv_batch", bus_setup, call_bus_recv_batch, publish, -EAGAIN, 0, bus_teardown},
    {"bus_recv_ticket", ticket_bus_setup, call_bus_recv_ticket, publish_ticket, -EAGAIN, 0,
     bus_teardown},
    {"transport_accept", tp_listen, call_tp_accept, tp_dial, -EAGAIN, 0, tp_teardown},
    {"transport_recv_frame", tp_pair, call_tp_recv, tp_give, -EAGAIN, 0, tp_teardown},
    {"transport_send_frame", tp_full, call_tp_send, tp_take, -EAGAIN, 0, tp_teardown},
    {"transport_send_frames", tp_full, call_tp_send_frames, tp_take, -EAGAIN, 0, tp_teardown},
    {"actor_tell", actor_full, call_tell, open_gate, -EAGAIN, 0, actor_teardown},
    {"actor_ask", actor_setup, call_ask, open_gate, -ETIME, 0, actor_teardown},
    {"run_blocking", pool_busy, call_run_blocking, free_helper, -ETIME, 0, pool_teardown},
    {"ipc_accept", ipc_listen, call_ipc_accept, ipc_dial, -EAGAIN, 0, ipc_teardown},
    {"ipc_connect", ipc_listen, call_ipc_connect, ipc_answer, -ETIME, 0, ipc_teardown},
    {"ipc_wait_dead", ipc_pair, call_wait_dead, peer_goaway, -ETIME, 0, ipc_teardown},
    {"ipc_shutdown", ipc_pending, call_shutdown, open_gate, -ETIME, 0, ipc_teardown},
    {"rpc_await", ipc_pending, call_rpc_await, open_gate, -EAGAIN, 0, ipc_teardown},
    {"rpc_call", ipc_pair, call_rpc_call, open_gate, -ETIME, 0, ipc_teardown},
};

#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static const int64_t huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2};
static const int64_t expired[] = {-5, INT64_MIN, 0};

struct run {
    struct fix *f;
    const struct probe *p;
    int64_t timeout;
    int rc;
    int provided_before; /* the action had run when the call returned */
};

static void run_call(struct run *r)
{
    r->rc = r->p->call(r->f, r->timeout);
    r->provided_before = atomic_load(&r->f->provided);
    atomic_store(&r->f->done, 1);
}

/* The action: once the caller is about to block, wait up to ms for it to
 * return; if it has not, run the action. */
static void act(struct fix *f, const struct probe *p, int ms)
{
    while (!atomic_load(&f->ready))
        nap_ms(1);
    for (int i = 0; i < ms && !atomic_load(&f->done); i++)
        nap_ms(1);
    if (!atomic_load(&f->done)) {
        atomic_store(&f->provided, 1);
        p->provide(f);
    }
}

struct actor {
    struct fix *f;
    const struct probe *p;
    int ms;
};

static void *actor_main(void *arg)
{
    struct actor *a = arg;
    act(a->f, a->p, a->ms);
    return NULL;
}

static int coro_call(void *arg)
{
    run_call(arg);
    return 0;
}

/* One call of probe p with timeout t, from a thread or a coroutine.
 * Returns 1 (and prints why) when the call broke the rule, else 0. */
static int run_one(kc_sched_t *s, const struct probe *p, int64_t t, bool coro, bool blocks)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    f.s = s;
    f.fd[0] = f.fd[1] = -1;
    p->setup(&f);
    struct run r = {&f, p, t, 0, 0};
    int ms = blocks ? WAIT_MS : HOLD_MS;
    if (coro) {
        kc_task_t *task = NULL;
        assert_int_equal(kc_sched_spawn(s, &task, coro_call, &r, NULL), 0);
        act(&f, p, ms);
        assert_int_equal(kc_sched_join(task, NULL, KC_NO_TIMEOUT, NULL), 0);
    } else {
        pthread_t th;
        struct actor a = {&f, p, ms};
        assert_int_equal(pthread_create(&th, NULL, actor_main, &a), 0);
        run_call(&r);
        assert_int_equal(pthread_join(th, NULL), 0);
    }
    int want = blocks ? p->woken : p->expired;
    int bad = r.rc != want || r.provided_before != (int)blocks;
    if (bad)
        printf("BROKEN: %s, timeout %lld, from a %s: returned %s (%d) %s the action (wanted %s "
               "%s it)\n",
               p->name, (long long)t, coro ? "coroutine" : "thread", kc_errname(r.rc), r.rc,
               r.provided_before ? "after" : "before", kc_errname(want),
               blocks ? "after" : "before");
    p->teardown(&f);
    return bad;
}

static void run_all(bool coro)
{
    kc_sched_t *s = kc_test_sched(2);
    int broken = 0, runs = 0;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        for (size_t k = 0; k < sizeof(huge) / sizeof(huge[0]); k++, runs++)
            broken += run_one(s, &probes[i], huge[k], coro, true);
        for (size_t k = 0; k < sizeof(expired) / sizeof(expired[0]); k++, runs++)
            broken += run_one(s, &probes[i], expired[k], coro, false);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(NPROBES, 37);
    assert_int_equal(runs, 37 * 6);
    assert_int_equal(broken, 0);
}

static void test_timeouts_every_blocking_call_from_a_thread(void **state)
{
    (void)state;
    run_all(false);
}

static void test_timeouts_every_blocking_call_from_a_coroutine(void **state)
{
    (void)state;
    run_all(true);
}

/* ------------------------------------------------------------------ timers */

static void count_fire(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

static void test_timeouts_timer_delay_saturates_and_negative_fires_now(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    static const int64_t delays[] = {-5, INT64_MIN, 0, INT64_MAX, INT64_MAX - 1, INT64_MAX / 2};
    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        _Atomic int fired = 0;
        kc_timer_t t;
        kc_timer_init(&t, count_fire, &fired);
        assert_int_equal(kc_timer_start(&t, s, delays[i]), 0);
        if (delays[i] <= 0) {
            for (int ms = 0; ms < HOLD_MS && atomic_load(&fired) == 0; ms++)
                nap_ms(1);
            assert_int_equal(atomic_load(&fired), 1);
            assert_int_equal(kc_timer_stop(&t), 0);
        } else {
            nap_ms(WAIT_MS);
            assert_true(kc_timer_is_pending(&t));
            assert_int_equal(kc_timer_stop(&t), 1);
            assert_int_equal(atomic_load(&fired), 0);
        }
    }
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------ deadline helpers */

static void test_timeouts_deadline_helpers_saturate_and_never_go_negative(void **state)
{
    (void)state;
    const int64_t now = 1000000000; /* any clock reading */
    /* D2: only KC_NO_TIMEOUT is "no limit"; every other negative runs out */
    assert_int_equal(kc__timeout_norm(KC_NO_TIMEOUT), KC_NO_TIMEOUT);
    assert_int_equal(kc__timeout_norm(-5), 0);
    assert_int_equal(kc__timeout_norm(INT64_MIN), 0);
    assert_int_equal(kc__timeout_norm(0), 0);
    assert_int_equal(kc__timeout_norm(INT64_MAX), INT64_MAX);
    assert_int_equal(kc__deadline_from(now, KC_NO_TIMEOUT), KC__DEADLINE_NEVER);
    assert_int_equal(kc__deadline_from(now, -5), 0);
    assert_int_equal(kc__deadline_from(now, INT64_MIN), 0);
    assert_int_equal(kc__deadline_from(now, 0), 0);
    /* D1: finite sums saturate instead of wrapping */
    assert_int_equal(kc__deadline_from(now, 5), now + 5);
    assert_int_equal(kc__deadline_from(now, INT64_MAX), KC__DEADLINE_NEVER);
    assert_int_equal(kc__deadline_from(now, INT64_MAX - 1), KC__DEADLINE_NEVER);
    assert_int_equal(kc__deadline_from(now, INT64_MAX - now - 1), INT64_MAX - 1);
    assert_int_equal(kc__deadline_from(INT64_MAX, 1), KC__DEADLINE_NEVER);
    assert_int_equal(kc__deadline_from(INT64_MIN, 7), 7);
    assert_true(kc__deadline_from(now, INT64_MAX / 2) == now + INT64_MAX / 2);
    /* D3: the time left is KC_NO_TIMEOUT or >= 0 */
    assert_int_equal(kc__deadline_left_at(KC__DEADLINE_NEVER, now), KC_NO_TIMEOUT);
    assert_int_equal(kc__deadline_left_at(now + 9, now), 9);
    assert_int_equal(kc__deadline_left_at(now, now), 0);
    assert_int_equal(kc__deadline_left_at(0, now), 0);
    assert_int_equal(kc__deadline_left_at(INT64_MAX - 1, INT64_MIN), INT64_MAX - 1);
    assert_int_equal(kc__deadline_left(0), 0);
    assert_int_equal(kc__deadline_left(KC__DEADLINE_NEVER), KC_NO_TIMEOUT);
    assert_true(kc__deadline_passed(kc__deadline_after(-5)));
    assert_false(kc__deadline_passed(kc__deadline_after(INT64_MAX - 1)));
    int64_t d = kc__deadline_after(INT64_MAX / 2);
    assert_true(d > 0 && d < KC__DEADLINE_NEVER);
    assert_true(kc__deadline_left(d) > INT64_MAX / 2 - 1000000000);
    /* poll(2) milliseconds: rounded up, saturating, -1 for no limit */
    assert_int_equal(kc__timeout_ms(KC_NO_TIMEOUT), -1);
    assert_int_equal(kc__timeout_ms(0), 0);
    assert_int_equal(kc__timeout_ms(1), 1);
    assert_int_equal(kc__timeout_ms(1000000), 1);
    assert_int_equal(kc__timeout_ms(1000001), 2);
    assert_int_equal(kc__timeout_ms(INT64_MAX), INT_MAX);
    assert_int_equal(kc__timeout_ms(INT64_MAX - 1), INT_MAX);
}

int main(void)
{
    /* One helper in the blocking pool, so that one held call makes the
     * next one wait (the run_blocking probe). */
    if (kc_blocking_configure(1, 16) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeouts_deadline_helpers_saturate_and_never_go_negative),
        cmocka_unit_test(test_timeouts_every_blocking_call_from_a_thread),
        cmocka_unit_test(test_timeouts_every_blocking_call_from_a_coroutine),
        cmocka_unit_test(test_timeouts_timer_delay_saturates_and_negative_fires_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
