/* kc_transport_udp.c - libkcoro-udp: the udp:// backend of kcoro/transport.h.
 *
 * Built only against kcoro's installed public headers (kcoro/transport.h,
 * kcoro/io.h, kcoro/park.h, kcoro/sched.h). One frame is one datagram. A
 * connecting endpoint owns a connected socket and reads it itself; a
 * listener's socket is shared by every endpoint it accepted, and a pump
 * (a coroutine of the listener's scheduler, or a thread) reads it and
 * demultiplexes by source address (kcoro/udp.h says what is dropped).
 * Invariants:
 *   U1 every datagram handed to a reader is a well-formed frame: its header
 *      decodes and its len is the datagram's size minus the header.
 *   U2 a listener's peers list holds exactly the endpoints accepted or
 *      waiting for accept whose close has not started; the shared socket
 *      lives (and its pump runs) while the listener or any of them is open.
 *   U3 no queue holds more than KC_UDP_QUEUE datagrams; live + pending
 *      never exceeds max_conns.
 *
 *   accepted endpoint  event                                   next     by
 *   -----------------  --------------------------------------  -------  ------------
 *   (none)             first datagram from a new address       PENDING  the pump
 *   PENDING            accept takes it                         OPEN     udp_accept
 *   PENDING            the listener closes                     freed    udp_close
 *   OPEN               close                                   freed    udp_close
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP */
#endif
#include "kcoro/udp.h"

#include "kcoro/io.h"
#include "kcoro/park.h"
#include "kcoro/sched.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX 65536 /* receive buffer: any datagram fits */
#define MAX_DATAGRAM (KC_FRAME_HDR_SIZE + KC_UDP_MAX_FRAME)

/* ------------------------------------------------------------ time */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t deadline_of(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = now_ns();
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

static int64_t left_of(int64_t deadline)
{
    if (deadline < 0 || deadline == INT64_MAX) /* none, or saturated: none */
        return KC_NO_TIMEOUT;
    int64_t left = deadline - now_ns();
    return left > 0 ? left : 0;
}

/* ------------------------------------------------------------ types */

typedef struct dgram {
    struct dgram *next;
    uint32_t len;
    uint8_t data[];
} dgram_t;

enum {
    EP_CONNECTED = 1,
    EP_LISTENER = 2,
    EP_ACCEPTED = 3
};

struct udp_sock;

typedef struct udp_ep {
    int kind;
    int fd; /* own (connected) or the listener's */
    struct udp_sock *sock;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char name[128];
    kc_udp_counters_t own;
    kc_udp_counters_t *cnt;
    /* accepted: under sock->lk */
    dgram_t *head, *tail;
    uint32_t queued;
    kc_parker_t *reader;
    bool pending;
    struct udp_ep *next;      /* sock->peers */
    struct udp_ep *next_pend; /* sock->pend */
    uint8_t *scratch;         /* connected: the receive buffer */
} udp_ep_t;

/* What a listener shares with its accepted endpoints (U2). */
typedef struct udp_sock {
    int fd;
    pthread_mutex_t lk;
    udp_ep_t *peers;
    udp_ep_t *pend, *pend_tail;
    uint32_t npend, live, max_conns;
    kc_parker_t *acceptor;
    bool listening;
    bool dead; /* the pump stopped on an error */
    int refs;
    kc_cancel_t *stop;
    bool threads;
    kc_task_t *task;
    pthread_t th;
    uint8_t *scratch;
    kc_udp_counters_t *cnt;
    uint64_t accepted, refused_limit;
} udp_sock_t;

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ addresses */

/* Parse "//HOST:PORT" (the URL after "udp:") and resolve it. An empty HOST
 * is the IPv4 loopback address. */
static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    if (strncmp(addr, "//", 2) != 0)
        return -EINVAL;
    addr += 2;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(addr) >= 256)
        return -EINVAL;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else if (strchr(host, ':') != NULL || strchr(host, '[') != NULL)
        return -EINVAL; /* IPv6 needs brackets */
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return -EINVAL;
    if (host[0] == '\0')
        snprintf(host, sizeof host, "127.0.0.1");
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return -EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static void name_of(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char h[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)ss;
        inet_ntop(AF_INET, &s->sin_addr, h, sizeof h);
        port = ntohs(s->sin_port);
        snprintf(out, cap, "udp://%s:%u", h, port);
    } else {
        const struct sockaddr_in6 *s = (const void *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof h);
        port = ntohs(s->sin6_port);
        snprintf(out, cap, "udp://[%s]:%u", h, port);
    }
}

