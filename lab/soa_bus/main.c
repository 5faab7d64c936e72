/* main.c - the soa_bus explorer: scenarios that show the bus at work.
 *
 * Each scenario builds its own bus, runs, and prints what happened with the
 * bus and subscriber metrics: readable text by default, one JSON object per
 * scenario (NDJSON) with --json. `soa_bus --help` lists scenarios and flags.
 */
#include "kcoro/bus.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct opts {
    bool json;
    int subs;     /* fanout: subscriber threads */
    long msgs;    /* messages per scenario */
    uint32_t cap; /* 0 = autotune */
    long pace_us; /* fanout: pause after every 32 publishes (0 = none) */
};

static struct opts g = {false, 4, 200000, 0, 20};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static kc_bus_t *make_bus(size_t msg, uint32_t cap, uint32_t subs, kc_bus_pub_t **pub)
{
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = msg, .capacity = cap, .expected_subs = subs};
    kc_bus_t *b;
    int rc = kc_bus_create(&o, &b, pub);
    if (rc != 0) {
        fprintf(stderr, "soa_bus: kc_bus_create: %s\n", kc_strerror(rc));
        exit(1);
    }
    return b;
}

static kc_bus_sub_t *sub_to(kc_bus_t *b, uint64_t topics)
{
    kc_bus_sub_t *s;
    int rc = kc_bus_subscribe_with_mask(b, topics, &s);
    if (rc != 0) {
        fprintf(stderr, "soa_bus: subscribe: %s\n", kc_strerror(rc));
        exit(1);
    }
    return s;
}

/* ------------------------------------------------ printing */

static void begin(const char *name, const char *what)
{
    if (g.json)
        printf("{\"scenario\":\"%s\"", name);
    else
        printf("== %s: %s\n", name, what);
}

static void num(const char *key, double v)
{
    if (g.json)
        printf(",\"%s\":%.6g", key, v);
    else
        printf("   %-22s %.6g\n", key, v);
}

static void show_bus(const kc_bus_t *b)
{
    kc_bus_metrics_t m = {.size = sizeof(m)};
    kc_bus_metrics(b, &m);
    if (g.json) {
        printf(",\"bus\":{\"published\":%llu,\"no_receivers\":%llu,\"receiver_lag\":%llu,"
               "\"notify_sends\":%llu,\"notify_suppressed\":%llu,\"batch_publish\":%llu,"
               "\"cap_selected\":%u,\"autotune_warn\":%llu,\"batch_len_hist\":[",
               (unsigned long long)m.published, (unsigned long long)m.no_receivers,
               (unsigned long long)m.receiver_lag, (unsigned long long)m.notify_sends,
               (unsigned long long)m.notify_suppressed, (unsigned long long)m.batch_publish,
               m.cap_selected, (unsigned long long)m.autotune_warn);
        for (int i = 0; i < KC_BUS_HIST_BUCKETS; i++)
            printf("%s%llu", i ? "," : "", (unsigned long long)m.batch_len_hist[i]);
        printf("]}");
        return;
    }
    printf("   bus: published %llu, no_receivers %llu, receiver_lag %llu, notify sent %llu "
           "/ suppressed %llu, cap %u, autotune_warn %llu\n",
           (unsigned long long)m.published, (unsigned long long)m.no_receivers,
           (unsigned long long)m.receiver_lag, (unsigned long long)m.notify_sends,
           (unsigned long long)m.notify_suppressed, m.cap_selected,
           (unsigned long long)m.autotune_warn);
    if (m.batch_publish) {
        printf("   batches %llu, length histogram (log2 buckets):",
               (unsigned long long)m.batch_publish);
        for (int i = 0; i < KC_BUS_HIST_BUCKETS; i++)
            if (m.batch_len_hist[i])
                printf(" [%d..%d] %llu", 1 << i, (2 << i) - 1,
                       (unsigned long long)m.batch_len_hist[i]);
        printf("\n");
    }
}

