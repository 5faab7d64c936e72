/* kc_rsel_client.c - the selector's side of remote select: an imported channel whose clauses speak the claim protocol.
 *
 * kc_rsel_import makes a remote kc_chan_t (core/src/chan/kc_chan_svc.h)
 * whose four select operations are this protocol, so kc_chan_select takes
 * its clauses beside local ones:
 *
 *   sel_ready     a hint: false after the owner said it had nothing, true
 *                 again after a commit or a notify nobody used, or once
 *                 KC_RSEL_REPROBE_NS have passed (C4);
 *   sel_arm       SELECT_REGISTER under a fresh id (the cookie); the
 *                 arming's token is kept until sel_disarm;
 *   NOTIFY (rx)   fires the armed token: won, the select will claim; lost
 *                 (the select was decided otherwise), SELECT_CANCEL at once
 *                 so the owner passes the reservation on;
 *   sel_disarm    SELECT_CANCEL for an arming nobody fired, and forget it;
 *   sel_complete  SELECT_CLAIM (of the fired arming's reservation, or
 *                 PLAIN: whatever is there) and wait for COMMIT or REJECT.
 *
 * Plain sends and receives on the channel use the same messages: a PLAIN
 * claim, and when it is rejected a subscription of their own, a park until
 * its NOTIFY, and the claim of that reservation.
 *
 * Invariants (under `mu`):
 *   C1  an arming fires at most once, and only while armed (between
 *       sel_arm and sel_disarm, X2 of kc_select_remote.c): every path that
 *       fires or disarms clears `armed` under mu;
 *   C2  every subscription the owner may hold a reservation for is ended
 *       by exactly one message: the CLAIM of a won fire, the CANCEL of a
 *       lost fire, or the CANCEL of sel_disarm (or by the connection's
 *       loss), so no reservation waits for its lease while its select
 *       lives;
 *   C3  each claim waits for exactly one answer (COMMIT or REJECT, matched
 *       by id), or the connection's loss (-ECONNRESET); an element moves
 *       only with a COMMIT;
 *   C4  a "nothing there" hint lasts at most KC_RSEL_REPROBE_NS: a select
 *       whose local clause is always ready never waits, so it never arms
 *       its remote clause and would never learn that elements came; after
 *       that long its poll claims again (one round trip, rejected when
 *       still empty), so a remote clause that became ready is taken
 *       within about that time, as an unbiased select owes it.
 */
#include "kc_rsel_impl.h"

#include "chan/kc_chan_svc.h"
#include "kcoro/park.h"
#include "sched/kc_sched_svc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a "nothing there" from the owner keeps the poll from claiming
 * (C4). */
#define KC_RSEL_REPROBE_NS 1000000LL

struct rchan;

struct arming {
    struct arming *next;
    uint64_t id;
    struct kc_waiter *wk; /* a select clause's token, or NULL: a plain wait */
    kc_parker_t *parker;  /* a plain wait's */
    bool armed, notified;
    uint8_t op;
};

struct pending {
    struct pending *next;
    uint64_t id;
    kc_parker_t *parker;
    bool done;
    int rc;
    void *buf; /* a receive's element lands here */
    size_t len;
    struct rchan *r;
};

struct rchan {
    struct rchan *next;
    kc_rsel_client_t *c;
    kc_chan_t *outer;
    uint32_t chan_id;
    size_t elem;
    /* [send]: 0 when a plain claim in the poll is worth it, else when the
     * owner last said there was nothing (C4) */
    _Atomic int64_t empty_at[2];
};

struct kc_rsel_client {
    pthread_mutex_t mu;
    kc_rsel_link_t link; /* send NULL: not connected */
    bool lost;
    uint64_t next_id;
    int64_t lease;
    struct arming *armings;
    struct pending *pendings;
    struct rchan *chans;
    kc_rsel_client_stats_t st;
};

/* Under mu: one message to the owner. */
static int to_owner(kc_rsel_client_t *c, uint8_t cmd, uint8_t op, uint32_t chan, uint64_t id,
                    const void *elem, size_t len)
{
    if (c->link.send == NULL || c->lost)
        return -ECONNRESET;
    uint8_t stack[KC_RSEL_HDR + 256];
    uint8_t *buf = stack;
    if (len > sizeof(stack) - KC_RSEL_HDR) {
        buf = malloc(KC_RSEL_HDR + len);
        if (buf == NULL)
            return -ENOMEM;
    }
    kc_rsel_msg_t m = {cmd, op, 0, chan, id, cmd == KC_RSEL_REGISTER ? (uint64_t)c->lease : 0};
    int n = kc__rsel_encode(&m, elem, len, buf, KC_RSEL_HDR + len);
    int rc = c->link.send(c->link.ctx, buf, (size_t)n);
    if (buf != stack)
        free(buf);
    return rc == 0 ? 0 : -ECONNRESET;
}

