/* kc_sim_transport.c - the "sim:" scheme: a transport that impairs another.
 *
 * "sim:<url>" opens <url> through its own backend and wraps the endpoint.
 * The wrapper impairs what it receives: each frame read from the inner
 * endpoint is decided on arrival by the endpoint's direction
 * (kc_sim_dir_decide) and then dropped, or held in a heap ordered by
 * delivery time (ties by arrival) until recv_frame may hand it out;
 * duplicates are held as a second copy, corruption flips the decided bit.
 * Sends pass straight through: the peer's wrapper impairs them, as netem on
 * the sending host's egress would, so wrapping both ends impairs both ways.
 *
 * Clocks. Real time: the monotonic clock; a receiver waits on the inner
 * endpoint until its next held frame is due. Virtual (kc_sim_clock_t): a
 * receiver first takes whatever the inner endpoint already holds (frames
 * sent at or before the clock's time), then, rather than sleeping, moves the
 * shared clock to its next frame's delivery time. Virtual time advances only
 * through receivers, so it suits in-process pairs whose ends take turns (a
 * ping-pong, a request and its reply); a receiver with nothing held waits in
 * real time for its peer to send. Once contexts join the clock
 * (kc_sim_clock_join, kc_sim_clock.c) its actors take turns instead: a
 * receiving actor takes what was sent and waits on the clock (not on the
 * inner endpoint) until a frame is sent or its next held frame is due, a
 * sending actor tries once and waits on the clock for room, and only the
 * clock moves time, so a whole run replays from the seed.
 *
 * Seeds. Each endpoint's generator is seeded from the options' seed, its
 * role (connector or acceptor) and an ordinal (the n-th connect of the
 * process, the n-th accept of the listener), so a program that opens its
 * connections in the same order replays the same decisions.
 *
 * Per endpoint at most one receiver and one sender at a time (the transport
 * contract); the held frames belong to the receiver, so they need no lock.
 */
#include "kc_sim_impl.h"

#include "kcoro/sched.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct held {
    int64_t t;
    uint64_t seq;
    kc_frame_hdr_t hdr;
    void *payload;
} held_t;

typedef struct sim_ep {
    kc_transport_t *inner;
    bool listener;
    kc_sim_spec_t spec; /* copied: a listener's accepts use it */
    uint64_t seed;
    _Atomic uint64_t accepts; /* listener: ordinal of the next accept */
    kc_sim_dir_t *dir;        /* connected endpoint: its ingress */
    const char *dirname;      /* "a>b" (acceptor's ingress) or "b>a" */
    kc_sim_clock_t *clock;
    kc_sim_log_fn_t log;
    void *log_arg;
    held_t *heap;
    size_t n, cap;
    uint64_t seq;
    int inner_err; /* sticky: the inner endpoint's end */
    bool timeless; /* no delay, jitter, rate, slot or virtual clock: every frame
                    * is due on arrival, so the clock is never read (decisions
                    * are stamped 0) */
} sim_ep_t;

static _Atomic uint64_t connects;

static int64_t real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ep_now(const sim_ep_t *e)
{
    return e->clock ? kc_sim_clock_now(e->clock) : real_now();
}

/* ---- the held frames: a binary min-heap on (t, seq) --------------- */

