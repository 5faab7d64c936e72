/* kc_storm.h - the multi-thread storm: exactly-once delivery under load.
 *
 * Half the threads send, half receive, through one-shot rendezvous cells
 * found by two counters (send and receive indices), as a segmented channel
 * would: sender i and receiver i meet in cell i. Each value is sent once.
 * Waits time out at random (timeout_pct), and a canceller thread may cancel
 * any parked token through its hook; a sender whose wait is cancelled gives
 * its value up, an arrival at a spent cell takes the next index. When the
 * senders are done, the main thread sends one STOP value per receiver.
 *
 * kc_storm_run() then checks, exactly: every value was received once or
 * its send was cancelled, never both, never twice; the counters agree
 * (published = matched + cancelled, matched = delivered + STOPs, descriptors
 * moved = matches); every wake was owed and consumed. Shared by the
 * explorer and test_storm.c, so it is a header of static functions.
 */
#ifndef KCORO_KC_STORM_H
#define KCORO_KC_STORM_H

#include "kc_owners.h"
#include "kc_rv_cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kc_storm_opts {
    int threads; /* workers, half sending (at least 2) */
    long ops;    /* values sent */
    uint64_t seed;
    kc_payload_type_t payload; /* how values travel */
    unsigned timeout_pct;      /* parks with a 0 or 20 us timeout, in % */
    bool canceller;            /* run a third-party canceller thread */
};

struct kc_storm_result {
    long delivered;      /* values received (STOPs excluded) */
    long send_cancelled; /* values whose send was cancelled */
    long recv_cancelled; /* receive waits cancelled */
    long third_party;    /* cancellations won by the canceller */
    long stops;          /* STOP values received */
    long stop_retries;   /* STOP sends withdrawn after a second and resent */
    long offers_done, offers_published, offers_broken;
    kc_rv_counts_t counts; /* summed over every thread's stats */
    uint64_t wakes, double_wakes, sleeps;
    uint64_t cells; /* cells used (send index) */
    double seconds;
    char failure[256]; /* empty when every check held */
};

#define KC_STORM_SEG_BITS 16
#define KC_STORM_MAXSEG 4096

struct kc_storm_worker {
    _Alignas(128) struct kc_storm *s; /* 128: workers' counters on their own lines */
    int id;
    bool sender;
    struct kc_lab_parker pk;
    kc_rv_stats_t st;
    pthread_mutex_t reg_mu; /* guards reg: the canceller's view */
    kc_waiter_t *reg;
    uint64_t rng;
    long ok, cancelled, done, published, broken, stops, third_party;
    char err[160];
    pthread_t t;
};

struct kc_storm {
    const struct kc_storm_opts *o;
    _Alignas(128) _Atomic uint64_t send_idx; /* padded: the two hot cursors */
    _Alignas(128) _Atomic uint64_t recv_idx;
    _Alignas(128) _Atomic(kc_rv_cell_t *) segs[KC_STORM_MAXSEG];
    uint8_t *tags;         /* one byte per value: its identity for ptr/desc */
    _Atomic uint8_t *seen; /* receptions per value */
    uint8_t *dropped;      /* per value, written by its sender only */
    int senders, receivers;
    _Atomic bool quit;         /* tells the canceller to stop */
    long cancels_won;          /* by the canceller (written by it only) */
    _Atomic bool failed;       /* some worker failed: stop sending STOPs */
    struct kc_storm_worker *w; /* receivers, senders, then main's at [threads] */
};

