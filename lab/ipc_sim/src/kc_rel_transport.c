/* kc_rel_transport.c - the "rel:" scheme: reliable frames over an
 * unreliable frame transport.
 *
 * "rel:<url>" opens <url> and wraps the endpoint. The user's frames are
 * serialised (16-byte header + payload) into a byte stream cut into
 * segments of at most mss bytes (kc_rel_window.c holds both windows,
 * kc_rel_wire.c the codecs and the RTO estimator). Two pumps per connected
 * endpoint do all inner I/O, so the inner transport sees one sender and one
 * receiver as its contract asks:
 *
 *   rx pump  always in the inner recv_frame. A SEG goes into the receive
 *            window (duplicates and segments beyond the window are dropped
 *            but still acknowledged) and an ACK is owed; an ACK updates the
 *            scoreboard, the RTT estimate and the congestion window.
 *   tx pump  the inner transport's only writer. It sleeps until there is an
 *            ACK owed, a segment judged lost, new data the windows allow,
 *            or the retransmission deadline; then sends, in that order.
 *
 * The pumps are coroutines of the scheduler the endpoint was opened on, or
 * threads when it was opened outside one. The user's send_frame only queues
 * segments (waiting for room in the send ring); recv_frame waits until a
 * whole frame is in order. One mutex guards the endpoint; it is never held
 * across a park or an inner call, and parkers are unparked under it, so a
 * waiter that gives up never races with its waker (kcoro/park.h's lifetime
 * rule holds trivially).
 *
 *   endpoint state  event                                   next      by
 *   --------------  --------------------------------------  --------  ---------------
 *   (none)          inner endpoint opened, pumps started    OPEN      rel_connect/accept
 *   OPEN            inner error or protocol violation       FAILED    a pump (e->err)
 *   OPEN            close: unacknowledged data drains       STOPPING  rel_close
 *                   (bounded linger), pumps stopped
 *   FAILED          close                                   STOPPING  rel_close
 * In FAILED the reader still gets the frames already in order, then the
 * error; senders get -EPIPE.
 */
#include "kc_rel_impl.h"
#include "kc_sim_impl.h"

#include "kcoro/park.h"
#include "kcoro/sched.h"