typedef struct resolved {
    struct sockaddr_storage ss;
    socklen_t len;
    const kc_udp_opts_t *uo;
} resolved_t;

static int prepare(const char *addr, const kc_transport_opts_t *o, resolved_t *r)
{
    static const kc_udp_opts_t none = KC_UDP_OPTS_INIT;
    r->uo = o && o->adapter ? o->adapter : &none;
    if (r->uo->size < sizeof(kc_udp_opts_t))
        return -EINVAL;
    int rc = resolve(addr, &r->ss, &r->len);
    if (rc < 0)
        return rc;
    if (!r->uo->allow_remote && !is_loopback(&r->ss))
        return -EACCES;
    return 0;
}

static int make_socket(const resolved_t *r)
{
    int fd = socket(r->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int buf = r->uo->sockbuf ? (int)r->uo->sockbuf : 4 << 20;
    /* Best effort: the kernel caps both at its rmem_max / wmem_max. */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    return fd;
}

/* A well-formed frame (U1)? Fills *h. */
static bool frame_ok(const uint8_t *d, size_t n, kc_frame_hdr_t *h)
{
    return n >= KC_FRAME_HDR_SIZE && kc_frame_decode(d, n, h) == KC_FRAME_HDR_SIZE &&
           h->len == n - KC_FRAME_HDR_SIZE;
}

/* ------------------------------------------------------------ endpoints */

static udp_ep_t *ep_new(int kind, int fd, kc_udp_counters_t *cnt)
{
    udp_ep_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->kind = kind;
    e->fd = fd;
    e->cnt = cnt ? cnt : &e->own;
    return e;
}

static void queue_free(udp_ep_t *e)
{
    while (e->head) {
        dgram_t *d = e->head;
        e->head = d->next;
        free(d);
    }
    e->tail = NULL;
    e->queued = 0;
}

/* Drop one reference to the shared socket (under s->lk, which it
 * releases); the last one stops the pump and frees it. */
static void sock_put(udp_sock_t *s)
{
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lk);
    if (!last)
        return;
    kc_cancel_trigger(s->stop);
    if (s->threads)
        pthread_join(s->th, NULL);
    else if (s->task)
        kc_sched_join(s->task, NULL, KC_NO_TIMEOUT, NULL);
    close(s->fd);
    while (kc_cancel_destroy(s->stop) == -EBUSY)
        kc_sched_yield();
    pthread_mutex_destroy(&s->lk);
    free(s->scratch);
    free(s);
}

static void unlink_peer(udp_sock_t *s, udp_ep_t *e)
{
    for (udp_ep_t **p = &s->peers; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            return;
        }
}

/* Hand one datagram from `from` to its endpoint, or make a new pending
 * endpoint of it (under s->lk). */
static void dispatch(udp_sock_t *s, const struct sockaddr_storage *from, socklen_t flen,
                     const uint8_t *data, size_t n)
{
    udp_ep_t *e = s->peers;
    while (e && !same_addr(&e->peer, from))
        e = e->next;
    if (!e) {
        if (!s->listening || s->live + s->npend >= s->max_conns) {
            count(&s->cnt->refused);
            if (s->listening)
                s->refused_limit++;
            return;
        }
        if (!(e = ep_new(EP_ACCEPTED, s->fd, s->cnt)))
            return;
        e->sock = s;
        e->peer = *from;
        e->peer_len = flen;
        name_of(from, e->name, sizeof e->name);
        e->pending = true;
        e->next = s->peers;
        s->peers = e;
        if (s->pend_tail)
            s->pend_tail->next_pend = e;
        else
            s->pend = e;
        s->pend_tail = e;
        s->npend++;
        s->refs++;
        if (s->acceptor) {
            kc_unpark(s->acceptor);
            s->acceptor = NULL;
        }
    }
    if (e->queued >= KC_UDP_QUEUE) {
        count(&e->cnt->overflow);
        return;
    }
    dgram_t *d = malloc(sizeof *d + n);
    if (!d)
        return;
    d->next = NULL;
    d->len = (uint32_t)n;
    memcpy(d->data, data, n);
    if (e->tail)
        e->tail->next = d;
    else
        e->head = d;
    e->tail = d;
    e->queued++;
    if (e->reader) {
        kc_unpark(e->reader);
        e->reader = NULL;
    }
}

