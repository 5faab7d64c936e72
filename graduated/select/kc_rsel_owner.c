/* kc_rsel_owner.c - the owner's side of remote select: subscriptions, leased reservations, claims.
 *
 * The owner serves one local channel to its peers. A receive subscription
 * (SELECT_REGISTER) waits in a FIFO; the owner's thread takes an element
 * for the first waiting one (from the elements released earlier, else from
 * the channel), *reserves* it for that subscription with a lease and sends
 * SELECT_NOTIFY. The subscriber's select decides locally (its claim word)
 * and then claims (SELECT_CLAIM): the owner commits the reservation
 * (SELECT_COMMIT with the element) or, when the reservation is gone,
 * rejects (SELECT_REJECT). A subscription that ends without a claim
 * (SELECT_CANCEL: its select was decided otherwise, or its fire lost), a
 * lease that runs out, and a peer whose connection is lost release their
 * reservations, and the next waiter gets the element. A send subscription
 * is told when the channel has room (a hint: the channel's room waiter,
 * kc__chan_wait_room, wakes the owner's thread when a receive frees a
 * slot); a send claim carries its element and commits if the channel
 * takes it now.
 *
 * Invariants (under `mu`; kc_rsel_owner_stats reports O1's terms, which
 * the tests check):
 *   O1  every element the owner took from its channel is in exactly one
 *       place: the released list, one reservation, or a COMMIT handed to
 *       the connection, after which it is the claimant's, or back in the
 *       channel (taken == committed + held + returned, held = released +
 *       reserved);
 *   O2  the released list is in the order the elements left the channel,
 *       and is served before the channel: an element whose claimant lost
 *       goes back to its original position among the remote waiters;
 *   O3  a claim commits only the reservation of the same peer and id (or,
 *       PLAIN, an element nobody holds); anything else is rejected, so a
 *       lease that ran out can never commit twice;
 *   O4  a COMMIT the connection refuses (cut) puts its element back (O1);
 *   O5  an element released (its subscriber cancelled, lost its lease or
 *       its connection) that no receive subscription takes within the
 *       owner's lease goes back into the channel, so it reaches the
 *       owner's local receivers too: it is never held for nobody. It joins
 *       the channel's tail (a channel has no way in at its head), so its
 *       order among later elements is lost; O1 then reads taken ==
 *       committed + held + returned.
 *   O6  the owner's thread never polls: it waits for exactly what serve
 *       says is missing (an element for a waiting receive subscription, or
 *       room for a waiting send subscription or an element to return),
 *       each bounded by the next lease to run out, and whoever changes
 *       that (a message, a loss, destroy) kicks it (rewake); every wake is
 *       counted (`wakes`), so a test sees that an idle owner sleeps.
 */
#include "kc_rsel_impl.h"

#include "chan/kc_chan_svc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* No deadline (the owner's thread waits for a kick or its event only). */
#define KC_RSEL_NEVER INT64_MAX
/* How long the owner's thread waits before it tries again after a failed
 * allocation (the one timed retry left: memory, not the channel). */
#define KC_RSEL_NOMEM_NS 1000000LL

/* What the owner's thread waits for (O6). */
enum {
    W_NONE = 0, /* not waiting (running, or kicked) */
    W_IDLE = 1, /* a kick (cv) or the next lease */
    W_ELEM = 2, /* an element in the channel, a kick (kick) or the next lease */
    W_ROOM = 3  /* room in the channel, a kick (kick) or the next lease */
};

/* What serve leaves for the owner's thread. */
struct want {
    bool hungry;   /* a receive subscription waits for an element */
    bool room;     /* something waits for room in the full channel */
    int64_t until; /* the next lease to run out, or KC_RSEL_NEVER */
};

/* An element in the owner's hands, with its place in the channel's order. */
struct held {
    struct held *next;
    uint64_t seq;
    int64_t since; /* when it was last released (S_RESERVED -> released) */
    uint8_t elem[];
};

enum {
    S_WAIT = 0,     /* subscribed, nothing for it yet */
    S_RESERVED = 1, /* receive: an element reserved, NOTIFY sent */
    S_NOTIFIED = 2  /* send (room), or receive on a closed channel: NOTIFY sent */
};

struct sub {
    struct sub *next;
    int peer;
    uint64_t id;
    uint8_t op;
    int state;
    int64_t lease, deadline;
    struct held *h; /* S_RESERVED */
};

/* What the connection of one peer delivers to. */
struct ep_ctx {
    struct kc_rsel_owner *o;
    int peer;
};

