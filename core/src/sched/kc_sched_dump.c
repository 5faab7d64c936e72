/* kc_sched_dump.c - the task dump: every task, its state and what it waits on.
 *
 * Like Go's goroutine dump: one line (or JSON object) per task with its
 * id, name, state, how long it has waited, what it waits on (a channel by
 * name, a select and its clauses, a timer, an fd, a join) and its stack
 * use. Tasks are found on the scheduler's task list (reg_head): a task is
 * put there the first time it parks, or at spawn when the scheduler is
 * registered (KC_SCHED_REGISTER or KCORO_REGISTRY), so the dump of a
 * registered scheduler lists every live task and that of another lists
 * the ones that have waited, and counts the rest.
 *
 * Rules:
 *   D1  the task list lock is held only while rows are copied out, never
 *       while writing to the stream (a slow reader must not stall parks);
 *   D2  a channel is named only when the registry lists it: the registry
 *       lock keeps a listed channel alive, so its name can be read; an
 *       unlisted channel's memory is never touched;
 *   D3  waiting time is measured from the first time a dump or
 *       kc_sched_stamp_waits saw the wait (as Go does), so parking costs no
 *       clock read; a monitor that stamps every second makes it exact to
 *       that second.
 *   D4  a wait is noted by the task itself (kc__task_note_*) only while
 *       something may ask: kc__deadlock_watched counts the deadlock
 *       checks, the installed dump signal, the running monitors and every
 *       scheduler dumped or stamped at least once (from its first dump
 *       until it is freed). Registration alone notes nothing, so a
 *       registered channel wait costs what an unregistered one does. What
 *       the notes miss (a wait begun before the first dump, or begun just
 *       as it switched them on) every dump reads from the listed channels
 *       themselves: under each one's lock, a task whose token is queued
 *       there waits on it (kc__chan_waiters, kc__task_note_seen), and its
 *       note is made to say so. Sleeps, fd waits, joins, scopes, blocking
 *       calls and a select's clauses are always noted; a wait begun before
 *       the first dump on an unlisted channel, or in a bare kc_park, is
 *       named only by the dumps after the task's next wait.
 *
 * The signal dump (KCORO_DUMP_SIGNAL=USR1): the handler only writes a byte
 * to a pipe (async-signal-safe); a helper thread reads it and dumps every
 * registered scheduler to stderr, or to the file KCORO_DUMP_FILE names.
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"
#include "kcoro/chan.h"
#include "kcoro/io.h"
#include "kcoro/registry.h"
#include "port/kc_port.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A listed channel, for naming waits (D2). */
struct chan_name {
    const void *ch;
    uint64_t id;
    char name[KC_REGISTRY_NAME_MAX];
};

struct chan_names {
    struct chan_name *v;
    size_t n, cap;
};

_Atomic(kc__chan_waiters_fn) kc__chan_waiters;

/* The signal handler's and the monitors' share of kc__deadlock_watched
 * (D4). */
void kc__sched_notes_hold(int delta)
{
    atomic_fetch_add_explicit(&kc__deadlock_watched, delta, memory_order_seq_cst);
}

/* s is dumped or stamped: note its waits from now on (D4). */
static void dump_arm(struct kc_sched *s)
{
    if (!atomic_load_explicit(&s->dump_armed, memory_order_relaxed) &&
        !atomic_exchange_explicit(&s->dump_armed, true, memory_order_relaxed))
        kc__sched_notes_hold(1);
}

void kc__sched_dump_disarm(struct kc_sched *s)
{
    if (atomic_exchange_explicit(&s->dump_armed, false, memory_order_relaxed))
        kc__sched_notes_hold(-1);
}

static int add_chan(const kc_registry_entry_t *e, void *arg)
{
    struct chan_names *cn = arg;
    /* acquire: pairs with the channel layer's release when it installs it */
    kc__chan_waiters_fn walk = atomic_load_explicit(&kc__chan_waiters, memory_order_acquire);
    if (walk != NULL)
        walk(e->object); /* D4 */
    if (cn->n == cn->cap) {
        size_t cap = cn->cap ? cn->cap * 2 : 64;
        struct chan_name *v = realloc(cn->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        cn->v = v;
        cn->cap = cap;
    }
    struct chan_name *c = &cn->v[cn->n++];
    c->ch = e->object;
    c->id = e->id;
    snprintf(c->name, sizeof(c->name), "%s", e->name);
    return 0;
}

static int walk_chan(const kc_registry_entry_t *e, void *arg)
{
    kc__chan_waiters_fn walk = (kc__chan_waiters_fn)arg;
    walk(e->object);
    return 0;
}

static int by_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct chan_name *)a)->ch;
    uintptr_t y = (uintptr_t)((const struct chan_name *)b)->ch;
    return x < y ? -1 : x > y;
}

