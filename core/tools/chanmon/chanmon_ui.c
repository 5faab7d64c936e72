/* chanmon_ui.c - kcoro-chanmon's live view: an ncurses table of channels, buses and arenas.
 *
 * Every interval (unless frozen) it takes a snapshot and redraws: channels
 * sorted by receive rate (or by name, occupancy, failures), each with an
 * occupancy bar, rates, waiters, failures by code, lag (seconds to drain
 * the buffer at the current receive rate) and a sparkline of its receive
 * rate; then buses and schedulers. Keys: s cycles the sort, r reverses
 * it, / sets a name filter, space freezes, a switches to the arena view
 * (pages and tickets of every arena; Enter shows the selected arena's
 * allocation table), up and down select, q quits. Characters are ASCII, so
 * the view reads the same in any terminal and locale.
 */
#define _DEFAULT_SOURCE
#include "chanmon.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    SORT_RATE,
    SORT_NAME,
    SORT_OCC,
    SORT_FAIL,
    NSORT
};
static const char *const sort_names[NSORT] = {"rate", "name", "occupancy", "failures"};

struct ui {
    struct cm_model *m;
    int fd;
    int sort;
    bool reverse, frozen, arenas;
    char filter[64];
    int sel;
    char *table; /* the allocation table shown, or NULL */
};

static struct ui *cmp_ui;

static double key_of(const struct cm_obj *o, int sort)
{
    switch (sort) {
    case SORT_OCC:
        return o->cur[CM_F_CAP] > 0 ? o->cur[CM_F_OCC] / o->cur[CM_F_CAP] : o->cur[CM_F_OCC];
    case SORT_FAIL:
        return cm_rate(o, CM_F_FAIL);
    default:
        return cm_rate(o, CM_F_RECVS) + cm_rate(o, CM_F_SENDS);
    }
}

static int by_sort(const void *a, const void *b)
{
    const struct cm_obj *x = *(struct cm_obj *const *)a, *y = *(struct cm_obj *const *)b;
    int r;
    if (cmp_ui->sort == SORT_NAME) {
        r = strcmp(x->name, y->name);
    } else {
        double kx = key_of(x, cmp_ui->sort), ky = key_of(y, cmp_ui->sort);
        r = kx > ky ? -1 : kx < ky ? 1 : strcmp(x->name, y->name);
    }
    return cmp_ui->reverse ? -r : r;
}

static void bar(double frac, int width)
{
    int fill = (int)(frac * width + 0.5);
    fill = fill < 0 ? 0 : fill > width ? width : fill;
    addch('[');
    for (int i = 0; i < width; i++)
        addch(i < fill ? '#' : '.');
    addch(']');
}

static void spark(const struct cm_obj *o)
{
    static const char levels[] = " _.-=+*#";
    double max = 0;
    for (int i = 0; i < o->nhist; i++)
        max = o->hist[i] > max ? o->hist[i] : max;
    for (int i = 0; i < CM_HIST - o->nhist; i++)
        addch(' ');
    for (int i = 0; i < o->nhist; i++) {
        int l = max > 0 ? (int)(o->hist[i] / max * 7 + 0.5) : 0;
        addch((chtype)levels[l < 0 ? 0 : l > 7 ? 7 : l]);
    }
}

static void si(char *buf, size_t cap, double v)
{
    const char *u = "";
    if (v >= 1e9) {
        v /= 1e9;
        u = "G";
    } else if (v >= 1e6) {
        v /= 1e6;
        u = "M";
    } else if (v >= 1e3) {
        v /= 1e3;
        u = "k";
    }
    snprintf(buf, cap, "%.1f%s", v, u);
}

/* Failures by code: the codes with a nonzero rate, "-" for none. */
static void codes(const struct cm_obj *o, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < CM_NCODES && n + 1 < cap; k++) {
        double r = cm_rate(o, CM_F_CODE0 + k);
        if (r > 0) {
            char v[16];
            si(v, sizeof(v), r);
            n += (size_t)snprintf(buf + n, cap - n, "%s%s:%s", n ? " " : "", cm_codes[k], v);
        }
    }
    if (n == 0)
        snprintf(buf, cap, "-");
}