struct kc_rsel_owner {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kc_chan_t *ch;
    uint32_t chan_id;
    size_t elem;
    int64_t lease_max;
    struct sub *subs;      /* in arrival order */
    struct held *released; /* by seq (O2) */
    uint64_t next_seq;
    struct {
        kc_rsel_link_t link; /* send NULL: not connected */
        bool lost;
    } peers[KC_RSEL_MAX_PEERS];
    struct ep_ctx eps[KC_RSEL_MAX_PEERS];
    bool stop;
    int waiting;        /* W_*: what the thread waits for now */
    int64_t wait_until; /* and until when */
    kc_cancel_t *kick;  /* the W_ELEM/W_ROOM wait's cancellation, or NULL */
    pthread_t th;
    kc_rsel_owner_stats_t st;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Under mu: send a message to peer; -EPIPE when its connection is gone. */
static int reply(kc_rsel_owner_t *o, int peer, uint8_t cmd, uint8_t op, uint16_t why, uint64_t id,
                 const void *elem, size_t len)
{
    if (o->peers[peer].link.send == NULL || o->peers[peer].lost)
        return -EPIPE;
    uint8_t stack[KC_RSEL_HDR + 256];
    uint8_t *buf = stack;
    if (len > sizeof(stack) - KC_RSEL_HDR) {
        buf = malloc(KC_RSEL_HDR + len);
        if (buf == NULL)
            return -ENOMEM;
    }
    kc_rsel_msg_t m = {cmd, op, why, o->chan_id, id, 0};
    int n = kc__rsel_encode(&m, elem, len, buf, KC_RSEL_HDR + len);
    int rc = o->peers[peer].link.send(o->peers[peer].link.ctx, buf, (size_t)n);
    if (buf != stack)
        free(buf);
    return rc;
}

/* O2: put h back among the released elements in channel order. */
static void give_back(kc_rsel_owner_t *o, struct held *h)
{
    h->since = now_ns();
    struct held **pp = &o->released;
    while (*pp != NULL && (*pp)->seq < h->seq)
        pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
}

/* Under mu: the oldest element nobody holds (released first, O2), or NULL. */
static struct held *take_held(kc_rsel_owner_t *o)
{
    struct held *h = o->released;
    if (h != NULL) {
        o->released = h->next;
        return h;
    }
    h = malloc(sizeof(*h) + o->elem);
    if (h == NULL)
        return NULL;
    if (kc_chan_try_recv(o->ch, h->elem) != 0) {
        free(h);
        return NULL;
    }
    h->seq = o->next_seq++;
    o->st.taken++;
    return h;
}

static bool drained(kc_rsel_owner_t *o)
{
    return o->released == NULL && kc_chan_is_closed(o->ch) && kc_chan_len(o->ch) == 0;
}

static void unlink_sub(kc_rsel_owner_t *o, struct sub *s)
{
    for (struct sub **pp = &o->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            return;
        }
    }
}

static struct sub *find_sub(kc_rsel_owner_t *o, int peer, uint64_t id)
{
    for (struct sub *s = o->subs; s != NULL; s = s->next)
        if (s->peer == peer && s->id == id)
            return s;
    return NULL;
}

/* Under mu: end s; a reservation goes back (O1, O2). */
static void end_sub(kc_rsel_owner_t *o, struct sub *s, bool expired)
{
    unlink_sub(o, s);
    if (s->state == S_RESERVED) {
        give_back(o, s->h);
        o->st.released++;
        if (expired)
            o->st.expired++;
    }
    free(s);
}

/* Under mu, with no receive subscription waiting: elements released a
 * lease ago that nobody wanted since go back into the channel, oldest
 * first (O5), where the owner's local receivers see them too. */
static void return_idle(kc_rsel_owner_t *o, int64_t now)
{
    while (o->released != NULL && o->released->since + o->lease_max <= now) {
        struct held *h = o->released;
        if (kc_chan_try_send(o->ch, h->elem) != 0)
            return; /* full or closed: kept, served first, tried again */
        o->released = h->next;
        o->st.returned++;
        free(h);
    }
}

/* Under mu: give elements to waiting receive subscriptions, tell send
 * subscriptions about room and everyone about a close; expire leases.
 * *w gets what the owner's thread must wait for next (O6). */
