/* kc_rpc.c - RPC over a connection: futures, the awaiter map, handlers.
 *
 * Caller side: a request gets the next 32-bit id (from a random start,
 * skipping ids still in the awaiter map), its future enters the map, then
 * the request is queued for tx. A future leaves the map exactly once: a
 * reply (rpc_on_reply), our own timeout or cancellation (await,
 * kc_rpc_cancel: a CANCEL frame follows), a GOAWAY that shows the peer
 * never accepted it, or the end of the connection. A reply that finds no
 * future is dropped and counted (late_replies).
 *
 * Server side: a request is refused unrun (-ECONNREFUSED while draining,
 * -EBUSY over max_handlers, -ENOTSUP without a handler, -ETIME when its
 * deadline is 0) with a control-lane reply, so rx never waits for the tx
 * queue; otherwise it runs on a task of its own with a cancellation token
 * that is a child of the connection's, fired by a timer at the caller's
 * deadline and by a CANCEL frame. The tasks are runners kept per
 * connection: one that finished a request waits idle for the next (up to
 * RUNNERS_IDLE_MAX of them), with its record and its token (replaced only
 * once it fired), so a request costs no task, record or token of its own.
 *
 *   future  event                          next  done by
 *   ------  -----------------------------  ----  -----------------------
 *   PENDING reply arrives                  DONE  rpc_on_reply
 *   PENDING await times out / cancelled    DONE  kc_rpc_await (+ CANCEL)
 *   PENDING kc_rpc_cancel                  DONE  kc_rpc_cancel (+ CANCEL)
 *   PENDING GOAWAY shows it unaccepted     DONE  rpc_refuse_after
 *   PENDING connection ends                DONE  rpc_resolve_all
 *   DONE    await / cancel consume it      -     kc_rpc_await, kc_rpc_cancel
 */
#include "kc_ipc_impl.h"

#include "base/kc_bytes.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- wire status */

KC_API uint16_t kc_rpc_status_to_wire(int rc)
{
    if (rc >= 0)
        return KC_RPC_WIRE_OK; /* a handler's non-negative status */
    if (rc == INT_MIN)
        return KC_RPC_WIRE_OTHER; /* -INT_MIN is no int: never negate it */
    switch (-rc) {
    case EAGAIN:
        return KC_RPC_WIRE_EAGAIN;
    case ETIME:
        return KC_RPC_WIRE_ETIME;
    case ECANCELED:
        return KC_RPC_WIRE_ECANCELED;
    case EPIPE:
        return KC_RPC_WIRE_EPIPE;
    case ECONNREFUSED:
        return KC_RPC_WIRE_ECONNREFUSED;
    case ECONNRESET:
        return KC_RPC_WIRE_ECONNRESET;
    case EMSGSIZE:
        return KC_RPC_WIRE_EMSGSIZE;
    case EPROTO:
        return KC_RPC_WIRE_EPROTO;
    case EBUSY:
        return KC_RPC_WIRE_EBUSY;
    case ENOTSUP:
        return KC_RPC_WIRE_ENOTSUP;
    case EINVAL:
        return KC_RPC_WIRE_EINVAL;
    case ENOMEM:
        return KC_RPC_WIRE_ENOMEM;
    default:
        return KC_RPC_WIRE_OTHER;
    }
}

KC_API int kc_rpc_status_from_wire(uint16_t st)
{
    static const int map[] = {0,           -EAGAIN,   -ETIME,  -ECANCELED, -EPIPE,   -ECONNREFUSED,
                              -ECONNRESET, -EMSGSIZE, -EPROTO, -EBUSY,     -ENOTSUP, -EINVAL,
                              -ENOMEM};
    return st < sizeof map / sizeof map[0] ? map[st] : -EIO;
}

void kc__rpc_prefix_put(uint8_t *p, uint16_t cmd, uint16_t status, uint32_t deadline_us)
{
    kc__put_be16(p, cmd);
    kc__put_be16(p + 2, status);
    kc__put_be32(p + 4, deadline_us);
}