static int draw_channels(struct ui *u, int row)
{
    struct cm_obj **list = malloc((u->m->n + 1) * sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; list != NULL && i < u->m->n; i++) {
        struct cm_obj *o = &u->m->v[i];
        if (strcmp(o->type, "chan") == 0 && (u->filter[0] == '\0' || strstr(o->name, u->filter)))
            list[n++] = o;
    }
    cmp_ui = u;
    if (n > 1)
        qsort(list, n, sizeof(*list), by_sort);
    attron(A_REVERSE);
    mvprintw(row++, 0, "%-20s %5s %-10s %-14s %9s %9s %9s %5s %7s %-18s %s", "CHANNEL", "ID",
             "KIND", "OCCUPANCY", "SEND/s", "RECV/s", "BYTES/s", "WAIT", "LAG", "FAILURES/s",
             "RECV RATE");
    attroff(A_REVERSE);
    if (u->sel >= (int)n)
        u->sel = n > 0 ? (int)n - 1 : 0;
    for (size_t i = 0; i < n && row < LINES - 8; i++) {
        const struct cm_obj *o = list[i];
        char s1[16], s2[16], s3[16], fail[64], lag[16];
        si(s1, sizeof(s1), cm_rate(o, CM_F_SENDS));
        si(s2, sizeof(s2), cm_rate(o, CM_F_RECVS));
        si(s3, sizeof(s3), cm_rate(o, CM_F_BYTES));
        codes(o, fail, sizeof(fail));
        double rr = cm_rate(o, CM_F_RECVS);
        if (o->cur[CM_F_OCC] == 0)
            snprintf(lag, sizeof(lag), "0s");
        else if (rr > 0)
            snprintf(lag, sizeof(lag), "%.2fs", o->cur[CM_F_OCC] / rr);
        else
            snprintf(lag, sizeof(lag), "stuck");
        if ((int)i == u->sel && !u->arenas)
            attron(A_BOLD);
        mvprintw(row, 0, "%-20.20s %5llu %-10.10s ", o->name, (unsigned long long)o->id, o->kind);
        double cap = o->cur[CM_F_CAP];
        bar(cap > 0 ? o->cur[CM_F_OCC] / cap : 0, 8);
        printw("%4.0f %9s %9s %9s %2.0f/%-2.0f %7s %-18.18s ", o->cur[CM_F_OCC], s1, s2, s3,
               o->cur[CM_F_SENDW], o->cur[CM_F_RECVW], lag, fail);
        spark(o);
        if (o->cur[CM_F_CLOSED] > 0)
            printw(" closed");
        attroff(A_BOLD);
        row++;
    }
    if (n == 0)
        mvprintw(row++, 0, "(no registered channels%s%s)", u->filter[0] ? " matching " : "",
                 u->filter);
    free(list);
    return row;
}

