/* kc_sim_words.c - netem's argument list, parsed into a kc_sim_spec_t and
 * printed back.
 *
 * The grammar and defaults are those of tc-netem(8): times take s, ms, us
 * or ns (a bare number is microseconds, as tc reads it), percentages may
 * omit the '%', rates take bit/kbit/mbit/gbit/tbit, their binary forms
 * (kibit, mibit, gibit) and byte rates (bps, kbps, mbps, gbps; a bare
 * number is bits per second), sizes take b, kb/k, mb/m, gb/g. Every error
 * names the word at fault and its position, and nothing is allocated when
 * parsing fails. What kcoro refuses that tc accepts: `ecn` (frames carry no
 * ECN mark) and distribution tables read from files.
 */
#include "kc_sim_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 64
#define WORD_MAX 48

typedef struct words {
    char w[MAX_WORDS][WORD_MAX];
    int n;
    int i; /* next word */
    char *err;
    size_t errcap;
} words_t;

__attribute__((format(printf, 3, 4))) static int fail(words_t *ws, int at, const char *fmt, ...)
{
    if (ws->err && ws->errcap) {
        int k = 0;
        if (at >= 0 && at < ws->n)
            k = snprintf(ws->err, ws->errcap, "netem: word %d '%s': ", at + 1, ws->w[at]);
        else
            k = snprintf(ws->err, ws->errcap, "netem: at the end: ");
        if (k >= 0 && (size_t)k < ws->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ws->err + k, ws->errcap - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static int split(const char *s, words_t *ws)
{
    ws->n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        size_t len = 0;
        while (s[len] && s[len] != ' ' && s[len] != '\t' && s[len] != '\n')
            len++;
        if (ws->n == MAX_WORDS)
            return fail(ws, -1, "more than %d words", MAX_WORDS);
        if (len >= WORD_MAX) {
            snprintf(ws->w[ws->n], WORD_MAX, "%.*s...", WORD_MAX - 4, s);
            ws->n++;
            return fail(ws, ws->n - 1, "longer than %d characters", WORD_MAX - 1);
        }
        memcpy(ws->w[ws->n], s, len);
        ws->w[ws->n][len] = '\0';
        ws->n++;
        s += len;
    }
    return 0;
}

/* A number followed by a unit from `units` (suffix, scale pairs); a bare
 * number takes `bare`. Returns false when w is not such a number. */
typedef struct unit {
    const char *suffix;
    double scale;
} unit_t;

static bool number_unit(const char *w, const unit_t *units, double bare, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(w, &end);
    if (end == w || errno || v != v)
        return false;
    if (*end == '\0') {
        *out = v * bare;
        return true;
    }
    for (const unit_t *u = units; u->suffix; u++)
        if (strcmp(end, u->suffix) == 0) {
            *out = v * u->scale;
            return true;
        }
    return false;
}

static const unit_t time_units[] = {{"s", 1e9},     {"sec", 1e9},   {"secs", 1e9}, {"ms", 1e6},
                                    {"msec", 1e6},  {"msecs", 1e6}, {"us", 1e3},   {"usec", 1e3},
                                    {"usecs", 1e3}, {"ns", 1},      {"nsec", 1},   {"nsecs", 1},
                                    {NULL, 0}};
static const unit_t pct_units[] = {{"%", 0.01}, {NULL, 0}};
static const unit_t rate_units[] = {{"bit", 1},         {"kbit", 1e3},           {"mbit", 1e6},
                                    {"gbit", 1e9},      {"tbit", 1e12},          {"kibit", 1024},
                                    {"mibit", 1048576}, {"gibit", 1073741824.0}, {"bps", 8},
                                    {"kbps", 8e3},      {"mbps", 8e6},           {"gbps", 8e9},
                                    {NULL, 0}};
static const unit_t size_units[] = {
    {"b", 1},        {"k", 1024},         {"kb", 1024},         {"m", 1048576},
    {"mb", 1048576}, {"g", 1073741824.0}, {"gb", 1073741824.0}, {NULL, 0}};

static bool is_time(const char *w, int64_t *ns)
{
    double v;
    if (!number_unit(w, time_units, 1e3, &v) || v < 0 || v > 9.2e18)
        return false;
    *ns = (int64_t)(v + 0.5);
    return true;
}

static bool is_pct(const char *w, double *frac)
{
    double v;
    if (!number_unit(w, pct_units, 0.01, &v) || v < 0 || v > 1.0)
        return false;
    *frac = v;
    return true;
}

static bool is_uint(const char *w, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*w == '-' || *w == '+')
        return false;
    unsigned long long v = strtoull(w, &end, 10);
    if (end == w || *end || errno || v > max)
        return false;
    *out = v;
    return true;
}

static bool is_int(const char *w, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(w, &end, 10);
    if (end == w || *end || errno || v < -65536 || v > 65536)
        return false;
    *out = (int32_t)v;
    return true;
}

static int dist_of(const char *w)
{
    for (int d = 0; d <= KC_SIM_DIST_PARETONORMAL; d++)
        if (strcmp(w, kc__sim_dist_name(d)) == 0)
            return d;
    return -1;
}

/* The next word if there is one. */
static const char *peek(words_t *ws)
{
    return ws->i < ws->n ? ws->w[ws->i] : NULL;
}

/* Optional trailing percentage (a correlation or a model parameter). */
static bool opt_pct(words_t *ws, double *out)
{
    const char *w = peek(ws);
    if (w && is_pct(w, out)) {
        ws->i++;
        return true;
    }
    return false;
}

static int need_pct(words_t *ws, const char *after, double *out)
{
    const char *w = peek(ws);
    if (!w)
        return fail(ws, ws->n, "expected a percentage (like 1%%) after '%s'", after);
    if (!is_pct(w, out))
        return fail(ws, ws->i, "expected a percentage from 0%% to 100%% after '%s'", after);
    ws->i++;
    return 0;
}

static int need_time(words_t *ws, const char *after, int64_t *out)
{
    const char *w = peek(ws);
    if (!w)
        return fail(ws, ws->n, "expected a time (like 20ms) after '%s'", after);
    if (!is_time(w, out))
        return fail(ws, ws->i, "expected a time (like 20ms) after '%s'", after);
    ws->i++;
    return 0;
}

static int need_uint(words_t *ws, const char *after, uint64_t max, uint64_t *out)
{
    const char *w = peek(ws);
    if (!w || !is_uint(w, max, out))
        return fail(ws, w ? ws->i : ws->n, "expected a whole number up to %" PRIu64 " after '%s'",
                    max, after);
    ws->i++;
    return 0;
}

static int need_dist(words_t *ws, const char *after, int *out)
{
    const char *w = peek(ws);
    if (!w || (*out = dist_of(w)) < 0)
        return fail(ws, w ? ws->i : ws->n,
                    "expected uniform, normal, pareto or paretonormal after '%s'", after);
    ws->i++;
    return 0;
}

static int parse_loss(words_t *ws, struct kc_sim_spec *s)
{
    const char *w = peek(ws);
    int rc;
    if (w && strcmp(w, "state") == 0) {
        ws->i++;
        s->loss = KC_SIM_LOSS_STATE;
        if ((rc = need_pct(ws, "state", &s->p13)) < 0)
            return rc;
        /* tc-netem(8): p13 alone is Bernoulli: p31 = 1 - p13, p32 = 0,
         * p23 = 1, p14 = 0. */
        s->p31 = 1.0 - s->p13;
        s->p32 = 0.0;
        s->p23 = 1.0;
        s->p14 = 0.0;
        s->loss_nargs = 1;
        double *rest[] = {&s->p31, &s->p32, &s->p23, &s->p14};
        for (int k = 0; k < 4 && opt_pct(ws, rest[k]); k++)
            s->loss_nargs++;
        if (s->p13 + s->p14 > 1.0)
            return fail(ws, ws->i - 1, "p13 + p14 exceed 100%%");
        if (s->p31 + s->p32 > 1.0)
            return fail(ws, ws->i - 1, "p31 + p32 exceed 100%%");
    } else if (w && strcmp(w, "gemodel") == 0) {
        ws->i++;
        s->loss = KC_SIM_LOSS_GEMODEL;
        if ((rc = need_pct(ws, "gemodel", &s->ge_p)) < 0)
            return rc;
        /* tc-netem(8): p alone is Bernoulli-like: r = 1 - p, 1-h = 1,
         * 1-k = 0. */
        s->ge_r = 1.0 - s->ge_p;
        s->ge_1h = 1.0;
        s->ge_1k = 0.0;
        s->loss_nargs = 1;
        double *rest[] = {&s->ge_r, &s->ge_1h, &s->ge_1k};
        for (int k = 0; k < 3 && opt_pct(ws, rest[k]); k++)
            s->loss_nargs++;
    } else {
        if (w && strcmp(w, "random") == 0)
            ws->i++;
        s->loss = KC_SIM_LOSS_RANDOM;
        if ((rc = need_pct(ws, "loss", &s->loss_p)) < 0)
            return rc;
        opt_pct(ws, &s->loss_corr);
    }
    w = peek(ws);
    if (w && strcmp(w, "ecn") == 0)
        return fail(ws, ws->i, "frames carry no ECN mark; kcoro's simulator drops instead");
    return 0;
}

static int parse_slot(words_t *ws, struct kc_sim_spec *s)
{
    int rc;
    s->slot = true;
    s->slot_dist = -1;
    const char *w = peek(ws);
    if (w && strcmp(w, "distribution") == 0) {
        ws->i++;
        if ((rc = need_dist(ws, "slot distribution", &s->slot_dist)) < 0)
            return rc;
        if ((rc = need_time(ws, "slot distribution", &s->slot_delay)) < 0)
            return rc;
        if ((rc = need_time(ws, "the slot delay", &s->slot_jitter)) < 0)
            return rc;
    } else {
        if ((rc = need_time(ws, "slot", &s->slot_min)) < 0)
            return rc;
        s->slot_max = s->slot_min;
        w = peek(ws);
        if (w && is_time(w, &s->slot_max))
            ws->i++;
        if (s->slot_max < s->slot_min)
            return fail(ws, ws->i - 1, "the slot's maximum is below its minimum");
        if (s->slot_min == 0 && s->slot_max == 0)
            return fail(ws, ws->i - 1, "a slot needs a length above 0");
    }
    for (;;) {
        w = peek(ws);
        uint64_t v;
        if (w && strcmp(w, "packets") == 0) {
            ws->i++;
            if ((rc = need_uint(ws, "packets", UINT32_MAX, &v)) < 0)
                return rc;
            s->slot_packets = (uint32_t)v;
        } else if (w && strcmp(w, "bytes") == 0) {
            ws->i++;
            double b;
            w = peek(ws);
            if (!w || !number_unit(w, size_units, 1, &b) || b < 1 || b > 1e15)
                return fail(ws, w ? ws->i : ws->n, "expected a size (like 64kb) after 'bytes'");
            ws->i++;
            s->slot_bytes = (uint64_t)b;
        } else {
            return 0;
        }
    }
}

static int parse_rate(words_t *ws, struct kc_sim_spec *s)
{
    const char *w = peek(ws);
    double r;
    if (!w || !number_unit(w, rate_units, 1, &r) || r < 1 || r > 1e15)
        return fail(ws, w ? ws->i : ws->n, "expected a rate (like 100mbit) after 'rate'");
    ws->i++;
    s->rate_bps = (uint64_t)r;
    w = peek(ws);
    if (w && is_int(w, &s->overhead)) {
        ws->i++;
        uint64_t cs;
        w = peek(ws);
        if (w && is_uint(w, 65536, &cs)) {
            ws->i++;
            s->cellsize = (uint32_t)cs;
            w = peek(ws);
            if (w && is_int(w, &s->celloverhead))
                ws->i++;
        }
    }
    return 0;
}

static void spec_defaults(struct kc_sim_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->limit = 1000;
    s->dist = KC_SIM_DIST_NORMAL; /* tc-netem(8): normal unless named */
    s->slot_dist = -1;
}

static int parse(words_t *ws, struct kc_sim_spec *s)
{
    int rc = 0;
    uint64_t v;
    int reorder_at = -1, gap_at = -1, dist_at = -1;
    spec_defaults(s);
    while (rc == 0 && ws->i < ws->n) {
        int at = ws->i;
        const char *w = ws->w[ws->i++];
        if (strcmp(w, "limit") == 0) {
            if ((rc = need_uint(ws, "limit", UINT32_MAX, &v)) == 0)
                s->limit = (uint32_t)v;
        } else if (strcmp(w, "delay") == 0 || strcmp(w, "latency") == 0) {
            if ((rc = need_time(ws, w, &s->delay)) == 0) {
                const char *n = peek(ws);
                if (n && is_time(n, &s->jitter)) {
                    ws->i++;
                    opt_pct(ws, &s->delay_corr);
                }
            }
        } else if (strcmp(w, "distribution") == 0) {
            dist_at = at;
            rc = need_dist(ws, "distribution", &s->dist);
            s->dist_named = true;
        } else if (strcmp(w, "loss") == 0 || strcmp(w, "drop") == 0) {
            rc = parse_loss(ws, s);
        } else if (strcmp(w, "duplicate") == 0) {
            if ((rc = need_pct(ws, "duplicate", &s->dup)) == 0)
                opt_pct(ws, &s->dup_corr);
        } else if (strcmp(w, "corrupt") == 0) {
            if ((rc = need_pct(ws, "corrupt", &s->corrupt)) == 0)
                opt_pct(ws, &s->corrupt_corr);
        } else if (strcmp(w, "reorder") == 0) {
            reorder_at = at;
            if ((rc = need_pct(ws, "reorder", &s->reorder)) == 0) {
                opt_pct(ws, &s->reorder_corr);
                const char *n = peek(ws);
                if (n && strcmp(n, "gap") == 0) {
                    ws->i++;
                    gap_at = at;
                    if ((rc = need_uint(ws, "gap", UINT32_MAX, &v)) == 0)
                        s->gap = (uint32_t)v;
                    s->gap_named = true;
                }
            }
        } else if (strcmp(w, "gap") == 0) {
            gap_at = at;
            if ((rc = need_uint(ws, "gap", UINT32_MAX, &v)) == 0)
                s->gap = (uint32_t)v;
            s->gap_named = true;
        } else if (strcmp(w, "rate") == 0) {
            rc = parse_rate(ws, s);
        } else if (strcmp(w, "slot") == 0) {
            rc = parse_slot(ws, s);
        } else if (strcmp(w, "seed") == 0) {
            if ((rc = need_uint(ws, "seed", UINT64_MAX, &s->seed)) == 0)
                s->seed_named = true;
        } else {
            rc = fail(ws, at,
                      "not a netem option (limit, delay, distribution, loss, duplicate, "
                      "corrupt, reorder, gap, rate, slot, seed)");
        }
    }
    if (rc < 0)
        return rc;
    /* The cross-checks tc makes. */
    if (s->dist_named && (s->delay == 0 || s->jitter == 0))
        return fail(ws, dist_at, "a distribution needs a delay and a jitter");
    if (s->reorder > 0.0) {
        if (s->delay == 0)
            return fail(ws, reorder_at, "reordering needs a delay (the frames it overtakes)");
        if (s->gap == 0)
            s->gap = 1;
    } else if (s->gap > 0) {
        return fail(ws, gap_at, "a gap needs a reorder percentage");
    }
    return 0;
}

int kc_sim_spec_parse(const char *words, kc_sim_spec_t **out, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!words || !out) {
        if (err && errcap)
            snprintf(err, errcap, "netem: no words or no place for the result");
        return -EINVAL;
    }
    words_t *ws = malloc(sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    ws->i = 0;
    ws->err = err;
    ws->errcap = errcap;
    struct kc_sim_spec s;
    int rc = split(words, ws);
    if (rc == 0)
        rc = parse(ws, &s);
    free(ws);
    if (rc < 0)
        return rc;
    /* The tables this spec draws from are built now, at listen or connect,
     * not inside the first jittered frame's receive (kc_sim_dist.c). */
    if (s.jitter)
        kc__sim_dist_warm(s.dist);
    if (s.slot && s.slot_dist >= 0 && s.slot_jitter)
        kc__sim_dist_warm(s.slot_dist);
    kc_sim_spec_t *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    *p = s;
    *out = p;
    return 0;
}

void kc_sim_spec_free(kc_sim_spec_t *s)
{
    free(s);
}

uint64_t kc_sim_spec_seed(const kc_sim_spec_t *s)
{
    return s && s->seed_named ? s->seed : 0;
}

/* ---- printing ----------------------------------------------------- */

typedef struct outbuf {
    char *p;
    size_t cap, len;
    bool over;
} outbuf_t;

__attribute__((format(printf, 2, 3))) static void put(outbuf_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int k = vsnprintf(o->p + (o->len < o->cap ? o->len : o->cap - 1), room ? room : 1, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= room)
        o->over = true;
    o->len += k > 0 ? (size_t)k : 0;
}

static void put_time(outbuf_t *o, int64_t ns)
{
    if (ns != 0 && ns % 1000000000 == 0)
        put(o, " %" PRId64 "s", ns / 1000000000);
    else if (ns != 0 && ns % 1000000 == 0)
        put(o, " %" PRId64 "ms", ns / 1000000);
    else if (ns % 1000 == 0)
        put(o, " %" PRId64 "us", ns / 1000);
    else
        put(o, " %" PRId64 "ns", ns);
}

static void put_pct(outbuf_t *o, double f)
{
    put(o, " %.10g%%", f * 100.0);
}

int kc_sim_spec_format(const kc_sim_spec_t *s, char *buf, size_t cap)
{
    if (!s || !buf || cap == 0)
        return -EINVAL;
    outbuf_t o = {buf, cap, 0, false};
    buf[0] = '\0';
    if (s->limit != 1000)
        put(&o, " limit %" PRIu32, s->limit);
    if (s->delay || s->jitter) {
        put(&o, " delay");
        put_time(&o, s->delay);
        if (s->jitter) {
            put_time(&o, s->jitter);
            if (s->delay_corr > 0)
                put_pct(&o, s->delay_corr);
        }
        if (s->dist_named)
            put(&o, " distribution %s", kc__sim_dist_name(s->dist));
    }
    if (s->loss == KC_SIM_LOSS_RANDOM) {
        put(&o, " loss random");
        put_pct(&o, s->loss_p);
        if (s->loss_corr > 0)
            put_pct(&o, s->loss_corr);
    } else if (s->loss == KC_SIM_LOSS_STATE) {
        put(&o, " loss state");
        const double v[] = {s->p13, s->p31, s->p32, s->p23, s->p14};
        for (int k = 0; k < 5; k++)
            put_pct(&o, v[k]);
    } else if (s->loss == KC_SIM_LOSS_GEMODEL) {
        put(&o, " loss gemodel");
        const double v[] = {s->ge_p, s->ge_r, s->ge_1h, s->ge_1k};
        for (int k = 0; k < 4; k++)
            put_pct(&o, v[k]);
    }
    if (s->dup > 0) {
        put(&o, " duplicate");
        put_pct(&o, s->dup);
        if (s->dup_corr > 0)
            put_pct(&o, s->dup_corr);
    }
    if (s->corrupt > 0) {
        put(&o, " corrupt");
        put_pct(&o, s->corrupt);
        if (s->corrupt_corr > 0)
            put_pct(&o, s->corrupt_corr);
    }
    if (s->reorder > 0) {
        put(&o, " reorder");
        put_pct(&o, s->reorder);
        if (s->reorder_corr > 0)
            put_pct(&o, s->reorder_corr);
        put(&o, " gap %" PRIu32, s->gap);
    }
    if (s->rate_bps) {
        put(&o, " rate %" PRIu64 "bit", s->rate_bps);
        if (s->overhead || s->cellsize || s->celloverhead) {
            put(&o, " %" PRId32, s->overhead);
            if (s->cellsize || s->celloverhead)
                put(&o, " %" PRIu32 " %" PRId32, s->cellsize, s->celloverhead);
        }
    }
    if (s->slot) {
        put(&o, " slot");
        if (s->slot_dist >= 0) {
            put(&o, " distribution %s", kc__sim_dist_name(s->slot_dist));
            put_time(&o, s->slot_delay);
            put_time(&o, s->slot_jitter);
        } else {
            put_time(&o, s->slot_min);
            if (s->slot_max != s->slot_min)
                put_time(&o, s->slot_max);
        }
        if (s->slot_packets)
            put(&o, " packets %" PRIu32, s->slot_packets);
        if (s->slot_bytes)
            put(&o, " bytes %" PRIu64, s->slot_bytes);
    }
    if (s->seed_named)
        put(&o, " seed %" PRIu64, s->seed);
    if (o.over)
        return -EMSGSIZE;
    /* Drop the leading space. */
    if (o.len > 0)
        memmove(buf, buf + 1, o.len);
    return o.len > 0 ? (int)o.len - 1 : 0;
}