static const struct chan_name *find_chan(const struct chan_names *cn, const void *ch)
{
    struct chan_name key = {.ch = ch};
    return cn->n ? bsearch(&key, cn->v, cn->n, sizeof(key), by_ptr) : NULL;
}

/* The clauses of a select a dump shows; the rest are counted. */
#define DUMP_CLAUSES 8

/* One task as copied out under the list lock (D1). */
struct row {
    uint64_t id;
    char name[KC_CORO_NAME_MAX];
    int state; /* 0 waiting, 1 running, 2 runnable */
    int worker;
    unsigned kind;
    const void *obj;
    int64_t arg, since;
    uint8_t nclauses; /* of the select; the first DUMP_CLAUSES are copied */
    struct {
        uint8_t op;
        const void *ch;
    } cl[DUMP_CLAUSES];
    const uint8_t *lo, *hi, *sp;
};

enum {
    ST_WAITING = 0,
    ST_RUNNING = 1,
    ST_RUNNABLE = 2
};

static const char *const state_names[] = {"waiting", "running", "runnable"};

/* By enum kc_wait_op. */
static const char *const wait_names[] = {"park",   "park", "chan send", "chan recv",
                                         "select", "join", "scope",     "blocking call",
                                         "sleep",  "fd",   "idle"};

static const char *wait_name(unsigned k)
{
    return k < sizeof(wait_names) / sizeof(wait_names[0]) ? wait_names[k] : "park";
}

/* Fill r from t (list lock held). now stamps waits not seen before (D3). */
static void copy_row(struct kc_sched *s, struct kc_task *t, struct row *r, int64_t now)
{
    memset(r, 0, sizeof(*r));
    r->id = kc_coro_id(t->co);
    snprintf(r->name, sizeof(r->name), "%s", kc_coro_name(t->co));
    r->worker = __atomic_load_n(&t->worker, __ATOMIC_RELAXED); /* written by workers */
    uint32_t run = atomic_load_explicit(&t->run, memory_order_relaxed);
    r->state = ST_RUNNABLE;
    if (run == KC_RUN_PARKING || run == KC_RUN_PARKED) {
        r->state = ST_WAITING;
    } else {
        for (int i = 0; i < s->nworkers; i++)
            if (__atomic_load_n(&s->w[i].current, __ATOMIC_RELAXED) == t) {
                r->state = ST_RUNNING;
                r->worker = i;
            }
    }
    const uint8_t *sp;
    kc__coro_stack_view(t->co, &r->lo, &r->hi, &sp);
    r->sp = r->state == ST_RUNNING ? NULL : sp;
    if (r->state != ST_WAITING)
        return;
    r->kind = __atomic_load_n(&t->wait_op, __ATOMIC_RELAXED);
    r->obj = __atomic_load_n(&t->wait_obj, __ATOMIC_RELAXED);
    r->arg = __atomic_load_n(&t->wait_arg, __ATOMIC_RELAXED);
    const kc_chan_clause_t *cl = __atomic_load_n(&t->wait_aux, __ATOMIC_RELAXED);
    int64_t n = r->arg; /* a select's clause count */
    int64_t zero = 0;
    /* relaxed: a sample; a task that re-parked meanwhile gets a later stamp */
    atomic_compare_exchange_strong_explicit(&t->wait_since, &zero, now, memory_order_relaxed,
                                            memory_order_relaxed);
    r->since = atomic_load_explicit(&t->wait_since, memory_order_relaxed);
    if (r->kind == KC_WAIT_SELECT && cl != NULL && n > 0 && n <= KC_CHAN_SELECT_MAX) {
        /* The clauses live on the parked task's stack, mapped while it is
         * listed; only their op and channel pointer are read. */
        r->nclauses = (uint8_t)n;
        for (uint8_t i = 0; i < r->nclauses && i < DUMP_CLAUSES; i++) {
            r->cl[i].op = (uint8_t)__atomic_load_n(&cl[i].op, __ATOMIC_RELAXED);
            r->cl[i].ch = __atomic_load_n(&cl[i].chan, __ATOMIC_RELAXED);
        }
    }
}