static int draw_others(struct ui *u, int row)
{
    row++;
    attron(A_REVERSE);
    mvprintw(row++, 0, "%-20s %5s %-10s %-24s", "OBJECT", "ID", "TYPE", "STATE");
    attroff(A_REVERSE);
    for (size_t i = 0; i < u->m->n && row < LINES - 2; i++) {
        const struct cm_obj *o = &u->m->v[i];
        char a[16];
        if (strcmp(o->type, "bus") == 0) {
            si(a, sizeof(a), cm_rate(o, CM_F_PUB));
            mvprintw(row++, 0, "%-20.20s %5llu %-10s published %s/s, %.0f subscribers, lag %.1f/s",
                     o->name, (unsigned long long)o->id, "bus", a, o->cur[CM_F_SUBS],
                     cm_rate(o, CM_F_LAG));
        } else if (strcmp(o->type, "sched") == 0) {
            mvprintw(row++, 0, "%-20.20s %5llu %-10s %.0f workers, %.0f live tasks", o->name,
                     (unsigned long long)o->id, "sched", o->cur[CM_F_WORKERS], o->cur[CM_F_LIVE]);
        } else if (strcmp(o->type, "arena") == 0) {
            mvprintw(row++, 0, "%-20.20s %5llu %-10s %.0f/%.0f pages, %.0f tickets", o->name,
                     (unsigned long long)o->id, "arena", o->cur[CM_F_PUSED], o->cur[CM_F_PAGES],
                     o->cur[CM_F_TICKETS]);
        } else if (strcmp(o->type, "conn") == 0) {
            static const char *const states[] = {"open", "draining", "dead"};
            int st =
                o->cur[CM_F_CSTATE] >= 0 && o->cur[CM_F_CSTATE] <= 2 ? (int)o->cur[CM_F_CSTATE] : 2;
            char b[16];
            si(a, sizeof(a), cm_rate(o, CM_F_CSENT));
            si(b, sizeof(b), cm_rate(o, CM_F_CRECV));
            mvprintw(row++, 0, "%-20.20s %5llu %-10s %s, out %sB/s, in %sB/s, %.0f RPCs waiting",
                     o->name, (unsigned long long)o->id, "conn", states[st], a, b,
                     o->cur[CM_F_COUT]);
        } else if (strcmp(o->type, "remote_chan") == 0) {
            static const char *const states[] = {"opening", "open", "dead"};
            double st = o->cur[CM_F_CSTATE];
            char b[16];
            si(a, sizeof(a), cm_rate(o, CM_F_RSENT));
            si(b, sizeof(b), cm_rate(o, CM_F_RRECV));
            mvprintw(row++, 0,
                     "%-20.20s %5llu %-10s %s \"%.16s\" %s, %s, out %s/s, in %s/s, inbox %.0f",
                     o->name, (unsigned long long)o->id, "remote", o->role, o->remote, o->peer,
                     states[st >= 0 && st <= 2 ? (int)st : 2], a, b, o->cur[CM_F_RINBOX]);
        } else if (strcmp(o->type, "chan") != 0) {
            mvprintw(row++, 0, "%-20.20s %5llu %-10s", o->name, (unsigned long long)o->id, o->type);
        }
    }
    return row;
}

/* The allocation table of the selected arena, summarised from its JSON. */
static void draw_table(const char *json, int row)
{
    int slabs = 0, runs = 0, free_ = 0;
    const char *pages = strstr(json, "\"pages\":[");
    const char *pend = pages != NULL ? strchr(pages, ']') : NULL;
    for (const char *p = pages; p != NULL && (p = strstr(p, "\"kind\":\"")) != NULL && p < pend;
         p++) {
        p += 8;
        slabs += strncmp(p, "slab", 4) == 0;
        runs += strncmp(p, "run", 3) == 0;
        free_ += strncmp(p, "free", 4) == 0;
    }
    mvprintw(row++, 0, "page runs: %d slab, %d run, %d free", slabs, runs, free_);
    attron(A_REVERSE);
    mvprintw(row++, 0, "%-8s %-10s %-5s %-10s %-6s", "TICKET", "GEN", "REFS", "LEN", "WHERE");
    attroff(A_REVERSE);
    const char *t = strstr(json, "\"tickets\":[");
    for (const char *p = t; p != NULL && row < LINES - 2; row++) {
        p = strstr(p, "{\"index\":");
        if (p == NULL)
            break;
        const char *end = strchr(p, '}');
        if (end == NULL)
            break;
        char obj[256];
        size_t n = (size_t)(end - p) < sizeof(obj) - 1 ? (size_t)(end - p) : sizeof(obj) - 1;
        memcpy(obj, p, n);
        obj[n] = '\0';
        double idx = 0, gen = 0, refs = 0, len = 0, page = -1;
        cm_json_num(obj, "index", &idx);
        cm_json_num(obj, "gen", &gen);
        cm_json_num(obj, "refs", &refs);
        cm_json_num(obj, "len", &len);
        bool region = !cm_json_num(obj, "page", &page);
        mvprintw(row, 0, "%-8.0f %-10.0f %-5.0f %-10.0f %s", idx, gen, refs, len,
                 region ? "region" : "page");
        if (!region)
            printw(" %.0f", page);
        p = end;
    }
}

