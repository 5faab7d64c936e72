/* chanmon.c - kcoro-chanmon: watch a kcoro program's channels, buses and arenas.
 *
 * Usage: kcoro-chanmon [--ndjson] [--once] [--interval MS] ADDRESS
 * ADDRESS is the program's monitor (KCORO_MONITOR or kc_monitor_start):
 * unix:/path, tcp:127.0.0.1:PORT, or a bare socket path. Without options
 * it shows a live ncurses table (chanmon_ui.c); --ndjson prints one JSON
 * line of rates per object per interval, headless; --once takes two
 * snapshots one interval apart, prints the rates (a text table, or NDJSON
 * with --ndjson) and exits.
 */
#define _DEFAULT_SOURCE /* strcasestr-free, but usleep-free too: nanosleep */
#include "chanmon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *const cm_codes[CM_NCODES] = {"eagain", "etime",  "ecanceled", "epipe",
                                         "einval", "enomem", "emsgsize",  "estale"};

bool cm_json_num(const char *obj, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(obj, pat);
    if (p == NULL)
        return false;
    p += strlen(pat);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        *out = p[0] == 't';
        return true;
    }
    char *end;
    *out = strtod(p, &end);
    return end != p;
}

bool cm_json_str(const char *obj, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(obj, pat);
    if (p == NULL || cap == 0)
        return false;
    p += strlen(pat);
    size_t n = 0;
    while (*p != '\0' && *p != '"' && n + 1 < cap) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return true;
}

double cm_rate(const struct cm_obj *o, int f)
{
    if (!o->has_prev || o->t <= o->t0)
        return 0;
    return (o->cur[f] - o->prev[f]) / ((double)(o->t - o->t0) / 1e9);
}

static struct cm_obj *find(struct cm_model *m, const char *type, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].id == id && strcmp(m->v[i].type, type) == 0)
            return &m->v[i];
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct cm_obj *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    struct cm_obj *o = &m->v[m->n++];
    memset(o, 0, sizeof(*o));
    snprintf(o->type, sizeof(o->type), "%s", type);
    o->id = id;
    return o;
}

static void num(const char *line, const char *key, double *slot)
{
    double v;
    if (cm_json_num(line, key, &v))
        *slot = v;
}

