/* kc_transport_mem.c - the in-process backend ("mem:name").
 *
 * A listener registers its name in a process-wide table; connect creates a
 * pair of endpoints joined by two frame queues (one per direction) and hands
 * one end to the listener's accept queue. A frame is copied once, into a
 * single allocation whose front is the payload the receiver is GIVEN (the
 * queue node sits behind it), so receiving copies nothing. Each direction
 * buffers at most `sndbuf` payload bytes (one frame always fits, whatever
 * its size), so a sender to a slow reader parks, like a socket's. Waiting
 * uses kcoro/park.h, so coroutines park and threads block.
 *
 * Waiting protocol (one waiter per role, as on a socket): the waiter
 * publishes its parker under the queue's mutex and parks outside it; the
 * waker clears the slot and calls kc_unpark() while holding the mutex, so a
 * waiter that re-takes the mutex knows no unpark of its parker is pending.
 *
 *   direction state   event                        next      done by
 *   ---------------   ---------------------------  --------  -------------
 *   OPEN              sender's end closed          DRAINING  mem_close
 *   OPEN              receiver's end closed        DEAD      mem_close
 *   DRAINING          last queued frame received   EOF       mem_recv_frame
 *   DRAINING          receiver's end closed        DEAD      mem_close
 */
#include "kc_transport_impl.h"

#include "kcoro/park.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    KIND_EP = 0x4d455031,
    KIND_LISTENER = 0x4d4c5331
};
enum {
    DEFAULT_SNDBUF = 256 * 1024,
    MAX_NAME = 64
};

struct mem_frame {
    struct mem_frame *next;
    kc_frame_hdr_t hdr;
    void *block; /* the allocation: payload first, this node behind it */
};

struct mem_dir {
    pthread_mutex_t lock;
    struct mem_frame *head, *tail;
    size_t bytes, cap;
    bool writer_closed, reader_closed;
    kc_parker_t *reader, *writer;
};

struct mem_limit {
    _Atomic uint32_t refs;
    _Atomic uint32_t live;
};

struct mem_pair {
    _Atomic uint32_t refs;
    struct mem_dir dir[2]; /* dir[s]: side s sends, side 1-s receives */
};

struct mem_ep {
    uint32_t kind;
    int side;
    int recv_err;
    struct mem_pair *pair;
    struct mem_limit *limit;
};

struct mem_listener {
    uint32_t kind;
    char name[MAX_NAME];
    struct mem_listener *next; /* the name table */
    pthread_mutex_t lock;
    struct mem_ep *queue[128]; /* accepted-side ends waiting for accept */
    unsigned qhead, qlen, backlog;
    bool closed;
    kc_parker_t *acceptor;
    uint32_t max_conns;
    struct mem_limit *limit;
    _Atomic uint64_t accepted, refused_limit;
    _Atomic unsigned logged;
};

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_listener *names;

static struct mem_listener *find_name(const char *name)
{
    for (struct mem_listener *l = names; l; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

static void limit_put(struct mem_limit *l)
{
    /* acq_rel: the last owner's release of refs pairs with this acquire
     * before the free. */
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

static int mem_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    if (addr[0] == '\0' || strlen(addr) >= MAX_NAME)
        return -EINVAL;
    struct mem_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    l->limit = calloc(1, sizeof *l->limit);
    if (l->limit == NULL) {
        free(l);
        return -ENOMEM;
    }
    atomic_init(&l->limit->refs, 1);
    l->kind = KIND_LISTENER;
    memcpy(l->name, addr, strlen(addr) + 1);
    pthread_mutex_init(&l->lock, NULL);
    l->backlog = o->backlog && o->backlog < 128 ? o->backlog : 128;
    l->max_conns = o->max_conns ? o->max_conns : 1024;
    pthread_mutex_lock(&names_lock);
    bool taken = find_name(addr) != NULL;
    if (!taken) {
        l->next = names;
        names = l;
    }
    pthread_mutex_unlock(&names_lock);
    if (taken) {
        pthread_mutex_destroy(&l->lock);
        free(l->limit);
        free(l);
        return -EBUSY;
    }
    *self = l;
    return 0;
}

static void dir_init(struct mem_dir *d, size_t cap)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->cap = cap;
}

static struct mem_ep *new_ep(struct mem_pair *p, int side)
{
    struct mem_ep *e = calloc(1, sizeof *e);
    if (e != NULL) {
        e->kind = KIND_EP;
        e->side = side;
        e->pair = p;
    }
    return e;
}

static void mem_close(void *self);

static int mem_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    (void)timeout_ns;
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    if (addr[0] == '\0' || strlen(addr) >= MAX_NAME)
        return -EINVAL;
    struct mem_pair *p = malloc(sizeof *p);
    struct mem_ep *mine = p ? new_ep(p, 0) : NULL;
    struct mem_ep *theirs = mine ? new_ep(p, 1) : NULL;
    if (theirs == NULL) {
        free(mine);
        free(p);
        return -ENOMEM;
    }
    atomic_init(&p->refs, 2);
    size_t cap = o->sndbuf ? o->sndbuf : DEFAULT_SNDBUF;
    dir_init(&p->dir[0], cap);
    dir_init(&p->dir[1], cap);
    int rc = -ECONNREFUSED;
    pthread_mutex_lock(&names_lock);
    struct mem_listener *l = find_name(addr);
    if (l != NULL) {
        pthread_mutex_lock(&l->lock);
        if (!l->closed && l->qlen < l->backlog) {
            l->queue[(l->qhead + l->qlen++) % 128] = theirs;
            if (l->acceptor) {
                kc_unpark(l->acceptor);
                l->acceptor = NULL;
            }
            rc = 0;
        }
        pthread_mutex_unlock(&l->lock);
    }
    pthread_mutex_unlock(&names_lock);
    if (rc < 0) {
        mem_close(theirs);
        mem_close(mine);
        return rc;
    }
    *self = mine;
    return 0;
}