/* The listener's pump: read every datagram and dispatch it. */
static int pump(void *arg)
{
    udp_sock_t *s = arg;
    for (;;) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(s->fd, s->scratch, DGRAM_MAX, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            int rc = errno == EAGAIN || errno == EWOULDBLOCK
                         ? kc_io_wait(s->fd, KC_IO_IN, KC_NO_TIMEOUT, s->stop)
                         : -errno;
            if (rc > 0)
                continue;
            if (!kc_cancel_is_triggered(s->stop)) {
                pthread_mutex_lock(&s->lk);
                s->dead = true;
                for (udp_ep_t *e = s->peers; e; e = e->next)
                    if (e->reader) {
                        kc_unpark(e->reader);
                        e->reader = NULL;
                    }
                if (s->acceptor) {
                    kc_unpark(s->acceptor);
                    s->acceptor = NULL;
                }
                pthread_mutex_unlock(&s->lk);
            }
            return 0;
        }
        count(&s->cnt->datagrams_in);
        kc_frame_hdr_t h;
        if (!frame_ok(s->scratch, (size_t)n, &h)) {
            count(&s->cnt->malformed);
            continue;
        }
        pthread_mutex_lock(&s->lk);
        dispatch(s, &from, flen, s->scratch, (size_t)n);
        pthread_mutex_unlock(&s->lk);
    }
}

static void *pump_thread(void *arg)
{
    pump(arg);
    return NULL;
}

/* Park on *slot (under s->lk) until woken, the deadline or cancel. */
static int wait_on(udp_sock_t *s, kc_parker_t **slot, int64_t deadline, const kc_cancel_t *cancel)
{
    kc_parker_t p;
    kc_parker_init(&p);
    int64_t left = left_of(deadline);
    if (left == 0)
        return -ETIME;
    /* cppcheck-suppress autoVariables ; cleared below, under the lock, before p goes away */
    *slot = &p;
    pthread_mutex_unlock(&s->lk);
    int rc = kc_park(&p, left, cancel);
    pthread_mutex_lock(&s->lk);
    if (*slot == &p)
        *slot = NULL; /* not woken; a waker that did ran under the lock */
    return rc;
}

static int udp_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    resolved_t r;
    int rc = prepare(addr, o, &r);
    if (rc < 0)
        return rc;
    int fd = make_socket(&r);
    if (fd < 0)
        return fd;
    if (bind(fd, (struct sockaddr *)&r.ss, r.len) < 0) {
        rc = errno == EADDRINUSE ? -EBUSY : -errno;
        close(fd);
        return rc;
    }
    udp_sock_t *s = calloc(1, sizeof *s);
    udp_ep_t *l = ep_new(EP_LISTENER, fd, r.uo->counters);
    if (!s || !l || !(s->scratch = malloc(DGRAM_MAX)) || kc_cancel_create(&s->stop, NULL) < 0) {
        if (s)
            free(s->scratch);
        free(s);
        free(l);
        close(fd);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lk, NULL);
    s->fd = fd;
    s->refs = 1;
    s->listening = true;
    s->max_conns = o && o->max_conns ? o->max_conns : 1024;
    s->cnt = l->cnt;
    l->sock = s;
    name_of(&r.ss, l->name, sizeof l->name);
    kc_sched_t *sch = kc_sched_current();
    if (sch) {
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = "udp-pump";
        rc = kc_sched_spawn(sch, &s->task, pump, s, &at);
    } else {
        s->threads = true;
        rc = -pthread_create(&s->th, NULL, pump_thread, s);
    }
    if (rc < 0) {
        s->threads = false;
        s->task = NULL;
        pthread_mutex_lock(&s->lk);
        sock_put(s);
        free(l);
        return rc;
    }
    *self = l;
    return 0;
}

static int udp_accept(void *listener, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    udp_ep_t *l = listener;
    if (l->kind != EP_LISTENER)
        return -EINVAL;
    udp_sock_t *s = l->sock;
    int64_t deadline = deadline_of(timeout_ns);
    pthread_mutex_lock(&s->lk);
    while (!s->pend) {
        if (s->dead) {
            pthread_mutex_unlock(&s->lk);
            return -EPIPE;
        }
        if (timeout_ns == 0) {
            pthread_mutex_unlock(&s->lk);
            return -EAGAIN;
        }
        int rc = wait_on(s, &s->acceptor, deadline, cancel);
        if (rc == -ETIME || rc == -ECANCELED) {
            pthread_mutex_unlock(&s->lk);
            return rc;
        }
    }
    udp_ep_t *e = s->pend;
    s->pend = e->next_pend;
    if (!s->pend)
        s->pend_tail = NULL;
    s->npend--;
    s->live++;
    s->accepted++;
    e->pending = false;
    pthread_mutex_unlock(&s->lk);
    if (peer != NULL && peer->size >= sizeof *peer) {
        peer->has_cred = false;
        peer->uid = peer->gid = 0;
        peer->pid = -1;
        snprintf(peer->name, sizeof peer->name, "%s", e->name);
    }
    *self = e;
    return 0;
}

