/* main.c - the remote-select explorer: claim races, leases and fairness, with a message sequence chart.
 *
 *   select [--json] [--delay-us N] SCENARIO
 *
 * Scenarios (one process; the owner and the selectors talk over
 * in-process pipes with the given one-way delay, 200 us by default):
 *   race      selectors A and B each select over the owner's channel X and
 *             a local channel nobody sends on; three elements arrive at X
 *             one by one: every element goes to exactly one of them, and
 *             the chart shows each REGISTER, NOTIFY, CLAIM, COMMIT or
 *             REJECT and the CANCEL of the loser's subscription
 *   lease     a mute peer M subscribes first and stops answering: the
 *             element reserved for it waits for the lease (20 ms), then
 *             reaches A's select
 *   fairness  an unbiased select over two remote channels that always have
 *             elements: how often each wins (chi-square, one degree of
 *             freedom)
 * The chart has one line per message: the time since the start, the
 * sender's column, an arrow to the receiver's column, and the message
 * (its command without the SELECT_ prefix, and its id: the subscription
 * or claim it is about).
 * --json prints the same as NDJSON (one object per message, then one
 * summary object).
 */
#include "kc_rsel_impl.h"
#include "kcoro/chan.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS 1000000LL

static bool json;
static int64_t t0;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *cmd_name(uint8_t c)
{
    static const char *const names[] = {"SELECT_REGISTER", "SELECT_CANCEL", "SELECT_NOTIFY",
                                        "SELECT_CLAIM",    "SELECT_COMMIT", "SELECT_REJECT"};
    return c >= KC_RSEL_REGISTER && c <= KC_RSEL_REJECT ? names[c - KC_RSEL_REGISTER] : "SELECT_?";
}

/* One pipe between the owner (end 0, column 1) and a peer (end 1). */
struct lane {
    const char *peer;
    int col; /* the peer's column: 0 left of the owner, 2 right */
};

static void trace(void *arg, int dir, const uint8_t *msg, size_t len)
{
    const struct lane *ln = arg;
    kc_rsel_msg_t m;
    const uint8_t *elem;
    size_t elen;
    if (kc__rsel_decode(msg, len, &m, &elem, &elen) != 0)
        return;
    double ms = (double)(now_ns() - t0) / 1e6;
    const char *from = dir == 0 ? "owner" : ln->peer, *to = dir == 0 ? ln->peer : "owner";
    long v = 0;
    if (elen == sizeof v)
        memcpy(&v, elem, sizeof v);
    char what[96];
    snprintf(what, sizeof what, "%s #%llu%s%s", cmd_name(m.cmd) + 7, (unsigned long long)m.id,
             (m.op & KC_RSEL_PLAIN) ? " plain" : "",
             m.cmd == KC_RSEL_REJECT ? (m.why == KC_RSEL_WHY_GONE    ? " (gone)"
                                        : m.why == KC_RSEL_WHY_EMPTY ? " (empty)"
                                                                     : " (closed)")
                                     : "");
    pthread_mutex_lock(&out_mu);
    if (json) {
        printf("{\"t_ms\":%.3f,\"from\":\"%s\",\"to\":\"%s\",\"cmd\":\"%s\",\"id\":%llu,"
               "\"chan\":%u,\"elem\":%ld}\n",
               ms, from, to, cmd_name(m.cmd), (unsigned long long)m.id, m.chan,
               elen == sizeof v ? v : -1L);
    } else {
        /* columns: left peer | owner | right peer, 26 characters apart */
        char line[100];
        memset(line, ' ', sizeof line);
        line[sizeof line - 1] = '\0';
        int cols[3] = {2, 30, 58};
        for (int i = 0; i < 3; i++)
            line[cols[i]] = '|';
        int a = dir == 0 ? cols[1] : cols[ln->col], b = dir == 0 ? cols[ln->col] : cols[1];
        int lo = a < b ? a : b, hi = a < b ? b : a;
        for (int i = lo + 1; i < hi; i++)
            line[i] = '-';
        line[b < a ? lo + 1 : hi - 1] = b < a ? '<' : '>';
        size_t wl = strlen(what);
        if (wl < (size_t)(hi - lo - 4))
            memcpy(line + lo + 2 + (size_t)(hi - lo - 4 - (int)wl) / 2, what, wl);
        line[62] = '\0';
        printf("%8.3f %s\n", ms, line);
        if (m.cmd == KC_RSEL_COMMIT && elen == sizeof v)
            printf("%8s %*s element %ld goes to %s\n", "", 30, "", v, to);
    }
    pthread_mutex_unlock(&out_mu);
}

struct peer {
    kc_rsel_client_t *c;
    kc_rsel_pipe_t *p;
    kc_chan_t *imp;
    struct lane lane;
};