static int mem_accept(void *self, void **out, kc_transport_peer_t *peer, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    struct mem_listener *l = self;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_parker_t pk;
    kc_parker_init(&pk);
    pthread_mutex_lock(&l->lock);
    for (;;) {
        if (l->qlen > 0) {
            struct mem_ep *e = l->queue[l->qhead];
            l->qhead = (l->qhead + 1) % 128;
            l->qlen--;
            /* relaxed: the count is the only shared state. */
            uint32_t live = atomic_fetch_add_explicit(&l->limit->live, 1, memory_order_relaxed);
            if (live >= l->max_conns) {
                atomic_fetch_sub_explicit(&l->limit->live, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&l->refused_limit, 1, memory_order_relaxed);
                pthread_mutex_unlock(&l->lock);
                kc__tp_log_refusal(&l->logged, KC_TP_REFUSED_LIMIT, "mem:", "connection limit");
                mem_close(e);
                pthread_mutex_lock(&l->lock);
                continue;
            }
            atomic_fetch_add_explicit(&l->limit->refs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
            e->limit = l->limit;
            pthread_mutex_unlock(&l->lock);
            peer->has_cred = true;
            peer->uid = (uint32_t)geteuid();
            peer->gid = (uint32_t)getegid();
            peer->pid = (int32_t)getpid();
            snprintf(peer->name, sizeof peer->name, "mem:%s", l->name);
            *out = e;
            return 0;
        }
        if (l->closed) {
            pthread_mutex_unlock(&l->lock);
            return -EPIPE;
        }
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0 || (left == 0 && timeout_ns > 0)) {
            pthread_mutex_unlock(&l->lock);
            return timeout_ns == 0 ? -EAGAIN : -ETIME;
        }
        if (l->acceptor != NULL) {
            pthread_mutex_unlock(&l->lock);
            return -EBUSY;
        }
        l->acceptor = &pk;
        pthread_mutex_unlock(&l->lock);
        int rc = kc_park(&pk, left, cancel);
        pthread_mutex_lock(&l->lock);
        if (l->acceptor == &pk)
            l->acceptor = NULL;
        if (rc < 0 && l->qlen == 0) {
            pthread_mutex_unlock(&l->lock);
            return rc;
        }
    }
}

/* Park as the reader or writer of d; called and returns with d->lock held.
 * Returns 0 or kc_park's error. */
static int dir_wait(struct mem_dir *d, kc_parker_t **slot, kc_parker_t *pk, int64_t left,
                    const kc_cancel_t *cancel)
{
    if (*slot != NULL)
        return -EBUSY;
    *slot = pk;
    pthread_mutex_unlock(&d->lock);
    int rc = kc_park(pk, left, cancel);
    pthread_mutex_lock(&d->lock);
    if (*slot == pk)
        *slot = NULL;
    return rc;
}

static void wake(kc_parker_t **slot)
{
    if (*slot != NULL) {
        kc_unpark(*slot);
        *slot = NULL;
    }
}

static int mem_send_frame(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov,
                          int iovcnt, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct mem_ep *e = self;
    struct mem_dir *d = &e->pair->dir[e->side];
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    size_t off = (hdr->len + (size_t)15) & ~(size_t)15;
    uint8_t *block = malloc(off + sizeof(struct mem_frame));
    if (block == NULL)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0)
            memcpy(block + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    struct mem_frame *f = (struct mem_frame *)(void *)(block + off);
    f->next = NULL;
    f->hdr = *hdr;
    f->block = block;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_parker_t pk;
    kc_parker_init(&pk);
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (d->reader_closed || d->writer_closed) {
            rc = -EPIPE;
            break;
        }
        if (d->bytes == 0 || d->bytes + hdr->len <= d->cap) {
            if (d->tail)
                d->tail->next = f;
            else
                d->head = f;
            d->tail = f;
            d->bytes += hdr->len;
            wake(&d->reader);
            f = NULL;
            break;
        }
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0 || (left == 0 && timeout_ns > 0)) {
            rc = timeout_ns == 0 ? -EAGAIN : -ETIME;
            break;
        }
        if ((rc = dir_wait(d, &d->writer, &pk, left, cancel)) < 0 &&
            !(d->bytes == 0 || d->bytes + hdr->len <= d->cap))
            break;
        rc = 0;
    }
    pthread_mutex_unlock(&d->lock);
    if (f != NULL)
        free(block);
    return rc;
}