struct dump {
    struct row *rows;
    size_t n;
    uint64_t live, unlisted;
    int64_t now;
};

static int collect(struct kc_sched *s, struct dump *d)
{
    size_t cap = 64;
    d->rows = malloc(cap * sizeof(*d->rows));
    if (d->rows == NULL)
        return -ENOMEM;
    d->n = 0;
    d->now = kc__sched_now();
    kc__lock(&s->reg_lock);
    for (struct kc_task *t = s->reg_head; t != NULL; t = t->reg_next) {
        if (d->n == cap) {
            struct row *v = realloc(d->rows, cap * 2 * sizeof(*v));
            if (v == NULL) {
                kc__unlock(&s->reg_lock);
                return -ENOMEM;
            }
            d->rows = v;
            cap *= 2;
        }
        copy_row(s, t, &d->rows[d->n++], d->now);
    }
    kc__unlock(&s->reg_lock);
    int64_t live = atomic_load_explicit(&s->live, memory_order_relaxed);
    d->live = live > 0 ? (uint64_t)live : 0;
    d->unlisted = d->live > d->n ? d->live - d->n : 0;
    return 0;
}

/* Stack bytes in use below the saved stack pointer, and resident. */
static void stack_use(const struct row *r, uint64_t *used, uint64_t *resident, uint64_t *size)
{
    *size = r->lo != NULL ? (uint64_t)(r->hi - r->lo) : 0;
    *used = r->sp != NULL && r->sp > r->lo && r->sp <= r->hi ? (uint64_t)(r->hi - r->sp) : 0;
    *resident = r->lo != NULL ? kc__port_resident_bytes(r->lo, *size) : 0;
}

/* Write a JSON string (quotes, backslashes and control bytes escaped). */
static void json_str(FILE *f, const char *s)
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

static void chan_text(FILE *f, const struct chan_names *cn, const void *ch)
{
    const struct chan_name *c = find_chan(cn, ch);
    if (c != NULL)
        fprintf(f, "\"%s\" (#%llu)", c->name, (unsigned long long)c->id);
    else
        fputs("an unregistered channel", f);
}

static void chan_json(FILE *f, const struct chan_names *cn, const void *ch)
{
    const struct chan_name *c = find_chan(cn, ch);
    if (c != NULL) {
        fputs("\"chan\":", f);
        json_str(f, c->name);
        fprintf(f, ",\"chan_id\":%llu", (unsigned long long)c->id);
    } else {
        fputs("\"chan\":null", f);
    }
}

static void wait_text(FILE *f, const struct chan_names *cn, const struct row *r, int64_t now)
{
    fputs(wait_name(r->kind), f);
    switch (r->kind) {
    case KC_WAIT_SEND:
    case KC_WAIT_RECV:
        fputc(' ', f);
        chan_text(f, cn, r->obj);
        break;
    case KC_WAIT_SLEEP: {
        int64_t left = r->arg - now;
        fprintf(f, ", %.3f s left", left > 0 ? (double)left / 1e9 : 0.0);
        break;
    }
    case KC_WAIT_JOIN:
        fprintf(f, " task %lld", (long long)r->arg);
        break;
    case KC_WAIT_FD:
        fprintf(f, " %lld (%s%s)", (long long)(r->arg >> 8), (r->arg & KC_IO_IN) ? "in" : "",
                (r->arg & KC_IO_OUT) ? ((r->arg & KC_IO_IN) ? ",out" : "out") : "");
        break;
    case KC_WAIT_SELECT:
        fprintf(f, " of %u clauses:", (unsigned)r->nclauses);
        for (uint8_t i = 0; i < r->nclauses && i < DUMP_CLAUSES; i++) {
            fprintf(f, "%s %s ", i ? "," : "",
                    r->cl[i].op == KC_CHAN_CLAUSE_SEND ? "send" : "recv");
            chan_text(f, cn, r->cl[i].ch);
        }
        if (r->nclauses > DUMP_CLAUSES)
            fprintf(f, ", ... %u more", (unsigned)(r->nclauses - DUMP_CLAUSES));
        break;
    default:
        break;
    }
}

