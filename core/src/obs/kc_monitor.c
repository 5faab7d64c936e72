/* kc_monitor.c - the exporter's server: a listener and its connections, as coroutines.
 *
 * kc_monitor_start binds a UNIX or TCP socket and spawns the accept loop
 * into a scope of its own on the chosen scheduler; every connection gets a
 * coroutine in the same scope, and every blocking call takes the scope's
 * token, so cancelling the scope ends them all. A connection is HTTP/1.1
 * when its first bytes are a request line (one response, then close), and
 * otherwise a line protocol (snapshot, stream, tasks, arena, metrics)
 * that serves requests until the client closes (kcoro/monitor.h).
 *
 * Lifecycle:
 *
 *   state     event                                  next      done by
 *   --------  -------------------------------------  --------  -------------------
 *   SERVING   the scheduler starts its shutdown      STOPPING  on_sched (hook)
 *             (scope cancelled: loops end)
 *   SERVING   stop: scope destroyed, socket closed   (freed)   kc_monitor_stop
 *   STOPPING  the scheduler is freed: scope freed    ORPHANED  on_sched (hook)
 *   ORPHANED  stop: socket closed                    (freed)   kc_monitor_stop
 * A monitor KCORO_MONITOR started is freed at the scheduler's free.
 *
 * Writes use sendmsg with MSG_NOSIGNAL, so a client that goes away is an
 * -EPIPE for its coroutine, never a SIGPIPE for the process.
 */
#include "obs/kc_monitor_impl.h"

#include "kcoro/arena.h"
#include "kcoro/io.h"
#include "kcoro/registry.h"
#include "kcoro/scope.h"
#include "sched/kc_sched_hooks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum {
    M_SERVING = 0,
    M_STOPPING = 1,
    M_ORPHANED = 2
};

struct kc_monitor {
    kc_sched_t *sched;
    kc_scope_t *scope;
    int lfd;
    int max_clients;
    _Atomic int clients;
    _Atomic int state;
    bool autostarted;
    bool notes; /* holds the tasks' wait notes on (kc__sched_notes_hold) */
    struct kc__sched_hook hook;
    char addr[128];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* UNIX only */
};

/* The request histogram's bucket bounds, in seconds. */
static const double bounds[] = {0.0001, 0.001, 0.01, 0.1, 1.0};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))
static _Atomic uint64_t req_count, req_sum_ns, req_bucket[NBOUNDS];

static void count_request(uint64_t ns)
{
    atomic_fetch_add_explicit(&req_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&req_sum_ns, ns, memory_order_relaxed);
    for (size_t i = 0; i < NBOUNDS; i++)
        if ((double)ns / 1e9 <= bounds[i])
            atomic_fetch_add_explicit(&req_bucket[i], 1, memory_order_relaxed);
}

void kc__monitor_self_metrics(FILE *f)
{
    uint64_t n = atomic_load_explicit(&req_count, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&req_sum_ns, memory_order_relaxed);
    fputs("# HELP kcoro_monitor_request_duration_seconds Time to answer one monitor request.\n"
          "# TYPE kcoro_monitor_request_duration_seconds histogram\n",
          f);
    for (size_t i = 0; i < NBOUNDS; i++)
        fprintf(f, "kcoro_monitor_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[i],
                (unsigned long long)atomic_load_explicit(&req_bucket[i], memory_order_relaxed));
    fprintf(f,
            "kcoro_monitor_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "kcoro_monitor_request_duration_seconds_sum %.9f\n"
            "kcoro_monitor_request_duration_seconds_count %llu\n",
            (unsigned long long)n, (double)sum / 1e9, (unsigned long long)n);
}