static void serve(kc_rsel_owner_t *o, struct want *w)
{
    int64_t now = now_ns();
    struct sub *s = o->subs;
    while (s != NULL) { /* leases */
        struct sub *next = s->next;
        if (s->state == S_RESERVED && s->deadline <= now)
            end_sub(o, s, true);
        s = next;
    }
    bool hungry = false;
    bool room_waits = false; /* a send subscription waits for room */
    /* a try of the room waiter: 0 room, -EPIPE closed, -EAGAIN full (a
     * rendezvous channel, -EINVAL, never has room to wait for) */
    int room = kc__chan_wait_room(o->ch, 0, NULL);
    for (s = o->subs; s != NULL; s = s->next) {
        if (s->state != S_WAIT)
            continue;
        if (s->op == KC_RSEL_SEND) {
            if ((room == 0 || room == -EPIPE) &&
                reply(o, s->peer, KC_RSEL_NOTIFY, s->op, 0, s->id, NULL, 0) == 0) {
                s->state = S_NOTIFIED;
                o->st.notifies++;
            } else {
                room_waits = true;
            }
            continue;
        }
        struct held *h = take_held(o);
        if (h == NULL) {
            if (!drained(o)) {
                hungry = true;
            } else if (reply(o, s->peer, KC_RSEL_NOTIFY, s->op, 0, s->id, NULL, 0) == 0) {
                s->state = S_NOTIFIED; /* closed: its claim learns it */
                o->st.notifies++;
            } /* else its connection is gone: the loss ends it */
            continue;
        }
        if (reply(o, s->peer, KC_RSEL_NOTIFY, s->op, 0, s->id, NULL, 0) != 0) {
            give_back(o, h); /* its connection is gone: the loss ends it */
            continue;
        }
        s->state = S_RESERVED;
        s->h = h;
        s->deadline = now + s->lease;
        o->st.notifies++;
    }
    if (!hungry)
        return_idle(o, now);
    w->hungry = hungry;
    /* room for the waiting send subscriptions, or for the released
     * elements return_idle could not put back (the channel was full) */
    w->room = !hungry && room == -EAGAIN &&
              (room_waits || (o->released != NULL && o->released->since + o->lease_max <= now));
    w->until = KC_RSEL_NEVER;
    for (s = o->subs; s != NULL; s = s->next)
        if (s->state == S_RESERVED && s->deadline < w->until)
            w->until = s->deadline;
    if (!hungry && o->released != NULL && o->released->since + o->lease_max > now &&
        o->released->since + o->lease_max < w->until)
        w->until = o->released->since + o->lease_max;
}

/* Under mu, after serve gave w outside the owner's thread: wake the thread
 * when what it waits for is no longer what it should (O6). */
static void rewake(kc_rsel_owner_t *o, const struct want *w)
{
    if (o->waiting == W_NONE)
        return;
    int kind = w->hungry ? W_ELEM : w->room ? W_ROOM : W_IDLE;
    if (kind == o->waiting && w->until >= o->wait_until && !o->stop)
        return;
    if (o->waiting == W_IDLE)
        pthread_cond_signal(&o->cv);
    else
        kc_cancel_trigger(o->kick); /* its wait returns -ECANCELED */
    o->waiting = W_NONE;            /* one kick per wait */
}

/* The relative wait until `until` (KC_RSEL_NEVER: KC_NO_TIMEOUT). */
static int64_t wait_for(int64_t until)
{
    if (until == KC_RSEL_NEVER)
        return KC_NO_TIMEOUT;
    int64_t left = until - now_ns();
    return left > 0 ? left : 0;
}

/* The owner's thread: serve, then wait for exactly what serve said (O6):
 * an element (a receive on the channel), room (the channel's room waiter),
 * or nothing but a kick; each until the next lease runs out. */