/* The frames the peer queued for us and we have not taken: their headers
 * are not counted, so one empty frame counts as its header. */
static size_t mem_pending(void *self)
{
    struct mem_ep *e = self;
    struct mem_dir *d = &e->pair->dir[1 - e->side];
    pthread_mutex_lock(&d->lock);
    size_t n = d->head != NULL ? KC_FRAME_HDR_SIZE + d->bytes : 0;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static int mem_recv_frame(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct mem_ep *e = self;
    if (e->recv_err)
        return e->recv_err;
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    struct mem_dir *d = &e->pair->dir[1 - e->side];
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_parker_t pk;
    kc_parker_init(&pk);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        struct mem_frame *f = d->head;
        if (f != NULL) {
            d->head = f->next;
            if (d->head == NULL)
                d->tail = NULL;
            d->bytes -= f->hdr.len;
            wake(&d->writer);
            pthread_mutex_unlock(&d->lock);
            if (f->hdr.len > max_payload) {
                free(f->block);
                return e->recv_err = -EMSGSIZE;
            }
            *hdr = f->hdr;
            if (f->hdr.len > 0) {
                *payload = f->block; /* the node behind the payload goes with it */
            } else {
                *payload = NULL;
                free(f->block);
            }
            return 0;
        }
        if (d->writer_closed) {
            pthread_mutex_unlock(&d->lock);
            return e->recv_err = -EPIPE;
        }
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0 || (left == 0 && timeout_ns > 0)) {
            pthread_mutex_unlock(&d->lock);
            return timeout_ns == 0 ? -EAGAIN : -ETIME;
        }
        int rc = dir_wait(d, &d->reader, &pk, left, cancel);
        if (rc < 0 && d->head == NULL && !d->writer_closed) {
            pthread_mutex_unlock(&d->lock);
            return rc;
        }
    }
}

static void pair_put(struct mem_pair *p)
{
    /* acq_rel: the other end's release pairs with this acquire before the
     * queues are freed. */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < 2; i++) {
        struct mem_frame *f = p->dir[i].head;
        while (f) {
            struct mem_frame *n = f->next;
            free(f->block);
            f = n;
        }
        pthread_mutex_destroy(&p->dir[i].lock);
    }
    free(p);
}

static void close_listener(struct mem_listener *l)
{
    pthread_mutex_lock(&names_lock);
    for (struct mem_listener **pp = &names; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    pthread_mutex_unlock(&names_lock);
    pthread_mutex_lock(&l->lock);
    l->closed = true;
    wake(&l->acceptor);
    pthread_mutex_unlock(&l->lock);
    while (l->qlen > 0) {
        mem_close(l->queue[l->qhead]);
        l->qhead = (l->qhead + 1) % 128;
        l->qlen--;
    }
    pthread_mutex_destroy(&l->lock);
    limit_put(l->limit);
    free(l);
}

static void mem_close(void *self)
{
    if (self == NULL)
        return;
    if (*(uint32_t *)self == KIND_LISTENER) {
        close_listener(self);
        return;
    }
    struct mem_ep *e = self;
    struct mem_dir *out = &e->pair->dir[e->side];
    struct mem_dir *in = &e->pair->dir[1 - e->side];
    pthread_mutex_lock(&out->lock);
    out->writer_closed = true;
    wake(&out->reader);
    pthread_mutex_unlock(&out->lock);
    pthread_mutex_lock(&in->lock);
    in->reader_closed = true;
    wake(&in->writer);
    pthread_mutex_unlock(&in->lock);
    if (e->limit) {
        /* relaxed: see mem_accept. */
        atomic_fetch_sub_explicit(&e->limit->live, 1, memory_order_relaxed);
        limit_put(e->limit);
    }
    pair_put(e->pair);
    free(e);
}

static int mem_stats(void *self, kc_transport_stats_t *out)
{
    struct mem_listener *l = self;
    if (l->kind != KIND_LISTENER)
        return -ENOTSUP;
    /* relaxed: counters. */
    out->accepted = atomic_load_explicit(&l->accepted, memory_order_relaxed);
    out->live = atomic_load_explicit(&l->limit->live, memory_order_relaxed);
    out->refused_cred = 0;
    out->refused_limit = atomic_load_explicit(&l->refused_limit, memory_order_relaxed);
    out->refused_auth = 0;
    out->refused_timeout = 0;
    return 0;
}

const kc_transport_ops_t kc__transport_mem_ops = {
    .size = sizeof(kc_transport_ops_t),
    .scheme = "mem",
    .listen = mem_listen,
    .accept = mem_accept,
    .connect = mem_connect,
    .send_frame = mem_send_frame,
    .recv_frame = mem_recv_frame,
    .close = mem_close,
    .poll_handle = NULL,
    .stats = mem_stats,
    .pending = mem_pending,
    .flags = KC_TRANSPORT_OPS_WHOLE,
};