void kc__rpc_prefix_get(const uint8_t *p, uint16_t *cmd, uint16_t *status, uint32_t *deadline_us)
{
    *cmd = kc__get_be16(p);
    *status = kc__get_be16(p + 2);
    *deadline_us = kc__get_be32(p + 4);
}

/* A relative timeout as the wire's microseconds, rounded up. */
static uint32_t deadline_us(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return KC_RPC_NO_DEADLINE;
    int64_t us = timeout_ns / 1000 + (timeout_ns % 1000 != 0);
    return us >= (int64_t)KC_RPC_NO_DEADLINE ? KC_RPC_NO_DEADLINE : (uint32_t)us;
}

/* ---- router */

struct route {
    uint16_t cmd;
    uint32_t flags;
    kc_rpc_handler_t fn;
    void *arg;
};

struct kc_rpc_router {
    pthread_rwlock_t lock;
    struct route *r;
    size_t n, cap;
};

KC_API int kc_rpc_router_create(kc_rpc_router_t **out)
{
    if (out == NULL)
        return -EINVAL;
    kc_rpc_router_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    pthread_rwlock_init(&r->lock, NULL);
    *out = r;
    return 0;
}

KC_API int kc_rpc_router_add(kc_rpc_router_t *r, uint16_t cmd, kc_rpc_handler_t fn, void *arg)
{
    return kc_rpc_router_add_flags(r, cmd, fn, arg, 0);
}

