/* main.c - the waiter_token explorer: watch tokens and cells change state.
 *
 * Each named scenario drives src/ (kc_waiter, kc_rv_cell) through one story
 * and prints, after every step, the cell's state and each token's status,
 * then the counters. Owners are real: threads that sleep on a parker, or
 * coroutines on a one-thread loop (tests/kc_owners.h). `storm` runs the
 * multi-thread storm of tests/kc_storm.h and prints its accounting. --json
 * prints the same as NDJSON, one object per line. Each scenario also checks
 * that it ended as it should; the exit status is 1 if one did not.
 */
#include "kc_rv_cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/kc_owners.h"
#include "tests/kc_storm.h"

static bool json;
static int surprises;
static const char *scenario;
static kc_rv_stats_t stats;

/* ------------------------------------------------------------ printing */

struct who {
    const char *name;
    const kc_waiter_t *w;
};

static const char *rc_name(int rc)
{
    static char buf[24];
    if (rc == KC_RV_PUBLISHED)
        return "PUBLISHED";
    if (rc == KC_RV_BROKEN)
        return "BROKEN";
    if (rc == 0)
        return "DONE";
    snprintf(buf, sizeof(buf), "%s", kc_errname(rc));
    return buf;
}

/* One step: what happened (and its result), then the cell and the tokens. */
static void show(const char *step, const char *rc, const kc_rv_cell_t *c, struct who a,
                 struct who b)
{
    const char *cs = c ? kc__rv_state_name(kc__rv_cell_state(c)) : "-";
    const char *as = a.w ? kc__waiter_status_name(kc__waiter_status(a.w)) : "-";
    const char *bs = b.w ? kc__waiter_status_name(kc__waiter_status(b.w)) : "-";
    if (json) {
        printf("{\"scenario\":\"%s\",\"step\":\"%s\",\"result\":\"%s\",\"cell\":\"%s\"", scenario,
               step, rc ? rc : "", cs);
        if (a.w)
            printf(",\"%s\":\"%s\"", a.name, as);
        if (b.w)
            printf(",\"%s\":\"%s\"", b.name, bs);
        printf("}\n");
        return;
    }
    char what[80];
    snprintf(what, sizeof(what), "%s%s%s", step, rc ? " -> " : "", rc ? rc : "");
    printf("  %-50s cell %-15s", what, cs);
    if (a.w)
        printf(" %s %-10s", a.name, as);
    if (b.w)
        printf(" %s %s", b.name, bs);
    printf("\n");
}

static void note(const char *text)
{
    if (json)
        printf("{\"scenario\":\"%s\",\"note\":\"%s\"}\n", scenario, text);
    else
        printf("  . %s\n", text);
}

static void expect(bool ok, const char *what)
{
    if (!ok) {
        surprises++;
        if (json)
            printf("{\"scenario\":\"%s\",\"unexpected\":\"%s\"}\n", scenario, what);
        else
            printf("  UNEXPECTED: %s\n", what);
    }
}

static void begin(const char *name, const char *story)
{
    scenario = name;
    kc__rv_stats_init(&stats);
    if (json)
        printf("{\"scenario\":\"%s\",\"story\":\"%s\"}\n", name, story);
    else
        printf("\n== %s: %s\n", name, story);
}