static void show_subs(kc_bus_sub_t **s, int n)
{
    if (g.json)
        printf(",\"subs\":[");
    for (int i = 0; i < n; i++) {
        kc_bus_sub_metrics_t m = {.size = sizeof(m)};
        kc_bus_sub_metrics(s[i], &m);
        if (g.json)
            printf("%s{\"topics\":\"%#llx\",\"delivered\":%llu,\"lagged\":%llu,\"filtered\":%llu,"
                   "\"notified\":%llu,\"parks\":%llu}",
                   i ? "," : "", (unsigned long long)m.topics, (unsigned long long)m.delivered,
                   (unsigned long long)m.lagged, (unsigned long long)m.filtered,
                   (unsigned long long)m.notified, (unsigned long long)m.parks);
        else
            printf("   sub %-2d topics %-18llx delivered %-9llu lagged %-9llu filtered %-9llu "
                   "notified %-7llu parks %llu\n",
                   i, (unsigned long long)m.topics, (unsigned long long)m.delivered,
                   (unsigned long long)m.lagged, (unsigned long long)m.filtered,
                   (unsigned long long)m.notified, (unsigned long long)m.parks);
    }
    if (g.json)
        printf("]");
}

static void end(void)
{
    if (g.json)
        printf("}\n");
    fflush(stdout);
}

/* ------------------------------------------------ scenarios */

static void *drain_thread(void *arg)
{
    kc_bus_sub_t *s = arg;
    uint64_t buf[2];
    while (kc_bus_recv(s, buf, sizeof(buf), NULL, KC_NO_TIMEOUT, NULL) != -EPIPE)
        ;
    return NULL;
}