static int udp_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    (void)timeout_ns;
    (void)cancel;
    resolved_t r;
    int rc = prepare(addr, o, &r);
    if (rc < 0)
        return rc;
    int fd = make_socket(&r);
    if (fd < 0)
        return fd;
    if (connect(fd, (struct sockaddr *)&r.ss, r.len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    udp_ep_t *e = ep_new(EP_CONNECTED, fd, r.uo->counters);
    if (!e || !(e->scratch = malloc(DGRAM_MAX))) {
        free(e);
        close(fd);
        return -ENOMEM;
    }
    e->peer = r.ss;
    e->peer_len = r.len;
    name_of(&r.ss, e->name, sizeof e->name);
    *self = e;
    return 0;
}

static int udp_send_frame(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov,
                          int iovcnt, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    udp_ep_t *e = self;
    uint8_t h[KC_FRAME_HDR_SIZE];
    if (e->kind == EP_LISTENER || kc_frame_encode(hdr, h) < 0 || iovcnt < 0 || iovcnt > 64 ||
        (iovcnt && !iov))
        return -EINVAL;
    struct iovec v[65];
    v[0].iov_base = h;
    v[0].iov_len = sizeof h;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        v[i + 1] = iov[i];
        total += iov[i].iov_len;
    }
    if (total != hdr->len)
        return -EINVAL;
    if (total > KC_UDP_MAX_FRAME)
        return -EMSGSIZE;
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)iovcnt + 1;
    if (e->kind == EP_ACCEPTED) {
        m.msg_name = &e->peer;
        m.msg_namelen = e->peer_len;
    }
    int64_t deadline = deadline_of(timeout_ns);
    for (;;) {
        if (sendmsg(e->fd, &m, MSG_NOSIGNAL) >= 0) {
            count(&e->cnt->datagrams_out);
            return 0;
        }
        int err = errno;
        if (err == EINTR)
            continue;
        if (err == ECONNREFUSED && e->kind == EP_CONNECTED)
            return -ECONNREFUSED; /* an ICMP error for an earlier datagram */
        if (err != EAGAIN && err != EWOULDBLOCK)
            return err == EPIPE ? -EPIPE : -err;
        int64_t left = left_of(deadline);
        if (left == 0)
            return timeout_ns == 0 ? -EAGAIN : -ETIME;
        int rc = kc_io_wait(e->fd, KC_IO_OUT, left, cancel);
        if (rc == -EBUSY) /* another endpoint of the shared socket waits */
            rc = kc_sched_sleep(100000, cancel);
        if (rc < 0) /* -ETIME, -ECANCELED, or the fd's error */
            return rc;
    }
}

/* Whether fd's reading side was shut down (shutdown(2), a cut under the
 * endpoint): the socket then polls readable for ever while a non-blocking
 * read finds nothing (EAGAIN); only then does it poll as POLLRDHUP. */
static bool shut_down(int fd)
{
#ifdef POLLRDHUP
    const short rdhup = POLLRDHUP;
#else
    const short rdhup = 0; /* then only a shutdown of both sides is seen */
#endif
    struct pollfd p = {fd, rdhup, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (rdhup | POLLHUP));
}

