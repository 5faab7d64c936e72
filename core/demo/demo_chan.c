/* demo_chan.c - demo section: a channel pipeline with select and live dumps.
 *
 * A generator coroutine feeds numbered jobs into "jobs" (buffered, 16,
 * SUSPEND: it waits when the workers fall behind). Three worker coroutines
 * square each job, send the result into "results" (unlimited), post their
 * progress into "progress" (conflated: only the newest counts) and raise an
 * alert for every multiple of 7 into "alerts" (buffered, 4, DROP_OLDEST: a
 * slow reader loses old alerts, never blocks a worker). A collector selects
 * over "stop", "results" and "alerts", biased so a stop request wins. While
 * it runs, the main thread prints one kc_chan_dump() line per channel a few
 * times a second; at the end the numbers are checked: every result arrived
 * once, and every alert was either read or handed to the undelivered
 * callback.
 */
#define _POSIX_C_SOURCE 200809L
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    JOBS = 600,
    WORKERS = 3,
    JOB_NS = 4000000, /* each job "works" 4 ms */
    FRAME_NS = 150000000
};

struct pipeline {
    kc_chan_t *jobs, *results, *progress, *alerts, *stop;
    long alerts_dropped; /* counted by the undelivered callback */
    long results_got, alerts_got;
    unsigned long long sum;
};

static void alert_lost(void *elem, size_t size, void *arg)
{
    (void)elem;
    (void)size;
    ((struct pipeline *)arg)->alerts_dropped++; /* runs under the channel's lock */
}

static int generator(void *arg)
{
    struct pipeline *p = arg;
    for (uint64_t j = 1; j <= JOBS; j++)
        kc_chan_send(p->jobs, &j, KC_NO_TIMEOUT, NULL);
    kc_chan_close(p->jobs); /* workers drain what is left, then see -EPIPE */
    return 0;
}

static int worker(void *arg)
{
    struct pipeline *p = arg;
    uint64_t j;
    while (kc_chan_recv(p->jobs, &j, KC_NO_TIMEOUT, NULL) == 0) {
        kc_sched_sleep(JOB_NS, NULL);
        uint64_t r = j * j;
        kc_chan_send(p->results, &r, KC_NO_TIMEOUT, NULL);
        kc_chan_send(p->progress, &j, 0, NULL); /* never waits: conflated */
        if (j % 7 == 0)
            kc_chan_send(p->alerts, &j, 0, NULL); /* never waits: DROP_OLDEST */
    }
    return 0;
}

static int collector(void *arg)
{
    struct pipeline *p = arg;
    uint64_t r, a, s;
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(p->stop, &s),
                              KC_CHAN_CLAUSE_RECV_INIT(p->results, &r),
                              KC_CHAN_CLAUSE_RECV_INIT(p->alerts, &a)};
    for (;;) {
        int k = kc_chan_select(cl, 3, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL);
        if (k == 0)
            break; /* stop wins over pending results */
        if (k == 1 && cl[1].result == 0) {
            p->results_got++;
            p->sum += r;
        } else if (k == 2 && cl[2].result == 0) {
            p->alerts_got++;
            kc_sched_sleep(JOB_NS * 4, NULL); /* a slow alert reader */
        }
    }
    return 0;
}

