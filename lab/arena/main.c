/* main.c - the arena explorer: scenarios that show tickets, pages and metrics.
 *
 * Each scenario drives an arena through one story (mixed payload sizes,
 * fragmentation over time, stale and forged tickets, exhaustion and
 * recovery, multi-thread churn, external regions, purge) and prints what
 * happened, the allocation table (kc_arena_dump) and the metrics. --json
 * prints one JSON object per scenario instead, for tools. Run with --help.
 */
#include "kcoro/arena.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct opts {
    int threads;
    long ops;
    size_t page;
    size_t bytes;
    uint64_t seed;
    bool json;
    bool table;
};

static struct opts opt = {2, 0, 4096, 0, 42, false, true};

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static kc_arena_t *make(const char *name, size_t bytes)
{
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = opt.bytes != 0 ? opt.bytes : bytes;
    o.page_size = opt.page;
    o.name = name;
    kc_arena_t *a = NULL;
    int rc = kc_arena_create(&a, &o);
    if (rc != 0) {
        fprintf(stderr, "kc_arena_create: %s (%s)\n", kc_errname(rc), kc_strerror(rc));
        exit(2);
    }
    return a;
}

/* A line of narrative (text mode) or one "events" member (JSON mode). */
static bool first_event;

static void say(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (opt.json) {
        printf("%s\"%s\":\"", first_event ? "" : ",", key);
        vprintf(fmt, ap);
        printf("\"");
        first_event = false;
    } else {
        printf("  %-22s ", key);
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}

static void begin(const char *name, const char *what)
{
    first_event = true;
    if (opt.json)
        printf("{\"scenario\":\"%s\",\"events\":{", name);
    else
        printf("== %s: %s\n", name, what);
}

/* Close the scenario: the table and metrics, then the check. */
static void end(kc_arena_t *a)
{
    int check = kc_arena_check(a);
    if (opt.json) {
        /* The dump is one line ending in a newline; nest it without one. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f != NULL) {
            kc_arena_dump(a, f, KC_ARENA_DUMP_JSON);
            fclose(f);
        }
        while (len > 0 && text[len - 1] == '\n')
            text[--len] = '\0';
        printf("},\"check\":\"%s\",\"dump\":%s}\n", check == 0 ? "ok" : kc_errname(check),
               len > 0 ? text : "null");
        free(text);
    } else {
        if (opt.table) {
            printf("\n");
            kc_arena_dump(a, stdout, KC_ARENA_DUMP_TEXT);
        }
        printf("  invariants: %s\n\n", check == 0 ? "hold" : "BROKEN");
    }
}

/* ------------------------------------------------------------ scenarios */

static void mixed(void)
{
    begin("mixed", "small slots and large page runs side by side");
    kc_arena_t *a = make("mixed", 4 << 20);
    kc_arena_ticket_t t[24];
    uint64_t seed = opt.seed;
    int n = 0;
    for (int i = 0; i < 24; i++) {
        uint64_t r = rnd(&seed);
        size_t size = (i % 3 == 2) ? 4096 + r % (60 * 1024) : 16 + r % 2000;
        if (kc_arena_alloc(a, size, &t[n], NULL) == 0)
            n++;
    }
    say("allocated", "%d payloads (every third one a page run)", n);
    for (int i = 0; i < n; i += 2)
        kc_arena_release(a, t[i]);
    say("released", "every other one: %d remain live", n / 2);
    kc_arena_flush(a);
    end(a);
    for (int i = 1; i < n; i += 2)
        kc_arena_release(a, t[i]);
    kc_arena_destroy(a);
}

static void fragmentation(void)
{
    begin("fragmentation", "random sizes and lifetimes; how the pages fill and fray");
    kc_arena_t *a = make("frag", 8 << 20);
    enum {
        LIVE = 512
    };
    kc_arena_ticket_t t[LIVE];
    bool used[LIVE] = {false};
    uint64_t seed = opt.seed;
    long rounds = opt.ops > 0 ? opt.ops / 1000 : 8;
    if (!opt.json)
        printf("  round  pages_used  live_bytes  fragmentation  largest_free  free_frag\n");
    for (long round = 0; round < rounds; round++) {
        for (int i = 0; i < 1000; i++) {
            int k = (int)(rnd(&seed) % LIVE);
            if (used[k]) {
                kc_arena_release(a, t[k]);
                used[k] = false;
            } else {
                uint64_t r = rnd(&seed);
                size_t size = r % 8 == 0 ? 4096 + r % 40000 : 16 + r % 1500;
                used[k] = kc_arena_alloc(a, size, &t[k], NULL) == 0;
            }
        }
        kc_arena_flush(a);
        kc_arena_metrics_t m = {.size = sizeof(m)};
        kc_arena_metrics(a, &m);
        if (opt.json) {
            char key[32];
            snprintf(key, sizeof(key), "round_%ld", round);
            say(key, "pages_used=%llu live_bytes=%llu fragmentation=%.3f largest_free=%llu",
                (unsigned long long)m.pages_used, (unsigned long long)m.live_bytes, m.fragmentation,
                (unsigned long long)m.largest_free_run);
        } else {
            printf("  %-5ld  %-10llu  %-10llu  %-13.3f  %-12llu  %.3f\n", round,
                   (unsigned long long)m.pages_used, (unsigned long long)m.live_bytes,
                   m.fragmentation, (unsigned long long)m.largest_free_run, m.free_fragmentation);
        }
    }
    say("purged", "%d free pages handed back to the OS", kc_arena_purge(a));
    end(a);
    for (int k = 0; k < LIVE; k++)
        if (used[k])
            kc_arena_release(a, t[k]);
    kc_arena_destroy(a);
}

static const char *res(int rc)
{
    return rc >= 0 ? (rc == 1 ? "1 (freed)" : "0 (ok)") : kc_errname(rc);
}

static void stale(void)
{
    begin("stale", "released, reused, forged and foreign tickets are refused");
    kc_arena_t *a = make("stale", 1 << 20), *other = make("other", 1 << 20);
    kc_arena_ticket_t t, again, foreign;
    kc_arena_alloc(a, 100, &t, NULL);
    say("issued", "index %u gen %u len %u check %#x", t.index, t.gen, t.len, t.check);
    say("hydrate (live)", "%s", res(kc_arena_hydrate(a, t, NULL, NULL)));
    say("release (shared)", "%s", res(kc_arena_release(a, t)));
    say("release (last)", "%s", res(kc_arena_release(a, t)));
    say("hydrate (released)", "%s", res(kc_arena_hydrate(a, t, NULL, NULL)));
    say("release (double)", "%s", res(kc_arena_release(a, t)));
    kc_arena_alloc(a, 100, &again, NULL);
    say("slot reused", "index %u now gen %u", again.index, again.gen);
    say("hydrate (old gen)", "%s", res(kc_arena_hydrate(a, t, NULL, NULL)));
    kc_arena_ticket_t forged = again;
    forged.len = 1 << 20;
    say("hydrate (len forged)", "%s", res(kc_arena_hydrate(a, forged, NULL, NULL)));
    kc_arena_alloc(other, 100, &foreign, NULL);
    say("hydrate (other arena)", "%s", res(kc_arena_hydrate(a, foreign, NULL, NULL)));
    kc_arena_ticket_t null = KC_ARENA_TICKET_NULL;
    say("hydrate (null)", "%s", res(kc_arena_hydrate(a, null, NULL, NULL)));
    end(a);
    kc_arena_release(a, again);
    kc_arena_release(other, foreign);
    kc_arena_destroy(other);
    kc_arena_destroy(a);
}

static void exhaustion(void)
{
    begin("exhaustion", "fill a 64-page arena, fail cleanly, free, fill again");
    kc_arena_t *a = make("small", 64 * opt.page);
    kc_arena_ticket_t t[256];
    for (int round = 1; round <= 2; round++) {
        int n = 0, rc;
        while (n < 256 && (rc = kc_arena_alloc(a, opt.page, &t[n], NULL)) == 0)
            n++;
        char key[32];
        snprintf(key, sizeof(key), "round_%d", round);
        say(key, "%d one-page payloads, then %s", n, n < 256 ? kc_errname(rc) : "stop");
        if (round == 1) {
            kc_arena_metrics_t m = {.size = sizeof(m)};
            kc_arena_metrics(a, &m);
            say("when full", "pages_used=%llu failed_allocs=%llu", (unsigned long long)m.pages_used,
                (unsigned long long)m.failed_allocs);
        }
        for (int i = 0; i < n; i++)
            kc_arena_release(a, t[i]);
    }
    end(a);
    kc_arena_destroy(a);
}

struct churn_arg {
    kc_arena_t *a;
    long ops;
    uint64_t seed;
    long done;
};

static void *churn_main(void *p)
{
    struct churn_arg *c = p;
    kc_arena_ticket_t held[16];
    int n = 0;
    for (long i = 0; i < c->ops; i++) {
        uint64_t r = rnd(&c->seed);
        if (n == 16 || (n > 0 && (r & 1))) {
            kc_arena_ticket_t t = held[--n];
            void *ptr;
            if (kc_arena_hydrate(c->a, t, &ptr, NULL) == 0)
                kc_arena_release(c->a, t);
            kc_arena_release(c->a, t);
        } else if (kc_arena_alloc(c->a, 16 + (r >> 16) % 9000, &held[n], NULL) == 0) {
            n++;
        }
        c->done++;
    }
    while (n > 0)
        kc_arena_release(c->a, held[--n]);
    return NULL;
}

static void churn(void)
{
    begin("churn", "threads allocate, hydrate and release concurrently");
    kc_arena_t *a = make("churn", 64 << 20);
    int nt = opt.threads < 1 ? 1 : opt.threads > 64 ? 64 : opt.threads;
    long ops = opt.ops > 0 ? opt.ops : 1000000;
    struct churn_arg c[64];
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < nt; i++) {
        c[i] = (struct churn_arg){a, ops, opt.seed + (uint64_t)i, 0};
        pthread_create(&th[i], NULL, churn_main, &c[i]);
    }
    long total = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        total += c[i].done;
    }
    double dt = now_s() - t0;
    say("threads", "%d", nt);
    say("operations", "%ld in %.3f s (%.1f M ops/s)", total, dt, (double)total / dt / 1e6);
    end(a);
    kc_arena_destroy(a);
}

static char region_buf[64 * 1024], region_buf2[1024];

static void regions(void)
{
    begin("regions", "tickets into caller memory, no copies; unregister waits for them");
    kc_arena_t *a = make("regions", 1 << 20);
    int id = kc_arena_register_region(a, region_buf, sizeof(region_buf), KC_ARENA_REGION_RDONLY);
    say("registered", "region %d: %zu bytes at %p", id, sizeof(region_buf), (void *)region_buf);
    kc_arena_ticket_t t[3];
    for (int i = 0; i < 3; i++)
        kc_arena_wrap(a, id, region_buf + i * 1000, 1000, &t[i]);
    void *p;
    kc_arena_hydrate(a, t[1], &p, NULL);
    say("hydrate", "ticket 2 -> %p (buffer + %ld)", p, (long)((char *)p - region_buf));
    kc_arena_release(a, t[1]);
    say("unregister (busy)", "%s", res(kc_arena_unregister_region(a, id)));
    int id2 = kc_arena_register_region(a, region_buf2, sizeof(region_buf2), 0);
    say("second region", "%d", id2);
    say("unregister (idle)", "%s", res(kc_arena_unregister_region(a, id2)));
    kc_arena_ticket_t x;
    say("wrap (stale id)", "%s", res(kc_arena_wrap(a, id2, region_buf2, 10, &x)));
    end(a);
    for (int i = 0; i < 3; i++)
        kc_arena_release(a, t[i]);
    kc_arena_unregister_region(a, id);
    kc_arena_destroy(a);
}

static void purge(void)
{
    begin("purge", "free pages go back to the OS and are counted");
    kc_arena_t *a = make("purge", 32 << 20);
    enum {
        N = 64
    };
    kc_arena_ticket_t t[N];
    for (int i = 0; i < N; i++) {
        void *p;
        if (kc_arena_alloc(a, 256 * 1024, &t[i], &p) == 0)
            memset(p, 0x5a, 256 * 1024); /* touch: make the pages resident */
    }
    for (int i = 0; i < N; i += 2)
        kc_arena_release(a, t[i]);
    say("purge", "%d pages handed back", kc_arena_purge(a));
    say("purge again", "%d pages (nothing new)", kc_arena_purge(a));
    end(a);
    for (int i = 1; i < N; i += 2)
        kc_arena_release(a, t[i]);
    kc_arena_destroy(a);
}

/* ------------------------------------------------------------ main */

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    {"mixed", mixed}, {"fragmentation", fragmentation},
    {"stale", stale}, {"exhaustion", exhaustion},
    {"churn", churn}, {"regions", regions},
    {"purge", purge},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: arena [options] [scenario|all]...\n"
               "Runs arena scenarios and prints what happened, the allocation table\n"
               "and the metrics. Scenarios:\n"
               "  mixed          small slots and large page runs side by side (default)\n"
               "  fragmentation  random sizes and lifetimes, metrics per round, purge\n"
               "  stale          released, reused, forged, foreign and null tickets\n"
               "  exhaustion     fill a 64-page arena, -ENOMEM, free, fill again\n"
               "  churn          -t threads allocating, hydrating, releasing\n"
               "  regions        external memory behind tickets; -EBUSY on unregister\n"
               "  purge          free pages handed back to the OS\n"
               "options:\n"
               "  -t, --threads N    threads for churn (default 2)\n"
               "  -n, --ops N        operations per thread (churn) or x1000 rounds\n"
               "  -p, --page-size B  page size in bytes, a power of two (default 4096)\n"
               "  -b, --bytes B      arena size in bytes (default: per scenario)\n"
               "  -s, --seed N       random seed (default 42)\n"
               "      --json         one JSON object per scenario\n"
               "      --no-table     metrics only, no allocation table\n"
               "  -h, --help         this text\n");
}

