/* demo_bus.c - demo section: a lossy broadcast bus with fast and slow readers.
 *
 * One publisher coroutine sends 4 000 market events through a 32-slot bus:
 * price ticks on topic 1, and every tenth event a news item on topic 2.
 * Three subscriber coroutines share a 2-worker scheduler with it: a fast
 * one that takes every event in batches, a slow one that naps after each
 * event and so falls behind (the bus tells it how many it missed and moves
 * it to the oldest event still there), and one that follows the news topic
 * only and is never woken for a price. When the publisher lets go, the bus
 * closes; each subscriber drains what is left and gets -EPIPE. The section
 * checks each subscriber's books: published = delivered + lagged + filtered.
 */
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>

enum {
    EVENTS = 4000,
    TOPIC_PRICE = 1,
    TOPIC_NEWS = 2
};

struct event {
    uint32_t seq;   /* 0, 1, 2, ... */
    uint32_t topic; /* TOPIC_PRICE or TOPIC_NEWS */
    double price;
};

struct reader {
    const char *name;
    kc_bus_sub_t *sub;
    int nap_us; /* sleep after each event (the slow reader) */
    long events, lag_events, news;
    uint64_t first_missed; /* the first lag report */
    uint32_t resumed_at;   /* the event it read right after that lag */
    int end;               /* what ended its loop: -EPIPE when all went well */
};

static int read_events(void *arg)
{
    struct reader *r = arg;
    struct event ev[16];
    uint64_t missed;
    bool just_lagged = false;

    for (;;) {
        size_t n = r->nap_us ? 1 : 16;
        int rc = kc_bus_recv_batch(r->sub, ev, sizeof(ev), &n, &missed, KC_NO_TIMEOUT, NULL);
        if (rc == KC_BUS_LAGGED) {
            if (r->lag_events++ == 0)
                r->first_missed = missed;
            just_lagged = r->lag_events == 1;
            continue;
        }
        if (rc != 0) {
            r->end = rc;
            return 0;
        }
        if (just_lagged)
            r->resumed_at = ev[0].seq;
        just_lagged = false;
        for (size_t i = 0; i < n; i++)
            r->news += ev[i].topic == TOPIC_NEWS;
        r->events += (long)n;
        if (r->nap_us)
            kc_sched_sleep((int64_t)r->nap_us * 1000, NULL);
    }
}

static int publish_events(void *arg)
{
    kc_bus_pub_t *pub = arg;
    for (uint32_t i = 0; i < EVENTS; i++) {
        struct event ev = {i, i % 10 == 9 ? TOPIC_NEWS : TOPIC_PRICE, 100.0 + (i % 50) * 0.25};
        uint64_t topics = ev.topic == TOPIC_NEWS ? (TOPIC_PRICE | TOPIC_NEWS) : TOPIC_PRICE;
        kc_bus_publish_with_mask(pub, topics, &ev, sizeof(ev));
        if (i % 32 == 31)
            kc_sched_yield(); /* give the readers on this worker a turn */
    }
    kc_bus_pub_release(pub); /* the last publisher: the bus closes */
    return 0;
}

int kc_demo_bus(void)
{
    kc_demo_heading("bus: one publisher, a fast, a slow and a news-only subscriber");
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = sizeof(struct event), .capacity = 32};
    struct reader rd[3] = {{.name = "fast"}, {.name = "slow", .nap_us = 20}, {.name = "news"}};
    static const uint64_t masks[3] = {KC_BUS_MASK_ALL, KC_BUS_MASK_ALL, TOPIC_NEWS};
    kc_task_t *t[4];
    kc_sched_t *s;
    kc_bus_t *bus;
    kc_bus_pub_t *pub;
    int bad = 0;

    so.nworkers = 2;
    if (kc_sched_create(&s, &so) != 0 || kc_bus_create(&bo, &bus, &pub) != 0)
        return 1;
    for (int i = 0; i < 3; i++) {
        kc_bus_subscribe_with_mask(bus, masks[i], &rd[i].sub);
        kc_sched_spawn(s, &t[i], read_events, &rd[i], NULL);
    }
    kc_sched_spawn(s, &t[3], publish_events, pub, NULL);
    for (int i = 0; i < 4; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);

    kc_bus_metrics_t m = {.size = sizeof(m)};
    kc_bus_metrics(bus, &m);
    printf("  %llu events through %u slots; %llu wake-ups sent, %llu not needed\n",
           (unsigned long long)m.published, m.cap_selected, (unsigned long long)m.notify_sends,
           (unsigned long long)m.notify_suppressed);
    printf("  %-5s %9s %9s %9s %6s %6s  %s\n", "sub", "delivered", "lagged", "filtered", "parks",
           "news", "end");
    kc_bus_sub_metrics_t news = {.size = sizeof(news)};
    for (int i = 0; i < 3; i++) {
        kc_bus_sub_metrics_t sm = {.size = sizeof(sm)};
        kc_bus_sub_metrics(rd[i].sub, &sm);
        if (i == 2)
            news = sm;
        printf("  %-5s %9llu %9llu %9llu %6llu %6ld  %s\n", rd[i].name,
               (unsigned long long)sm.delivered, (unsigned long long)sm.lagged,
               (unsigned long long)sm.filtered, (unsigned long long)sm.parks, rd[i].news,
               kc_errname(rd[i].end));
        if (sm.delivered + sm.lagged + sm.filtered != m.published || rd[i].end != -EPIPE ||
            (long)sm.delivered != rd[i].events)
            bad = 1;
        kc_bus_unsubscribe(rd[i].sub);
    }
    if (rd[1].lag_events > 0)
        printf("  the slow one lagged %ld times; first it missed %llu events and went on at "
               "event %u, the oldest still in the ring\n",
               rd[1].lag_events, (unsigned long long)rd[1].first_missed, rd[1].resumed_at);
    printf("  the news reader read past %llu price ticks and was woken %llu times for %ld "
           "news items\n",
           (unsigned long long)news.filtered, (unsigned long long)news.notified, rd[2].news);
    if (news.notified > news.delivered)
        bad = 1; /* woken for something that was not news */
    /* Left to itself (capacity 0) a bus sizes its ring from the number of
     * subscribers it expects; an explicit capacity always wins. */
    printf("  ring sizes picked for 4, 16 and 40 expected subscribers: %u, %u, %u slots\n",
           kc_bus_autotune(4, 0), kc_bus_autotune(16, 0), kc_bus_autotune(40, 0));
    if (kc_bus_autotune(4, 0) != 64 || kc_bus_autotune(40, 0) != 256)
        bad = 1;
    printf("  books balance (published = delivered + lagged + filtered): %s\n",
           bad ? "NO" : "yes, for every subscriber");
    kc_bus_release(bus);
    kc_sched_destroy(s);
    return bad;
}