static void *owner_thread(void *arg)
{
    kc_rsel_owner_t *o = arg;
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        struct want w;
        serve(o, &w);
        int64_t left = wait_for(w.until);
        if (left == 0)
            continue; /* a lease ran out meanwhile: serve again */
        struct held *h = NULL;
        if ((w.hungry && (h = malloc(sizeof(*h) + o->elem)) == NULL) ||
            ((w.hungry || w.room) && o->kick == NULL && kc_cancel_create(&o->kick, NULL) != 0)) {
            /* no memory: wait for a kick, a lease or KC_RSEL_NOMEM_NS, then try again */
            free(h);
            w.hungry = w.room = false;
            int64_t again = now_ns() + KC_RSEL_NOMEM_NS;
            w.until = again < w.until ? again : w.until;
            left = wait_for(w.until);
        }
        o->wait_until = w.until;
        if (!w.hungry && !w.room) {
            o->waiting = W_IDLE;
            if (left == KC_NO_TIMEOUT) {
                pthread_cond_wait(&o->cv, &o->mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;
                ts.tv_sec = at / 1000000000;
                ts.tv_nsec = at % 1000000000;
                pthread_cond_timedwait(&o->cv, &o->mu, &ts);
            }
            o->waiting = W_NONE;
            o->st.wakes++;
            continue;
        }
        kc_cancel_t *kick = o->kick;
        o->waiting = w.hungry ? W_ELEM : W_ROOM;
        pthread_mutex_unlock(&o->mu);
        int rc = h != NULL ? kc_chan_recv(o->ch, h->elem, left, kick)
                           : kc__chan_wait_room(o->ch, left, kick);
        pthread_mutex_lock(&o->mu);
        o->waiting = W_NONE;
        o->st.wakes++;
        if (h != NULL && rc == 0) {
            h->seq = o->next_seq++;
            o->st.taken++;
            give_back(o, h); /* the newest: last in line (O2) */
        } else {
            free(h);
        }
        if (kc_cancel_is_triggered(kick)) { /* kicked (under mu, so it has returned) */
            while (kc_cancel_destroy(kick) == -EBUSY)
                sched_yield();
            o->kick = NULL;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/* Under mu: a claim (O3, O4). */
static void on_claim(kc_rsel_owner_t *o, int peer, const kc_rsel_msg_t *m, const uint8_t *elem,
                     size_t len)
{
    uint8_t op = m->op & (uint8_t)~KC_RSEL_PLAIN;
    struct sub *s = (m->op & KC_RSEL_PLAIN) ? NULL : find_sub(o, peer, m->id);
    if (op == KC_RSEL_SEND) {
        if (s != NULL)
            end_sub(o, s, false);
        int rc = len == o->elem ? kc_chan_try_send(o->ch, elem) : -EPROTO;
        if (rc == 0) {
            o->st.sends++;
            reply(o, peer, KC_RSEL_COMMIT, m->op, 0, m->id, NULL, 0);
        } else {
            o->st.rejects++;
            reply(o, peer, KC_RSEL_REJECT, m->op,
                  rc == -EPIPE ? KC_RSEL_WHY_CLOSED : KC_RSEL_WHY_EMPTY, m->id, NULL, 0);
        }
        return;
    }
    struct held *h = NULL;
    uint16_t why = KC_RSEL_WHY_GONE;
    if (m->op & KC_RSEL_PLAIN) {
        h = take_held(o);
        why = KC_RSEL_WHY_EMPTY;
    } else if (s != NULL && s->state == S_RESERVED) {
        h = s->h;
        s->state = S_WAIT; /* the reservation moves to the claim */
        end_sub(o, s, false);
    } else if (s != NULL) {
        end_sub(o, s, false); /* notified of a close, or still waiting: stale */
    }
    if (h == NULL) {
        if (drained(o))
            why = KC_RSEL_WHY_CLOSED;
        o->st.rejects++;
        reply(o, peer, KC_RSEL_REJECT, m->op, why, m->id, NULL, 0);
        return;
    }
    if (reply(o, peer, KC_RSEL_COMMIT, m->op, 0, m->id, h->elem, o->elem) != 0) {
        give_back(o, h); /* O4 */
        return;
    }
    o->st.committed++;
    free(h);
}

/* Under mu, on a message or a loss: serve, and wake the thread if it
 * should now wait for something else (O6). */
static void serve_outside(kc_rsel_owner_t *o)
{
    struct want w;
    serve(o, &w);
    rewake(o, &w);
}

static void owner_deliver(void *self, const uint8_t *msg, size_t len)
{
    struct ep_ctx *e = self;
    kc_rsel_owner_t *o = e->o;
    kc_rsel_msg_t m;
    const uint8_t *elem;
    size_t elen;
    if (kc__rsel_decode(msg, len, &m, &elem, &elen) != 0 || m.chan != o->chan_id)
        return; /* not ours: a peer that breaks the protocol gains nothing */
    pthread_mutex_lock(&o->mu);
    switch (m.cmd) {
    case KC_RSEL_REGISTER: {
        struct sub *s = calloc(1, sizeof(*s));
        if (s == NULL)
            break; /* the subscriber's lease-less wait: it times out or is cancelled */
        s->peer = e->peer;
        s->id = m.id;
        s->op = m.op;
        s->state = S_WAIT;
        s->lease = m.lease_ns > 0 && (int64_t)m.lease_ns < o->lease_max ? (int64_t)m.lease_ns
                                                                        : o->lease_max;
        struct sub **pp = &o->subs;
        while (*pp != NULL)
            pp = &(*pp)->next;
        *pp = s; /* FIFO: the oldest subscription is served first */
        serve_outside(o);
        break;
    }
    case KC_RSEL_CANCEL: {
        struct sub *s = find_sub(o, e->peer, m.id);
        if (s != NULL) {
            end_sub(o, s, false);
            serve_outside(o); /* pass it on */
        }
        break;
    }
    case KC_RSEL_CLAIM:
        on_claim(o, e->peer, &m, elem, elen);
        serve_outside(o);
        break;
    default:
        break; /* an owner receives no NOTIFY, COMMIT or REJECT */
    }
    pthread_mutex_unlock(&o->mu);
}

static void owner_lost(void *self)
{
    struct ep_ctx *e = self;
    kc_rsel_owner_t *o = e->o;
    pthread_mutex_lock(&o->mu);
    o->peers[e->peer].lost = true;
    struct sub *s = o->subs;
    while (s != NULL) {
        struct sub *next = s->next;
        if (s->peer == e->peer)
            end_sub(o, s, false);
        s = next;
    }
    serve_outside(o);
    pthread_mutex_unlock(&o->mu);
}

int kc_rsel_owner_create(kc_rsel_owner_t **out, kc_chan_t *ch, uint32_t chan_id, int64_t lease_ns)
{
    if (out == NULL || ch == NULL || lease_ns < 0)
        return -EINVAL;
    kc_chan_snapshot_t sn = KC_CHAN_SNAPSHOT_INIT;
    if (kc_chan_snapshot(ch, &sn) != 0 || sn.elem_size == 0)
        return -EINVAL;
    kc_rsel_owner_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return -ENOMEM;
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca; /* the lease clock: CLOCK_MONOTONIC, as now_ns */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    o->ch = ch;
    o->chan_id = chan_id;
    o->elem = sn.elem_size;
    o->lease_max = lease_ns > 0 && lease_ns < KC_RSEL_LEASE_MAX ? lease_ns : KC_RSEL_LEASE_MAX;
    for (int i = 0; i < KC_RSEL_MAX_PEERS; i++) {
        o->eps[i].o = o;
        o->eps[i].peer = i;
    }
    if (pthread_create(&o->th, NULL, owner_thread, o) != 0) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
        free(o);
        return -EAGAIN;
    }
    *out = o;
    return 0;
}

size_t kc__rsel_owner_elem(const kc_rsel_owner_t *o)
{
    return o->elem;
}

uint32_t kc__rsel_owner_chan(const kc_rsel_owner_t *o)
{
    return o->chan_id;
}

int kc_rsel_owner_peer(kc_rsel_owner_t *o, int peer, kc_rsel_endpoint_t *ep)
{
    if (o == NULL || ep == NULL || peer < 0 || peer >= KC_RSEL_MAX_PEERS)
        return -EINVAL;
    ep->deliver = owner_deliver;
    ep->lost = owner_lost;
    ep->self = &o->eps[peer];
    return 0;
}

int kc_rsel_owner_link(kc_rsel_owner_t *o, int peer, const kc_rsel_link_t *l)
{
    if (o == NULL || l == NULL || l->send == NULL || peer < 0 || peer >= KC_RSEL_MAX_PEERS)
        return -EINVAL;
    pthread_mutex_lock(&o->mu);
    o->peers[peer].link = *l;
    o->peers[peer].lost = false;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

int kc_rsel_owner_stats(kc_rsel_owner_t *o, kc_rsel_owner_stats_t *out)
{
    if (o == NULL || out == NULL || out->size < sizeof(*out))
        return -EINVAL;
    pthread_mutex_lock(&o->mu);
    *out = o->st;
    uint64_t held = 0;
    for (struct held *h = o->released; h != NULL; h = h->next)
        held++;
    uint64_t waiting = 0, send_waiting = 0;
    for (struct sub *s = o->subs; s != NULL; s = s->next) {
        held += s->state == S_RESERVED;
        waiting += s->state == S_WAIT && s->op == KC_RSEL_RECV;
        send_waiting += s->state == S_WAIT && s->op == KC_RSEL_SEND;
    }
    out->held = held; /* O1: taken == committed + held + returned */
    out->waiting = waiting;
    out->send_waiting = send_waiting;
    out->size = sizeof(*out);
    pthread_mutex_unlock(&o->mu);
    return 0;
}

void kc_rsel_owner_destroy(kc_rsel_owner_t *o, uint64_t *leftover)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    struct want none = {false, false, KC_RSEL_NEVER};
    rewake(o, &none);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->th, NULL);
    if (o->kick != NULL)
        kc_cancel_destroy(o->kick);
    while (o->subs != NULL)
        end_sub(o, o->subs, false);
    uint64_t left = 0;
    while (o->released != NULL) { /* back into the channel, oldest first */
        struct held *h = o->released;
        o->released = h->next;
        if (kc_chan_try_send(o->ch, h->elem) != 0)
            left++;
        free(h);
    }
    if (leftover != NULL)
        *leftover = left;
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
}