static void fold(struct cm_model *m, const char *line)
{
    char type[16];
    double id;
    if (!cm_json_str(line, "type", type, sizeof(type)) || strcmp(type, "end") == 0 ||
        !cm_json_num(line, "id", &id))
        return;
    struct cm_obj *o = find(m, type, (uint64_t)id);
    if (o == NULL)
        return;
    double t = 0;
    cm_json_num(line, "t", &t);
    if (o->seen || o->t != 0) {
        memcpy(o->prev, o->cur, sizeof(o->cur));
        o->t0 = o->t;
        o->has_prev = true;
    }
    o->t = (uint64_t)t;
    o->seen = true;
    cm_json_str(line, "name", o->name, sizeof(o->name));
    cm_json_str(line, "kind", o->kind, sizeof(o->kind));
    cm_json_str(line, "role", o->role, sizeof(o->role)); /* remote channels (in "labels") */
    cm_json_str(line, "remote", o->remote, sizeof(o->remote));
    cm_json_str(line, "conn", o->peer, sizeof(o->peer));
    double *c = o->cur;
    num(line, "sends", &c[CM_F_SENDS]);
    num(line, "receives", &c[CM_F_RECVS]);
    num(line, "bytes_received", &c[CM_F_BYTES]);
    num(line, "occupancy", &c[CM_F_OCC]);
    num(line, "capacity", &c[CM_F_CAP]);
    num(line, "send_waiting", &c[CM_F_SENDW]);
    num(line, "recv_waiting", &c[CM_F_RECVW]);
    num(line, "failures_total", &c[CM_F_FAIL]);
    double d1 = 0, d2 = 0;
    cm_json_num(line, "drops_oldest", &d1);
    cm_json_num(line, "drops_latest", &d2);
    c[CM_F_DROPS] = d1 + d2;
    for (int k = 0; k < CM_NCODES; k++)
        num(line, cm_codes[k], &c[CM_F_CODE0 + k]);
    num(line, "published", &c[CM_F_PUB]);
    num(line, "receiver_lag", &c[CM_F_LAG]);
    num(line, "subscribers", &c[CM_F_SUBS]);
    num(line, "pages_total", &c[CM_F_PAGES]);
    num(line, "pages_used", &c[CM_F_PUSED]);
    num(line, "live_tickets", &c[CM_F_TICKETS]);
    num(line, "live_bytes", &c[CM_F_LBYTES]);
    num(line, "fragmentation", &c[CM_F_FRAG]);
    num(line, "live", &c[CM_F_LIVE]);
    num(line, "workers", &c[CM_F_WORKERS]);
    num(line, "closed", &c[CM_F_CLOSED]);
    num(line, "sent_bytes", &c[CM_F_CSENT]); /* connections (in "metrics") */
    num(line, "received_bytes", &c[CM_F_CRECV]);
    num(line, "rpcs_outstanding", &c[CM_F_COUT]);
    num(line, "state", &c[CM_F_CSTATE]);
    num(line, "sent_elements", &c[CM_F_RSENT]);
    num(line, "received_elements", &c[CM_F_RRECV]);
    num(line, "inbox_elements", &c[CM_F_RINBOX]);
    if (o->has_prev) {
        double r = strcmp(type, "bus") == 0           ? cm_rate(o, CM_F_PUB)
                   : strcmp(type, "remote_chan") == 0 ? cm_rate(o, CM_F_RRECV)
                                                      : cm_rate(o, CM_F_RECVS);
        if (o->nhist == CM_HIST)
            memmove(o->hist, o->hist + 1, (CM_HIST - 1) * sizeof(double));
        else
            o->nhist++;
        o->hist[o->nhist - 1] = r;
    }
}

void cm_update(struct cm_model *m, const char *ndjson)
{
    for (size_t i = 0; i < m->n; i++)
        m->v[i].seen = false;
    const char *p = ndjson;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, len);
        if (line != NULL) {
            fold(m, line);
            free(line);
        }
        p += len + (nl != NULL);
    }
    size_t w = 0; /* objects that went away are dropped */
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].seen)
            m->v[w++] = m->v[i];
    m->n = w;
    m->snapshots++;
}