int main(int argc, char **argv)
{
    const char *run[16];
    int nrun = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            opt.json = true;
        } else if (!strcmp(a, "--no-table")) {
            opt.table = false;
        } else if (v != NULL && (!strcmp(a, "-t") || !strcmp(a, "--threads"))) {
            opt.threads = atoi(v), i++;
        } else if (v != NULL && (!strcmp(a, "-n") || !strcmp(a, "--ops"))) {
            opt.ops = atol(v), i++;
        } else if (v != NULL && (!strcmp(a, "-p") || !strcmp(a, "--page-size"))) {
            opt.page = strtoul(v, NULL, 0), i++;
        } else if (v != NULL && (!strcmp(a, "-b") || !strcmp(a, "--bytes"))) {
            opt.bytes = strtoul(v, NULL, 0), i++;
        } else if (v != NULL && (!strcmp(a, "-s") || !strcmp(a, "--seed"))) {
            opt.seed = strtoull(v, NULL, 0) | 1, i++;
        } else if (a[0] != '-' && nrun < 16) {
            run[nrun++] = a;
        } else {
            fprintf(stderr, "arena: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (nrun == 0)
        run[nrun++] = "mixed";
    for (int r = 0; r < nrun; r++) {
        bool all = !strcmp(run[r], "all"), found = false;
        for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++)
            if (all || !strcmp(run[r], scenarios[s].name)) {
                scenarios[s].fn();
                found = true;
            }
        if (!found) {
            fprintf(stderr, "arena: no scenario '%s'\n", run[r]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}
