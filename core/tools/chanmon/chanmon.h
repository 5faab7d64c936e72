/* chanmon.h - kcoro-chanmon's model: objects, rates and history, shared by its files.
 *
 * kcoro-chanmon attaches to a program's monitor socket (kcoro/monitor.h),
 * asks for an NDJSON snapshot every interval and keeps, per object id, the
 * last two snapshots (for rates) and a short history of rates (for the
 * sparklines). chanmon.c owns the connection, the parser and the headless
 * modes; chanmon_ui.c the ncurses view.
 */
#ifndef KCORO_CHANMON_H
#define KCORO_CHANMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Samples of history a sparkline shows. */
#define CM_HIST 24

/* Failure codes, in the snapshot's order. */
#define CM_NCODES 8
extern const char *const cm_codes[CM_NCODES];

/* One object (channel, bus, arena, scheduler, other) across snapshots. */
struct cm_obj {
    char type[16];
    uint64_t id;
    char name[64];
    char kind[16];   /* channel kind */
    char role[12];   /* remote channel: imported or exported */
    char remote[72]; /* remote channel: its name on the wire */
    char peer[40];   /* remote channel: its connection's name */
    uint64_t t, t0;  /* this and the previous snapshot's time (ns) */
    double cur[40];  /* counters of this snapshot, by CM_F_* */
    double prev[40]; /* and of the previous one */
    bool has_prev;
    bool seen;            /* present in the latest snapshot */
    double hist[CM_HIST]; /* receive (or publish) rates, oldest first */
    int nhist;
};

/* Counter slots of cm_obj.cur. */
enum {
    CM_F_SENDS,
    CM_F_RECVS,
    CM_F_BYTES,
    CM_F_OCC,
    CM_F_CAP,
    CM_F_SENDW,
    CM_F_RECVW,
    CM_F_FAIL,
    CM_F_DROPS,
    CM_F_CODE0, /* CM_NCODES slots: failures by code */
    CM_F_PUB = CM_F_CODE0 + CM_NCODES,
    CM_F_LAG,
    CM_F_SUBS,
    CM_F_PAGES,
    CM_F_PUSED,
    CM_F_TICKETS,
    CM_F_LBYTES,
    CM_F_FRAG,
    CM_F_LIVE,
    CM_F_WORKERS,
    CM_F_CLOSED,
    CM_F_CSENT,  /* connection: bytes sent */
    CM_F_CRECV,  /* connection: bytes received */
    CM_F_COUT,   /* connection: RPCs outstanding */
    CM_F_CSTATE, /* connection: 0 open, 1 draining, 2 dead; remote channel: 0 opening,
                    1 open, 2 dead */
    CM_F_RSENT,  /* remote channel: elements sent to the peer */
    CM_F_RRECV,  /* remote channel: elements received from the peer */
    CM_F_RINBOX, /* remote channel: elements received, not yet taken */
    CM_NF
};
_Static_assert(CM_NF <= 40, "cm_obj.cur holds every slot");

struct cm_model {
    struct cm_obj *v;
    size_t n, cap;
    uint64_t snapshots;
};

/* Rate of slot f of o per second (0 without two snapshots). */
double cm_rate(const struct cm_obj *o, int f);

/* Open a connection to "unix:/path", "tcp:HOST:PORT" or a bare path.
 * Returns the fd or -1 (message on stderr). */
int cm_connect(const char *addr);

/* Send a command line and read the reply up to its end line into *buf
 * (GIVES, malloc'd). Returns 0 or -1. */
int cm_request(int fd, const char *cmd, char **buf);

/* Fold one NDJSON snapshot into the model. */
void cm_update(struct cm_model *m, const char *ndjson);

/* The ncurses view; returns the exit status. */
int cm_ui_run(int fd, struct cm_model *m, int interval_ms);

/* Numbers and strings of a flat JSON object: the value after "key":. */
bool cm_json_num(const char *obj, const char *key, double *out);
bool cm_json_str(const char *obj, const char *key, char *out, size_t cap);

#endif /* KCORO_CHANMON_H */