/* Write all n bytes (MSG_NOSIGNAL). 0 or a negative errno. */
static int write_all(int fd, const char *p, size_t n, const kc_cancel_t *tok)
{
    while (n > 0) {
        struct iovec iov = {(void *)(uintptr_t)p, n};
        struct msghdr mh;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        ssize_t w = kc_sendmsg(fd, &mh, MSG_NOSIGNAL, (int64_t)10 * 1000000000, tok);
        if (w < 0)
            return (int)w;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct reply {
    char *buf;
    size_t len;
    FILE *f;
};

static int reply_open(struct reply *r)
{
    r->buf = NULL;
    r->len = 0;
    r->f = open_memstream(&r->buf, &r->len);
    return r->f != NULL ? 0 : -ENOMEM;
}

/* Close the stream; 0, or -ENOMEM when it could not be written. */
static int reply_close(struct reply *r)
{
    bool bad = ferror(r->f) != 0;
    if (fclose(r->f) != 0 || bad)
        return -ENOMEM;
    return 0;
}

static int render(FILE *f, kc_monitor_format_t fmt)
{
    struct objs *os = NULL;
    int rc = kc__monitor_take(&os);
    if (rc < 0)
        return rc;
    rc = kc__monitor_write(f, os, fmt);
    kc__monitor_release(os);
    if (rc >= 0 && fmt == KC_MONITOR_PROMETHEUS)
        kc__monitor_self_metrics(f);
    return rc;
}

struct arena_q {
    uint64_t id;
    FILE *f;
    int rc;
};

static int dump_arena(const kc_registry_entry_t *e, void *arg)
{
    struct arena_q *q = arg;
    if (e->id != q->id)
        return 0;
    q->rc = kc_arena_dump(e->object, q->f, KC_ARENA_DUMP_JSON);
    return 1;
}

/* Answer one line command into f. Returns 0, or -ENOENT for an unknown
 * command (the reply then says so). */
static int line_command(const char *line, FILE *f)
{
    if (strcmp(line, "snapshot") == 0)
        return render(f, KC_MONITOR_NDJSON) < 0 ? -EIO : 0;
    if (strcmp(line, "metrics") == 0) {
        int rc = render(f, KC_MONITOR_PROMETHEUS);
        fputs("# EOF\n", f);
        return rc < 0 ? -EIO : 0;
    }
    if (strcmp(line, "tasks") == 0) {
        int n = kc_sched_dump_all(f, KC_SCHED_DUMP_JSON);
        fprintf(f, "{\"type\":\"end\",\"t\":%llu,\"objects\":%d}\n",
                (unsigned long long)kc__monitor_now(), n < 0 ? 0 : n);
        return 0;
    }
    if (strncmp(line, "arena ", 6) == 0) {
        struct arena_q q = {strtoull(line + 6, NULL, 10), f, -ENOENT};
        kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_ARENA), dump_arena, &q);
        if (q.rc == -ENOENT)
            fprintf(f, "{\"type\":\"error\",\"error\":\"no arena with id %llu\"}\n",
                    (unsigned long long)q.id);
        else
            fputc('\n', f);
        fprintf(f, "{\"type\":\"end\",\"t\":%llu,\"objects\":%d}\n",
                (unsigned long long)kc__monitor_now(), q.rc == 0);
        return 0;
    }
    fputs("{\"type\":\"error\",\"error\":\"unknown command; try snapshot, stream MS, tasks, "
          "arena ID or metrics\"}\n",
          f);
    return -ENOENT;
}

static int send_reply(int fd, struct reply *r, const kc_cancel_t *tok)
{
    int rc = reply_close(r);
    if (rc == 0)
        rc = write_all(fd, r->buf, r->len, tok);
    free(r->buf);
    return rc;
}

/* "stream MS": a snapshot every MS ms until the client goes. */
static void stream(int fd, long ms, const kc_cancel_t *tok)
{
    for (;;) {
        struct reply r;
        if (reply_open(&r) < 0)
            return;
        uint64_t t0 = kc__monitor_now();
        render(r.f, KC_MONITOR_NDJSON);
        int rc = send_reply(fd, &r, tok);
        count_request(kc__monitor_now() - t0);
        if (rc < 0 || kc_sched_sleep(ms * 1000000, tok) < 0)
            return;
    }
}

/* An HTTP/1.1 request whose head (up to the blank line) is in req. */
static void http(int fd, const char *req, const kc_cancel_t *tok)
{
    char method[8] = "", path[128] = "";
    const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
    struct reply body;
    if (reply_open(&body) < 0)
        return;
    if (sscanf(req, "%7s %127s", method, path) != 2 || strcmp(method, "GET") != 0) {
        status = "405 Method Not Allowed";
        type = "text/plain; charset=utf-8";
        fputs("only GET is served\n", body.f);
    } else if (strcmp(path, "/metrics") == 0) {
        render(body.f, KC_MONITOR_PROMETHEUS);
    } else if (strcmp(path, "/snapshot") == 0) {
        type = "application/x-ndjson";
        render(body.f, KC_MONITOR_NDJSON);
    } else if (strcmp(path, "/tasks") == 0) {
        type = "text/plain; charset=utf-8";
        kc_sched_dump_all(body.f, KC_SCHED_DUMP_TEXT);
    } else {
        status = "404 Not Found";
        type = "text/plain; charset=utf-8";
        fputs("kcoro monitor: /metrics, /snapshot, /tasks\n", body.f);
    }
    if (reply_close(&body) < 0) {
        free(body.buf);
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, body.len);
    if (write_all(fd, head, (size_t)n, tok) == 0)
        write_all(fd, body.buf, body.len, tok);
    free(body.buf);
}