static void counters(void)
{
    kc_rv_counts_t n;
    kc__rv_stats_read(&stats, &n);
    if (json) {
        printf("{\"scenario\":\"%s\",\"step\":\"counters\"", scenario);
#define JSON_FIELD(name, text) printf(",\"%s\":%llu", #name, (unsigned long long)n.name);
        KC_RV_COUNTERS(JSON_FIELD)
#undef JSON_FIELD
        printf("}\n");
        return;
    }
    printf("  counters:");
#define TEXT_FIELD(name, text)                                                                     \
    if (n.name || !strcmp(#name, "matched") || !strcmp(#name, "cancelled") ||                      \
        !strcmp(#name, "descs_moved"))                                                             \
        printf(" %s %llu", #name, (unsigned long long)n.name);
    KC_RV_COUNTERS(TEXT_FIELD)
#undef TEXT_FIELD
    printf("\n");
}

static void check_cell(const kc_rv_cell_t *c)
{
    const char *why = NULL;
    if (kc__rv_cell_check(c, &why) != 0)
        expect(false, why);
}

/* ------------------------------------------------------------ parties */

/* A party with a thread parker; it waits on a thread of its own when the
 * scenario calls party_wait_on_thread(), else on the caller's thread. */
struct party {
    struct kc_lab_parker pk;
    kc_waiter_t w;
    kc_waiter_scope_t sc;
    kc_rv_cell_t *cell;
    int64_t timeout;
    int offer_rc, rc;
    pthread_t t;
    _Atomic bool finished; /* its thread returned */
    uint64_t value;
    char text[32];
    kc_waiter_desc_t desc;
};

static void party_init(struct party *p, kc_waiter_kind_t kind, kc_payload_type_t type)
{
    memset(p, 0, sizeof(*p));
    kc_lab_parker_init(&p->pk);
    kc__waiter_init(&p->w, kind, &p->pk, kc_lab_parker_ops());
    p->value = 0x5eed;
    p->timeout = KC_NO_TIMEOUT;
    if (kind == KC_WAITER_SENDER && type == KC_PAYLOAD_PTR)
        kc__waiter_put_ptr(&p->w, &p->value);
    else if (kind == KC_WAITER_SENDER && type == KC_PAYLOAD_DESC) {
        snprintf(p->text, sizeof(p->text), "zero-copy hello");
        kc_waiter_desc_t d = {p->text, strlen(p->text), 42, KC_WAITER_DESC_OWNED};
        kc__waiter_put_desc(&p->w, &d);
    } else
        kc__waiter_want(&p->w, type);
    kc__waiter_scope_begin(&p->sc, &p->w);
}

static void party_done(struct party *p)
{
    kc__waiter_scope_end(&p->sc, 0);
    expect(!kc_lab_parker_pending(&p->pk), "a wake was left unconsumed");
    expect(atomic_load(&p->pk.double_wakes) == 0, "a token was woken twice");
    kc_lab_parker_destroy(&p->pk);
}

static void *party_main(void *arg)
{
    struct party *p = arg;
    p->offer_rc = kc__rv_cell_offer(p->cell, &p->w, &stats);
    p->rc = kc__waiter_scope_wait(&p->sc, p->timeout);
    atomic_store(&p->finished, true);
    return NULL;
}

/* Start p on its own thread and return once it sleeps in its parker (or
 * finished without sleeping). */
static void party_wait_on_thread(struct party *p, kc_rv_cell_t *c)
{
    p->cell = c;
    if (pthread_create(&p->t, NULL, party_main, p) != 0) {
        fprintf(stderr, "waiter_token: cannot start a thread\n");
        exit(1);
    }
    while (atomic_load(&p->pk.state) != KC_LAB_PARKER_PARKED && !atomic_load(&p->finished))
        sched_yield();
}

static int party_join(struct party *p)
{
    return pthread_join(p->t, NULL) == 0 ? p->rc : -ESRCH;
}

static struct who as(const char *name, const struct party *p)
{
    return (struct who){name, &p->w};
}
static const struct who nobody = {NULL, NULL};

/* ------------------------------------------------------------ scenarios */

static void sender_first(void)
{
    begin("sender-first", "the sender arrives first and sleeps; the receiver finds it");
    kc_rv_cell_t c;
    struct party s, r;
    kc__rv_cell_init(&c);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_PTR);
    show("start", NULL, &c, as("sender", &s), as("receiver", &r));
    party_wait_on_thread(&s, &c);
    show("sender offers, sleeps", rc_name(s.offer_rc), &c, as("sender", &s), as("receiver", &r));
    check_cell(&c);
    int rc = kc__rv_cell_offer(&c, &r.w, &stats);
    show("receiver offers", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    int src = party_join(&s);
    show("sender wakes", rc_name(src), &c, as("sender", &s), as("receiver", &r));
    void *got = NULL;
    kc__waiter_take_ptr(&r.w, &got);
    expect(rc == KC_RV_DONE && src == 0 && got == &s.value, "the value did not move");
    counters();
    party_done(&s);
    party_done(&r);
}

static void receiver_first(void)
{
    begin("receiver-first", "the receiver publishes; the sender comes before it parks");
    kc_rv_cell_t c;
    struct party s, r;
    kc__rv_cell_init(&c);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_PTR);
    int rc = kc__rv_cell_offer(&c, &r.w, &stats);
    show("receiver offers", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    rc = kc__rv_cell_offer(&c, &s.w, &stats);
    show("sender offers", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    note(kc_lab_parker_pending(&r.pk) ? "the receiver's wake waits as a permit"
                                      : "no wake pending");
    int rrc = kc__waiter_scope_wait(&r.sc, KC_NO_TIMEOUT);
    show("receiver parks, takes the permit", rc_name(rrc), &c, as("sender", &s),
         as("receiver", &r));
    expect(rc == KC_RV_DONE && rrc == 0 && r.pk.sleeps == 0, "the receiver should not sleep");
    counters();
    party_done(&s);
    party_done(&r);
}

static void receiver_cancelled(void)
{
    begin("receiver-cancelled", "a sleeping receiver is cancelled; the late sender moves on");
    kc_rv_cell_t c, next;
    struct party s, r;
    kc__rv_cell_init(&c);
    kc__rv_cell_init(&next);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_PTR);
    party_wait_on_thread(&r, &c);
    show("receiver offers, sleeps", rc_name(r.offer_rc), &c, as("sender", &s), as("receiver", &r));
    int won = kc__waiter_cancel(&r.w, -ECANCELED);
    show("a third party cancels it", won == 1 ? "won" : "lost", &c, as("sender", &s),
         as("receiver", &r));
    int rrc = party_join(&r);
    show("receiver wakes", rc_name(rrc), &c, as("sender", &s), as("receiver", &r));
    int rc = kc__rv_cell_offer(&c, &s.w, &stats);
    show("sender offers", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    note("the sender's token is still INIT: it takes the next cell");
    int rc2 = kc__rv_cell_offer(&next, &s.w, &stats);
    show("sender offers the next cell", rc_name(rc2), &next, as("sender", &s), nobody);
    expect(won == 1 && rrc == -ECANCELED && rc == KC_RV_BROKEN && rc2 == KC_RV_PUBLISHED,
           "cancel should win and break the cell");
    kc__waiter_scope_end(&s.sc, 0); /* nobody comes: withdraw */
    show("sender gives up (timeout 0)", rc_name(s.sc.outcome), &next, as("sender", &s), nobody);
    counters();
    party_done(&s);
    party_done(&r);
}

static void sender_meets_parked_receiver(void)
{
    begin("sender-meets-parked-receiver", "the receiver sleeps in its parker; the sender wakes it");
    kc_rv_cell_t c;
    struct party s, r;
    kc__rv_cell_init(&c);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_PTR);
    party_wait_on_thread(&r, &c);
    show("receiver offers, sleeps", rc_name(r.offer_rc), &c, as("sender", &s), as("receiver", &r));
    check_cell(&c);
    int rc = kc__rv_cell_offer(&c, &s.w, &stats);
    show("sender offers, copies, wakes", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    int rrc = party_join(&r);
    void *got = NULL;
    kc__waiter_take_ptr(&r.w, &got);
    show("receiver wakes with the value", rc_name(rrc), &c, as("sender", &s), as("receiver", &r));
    expect(rc == 0 && rrc == 0 && got == &s.value && r.pk.sleeps == 1,
           "the receiver should sleep once and get the value");
    counters();
    party_done(&s);
    party_done(&r);
}

static void descriptor_handoff(void)
{
    begin("descriptor-handoff", "a descriptor's ownership moves on a match, stays on a cancel");
    kc_rv_cell_t c, d;
    struct party s, r, s2;
    kc__rv_cell_init(&c);
    kc__rv_cell_init(&d);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_DESC);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_DESC);
    party_wait_on_thread(&s, &c);
    show("sender offers desc (OWNED), sleeps", rc_name(s.offer_rc), &c, as("sender", &s),
         as("receiver", &r));
    int rc = kc__rv_cell_offer(&c, &r.w, &stats);
    int src = party_join(&s);
    kc_waiter_desc_t got = {0};
    kc__waiter_take_desc(&r.w, &got);
    show("receiver takes it", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    char line[128];
    snprintf(line, sizeof(line), "receiver holds '%.*s' ticket %llu, owned %s; sender owned %s",
             (int)got.len, (const char *)got.ptr, (unsigned long long)got.ticket,
             got.flags & KC_WAITER_DESC_OWNED ? "yes" : "no",
             s.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED ? "yes" : "no");
    note(line);
    expect(rc == 0 && src == 0 && (got.flags & KC_WAITER_DESC_OWNED) &&
               !(s.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED),
           "ownership should move");
    party_init(&s2, KC_WAITER_SENDER, KC_PAYLOAD_DESC);
    kc__rv_cell_offer(&d, &s2.w, &stats);
    int rc2 = kc__waiter_scope_wait(&s2.sc, 0);
    show("another sender offers, gives up", rc_name(rc2), &d, as("sender", &s2), nobody);
    note(s2.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED
             ? "the cancelled sender still owns its descriptor"
             : "the cancelled sender lost its descriptor");
    expect(s2.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED, "a failed send keeps ownership");
    counters();
    party_done(&s);
    party_done(&r);
    party_done(&s2);
}

static void timeout(void)
{
    begin("timeout", "a receiver waits 20 ms, nobody comes, it withdraws");
    kc_rv_cell_t c;
    struct party s, r;
    kc__rv_cell_init(&c);
    party_init(&s, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&r, KC_WAITER_RECEIVER, KC_PAYLOAD_PTR);
    r.timeout = 20000000;
    party_wait_on_thread(&r, &c);
    show("receiver offers, sleeps 20 ms", rc_name(r.offer_rc), &c, as("sender", &s),
         as("receiver", &r));
    int rrc = party_join(&r);
    show("receiver times out", rc_name(rrc), &c, as("sender", &s), as("receiver", &r));
    int rc = kc__rv_cell_offer(&c, &s.w, &stats);
    show("a late sender offers", rc_name(rc), &c, as("sender", &s), as("receiver", &r));
    expect(rrc == -ETIME && rc == KC_RV_BROKEN, "the wait should time out");
    kc__rv_cell_reset(&c);
    show("the cell is recycled", NULL, &c, as("sender", &s), nobody);
    counters();
    party_done(&s);
    party_done(&r);
}

static void select_two_cells(void)
{
    begin("select", "a select waits on two cells; one sender wins it, the other lets go");
    kc_rv_cell_t c[2];
    struct kc_lab_parker pk;
    kc_waiter_t sel, cl[2];
    kc_waiter_scope_t sc;
    kc_lab_parker_init(&pk);
    kc__waiter_init(&sel, KC_WAITER_SELECT, &pk, kc_lab_parker_ops());
    kc__waiter_scope_begin(&sc, &sel);
    for (int i = 0; i < 2; i++) {
        kc__rv_cell_init(&c[i]);
        kc__waiter_init_clause(&cl[i], KC_WAITER_RECEIVER, &sel);
        kc__waiter_want(&cl[i], KC_PAYLOAD_PTR);
    }
    struct who s = {"select", &sel}, k0 = {"clause0", &cl[0]}, k1 = {"clause1", &cl[1]};
    int p0 = kc__rv_cell_try_match(&c[0], &cl[0], &stats);
    int p1 = kc__rv_cell_try_match(&c[1], &cl[1], &stats);
    show("poll pass, cell 0", rc_name(p0), &c[0], s, k0);
    show("poll pass, cell 1", rc_name(p1), &c[1], s, k1);
    kc__waiter_publish(&sel);
    int r0 = kc__rv_cell_register(&c[0], &cl[0], &stats);
    int r1 = kc__rv_cell_register(&c[1], &cl[1], &stats);
    show("register clause 0", rc_name(r0), &c[0], s, k0);
    show("register clause 1", rc_name(r1), &c[1], s, k1);
    struct party a, b;
    party_init(&a, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    party_init(&b, KC_WAITER_SENDER, KC_PAYLOAD_PTR);
    int ra = kc__rv_cell_offer(&c[1], &a.w, &stats);
    show("sender A: CLAIMING, wins the select", rc_name(ra), &c[1], s, k1);
    int rb = kc__rv_cell_offer(&c[0], &b.w, &stats);
    show("sender B: CLAIMING, loses, lets go", rc_name(rb), &c[0], s, k0);
    int rs = kc__waiter_scope_wait(&sc, KC_NO_TIMEOUT);
    int w0 = kc__rv_cell_withdraw_wait(&c[0], &cl[0], &stats);
    int w1 = kc__rv_cell_withdraw_wait(&c[1], &cl[1], &stats);
    void *got = NULL;
    kc__waiter_take_ptr(&cl[1], &got);
    show("select wakes, withdraws clause 0", rc_name(rs), &c[0], s, k0);
    show("select wakes, withdraws clause 1", rc_name(rs), &c[1], s, k1);
    expect(p0 == -EAGAIN && ra == 0 && rb == KC_RV_BROKEN && rs == 0 && w0 == 0 && w1 == 0 &&
               got == &a.value,
           "exactly clause 1 should win, with A's value");
    note(kc__waiter_status(&b.w) == KC_WAITER_INIT ? "sender B still holds its value"
                                                   : "sender B lost its value");
    kc__waiter_scope_end(&sc, 0);
    counters();
    party_done(&a);
    party_done(&b);
    kc_lab_parker_destroy(&pk);
}

struct coro_demo {
    kc_rv_cell_t cell;
    struct kc_coro_owner *owner[2];
    kc_waiter_t w[2];
    uint64_t value;
    void *got;
    int rc[2];
};

static int coro_side(struct coro_demo *d, int i)
{
    kc_waiter_t *w = &d->w[i];
    kc_waiter_scope_t sc;
    kc__waiter_init(w, i ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, d->owner[i], kc_coro_owner_ops());
    i ? kc__waiter_put_ptr(w, &d->value) : kc__waiter_want(w, KC_PAYLOAD_PTR);
    kc__waiter_scope_begin(&sc, w);
    struct who r = {"receiver", &d->w[0]}, s = {"sender", &d->w[1]};
    int rc = kc__rv_cell_offer(&d->cell, w, &stats);
    show(i ? "sender coroutine offers" : "receiver coroutine offers, parks (yields)", rc_name(rc),
         &d->cell, r, s);
    d->rc[i] = kc__waiter_scope_wait(&sc, KC_NO_TIMEOUT);
    if (i == 0) {
        kc__waiter_take_ptr(w, &d->got);
        show("receiver coroutine resumed", rc_name(d->rc[0]), &d->cell, r, s);
    }
    kc__waiter_scope_end(&sc, 0);
    return 0;
}

static int coro_receiver(void *arg)
{
    return coro_side(arg, 0);
}
static int coro_sender(void *arg)
{
    return coro_side(arg, 1);
}

static void coroutines(void)
{
    begin("coroutines", "the same token API with coroutine owners on one thread");
    struct coro_demo d = {.value = 7};
    kc__rv_cell_init(&d.cell);
    struct kc_coro_loop loop = {.n = 0};
    d.owner[0] = kc_coro_loop_add(&loop, coro_receiver, &d);
    d.owner[1] = kc_coro_loop_add(&loop, coro_sender, &d);
    int rc = d.owner[0] && d.owner[1] ? kc_coro_loop_run(&loop) : -ENOMEM;
    expect(rc == 0 && d.rc[0] == 0 && d.rc[1] == 0 && d.got == &d.value && d.owner[0]->parks == 1 &&
               d.owner[0]->wakes == 1,
           "the coroutines should rendezvous");
    counters();
}

/* ------------------------------------------------------------ command line */

static struct kc_storm_opts storm_opts = {4, 1000000, 1, KC_PAYLOAD_DESC, 0, false};

static void storm(void)
{
    scenario = "storm";
    if (!json)
        printf("\n== storm: N threads through one-shot cells, counted exactly\n");
    struct kc_storm_result r;
    int rc = kc_storm_run(&storm_opts, &r);
    kc_storm_print(stdout, &storm_opts, &r, json);
    expect(rc == 0, rc == -EPROTO ? r.failure : kc_strerror(rc));
}

static const struct {
    const char *name;
    void (*run)(void);
    const char *what;
} scenarios[] = {
    {"sender-first", sender_first, "sender sleeps, receiver arrives and takes the value"},
    {"receiver-first", receiver_first, "receiver publishes, sender comes before it parks"},
    {"receiver-cancelled", receiver_cancelled, "third-party cancel; late sender moves on"},
    {"sender-meets-parked-receiver", sender_meets_parked_receiver, "wake a sleeping thread"},
    {"descriptor-handoff", descriptor_handoff, "ownership moves on match, stays on cancel"},
    {"timeout", timeout, "a 20 ms wait expires and withdraws"},
    {"select", select_two_cells, "two clauses, two senders: CLAIMING decides"},
    {"coroutines", coroutines, "coroutine owners on a one-thread loop"},
    {"storm", storm, "-t threads, -n values, exactly-once accounting (not in 'all')"},
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: waiter_token [options] [scenario...]\n\n"
               "Runs the named scenarios (default: all but storm) and prints the cell\n"
               "state and token statuses after every step, then the counters.\n\n"
               "scenarios:\n");
    for (size_t i = 0; i < NSCEN; i++)
        fprintf(f, "  %-30s %s\n", scenarios[i].name, scenarios[i].what);
    fprintf(f, "  %-30s %s\n", "all", "every scenario except storm");
    fprintf(f, "\noptions:\n"
               "  --json              NDJSON: one object per line\n"
               "  -t, --threads N     storm threads, half sending (default 4)\n"
               "  -n, --ops N         storm values sent (default 1000000)\n"
               "  --seed N            storm seed (default 1)\n"
               "  --payload KIND      storm payload: bytes, ptr or desc (default desc)\n"
               "  --timeouts PCT      storm: share of waits with a 0 or 20 us timeout\n"
               "  --canceller         storm: cancel parked tokens from another thread\n"
               "  -h, --help          this text\n"
               "\nExit status: 0 when every scenario ended as it should, 1 if not, 2 on\n"
               "bad usage.\n");
}

static bool number(const char *s, long min, long *out)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 0) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || v < min)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    const char *todo[NSCEN + 1];
    int n = 0;
    long v;
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, promptly, even into a pipe */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--canceller")) {
            storm_opts.canceller = true;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && number(next, 2, &v) &&
                   v <= 256) {
            storm_opts.threads = (int)v, i++;
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--ops")) && number(next, 0, &v)) {
            storm_opts.ops = v, i++;
        } else if (!strcmp(a, "--seed") && number(next, 0, &v)) {
            storm_opts.seed = (uint64_t)v, i++;
        } else if (!strcmp(a, "--timeouts") && number(next, 0, &v) && v <= 100) {
            storm_opts.timeout_pct = (unsigned)v, i++;
        } else if (!strcmp(a, "--payload") && next) {
            kc_payload_type_t t = !strcmp(next, "bytes")  ? KC_PAYLOAD_BYTES
                                  : !strcmp(next, "ptr")  ? KC_PAYLOAD_PTR
                                  : !strcmp(next, "desc") ? KC_PAYLOAD_DESC
                                                          : KC_PAYLOAD_NONE;
            if (t == KC_PAYLOAD_NONE) {
                fprintf(stderr, "waiter_token: unknown payload '%s'\n", next);
                return 2;
            }
            storm_opts.payload = t, i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "waiter_token: bad option or value: %s\n", a);
            usage(stderr);
            return 2;
        } else if (n < (int)NSCEN) {
            todo[n++] = a;
        }
    }
    if (n == 0)
        todo[n++] = "all";
    for (int i = 0; i < n; i++) {
        bool all = !strcmp(todo[i], "all"), found = all;
        for (size_t k = 0; k < NSCEN; k++) {
            if (all ? scenarios[k].run != storm : !strcmp(todo[i], scenarios[k].name)) {
                scenarios[k].run();
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr, "waiter_token: unknown scenario '%s' (try --help)\n", todo[i]);
            return 2;
        }
    }
    if (!json)
        printf("\n%s\n", surprises ? "UNEXPECTED outcomes above" : "all scenarios as expected");
    return surprises ? 1 : 0;
}