static int connect_peer(struct peer *pr, kc_rsel_owner_t *o, int idx, uint32_t chan,
                        const kc_chan_opts_t *co, int64_t delay, const char *name, int col,
                        bool traced)
{
    pr->lane.peer = name;
    pr->lane.col = col;
    int rc = kc_rsel_client_create(&pr->c, 20 * MS);
    kc_rsel_endpoint_t eo, ec;
    if (rc == 0)
        rc = kc_rsel_owner_peer(o, idx, &eo);
    if (rc == 0)
        rc = kc_rsel_client_endpoint(pr->c, &ec);
    kc_rsel_pipe_opts_t po = {sizeof(kc_rsel_pipe_opts_t), delay,    0, 1,
                              traced ? trace : NULL,       &pr->lane};
    if (rc == 0)
        rc = kc_rsel_pipe_create(&pr->p, &po, &eo, &ec);
    kc_rsel_link_t lo, lc;
    if (rc == 0)
        rc = kc_rsel_pipe_link(pr->p, 0, &lo);
    if (rc == 0)
        rc = kc_rsel_owner_link(o, idx, &lo);
    if (rc == 0)
        rc = kc_rsel_pipe_link(pr->p, 1, &lc);
    if (rc == 0)
        rc = kc_rsel_client_link(pr->c, &lc);
    if (rc == 0)
        rc = kc_rsel_import(&pr->imp, pr->c, chan, co);
    return rc;
}

static void disconnect_peer(struct peer *pr)
{
    kc_rsel_pipe_destroy(pr->p);
    kc_chan_destroy(pr->imp);
    kc_rsel_client_destroy(pr->c);
}

struct racer {
    struct peer *pr;
    kc_chan_t *quiet;
    int wanted, got;
    long vals[8];
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    long x = -1, q = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->pr->imp, &x),
                              KC_CHAN_CLAUSE_RECV_INIT(r->quiet, &q)};
    while (r->got < r->wanted) {
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 300 * MS, NULL);
        if (rc == 0 && cl[0].result == 0)
            r->vals[r->got++] = x;
        else if (rc != -ETIME)
            break;
        if (rc == -ETIME)
            break;
    }
    return NULL;
}

static kc_chan_opts_t opts(size_t cap)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.elem_size = sizeof(long);
    return o;
}

static void header(const char *left, const char *right)
{
    if (json)
        return;
    printf("%8s %*s%-28s%-28s%s\n", "ms", 2, "", left, "owner", right);
}

static int scenario_race(int64_t delay)
{
    kc_chan_opts_t co = opts(8);
    kc_chan_t *x, *quiet;
    kc_rsel_owner_t *o;
    struct peer a, b;
    if (kc_chan_create(&x, &co) != 0 || kc_chan_make(&quiet, KC_CHAN_RENDEZVOUS, 0, sizeof(long)) ||
        kc_rsel_owner_create(&o, x, 1, 20 * MS) != 0 ||
        connect_peer(&a, o, 0, 1, &co, delay, "A", 0, true) != 0 ||
        connect_peer(&b, o, 1, 1, &co, delay, "B", 2, true) != 0)
        return 1;
    header("A", "B");
    struct racer ra = {&a, quiet, 3, 0, {0}}, rb = {&b, quiet, 3, 0, {0}};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, racer_main, &ra);
    pthread_create(&tb, NULL, racer_main, &rb);
    sleep_ms(5);
    for (long v = 1; v <= 3; v++) {
        kc_chan_send(x, &v, KC_NO_TIMEOUT, NULL);
        sleep_ms(10);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    sleep_ms(5); /* the last CANCELs reach the owner (and the chart) */
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    (void)kc_rsel_owner_stats(o, &st);
    pthread_mutex_lock(&out_mu);
    if (json)
        printf("{\"scenario\":\"race\",\"a\":%d,\"b\":%d,\"committed\":%llu,\"notifies\":%llu,"
               "\"rejects\":%llu,\"held\":%llu}\n",
               ra.got, rb.got, (unsigned long long)st.committed, (unsigned long long)st.notifies,
               (unsigned long long)st.rejects, (unsigned long long)st.held);
    else
        printf("\nA received %d, B received %d of 3 elements; the owner committed %llu, "
               "sent %llu notifies, rejected %llu claims, holds %llu\n",
               ra.got, rb.got, (unsigned long long)st.committed, (unsigned long long)st.notifies,
               (unsigned long long)st.rejects, (unsigned long long)st.held);
    pthread_mutex_unlock(&out_mu);
    disconnect_peer(&a);
    disconnect_peer(&b);
    kc_rsel_owner_destroy(o, NULL);
    kc_chan_close(x);
    kc_chan_destroy(x);
    kc_chan_destroy(quiet);
    return ra.got + rb.got == 3 && st.committed == 3 ? 0 : 1;
}

static void mute_deliver(void *self, const uint8_t *msg, size_t len)
{
    (void)self;
    (void)msg;
    (void)len;
}