int cm_connect(const char *addr)
{
    int fd;
    if (strncmp(addr, "tcp:", 4) == 0) {
        char host[64];
        const char *colon = strrchr(addr + 4, ':');
        if (colon == NULL || (size_t)(colon - addr - 4) >= sizeof(host)) {
            fprintf(stderr, "kcoro-chanmon: bad address %s\n", addr);
            return -1;
        }
        memcpy(host, addr + 4, (size_t)(colon - addr - 4));
        host[colon - addr - 4] = '\0';
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
            fprintf(stderr, "kcoro-chanmon: bad address %s\n", addr);
            return -1;
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
    } else {
        const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr;
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            fprintf(stderr, "kcoro-chanmon: path too long: %s\n", path);
            return -1;
        }
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
    }
    fprintf(stderr, "kcoro-chanmon: cannot connect to %s: %s\n", addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int cm_request(int fd, const char *cmd, char **out)
{
    size_t n = strlen(cmd);
    if (write(fd, cmd, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
        return -1;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return -1;
    for (;;) {
        if (len + 4096 >= cap) {
            char *nb = realloc(b, cap *= 2);
            if (nb == NULL)
                break;
            b = nb;
        }
        ssize_t r = read(fd, b + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
        b[len] = '\0';
        /* the reply ends with the end (or error) line */
        const char *last = len >= 2 ? b + len - 2 : b;
        while (last > b && last[-1] != '\n')
            last--;
        if (b[len - 1] == '\n' && (strstr(last, "\"type\":\"end\"") != NULL ||
                                   strstr(last, "\"type\":\"error\"") != NULL)) {
            *out = b;
            return 0;
        }
    }
    free(b);
    return -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int snapshot(int fd, struct cm_model *m)
{
    char *buf = NULL;
    if (cm_request(fd, "snapshot", &buf) != 0) {
        fprintf(stderr, "kcoro-chanmon: the monitor went away\n");
        return -1;
    }
    cm_update(m, buf);
    free(buf);
    return 0;
}

static void print_ndjson(const struct cm_model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct cm_obj *o = &m->v[i];
        if (!o->has_prev)
            continue;
        printf("{\"t\":%llu,\"type\":\"%s\",\"id\":%llu,\"name\":\"", (unsigned long long)o->t,
               o->type, (unsigned long long)o->id);
        for (const char *c = o->name; *c; c++)
            printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        if (strcmp(o->type, "chan") == 0)
            printf("\",\"sends_per_s\":%.1f,\"receives_per_s\":%.1f,\"bytes_per_s\":%.1f,"
                   "\"failures_per_s\":%.1f,\"drops_per_s\":%.1f,\"occupancy\":%.0f,"
                   "\"capacity\":%.0f,\"send_waiting\":%.0f,\"recv_waiting\":%.0f}\n",
                   cm_rate(o, CM_F_SENDS), cm_rate(o, CM_F_RECVS), cm_rate(o, CM_F_BYTES),
                   cm_rate(o, CM_F_FAIL), cm_rate(o, CM_F_DROPS), o->cur[CM_F_OCC],
                   o->cur[CM_F_CAP], o->cur[CM_F_SENDW], o->cur[CM_F_RECVW]);
        else if (strcmp(o->type, "bus") == 0)
            printf("\",\"published_per_s\":%.1f,\"lagged_per_s\":%.1f,\"subscribers\":%.0f}\n",
                   cm_rate(o, CM_F_PUB), cm_rate(o, CM_F_LAG), o->cur[CM_F_SUBS]);
        else if (strcmp(o->type, "arena") == 0)
            printf("\",\"pages_used\":%.0f,\"pages\":%.0f,\"live_tickets\":%.0f,"
                   "\"live_bytes\":%.0f}\n",
                   o->cur[CM_F_PUSED], o->cur[CM_F_PAGES], o->cur[CM_F_TICKETS],
                   o->cur[CM_F_LBYTES]);
        else if (strcmp(o->type, "conn") == 0)
            printf("\",\"sent_bytes_per_s\":%.1f,\"received_bytes_per_s\":%.1f,"
                   "\"rpcs_outstanding\":%.0f,\"state\":%.0f}\n",
                   cm_rate(o, CM_F_CSENT), cm_rate(o, CM_F_CRECV), o->cur[CM_F_COUT],
                   o->cur[CM_F_CSTATE]);
        else if (strcmp(o->type, "remote_chan") == 0) {
            printf("\",\"role\":\"%s\",\"remote\":\"", o->role);
            for (const char *c = o->remote; *c; c++)
                printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
            printf("\",\"conn\":\"");
            for (const char *c = o->peer; *c; c++)
                printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
            printf("\",\"sent\":%.0f,\"received\":%.0f,\"sent_per_s\":%.1f,"
                   "\"received_per_s\":%.1f,\"inbox\":%.0f,\"state\":%.0f}\n",
                   o->cur[CM_F_RSENT], o->cur[CM_F_RRECV], cm_rate(o, CM_F_RSENT),
                   cm_rate(o, CM_F_RRECV), o->cur[CM_F_RINBOX], o->cur[CM_F_CSTATE]);
        } else
            printf("\"}\n");
    }
    fflush(stdout);
}

static void print_table(const struct cm_model *m)
{
    printf("%-24s %6s %-10s %10s %12s %12s %12s %8s %6s\n", "NAME", "ID", "KIND", "OCC/CAP",
           "SEND/s", "RECV/s", "BYTES/s", "FAIL/s", "WAIT");
    for (size_t i = 0; i < m->n; i++) {
        const struct cm_obj *o = &m->v[i];
        if (strcmp(o->type, "chan") != 0)
            continue;
        char occ[32];
        snprintf(occ, sizeof(occ), "%.0f/%.0f", o->cur[CM_F_OCC], o->cur[CM_F_CAP]);
        printf("%-24.24s %6llu %-10.10s %10s %12.1f %12.1f %12.1f %8.1f %3.0f/%-2.0f\n", o->name,
               (unsigned long long)o->id, o->kind, occ, cm_rate(o, CM_F_SENDS),
               cm_rate(o, CM_F_RECVS), cm_rate(o, CM_F_BYTES), cm_rate(o, CM_F_FAIL),
               o->cur[CM_F_SENDW], o->cur[CM_F_RECVW]);
    }
    bool head = false;
    for (size_t i = 0; i < m->n; i++) {
        const struct cm_obj *o = &m->v[i];
        if (strcmp(o->type, "remote_chan") != 0)
            continue;
        if (!head)
            printf("%-24s %6s %-8s %-16s %-24s %10s %10s %10s %10s %5s %s\n", "REMOTE CHANNEL",
                   "ID", "ROLE", "REMOTE", "CONNECTION", "SENT", "RECEIVED", "SENT/s", "RECV/s",
                   "INBOX", "STATE");
        head = true;
        static const char *const states[] = {"opening", "open", "dead"};
        double st = o->cur[CM_F_CSTATE];
        printf("%-24.24s %6llu %-8.8s %-16.16s %-24.24s %10.0f %10.0f %10.1f %10.1f %5.0f %s\n",
               o->name, (unsigned long long)o->id, o->role, o->remote, o->peer, o->cur[CM_F_RSENT],
               o->cur[CM_F_RRECV], cm_rate(o, CM_F_RSENT), cm_rate(o, CM_F_RRECV),
               o->cur[CM_F_RINBOX], states[st >= 0 && st <= 2 ? (int)st : 2]);
    }
}

static void usage(FILE *f)
{
    fputs("usage: kcoro-chanmon [--ndjson] [--once] [--interval MS] ADDRESS\n"
          "  ADDRESS       the program's monitor: unix:/path, tcp:127.0.0.1:PORT or a path\n"
          "                (start it with KCORO_MONITOR=... or kc_monitor_start)\n"
          "  --ndjson      headless: one JSON line of rates per object per interval\n"
          "  --once        two snapshots one interval apart, print the rates, exit\n"
          "  --interval MS time between snapshots (default 1000, at least 10)\n"
          "keys in the live view: s sort, r reverse, / filter, space freeze, a arenas,\n"
          "  Enter show the selected arena's allocation table, up/down select, q quit\n",
          f);
}

int main(int argc, char **argv)
{
    bool ndjson = false, once = false;
    int interval = 1000;
    const char *addr = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ndjson") == 0)
            ndjson = true;
        else if (strcmp(argv[i], "--once") == 0)
            once = true;
        else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc)
            interval = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && addr == NULL)
            addr = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (addr == NULL || interval < 10) {
        usage(stderr);
        return 2;
    }
    int fd = cm_connect(addr);
    if (fd < 0)
        return 1;
    struct cm_model m = {0};
    int rc = 0;
    if (!ndjson && !once) {
        rc = cm_ui_run(fd, &m, interval);
    } else {
        if (snapshot(fd, &m) != 0)
            return 1;
        for (;;) {
            sleep_ms(interval);
            if (snapshot(fd, &m) != 0) {
                rc = 1;
                break;
            }
            if (ndjson)
                print_ndjson(&m);
            else
                print_table(&m);
            if (once)
                break;
        }
    }
    close(fd);
    free(m.v);
    return rc;
}