static bool before(const held_t *a, const held_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int heap_push(sim_ep_t *e, const held_t *h)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        held_t *p = realloc(e->heap, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        e->heap = p;
        e->cap = cap;
    }
    size_t i = e->n++;
    while (i > 0 && before(h, &e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = *h;
    return 0;
}

static held_t heap_pop(sim_ep_t *e)
{
    held_t top = e->heap[0];
    held_t last = e->heap[--e->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->n)
            break;
        if (c + 1 < e->n && before(&e->heap[c + 1], &e->heap[c]))
            c++;
        if (!before(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (e->n > 0)
        e->heap[i] = last;
    return top;
}

/* ---- options and endpoints ---------------------------------------- */

typedef struct resolved {
    kc_sim_spec_t *spec;
    uint64_t seed;
    const kc_sim_opts_t *so;
    kc_transport_opts_t inner;
} resolved_t;

/* Say once on stderr why KCORO_SIM's words were refused: the program did
 * not write them, so the error code alone would not tell its user. */
static void env_complain(const char *why)
{
    static atomic_flag said = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&said))
        fprintf(stderr, "kcoro: KCORO_SIM refused: %s\n", why);
}

/* The sim options in o->adapter (or the environment's) and the options to
 * pass to the inner backend. */
static int resolve(const kc_transport_opts_t *o, resolved_t *r)
{
    static const kc_sim_opts_t none = KC_SIM_OPTS_INIT;
    /* Routed here by KCORO_SIM (kc_transport_interpose()): the adapter
     * options are the inner backend's, the words the environment's. */
    bool routed = o && (o->flags & KC_TRANSPORT_F_INTERPOSED);
    const kc_sim_opts_t *so = o && o->adapter && !routed ? o->adapter : &none;
    if (so->size < sizeof(kc_sim_opts_t))
        return -EINVAL;
    const char *words = so->netem ? so->netem : getenv("KCORO_SIM");
    char err[160];
    int rc = kc_sim_spec_parse(words ? words : "", &r->spec, err, sizeof err);
    if (rc == -EINVAL && !so->netem && words)
        env_complain(err);
    if (rc < 0)
        return rc;
    r->seed = so->seed;
    if (!r->seed)
        r->seed = kc_sim_spec_seed(r->spec);
    if (!r->seed) {
        const char *env = getenv("KCORO_SIM_SEED");
        r->seed = env ? strtoull(env, NULL, 10) : 0;
    }
    if (!r->seed)
        r->seed = 1;
    r->so = so;
    static const kc_transport_opts_t dflt = KC_TRANSPORT_OPTS_INIT;
    r->inner = o ? *o : dflt;
    r->inner.adapter = routed ? o->adapter : so->inner;
    r->inner.flags = (r->inner.flags & ~KC_TRANSPORT_F_INTERPOSED) | KC_TRANSPORT_F_DIRECT;
    return 0;
}

static uint64_t mix(uint64_t seed, uint64_t role, uint64_t ordinal)
{
    uint64_t s[4];
    kc__sim_rng_seed(s, seed ^ (role << 56) ^ (ordinal * 0x9e3779b97f4a7c15ull));
    return s[0];
}

static void ep_free(sim_ep_t *e)
{
    if (!e)
        return;
    while (e->n > 0)
        free(heap_pop(e).payload);
    free(e->heap);
    kc_sim_dir_destroy(e->dir);
    if (e->clock)
        kc__sim_clock_use(e->clock, -1);
    free(e);
}

/* A connected endpoint around inner, with its own direction. */
static int ep_make(kc_transport_t *inner, const kc_sim_spec_t *spec, uint64_t seed,
                   const char *dirname, const kc_sim_opts_t *so, sim_ep_t **out)
{
    sim_ep_t *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    int rc = kc_sim_dir_create(spec, seed, &e->dir);
    if (rc < 0) {
        free(e);
        return rc;
    }
    e->inner = inner;
    e->spec = *spec;
    e->timeless = !spec->delay && !spec->jitter && !spec->rate_bps && !spec->slot && !so->clock;
    e->seed = seed;
    e->dirname = dirname;
    e->clock = so->clock;
    e->log = so->log;
    e->log_arg = so->log_arg;
    if (e->clock)
        kc__sim_clock_use(e->clock, 1);
    *out = e;
    return 0;
}

static int sim_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    resolved_t r;
    int rc = resolve(o, &r);
    if (rc < 0)
        return rc;
    sim_ep_t *e = calloc(1, sizeof(*e));
    if (!e) {
        kc_sim_spec_free(r.spec);
        return -ENOMEM;
    }
    rc = kc_transport_listen(addr, &r.inner, &e->inner);
    if (rc < 0) {
        free(e);
        kc_sim_spec_free(r.spec);
        return rc;
    }
    e->listener = true;
    e->spec = *r.spec;
    e->seed = r.seed;
    e->clock = r.so->clock;
    e->log = r.so->log;
    e->log_arg = r.so->log_arg;
    if (e->clock)
        kc__sim_clock_use(e->clock, 1);
    kc_sim_spec_free(r.spec);
    *self = e;
    return 0;
}

static int sim_accept(void *listener, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    sim_ep_t *l = listener;
    if (!l->listener)
        return -EINVAL;
    kc_transport_t *inner;
    int rc = kc_transport_accept(l->inner, &inner, peer, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    uint64_t n = atomic_fetch_add_explicit(&l->accepts, 1, memory_order_relaxed);
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.clock = l->clock;
    so.log = l->log;
    so.log_arg = l->log_arg;
    sim_ep_t *e;
    rc = ep_make(inner, &l->spec, mix(l->seed, 1, n), "a>b", &so, &e);
    if (rc < 0) {
        kc_transport_close(inner);
        return rc;
    }
    *self = e;
    return 0;
}

static int sim_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    resolved_t r;
    int rc = resolve(o, &r);
    if (rc < 0)
        return rc;
    kc_transport_t *inner;
    rc = kc_transport_connect(addr, &r.inner, &inner, timeout_ns, cancel);
    if (rc < 0) {
        kc_sim_spec_free(r.spec);
        return rc;
    }
    /* On a virtual clock the ordinal counts that clock's connects, so a run
     * replays whatever else the process opened before it. */
    uint64_t n = r.so->clock ? kc__sim_clock_next_connect(r.so->clock)
                             : atomic_fetch_add_explicit(&connects, 1, memory_order_relaxed);
    sim_ep_t *e;
    rc = ep_make(inner, r.spec, mix(r.seed, 0, n), "b>a", r.so, &e);
    kc_sim_spec_free(r.spec);
    if (rc < 0) {
        kc_transport_close(inner);
        return rc;
    }
    *self = e;
    return 0;
}

static int sim_send(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov, int iovcnt,
                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    sim_ep_t *e = self;
    if (e->listener)
        return -EINVAL;
    if (!kc__sim_clock_turns(e->clock))
        return kc_transport_send_frame(e->inner, hdr, iov, iovcnt, timeout_ns, cancel);
    /* Turns: the actor that sends must not block holding the turn, so it
     * tries once and waits on the clock for a receiver to make room. */
    kc_sim_actor_t *me = kc__sim_clock_mine(e->clock) ? kc__sim_clock_self(e->clock) : NULL;
    int rc;
    if (!me) {
        rc = kc_transport_send_frame(e->inner, hdr, iov, iovcnt, timeout_ns, cancel);
    } else {
        int64_t start = ep_now(e);
        int64_t deadline = timeout_ns < 0                   ? -1
                           : timeout_ns > INT64_MAX - start ? INT64_MAX
                                                            : start + timeout_ns;
        for (;;) {
            rc = kc_transport_send_frame(e->inner, hdr, iov, iovcnt, 0, cancel);
            if (rc != -EAGAIN || timeout_ns == 0)
                break;
            int w = kc__sim_clock_wait(me, deadline, KC_SIM_LIST_ROOM, cancel);
            if (w < 0) {
                rc = w;
                break;
            }
        }
    }
    if (rc == 0)
        kc__sim_clock_kick(e->clock, KC_SIM_LIST_FRAMES);
    return rc;
}

/* Decide one frame that just came from the inner endpoint and hold what
 * survives. The frame's payload is consumed either way. With `direct`, a
 * frame that would go straight back out (a timeless link, nothing held, no
 * duplicate) skips the heap: it is stored in *direct and take returns 1. */
static int take(sim_ep_t *e, const kc_frame_hdr_t *hdr, void *payload, held_t *direct)
{
    kc_sim_decision_t d;
    int64_t now = e->timeless ? 0 : ep_now(e);
    int rc = kc_sim_dir_decide(e->dir, now, hdr->len, (uint32_t)e->n, &d);
    if (rc < 0) {
        free(payload);
        return rc;
    }
    if (e->log)
        e->log(e->log_arg, e->dirname, &d);
    if (d.fate & (KC_SIM_F_DROP | KC_SIM_F_LIMIT)) {
        free(payload);
        return 0;
    }
    void *copy = NULL;
    if (d.fate & KC_SIM_F_DUP) {
        copy = hdr->len ? malloc(hdr->len) : NULL;
        if (hdr->len && !copy) {
            free(payload);
            return -ENOMEM;
        }
        if (copy)
            memcpy(copy, payload, hdr->len);
    }
    if (d.fate & KC_SIM_F_CORRUPT)
        ((uint8_t *)payload)[d.corrupt_bit / 8] ^= (uint8_t)(1u << (d.corrupt_bit % 8));
    held_t h = {d.t_deliver, e->seq++, *hdr, payload};
    if (direct && e->timeless && e->n == 0 && !copy) {
        *direct = h;
        return 1;
    }
    if ((rc = heap_push(e, &h)) < 0) {
        free(payload);
        free(copy);
        return rc;
    }
    if (d.fate & KC_SIM_F_DUP) {
        held_t c = {d.t_dup, e->seq++, *hdr, copy};
        if ((rc = heap_push(e, &c)) < 0) {
            free(copy);
            return rc;
        }
    }
    return 0;
}

/* Read one frame from the inner endpoint within timeout_ns and take it.
 * Returns 0 (a frame was taken), 1 (it is in *direct, see take), -ETIME or
 * -EAGAIN (none came), or the inner endpoint's error (which then sticks). */
static int pull(sim_ep_t *e, size_t max_payload, int64_t timeout_ns, const kc_cancel_t *cancel,
                held_t *direct)
{
    if (e->inner_err)
        return e->inner_err;
    kc_frame_hdr_t hdr;
    void *payload = NULL;
    int rc = kc_transport_recv_frame(e->inner, &hdr, &payload, max_payload, timeout_ns, cancel);
    if (rc == -ETIME || rc == -EAGAIN || rc == -ECANCELED)
        return rc;
    if (rc < 0) {
        e->inner_err = rc;
        return rc;
    }
    return take(e, &hdr, payload, direct);
}

static int hand_out(sim_ep_t *e, kc_frame_hdr_t *hdr, void **payload)
{
    held_t h = heap_pop(e);
    *hdr = h.hdr;
    *payload = h.payload;
    return 0;
}

/* Virtual time: take what the peer has already sent, then move the clock
 * to the next delivery instead of waiting for it. */
static int recv_virtual(sim_ep_t *e, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                        int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int64_t start = ep_now(e);
    int64_t deadline = timeout_ns < 0                   ? INT64_MAX
                       : timeout_ns > INT64_MAX - start ? INT64_MAX
                                                        : start + timeout_ns;
    for (;;) {
        if (e->n > 0 && e->heap[0].t <= ep_now(e))
            return hand_out(e, hdr, payload);
        int rc;
        while ((rc = pull(e, max_payload, 0, cancel, NULL)) == 0)
            ;
        if (rc == -ECANCELED)
            return rc;
        if (e->n > 0) {
            int64_t t = e->heap[0].t;
            if (t > deadline) {
                kc__sim_clock_advance(e->clock, deadline);
                return timeout_ns == 0 ? -EAGAIN : -ETIME;
            }
            kc__sim_clock_advance(e->clock, t);
            continue;
        }
        if (e->inner_err)
            return e->inner_err;
        if (timeout_ns == 0)
            return -EAGAIN;
        /* Nothing held: wait (in real time) for the peer to send. */
        if ((rc = pull(e, max_payload, timeout_ns, cancel, NULL)) < 0)
            return rc;
    }
}

/* Turns: the receiver is the clock's running actor. It takes what its peer
 * has sent (at the clock's time: the peer sent it in an earlier turn of
 * the same instant), hands out a frame that is due, and otherwise waits on
 * the clock until a frame is sent, its next held frame is due or the
 * timeout passes. The clock, not this receiver, moves time. */
static int recv_turns(sim_ep_t *e, kc_sim_actor_t *me, kc_frame_hdr_t *hdr, void **payload,
                      size_t max_payload, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int64_t start = ep_now(e);
    int64_t deadline = timeout_ns < 0                   ? -1
                       : timeout_ns > INT64_MAX - start ? INT64_MAX
                                                        : start + timeout_ns;
    for (;;) {
        int rc;
        bool took = false;
        while ((rc = pull(e, max_payload, 0, cancel, NULL)) == 0)
            took = true;
        if (took)
            kc__sim_clock_kick(e->clock, KC_SIM_LIST_ROOM);
        if (rc == -ECANCELED)
            return rc;
        int64_t now = ep_now(e);
        if (e->n > 0 && e->heap[0].t <= now)
            return hand_out(e, hdr, payload);
        if (e->n == 0 && e->inner_err)
            return e->inner_err;
        if (timeout_ns == 0)
            return -EAGAIN;
        if (deadline >= 0 && now >= deadline)
            return -ETIME;
        int64_t until = deadline;
        if (e->n > 0 && (until < 0 || e->heap[0].t < until))
            until = e->heap[0].t;
        if ((rc = kc__sim_clock_wait(me, until, KC_SIM_LIST_FRAMES, cancel)) == -ECANCELED)
            return rc;
    }
}

static int sim_recv(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    sim_ep_t *e = self;
    if (e->listener)
        return -EINVAL;
    if (e->clock && kc__sim_clock_mine(e->clock)) {
        kc_sim_actor_t *me = kc__sim_clock_self(e->clock);
        if (me)
            return recv_turns(e, me, hdr, payload, max_payload, timeout_ns, cancel);
    }
    if (e->clock)
        return recv_virtual(e, hdr, payload, max_payload, timeout_ns, cancel);
    /* Real time. The clock is read only when a frame is held or the wait
     * has a finite deadline: an unimpaired or loss-only link never reads
     * it. */
    int64_t deadline = INT64_MAX;
    if (timeout_ns > 0) {
        int64_t start = real_now();
        deadline = timeout_ns > INT64_MAX - start ? INT64_MAX : start + timeout_ns;
    }
    for (;;) {
        int64_t now = 0;
        if (e->n > 0) {
            now = e->timeless ? 0 : real_now();
            if (e->heap[0].t <= now)
                return hand_out(e, hdr, payload);
        }
        if (e->n == 0 && e->inner_err)
            return e->inner_err;
        if (deadline != INT64_MAX && e->n == 0)
            now = real_now();
        if (timeout_ns == 0 || (deadline != INT64_MAX && now >= deadline)) {
            /* A last look: take what has already arrived (all a try-once
             * receive does), and hand out a frame if one is due now. */
            while (pull(e, max_payload, 0, cancel, NULL) == 0)
                ;
            if (e->n > 0 && e->heap[0].t <= (e->timeless ? 0 : real_now()))
                return hand_out(e, hdr, payload);
            return timeout_ns == 0 ? -EAGAIN : -ETIME;
        }
        int64_t until = deadline;
        if (e->n > 0 && e->heap[0].t < until)
            until = e->heap[0].t;
        int64_t wait = until == INT64_MAX ? KC_NO_TIMEOUT : until - now;
        int rc;
        if (e->inner_err) {
            /* The link has ended but frames are still in flight: sleep
             * until the next one is due. */
            if ((rc = kc_sched_sleep(wait, cancel)) == -ECANCELED)
                return rc;
            continue;
        }
        held_t direct;
        rc = pull(e, max_payload, wait, cancel, &direct);
        if (rc == 1) {
            *hdr = direct.hdr;
            *payload = direct.payload;
            return 0;
        }
        if (rc == -ECANCELED)
            return rc;
        if (rc < 0 && rc != -ETIME && rc != -EAGAIN && e->n == 0)
            return rc;
    }
}

static void sim_close(void *self)
{
    sim_ep_t *e = self;
    kc_transport_close(e->inner);
    kc_sim_clock_t *c = e->clock;
    bool turns = !e->listener && kc__sim_clock_turns(c);
    if (c)
        kc__sim_clock_use(c, 1); /* the kicks below still need it */
    ep_free(e);
    if (turns) {
        /* The peer's receiver and sender wait on the clock, not on the
         * inner link: let them see its end. */
        kc__sim_clock_kick(c, KC_SIM_LIST_FRAMES);
        kc__sim_clock_kick(c, KC_SIM_LIST_ROOM);
    }
    if (c)
        kc__sim_clock_use(c, -1);
}

static kc_sim_clock_t *sim_clock(void *self)
{
    const sim_ep_t *e = self;
    return e->clock;
}

static int sim_stats(void *listener, kc_transport_stats_t *out)
{
    sim_ep_t *l = listener;
    return l->listener ? kc_transport_stats(l->inner, out) : -ENOTSUP;
}

static const kc_transport_ops_t sim_ops = {
    .size = sizeof(kc_transport_ops_t),
    .scheme = "sim",
    .listen = sim_listen,
    .accept = sim_accept,
    .connect = sim_connect,
    .send_frame = sim_send,
    .recv_frame = sim_recv,
    .close = sim_close,
    .poll_handle = NULL, /* held frames make the inner fd's readiness wrong */
    .stats = sim_stats,
    .send_frames = NULL,
    .clock = sim_clock,
    .flags = KC_TRANSPORT_OPS_WRAPS,
};

int kc_sim_register(void)
{
    int rc = kc_transport_register(&sim_ops);
    if (rc == -EBUSY && kc_transport_lookup("sim:") == &sim_ops)
        rc = 0;
    const char *words = getenv("KCORO_SIM");
    if (rc == 0 && words && words[0])
        rc = kc_transport_interpose("sim");
    return rc;
}

/* Loading the library installs the scheme, and with KCORO_SIM set routes
 * every listen and connect through it: any program runs impaired with no
 * code change. */
__attribute__((constructor)) static void sim_load(void)
{
    (void)kc_sim_register();
}
