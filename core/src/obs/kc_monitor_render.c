/* kc_monitor_render.c - the registry as NDJSON lines and as Prometheus text.
 *
 * One walk of the registry takes a snapshot of every listed object (the
 * registry lock keeps each alive while it is read); the snapshots are then
 * written out. NDJSON is one object per line, in registry order, so a tool
 * computes rates from two consecutive snapshots by id. Prometheus wants
 * every sample of a metric family together under one # HELP and # TYPE,
 * so the snapshots are kept in arrays and written family by family.
 *
 * Naming follows Prometheus's conventions: a kcoro_<kind>_ prefix, base
 * units (bytes, seconds), counters ending in _total, and the object's name
 * and id as labels, so names need not be unique.
 */
#include "obs/kc_monitor_impl.h"

#include "kcoro/arena.h"
#include "kcoro/bus.h"
#include "kcoro/chan.h"
#include "kcoro/registry.h"
#include "kcoro/sched.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One generic metric of an extension kind. */
struct ext_metric {
    char name[48];
    char help[96];
    uint8_t type;
    double value;
};

/* One text label of an extension kind (kc_registry_ops_t.labels). */
struct ext_label {
    char key[24];
    char value[72];
};

/* The snapshot of one listed object. */
struct obj {
    uint32_t kind;
    uint64_t id;
    char name[KC_REGISTRY_NAME_MAX];
    union {
        kc_chan_snapshot_t chan;
        kc_sched_metrics_t sched;
        kc_bus_metrics_t bus;
        kc_arena_metrics_t arena;
    } u;
    struct ext_metric *ext;
    size_t next, ext_cap;
    struct ext_label *lab; /* NULL when it reports none */
    size_t nlab;
};

struct objs {
    struct obj *v;
    size_t n, cap;
    uint64_t taken_ns;
};

uint64_t kc__monitor_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void ext_emit(void *ctx, const char *name, kc_registry_metric_type_t type, double value,
                     const char *help)
{
    struct obj *o = ctx;
    if (o->next == o->ext_cap) {
        size_t cap = o->ext_cap ? o->ext_cap * 2 : 8;
        struct ext_metric *v = realloc(o->ext, cap * sizeof(*v));
        if (v == NULL)
            return;
        o->ext = v;
        o->ext_cap = cap;
    }
    struct ext_metric *m = &o->ext[o->next++];
    snprintf(m->name, sizeof(m->name), "%s", name != NULL ? name : "value");
    snprintf(m->help, sizeof(m->help), "%s", help != NULL ? help : "");
    m->type = (uint8_t)type;
    m->value = value;
}

/* A label key Prometheus accepts, not one of the two every sample has. */
static bool label_key_ok(const char *k)
{
    if (k == NULL || k[0] == '\0' || strlen(k) >= sizeof(((struct ext_label *)0)->key) ||
        strcmp(k, "name") == 0 || strcmp(k, "id") == 0 || (k[0] == '_' && k[1] == '_'))
        return false;
    for (const char *p = k; *p != '\0'; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!alpha && (p == k || *p < '0' || *p > '9'))
            return false;
    }
    return true;
}

static void label_emit(void *ctx, const char *key, const char *value)
{
    struct obj *o = ctx;
    if (!label_key_ok(key) || o->nlab == KC_REGISTRY_LABELS_MAX)
        return;
    for (size_t i = 0; i < o->nlab; i++)
        if (strcmp(o->lab[i].key, key) == 0)
            return; /* the first value of a key wins */
    if (o->lab == NULL && (o->lab = calloc(KC_REGISTRY_LABELS_MAX, sizeof(*o->lab))) == NULL)
        return;
    struct ext_label *l = &o->lab[o->nlab++];
    snprintf(l->key, sizeof(l->key), "%s", key);
    snprintf(l->value, sizeof(l->value), "%s", value != NULL ? value : "");
}