static uint64_t kc_storm_rand(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The cell at index i; segments appear on first touch. NULL past the end. */
static kc_rv_cell_t *kc_storm_cell(struct kc_storm *s, uint64_t i)
{
    uint64_t seg = i >> KC_STORM_SEG_BITS;
    if (seg >= KC_STORM_MAXSEG)
        return NULL;
    /* acquire: pairs with the release CAS below, so the cells are EMPTY */
    kc_rv_cell_t *p = atomic_load_explicit(&s->segs[seg], memory_order_acquire);
    if (p == NULL) {
        kc_rv_cell_t *fresh = malloc(sizeof(*fresh) << KC_STORM_SEG_BITS);
        if (fresh == NULL)
            return NULL;
        for (size_t k = 0; k < (size_t)1 << KC_STORM_SEG_BITS; k++)
            kc__rv_cell_init(&fresh[k]);
        /* release: the initialised cells before the pointer (acquire on
         * failure: we use the winner's segment) */
        if (atomic_compare_exchange_strong_explicit(&s->segs[seg], &p, fresh, memory_order_release,
                                                    memory_order_acquire))
            p = fresh;
        else
            free(fresh);
    }
    return &p[i & (((uint64_t)1 << KC_STORM_SEG_BITS) - 1)];
}

static int64_t kc_storm_timeout(struct kc_storm_worker *w)
{
    unsigned r = (unsigned)(kc_storm_rand(&w->rng) % 200);
    if (r < w->s->o->timeout_pct)
        return 0;
    if (r < 2 * w->s->o->timeout_pct)
        return 20000;
    return KC_NO_TIMEOUT;
}

/* Fill a token's payload with value v (senders) or the slot for one. */
static void kc_storm_payload(struct kc_storm *s, kc_waiter_t *w, uint64_t v, uint64_t *buf)
{
    uint8_t *tag = s->tags + v;
    kc_waiter_desc_t d = {tag, 1, v + 1, KC_WAITER_DESC_OWNED};
    bool snd = w->kind == KC_WAITER_SENDER;
    switch (s->o->payload) {
    case KC_PAYLOAD_BYTES:
        *buf = v;
        snd ? kc__waiter_put_bytes(w, buf, sizeof(*buf)) : kc__waiter_want_bytes(w, buf, 8);
        break;
    case KC_PAYLOAD_DESC:
        snd ? kc__waiter_put_desc(w, &d) : kc__waiter_want(w, KC_PAYLOAD_DESC);
        break;
    default:
        snd ? kc__waiter_put_ptr(w, tag) : kc__waiter_want(w, KC_PAYLOAD_PTR);
        break;
    }
}

/* The value a receiver got, or UINT64_MAX when it is malformed. */
static uint64_t kc_storm_value(struct kc_storm *s, kc_waiter_t *w, const uint64_t *buf)
{
    void *p = NULL;
    kc_waiter_desc_t d;
    size_t n = 0;
    switch (s->o->payload) {
    case KC_PAYLOAD_BYTES:
        return kc__waiter_bytes_len(w, &n) == 0 && n == 8 ? *buf : UINT64_MAX;
    case KC_PAYLOAD_DESC:
        if (kc__waiter_take_desc(w, &d) != 0 || !(d.flags & KC_WAITER_DESC_OWNED) ||
            d.ticket != (uint64_t)((uint8_t *)d.ptr - s->tags) + 1)
            return UINT64_MAX;
        return d.ticket - 1;
    default:
        return kc__waiter_take_ptr(w, &p) == 0 ? (uint64_t)((uint8_t *)p - s->tags) : UINT64_MAX;
    }
}

/* One operation of worker w carrying value v (senders) until it lands or
 * is cancelled. Returns 0 landed, 1 cancelled, -1 failed (w->err says). */
static int kc_storm_op(struct kc_storm_worker *w, uint64_t *v, int64_t timeout)
{
    struct kc_storm *s = w->s;
    bool snd = w->sender;
    for (;;) {
        uint64_t i =
            atomic_fetch_add_explicit(snd ? &s->send_idx : &s->recv_idx, 1, memory_order_relaxed);
        kc_rv_cell_t *c = kc_storm_cell(s, i);
        if (c == NULL) {
            snprintf(w->err, sizeof(w->err), "worker %d: no cell %llu", w->id,
                     (unsigned long long)i);
            atomic_store_explicit(&s->failed, true, memory_order_relaxed);
            return -1;
        }
        kc_waiter_t tok;
        kc_waiter_scope_t sc;
        uint64_t buf = 0;
        kc__waiter_init(&tok, snd ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, &w->pk,
                        kc_lab_parker_ops());
        kc_storm_payload(s, &tok, snd ? *v : 0, &buf);
        kc__waiter_scope_begin(&sc, &tok);
        int rc = kc__rv_cell_offer(c, &tok, &w->st);
        if (rc == KC_RV_PUBLISHED) {
            w->published++;
            if (s->o->canceller) {
                pthread_mutex_lock(&w->reg_mu);
                w->reg = &tok;
                pthread_mutex_unlock(&w->reg_mu);
            }
            rc = kc__waiter_scope_end(&sc, timeout);
            if (s->o->canceller) {
                pthread_mutex_lock(&w->reg_mu);
                w->reg = NULL;
                pthread_mutex_unlock(&w->reg_mu);
            }
            if (rc == -ETIME || rc == -EAGAIN || rc == -ECANCELED) {
                w->third_party += rc == -ECANCELED;
                if (snd && s->o->payload == KC_PAYLOAD_DESC &&
                    !(tok.payload.u.desc.flags & KC_WAITER_DESC_OWNED))
                    rc = -EPROTO; /* a failed send must keep its descriptor */
                else
                    return 1;
            }
        } else {
            kc__waiter_scope_end(&sc, 0);
            if (rc == KC_RV_BROKEN) {
                w->broken++;
                continue;
            }
            w->done += rc == KC_RV_DONE;
        }
        if (rc == 0 && snd && s->o->payload == KC_PAYLOAD_DESC &&
            (tok.payload.u.desc.flags & KC_WAITER_DESC_OWNED))
            rc = -EPROTO; /* a delivered descriptor must have left the sender */
        if (rc == 0 && !snd && (*v = kc_storm_value(s, &tok, &buf)) == UINT64_MAX)
            rc = -EPROTO;
        if (rc != 0) {
            snprintf(w->err, sizeof(w->err), "worker %d: cell %llu: %s (%d)", w->id,
                     (unsigned long long)i, kc_errname(rc), rc);
            atomic_store_explicit(&s->failed, true, memory_order_relaxed);
            return -1;
        }
        return 0;
    }
}

static void *kc_storm_worker_main(void *arg)
{
    struct kc_storm_worker *w = arg;
    struct kc_storm *s = w->s;
    if (w->sender) {
        int k = w->id - s->receivers;
        for (uint64_t v = (uint64_t)k; v < (uint64_t)s->o->ops; v += (uint64_t)s->senders) {
            uint64_t val = v;
            int rc = kc_storm_op(w, &val, kc_storm_timeout(w));
            if (rc < 0)
                return NULL;
            w->ok += rc == 0;
            w->cancelled += rc == 1;
            if (rc == 1)
                s->dropped[v] = 1;
        }
        return NULL;
    }
    for (;;) {
        uint64_t v = 0;
        int rc = kc_storm_op(w, &v, kc_storm_timeout(w));
        if (rc < 0)
            return NULL;
        if (rc == 1) {
            w->cancelled++;
            continue;
        }
        if (v >= (uint64_t)s->o->ops) {
            w->stops++;
            return NULL;
        }
        atomic_fetch_add_explicit(&s->seen[v], 1, memory_order_relaxed);
        w->ok++;
    }
}

static void *kc_storm_canceller(void *arg)
{
    struct kc_storm *s = arg;
    uint64_t rng = s->o->seed ^ 0xc0ffee;
    struct timespec gap = {0, 20000};
    while (!atomic_load_explicit(&s->quit, memory_order_relaxed)) {
        struct kc_storm_worker *w = &s->w[kc_storm_rand(&rng) % (uint64_t)s->o->threads];
        pthread_mutex_lock(&w->reg_mu);
        if (w->reg != NULL && kc__waiter_cancel(w->reg, -ECANCELED) == 1)
            s->cancels_won++; /* its owner sees -ECANCELED */
        pthread_mutex_unlock(&w->reg_mu);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

/* The exact checks, on the joined storm. Writes the first failure. */
static void kc_storm_check(struct kc_storm *s, struct kc_storm_result *r)
{
    const struct kc_storm_opts *o = s->o;
    char *f = r->failure;
    size_t fl = sizeof(r->failure);
    int n = o->threads + 1;
    for (int k = 0; k < n; k++)
        if (s->w[k].err[0]) {
            snprintf(f, fl, "%s", s->w[k].err);
            return;
        }
    for (long v = 0; v < o->ops; v++) {
        unsigned got = atomic_load_explicit(&s->seen[v], memory_order_relaxed);
        if (got + s->dropped[v] != 1) {
            snprintf(f, fl, "value %ld received %u time(s), cancelled %u time(s)", v, got,
                     s->dropped[v]);
            return;
        }
    }
    long sent_ok = 0;
    for (int k = s->receivers; k < o->threads; k++)
        sent_ok += s->w[k].ok;
    const kc_rv_counts_t *c = &r->counts;
    uint64_t moved = o->payload == KC_PAYLOAD_DESC    ? c->descs_moved
                     : o->payload == KC_PAYLOAD_BYTES ? c->bytes_moved / 8
                                                      : c->matched;
    if (sent_ok != r->delivered || r->delivered + r->send_cancelled != o->ops)
        snprintf(f, fl, "senders landed %ld, receivers got %ld, cancelled %ld, of %ld", sent_ok,
                 r->delivered, r->send_cancelled, o->ops);
    else if (r->stops != s->receivers)
        snprintf(f, fl, "%ld STOP values received for %d receivers", r->stops, s->receivers);
    else if (c->matched != (uint64_t)(r->delivered + r->stops) || c->mismatched != 0 ||
             moved != c->matched)
        snprintf(f, fl, "matched %llu, mismatched %llu, moved %llu for %ld deliveries",
                 (unsigned long long)c->matched, (unsigned long long)c->mismatched,
                 (unsigned long long)moved, r->delivered + r->stops);
    else if (c->matched != (uint64_t)r->offers_done || c->published != c->matched + c->cancelled ||
             c->published != (uint64_t)r->offers_published ||
             c->broken != (uint64_t)r->offers_broken)
        snprintf(f, fl,
                 "published %llu != matched %llu + cancelled %llu (offers: %ld done, %ld "
                 "published, %ld broken)",
                 (unsigned long long)c->published, (unsigned long long)c->matched,
                 (unsigned long long)c->cancelled, r->offers_done, r->offers_published,
                 r->offers_broken);
    else if (c->cancelled != (uint64_t)(r->send_cancelled + r->recv_cancelled + r->stop_retries) ||
             r->third_party != s->cancels_won)
        snprintf(f, fl,
                 "cancelled %llu != %ld sends + %ld receives; canceller won %ld, owners "
                 "saw %ld",
                 (unsigned long long)c->cancelled, r->send_cancelled, r->recv_cancelled,
                 s->cancels_won, r->third_party);
    else if (r->double_wakes != 0 || r->wakes != c->matched + (uint64_t)r->third_party)
        snprintf(f, fl, "wakes %llu (double %llu) for %llu matches + %ld cancels",
                 (unsigned long long)r->wakes, (unsigned long long)r->double_wakes,
                 (unsigned long long)c->matched, r->third_party);
    for (int k = 0; k < n && !f[0]; k++)
        if (kc_lab_parker_pending(&s->w[k].pk))
            snprintf(f, fl, "worker %d ended with an unconsumed wake", k);
}

/* Send one STOP value per receiver from the main thread (worker [threads]).
 * A STOP that waits a second is withdrawn and sent again, so a failed
 * receiver cannot hang the storm. */
static int kc_storm_send_stops(struct kc_storm *s)
{
    struct kc_storm_worker *m = &s->w[s->o->threads];
    for (int k = 0; k < s->receivers; k++) {
        uint64_t v = (uint64_t)s->o->ops + (uint64_t)k;
        int rc;
        while ((rc = kc_storm_op(m, &v, 1000000000)) == 1) {
            m->cancelled++;
            if (atomic_load_explicit(&s->failed, memory_order_relaxed))
                return -1;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Run the storm and check it. Returns 0 (all checks held), -EPROTO (see
 * r->failure), -EINVAL (bad options) or -ENOMEM. Blocks until done. */
static int kc_storm_run(const struct kc_storm_opts *o, struct kc_storm_result *r)
{
    memset(r, 0, sizeof(*r));
    if (o->threads < 2 || o->ops < 0 || o->timeout_pct > 100)
        return -EINVAL;
    int n = o->threads + 1;
    struct kc_storm *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->o = o;
    s->receivers = o->threads / 2;
    s->senders = o->threads - s->receivers;
    s->tags = calloc((size_t)o->ops + (size_t)s->receivers, 1);
    s->seen = calloc((size_t)o->ops + 1, sizeof(*s->seen));
    s->dropped = calloc((size_t)o->ops + 1, 1);
    s->w = aligned_alloc(128, sizeof(*s->w) * (size_t)n);
    int rc = -ENOMEM;
    if (s->tags == NULL || s->seen == NULL || s->dropped == NULL || s->w == NULL)
        goto out_free;
    memset(s->w, 0, sizeof(*s->w) * (size_t)n);
    for (int k = 0; k < n; k++) {
        struct kc_storm_worker *w = &s->w[k];
        w->s = s;
        w->id = k;
        w->sender = k >= s->receivers; /* main (k == threads) sends STOPs */
        w->rng = o->seed + (uint64_t)k * 0x1000193u;
        kc_lab_parker_init(&w->pk);
        kc__rv_stats_init(&w->st);
        pthread_mutex_init(&w->reg_mu, NULL);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t canc;
    for (int k = 0; k <= o->threads; k++) /* [threads] is the canceller */
        if ((k < o->threads ? pthread_create(&s->w[k].t, NULL, kc_storm_worker_main, &s->w[k])
             : o->canceller ? pthread_create(&canc, NULL, kc_storm_canceller, s)
                            : 0) != 0) {
            fprintf(stderr, "kc_storm: cannot start thread %d\n", k); /* others wait */
            abort();
        }
    for (int k = s->receivers; k < o->threads; k++)
        pthread_join(s->w[k].t, NULL);
    bool ok =
        !atomic_load_explicit(&s->failed, memory_order_relaxed) && kc_storm_send_stops(s) == 0;
    for (int k = 0; k < s->receivers && ok; k++)
        pthread_join(s->w[k].t, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_store_explicit(&s->quit, true, memory_order_relaxed);
    if (o->canceller)
        pthread_join(canc, NULL);
    if (!ok) {
        /* receivers may be parked for good: report, and leave them be */
        snprintf(r->failure, sizeof(r->failure), "a worker failed");
        for (int k = 0; k <= o->threads; k++)
            if (s->w[k].err[0])
                snprintf(r->failure, sizeof(r->failure), "%s", s->w[k].err);
        return -EPROTO;
    }
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (int k = 0; k < n; k++) {
        struct kc_storm_worker *w = &s->w[k];
        kc_rv_counts_t c;
        kc__rv_stats_read(&w->st, &c);
        kc__rv_counts_add(&r->counts, &c);
        if (w->sender && k < o->threads)
            r->send_cancelled += w->cancelled;
        if (k == o->threads)
            r->stop_retries = w->cancelled;
        if (!w->sender) {
            r->delivered += w->ok;
            r->recv_cancelled += w->cancelled;
            r->stops += w->stops;
        }
        r->third_party += w->third_party;
        r->offers_done += w->done;
        r->offers_published += w->published;
        r->offers_broken += w->broken;
        r->wakes += atomic_load_explicit(&w->pk.wakes, memory_order_relaxed);
        r->double_wakes += atomic_load_explicit(&w->pk.double_wakes, memory_order_relaxed);
        r->sleeps += w->pk.sleeps;
    }
    r->cells = atomic_load_explicit(&s->send_idx, memory_order_relaxed);
    kc_storm_check(s, r);
    rc = r->failure[0] ? -EPROTO : 0;
    for (int k = 0; k < n; k++) {
        kc_lab_parker_destroy(&s->w[k].pk);
        pthread_mutex_destroy(&s->w[k].reg_mu);
    }
    for (int k = 0; k < KC_STORM_MAXSEG; k++)
        free(atomic_load_explicit(&s->segs[k], memory_order_relaxed));
out_free:
    free(s->w);
    free(s->tags);
    free(s->seen);
    free(s->dropped);
    free(s);
    return rc;
}

/* One summary: a readable block, or one NDJSON line. */
static void kc_storm_print(FILE *f, const struct kc_storm_opts *o, const struct kc_storm_result *r,
                           bool json)
{
    double rate = r->seconds > 0 ? (double)r->delivered / r->seconds : 0;
    const kc_rv_counts_t *c = &r->counts;
    if (json) {
        fprintf(f,
                "{\"scenario\":\"storm\",\"threads\":%d,\"ops\":%ld,\"seed\":%llu,"
                "\"payload\":\"%s\",\"timeout_pct\":%u,\"canceller\":%s,"
                "\"delivered\":%ld,\"send_cancelled\":%ld,\"recv_cancelled\":%ld,"
                "\"third_party\":%ld,\"stops\":%ld,\"seconds\":%.3f,\"ops_per_s\":%.0f",
                o->threads, o->ops, (unsigned long long)o->seed, kc__payload_type_name(o->payload),
                o->timeout_pct, o->canceller ? "true" : "false", r->delivered, r->send_cancelled,
                r->recv_cancelled, r->third_party, r->stops, r->seconds, rate);
#define KC_STORM_JSON(name, text) fprintf(f, ",\"%s\":%llu", #name, (unsigned long long)c->name);
        KC_RV_COUNTERS(KC_STORM_JSON)
#undef KC_STORM_JSON
        fprintf(f, ",\"wakes\":%llu,\"sleeps\":%llu,\"cells\":%llu,\"ok\":%s,\"failure\":\"%s\"}\n",
                (unsigned long long)r->wakes, (unsigned long long)r->sleeps,
                (unsigned long long)r->cells, r->failure[0] ? "false" : "true", r->failure);
        return;
    }
    fprintf(f, "storm: %d threads, %ld values (%s), seed %llu, timeouts %u%%, canceller %s\n",
            o->threads, o->ops, kc__payload_type_name(o->payload), (unsigned long long)o->seed,
            o->timeout_pct, o->canceller ? "on" : "off");
    fprintf(f,
            "  delivered %ld, send cancelled %ld, receive cancelled %ld (third party %ld), "
            "STOPs %ld\n",
            r->delivered, r->send_cancelled, r->recv_cancelled, r->third_party, r->stops);
    fprintf(f, "  %.3f s, %.0f rendezvous/s; %llu cells, %llu wakes, %llu sleeps\n", r->seconds,
            rate, (unsigned long long)r->cells, (unsigned long long)r->wakes,
            (unsigned long long)r->sleeps);
#define KC_STORM_TEXT(name, text) fprintf(f, "  %-12s %llu\n", #name, (unsigned long long)c->name);
    KC_RV_COUNTERS(KC_STORM_TEXT)
#undef KC_STORM_TEXT
    fprintf(f, "  exactly-once: %s%s\n", r->failure[0] ? "FAILED: " : "held", r->failure);
}

#endif /* KCORO_KC_STORM_H */