static int scenario_lease(int64_t delay)
{
    kc_chan_opts_t co = opts(8);
    kc_chan_t *x;
    kc_rsel_owner_t *o;
    struct peer a;
    kc_rsel_pipe_t *mp;
    static struct lane mlane = {"M", 2};
    kc_rsel_endpoint_t mute = {mute_deliver, NULL, NULL}, eo;
    kc_rsel_link_t lm;
    kc_rsel_pipe_opts_t po = {sizeof(kc_rsel_pipe_opts_t), delay, 0, 2, trace, &mlane};
    if (kc_chan_create(&x, &co) != 0 || kc_rsel_owner_create(&o, x, 1, 20 * MS) != 0 ||
        connect_peer(&a, o, 0, 1, &co, delay, "A", 0, true) != 0 ||
        kc_rsel_owner_peer(o, 1, &eo) != 0 || kc_rsel_pipe_create(&mp, &po, &eo, &mute) != 0 ||
        kc_rsel_pipe_link(mp, 0, &lm) != 0 || kc_rsel_owner_link(o, 1, &lm) != 0)
        return 1;
    header("A", "M (mute)");
    uint8_t msg[KC_RSEL_HDR];
    kc_rsel_msg_t m = {KC_RSEL_REGISTER, KC_RSEL_RECV, 0, 1, 1, 20 * MS};
    kc__rsel_encode(&m, NULL, 0, msg, sizeof msg);
    kc_rsel_pipe_send(mp, 1, msg, sizeof msg);
    sleep_ms(3);
    long v = 42, got = -1;
    kc_chan_send(x, &v, KC_NO_TIMEOUT, NULL);
    sleep_ms(2);
    int64_t start = now_ns();
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(a.imp, &got)};
    int rc = kc_chan_select(cl, 1, 0, 2000 * MS, NULL);
    double waited = (double)(now_ns() - start) / 1e6;
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    (void)kc_rsel_owner_stats(o, &st);
    pthread_mutex_lock(&out_mu);
    if (json)
        printf("{\"scenario\":\"lease\",\"rc\":%d,\"element\":%ld,\"waited_ms\":%.3f,"
               "\"expired\":%llu}\n",
               rc, got, waited, (unsigned long long)st.expired);
    else
        printf("\nA's select returned %d with element %ld after %.1f ms; leases expired: %llu\n",
               rc, got, waited, (unsigned long long)st.expired);
    pthread_mutex_unlock(&out_mu);
    kc_rsel_pipe_destroy(mp);
    disconnect_peer(&a);
    kc_rsel_owner_destroy(o, NULL);
    kc_chan_close(x);
    kc_chan_destroy(x);
    return rc == 0 && got == 42 && st.expired == 1 ? 0 : 1;
}

static int scenario_fairness(int64_t delay)
{
    enum {
        ROUNDS = 2000
    };
    kc_chan_opts_t co = opts(64);
    kc_chan_t *x[2];
    kc_rsel_owner_t *o[2];
    struct peer p[2];
    for (int k = 0; k < 2; k++) {
        if (kc_chan_create(&x[k], &co) != 0 || kc_rsel_owner_create(&o[k], x[k], 1, 20 * MS) != 0 ||
            connect_peer(&p[k], o[k], 0, 1, &co, delay, k == 0 ? "A" : "B", 0, false) != 0)
            return 1;
    }
    long v = 1, got[2];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 32; i++)
            kc_chan_send(x[k], &v, KC_NO_TIMEOUT, NULL);
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(p[0].imp, &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(p[1].imp, &got[1])};
    long wins[2] = {0, 0}; /* no chart for two thousand claims */
    for (int i = 0; i < ROUNDS; i++) {
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 1000 * MS, NULL);
        if (rc < 0)
            return 1;
        wins[rc]++;
        kc_chan_send(x[rc], &v, KC_NO_TIMEOUT, NULL);
    }
    double e = ROUNDS / 2.0;
    double chi2 = (wins[0] - e) * (wins[0] - e) / e + (wins[1] - e) * (wins[1] - e) / e;
    if (json)
        printf("{\"scenario\":\"fairness\",\"rounds\":%d,\"wins\":[%ld,%ld],\"chi2\":%.3f}\n",
               ROUNDS, wins[0], wins[1], chi2);
    else
        printf("fairness: %d unbiased selects over two remote channels: %ld and %ld wins, "
               "chi-square %.2f (uniform below 10.83 at p = 0.001)\n",
               ROUNDS, wins[0], wins[1], chi2);
    for (int k = 0; k < 2; k++) {
        disconnect_peer(&p[k]);
        kc_rsel_owner_destroy(o[k], NULL);
        kc_chan_close(x[k]);
        kc_chan_destroy(x[k]);
    }
    return chi2 < 10.83 ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: select [--json] [--delay-us N] race|lease|fairness\n");
    return 2;
}

int main(int argc, char **argv)
{
    int64_t delay = 200000;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc)
            delay = atoll(argv[++i]) * 1000;
        else if (argv[i][0] != '-' && scenario == NULL)
            scenario = argv[i];
        else
            return usage();
    }
    if (scenario == NULL || delay < 0)
        return usage();
    t0 = now_ns();
    if (strcmp(scenario, "race") == 0)
        return scenario_race(delay);
    if (strcmp(scenario, "lease") == 0)
        return scenario_lease(delay);
    if (strcmp(scenario, "fairness") == 0)
        return scenario_fairness(delay);
    return usage();
}