struct conn {
    kc_monitor_t *m;
    int fd;
};

#define CONN_BUF 8192

static bool is_http(const char *b, size_t n)
{
    static const char *const methods[] = {"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS "};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        size_t l = strlen(methods[i]);
        if (n >= l && memcmp(b, methods[i], l) == 0)
            return true;
    }
    return false;
}

static int serve(void *arg)
{
    struct conn *c = arg;
    kc_monitor_t *m = c->m;
    int fd = c->fd;
    free(c);
    const kc_cancel_t *tok = kc_scope_token(m->scope);
    char *buf = malloc(CONN_BUF + 1);
    size_t have = 0;
    while (buf != NULL) {
        /* an idle client is dropped after a minute */
        ssize_t r = kc_read(fd, buf + have, CONN_BUF - have, (int64_t)60 * 1000000000, tok);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        if (is_http(buf, have)) {
            if (strstr(buf, "\r\n\r\n") == NULL && strstr(buf, "\n\n") == NULL) {
                if (have == CONN_BUF)
                    break; /* a head larger than we take */
                continue;
            }
            uint64_t t0 = kc__monitor_now();
            http(fd, buf, tok);
            count_request(kc__monitor_now() - t0);
            break;
        }
        char *nl;
        bool quit = false;
        while (!quit && (nl = memchr(buf, '\n', have)) != NULL) {
            *nl = '\0';
            if (nl > buf && nl[-1] == '\r')
                nl[-1] = '\0';
            long ms = 0;
            if (sscanf(buf, "stream %ld", &ms) == 1) {
                stream(fd, ms < 10 ? 10 : ms > 60000 ? 60000 : ms, tok);
                quit = true;
                break;
            }
            struct reply rep;
            uint64_t t0 = kc__monitor_now();
            if (reply_open(&rep) < 0 || (line_command(buf, rep.f), send_reply(fd, &rep, tok)) < 0)
                quit = true;
            count_request(kc__monitor_now() - t0);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, have - used);
            have -= used;
        }
        if (quit || have == CONN_BUF)
            break;
    }
    free(buf);
    close(fd);
    atomic_fetch_sub_explicit(&m->clients, 1, memory_order_relaxed);
    return 0;
}

static int accept_loop(void *arg)
{
    kc_monitor_t *m = arg;
    const kc_cancel_t *tok = kc_scope_token(m->scope);
    for (;;) {
        while (atomic_load_explicit(&m->clients, memory_order_relaxed) >= m->max_clients)
            if (kc_sched_sleep(1000000, tok) < 0)
                return 0;
        int fd = kc_accept(m->lfd, NULL, NULL, KC_NO_TIMEOUT, tok);
        if (fd == -ECANCELED)
            return 0;
        if (fd < 0) { /* out of fds, a reset connection: breathe, go on */
            if (kc_sched_sleep(10000000, tok) < 0)
                return 0;
            continue;
        }
        struct conn *c = malloc(sizeof(*c));
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = "kc-monitor-conn";
        atomic_fetch_add_explicit(&m->clients, 1, memory_order_relaxed);
        if (c != NULL) {
            c->m = m;
            c->fd = fd;
        }
        if (c == NULL || kc_scope_spawn(m->scope, serve, c, &at) < 0) {
            free(c);
            close(fd);
            atomic_fetch_sub_explicit(&m->clients, 1, memory_order_relaxed);
        }
    }
}

static void release(kc_monitor_t *m)
{
    if (m->notes)
        kc__sched_notes_hold(-1);
    if (m->lfd >= 0)
        close(m->lfd);
    if (m->path[0] != '\0')
        unlink(m->path);
    free(m);
}

/* The scheduler's shutdown and free (kc_sched_hooks.h). */
static void on_sched(kc_sched_t *s, int phase, void *arg)
{
    (void)s;
    kc_monitor_t *m = arg;
    if (phase == KC__SCHED_HOOK_SHUTDOWN) {
        atomic_store_explicit(&m->state, M_STOPPING, memory_order_relaxed);
        kc_scope_cancel(m->scope);
        return;
    }
    kc_scope_destroy(m->scope); /* its children finished before the workers stopped */
    m->scope = NULL;
    atomic_store_explicit(&m->state, M_ORPHANED, memory_order_release);
    if (m->autostarted)
        release(m);
}