static void wait_json(FILE *f, const struct chan_names *cn, const struct row *r, int64_t now)
{
    fputs("\"wait\":{\"kind\":", f);
    json_str(f, wait_name(r->kind));
    switch (r->kind) {
    case KC_WAIT_SEND:
    case KC_WAIT_RECV:
        fputc(',', f);
        chan_json(f, cn, r->obj);
        break;
    case KC_WAIT_SLEEP:
        fprintf(f, ",\"left_ns\":%lld", (long long)(r->arg > now ? r->arg - now : 0));
        break;
    case KC_WAIT_JOIN:
        fprintf(f, ",\"task\":%lld", (long long)r->arg);
        break;
    case KC_WAIT_FD:
        fprintf(f, ",\"fd\":%lld,\"in\":%s,\"out\":%s", (long long)(r->arg >> 8),
                (r->arg & KC_IO_IN) ? "true" : "false", (r->arg & KC_IO_OUT) ? "true" : "false");
        break;
    case KC_WAIT_SELECT:
        fprintf(f, ",\"nclauses\":%u,\"clauses\":[", (unsigned)r->nclauses);
        for (uint8_t i = 0; i < r->nclauses && i < DUMP_CLAUSES; i++) {
            fprintf(f, "%s{\"op\":\"%s\",", i ? "," : "",
                    r->cl[i].op == KC_CHAN_CLAUSE_SEND ? "send" : "recv");
            chan_json(f, cn, r->cl[i].ch);
            fputc('}', f);
        }
        fputc(']', f);
        break;
    default:
        break;
    }
    fputc('}', f);
}

static void print_text(FILE *f, struct kc_sched *s, const struct dump *d,
                       const struct chan_names *cn)
{
    fprintf(f, "kcoro sched %llu \"%s\": %d workers, %llu live tasks, %zu listed\n",
            (unsigned long long)s->id, s->name, s->nworkers, (unsigned long long)d->live, d->n);
    for (size_t i = 0; i < d->n; i++) {
        const struct row *r = &d->rows[i];
        uint64_t used, res, size;
        stack_use(r, &used, &res, &size);
        fprintf(f, "  task %llu \"%s\" [%s", (unsigned long long)r->id, r->name,
                state_names[r->state]);
        if (r->state == ST_WAITING) {
            fputs(": ", f);
            wait_text(f, cn, r, d->now);
            fprintf(f, ", %.3f s", (double)(d->now - r->since) / 1e9);
        } else if (r->state == ST_RUNNING) {
            fprintf(f, " on worker %d", r->worker);
        }
        fprintf(f, "] stack %llu used, %llu resident of %llu\n", (unsigned long long)used,
                (unsigned long long)res, (unsigned long long)size);
    }
    if (d->unlisted > 0)
        fprintf(f,
                "  ... and %llu tasks that have not waited yet (register the scheduler "
                "to list them)\n",
                (unsigned long long)d->unlisted);
}

static void print_json(FILE *f, struct kc_sched *s, const struct dump *d,
                       const struct chan_names *cn)
{
    fprintf(f, "{\"type\":\"tasks\",\"sched\":");
    json_str(f, s->name);
    fprintf(f, ",\"sched_id\":%llu,\"workers\":%d,\"live\":%llu,\"unlisted\":%llu,\"tasks\":[",
            (unsigned long long)s->id, s->nworkers, (unsigned long long)d->live,
            (unsigned long long)d->unlisted);
    for (size_t i = 0; i < d->n; i++) {
        const struct row *r = &d->rows[i];
        uint64_t used, res, size;
        stack_use(r, &used, &res, &size);
        fprintf(f, "%s{\"id\":%llu,\"name\":", i ? "," : "", (unsigned long long)r->id);
        json_str(f, r->name);
        fprintf(f, ",\"state\":\"%s\",\"worker\":%d,", state_names[r->state], r->worker);
        if (r->state == ST_WAITING) {
            wait_json(f, cn, r, d->now);
            fprintf(f, ",\"waiting_ns\":%lld,", (long long)(d->now - r->since));
        }
        fprintf(f, "\"stack_used\":%llu,\"stack_resident\":%llu,\"stack_size\":%llu}",
                (unsigned long long)used, (unsigned long long)res, (unsigned long long)size);
    }
    fputs("]}\n", f);
}

int kc_sched_dump(kc_sched_t *s, FILE *f, kc_sched_dump_format_t format)
{
    if (s == NULL || f == NULL || (format != KC_SCHED_DUMP_TEXT && format != KC_SCHED_DUMP_JSON))
        return -EINVAL;
    dump_arm(s); /* before the channels are read: a wait begun after is noted (D4) */
    struct chan_names cn = {0};
    int rc = kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CHAN), add_chan, &cn);
    struct dump d = {0};
    if (rc == 0)
        rc = collect(s, &d);
    if (rc == 0) {
        if (cn.n > 1)
            qsort(cn.v, cn.n, sizeof(*cn.v), by_ptr);
        if (format == KC_SCHED_DUMP_TEXT)
            print_text(f, s, &d, &cn);
        else
            print_json(f, s, &d, &cn);
        if (fflush(f) != 0 || ferror(f))
            rc = -EIO;
    }
    free(d.rows);
    free(cn.v);
    return rc;
}

