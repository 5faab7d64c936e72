/* bench_zdesc.c - zero-copy hand-off against the copying byte channel, same run.
 *
 * Figures (ARCHITECTURE.md section 8), GB/s of payload (10^9 bytes per
 * second) from one producer coroutine to one consumer coroutine through a
 * buffered(16) channel on 2 workers, at payloads of 512 B, 4 KiB, 64 KiB
 * and 1 MiB (suffixes _512, _4k, _64k, _1m):
 *   zdesc.handoff_*  a descriptor channel with the arena attached: the
 *                    producer allocates an arena descriptor, writes its
 *                    sequence number into the first word and sends it; the
 *                    consumer receives it, hydrates it and releases it. The
 *                    payload never moves.
 *   zdesc.copy_*     a plain byte channel of elements of the payload size:
 *                    the producer writes the sequence number into its
 *                    buffer and sends (copied into the channel), the
 *                    consumer receives (copied out). A 1 MiB payload is 16
 *                    elements of 64 KiB, the largest a copying channel
 *                    takes (KC_CHAN_MAX_ELEM).
 *   zdesc.boxed_*    a byte channel with the arena attached: the producer
 *                    sends its buffer (copied once, into the arena), the
 *                    consumer takes the element with kc_chan_recv_desc (no
 *                    second copy) and releases it.
 * Two figures per path and size, because what a consumer does with a
 * payload is its own business and weighs very differently on the two kinds
 * of path:
 *   zdesc.<path>_<size>       the hand-off itself: the consumer reads the
 *                             payload's first word and checks it is the
 *                             sequence number it expects (the run dies on
 *                             a mismatch), then drops the payload. This is
 *                             what the channel costs; issue 5's 10x gate is
 *                             on zdesc.handoff_64k against zdesc.copy_64k.
 *   zdesc.<path>_read_<size>  the same, and the consumer then reads one
 *                             8-byte word per 64-byte cache line of the
 *                             payload and sums them. The copy path has just
 *                             pulled its bytes into the consumer's cache,
 *                             while a descriptor's payload was last written
 *                             elsewhere, so this read narrows the gap by
 *                             the cost of fetching the payload once.
 * The arena's pages are written once before measuring, so no path reads the
 * kernel's shared zero page. Each repetition runs the paths one after the
 * other, so they see the same machine state; a figure is the median of
 * KC_BENCH_REPS repetitions (spread on stderr).
 */
#include "kcoro.h"

#include "kc_bench_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MODE_HANDOFF,
    MODE_COPY,
    MODE_BOXED,
    NMODES
};
static const char *const mode_names[NMODES] = {"handoff", "copy", "boxed"};

#define ARENA_BYTES ((size_t)64 << 20)
#define MAX_PAYLOAD ((size_t)1 << 20)
#define BUDGET ((size_t)256 << 20) /* payload bytes per repetition and path */

struct run {
    int mode;
    kc_arena_t *a;
    kc_chan_t *ch;
    size_t len;   /* payload bytes */
    size_t chunk; /* bytes per copied element (copy mode) */
    long msgs;    /* payloads */
    unsigned char *src, *dst;
    bool read_all; /* the _read figures: read every cache line */
    uint64_t sum;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_zdesc: %s failed: %s\n", what, kc_strerror(rc));
    exit(1);
}

/* Read one word per cache line (the _read figures). */
static uint64_t touch(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t off = 0; off < n; off += 64) {
        uint64_t w;
        memcpy(&w, p + off, sizeof(w));
        s += w;
    }
    return s;
}

static int producer(void *arg)
{
    struct run *r = arg;
    for (long i = 0; i < r->msgs; i++) {
        uint64_t seq = (uint64_t)i;
        int rc;
        if (r->mode == MODE_HANDOFF) {
            kc_zdesc_t d;
            if ((rc = kc_zdesc_alloc(&d, r->a, r->len, 0)) != 0)
                die("kc_zdesc_alloc", rc);
            memcpy(d.ptr, &seq, sizeof(seq));
            rc = kc_chan_send_desc(r->ch, &d, KC_NO_TIMEOUT, NULL);
        } else if (r->mode == MODE_BOXED) {
            memcpy(r->src, &seq, sizeof(seq));
            rc = kc_chan_send(r->ch, r->src, KC_NO_TIMEOUT, NULL);
        } else {
            rc = 0;
            for (size_t off = 0; off < r->len && rc == 0; off += r->chunk) {
                memcpy(r->src + off, &seq, sizeof(seq));
                rc = kc_chan_send(r->ch, r->src + off, KC_NO_TIMEOUT, NULL);
            }
        }
        if (rc != 0)
            die("send", rc);
    }
    return 0;
}

/* What the consumer does with n bytes at p, payload number seq: check the
 * sequence number in the first word, and for the _read figures read the
 * rest. Dies when the payload is not the one expected. */
static uint64_t consume(const struct run *r, const unsigned char *p, size_t n, uint64_t seq)
{
    uint64_t first;
    memcpy(&first, p, sizeof(first));
    if (first != seq) {
        fprintf(stderr, "bench_zdesc: %s: payload %llu arrived as %llu\n", mode_names[r->mode],
                (unsigned long long)seq, (unsigned long long)first);
        exit(1);
    }
    return r->read_all ? touch(p, n) : first;
}