/* Receive on a connected socket (a connecting endpoint). */
static int recv_connected(udp_ep_t *e, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int64_t deadline = deadline_of(timeout_ns);
    bool ready = false; /* the poller said readable since the last read */
    for (;;) {
        ssize_t n = recv(e->fd, e->scratch, DGRAM_MAX, 0);
        if (n < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            if (err == ECONNREFUSED)
                return -ECONNREFUSED;
            if (err != EAGAIN && err != EWOULDBLOCK)
                return -err;
            if (ready && shut_down(e->fd))
                return -EPIPE; /* readable for ever, nothing to read: a cut */
            int64_t left = left_of(deadline);
            if (left == 0)
                return timeout_ns == 0 ? -EAGAIN : -ETIME;
            int rc = kc_io_wait(e->fd, KC_IO_IN, left, cancel);
            if (rc < 0 && rc != -ETIME)
                return rc;
            ready = rc >= 0;
            continue;
        }
        ready = false;
        count(&e->cnt->datagrams_in);
        kc_frame_hdr_t h;
        if (!frame_ok(e->scratch, (size_t)n, &h)) {
            count(&e->cnt->malformed);
            continue;
        }
        if (h.len > max_payload)
            return -EMSGSIZE;
        void *p = NULL;
        if (h.len && !(p = malloc(h.len)))
            return -ENOMEM;
        if (h.len)
            memcpy(p, e->scratch + KC_FRAME_HDR_SIZE, h.len);
        *hdr = h;
        *payload = p;
        return 0;
    }
}

static int udp_recv_frame(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    udp_ep_t *e = self;
    if (e->kind == EP_LISTENER)
        return -EINVAL;
    if (e->kind == EP_CONNECTED)
        return recv_connected(e, hdr, payload, max_payload, timeout_ns, cancel);
    udp_sock_t *s = e->sock;
    int64_t deadline = deadline_of(timeout_ns);
    pthread_mutex_lock(&s->lk);
    while (!e->head) {
        int rc;
        if (s->dead)
            rc = -EPIPE;
        else if (timeout_ns == 0)
            rc = -EAGAIN;
        else
            rc = wait_on(s, &e->reader, deadline, cancel);
        if (e->head)
            break;
        if (rc < 0) {
            pthread_mutex_unlock(&s->lk);
            return rc;
        }
    }
    dgram_t *d = e->head;
    e->head = d->next;
    if (!e->head)
        e->tail = NULL;
    e->queued--;
    pthread_mutex_unlock(&s->lk);
    kc_frame_hdr_t h;
    kc_frame_decode(d->data, d->len, &h); /* checked by the pump (U1) */
    if (h.len > max_payload) {
        free(d);
        return -EMSGSIZE;
    }
    void *p = NULL;
    if (h.len && !(p = malloc(h.len))) {
        free(d);
        return -ENOMEM;
    }
    if (h.len)
        memcpy(p, d->data + KC_FRAME_HDR_SIZE, h.len);
    free(d);
    *hdr = h;
    *payload = p;
    return 0;
}

static void udp_close(void *self)
{
    udp_ep_t *e = self;
    if (e->kind == EP_CONNECTED) {
        close(e->fd);
        free(e->scratch);
        free(e);
        return;
    }
    udp_sock_t *s = e->sock;
    pthread_mutex_lock(&s->lk);
    if (e->kind == EP_LISTENER) {
        s->listening = false;
        /* Peers nobody accepted go with the listener. */
        while (s->pend) {
            udp_ep_t *p = s->pend;
            s->pend = p->next_pend;
            unlink_peer(s, p);
            queue_free(p);
            free(p);
            s->refs--;
        }
        s->pend_tail = NULL;
        s->npend = 0;
        sock_put(s);
        free(e);
        return;
    }
    unlink_peer(s, e);
    s->live--;
    queue_free(e);
    sock_put(s);
    free(e);
}

static int udp_poll_handle(void *self)
{
    udp_ep_t *e = self;
    return e->kind == EP_ACCEPTED ? -ENOTSUP : e->fd;
}

static int udp_stats(void *listener, kc_transport_stats_t *out)
{
    udp_ep_t *l = listener;
    if (l->kind != EP_LISTENER)
        return -ENOTSUP;
    udp_sock_t *s = l->sock;
    pthread_mutex_lock(&s->lk);
    out->accepted = s->accepted;
    out->live = s->live;
    out->refused_cred = 0;
    out->refused_limit = s->refused_limit;
    out->refused_auth = 0;
    out->refused_timeout = 0;
    pthread_mutex_unlock(&s->lk);
    return 0;
}

static const kc_transport_ops_t udp_ops = {
    .size = sizeof(kc_transport_ops_t),
    .scheme = "udp",
    .listen = udp_listen,
    .accept = udp_accept,
    .connect = udp_connect,
    .send_frame = udp_send_frame,
    .recv_frame = udp_recv_frame,
    .close = udp_close,
    .poll_handle = udp_poll_handle,
    .stats = udp_stats,
};

KC_API int kc_udp_register(void)
{
    int rc = kc_transport_register(&udp_ops);
    return rc == -EBUSY && kc_transport_lookup("udp:") == &udp_ops ? 0 : rc;
}