static void draw_arenas(struct ui *u, int row)
{
    attron(A_REVERSE);
    mvprintw(row++, 0, "%-20s %5s %-24s %9s %12s %6s", "ARENA", "ID", "PAGES USED", "TICKETS",
             "LIVE BYTES", "FRAG");
    attroff(A_REVERSE);
    int k = 0;
    for (size_t i = 0; i < u->m->n && row < LINES - 4; i++) {
        const struct cm_obj *o = &u->m->v[i];
        if (strcmp(o->type, "arena") != 0)
            continue;
        if (k == u->sel)
            attron(A_BOLD);
        mvprintw(row, 0, "%-20.20s %5llu ", o->name, (unsigned long long)o->id);
        bar(o->cur[CM_F_PAGES] > 0 ? o->cur[CM_F_PUSED] / o->cur[CM_F_PAGES] : 0, 10);
        printw(" %5.0f/%-6.0f %9.0f %12.0f %5.1f%%", o->cur[CM_F_PUSED], o->cur[CM_F_PAGES],
               o->cur[CM_F_TICKETS], o->cur[CM_F_LBYTES], o->cur[CM_F_FRAG] * 100);
        attroff(A_BOLD);
        row++;
        k++;
    }
    if (k == 0)
        mvprintw(row++, 0, "(no registered arenas)");
    if (u->table != NULL)
        draw_table(u->table, row + 1);
}

static void draw(struct ui *u)
{
    erase();
    mvprintw(0, 0, "kcoro-chanmon  %zu objects  sort: %s%s  filter: %s  %s", u->m->n,
             sort_names[u->sort], u->reverse ? " (reversed)" : "", u->filter[0] ? u->filter : "-",
             u->frozen ? "[FROZEN]" : "");
    if (u->arenas)
        draw_arenas(u, 2);
    else
        draw_others(u, draw_channels(u, 2));
    mvprintw(LINES - 1, 0,
             "s sort  r reverse  / filter  space freeze  a %s  up/down select  q quit",
             u->arenas ? "channels" : "arenas");
    refresh();
}

static void read_filter(struct ui *u)
{
    echo();
    curs_set(1);
    nodelay(stdscr, FALSE);
    mvprintw(LINES - 1, 0, "filter (name contains, empty for all): ");
    clrtoeol();
    getnstr(u->filter, sizeof(u->filter) - 1);
    noecho();
    curs_set(0);
    nodelay(stdscr, TRUE);
}

/* The id of the selected arena, or 0. */
static uint64_t selected_arena(const struct ui *u)
{
    int k = 0;
    for (size_t i = 0; i < u->m->n; i++)
        if (strcmp(u->m->v[i].type, "arena") == 0 && k++ == u->sel)
            return u->m->v[i].id;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cm_ui_run(int fd, struct cm_model *m, int interval_ms)
{
    struct ui u = {.m = m, .fd = fd};
    char *buf = NULL;
    if (cm_request(fd, "snapshot", &buf) != 0)
        return 1;
    cm_update(m, buf);
    free(buf);
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(50);
    int64_t next = now_ms() + interval_ms;
    int rc = 0;
    draw(&u);
    for (;;) {
        int ch = getch();
        bool dirty = ch != ERR;
        if (ch == 'q' || ch == 'Q')
            break;
        switch (ch) {
        case 's':
            u.sort = (u.sort + 1) % NSORT;
            break;
        case 'r':
            u.reverse = !u.reverse;
            break;
        case ' ':
            u.frozen = !u.frozen;
            break;
        case '/':
            read_filter(&u);
            break;
        case 'a':
            u.arenas = !u.arenas;
            u.sel = 0;
            free(u.table);
            u.table = NULL;
            break;
        case KEY_UP:
            u.sel = u.sel > 0 ? u.sel - 1 : 0;
            break;
        case KEY_DOWN:
            u.sel++;
            break;
        case '\n':
        case KEY_ENTER:
            if (u.arenas && selected_arena(&u) != 0) {
                char cmd[48];
                snprintf(cmd, sizeof(cmd), "arena %llu", (unsigned long long)selected_arena(&u));
                free(u.table);
                u.table = NULL;
                if (cm_request(fd, cmd, &u.table) != 0)
                    u.table = NULL;
            }
            break;
        default:
            break;
        }
        if (now_ms() >= next) {
            next = now_ms() + interval_ms;
            if (!u.frozen) {
                if (cm_request(fd, "snapshot", &buf) != 0) {
                    rc = 1;
                    break;
                }
                cm_update(m, buf);
                free(buf);
                dirty = true;
            }
        }
        if (dirty)
            draw(&u);
    }
    endwin();
    free(u.table);
    if (rc != 0)
        fprintf(stderr, "kcoro-chanmon: the monitor went away\n");
    return rc;
}