static struct arming *find_arming(kc_rsel_client_t *c, uint64_t id, struct arming ***link)
{
    for (struct arming **pp = &c->armings; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            if (link != NULL)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

/* Claim (C3): id names a reservation, or 0 for a PLAIN claim. */
static int claim(struct rchan *r, bool send, void *buf, uint64_t id)
{
    kc_rsel_client_t *c = r->c;
    kc_parker_t pk;
    kc_parker_init(&pk);
    struct pending pd = {NULL, 0, &pk, false, -EAGAIN, buf, r->elem, r};
    uint8_t op = send ? KC_RSEL_SEND : KC_RSEL_RECV;
    pthread_mutex_lock(&c->mu);
    if (id == 0) {
        id = ++c->next_id;
        op |= KC_RSEL_PLAIN;
    }
    pd.id = id;
    int rc = to_owner(c, KC_RSEL_CLAIM, op, r->chan_id, id, send ? buf : NULL, send ? r->elem : 0);
    if (rc != 0) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    c->st.claims++;
    pd.next = c->pendings;
    c->pendings = &pd;
    while (!pd.done) { /* the answer, or the loss, comes (C3) */
        pthread_mutex_unlock(&c->mu);
        (void)kc_park(&pk, KC_NO_TIMEOUT, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    if (pd.rc == -EPIPE)
        kc__chan_remote_closed(r->outer, 0);
    return pd.rc;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The hint (C4): ready means worth a claim. */
static void hint(struct rchan *r, bool send, bool ready)
{
    int64_t at = 0;
    if (!ready && (at = now_ns()) == 0)
        at = 1;
    atomic_store_explicit(&r->empty_at[send], at, memory_order_relaxed);
}

static bool r_sel_ready(void *impl, bool send)
{
    struct rchan *r = impl;
    int64_t at = atomic_load_explicit(&r->empty_at[send], memory_order_relaxed);
    return at == 0 || now_ns() - at >= KC_RSEL_REPROBE_NS;
}

static int r_sel_complete(void *impl, bool send, void *buf, uint64_t cookie)
{
    return claim(impl, send, buf, cookie);
}

static int rchan_arm(struct rchan *r, bool send, struct kc_waiter *wk, kc_parker_t *pk,
                     struct arming *a)
{
    kc_rsel_client_t *c = r->c;
    memset(a, 0, sizeof(*a));
    a->wk = wk;
    a->parker = pk;
    a->op = send ? KC_RSEL_SEND : KC_RSEL_RECV;
    pthread_mutex_lock(&c->mu);
    a->id = ++c->next_id;
    if (c->lost) {
        pthread_mutex_unlock(&c->mu);
        return -ECONNRESET;
    }
    a->armed = true;
    a->next = c->armings;
    c->armings = a;
    c->st.arms++;
    (void)to_owner(c, KC_RSEL_REGISTER, a->op, r->chan_id, a->id, NULL,
                   0); /* a cut: lost() fires it */
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int r_sel_arm(void *impl, bool send, struct kc_waiter *wk, uint64_t *cookie)
{
    struct arming *a = malloc(sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    int rc = rchan_arm(impl, send, wk, NULL, a);
    *cookie = a->id;
    if (rc != 0) { /* the connection is gone: the select learns it from its poll */
        free(a);
        kc__chan_select_fire(wk);
    }
    return 0;
}

/* Forget arming id; CANCEL it if nobody fired it (C2). */
static void rchan_disarm(struct rchan *r, uint64_t id, bool free_it)
{
    kc_rsel_client_t *c = r->c;
    pthread_mutex_lock(&c->mu);
    struct arming **link;
    struct arming *a = find_arming(c, id, &link);
    if (a != NULL) {
        if (a->armed) {
            a->armed = false;
            (void)to_owner(c, KC_RSEL_CANCEL, a->op, r->chan_id, a->id, NULL, 0);
        }
        *link = a->next;
        if (free_it)
            free(a);
    }
    pthread_mutex_unlock(&c->mu);
}

static void r_sel_disarm(void *impl, bool send, uint64_t cookie)
{
    (void)send;
    rchan_disarm(impl, cookie, true);
}

/* A plain send or receive: a PLAIN claim; rejected, a subscription of its
 * own, a park until its NOTIFY, and the claim of that. */
static int plain(struct rchan *r, bool send, void *buf, int64_t timeout_ns,
                 const kc_cancel_t *cancel)
{
    int64_t deadline = kc__deadline_after(timeout_ns);
    for (;;) {
        int rc = claim(r, send, buf, 0);
        if (rc != -EAGAIN || timeout_ns == 0)
            return rc;
        if (kc_cancel_is_triggered(cancel))
            return -ECANCELED;
        kc_parker_t pk;
        kc_parker_init(&pk);
        struct arming a;
        rc = rchan_arm(r, send, NULL, &pk, &a);
        if (rc != 0)
            return rc;
        int prc = 0;
        for (;;) {
            pthread_mutex_lock(&r->c->mu);
            bool wait = a.armed;
            pthread_mutex_unlock(&r->c->mu);
            if (!wait)
                break;
            int64_t left = kc__deadline_left(deadline);
            if (left == 0 || prc < 0)
                break;
            prc = kc_park(&pk, left, cancel);
        }
        pthread_mutex_lock(&r->c->mu);
        bool notified = a.notified;
        pthread_mutex_unlock(&r->c->mu);
        rchan_disarm(r, a.id, false);
        if (notified) {
            rc = claim(r, send, buf, a.id);
            if (rc != -EAGAIN)
                return rc;
            continue; /* its lease ran out: again */
        }
        if (kc_cancel_is_triggered(cancel) || prc == -ECANCELED)
            return -ECANCELED;
        if (r->c->lost)
            return -ECONNRESET;
        if (kc__deadline_left(deadline) == 0)
            return -ETIME;
    }
}

static int r_send(void *impl, const void *elem, int64_t t, const kc_cancel_t *c)
{
    return plain(impl, true, (void *)(uintptr_t)elem, t, c);
}

static int r_recv(void *impl, void *out, int64_t t, const kc_cancel_t *c)
{
    return plain(impl, false, out, t, c);
}

static void r_close(void *impl, int reason)
{
    (void)impl; /* a local close stops this side's sends; the owner's channel stays open */
    (void)reason;
}

static size_t r_len(void *impl)
{
    (void)impl;
    return 0; /* the elements live at the owner */
}

static int r_destroy(void *impl)
{
    struct rchan *r = impl;
    kc_rsel_client_t *c = r->c;
    pthread_mutex_lock(&c->mu);
    for (struct pending *pd = c->pendings; pd != NULL; pd = pd->next)
        if (pd->r == r) {
            pthread_mutex_unlock(&c->mu);
            return -EBUSY;
        }
    for (struct rchan **pp = &c->chans; *pp != NULL; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    free(r);
    return 0;
}

static const kc__chan_remote_ops_t rsel_ops = {r_send, r_recv, r_close, r_len, r_destroy};
static const kc__chan_remote_sel_ops_t rsel_sel = {r_sel_ready, r_sel_complete, r_sel_arm,
                                                   r_sel_disarm};

static struct rchan *chan_by_id(kc_rsel_client_t *c, uint32_t id)
{
    for (struct rchan *r = c->chans; r != NULL; r = r->next)
        if (r->chan_id == id)
            return r;
    return NULL;
}

static void client_deliver(void *self, const uint8_t *msg, size_t len)
{
    kc_rsel_client_t *c = self;
    kc_rsel_msg_t m;
    const uint8_t *elem;
    size_t elen;
    if (kc__rsel_decode(msg, len, &m, &elem, &elen) != 0)
        return;
    bool send = (m.op & (uint8_t)~KC_RSEL_PLAIN) == KC_RSEL_SEND;
    pthread_mutex_lock(&c->mu);
    struct rchan *r = chan_by_id(c, m.chan);
    if (m.cmd == KC_RSEL_NOTIFY) {
        struct arming *a = find_arming(c, m.id, NULL);
        if (a == NULL || !a->armed) { /* its CANCEL or CLAIM is on the way (C2) */
            c->st.stale++;
            if (r != NULL)
                hint(r, send, true);
        } else if (a->wk != NULL) {
            a->armed = false; /* C1 */
            if (kc__chan_select_fire(a->wk)) {
                c->st.fires_won++;
            } else {
                c->st.fires_lost++;
                (void)to_owner(c, KC_RSEL_CANCEL, a->op, m.chan, a->id, NULL, 0); /* pass it on */
            }
        } else {
            a->armed = false;
            a->notified = true;
            kc_unpark(a->parker);
        }
    } else if (m.cmd == KC_RSEL_COMMIT || m.cmd == KC_RSEL_REJECT) {
        for (struct pending **pp = &c->pendings; *pp != NULL; pp = &(*pp)->next) {
            struct pending *pd = *pp;
            if (pd->id != m.id)
                continue;
            *pp = pd->next;
            if (m.cmd == KC_RSEL_COMMIT) {
                if (!send && elen == pd->len)
                    memcpy(pd->buf, elem, elen);
                pd->rc = (!send && elen != pd->len) ? -EPROTO : 0;
                c->st.commits++;
                if (pd->r != NULL) /* there may be more */
                    hint(pd->r, send, true);
            } else {
                pd->rc = m.why == KC_RSEL_WHY_CLOSED ? -EPIPE : -EAGAIN;
                c->st.rejects++;
                if (m.why == KC_RSEL_WHY_EMPTY && pd->r != NULL)
                    hint(pd->r, send, false);
            }
            pd->done = true;
            kc_unpark(pd->parker);
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void client_lost(void *self)
{
    kc_rsel_client_t *c = self;
    pthread_mutex_lock(&c->mu);
    c->lost = true;
    for (struct rchan *r = c->chans; r != NULL; r = r->next)
        kc__chan_remote_closed(r->outer, -ECONNRESET);
    for (struct arming *a = c->armings; a != NULL; a = a->next) {
        if (!a->armed)
            continue;
        a->armed = false; /* C1 */
        if (a->wk != NULL)
            (void)kc__chan_select_fire(a->wk);
        else
            kc_unpark(a->parker);
    }
    while (c->pendings != NULL) { /* C3 */
        struct pending *pd = c->pendings;
        c->pendings = pd->next;
        pd->rc = -ECONNRESET;
        pd->done = true;
        kc_unpark(pd->parker);
    }
    pthread_mutex_unlock(&c->mu);
}

int kc_rsel_client_create(kc_rsel_client_t **out, int64_t lease_ns)
{
    if (out == NULL || lease_ns < 0)
        return -EINVAL;
    kc_rsel_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->lease = lease_ns;
    *out = c;
    return 0;
}

int kc_rsel_client_endpoint(kc_rsel_client_t *c, kc_rsel_endpoint_t *ep)
{
    if (c == NULL || ep == NULL)
        return -EINVAL;
    ep->deliver = client_deliver;
    ep->lost = client_lost;
    ep->self = c;
    return 0;
}

int kc_rsel_client_link(kc_rsel_client_t *c, const kc_rsel_link_t *l)
{
    if (c == NULL || l == NULL || l->send == NULL)
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    c->link = *l;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int kc_rsel_import(kc_chan_t **out, kc_rsel_client_t *c, uint32_t chan_id, const kc_chan_opts_t *o)
{
    if (out == NULL || c == NULL || o == NULL || o->size < sizeof(*o) || o->elem_size == 0 ||
        o->elem_size > KC_CHAN_MAX_ELEM ||
        (o->kind == KC_CHAN_BUFFERED && (o->capacity == 0 || o->capacity > KC_CHAN_MAX_CAPACITY)))
        return -EINVAL; /* kc__chan_remote_create checks the rest */
    struct rchan *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->c = c;
    r->chan_id = chan_id;
    r->elem = o->elem_size;
    atomic_init(&r->empty_at[0], 0);
    atomic_init(&r->empty_at[1], 0);
    int rc = kc__chan_remote_create(&r->outer, o, &rsel_ops, r);
    if (rc == 0 && (rc = kc__chan_remote_set_select(r->outer, &rsel_sel)) != 0)
        (void)kc_chan_destroy(r->outer);
    if (rc != 0) {
        free(r);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    r->next = c->chans;
    c->chans = r;
    pthread_mutex_unlock(&c->mu);
    *out = r->outer;
    return 0;
}

int kc_rsel_client_stats(kc_rsel_client_t *c, kc_rsel_client_stats_t *out)
{
    if (c == NULL || out == NULL || out->size < sizeof(*out))
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->size = sizeof(*out);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int kc_rsel_client_destroy(kc_rsel_client_t *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    bool busy = c->chans != NULL;
    pthread_mutex_unlock(&c->mu);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&c->mu);
    free(c);
    return 0;
}