/* One publisher thread (this one) against N blocking subscriber threads. */
static void sc_fanout(void)
{
    kc_bus_pub_t *p;
    kc_bus_t *b = make_bus(16, g.cap, (uint32_t)g.subs, &p);
    kc_bus_sub_t *s[KC_BUS_MAX_SUBS];
    pthread_t th[KC_BUS_MAX_SUBS];
    uint64_t msg[2] = {0, 0};

    begin("fanout", "one publisher (paced by --pace-us), N blocking subscriber threads");
    for (int i = 0; i < g.subs; i++)
        s[i] = sub_to(b, KC_BUS_MASK_ALL);
    kc_bus_publish(p, msg, sizeof(msg)); /* joins everyone */
    for (int i = 0; i < g.subs; i++)
        pthread_create(&th[i], NULL, drain_thread, s[i]);
    double t0 = now_s();
    for (long k = 1; k < g.msgs; k++) {
        msg[0] = (uint64_t)k;
        kc_bus_publish(p, msg, sizeof(msg));
        if (g.pace_us > 0 && k % 32 == 0) {
            struct timespec ts = {0, g.pace_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
    double secs = now_s() - t0;
    kc_bus_pub_release(p);
    for (int i = 0; i < g.subs; i++)
        pthread_join(th[i], NULL);
    uint64_t delivered = 0;
    for (int i = 0; i < g.subs; i++) {
        kc_bus_sub_metrics_t m = {.size = sizeof(m)};
        kc_bus_sub_metrics(s[i], &m);
        delivered += m.delivered;
    }
    num("subscribers", g.subs);
    num("pace_us_per_32", (double)g.pace_us);
    num("publishes_per_s", (double)g.msgs / secs);
    num("deliveries_per_s", (double)delivered / secs);
    num("loss_pct", 100.0 * (1.0 - (double)delivered / ((double)g.msgs * g.subs)));
    show_bus(b);
    show_subs(s, g.subs);
    end();
    for (int i = 0; i < g.subs; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_release(b);
}

/* A fast subscriber keeps up; a slow one reads one message per 100
 * publishes and keeps lagging. Single-threaded, so it is reproducible. */
static void sc_slow(void)
{
    kc_bus_pub_t *p;
    kc_bus_t *b = make_bus(8, g.cap ? g.cap : 64, 2, &p);
    kc_bus_sub_t *s[2] = {sub_to(b, KC_BUS_MASK_ALL), sub_to(b, KC_BUS_MASK_ALL)};
    uint64_t v, missed, first_lags[4] = {0};
    int nlag = 0;

    begin("slow-subscriber", "cap 64; sub 1 reads once per 100 publishes and lags");
    for (long k = 0; k < 10000; k++) {
        kc_bus_publish(p, &k, sizeof(k));
        while (kc_bus_try_recv(s[0], &v, sizeof(v), NULL) == 0)
            ;
        if (k % 100 == 99) {
            int rc = kc_bus_try_recv(s[1], &v, sizeof(v), &missed);
            if (rc == KC_BUS_LAGGED) {
                if (nlag < 4)
                    first_lags[nlag] = missed;
                nlag++;
                kc_bus_try_recv(s[1], &v, sizeof(v), NULL);
                if (nlag == 1 && !g.json)
                    printf("   first lag: missed %llu, resumed at message %llu (oldest live)\n",
                           (unsigned long long)missed, (unsigned long long)v);
            }
        }
    }
    num("lag_events", nlag);
    for (int i = 0; i < 4 && i < nlag; i++) {
        char key[32];
        snprintf(key, sizeof(key), "lag_%d_missed", i);
        num(key, (double)first_lags[i]);
    }
    show_bus(b);
    show_subs(s, 2);
    end();
    kc_bus_unsubscribe(s[0]);
    kc_bus_unsubscribe(s[1]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

/* Ten messages, then the last publisher goes: the subscriber drains, then
 * gets -EPIPE. */
static void sc_close(void)
{
    kc_bus_pub_t *p, *p2;
    kc_bus_t *b = make_bus(8, 16, 1, &p);
    kc_bus_sub_t *s = sub_to(b, KC_BUS_MASK_ALL);
    uint64_t v;
    int rc, drained = 0;

    begin("close-drain", "two publisher handles; the bus closes when both are released");
    kc_bus_pub_clone(p, &p2);
    for (uint64_t k = 0; k < 10; k++)
        kc_bus_publish(k % 2 ? p2 : p, &k, sizeof(k));
    kc_bus_pub_release(p);
    rc = kc_bus_try_recv(s, &v, sizeof(v), NULL);
    if (!g.json)
        printf("   after releasing one of two handles: try_recv -> %d (message %llu)\n", rc,
               (unsigned long long)v);
    drained += rc == 0;
    kc_bus_pub_release(p2);
    while ((rc = kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, NULL)) == 0)
        drained++;
    if (!g.json)
        printf("   after the last release: drained %d messages, then %s\n", drained,
               kc_errname(rc));
    num("drained", drained);
    num("final_rc", rc);
    show_bus(b);
    show_subs(&s, 1);
    end();
    kc_bus_unsubscribe(s);
    kc_bus_release(b);
}

/* Four subscribers on topics 1, 2, 4 and all; messages cycle over topics
 * 1, 2, 4, 8. Members get theirs; the others never get a wake-up. */
static void sc_masks(void)
{
    static const uint64_t topics[4] = {0x1, 0x2, 0x4, KC_BUS_MASK_ALL};
    kc_bus_pub_t *p;
    kc_bus_t *b = make_bus(8, 1024, 4, &p);
    kc_bus_sub_t *s[4];
    uint64_t v;

    begin("masks", "subscribers on topics 0x1, 0x2, 0x4 and all; publishes cycle 0x1,0x2,0x4,0x8");
    for (int i = 0; i < 4; i++)
        s[i] = sub_to(b, topics[i]);
    for (uint64_t k = 0; k < 1000; k++)
        kc_bus_publish_with_mask(p, (uint64_t)1 << (k % 4), &k, sizeof(k));
    for (int i = 0; i < 4; i++)
        while (kc_bus_try_recv(s[i], &v, sizeof(v), NULL) == 0)
            ;
    show_bus(b);
    show_subs(s, 4);
    end();
    for (int i = 0; i < 4; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

/* The same messages published one by one and in batches of 64. */
static void sc_batch(void)
{
    static uint64_t msgs[64 * 2];
    double ns[2];

    begin("batch-vs-single", "4 subscribers, 16-byte messages, singles vs batches of 64");
    for (int mode = 0; mode < 2; mode++) {
        kc_bus_pub_t *p;
        kc_bus_t *b = make_bus(16, 256, 4, &p);
        kc_bus_sub_t *s[4];
        for (int i = 0; i < 4; i++)
            s[i] = sub_to(b, KC_BUS_MASK_ALL);
        double t0 = now_s();
        for (long k = 0; k < g.msgs; k += 64) {
            if (mode == 0)
                for (int j = 0; j < 64; j++)
                    kc_bus_publish(p, &msgs[2 * j], 16);
            else
                kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, 64);
        }
        ns[mode] = (now_s() - t0) * 1e9 / (double)g.msgs;
        if (!g.json)
            printf("   %s:\n", mode ? "batches of 64" : "single publishes");
        show_bus(b);
        for (int i = 0; i < 4; i++)
            kc_bus_unsubscribe(s[i]);
        kc_bus_pub_release(p);
        kc_bus_release(b);
    }
    num("single_ns_per_msg", ns[0]);
    num("batch64_ns_per_msg", ns[1]);
    num("speedup", ns[0] / ns[1]);
    end();
}

static void sc_autotune(void)
{
    static const uint32_t subs[] = {1, 4, 5, 16, 17, 64};
    begin("autotune", "capacity from expected subscribers; an explicit capacity wins");
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "cap_for_%u_subs", subs[i]);
        num(key, kc_bus_autotune(subs[i], 0));
    }
    kc_bus_pub_t *p;
    kc_bus_t *b = make_bus(8, 512, 4, &p);
    if (!g.json)
        printf("   explicit capacity 512 with 4 expected subscribers:\n");
    show_bus(b);
    end();
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static const struct {
    const char *name;
    void (*run)(void);
    const char *help;
} scenarios[] = {
    {"fanout", sc_fanout, "one publisher thread, --subs blocking subscriber threads"},
    {"slow-subscriber", sc_slow, "a subscriber that falls behind: lagged(n), resume"},
    {"close-drain", sc_close, "last publisher release: drain, then -EPIPE"},
    {"masks", sc_masks, "topic masks: members only, no wake-ups for others"},
    {"batch-vs-single", sc_batch, "publish cost, single vs batches of 64"},
    {"autotune", sc_autotune, "capacity chosen from the expected subscriber count"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: soa_bus [--json] [--subs N] [--msgs N] [--cap N] [--pace-us N] [SCENARIO...]\n"
            "Runs the named scenarios (all by default) and prints bus metrics.\n"
            "  --json     one JSON object per scenario (NDJSON)\n"
            "  --subs N   fanout subscriber threads (1..64, default 4)\n"
            "  --msgs N   messages for fanout and batch-vs-single (default 200000)\n"
            "  --cap N    ring capacity, a power of two (default: autotune)\n"
            "  --pace-us N  fanout publisher sleeps N us per 32 messages (default 20;\n"
            "             0 = a firehose that outruns the subscribers)\n"
            "scenarios:\n");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        fprintf(f, "  %-16s %s\n", scenarios[i].name, scenarios[i].help);
}

int main(int argc, char **argv)
{
    const char *run[16];
    int nrun = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            g.json = true;
        } else if (strcmp(argv[i], "--subs") == 0 && i + 1 < argc) {
            g.subs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--msgs") == 0 && i + 1 < argc) {
            g.msgs = atol(argv[++i]);
        } else if (strcmp(argv[i], "--pace-us") == 0 && i + 1 < argc) {
            g.pace_us = atol(argv[++i]);
        } else if (strcmp(argv[i], "--cap") == 0 && i + 1 < argc) {
            g.cap = (uint32_t)strtoul(argv[++i], NULL, 0);
        } else if (argv[i][0] != '-' && nrun < 16) {
            run[nrun++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (g.subs < 1 || g.subs > KC_BUS_MAX_SUBS || g.msgs < 64 || g.pace_us < 0 ||
        g.pace_us > 999999 || (g.cap != 0 && (g.cap < 2 || (g.cap & (g.cap - 1)) != 0))) {
        fprintf(stderr, "soa_bus: --subs 1..64, --msgs >= 64, --pace-us 0..999999, "
                        "--cap a power of two >= 2\n");
        return 2;
    }
    for (int j = 0; j < nrun; j++) {
        bool known = false;
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
            known |= strcmp(run[j], scenarios[i].name) == 0;
        if (!known) {
            fprintf(stderr, "soa_bus: unknown scenario '%s' (see --help)\n", run[j]);
            return 2;
        }
    }
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        bool want = nrun == 0;
        for (int j = 0; j < nrun; j++)
            want |= strcmp(run[j], scenarios[i].name) == 0;
        if (want)
            scenarios[i].run();
    }
    return 0;
}