static int consumer(void *arg)
{
    struct run *r = arg;
    uint64_t sum = 0;
    for (long i = 0; i < r->msgs; i++) {
        int rc = 0;
        if (r->mode == MODE_COPY) {
            for (size_t off = 0; off < r->len && rc == 0; off += r->chunk)
                if ((rc = kc_chan_recv(r->ch, r->dst, KC_NO_TIMEOUT, NULL)) == 0)
                    sum += consume(r, r->dst, r->chunk, (uint64_t)i);
        } else {
            kc_zdesc_t d;
            void *p;
            if ((rc = kc_chan_recv_desc(r->ch, &d, KC_NO_TIMEOUT, NULL)) == 0 &&
                (rc = kc_zdesc_hydrate(&d, r->a, &p, NULL)) == 0) {
                sum += consume(r, p, r->len, (uint64_t)i);
                rc = kc_zdesc_release(&d, r->a) < 0 ? -EPROTO : 0;
            }
        }
        if (rc != 0)
            die("receive", rc);
    }
    r->sum = sum;
    return 0;
}

static kc_chan_t *chan_for(int mode, kc_arena_t *a, size_t len, size_t chunk)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 16;
    o.elem_size = mode == MODE_HANDOFF ? 0 : mode == MODE_COPY ? chunk : len;
    o.arena = mode == MODE_COPY ? NULL : a;
    o.name = mode_names[mode];
    kc_chan_t *ch = NULL;
    int rc = kc_chan_create(&ch, &o);
    if (rc != 0)
        die("kc_chan_create", rc);
    return ch;
}

/* One repetition of one path: GB/s. */
static double run_once(kc_sched_t *s, struct run *r)
{
    kc_task_t *prod, *cons;
    r->ch = chan_for(r->mode, r->a, r->len, r->chunk);
    uint64_t t0 = kc_bench_now_ns();
    if (kc_sched_spawn(s, &cons, consumer, r, NULL) != 0 ||
        kc_sched_spawn(s, &prod, producer, r, NULL) != 0)
        die("kc_sched_spawn", -ENOMEM);
    kc_sched_join(prod, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(cons, NULL, KC_NO_TIMEOUT, NULL);
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    KC_BENCH_KEEP(r->sum);
    kc_chan_destroy(r->ch);
    return (double)r->msgs * (double)r->len / secs / 1e9;
}

/* Write every page of the arena once (allocate it all, fill, release). */
static void prefault(kc_arena_t *a)
{
    enum {
        N = ARENA_BYTES / MAX_PAYLOAD
    };
    kc_zdesc_t d[N];
    int n = 0;
    while (n < N && kc_zdesc_alloc(&d[n], a, MAX_PAYLOAD, 0) == 0)
        memset(d[n++].ptr, 0x5a, MAX_PAYLOAD);
    while (n > 0)
        kc_zdesc_release(&d[--n], a);
}

static void measure_size(kc_sched_t *s, kc_arena_t *a, size_t len, const char *tag,
                         unsigned char *src, unsigned char *dst)
{
    long msgs = kc_bench_iters((long)(BUDGET / len));
    msgs = msgs < 200 ? 200 : msgs;
    int reps = kc_bench_reps();
    double v[2][NMODES][101];
    for (int rep = -1; rep < reps; rep++) /* rep -1 warms up */
        for (int read = 0; read < 2; read++)
            for (int m = 0; m < NMODES; m++) {
                struct run r = {.mode = m,
                                .a = a,
                                .len = len,
                                .chunk = len < KC_CHAN_MAX_ELEM ? len : KC_CHAN_MAX_ELEM,
                                .msgs = msgs,
                                .src = src,
                                .dst = dst,
                                .read_all = read != 0};
                double gbs = run_once(s, &r);
                if (rep >= 0)
                    v[read][m][rep] = gbs;
            }
    for (int read = 0; read < 2; read++)
        for (int m = 0; m < NMODES; m++) {
            char name[64];
            double spread;
            snprintf(name, sizeof(name), "zdesc.%s_%s%s", mode_names[m], read ? "read_" : "", tag);
            double med = kc_bench_median(v[read][m], reps, &spread);
            fprintf(stderr, "  %s: %ld payloads per run, spread %.1f%%\n", name, msgs,
                    spread * 100);
            kc_bench_report(name, med, "GB/s");
        }
}

int main(void)
{
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = ARENA_BYTES;
    ao.name = "bench_zdesc";
    kc_arena_t *a = NULL;
    int rc = kc_arena_create(&a, &ao);
    if (rc != 0)
        die("kc_arena_create", rc);
    prefault(a);
    unsigned char *src = malloc(MAX_PAYLOAD), *dst = malloc(KC_CHAN_MAX_ELEM);
    if (src == NULL || dst == NULL)
        die("malloc", -ENOMEM);
    memset(src, 0x3c, MAX_PAYLOAD);
    memset(dst, 0, KC_CHAN_MAX_ELEM);
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = getenv("ZW") ? atoi(getenv("ZW")) : 2;
    if ((rc = kc_sched_create(&s, &so)) != 0)
        die("kc_sched_create", rc);
    static const struct {
        size_t len;
        const char *tag;
    } sizes[] = {{512, "512"}, {4096, "4k"}, {65536, "64k"}, {MAX_PAYLOAD, "1m"}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        measure_size(s, a, sizes[i].len, sizes[i].tag, src, dst);
    kc_sched_destroy(s);
    kc_arena_metrics_t m = {.size = sizeof(m)};
    kc_arena_metrics(a, &m);
    fprintf(stderr,
            "  arena after the run: %llu allocs, %llu live, %llu failed, high water %llu "
            "pages\n",
            (unsigned long long)m.allocs, (unsigned long long)m.live_tickets,
            (unsigned long long)m.failed_allocs, (unsigned long long)m.pages_high_water);
    free(src);
    free(dst);
    return kc_arena_destroy(a) == 0 ? 0 : 1;
}