static int take(const kc_registry_entry_t *e, void *arg)
{
    struct objs *os = arg;
    if (os->n == os->cap) {
        size_t cap = os->cap ? os->cap * 2 : 256;
        struct obj *v = realloc(os->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        os->v = v;
        os->cap = cap;
    }
    struct obj *o = &os->v[os->n];
    memset(o, 0, offsetof(struct obj, u));
    o->ext = NULL;
    o->next = o->ext_cap = 0;
    o->lab = NULL;
    o->nlab = 0;
    o->kind = e->kind;
    o->id = e->id;
    snprintf(o->name, sizeof(o->name), "%s", e->name);
    int rc = 0;
    switch (e->kind) {
    case KC_REGISTRY_CHAN:
        o->u.chan.size = sizeof(o->u.chan);
        rc = kc_chan_snapshot(e->object, &o->u.chan);
        break;
    case KC_REGISTRY_SCHED: {
        kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
        rc = kc_sched_metrics(e->object, &m, NULL, 0);
        o->u.sched = m;
        break;
    }
    case KC_REGISTRY_BUS:
        memset(&o->u.bus, 0, sizeof(o->u.bus));
        o->u.bus.size = sizeof(o->u.bus);
        rc = kc_bus_metrics(e->object, &o->u.bus);
        break;
    case KC_REGISTRY_ARENA:
        memset(&o->u.arena, 0, sizeof(o->u.arena));
        o->u.arena.size = sizeof(o->u.arena);
        rc = kc_arena_metrics(e->object, &o->u.arena);
        break;
    default: {
        const kc_registry_ops_t *ops = e->ops;
        size_t has = ops != NULL ? ops->size : 0;
        if (has >= offsetof(kc_registry_ops_t, labels) && ops->metrics)
            rc = ops->metrics(e->object, ext_emit, o);
        if (rc >= 0 && has >= sizeof(kc_registry_ops_t) && ops->labels)
            rc = ops->labels(e->object, label_emit, o);
        break;
    }
    }
    if (rc >= 0) {
        os->n++;
    } else {
        free(o->ext);
        free(o->lab);
    }
    return 0;
}

static void objs_free(struct objs *os)
{
    for (size_t i = 0; i < os->n; i++) {
        free(os->v[i].ext);
        free(os->v[i].lab);
    }
    free(os->v);
}

int kc__monitor_take(struct objs **out)
{
    struct objs *os = calloc(1, sizeof(*os));
    if (os == NULL)
        return -ENOMEM;
    int rc = kc_registry_foreach(0, take, os);
    os->taken_ns = kc__monitor_now();
    if (rc < 0) {
        objs_free(os);
        free(os);
        return rc;
    }
    *out = os;
    return 0;
}

/* ---------------------------------------------------------------- NDJSON */

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

#define U(x) ((unsigned long long)(x))

static void chan_json(FILE *f, const kc_chan_snapshot_t *s)
{
    const kc_chan_failures_t *x = &s->failures;
    fprintf(f,
            ",\"t\":%llu,\"kind\":\"%s\",\"policy\":\"%s\",\"capacity\":%llu,\"elem_size\":%llu,"
            "\"occupancy\":%llu,\"sends\":%llu,\"receives\":%llu,\"bytes_sent\":%llu,"
            "\"bytes_received\":%llu,\"desc_sends\":%llu,\"desc_receives\":%llu,"
            "\"drops_oldest\":%llu,\"drops_latest\":%llu,\"undelivered\":%llu,"
            "\"cancelled_waiters\":%llu,\"send_waiting\":%llu,\"recv_waiting\":%llu,"
            "\"failures_total\":%llu,\"failures\":{\"eagain\":%llu,\"etime\":%llu,"
            "\"ecanceled\":%llu,\"epipe\":%llu,\"einval\":%llu,\"enomem\":%llu,\"emsgsize\":%llu,"
            "\"estale\":%llu},\"closed\":%s}\n",
            U(s->taken_ns), kc_chan_kind_name((kc_chan_kind_t)s->kind),
            kc_chan_policy_name((kc_chan_policy_t)s->policy),
            U(s->capacity == SIZE_MAX ? 0 : s->capacity), U(s->elem_size), U(s->occupancy),
            U(s->sends), U(s->receives), U(s->bytes_sent), U(s->bytes_received), U(s->desc_sends),
            U(s->desc_receives), U(s->drops_oldest), U(s->drops_latest), U(s->undelivered),
            U(s->cancelled_waiters), U(s->send_waiting), U(s->recv_waiting), U(s->failures_total),
            U(x->eagain), U(x->etime), U(x->ecanceled), U(x->epipe), U(x->einval), U(x->enomem),
            U(x->emsgsize), U(x->estale), s->closed ? "true" : "false");
}

static void obj_json(FILE *f, const struct obj *o, uint64_t t)
{
    fprintf(f, "{\"type\":\"%s\",\"id\":%llu,\"name\":", kc_registry_kind_name(o->kind), U(o->id));
    jstr(f, o->name);
    switch (o->kind) {
    case KC_REGISTRY_CHAN:
        chan_json(f, &o->u.chan);
        return;
    case KC_REGISTRY_SCHED: {
        const kc_sched_metrics_t *m = &o->u.sched;
        fprintf(f,
                ",\"t\":%llu,\"workers\":%u,\"idle_workers\":%u,\"spawned\":%llu,"
                "\"finished\":%llu,\"live\":%llu,\"inject_depth\":%llu,\"io_waiting\":%llu}\n",
                U(t), m->nworkers, m->idle_workers, U(m->spawned), U(m->finished), U(m->live),
                U(m->inject_depth), U(m->io_waiting));
        return;
    }
    case KC_REGISTRY_BUS: {
        const kc_bus_metrics_t *m = &o->u.bus;
        fprintf(f,
                ",\"t\":%llu,\"published\":%llu,\"no_receivers\":%llu,\"receiver_lag\":%llu,"
                "\"notify_sends\":%llu,\"batch_publish\":%llu,\"capacity\":%u,"
                "\"subscribers\":%u,\"msg_size\":%llu,\"tickets_released\":%llu}\n",
                U(t), U(m->published), U(m->no_receivers), U(m->receiver_lag), U(m->notify_sends),
                U(m->batch_publish), m->cap_selected, m->subscribers, U(m->msg_size),
                U(m->tickets_released));
        return;
    }
    case KC_REGISTRY_ARENA: {
        const kc_arena_metrics_t *m = &o->u.arena;
        fprintf(f,
                ",\"t\":%llu,\"page_size\":%u,\"pages_total\":%llu,\"pages_used\":%llu,"
                "\"pages_high_water\":%llu,\"pages_purged\":%llu,\"live_tickets\":%llu,"
                "\"live_bytes\":%llu,\"allocs\":%llu,\"frees\":%llu,\"failed_allocs\":%llu,"
                "\"stale_rejections\":%llu,\"double_releases\":%llu,\"regions\":%llu,"
                "\"fragmentation\":%.4f}\n",
                U(t), m->page_size, U(m->pages_total), U(m->pages_used), U(m->pages_high_water),
                U(m->pages_purged), U(m->live_tickets), U(m->live_bytes), U(m->allocs), U(m->frees),
                U(m->failed_allocs), U(m->stale_rejections), U(m->double_releases), U(m->regions),
                m->fragmentation);
        return;
    }
    default:
        fprintf(f, ",\"t\":%llu", U(t));
        if (o->nlab > 0) {
            fputs(",\"labels\":{", f);
            for (size_t i = 0; i < o->nlab; i++) {
                fprintf(f, "%s", i ? "," : "");
                jstr(f, o->lab[i].key);
                fputc(':', f);
                jstr(f, o->lab[i].value);
            }
            fputc('}', f);
        }
        fputs(",\"metrics\":{", f);
        for (size_t i = 0; i < o->next; i++) {
            fprintf(f, "%s", i ? "," : "");
            jstr(f, o->ext[i].name);
            fprintf(f, ":%.17g", o->ext[i].value);
        }
        fputs("}}\n", f);
    }
}

static void render_json(FILE *f, const struct objs *os)
{
    for (size_t i = 0; i < os->n; i++)
        obj_json(f, &os->v[i], os->taken_ns);
    fprintf(f, "{\"type\":\"end\",\"t\":%llu,\"objects\":%zu}\n", U(os->taken_ns), os->n);
}

/* ------------------------------------------------------------ Prometheus */

/* A label value: backslash, quote and newline escaped. */
static void lval(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void head(FILE *f, const char *fam, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam, help, fam, type);
}

static void sample(FILE *f, const char *fam, const struct obj *o, const char *extra, double v)
{
    fprintf(f, "%s{name=\"", fam);
    lval(f, o->name);
    fprintf(f, "\",id=\"%llu\"", U(o->id));
    for (size_t i = 0; i < o->nlab; i++) {
        fprintf(f, ",%s=\"", o->lab[i].key);
        lval(f, o->lab[i].value);
        fputc('"', f);
    }
    fprintf(f, "%s%s}", extra ? "," : "", extra ? extra : "");
    if (isinf(v))
        fputs(" +Inf\n", f);
    else if (v >= 0 && v < 9007199254740992.0 && v == (double)(uint64_t)v)
        fprintf(f, " %llu\n", (unsigned long long)v); /* counters: exact and quick */
    else
        fprintf(f, " %.17g\n", v);
}

typedef double (*field_fn)(const struct obj *o);

/* One family over every object of a kind. */
static void family(FILE *f, const struct objs *os, uint32_t kind, const char *fam, const char *type,
                   const char *help, field_fn get)
{
    bool any = false;
    for (size_t i = 0; i < os->n; i++) {
        const struct obj *o = &os->v[i];
        if (o->kind != kind)
            continue;
        if (!any)
            head(f, fam, type, help);
        any = true;
        sample(f, fam, o, NULL, get(o));
    }
}

#define C(o) (&(o)->u.chan)
#define FIELD(nm, expr)                                                                            \
    static double nm(const struct obj *o)                                                          \
    {                                                                                              \
        return (double)(expr);                                                                     \
    }
FIELD(c_sends, C(o)->sends)
FIELD(c_recvs, C(o)->receives)
FIELD(c_bsent, C(o)->bytes_sent)
FIELD(c_brecv, C(o)->bytes_received)
FIELD(c_undel, C(o)->undelivered)
FIELD(c_cancw, C(o)->cancelled_waiters)
FIELD(c_occ, C(o)->occupancy)
FIELD(c_closed, C(o)->closed)
FIELD(s_workers, o->u.sched.nworkers)
FIELD(s_idle, o->u.sched.idle_workers)
FIELD(s_spawned, o->u.sched.spawned)
FIELD(s_finished, o->u.sched.finished)
FIELD(s_live, o->u.sched.live)
FIELD(s_inject, o->u.sched.inject_depth)
FIELD(s_io, o->u.sched.io_waiting)
FIELD(b_pub, o->u.bus.published)
FIELD(b_norecv, o->u.bus.no_receivers)
FIELD(b_lag, o->u.bus.receiver_lag)
FIELD(b_notify, o->u.bus.notify_sends)
FIELD(b_subs, o->u.bus.subscribers)
FIELD(b_cap, o->u.bus.cap_selected)
FIELD(b_tickrel, o->u.bus.tickets_released)
FIELD(a_ptotal, o->u.arena.pages_total)
FIELD(a_pused, o->u.arena.pages_used)
FIELD(a_phigh, o->u.arena.pages_high_water)
FIELD(a_ppurged, o->u.arena.pages_purged)
FIELD(a_pagesz, o->u.arena.page_size)
FIELD(a_tickets, o->u.arena.live_tickets)
FIELD(a_bytes, o->u.arena.live_bytes)
FIELD(a_allocs, o->u.arena.allocs)
FIELD(a_frees, o->u.arena.frees)
FIELD(a_failed, o->u.arena.failed_allocs)
FIELD(a_stale, o->u.arena.stale_rejections)
FIELD(a_double, o->u.arena.double_releases)
FIELD(a_frag, o->u.arena.fragmentation)

static double c_cap(const struct obj *o)
{
    return C(o)->capacity == SIZE_MAX ? INFINITY : (double)C(o)->capacity;
}

/* The channel families whose samples carry one more label. */
static void chan_labelled(FILE *f, const struct objs *os)
{
    static const char *const codes[] = {"eagain", "etime",  "ecanceled", "epipe",
                                        "einval", "enomem", "emsgsize",  "estale"};
    bool any = false;
    for (size_t i = 0; i < os->n; i++) {
        const struct obj *o = &os->v[i];
        if (o->kind != KC_REGISTRY_CHAN)
            continue;
        if (!any)
            head(f, "kcoro_chan_failures_total", "counter",
                 "Failed channel operations, by result code.");
        any = true;
        const uint64_t *v = &C(o)->failures.eagain;
        for (int k = 0; k < 8; k++) {
            char l[32];
            snprintf(l, sizeof(l), "code=\"%s\"", codes[k]);
            sample(f, "kcoro_chan_failures_total", o, l, (double)v[k]);
        }
    }
    any = false;
    for (size_t i = 0; i < os->n; i++) {
        const struct obj *o = &os->v[i];
        if (o->kind != KC_REGISTRY_CHAN)
            continue;
        if (!any)
            head(f, "kcoro_chan_dropped_total", "counter",
                 "Elements dropped by the overflow policy or by conflation.");
        any = true;
        sample(f, "kcoro_chan_dropped_total", o, "policy=\"drop_oldest\"",
               (double)C(o)->drops_oldest);
        sample(f, "kcoro_chan_dropped_total", o, "policy=\"drop_latest\"",
               (double)C(o)->drops_latest);
    }
    any = false;
    for (size_t i = 0; i < os->n; i++) {
        const struct obj *o = &os->v[i];
        if (o->kind != KC_REGISTRY_CHAN)
            continue;
        if (!any)
            head(f, "kcoro_chan_waiters", "gauge", "Senders and receivers waiting now.");
        any = true;
        sample(f, "kcoro_chan_waiters", o, "side=\"send\"", (double)C(o)->send_waiting);
        sample(f, "kcoro_chan_waiters", o, "side=\"recv\"", (double)C(o)->recv_waiting);
    }
}

/* Extension kinds: kcoro_<kind>_<metric>[_total], grouped by family. */
static void ext_families(FILE *f, const struct objs *os)
{
    for (size_t i = 0; i < os->n; i++) {
        const struct obj *o = &os->v[i];
        for (size_t m = 0; m < o->next; m++) {
            char fam[128];
            const struct ext_metric *em = &o->ext[m];
            snprintf(fam, sizeof(fam), "kcoro_%s_%s%s", kc_registry_kind_name(o->kind), em->name,
                     em->type == KC_REGISTRY_COUNTER ? "_total" : "");
            /* written once, at the first object that has it */
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                for (size_t k = 0; k < os->v[j].next && !seen; k++)
                    seen = os->v[j].kind == o->kind && strcmp(os->v[j].ext[k].name, em->name) == 0;
            if (seen)
                continue;
            head(f, fam, em->type == KC_REGISTRY_COUNTER ? "counter" : "gauge",
                 em->help[0] ? em->help : "A metric of a registered object.");
            for (size_t j = i; j < os->n; j++)
                for (size_t k = 0; k < os->v[j].next; k++)
                    if (os->v[j].kind == o->kind && strcmp(os->v[j].ext[k].name, em->name) == 0)
                        sample(f, fam, &os->v[j], NULL, os->v[j].ext[k].value);
        }
    }
}

static void render_prom(FILE *f, const struct objs *os)
{
    const uint32_t CH = KC_REGISTRY_CHAN, SC = KC_REGISTRY_SCHED, BU = KC_REGISTRY_BUS,
                   AR = KC_REGISTRY_ARENA;
    family(f, os, CH, "kcoro_chan_sends_total", "counter", "Successful channel sends.", c_sends);
    family(f, os, CH, "kcoro_chan_receives_total", "counter", "Successful channel receives.",
           c_recvs);
    family(f, os, CH, "kcoro_chan_sent_bytes_total", "counter", "Element bytes sent.", c_bsent);
    family(f, os, CH, "kcoro_chan_received_bytes_total", "counter", "Element bytes received.",
           c_brecv);
    family(f, os, CH, "kcoro_chan_undelivered_total", "counter",
           "Elements sent that will never be received.", c_undel);
    family(f, os, CH, "kcoro_chan_cancelled_waiters_total", "counter",
           "Waits withdrawn by a timeout or a cancellation.", c_cancw);
    family(f, os, CH, "kcoro_chan_occupancy", "gauge", "Elements buffered now.", c_occ);
    family(f, os, CH, "kcoro_chan_capacity", "gauge",
           "Elements the channel holds (+Inf: unlimited).", c_cap);
    family(f, os, CH, "kcoro_chan_closed", "gauge", "1 once the channel is closed.", c_closed);
    chan_labelled(f, os);
    family(f, os, SC, "kcoro_sched_workers", "gauge", "Worker threads.", s_workers);
    family(f, os, SC, "kcoro_sched_idle_workers", "gauge", "Workers asleep now.", s_idle);
    family(f, os, SC, "kcoro_sched_tasks_spawned_total", "counter", "Tasks spawned.", s_spawned);
    family(f, os, SC, "kcoro_sched_tasks_finished_total", "counter", "Tasks finished.", s_finished);
    family(f, os, SC, "kcoro_sched_tasks_live", "gauge", "Tasks spawned and not finished.", s_live);
    family(f, os, SC, "kcoro_sched_inject_depth", "gauge", "Tasks in the global queue.", s_inject);
    family(f, os, SC, "kcoro_sched_io_waiting", "gauge", "Tasks waiting for an fd.", s_io);
    family(f, os, BU, "kcoro_bus_published_total", "counter", "Messages published.", b_pub);
    family(f, os, BU, "kcoro_bus_unaddressed_total", "counter",
           "Messages published to no subscriber.", b_norecv);
    family(f, os, BU, "kcoro_bus_lagged_total", "counter",
           "Messages subscribers missed because they fell behind.", b_lag);
    family(f, os, BU, "kcoro_bus_wakeups_total", "counter", "Wake-ups sent to subscribers.",
           b_notify);
    family(f, os, BU, "kcoro_bus_subscribers", "gauge", "Subscribers served now.", b_subs);
    family(f, os, BU, "kcoro_bus_capacity", "gauge", "Ring slots.", b_cap);
    family(f, os, BU, "kcoro_bus_tickets_released_total", "counter",
           "Arena ticket references the bus dropped.", b_tickrel);
    family(f, os, AR, "kcoro_arena_pages", "gauge", "Pages in the arena.", a_ptotal);
    family(f, os, AR, "kcoro_arena_pages_used", "gauge", "Pages holding payloads.", a_pused);
    family(f, os, AR, "kcoro_arena_pages_high_water", "gauge", "The most pages ever used.",
           a_phigh);
    family(f, os, AR, "kcoro_arena_pages_purged", "gauge", "Free pages handed back to the OS.",
           a_ppurged);
    family(f, os, AR, "kcoro_arena_page_size_bytes", "gauge", "Bytes per page.", a_pagesz);
    family(f, os, AR, "kcoro_arena_live_tickets", "gauge", "Tickets allocated and not freed.",
           a_tickets);
    family(f, os, AR, "kcoro_arena_live_bytes", "gauge", "Payload bytes behind live tickets.",
           a_bytes);
    family(f, os, AR, "kcoro_arena_allocations_total", "counter", "Successful allocations.",
           a_allocs);
    family(f, os, AR, "kcoro_arena_frees_total", "counter", "Payloads freed.", a_frees);
    family(f, os, AR, "kcoro_arena_failed_allocations_total", "counter",
           "Allocations refused for lack of room.", a_failed);
    family(f, os, AR, "kcoro_arena_stale_rejections_total", "counter",
           "Stale or forged tickets refused.", a_stale);
    family(f, os, AR, "kcoro_arena_double_releases_total", "counter",
           "Releases of a ticket already released.", a_double);
    family(f, os, AR, "kcoro_arena_fragmentation_ratio", "gauge",
           "1 - live bytes / bytes of used pages.", a_frag);
    ext_families(f, os);
}

int kc__monitor_write(FILE *f, const struct objs *os, kc_monitor_format_t format)
{
    if (format == KC_MONITOR_NDJSON)
        render_json(f, os);
    else
        render_prom(f, os);
    return ferror(f) ? -EIO : (int)os->n;
}

void kc__monitor_release(struct objs *os)
{
    if (os != NULL) {
        objs_free(os);
        free(os);
    }
}

int kc_monitor_render(FILE *f, kc_monitor_format_t format)
{
    if (f == NULL || (format != KC_MONITOR_NDJSON && format != KC_MONITOR_PROMETHEUS))
        return -EINVAL;
    struct objs *os = NULL;
    int rc = kc__monitor_take(&os);
    if (rc < 0)
        return rc;
    rc = kc__monitor_write(f, os, format);
    kc__monitor_release(os);
    if (rc >= 0 && fflush(f) != 0)
        rc = -EIO;
    return rc;
}