int kc_sched_stamp_waits(kc_sched_t *s)
{
    if (s == NULL)
        return -EINVAL;
    dump_arm(s);
    kc__chan_waiters_fn walk = atomic_load_explicit(&kc__chan_waiters, memory_order_acquire);
    if (walk != NULL) /* D4: waits not noted are stamped too */
        kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CHAN), walk_chan, (void *)walk);
    int64_t now = kc__sched_now();
    int n = 0;
    kc__lock(&s->reg_lock);
    for (struct kc_task *t = s->reg_head; t != NULL; t = t->reg_next) {
        uint32_t run = atomic_load_explicit(&t->run, memory_order_relaxed);
        int64_t zero = 0;
        if ((run == KC_RUN_PARKING || run == KC_RUN_PARKED) &&
            atomic_compare_exchange_strong_explicit(&t->wait_since, &zero, now,
                                                    memory_order_relaxed, memory_order_relaxed))
            n++;
    }
    kc__unlock(&s->reg_lock);
    return n;
}

struct dump_all {
    FILE *f;
    kc_sched_dump_format_t format;
    int n;
};

static int dump_one(const kc_registry_entry_t *e, void *arg)
{
    struct dump_all *da = arg;
    int rc = kc_sched_dump(e->object, da->f, da->format);
    if (rc == 0)
        da->n++;
    return rc;
}

int kc_sched_dump_all(FILE *f, kc_sched_dump_format_t format)
{
    if (f == NULL || (format != KC_SCHED_DUMP_TEXT && format != KC_SCHED_DUMP_JSON))
        return -EINVAL;
    struct dump_all da = {f, format, 0};
    int rc = kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_SCHED), dump_one, &da);
    return rc < 0 ? rc : da.n;
}

/* ---- the signal dump */

static int sig_pipe[2] = {-1, -1};
static int sig_no;
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 'd';
    ssize_t w = write(sig_pipe[1], &c, 1); /* async-signal-safe; a full pipe drops it */
    (void)w;
    errno = saved;
}

static void *dumper(void *arg)
{
    (void)arg;
    char c;
    for (;;) {
        ssize_t r = read(sig_pipe[0], &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        const char *path = getenv("KCORO_DUMP_FILE");
        FILE *f = path != NULL && path[0] != '\0' ? fopen(path, "a") : stderr;
        if (f == NULL)
            f = stderr;
        kc_sched_dump_all(f, KC_SCHED_DUMP_TEXT);
        if (f != stderr)
            fclose(f);
    }
}

/* The signal number KCORO_DUMP_SIGNAL names ("USR1", "SIGUSR2", "QUIT",
 * a number), or 0. */
static int parse_signal(const char *v)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT},
                 {"HUP", SIGHUP},   {"INT", SIGINT},   {"TERM", SIGTERM}};
    if (v == NULL || v[0] == '\0')
        return 0;
    if (strncmp(v, "SIG", 3) == 0)
        v += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].sig;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 && n < 65 && n != SIGKILL && n != SIGSTOP ? (int)n : 0;
}

static void install(void)
{
    const char *v = getenv("KCORO_DUMP_SIGNAL");
    int sig = parse_signal(v);
    if (sig == 0) {
        if (v != NULL && v[0] != '\0')
            fprintf(stderr, "kcoro: KCORO_DUMP_SIGNAL='%s' is not a signal; no dump handler\n", v);
        return;
    }
    if (pipe(sig_pipe) != 0)
        return;
    fcntl(sig_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(sig_pipe[1], F_SETFD, FD_CLOEXEC);
    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    /* The helper must not take the signal itself: block it there. */
    sigset_t all, old;
    sigemptyset(&all);
    sigaddset(&all, sig);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&th, &at, dumper, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    if (e != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) == 0) {
        sig_no = sig;
        kc__sched_notes_hold(1); /* a dump may be asked at any time now (D4) */
    }
}

int kc__sched_dump_signal(void)
{
    pthread_once(&sig_once, install);
    return sig_no;
}