KC_API int kc_rpc_router_add_flags(kc_rpc_router_t *r, uint16_t cmd, kc_rpc_handler_t fn, void *arg,
                                   uint32_t flags)
{
    if (r == NULL || fn == NULL || (flags & ~KC_RPC_INLINE) != 0)
        return -EINVAL;
    int rc = 0;
    pthread_rwlock_wrlock(&r->lock);
    size_t i = 0;
    while (i < r->n && r->r[i].cmd != cmd)
        i++;
    if (i == r->n) {
        if (r->n == r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 8;
            struct route *nr = realloc(r->r, ncap * sizeof *nr);
            if (nr == NULL) {
                rc = -ENOMEM;
                goto out_unlock;
            }
            r->r = nr;
            r->cap = ncap;
        }
        r->n++;
    }
    r->r[i] = (struct route){cmd, flags, fn, arg};
out_unlock:
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

KC_API int kc_rpc_router_destroy(kc_rpc_router_t *r)
{
    if (r == NULL)
        return 0;
    pthread_rwlock_destroy(&r->lock);
    free(r->r);
    free(r);
    return 0;
}

static bool route_find(kc_rpc_router_t *r, uint16_t cmd, kc_rpc_handler_t *fn, void **arg,
                       uint32_t *flags)
{
    if (r == NULL)
        return false;
    bool found = false;
    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; i < r->n && !found; i++) {
        if (r->r[i].cmd == cmd) {
            *fn = r->r[i].fn;
            *arg = r->r[i].arg;
            *flags = r->r[i].flags;
            found = true;
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return found;
}

/* ---- caller side */

#define FUT(n) ((struct kc_rpc_future *)(void *)(n))

/* Mark f done with rc and wake its waiter (lock held; f out of the map). */
static void resolve(struct kc_rpc_future *f, int rc)
{
    f->state = FUT_DONE;
    f->rc = rc;
    if (f->waiter) {
        kc_unpark(f->waiter);
        f->waiter = NULL;
    }
}

static void rpc_resolve_all(kc_ipc_conn_t *c, int rc)
{
    struct kc_idmap_node *n;
    while ((n = kc__idmap_pop(&c->awaiters)) != NULL)
        resolve(FUT(n), rc);
    /* The idle runners end too (under the lock, as they read stop). */
    struct kc_ipc_handler *h;
    while ((h = c->idle) != NULL) {
        c->idle = h->idle_next;
        c->idle_count--;
        atomic_store_explicit(&h->stop, true, memory_order_release);
        kc_unpark(&h->park);
    }
}

static void rpc_refuse_after(kc_ipc_conn_t *c, bool any, uint32_t last)
{
    struct kc_idmap *m = &c->awaiters;
    for (uint32_t i = 0; i <= m->mask; i++) {
        struct kc_idmap_node **pp = &m->b[i];
        while (*pp) {
            struct kc_idmap_node *n = *pp;
            /* Ids grow by one per request; serial-number order says which
             * were sent after the last one the peer accepted. */
            if (!any || (int32_t)(n->id - last) > 0) {
                *pp = n->next;
                n->next = NULL;
                m->count--;
                resolve(FUT(n), -ECONNREFUSED);
            } else {
                pp = &n->next;
            }
        }
    }
    kc__ipc_wake_state(c);
}

static void rpc_on_reply(kc_ipc_conn_t *c, uint32_t id, uint8_t *buf, size_t len)
{
    uint16_t cmd, st;
    uint32_t dl;
    kc__rpc_prefix_get(buf, &cmd, &st, &dl);
    pthread_mutex_lock(&c->lock);
    struct kc_idmap_node *n = kc__idmap_find(&c->awaiters, id);
    if (n == NULL) {
        c->late_replies++;
        pthread_mutex_unlock(&c->lock);
        free(buf);
        return;
    }
    kc__idmap_del(&c->awaiters, n);
    c->replies_taken++;
    struct kc_rpc_future *f = FUT(n);
    int rc = kc_rpc_status_from_wire(st);
    if (rc == 0) {
        f->buf = buf;
        f->len = len;
        buf = NULL;
    }
    resolve(f, rc);
    if (c->awaiters.count == 0)
        kc__ipc_wake_state(c);
    pthread_mutex_unlock(&c->lock);
    free(buf);
}

/* Register a future, then send or queue the request. wire_dl is the
 * deadline the request carries; queue_timeout bounds the wait for room in
 * the queue. `call`: the caller waits for the reply next (kc_rpc_call), so
 * nothing of its own would batch with the request. */
static int send_req(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                    size_t len, uint32_t wire_dl, int64_t queue_timeout, int64_t deadline,
                    const kc_cancel_t *cancel, bool call, uint32_t *out_req_id,
                    kc_rpc_future_t **out_future)
{
    if (c == NULL || out_future == NULL || (len > 0 && payload == NULL))
        return -EINVAL;
    if (len > (size_t)c->neg.max_msg - KC_RPC_PREFIX_SIZE)
        return -EMSGSIZE;
    struct kc_rpc_future *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    f->conn = c;
    f->deadline = deadline;
    pthread_mutex_lock(&c->lock);
    if (c->state != IPC_OPEN) {
        pthread_mutex_unlock(&c->lock);
        free(f);
        return -EPIPE;
    }
    uint32_t id = c->next_id++;
    while (kc__idmap_find(&c->awaiters, id) != NULL)
        id = c->next_id++; /* never reuse an id the peer may still answer */
    f->node.id = id;
    kc__idmap_put(&c->awaiters, &f->node);
    c->req_sent++;
    kc__ipc_ref(c);
    pthread_mutex_unlock(&c->lock);
    uint8_t pre[KC_RPC_PREFIX_SIZE];
    kc__rpc_prefix_put(pre, cmd, 0, wire_dl);
    /* A call, the lone request of a quiet connection, is written by its
     * caller, at once and whole or not at all (no copy into the queue, no
     * hop through tx). Asynchronous sends (a window of them would go out
     * one system call each), a link with no room, or requests in flight
     * go through the queue, where tx sends them in batches. */
    int rc = call ? kc__ipc_send_direct(c, KC_FRAME_REQUEST, chan_id, id, pre, payload, len, 0) : 1;
    if (rc < 0)
        rc = 0; /* the link failed and the connection died: it resolved f */
    else if (rc == 1)
        rc = kc__ipc_enqueue(c, KC_FRAME_REQUEST, chan_id, id, pre, payload, len, false,
                             queue_timeout, cancel);
    if (rc < 0) {
        pthread_mutex_lock(&c->lock);
        if (f->state == FUT_PENDING)
            kc__idmap_del(&c->awaiters, &f->node);
        c->req_sent--;
        pthread_mutex_unlock(&c->lock);
        kc__ipc_unref(c);
        free(f);
        return rc;
    }
    if (out_req_id)
        *out_req_id = id;
    *out_future = f;
    return 0;
}

KC_API int kc_rpc_send_timed(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                             size_t len, int64_t timeout_ns, const kc_cancel_t *cancel,
                             uint32_t *out_req_id, kc_rpc_future_t **out_future)
{
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    return send_req(c, cmd, chan_id, payload, len, deadline_us(timeout_ns), timeout_ns,
                    kc__tp_deadline(timeout_ns), cancel, false, out_req_id, out_future);
}

KC_API int kc_rpc_send_async(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                             size_t len, uint32_t *out_req_id, kc_rpc_future_t **out_future)
{
    return send_req(c, cmd, chan_id, payload, len, KC_RPC_NO_DEADLINE, 0, -1, NULL, false,
                    out_req_id, out_future);
}

/* Take f out of the map if it is still pending (lock held); true if so. */
static bool abandon(kc_ipc_conn_t *c, struct kc_rpc_future *f, int rc)
{
    if (f->state != FUT_PENDING)
        return false;
    kc__idmap_del(&c->awaiters, &f->node);
    resolve(f, rc);
    if (c->awaiters.count == 0)
        kc__ipc_wake_state(c);
    return true;
}

static void consume(struct kc_rpc_future *f, bool send_cancel)
{
    kc_ipc_conn_t *c = f->conn;
    if (send_cancel)
        kc__ipc_enqueue(c, KC_FRAME_CANCEL, 0, f->node.id, NULL, NULL, 0, true, 0, NULL);
    free(f->buf);
    free(f);
    kc__ipc_unref(c);
}

KC_API int kc_rpc_await(kc_rpc_future_t *f, int64_t timeout_ns, const kc_cancel_t *cancel,
                        int *out_rc, void **out_payload, size_t *out_len)
{
    if (f == NULL)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    kc_ipc_conn_t *c = f->conn;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_parker_t pk;
    kc_parker_init(&pk);
    bool cancel_peer = false;
    pthread_mutex_lock(&c->lock);
    while (f->state == FUT_PENDING) {
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0) {
            pthread_mutex_unlock(&c->lock);
            return -EAGAIN; /* polled: not consumed */
        }
        int r = -ETIME;
        if (!(timeout_ns > 0 && left == 0)) {
            f->waiter = &pk;
            pthread_mutex_unlock(&c->lock);
            r = kc_park(&pk, left, cancel);
            pthread_mutex_lock(&c->lock);
            f->waiter = NULL;
        }
        if (r < 0 && f->state == FUT_PENDING) {
            int64_t now = (int64_t)kc__port_now_ns();
            bool past =
                (deadline >= 0 && now >= deadline) || (f->deadline >= 0 && now >= f->deadline);
            if (r == -ECANCELED && past)
                r = -ETIME; /* cancelled after its deadline: a timeout */
            cancel_peer = abandon(c, f, r);
        }
    }
    pthread_mutex_unlock(&c->lock);
    int rc = f->rc;
    if (out_rc)
        *out_rc = rc;
    if (out_payload)
        *out_payload = NULL;
    if (out_len)
        *out_len = 0;
    if (rc == 0 && f->buf != NULL) {
        size_t n = f->len - KC_RPC_PREFIX_SIZE;
        if (out_payload && n > 0) {
            memmove(f->buf, f->buf + KC_RPC_PREFIX_SIZE, n);
            *out_payload = f->buf;
            f->buf = NULL;
        }
        if (out_len)
            *out_len = n;
    }
    consume(f, cancel_peer);
    return rc;
}

KC_API int kc_rpc_cancel(kc_rpc_future_t *f)
{
    if (f == NULL)
        return 0;
    kc_ipc_conn_t *c = f->conn;
    pthread_mutex_lock(&c->lock);
    bool was = abandon(c, f, -ECANCELED);
    pthread_mutex_unlock(&c->lock);
    consume(f, was);
    return 0;
}

KC_API int kc_rpc_call(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                       size_t len, int64_t timeout_ns, const kc_cancel_t *cancel,
                       void **out_payload, size_t *out_len)
{
    if (out_payload)
        *out_payload = NULL;
    if (out_len)
        *out_len = 0;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_rpc_future_t *f;
    int rc = send_req(c, cmd, chan_id, payload, len, deadline_us(timeout_ns), timeout_ns, deadline,
                      cancel, true, NULL, &f);
    if (rc < 0)
        return rc;
    int64_t left = timeout_ns < 0 ? KC_NO_TIMEOUT : kc__tp_left(deadline);
    if (timeout_ns > 0 && left == 0)
        left = 1; /* the deadline passed while queueing: one last look */
    if (timeout_ns == 0)
        left = 1;
    return kc_rpc_await(f, left, cancel, NULL, out_payload, out_len);
}

/* ---- server side */

/* Runners a connection keeps idle (tasks that ran a request and wait for
 * the next instead of ending): a window of 64 requests in flight is served
 * by 64 tasks created once. */
enum {
    RUNNERS_IDLE_MAX = 64
};

static void on_deadline(void *arg)
{
    struct kc_ipc_handler *h = arg;
    /* relaxed: read by the handler task after its token fired, which
     * orders it (the trigger and the park it ends synchronise). */
    atomic_store_explicit(&h->deadline_fired, true, memory_order_relaxed);
    kc_cancel_trigger(h->cancel);
}

/* Free an inline handler's record and what it holds, after its reply went
 * out or was queued (or the connection died): it leaves the handler map. */
static void retire(struct kc_ipc_handler *h)
{
    kc_ipc_conn_t *c = h->conn;
    pthread_mutex_lock(&c->lock);
    kc__idmap_del(&c->handlers, &h->node);
    kc__ipc_wake_state(c);
    pthread_mutex_unlock(&c->lock);
    free(h->msg);
    free(h);
    kc__ipc_unref(c);
}

/* h's handler returned rc with (out, out_len): check the reply and build
 * its prefix in pre; rc becomes the status sent. */
static int reply_check(struct kc_ipc_handler *h, int rc, void **out, size_t *out_len, uint8_t *pre)
{
    kc_ipc_conn_t *c = h->conn;
    if (rc > 0)
        rc = 0;
    if (rc < 0 || *out_len > (size_t)c->neg.max_msg - KC_RPC_PREFIX_SIZE ||
        (*out_len > 0 && *out == NULL)) {
        if (rc == 0)
            rc = *out == NULL ? -EINVAL : -EMSGSIZE;
        free(*out);
        *out = NULL;
        *out_len = 0;
    }
    kc__rpc_prefix_put(pre, h->req.cmd, kc_rpc_status_to_wire(rc), 0);
    return rc;
}

/* The task that queues the reply of an inline handler that found the
 * queue full. */
static int reply_main(void *arg)
{
    struct kc_ipc_handler *h = arg;
    kc_ipc_conn_t *c = h->conn;
    uint8_t pre[KC_RPC_PREFIX_SIZE];
    reply_check(h, h->rc, &h->out, &h->out_len, pre);
    kc__ipc_enqueue(c, KC_FRAME_REPLY, h->req.chan_id, h->req.req_id, pre, h->out, h->out_len,
                    false, KC_NO_TIMEOUT, c->life);
    free(h->out);
    retire(h);
    return 0;
}

/* Run h's request on its runner: the handler, then its reply. */
static void run_request(struct kc_ipc_handler *h)
{
    kc_ipc_conn_t *c = h->conn;
    uint8_t pre[KC_RPC_PREFIX_SIZE];
    void *out = NULL;
    size_t out_len = 0;
    int rc = h->fn(&h->req, h->arg, &out, &out_len);
    if (h->timed)
        kc_timer_stop(&h->timer); /* waits for a firing callback to end */
    if (rc == -ECANCELED && atomic_load_explicit(&h->deadline_fired, memory_order_relaxed))
        rc = -ETIME;
    reply_check(h, rc, &out, &out_len, pre);
    /* Send or queue the reply before leaving the handler map, so a
     * draining shutdown never sees "no handlers" with the reply not yet
     * queued. The lone handler of a quiet connection writes its reply
     * itself: no copy into the queue, no hop through tx. */
    if (kc__ipc_send_direct(c, KC_FRAME_REPLY, h->req.chan_id, h->req.req_id, pre, out, out_len,
                            KC_NO_TIMEOUT) == 1)
        kc__ipc_enqueue(c, KC_FRAME_REPLY, h->req.chan_id, h->req.req_id, pre, out, out_len, false,
                        KC_NO_TIMEOUT, c->life);
    free(out);
    free(h->msg);
    h->msg = NULL;
}

/* Put runner h on the idle list (lock held); false when it should end
 * instead: the connection ended, or enough runners wait already. */
static bool go_idle(kc_ipc_conn_t *c, struct kc_ipc_handler *h)
{
    if (c->state == IPC_DEAD || c->idle_count >= RUNNERS_IDLE_MAX)
        return false;
    atomic_store_explicit(&h->has_job, false, memory_order_relaxed);
    h->idle_next = c->idle;
    c->idle = h;
    c->idle_count++;
    return true;
}

/* A runner: runs the request rpc_on_request gave it, then waits idle for
 * the next one (rpc_on_request hands it over under the lock and unparks
 * it), until the connection ends (rpc_resolve_all sets stop) or the idle
 * list is full. Its token is reused while it has not fired; one that fired
 * (a CANCEL, a deadline) is replaced once the request left the map, where
 * nothing can fire it any more. Holds one reference for its whole life. */
static int runner_main(void *arg)
{
    struct kc_ipc_handler *h = arg;
    kc_ipc_conn_t *c = h->conn;
    kc_parker_init(&h->park);
    for (;;) {
        run_request(h);
        pthread_mutex_lock(&c->lock);
        kc__idmap_del(&c->handlers, &h->node);
        kc__ipc_wake_state(c);
        bool fired = kc_cancel_is_triggered(h->cancel);
        bool idle = !fired && go_idle(c, h);
        pthread_mutex_unlock(&c->lock);
        if (fired) {
            kc_cancel_destroy(h->cancel);
            h->cancel = NULL;
            if (kc_cancel_create(&h->cancel, c->life) < 0)
                break;
            pthread_mutex_lock(&c->lock);
            idle = go_idle(c, h);
            pthread_mutex_unlock(&c->lock);
        }
        if (!idle)
            break;
        /* acquire: pairs with the release store of whoever handed over the
         * request (its fields) or said stop; a wake that carried neither
         * parks again. */
        bool job, stop;
        do {
            kc_park(&h->park, KC_NO_TIMEOUT, NULL);
            job = atomic_load_explicit(&h->has_job, memory_order_acquire);
            stop = atomic_load_explicit(&h->stop, memory_order_acquire);
        } while (!job && !stop);
        if (!job) {
            /* rpc_resolve_all unparks under the lock: once we hold it, its
             * kc_unpark of h->park has returned (h may go). */
            pthread_mutex_lock(&c->lock);
            pthread_mutex_unlock(&c->lock);
            break;
        }
    }
    kc_cancel_destroy(h->cancel);
    free(h);
    kc__ipc_unref(c);
    return 0;
}

enum {
    INLINE_DIRECT_MAX = 4096,
    INLINE_BURST = 16
};

/* Run an inline handler on rx, then send its reply (directly when the
 * link is free), queue it if there is room, or leave it to a task that
 * waits for room: rx itself never waits for the queue. */
static void run_inline(struct kc_ipc_handler *h)
{
    kc_ipc_conn_t *c = h->conn;
    void *out = NULL;
    size_t out_len = 0;
    int rc = h->fn(&h->req, h->arg, &out, &out_len);
    uint8_t pre[KC_RPC_PREFIX_SIZE];
    rc = reply_check(h, rc, &out, &out_len, pre);
    /* Nothing more to read: a small reply goes out now, as a lone
     * handler's does, if the link takes it at once (rx never waits for the
     * link to drain; a frame of at most INLINE_DIRECT_MAX bytes goes into
     * a unix socket whole or not at all). More requests held: queue it, so
     * the replies to the ones rx runs next leave with it in one batch. */
    int q = 1;
    if (out_len <= INLINE_DIRECT_MAX && kc_transport_pending(c->tp) == 0)
        q = kc__ipc_send_direct(c, KC_FRAME_REPLY, h->req.chan_id, h->req.req_id, pre, out, out_len,
                                0);
    if (q == 1) {
        q = kc__ipc_enqueue(c, KC_FRAME_REPLY, h->req.chan_id, h->req.req_id, pre, out, out_len,
                            false, 0, NULL);
        /* A long burst: let tx send what is queued every INLINE_BURST
         * replies, so the peer gets the first answers while rx reads on
         * (replies held until the whole burst is read turn a window of
         * requests into lockstep batches). */
        if (q == 0 && ++c->inline_queued % INLINE_BURST == 0)
            kc_sched_yield();
    }
    if (q == -EAGAIN) {
        h->rc = rc;
        h->out = out;
        h->out_len = out_len;
        kc_task_t *t;
        kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
        a.name = "ipc-reply";
        if (kc_sched_spawn(c->sched, &t, reply_main, h, &a) == 0) {
            kc_sched_detach(t);
            return;
        }
        /* No task: the reply is lost; the caller gets its timeout or the
         * connection's end. Counted as refused. */
        pthread_mutex_lock(&c->lock);
        c->refused++;
        pthread_mutex_unlock(&c->lock);
    }
    free(out);
    retire(h);
}

static void refuse(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, uint32_t id, int rc)
{
    uint8_t pre[KC_RPC_PREFIX_SIZE];
    kc__rpc_prefix_put(pre, cmd, kc_rpc_status_to_wire(rc), 0);
    kc__ipc_enqueue(c, KC_FRAME_REPLY, chan_id, id, pre, NULL, 0, true, 0, NULL);
}

/* A record for a request (lock held): an idle runner's (*reused), or a
 * new one, with a token of its own for a task handler (NULL: no memory). */
static struct kc_ipc_handler *take_record(kc_ipc_conn_t *c, bool inline_run, bool *reused)
{
    struct kc_ipc_handler *h = c->idle;
    *reused = !inline_run && h != NULL;
    if (*reused) {
        c->idle = h->idle_next;
        c->idle_count--;
        return h;
    }
    if ((h = calloc(1, sizeof *h)) == NULL)
        return NULL;
    if (inline_run) {
        h->cancel = c->life; /* no token of its own: nothing can fire one */
    } else if (kc_cancel_create(&h->cancel, c->life) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

static void rpc_on_request(kc_ipc_conn_t *c, uint32_t chan_id, uint32_t id, uint8_t *buf,
                           size_t len)
{
    uint16_t cmd, st;
    uint32_t dl;
    kc__rpc_prefix_get(buf, &cmd, &st, &dl);
    kc_rpc_handler_t fn = NULL;
    void *arg = NULL;
    uint32_t flags = 0;
    int why = 0;
    pthread_mutex_lock(&c->lock);
    c->req_received++;
    if (c->state == IPC_DEAD) {
        pthread_mutex_unlock(&c->lock);
        free(buf);
        return;
    }
    if (c->state != IPC_OPEN)
        why = -ECONNREFUSED;
    else if (c->handlers.count >= c->max_handlers || kc__idmap_find(&c->handlers, id))
        why = -EBUSY;
    else if (!route_find(c->router, cmd, &fn, &arg, &flags))
        why = -ENOTSUP;
    else if (dl == 0)
        why = -ETIME;
    bool inline_run = (flags & KC_RPC_INLINE) != 0, reused = false;
    struct kc_ipc_handler *h = NULL;
    if (why == 0 && (h = take_record(c, inline_run, &reused)) == NULL)
        why = -ENOMEM;
    if (why < 0) {
        c->refused++;
        pthread_mutex_unlock(&c->lock);
        free(buf);
        refuse(c, cmd, chan_id, id, why);
        return;
    }
    c->accepted_any = true;
    c->last_accepted = id;
    h->node.id = id;
    h->conn = c;
    h->fn = fn;
    h->arg = arg;
    h->msg = buf;
    h->req = (kc_rpc_req_t){
        c, cmd, chan_id, id, buf + KC_RPC_PREFIX_SIZE, len - KC_RPC_PREFIX_SIZE, h->cancel};
    h->inline_run = inline_run;
    h->cancelled_by_peer = false;
    atomic_store_explicit(&h->deadline_fired, false, memory_order_relaxed);
    kc__idmap_put(&c->handlers, &h->node);
    if (!reused)
        kc__ipc_ref(c); /* an inline request's, or the new runner's for its life */
    /* The deadline runs from now; armed before the runner may see it. */
    h->timed = !inline_run && dl != KC_RPC_NO_DEADLINE;
    if (h->timed) {
        kc_timer_init(&h->timer, on_deadline, h);
        kc_timer_start(&h->timer, c->sched, (int64_t)dl * 1000);
    }
    if (reused) {
        /* release: the request's fields above before the runner reads them */
        atomic_store_explicit(&h->has_job, true, memory_order_release);
        kc_unpark(&h->park); /* under the lock: the runner cannot end meanwhile */
    }
    pthread_mutex_unlock(&c->lock);
    if (inline_run) {
        run_inline(h);
        return;
    }
    if (reused)
        return;
    kc_task_t *t;
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    a.name = "ipc-handler";
    if (kc_sched_spawn(c->sched, &t, runner_main, h, &a) == 0) {
        kc_sched_detach(t);
        return;
    }
    if (h->timed)
        kc_timer_stop(&h->timer);
    pthread_mutex_lock(&c->lock);
    kc__idmap_del(&c->handlers, &h->node);
    c->refused++;
    pthread_mutex_unlock(&c->lock);
    kc_cancel_destroy(h->cancel);
    free(h);
    free(buf);
    refuse(c, cmd, chan_id, id, -ENOMEM);
    kc__ipc_unref(c);
}

static void rpc_on_cancel(kc_ipc_conn_t *c, uint32_t id)
{
    pthread_mutex_lock(&c->lock);
    c->cancels_in++;
    struct kc_idmap_node *n = kc__idmap_find(&c->handlers, id);
    if (n != NULL) {
        struct kc_ipc_handler *h = (struct kc_ipc_handler *)(void *)n;
        h->cancelled_by_peer = true;
        if (!h->inline_run)               /* an inline one's token is the connection's */
            kc_cancel_trigger(h->cancel); /* safe: h stays in the map until its token is gone */
    }
    pthread_mutex_unlock(&c->lock);
}

const kc__ipc_msg_ops_t kc__rpc_msg_ops = {
    .on_request = rpc_on_request,
    .on_reply = rpc_on_reply,
    .on_cancel = rpc_on_cancel,
    .resolve_all = rpc_resolve_all,
    .refuse_after = rpc_refuse_after,
};