/* Parse url and bind a listening socket into m. */
static int listen_on(kc_monitor_t *m, const char *url, uint32_t flags)
{
    int fd;
    if (strncmp(url, "unix:", 5) == 0) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        const char *p = url + 5;
        if (p[0] == '\0' || strlen(p) >= sizeof(sa.sun_path))
            return -EINVAL;
        memcpy(sa.sun_path, p, strlen(p));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISSOCK(st.st_mode)) {
            /* a live server answers; a dead one's file is replaced */
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
            if (probe >= 0)
                close(probe);
            if (live) {
                close(fd);
                return -EADDRINUSE;
            }
            unlink(p);
        }
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        snprintf(m->path, sizeof(m->path), "%s", p);
        snprintf(m->addr, sizeof(m->addr), "unix:%s", p);
        m->lfd = fd;
        return 0;
    }
    if (strncmp(url, "tcp:", 4) != 0)
        return -EINVAL;
    char host[64];
    const char *colon = strrchr(url + 4, ':');
    if (colon == NULL || (size_t)(colon - (url + 4)) >= sizeof(host))
        return -EINVAL;
    memcpy(host, url + 4, (size_t)(colon - (url + 4)));
    host[colon - (url + 4)] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    sa.sin_port = htons((uint16_t)port);
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127 && !(flags & KC_MONITOR_ANY_ADDR))
        return -EPERM;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    snprintf(m->addr, sizeof(m->addr), "tcp:%s:%u", host, (unsigned)ntohs(sa.sin_port));
    m->lfd = fd;
    return 0;
}

int kc_monitor_start(kc_sched_t *s, const char *url, const kc_monitor_opts_t *opts,
                     kc_monitor_t **out)
{
    if (url == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    kc_monitor_opts_t o = KC_MONITOR_OPTS_INIT;
    if (opts != NULL) {
        if (opts->size < sizeof(o) ||
            (opts->flags & ~(KC_MONITOR_ANY_ADDR | KC_MONITOR_FREE_WITH_SCHED)) != 0 ||
            opts->max_clients < 0)
            return -EINVAL;
        o = *opts;
    }
    if (s == NULL && (s = kc_sched_current()) == NULL)
        return -EPERM;
    kc_monitor_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->lfd = -1;
    m->sched = s;
    m->max_clients = o.max_clients > 0 ? o.max_clients : 16;
    int rc = listen_on(m, url, o.flags);
    if (rc < 0)
        goto out_free;
    if ((rc = kc_scope_create(&m->scope, s, 0)) < 0)
        goto out_release;
    m->hook.fn = on_sched;
    m->hook.arg = m;
    if ((rc = kc__sched_hook_add(s, &m->hook)) < 0)
        goto out_scope;
    kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
    at.name = "kc-monitor";
    if ((rc = kc_scope_spawn(m->scope, accept_loop, m, &at)) < 0)
        goto out_hook;
    m->autostarted = (o.flags & KC_MONITOR_FREE_WITH_SCHED) != 0;
    /* a dump may be asked from now on: tasks note their waits (D4 of
     * kc_sched_dump.c) */
    m->notes = true;
    kc__sched_notes_hold(1);
    *out = m;
    return 0;

out_hook:
    kc__sched_hook_remove(s, &m->hook);
out_scope:
    kc_scope_destroy(m->scope);
out_release:
    release(m);
    return rc;
out_free:
    free(m);
    return rc;
}

int kc_monitor_stop(kc_monitor_t *m)
{
    if (m == NULL)
        return 0;
    /* acquire: pairs with the hook's release once the scope is gone */
    if (atomic_load_explicit(&m->state, memory_order_acquire) != M_ORPHANED) {
        int rc = kc_scope_destroy(m->scope); /* -EPERM from its own coroutines */
        if (rc == -EPERM)
            return rc;
        kc__sched_hook_remove(m->sched, &m->hook);
    }
    release(m);
    return 0;
}

int kc_monitor_address(const kc_monitor_t *m, char *buf, size_t cap)
{
    if (m == NULL || (buf == NULL && cap > 0))
        return -EINVAL;
    return snprintf(buf, cap, "%s", m->addr);
}
