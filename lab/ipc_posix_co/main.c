/* main.c - the ipc_posix_co explorer: frames over the transport vtable.
 *
 *   ipc_posix_co frames [--url URL] [--n N] [--size BYTES] [--json]
 *
 * Runs a server and a client coroutine on one scheduler; the client sends N
 * frames of SIZE bytes and the server echoes each one. Prints the round
 * trips, the time per round trip and the listener's counters.
 */
#include "kcoro/sched.h"
#include "kcoro/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int64_t SEC = 1000000000;

struct run {
    char url[108];
    long n;
    size_t size;
    bool json;
    int rc_srv, rc_cli;
    long done;
    kc_transport_stats_t st;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static int server(void *arg)
{
    struct run *r = arg;
    kc_transport_t *l = NULL, *s = NULL;
    int rc = kc_transport_listen(r->url, NULL, &l);
    if (rc == 0)
        rc = kc_transport_accept(l, &s, NULL, 10 * SEC, NULL);
    for (long i = 0; rc == 0 && i < r->n; i++) {
        kc_frame_hdr_t h;
        void *p = NULL;
        rc = kc_transport_recv_frame(s, &h, &p, KC_FRAME_MAX_MAX, 10 * SEC, NULL);
        if (rc == 0) {
            struct iovec v = {p, h.len};
            rc = kc_transport_send_frame(s, &h, &v, 1, 10 * SEC, NULL);
        }
        free(p);
    }
    r->st.size = sizeof r->st;
    if (l)
        kc_transport_stats(l, &r->st);
    kc_transport_close(s);
    kc_transport_close(l);
    r->rc_srv = rc;
    return 0;
}

static int client(void *arg)
{
    struct run *r = arg;
    kc_transport_t *c = NULL;
    int rc;
    for (int tries = 0;
         (rc = kc_transport_connect(r->url, NULL, &c, SEC, NULL)) == -ECONNREFUSED && tries < 10000;
         tries++)
        kc_sched_yield();
    uint8_t *b = calloc(1, r->size ? r->size : 1);
    for (long i = 0; rc == 0 && i < r->n; i++) {
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)r->size};
        struct iovec v = {b, r->size};
        void *p = NULL;
        rc = kc_transport_send_frame(c, &h, &v, 1, 10 * SEC, NULL);
        if (rc == 0)
            rc = kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, 10 * SEC, NULL);
        if (rc == 0 && h.id != (uint32_t)i)
            rc = -EPROTO;
        free(p);
        r->done += rc == 0;
    }
    free(b);
    kc_transport_close(c);
    r->rc_cli = rc;
    return 0;
}

static void usage(void)
{
    puts("usage: ipc_posix_co frames [--url URL] [--n N] [--size BYTES] [--json]\n"
         "  frames   a server and a client coroutine echo N frames over URL\n"
         "           (unix:/path, unix:@name, mem:name; default a unix socket in /tmp)");
}

int main(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.n = 10000;
    r.size = 64;
    snprintf(r.url, sizeof r.url, "unix:/tmp/kc-ipc-explorer-%d", (int)getpid());
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "frames") != 0) {
        usage();
        return argc < 2 || strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            r.json = true;
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            snprintf(r.url, sizeof r.url, "%s", argv[++i]);
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            r.n = atol(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            r.size = (size_t)atol(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (r.size > KC_FRAME_MAX_MAX || r.n < 1) {
        fprintf(stderr, "ipc_posix_co: --size at most %u, --n at least 1\n", KC_FRAME_MAX_MAX);
        return 2;
    }
    kc_sched_t *s;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    kc_task_t *a, *b;
    int64_t t0 = now_ns();
    kc_sched_spawn(s, &a, server, &r, NULL);
    kc_sched_spawn(s, &b, client, &r, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    double us = (double)(now_ns() - t0) / 1e3 / (double)(r.done ? r.done : 1);
    kc_sched_destroy(s);
    if (r.json)
        printf("{\"scenario\":\"frames\",\"url\":\"%s\",\"n\":%ld,\"size\":%zu,\"done\":%ld,"
               "\"us_per_rtt\":%.2f,\"server\":\"%s\",\"client\":\"%s\",\"accepted\":%llu}\n",
               r.url, r.n, r.size, r.done, us, kc_errname(r.rc_srv), kc_errname(r.rc_cli),
               (unsigned long long)r.st.accepted);
    else
        printf("frames over %s: %ld/%ld round trips of %zu bytes, %.2f us each\n"
               "  server %s, client %s; listener accepted %llu, refused %llu\n",
               r.url, r.done, r.n, r.size, us, kc_errname(r.rc_srv), kc_errname(r.rc_cli),
               (unsigned long long)r.st.accepted,
               (unsigned long long)(r.st.refused_cred + r.st.refused_limit));
    return r.rc_srv == 0 && r.rc_cli == 0 ? 0 : 1;
}