#include "sched/kc_sched_svc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Guards every listener's list of sessions and the sessions' pointers to
 * their listener (taken before an endpoint's lock). */
static pthread_mutex_t sess_lk = PTHREAD_MUTEX_INITIALIZER;

/* How long a listener waits for a new link's handshake. */
#define REL_HANDSHAKE_NS 1000000000LL

/* The linger of close: unacknowledged data gets at most this long. */
#define REL_LINGER_NS 1000000000LL
/* The largest SEG payload any peer may send (its mss may differ). */
#define REL_INNER_MAX (KC_REL_SEG_HDR + KC_REL_MSS_MAX)

typedef struct rel_cfg {
    uint32_t mss, window;
    int64_t rto_min, rto_init, rto_max;
    kc_rel_counters_t *counters;
    kc_rel_trace_fn_t trace;
    void *trace_arg;
    int64_t grace;
    kc_rel_link_fn_t on_link;
    void *link_arg;
} rel_cfg_t;

typedef struct rel_ep rel_ep_t;

struct rel_ep {
    kc_transport_t *inner;
    bool listener;
    rel_cfg_t cfg;
    kc_rel_counters_t own; /* counters when the options name none */
    kc_rel_counters_t *cnt;

    pthread_mutex_t lk;
    kc_rel_snd_t snd;
    kc_rel_rcv_t rcv;
    kc_rel_rto_t rto;
    int64_t rto_at;   /* the retransmission deadline (0: unarmed) */
    bool probe;       /* the timer allows one segment past the peer's window */
    bool ack_owed;    /* the tx pump owes the peer an ACK */
    uint32_t ts_echo; /* the timestamp that ACK echoes (0: none) */
    int err;          /* sticky: why the endpoint failed (0: it did not) */
    bool stopping;
    /* Who waits, if anyone: a kc_parker_t in real time, the waiter's
     * kc_sim_actor_t on a virtual clock. */
    void *tx_pump, *reader, *writer, *closer;
    kc_sim_clock_t *clk; /* the inner endpoint's virtual clock, or NULL */
    uint32_t role;       /* 0 connector, 1 acceptor (the trace's) */
    int pumps_live;
    kc_sim_ticket_t *tk_rx, *tk_tx; /* the pumps' places on clk */

    kc_cancel_t *stop;
    bool threads;
    kc_task_t *rx_task, *tx_task;
    pthread_t rx_th, tx_th;
    int64_t t0;
    uint8_t *txbuf; /* the tx pump's frame under construction */

    /* Sessions (cfg.grace > 0), under lk. The inner link of generation
     * `gen` is e->inner; both pumps use it with the token `link` (a child
     * of stop), which detaching fires so that neither stays in a dead
     * link. The rx pump then brings a new link (dials again, or waits for
     * the listener's handover) and resumes the session on it. */
    uint64_t sess;            /* the session's id (0: no sessions) */
    kc_cancel_t *link;        /* fired when the link is given up */
    uint64_t gen;             /* the link's generation */
    bool detached;            /* the link is gone, a new one is awaited */
    int64_t detached_at;      /* when it went */
    bool tx_busy;             /* the tx pump is inside the link's send */
    void *rx_wait;            /* the rx pump waits (tx_busy, handover) */
    kc_transport_t *handover; /* acceptor: a new link from the listener */
    uint64_t handover_nxt;    /* the connector's next expected segment */
    char *url;                /* connector: the inner URL, to dial again */
    kc_transport_opts_t iopts;
    /* The handshake over a link that may lose it (a datagram path): the
     * connector repeats NEW at hello_at until it learns its id; the
     * acceptor answers every NEW or RESUME that reaches an established
     * link again (sess_owed), since its first answer may be the one lost. */
    int64_t hello_at;
    int64_t hello_gap;
    bool sess_owed;
    rel_ep_t *lsn;   /* acceptor: its listener (NULL once either is closed) */
    rel_ep_t *snext; /* the listener's list of sessions */
    rel_ep_t *sessions;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The endpoint's time: its inner link's virtual clock, else monotonic. */
static int64_t now_ns(const rel_ep_t *e)
{
    return e->clk ? kc_sim_clock_now(e->clk) : mono_ns();
}

static void trace(const rel_ep_t *e, int64_t now, uint32_t kind, uint64_t seq, uint32_t len,
                  uint32_t aux)
{
    if (!e->cfg.trace)
        return;
    kc_rel_event_t ev = {e->clk ? now : now - e->t0, kind, e->role, seq, len, aux};
    e->cfg.trace(e->cfg.trace_arg, &ev);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- waiting and waking (under e->lk) ------------------------------ */

static void wake(const rel_ep_t *e, void **slot)
{
    if (*slot) {
        if (e->clk)
            kc__sim_clock_wake(*slot);
        else
            kc_unpark(*slot);
        *slot = NULL;
    }
}

/* The deadline timeout_ns from now on now_ns(): -1 for none (the
 * kc_transport_* wrappers hand a backend no other negative timeout),
 * saturating at INT64_MAX instead of overflowing (ERROR_SEMANTICS.md,
 * "Timeouts"). */
static int64_t deadline_in(const rel_ep_t *e, int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = now_ns(e);
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* Park on slot until woken, the absolute deadline (-1: none) or cancel.
 * Called and returns with e->lk held. */
static int wait_on(rel_ep_t *e, void **slot, int64_t deadline, const kc_cancel_t *cancel)
{
    if (e->clk) {
        /* Virtual time: wait as the clock's actor (a caller that is none
         * joins for the wait, at the end of the queue). */
        kc_sim_actor_t *me = kc__sim_clock_self(e->clk);
        bool visiting = !me;
        pthread_mutex_unlock(&e->lk);
        if (visiting) {
            int rc = kc_sim_clock_join(e->clk, NULL);
            if (rc < 0) {
                pthread_mutex_lock(&e->lk);
                return rc;
            }
            me = kc__sim_clock_self(e->clk);
        }
        pthread_mutex_lock(&e->lk);
        *slot = me;
        pthread_mutex_unlock(&e->lk);
        int rc = kc__sim_clock_wait(me, deadline, KC_SIM_LIST_NONE, cancel);
        pthread_mutex_lock(&e->lk);
        if (*slot == me)
            *slot = NULL;
        if (visiting) {
            pthread_mutex_unlock(&e->lk);
            kc_sim_clock_leave(e->clk);
            pthread_mutex_lock(&e->lk);
        }
        return rc;
    }
    kc_parker_t p;
    kc_parker_init(&p);
    int64_t timeout = KC_NO_TIMEOUT;
    if (deadline >= 0 && deadline != INT64_MAX) { /* a saturated deadline is none */
        timeout = deadline - now_ns(e);
        if (timeout <= 0) {
            return -ETIME;
        }
    }
    /* cppcheck-suppress autoVariables ; cleared below, under the lock, before p goes away */
    *slot = &p;
    pthread_mutex_unlock(&e->lk);
    int rc = kc_park(&p, timeout, cancel);
    pthread_mutex_lock(&e->lk);
    if (*slot == &p)
        *slot = NULL; /* nobody woke us; a waker that did ran under the lock */
    return rc;
}

static void fail(rel_ep_t *e, int rc)
{
    if (!e->err)
        e->err = rc;
    wake(e, &e->reader);
    wake(e, &e->writer);
    wake(e, &e->tx_pump);
    wake(e, &e->rx_wait);
}

/* ---- sessions (under e->lk) ------------------------------------------ */

/* The link of generation gen failed: give it up (once). The rx pump brings
 * the next one. */
static void detach(rel_ep_t *e, uint64_t gen)
{
    if (gen != e->gen || e->detached || e->err)
        return;
    e->detached = true;
    e->detached_at = now_ns(e);
    if (e->link)
        kc_cancel_trigger(e->link);
    wake(e, &e->tx_pump);
    wake(e, &e->rx_wait);
}

/* A new link carries the session on: the peer holds every segment below
 * peer_nxt; the rest goes out again. */
static int attach(rel_ep_t *e, kc_transport_t *in, uint64_t peer_nxt)
{
    kc_cancel_t *tok;
    int rc = kc_cancel_create(&tok, e->stop);
    if (rc < 0)
        return rc;
    if ((rc = kc__rel_snd_on_resume(&e->snd, peer_nxt, e->cfg.window)) < 0) {
        kc_cancel_destroy(tok);
        return rc;
    }
    kc_cancel_t *old = e->link;
    e->link = tok;
    if (old)
        while (kc_cancel_destroy(old) == -EBUSY)
            kc_sched_yield();
    e->inner = in;
    e->gen++;
    e->detached = false;
    e->rto_at = 0;
    e->probe = false;
    e->ack_owed = true; /* tell the peer where this side is at once */
    e->hello_at = 0;    /* an answer to RESUME confirms the session too */
    count(&e->cnt->resumed, 1);
    if (e->cfg.on_link)
        e->cfg.on_link(e->cfg.link_arg, in);
    wake(e, &e->tx_pump);
    return 0;
}

/* A session id: unpredictable enough to tell sessions apart (not a
 * secret: the link's own authentication, if any, guards it). */
static uint64_t new_session_id(void)
{
    static _Atomic uint64_t made;
    uint64_t n = atomic_fetch_add_explicit(&made, 1, memory_order_relaxed);
    uint64_t s[4];
    kc__sim_rng_seed(s, (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^
                            (uint64_t)(uintptr_t)&made ^ (n * 0x9e3779b97f4a7c15ull));
    return s[0] ? s[0] : 1;
}

/* Send m on in (the caller owns it: no pump uses it yet). */
static int sess_send(kc_transport_t *in, const kc_rel_sess_t *m, int64_t timeout,
                     const kc_cancel_t *cancel)
{
    kc_frame_hdr_t hdr;
    uint8_t buf[KC_REL_SESS_LEN];
    int rc = kc__rel_sess_encode(m, &hdr, buf);
    if (rc < 0)
        return rc;
    struct iovec iov = {buf, sizeof buf};
    return kc_transport_send_frame(in, &hdr, &iov, 1, timeout, cancel);
}

/* Receive a SESS frame on in within timeout (measured on the clock clk,
 * NULL: monotonic). Segments and ACKs that come first are dropped: on a
 * datagram path they may overtake the handshake or be left over from the
 * link's earlier use, and their sender resends them. A corrupted SESS is
 * dropped too (its sender repeats it); anything else is -EPROTO. */
static int sess_recv(kc_transport_t *in, kc_rel_sess_t *m, int64_t timeout,
                     const kc_cancel_t *cancel, kc_sim_clock_t *clk)
{
    int64_t end = timeout < 0 ? -1 : clk ? kc_sim_clock_now(clk) + timeout : mono_ns() + timeout;
    for (;;) {
        kc_frame_hdr_t hdr;
        void *pl = NULL;
        int rc = kc_transport_recv_frame(in, &hdr, &pl, REL_INNER_MAX, timeout, cancel);
        if (rc < 0)
            return rc;
        rc = kc__rel_sess_decode(&hdr, pl, m);
        free(pl);
        bool stale = hdr.type == KC_FRAME_SEG ||
                     (hdr.type == KC_FRAME_ACK && hdr.chan_id != KC_REL_CHAN_SESS) ||
                     rc == -EBADMSG;
        if (rc == 0 || !stale)
            return rc;
        if (end >= 0) {
            timeout = end - (clk ? kc_sim_clock_now(clk) : mono_ns());
            if (timeout <= 0)
                return -ETIME;
        }
    }
}

/* The connector's side of the handshake on a new link: ask for the session
 * (id 0: a new one), learn its id and the acceptor's next expected
 * segment. -ECONNRESET when the acceptor no longer has it. */
static int sess_dial(const rel_ep_t *e, kc_transport_t *in, uint64_t id, uint64_t rcv_nxt,
                     int64_t timeout, const kc_cancel_t *cancel, kc_rel_sess_t *reply)
{
    kc_rel_sess_t m = {id ? KC_REL_SESS_RESUME : KC_REL_SESS_NEW, id, rcv_nxt};
    /* Asked again, at doubling intervals from the first RTO, until answered:
     * on a datagram path either frame may be lost. */
    int64_t gap = e->rto.rto;
    int64_t end = timeout > INT64_MAX - now_ns(e) ? INT64_MAX : now_ns(e) + timeout;
    int rc;
    for (;;) {
        int64_t left = end - now_ns(e);
        if (left <= 0)
            return -ETIME;
        if ((rc = sess_send(in, &m, left, cancel)) < 0)
            return rc;
        rc = sess_recv(in, reply, gap < left ? gap : left, cancel, e->clk);
        if (rc != -ETIME)
            break;
        gap = gap > e->cfg.rto_max / 2 ? e->cfg.rto_max : gap * 2;
    }
    if (rc == 0 && reply->kind == KC_REL_SESS_GONE)
        return -ECONNRESET;
    if (rc == 0 && (reply->kind != KC_REL_SESS_OK || !reply->id || (id && reply->id != id)))
        return -EPROTO;
    return rc;
}

/* The rx pump's part after a link failed: wait until the tx pump is out of
 * the old link, close it, and bring a new one within the grace time.
 * Returns 0 on a new link, < 0 when the endpoint failed or stops. Called
 * and returns with e->lk held. */
static int reattach(rel_ep_t *e)
{
    while (e->tx_busy && !e->stopping)
        (void)wait_on(e, &e->rx_wait, -1, NULL);
    kc_transport_t *old = e->inner;
    e->inner = NULL;
    if (old) {
        if (e->cfg.on_link)
            e->cfg.on_link(e->cfg.link_arg, NULL);
        pthread_mutex_unlock(&e->lk);
        kc_transport_close(old);
        pthread_mutex_lock(&e->lk);
    }
    int64_t deadline =
        e->detached_at > INT64_MAX - e->cfg.grace ? INT64_MAX : e->detached_at + e->cfg.grace;
    int64_t backoff = 10000000; /* 10 ms, doubling to 1 s */
    for (;;) {
        if (e->stopping)
            return -EPIPE;
        if (e->err)
            return e->err;
        int64_t now = now_ns(e);
        if (now >= deadline) {
            fail(e, -ECONNRESET);
            return -ECONNRESET;
        }
        if (e->url == NULL) {
            /* Acceptor: the listener hands the next link over. */
            if (e->handover) {
                kc_transport_t *in = e->handover;
                e->handover = NULL;
                int rc = attach(e, in, e->handover_nxt);
                if (rc < 0) {
                    fail(e, rc);
                    pthread_mutex_unlock(&e->lk);
                    kc_transport_close(in);
                    pthread_mutex_lock(&e->lk);
                }
                return rc;
            }
            (void)wait_on(e, &e->rx_wait, deadline, e->stop);
            continue;
        }
        /* Connector: dial again. */
        uint64_t id = e->sess, nxt = e->rcv.nxt;
        int64_t left = deadline - now;
        pthread_mutex_unlock(&e->lk);
        kc_transport_t *in = NULL;
        kc_rel_sess_t reply;
        int rc = kc_transport_connect(e->url, &e->iopts, &in, left, e->stop);
        if (rc == 0 && (rc = sess_dial(e, in, id, nxt, left, e->stop, &reply)) < 0) {
            kc_transport_close(in);
            in = NULL;
        }
        pthread_mutex_lock(&e->lk);
        if (rc == 0) {
            if (e->stopping) {
                pthread_mutex_unlock(&e->lk);
                kc_transport_close(in);
                pthread_mutex_lock(&e->lk);
                return -EPIPE;
            }
            if ((rc = attach(e, in, reply.rcv_nxt)) < 0) {
                fail(e, rc);
                pthread_mutex_unlock(&e->lk);
                kc_transport_close(in);
                pthread_mutex_lock(&e->lk);
            }
            return rc;
        }
        if (rc == -ECONNRESET || rc == -EPROTO) {
            fail(e, rc == -EPROTO ? -EPROTO : -ECONNRESET);
            return rc;
        }
        int64_t at = now_ns(e) + backoff;
        (void)wait_on(e, &e->rx_wait, at < deadline ? at : deadline, e->stop);
        backoff = backoff * 2 > 1000000000 ? 1000000000 : backoff * 2;
    }
}

/* ---- the tx pump ---------------------------------------------------- */

static uint32_t ts_now(const rel_ep_t *e, int64_t now)
{
    uint32_t t = (uint32_t)((now - e->t0) / 1000);
    return t ? t : 1;
}

/* Build one segment's frame in e->txbuf. */
static int build_seg(rel_ep_t *e, uint64_t seq, int64_t now, kc_frame_hdr_t *hdr)
{
    kc_rel_seg_t *g = &e->snd.seg[seq % e->snd.cap];
    memcpy(e->txbuf + KC_REL_SEG_HDR, g->buf, g->len);
    int rc = kc__rel_seg_encode(seq, ts_now(e, now), g->buf, g->len, hdr, e->txbuf);
    if (!e->rto_at)
        e->rto_at = now + e->rto.rto;
    return rc;
}

/* Choose the next frame to send (under the lock): an ACK owed, a lost
 * segment, new data within both windows, or a window probe. Returns 1 with
 * the frame in hdr and e->txbuf, 0 when there is nothing to send. */
static int pick(rel_ep_t *e, int64_t now, kc_frame_hdr_t *hdr)
{
    kc_rel_snd_t *s = &e->snd;
    if (e->sess_owed || (e->hello_at && now >= e->hello_at)) {
        kc_rel_sess_t m = {KC_REL_SESS_OK, e->sess, e->rcv.nxt};
        if (e->sess_owed) {
            e->sess_owed = false;
        } else { /* the connector's NEW, unanswered so far */
            m = (kc_rel_sess_t){KC_REL_SESS_NEW, e->sess, 0};
            e->hello_gap = e->hello_gap > e->cfg.rto_max / 2 ? e->cfg.rto_max : e->hello_gap * 2;
            e->hello_at = now + e->hello_gap;
        }
        return kc__rel_sess_encode(&m, hdr, e->txbuf) < 0 ? -EPROTO : 1;
    }
    if (e->ack_owed) {
        kc_rel_ack_t a;
        kc__rel_rcv_ack(&e->rcv, &a);
        a.ts_echo = e->ts_echo;
        e->ack_owed = false;
        e->ts_echo = 0;
        if (kc__rel_ack_encode(&a, hdr, e->txbuf, KC_REL_ACK_HDR + 8 * KC_REL_MAX_SACK) < 0)
            return -EPROTO;
        count(&e->cnt->acks_out, 1);
        trace(e, now, KC_REL_EV_ACK_OUT, a.cum, hdr->len, a.n);
        return 1;
    }
    uint32_t pipe = kc__rel_snd_pipe(s);
    if (pipe < (uint32_t)s->cwnd) {
        for (uint64_t q = s->una; q < s->nxt; q++) {
            kc_rel_seg_t *g = &s->seg[q % s->cap];
            if ((g->st & KC_REL_S_LOST) && !(g->st & (KC_REL_S_RETX | KC_REL_S_SACKED))) {
                g->st |= KC_REL_S_RETX;
                count(&e->cnt->retrans, 1);
                /* Restart the timer on a retransmission (RFC 6675 section
                 * 6's option): the repair gets a whole RTO, instead of the
                 * one left since una last moved, which queueing on a
                 * rate-limited link makes fire spuriously. */
                e->rto_at = now + e->rto.rto;
                trace(e, now, KC_REL_EV_SEG_RETX, q, g->len, 0);
                return build_seg(e, q, now, hdr) < 0 ? -EPROTO : 1;
            }
        }
    }
    bool room = pipe < (uint32_t)s->cwnd && s->nxt < s->peer_end;
    if (s->nxt < s->end && (room || e->probe)) {
        e->probe = false;
        uint64_t q = s->nxt++;
        s->seg[q % s->cap].st = KC_REL_S_SENT;
        count(&e->cnt->segs_out, 1);
        trace(e, now, KC_REL_EV_SEG_OUT, q, s->seg[q % s->cap].len, 0);
        return build_seg(e, q, now, hdr) < 0 ? -EPROTO : 1;
    }
    return 0;
}

/* The retransmission timer expired (under the lock). */
static void on_timer(rel_ep_t *e, int64_t now)
{
    kc_rel_snd_t *s = &e->snd;
    if (s->una == s->nxt) {
        /* Nothing in flight: either idle or held back by the peer's
         * window, in which case one segment goes out as a probe. */
        e->probe = s->nxt < s->end;
        e->rto_at = 0;
        return;
    }
    count(&e->cnt->timeouts, 1);
    trace(e, now, KC_REL_EV_TIMEOUT, s->una, 0, (uint32_t)(s->nxt - s->una));
    kc__rel_rto_backoff(&e->rto);
    atomic_store_explicit(&e->cnt->rto_ns, e->rto.rto, memory_order_relaxed);
    kc__rel_snd_on_timeout(s);
    e->rto_at = now + e->rto.rto;
}

static int tx_loop(rel_ep_t *e)
{
    pthread_mutex_lock(&e->lk);
    while (!e->stopping && !e->err) {
        if (e->detached) {
            /* No link: nothing can be sent; the rx pump brings the next. */
            (void)wait_on(e, &e->tx_pump, -1, e->stop);
            continue;
        }
        int64_t now = now_ns(e);
        if (e->rto_at && now >= e->rto_at)
            on_timer(e, now);
        kc_frame_hdr_t hdr;
        int rc = pick(e, now, &hdr);
        if (rc < 0) {
            fail(e, rc);
            break;
        }
        if (rc == 1) {
            kc_transport_t *in = e->inner;
            const kc_cancel_t *tok = e->link ? e->link : e->stop;
            uint64_t gen = e->gen;
            e->tx_busy = true;
            pthread_mutex_unlock(&e->lk);
            struct iovec iov = {e->txbuf, hdr.len};
            rc = kc_transport_send_frame(in, &hdr, &iov, 1, KC_NO_TIMEOUT, tok);
            pthread_mutex_lock(&e->lk);
            e->tx_busy = false;
            wake(e, &e->rx_wait);
            if (rc < 0 && !e->stopping) {
                if (e->sess)
                    detach(e, gen); /* what was in flight goes out again on the next link */
                else
                    fail(e, rc == -ECANCELED ? -EPIPE : rc);
            }
            continue;
        }
        /* Idle: park until woken or the timer's deadline. With nothing in
         * flight and nothing queued the timer stays unarmed. */
        if (e->rto_at == 0 && e->snd.nxt < e->snd.end && e->snd.una == e->snd.nxt)
            e->rto_at = now + e->rto.rto; /* window-blocked: persist timer */
        int64_t until = e->rto_at ? e->rto_at : -1;
        if (e->hello_at && (until < 0 || e->hello_at < until))
            until = e->hello_at;
        rc = wait_on(e, &e->tx_pump, until, e->stop);
        if (rc == -ECANCELED && !e->stopping && !e->sess)
            fail(e, -EPIPE);
    }
    pthread_mutex_unlock(&e->lk);
    return 0;
}

/* ---- the rx pump ---------------------------------------------------- */

static void on_seg(rel_ep_t *e, const kc_frame_hdr_t *hdr, uint8_t *pl)
{
    uint32_t ts;
    size_t off;
    int rc = kc__rel_seg_decode(hdr, pl, &ts, &off);
    if (rc == -EBADMSG) {
        count(&e->cnt->bad_crc, 1);
        pthread_mutex_lock(&e->lk);
        trace(e, now_ns(e), KC_REL_EV_BAD_CRC, hdr->id, hdr->len, 0);
        pthread_mutex_unlock(&e->lk);
        free(pl);
        return;
    }
    if (rc == 0 && hdr->len == off)
        rc = -EPROTO; /* a segment carries at least one byte */
    pthread_mutex_lock(&e->lk);
    if (rc < 0) {
        fail(e, rc);
        pthread_mutex_unlock(&e->lk);
        free(pl);
        return;
    }
    uint32_t len = hdr->len - (uint32_t)off;
    memmove(pl, pl + off, len);
    uint64_t seq = kc__rel_widen(e->rcv.nxt, hdr->id);
    size_t had = e->rcv.avail;
    rc = kc__rel_rcv_put(&e->rcv, seq, pl, len);
    trace(e, now_ns(e),
          rc == 1   ? KC_REL_EV_SEG_IN
          : rc == 0 ? KC_REL_EV_SEG_DUP
                    : KC_REL_EV_SEG_BEYOND,
          seq, len, 0);
    if (rc == 1) {
        count(&e->cnt->segs_in, 1);
        e->ts_echo = ts;
        if (e->rcv.avail != had)
            wake(e, &e->reader);
    } else {
        count(rc == 0 ? &e->cnt->dups_in : &e->cnt->beyond_wnd, 1);
        free(pl);
    }
    e->ack_owed = true;
    wake(e, &e->tx_pump);
    pthread_mutex_unlock(&e->lk);
}

static void on_ack(rel_ep_t *e, const kc_frame_hdr_t *hdr, uint8_t *pl)
{
    kc_rel_ack_t a;
    pthread_mutex_lock(&e->lk);
    int rc = kc__rel_ack_decode(hdr, pl, e->snd.una, &a);
    free(pl);
    int64_t now = now_ns(e);
    if (rc == -EBADMSG) {
        count(&e->cnt->bad_crc, 1);
        trace(e, now, KC_REL_EV_BAD_CRC, hdr->id, hdr->len, 0);
        pthread_mutex_unlock(&e->lk);
        return;
    }
    uint64_t una = e->snd.una;
    if (rc == 0)
        rc = kc__rel_snd_on_ack(&e->snd, &a, e->cfg.window);
    if (rc < 0) {
        fail(e, rc);
        pthread_mutex_unlock(&e->lk);
        return;
    }
    count(&e->cnt->acks_in, 1);
    count(&e->cnt->fast_retrans, (uint64_t)rc);
    trace(e, now, KC_REL_EV_ACK_IN, a.cum, hdr->len, a.n);
    if (a.ts_echo) {
        uint32_t d = ts_now(e, now) - a.ts_echo;
        if (d < 0x80000000u) {
            kc__rel_rto_sample(&e->rto, (int64_t)d * 1000);
            count(&e->cnt->rtt_samples, 1);
            atomic_store_explicit(&e->cnt->srtt_ns, e->rto.srtt, memory_order_relaxed);
            atomic_store_explicit(&e->cnt->rto_ns, e->rto.rto, memory_order_relaxed);
        }
    }
    if (e->snd.una != una) /* RFC 6298 5.3: restart on new data acknowledged */
        e->rto_at = e->snd.una < e->snd.nxt ? now + e->rto.rto : 0;
    wake(e, &e->tx_pump);
    wake(e, &e->writer);
    pthread_mutex_unlock(&e->lk);
}

/* A handshake frame on an established link: the connector learns its new
 * session's id from the first one; others are late copies. */
static void on_sess(rel_ep_t *e, const kc_frame_hdr_t *hdr, uint8_t *pl)
{
    kc_rel_sess_t m;
    int rc = kc__rel_sess_decode(hdr, pl, &m);
    free(pl);
    pthread_mutex_lock(&e->lk);
    if (rc == 0 && e->url && e->hello_at) {
        /* The first answer to NEW (later ones are late copies). */
        e->hello_at = 0;
        if (m.kind != KC_REL_SESS_OK || m.id != e->sess)
            fail(e, m.kind == KC_REL_SESS_GONE ? -ECONNRESET : -EPROTO);
        else if (kc__rel_snd_on_hello(&e->snd) > 0)
            wake(e, &e->tx_pump); /* what NEW may have been overtaken by */
    } else if (rc == 0 && !e->url && e->sess &&
               ((m.kind == KC_REL_SESS_NEW && (m.id == 0 || m.id == e->sess)) ||
                (m.kind == KC_REL_SESS_RESUME && m.id == e->sess))) {
        /* The connector asks again: our answer was lost. */
        e->sess_owed = true;
        wake(e, &e->tx_pump);
    }
    pthread_mutex_unlock(&e->lk);
}

static int rx_loop(rel_ep_t *e)
{
    for (;;) {
        kc_frame_hdr_t hdr;
        void *pl = NULL;
        pthread_mutex_lock(&e->lk);
        kc_transport_t *in = e->inner;
        const kc_cancel_t *tok = e->link ? e->link : e->stop;
        uint64_t gen = e->gen;
        pthread_mutex_unlock(&e->lk);
        int rc = kc_transport_recv_frame(in, &hdr, &pl, REL_INNER_MAX, KC_NO_TIMEOUT, tok);
        if (rc < 0) {
            pthread_mutex_lock(&e->lk);
            if (e->sess && !e->stopping && !e->err) {
                /* A session outlives its link: bring the next one. */
                detach(e, gen);
                rc = reattach(e);
                pthread_mutex_unlock(&e->lk);
                if (rc == 0)
                    continue;
                return 0;
            }
            if (!e->stopping)
                fail(e, rc == -ECANCELED ? -EPIPE : rc);
            pthread_mutex_unlock(&e->lk);
            return 0;
        }
        if (hdr.type == KC_FRAME_SEG)
            on_seg(e, &hdr, pl);
        else if (hdr.type == KC_FRAME_ACK && hdr.chan_id == KC_REL_CHAN_SESS && e->cfg.grace)
            on_sess(e, &hdr, pl);
        else if (hdr.type == KC_FRAME_ACK)
            on_ack(e, &hdr, pl);
        else {
            free(pl);
            pthread_mutex_lock(&e->lk);
            fail(e, -EPROTO);
            pthread_mutex_unlock(&e->lk);
            return 0;
        }
    }
}

/* A pump's life: on a virtual clock it is one of the clock's actors from
 * its first step to its last; its last step tells the closer. */
static int pump(rel_ep_t *e, kc_sim_ticket_t *tk, int (*loop)(rel_ep_t *))
{
    if (e->clk && tk) /* else adopted: an actor since its spawn */
        kc_sim_clock_join(e->clk, tk);
    loop(e);
    pthread_mutex_lock(&e->lk);
    e->pumps_live--;
    wake(e, &e->closer);
    pthread_mutex_unlock(&e->lk);
    /* A coroutine of an adopting clock keeps its place to its end, so the
     * closer that joins it is woken in its turn (kc_sim_clock.c). */
    if (e->clk && !kc__task_turn())
        kc_sim_clock_leave(e->clk);
    return 0;
}

static int rx_pump(void *arg)
{
    rel_ep_t *e = arg;
    return pump(e, e->tk_rx, rx_loop);
}

static int tx_pump(void *arg)
{
    rel_ep_t *e = arg;
    return pump(e, e->tk_tx, tx_loop);
}

/* ---- endpoints ------------------------------------------------------ */

typedef struct resolved {
    rel_cfg_t cfg;
    kc_transport_opts_t inner;
} resolved_t;

static int resolve(const kc_transport_opts_t *o, resolved_t *r)
{
    static const kc_rel_opts_t none = KC_REL_OPTS_INIT;
    const kc_rel_opts_t *ro = o && o->adapter ? o->adapter : &none;
    if (ro->size < sizeof(kc_rel_opts_t))
        return -EINVAL;
    rel_cfg_t c = {ro->mss ? ro->mss : KC_REL_MSS_DEFAULT,
                   ro->window ? ro->window : KC_REL_WINDOW_DEFAULT,
                   ro->rto_min_ns ? ro->rto_min_ns : 10000000,
                   ro->rto_init_ns ? ro->rto_init_ns : 200000000,
                   ro->rto_max_ns ? ro->rto_max_ns : 10000000000LL,
                   ro->counters,
                   ro->trace,
                   ro->trace_arg,
                   ro->grace_ns > 0 ? ro->grace_ns : 0,
                   ro->on_link,
                   ro->link_arg};
    if (c.mss < KC_REL_MSS_MIN || c.mss > KC_REL_MSS_MAX || c.window < 4 ||
        c.window > KC_REL_WINDOW_MAX || c.rto_min <= 0 || c.rto_init < c.rto_min ||
        c.rto_max < c.rto_init)
        return -EINVAL;
    r->cfg = c;
    static const kc_transport_opts_t dflt = KC_TRANSPORT_OPTS_INIT;
    r->inner = o ? *o : dflt;
    r->inner.adapter = ro->inner;
    return 0;
}

static void ep_free(rel_ep_t *e)
{
    kc__rel_snd_free(&e->snd);
    kc__rel_rcv_free(&e->rcv);
    free(e->txbuf);
    if (e->link)
        while (kc_cancel_destroy(e->link) == -EBUSY)
            kc_sched_yield();
    if (e->stop)
        while (kc_cancel_destroy(e->stop) == -EBUSY)
            kc_sched_yield();
    free(e->url);
    pthread_mutex_destroy(&e->lk);
    free(e);
}

static void *rx_thread(void *arg)
{
    rx_pump(arg);
    return NULL;
}

static void *tx_thread(void *arg)
{
    tx_pump(arg);
    return NULL;
}

/* Start the pumps: coroutines of the caller's scheduler, else threads. On
 * a virtual clock each takes its place among the clock's actors first (rx,
 * then tx), so their order does not depend on which starts first. */
static int start_pumps(rel_ep_t *e)
{
    /* An actor of an adopting clock spawns actors: no tickets needed. */
    bool adopted = e->clk && kc__sim_clock_adopts(e->clk) && kc__task_turn() != NULL;
    if (e->clk && !adopted) {
        int rc = kc_sim_clock_ticket(e->clk, &e->tk_rx);
        if (rc < 0)
            return rc;
        if ((rc = kc_sim_clock_ticket(e->clk, &e->tk_tx)) < 0) {
            kc__sim_clock_drop(e->tk_rx);
            return rc;
        }
    }
    e->pumps_live = 2;
    kc_sched_t *s = kc_sched_current();
    if (s) {
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = "rel-rx";
        int rc = kc_sched_spawn(s, &e->rx_task, rx_pump, e, &at);
        if (rc < 0) {
            kc__sim_clock_drop(e->tk_rx);
            kc__sim_clock_drop(e->tk_tx);
            return rc;
        }
        at.name = "rel-tx";
        if ((rc = kc_sched_spawn(s, &e->tx_task, tx_pump, e, &at)) < 0) {
            kc__sim_clock_drop(e->tk_tx);
            pthread_mutex_lock(&e->lk);
            e->pumps_live--;
            e->stopping = true;
            pthread_mutex_unlock(&e->lk);
            kc_cancel_trigger(e->stop);
            kc_sched_join(e->rx_task, NULL, KC_NO_TIMEOUT, NULL);
            e->rx_task = NULL;
        }
        return rc;
    }
    e->threads = true;
    int rc = pthread_create(&e->rx_th, NULL, rx_thread, e);
    if (rc) {
        kc__sim_clock_drop(e->tk_rx);
        kc__sim_clock_drop(e->tk_tx);
        return -rc;
    }
    if ((rc = pthread_create(&e->tx_th, NULL, tx_thread, e))) {
        kc__sim_clock_drop(e->tk_tx);
        pthread_mutex_lock(&e->lk);
        e->pumps_live--;
        e->stopping = true;
        pthread_mutex_unlock(&e->lk);
        kc_cancel_trigger(e->stop);
        pthread_join(e->rx_th, NULL);
        e->threads = false;
        return -rc;
    }
    return 0;
}

static void stop_pumps(rel_ep_t *e)
{
    pthread_mutex_lock(&e->lk);
    e->stopping = true;
    wake(e, &e->tx_pump);
    pthread_mutex_unlock(&e->lk);
    kc_cancel_trigger(e->stop);
    if (e->clk) {
        /* The pumps are the clock's actors: their last steps need turns,
         * so wait for them on the clock before joining. */
        pthread_mutex_lock(&e->lk);
        while (e->pumps_live > 0)
            (void)wait_on(e, &e->closer, -1, NULL);
        pthread_mutex_unlock(&e->lk);
    }
    if (e->threads) {
        pthread_join(e->rx_th, NULL);
        pthread_join(e->tx_th, NULL);
    } else {
        if (e->rx_task)
            kc_sched_join(e->rx_task, NULL, KC_NO_TIMEOUT, NULL);
        if (e->tx_task)
            kc_sched_join(e->tx_task, NULL, KC_NO_TIMEOUT, NULL);
    }
}

/* A connected endpoint around inner (TAKES inner, closed on failure). */
/* Take a session off its listener's list (if both are still there). */
static void unlist(rel_ep_t *e)
{
    pthread_mutex_lock(&sess_lk);
    if (e->lsn) {
        for (rel_ep_t **pp = &e->lsn->sessions; *pp; pp = &(*pp)->snext) {
            if (*pp == e) {
                *pp = e->snext;
                break;
            }
        }
        e->lsn = NULL;
    }
    pthread_mutex_unlock(&sess_lk);
}

/* What a session endpoint needs besides the link: its id, and the URL and
 * options to dial again (connector) or its listener (acceptor). */
typedef struct sess_args {
    uint64_t id;
    const char *url;
    const kc_transport_opts_t *iopts;
    rel_ep_t *lsn;
} sess_args_t;

static int ep_make(kc_transport_t *inner, const rel_cfg_t *cfg, uint32_t role,
                   const sess_args_t *sa, rel_ep_t **out)
{
    rel_ep_t *e = calloc(1, sizeof(*e));
    if (!e) {
        kc_transport_close(inner);
        return -ENOMEM;
    }
    pthread_mutex_init(&e->lk, NULL);
    e->inner = inner;
    e->cfg = *cfg;
    e->cnt = cfg->counters ? cfg->counters : &e->own;
    e->clk = kc_transport_clock(inner);
    e->role = role;
    e->t0 = now_ns(e);
    /* The send ring holds two windows plus one largest frame, so a frame is
     * always queued whole (never half a frame on a timeout). */
    uint32_t ring = 2 * cfg->window + (KC_FRAME_MAX_MAX + KC_FRAME_HDR_SIZE) / cfg->mss + 2;
    int rc = kc__rel_snd_init(&e->snd, ring, cfg->window);
    if (rc == 0)
        rc = kc__rel_rcv_init(&e->rcv, cfg->window);
    if (rc == 0 && !(e->txbuf = malloc(KC_REL_SEG_HDR + KC_REL_MSS_MAX)))
        rc = -ENOMEM;
    if (rc == 0)
        rc = kc_cancel_create(&e->stop, NULL);
    if (rc == 0 && sa) {
        e->sess = sa->id;
        e->lsn = sa->lsn;
        rc = kc_cancel_create(&e->link, e->stop);
        if (rc == 0 && sa->url) {
            e->iopts = *sa->iopts;
            if (!(e->url = strdup(sa->url)))
                rc = -ENOMEM;
        }
    }
    kc__rel_rto_init(&e->rto, cfg->rto_min, cfg->rto_init, cfg->rto_max);
    e->snd.peer_end = cfg->window;  /* assume the peer's window is ours */
    if (rc == 0 && sa && sa->url) { /* rel_connect sent NEW: repeat it until answered */
        e->hello_gap = e->rto.rto;
        e->hello_at = e->t0 + e->hello_gap;
    }
    if (rc == 0 && e->lsn) {
        /* Known to the listener before the pumps run: a RESUME may come at
         * once. */
        pthread_mutex_lock(&sess_lk);
        e->snext = e->lsn->sessions;
        e->lsn->sessions = e;
        pthread_mutex_unlock(&sess_lk);
    }
    if (rc == 0 && cfg->on_link) {
        pthread_mutex_lock(&e->lk);
        cfg->on_link(cfg->link_arg, inner);
        pthread_mutex_unlock(&e->lk);
    }
    if (rc == 0)
        rc = start_pumps(e);
    if (rc < 0 && e->lsn)
        unlist(e);
    if (rc < 0) {
        kc_transport_close(inner);
        ep_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int rel_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    resolved_t r;
    int rc = resolve(o, &r);
    if (rc < 0)
        return rc;
    rel_ep_t *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    if ((rc = kc_transport_listen(addr, &r.inner, &e->inner)) < 0) {
        free(e);
        return rc;
    }
    pthread_mutex_init(&e->lk, NULL);
    e->listener = true;
    e->cfg = r.cfg;
    *self = e;
    return 0;
}

/* A RESUME for session m->id arrived on link in: answer with where this
 * side is and hand the link to the session's rx pump (which gives up the
 * old link if it had not yet). Returns true when in was handed over. */
static bool resume_session(rel_ep_t *l, kc_transport_t *in, const kc_rel_sess_t *m)
{
    bool handed = false;
    pthread_mutex_lock(&sess_lk);
    rel_ep_t *e = l->sessions;
    while (e && e->sess != m->id)
        e = e->snext;
    if (!e) {
        pthread_mutex_unlock(&sess_lk);
        kc_rel_sess_t gone = {KC_REL_SESS_GONE, m->id, 0};
        (void)sess_send(in, &gone, REL_HANDSHAKE_NS, NULL);
        return false;
    }
    /* sess_lk keeps e alive: its close takes it off the list first. */
    pthread_mutex_lock(&e->lk);
    bool ok = !e->err && !e->stopping && !e->handover;
    uint64_t nxt = e->rcv.nxt;
    if (ok)
        detach(e, e->gen);
    pthread_mutex_unlock(&e->lk);
    kc_rel_sess_t reply = {KC_REL_SESS_OK, m->id, nxt};
    if (ok && sess_send(in, &reply, REL_HANDSHAKE_NS, NULL) == 0) {
        pthread_mutex_lock(&e->lk);
        if (!e->err && !e->stopping && !e->handover) {
            e->handover = in;
            e->handover_nxt = m->rcv_nxt;
            wake(e, &e->rx_wait);
            handed = true;
        }
        pthread_mutex_unlock(&e->lk);
    }
    pthread_mutex_unlock(&sess_lk);
    return handed;
}

/* Whether listener l has a session named id. */
static bool listed(rel_ep_t *l, uint64_t id)
{
    pthread_mutex_lock(&sess_lk);
    const rel_ep_t *e = l->sessions;
    while (e && e->sess != id)
        e = e->snext;
    pthread_mutex_unlock(&sess_lk);
    return e != NULL;
}

/* Accept on a listener of sessions: each new link's first frame says
 * whether it starts a session (returned by accept) or resumes one (handed
 * to it; accept goes on waiting). */
static int accept_session(rel_ep_t *l, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                          const kc_cancel_t *cancel)
{
    int64_t deadline = deadline_in(l, timeout_ns);
    for (;;) {
        int64_t left = timeout_ns;
        if (deadline >= 0 && deadline != INT64_MAX) {
            left = deadline - now_ns(l);
            if (left <= 0)
                return timeout_ns == 0 ? -EAGAIN : -ETIME;
        }
        kc_transport_t *in;
        int rc = kc_transport_accept(l->inner, &in, peer, left, cancel);
        if (rc < 0)
            return rc;
        kc_rel_sess_t m;
        rc = sess_recv(in, &m, REL_HANDSHAKE_NS, cancel, kc_transport_clock(in));
        if (rc == -ECANCELED) {
            kc_transport_close(in);
            return rc;
        }
        if (rc == 0 && m.kind == KC_REL_SESS_NEW && m.id && listed(l, m.id)) {
            kc_rel_sess_t gone = {KC_REL_SESS_GONE, m.id, 0}; /* a name in use */
            (void)sess_send(in, &gone, REL_HANDSHAKE_NS, NULL);
        } else if (rc == 0 && m.kind == KC_REL_SESS_NEW) {
            kc_rel_sess_t ok = {KC_REL_SESS_OK, m.id ? m.id : new_session_id(), 0};
            if (sess_send(in, &ok, REL_HANDSHAKE_NS, cancel) == 0) {
                sess_args_t sa = {ok.id, NULL, NULL, l};
                return ep_make(in, &l->cfg, 1, &sa, (rel_ep_t **)self);
            }
        } else if (rc == 0 && m.kind == KC_REL_SESS_RESUME && resume_session(l, in, &m)) {
            continue;
        }
        kc_transport_close(in); /* no handshake, a bad one, or nobody to resume */
    }
}

static int rel_accept(void *listener, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    rel_ep_t *l = listener;
    if (!l->listener)
        return -EINVAL;
    if (l->cfg.grace > 0)
        return accept_session(l, self, peer, timeout_ns, cancel);
    kc_transport_t *inner;
    int rc = kc_transport_accept(l->inner, &inner, peer, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    return ep_make(inner, &l->cfg, 1, NULL, (rel_ep_t **)self);
}

static int rel_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    resolved_t r;
    int rc = resolve(o, &r);
    if (rc < 0)
        return rc;
    kc_transport_t *inner;
    if ((rc = kc_transport_connect(addr, &r.inner, &inner, timeout_ns, cancel)) < 0)
        return rc;
    if (r.cfg.grace == 0)
        return ep_make(inner, &r.cfg, 0, NULL, (rel_ep_t **)self);
    /* Ask for a new session and go on: the acceptor's answer (the id) is
     * the first frame the rx pump reads, so connect does not wait for the
     * server to accept, as with any stream. */
    /* The connector names the session, so it can ask to resume it even
     * when the acceptor's answer was lost before the link was. */
    kc_rel_sess_t m = {KC_REL_SESS_NEW, new_session_id(), 0};
    if ((rc = sess_send(inner, &m, timeout_ns, cancel)) < 0) {
        kc_transport_close(inner);
        return rc;
    }
    sess_args_t sa = {m.id, addr, &r.inner, NULL};
    return ep_make(inner, &r.cfg, 0, &sa, (rel_ep_t **)self);
}

static int rel_send(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov, int iovcnt,
                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    rel_ep_t *e = self;
    if (e->listener)
        return -EINVAL;
    uint8_t eh[KC_FRAME_HDR_SIZE];
    if (kc_frame_encode(hdr, eh) < 0 || iovcnt < 0 || iovcnt > 64 || (iovcnt && !iov))
        return -EINVAL;
    uint64_t sum = 0;
    for (int i = 0; i < iovcnt; i++)
        sum += iov[i].iov_len;
    if (sum != hdr->len)
        return -EINVAL;
    uint32_t mss = e->cfg.mss;
    uint64_t total = KC_FRAME_HDR_SIZE + (uint64_t)hdr->len;
    int64_t deadline = deadline_in(e, timeout_ns);
    kc_rel_snd_t *s = &e->snd;
    pthread_mutex_lock(&e->lk);
    int rc = 0;
    for (;;) {
        if (e->err || e->stopping) {
            rc = e->err == -ECONNRESET ? -ECONNRESET : -EPIPE;
            goto out;
        }
        /* Room in the tail segment (queued, not yet sent) plus free slots. */
        uint64_t tail_room = 0;
        if (s->end > s->nxt)
            tail_room = mss - s->seg[(s->end - 1) % s->cap].len;
        uint64_t free_slots = s->cap - (s->end - s->una);
        if (tail_room + free_slots * mss >= total)
            break;
        if (timeout_ns == 0) {
            rc = -EAGAIN;
            goto out;
        }
        rc = wait_on(e, &e->writer, deadline, cancel);
        if (rc == -ETIME || rc == -ECANCELED)
            goto out;
    }
    /* Copy the header and the iov's bytes into segments. */
    struct iovec parts[1 + 64];
    int np = 0;
    parts[np++] = (struct iovec){eh, sizeof eh};
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len)
            parts[np++] = iov[i];
    for (int i = 0; i < np; i++) {
        const uint8_t *src = parts[i].iov_base;
        size_t left = parts[i].iov_len;
        while (left > 0) {
            kc_rel_seg_t *g = s->end > s->nxt ? &s->seg[(s->end - 1) % s->cap] : NULL;
            if (!g || g->len == mss) {
                g = &s->seg[s->end % s->cap];
                if (!(g->buf = malloc(mss))) {
                    rc = -ENOMEM; /* what was queued stays: the stream is broken */
                    fail(e, -ENOMEM);
                    goto out;
                }
                g->len = 0;
                g->st = 0;
                s->end++;
            }
            size_t n = mss - g->len < left ? mss - g->len : left;
            memcpy(g->buf + g->len, src, n);
            g->len += (uint32_t)n;
            src += n;
            left -= n;
        }
    }
    wake(e, &e->tx_pump);
out:
    pthread_mutex_unlock(&e->lk);
    return rc;
}

static int rel_recv(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    rel_ep_t *e = self;
    if (e->listener)
        return -EINVAL;
    int64_t deadline = deadline_in(e, timeout_ns);
    kc_rel_rcv_t *r = &e->rcv;
    pthread_mutex_lock(&e->lk);
    int rc;
    for (;;) {
        if (r->avail >= KC_FRAME_HDR_SIZE) {
            uint8_t eh[KC_FRAME_HDR_SIZE];
            kc__rel_rcv_peek(r, eh, sizeof eh);
            kc_frame_hdr_t h;
            if ((rc = kc_frame_decode(eh, sizeof eh, &h)) < 0) {
                fail(e, rc);
                goto out;
            }
            if (h.len > max_payload) {
                fail(e, -EMSGSIZE);
                rc = -EMSGSIZE;
                goto out;
            }
            if (r->avail >= KC_FRAME_HDR_SIZE + (size_t)h.len) {
                void *p = NULL;
                if (h.len && !(p = malloc(h.len))) {
                    rc = -ENOMEM;
                    goto out;
                }
                uint32_t before = kc__rel_rcv_window(r);
                kc__rel_rcv_read(r, NULL, KC_FRAME_HDR_SIZE);
                kc__rel_rcv_read(r, p, h.len);
                /* A window that was nearly closed reopened: tell the peer. */
                if (before < r->cap / 2 && kc__rel_rcv_window(r) >= r->cap / 2) {
                    e->ack_owed = true;
                    wake(e, &e->tx_pump);
                }
                *hdr = h;
                *payload = p;
                rc = 0;
                goto out;
            }
        }
        if (e->err) {
            rc = r->avail ? -ECONNRESET : e->err;
            goto out;
        }
        if (timeout_ns == 0) {
            rc = -EAGAIN;
            goto out;
        }
        rc = wait_on(e, &e->reader, deadline, cancel);
        if (rc == -ETIME || rc == -ECANCELED)
            goto out;
    }
out:
    pthread_mutex_unlock(&e->lk);
    return rc;
}

static void rel_close(void *self)
{
    rel_ep_t *e = self;
    if (e->listener) {
        /* Its sessions live on; they no longer hear of new links. */
        pthread_mutex_lock(&sess_lk);
        for (rel_ep_t *x = e->sessions; x; x = x->snext)
            x->lsn = NULL;
        e->sessions = NULL;
        pthread_mutex_unlock(&sess_lk);
    }
    if (!e->listener) {
        unlist(e);
        /* Linger: let the unacknowledged data reach the peer. */
        int64_t deadline = now_ns(e) + REL_LINGER_NS;
        pthread_mutex_lock(&e->lk);
        while (!e->err && e->snd.una < e->snd.end &&
               wait_on(e, &e->writer, deadline, NULL) != -ETIME)
            ;
        pthread_mutex_unlock(&e->lk);
        stop_pumps(e);
        if (e->handover)
            kc_transport_close(e->handover);
        if (e->inner && e->cfg.on_link) {
            pthread_mutex_lock(&e->lk);
            e->cfg.on_link(e->cfg.link_arg, NULL);
            pthread_mutex_unlock(&e->lk);
        }
    }
    kc_transport_close(e->inner);
    if (e->listener) {
        pthread_mutex_destroy(&e->lk);
        free(e);
        return;
    }
    ep_free(e);
}

static int rel_stats(void *listener, kc_transport_stats_t *out)
{
    rel_ep_t *l = listener;
    return l->listener ? kc_transport_stats(l->inner, out) : -ENOTSUP;
}

static kc_sim_clock_t *rel_clock(void *self)
{
    rel_ep_t *e = self;
    return e->listener ? kc_transport_clock(e->inner) : e->clk;
}

static const kc_transport_ops_t rel_ops = {
    .size = sizeof(kc_transport_ops_t),
    .scheme = "rel",
    .listen = rel_listen,
    .accept = rel_accept,
    .connect = rel_connect,
    .send_frame = rel_send,
    .recv_frame = rel_recv,
    .close = rel_close,
    .poll_handle = NULL, /* frames wait in the windows, not in an fd */
    .stats = rel_stats,
    .send_frames = NULL,
    .clock = rel_clock,
    .flags = KC_TRANSPORT_OPS_WRAPS,
};

int kc_rel_register(void)
{
    int rc = kc_transport_register(&rel_ops);
    return rc == -EBUSY && kc_transport_lookup("rel:") == &rel_ops ? 0 : rc;
}