static kc_chan_t *make(const char *name, kc_chan_kind_t kind, kc_chan_policy_t policy, size_t cap,
                       struct pipeline *p)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = kind;
    o.policy = policy;
    o.capacity = cap;
    o.elem_size = sizeof(uint64_t);
    o.name = name;
    if (policy == KC_CHAN_DROP_OLDEST) {
        o.on_undelivered = alert_lost;
        o.undelivered_arg = p;
    }
    kc_chan_t *ch = NULL;
    return kc_chan_create(&ch, &o) == 0 ? ch : NULL;
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void frame(struct pipeline *p, int n, double secs, bool tty)
{
    kc_chan_t *all[] = {p->jobs, p->results, p->progress, p->alerts};
    if (tty && n > 0)
        printf("\033[5A"); /* redraw the five lines in place */
    uint64_t last = 0;
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_snapshot(p->progress, &s);
    if (s.occupancy > 0)
        kc_chan_try_recv(p->progress, &last); /* peek at the newest progress */
    printf("  t=%.2fs  newest job done: %-4llu%s\n", secs, (unsigned long long)last,
           tty ? "\033[K" : "");
    for (int i = 0; i < 4; i++) {
        char line[320];
        kc_chan_dump(all[i], line, sizeof(line));
        printf("    %s%s\n", line, tty ? "\033[K" : "");
    }
    fflush(stdout);
}

int kc_demo_channels(void)
{
    kc_demo_heading("channels: a pipeline with select, live kc_chan_dump lines");
    struct pipeline p;
    memset(&p, 0, sizeof(p));
    p.jobs = make("jobs", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 16, &p);
    p.results = make("results", KC_CHAN_UNLIMITED, KC_CHAN_SUSPEND, 0, &p);
    p.progress = make("progress", KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0, &p);
    p.alerts = make("alerts", KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 4, &p);
    p.stop = make("stop", KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 0, &p);
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    if (!p.jobs || !p.results || !p.progress || !p.alerts || !p.stop ||
        kc_sched_create(&s, &so) != 0) {
        printf("  could not set up the pipeline\n");
        return 1;
    }
    printf("  generator -> jobs -> %d workers -> results/progress/alerts -> collector (select)\n",
           WORKERS);
    kc_task_t *gen, *col, *w[WORKERS];
    kc_sched_spawn(s, &col, collector, &p, NULL);
    for (int i = 0; i < WORKERS; i++)
        kc_sched_spawn(s, &w[i], worker, &p, NULL);
    kc_sched_spawn(s, &gen, generator, &p, NULL);
    bool tty = isatty(STDOUT_FILENO);
    int n = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (kc_sched_join(gen, NULL, FRAME_NS, NULL) == -ETIME)
        frame(&p, n++, since(&t0), tty);
    for (int i = 0; i < WORKERS; i++)
        kc_sched_join(w[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_chan_snapshot_t rs = KC_CHAN_SNAPSHOT_INIT;
    do { /* let the collector catch up with the last results */
        kc_sched_sleep(1000000, NULL);
        kc_chan_snapshot(p.results, &rs);
    } while (rs.occupancy > 0);
    uint64_t one = 1;
    kc_chan_send(p.stop, &one, KC_NO_TIMEOUT, NULL); /* the biased select takes it first */
    kc_sched_join(col, NULL, KC_NO_TIMEOUT, NULL);
    frame(&p, n, since(&t0), tty);
    unsigned long long want = (unsigned long long)JOBS * (JOBS + 1) * (2 * JOBS + 1) / 6;
    long alerts = JOBS / 7;
    kc_chan_snapshot_t as = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_snapshot(p.alerts, &as);
    long unread = (long)as.occupancy;
    bool ok = p.results_got == JOBS && p.sum == want &&
              p.alerts_got + p.alerts_dropped + unread == alerts &&
              (long)as.drops_oldest == p.alerts_dropped;
    printf("  %ld results, sum of squares %llu (%s); %ld alerts: %ld read, %ld dropped oldest, "
           "%ld still buffered\n",
           p.results_got, p.sum, p.sum == want ? "correct" : "WRONG", alerts, p.alerts_got,
           p.alerts_dropped, unread);
    printf("  every element accounted for exactly once: %s\n", ok ? "yes" : "NO");
    kc_sched_destroy(s);
    kc_chan_t *all[] = {p.jobs, p.results, p.progress, p.alerts, p.stop};
    for (int i = 0; i < 5; i++)
        kc_chan_destroy(all[i]);
    return ok ? 0 : 1;
}
