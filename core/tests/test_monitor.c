/* test_monitor.c - the exporter (kcoro/monitor.h): rendering, the line protocol, HTTP.
 *
 * Renders the registry as NDJSON and Prometheus text and checks every
 * object and family; then serves it on a UNIX socket (line commands:
 * snapshot, stream, tasks, arena, metrics, an unknown one) and on a
 * loopback TCP port (HTTP GET /metrics, 404, 405), checks the refusals
 * (bad URL, public address, a live socket path) and that a scheduler with
 * a monitor still shuts down gracefully. The test's side of each socket is
 * a plain blocking thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kcoro.h"
#include "kc_test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

struct fixture {
    kc_sched_t *s;
    kc_chan_t *ch, *quiet;
    kc_bus_t *bus;
    kc_bus_pub_t *pub;
    kc_arena_t *arena;
    kc_registry_node_t *conn;
    uint64_t frames;
};

static int conn_metrics(void *object, kc_registry_emit_fn emit, void *ctx)
{
    emit(ctx, "frames_sent", KC_REGISTRY_COUNTER, (double)*(uint64_t *)object, "Frames written.");
    return 0;
}

static const kc_registry_ops_t conn_ops = {sizeof(kc_registry_ops_t), conn_metrics, NULL};

static int setup(void **state)
{
    kc_registry_configure("none");
    struct fixture *fx = calloc(1, sizeof(*fx));
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    so.flags = KC_SCHED_REGISTER;
    so.name = "mon-sched";
    assert_int_equal(kc_sched_create(&fx->s, &so), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 8;
    o.elem_size = 16;
    o.name = "orders \"eu\"";
    o.flags = KC_CHAN_REGISTER;
    assert_int_equal(kc_chan_create(&fx->ch, &o), 0);
    char msg[16] = "x";
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_chan_send(fx->ch, msg, 0, NULL), 0);
    assert_int_equal(kc_chan_recv(fx->ch, msg, 0, NULL), 0);
    assert_int_equal(kc_chan_try_recv(fx->ch, msg), 0);
    for (int i = 0; i < 4; i++)
        kc_chan_try_recv(fx->ch, msg); /* one succeeds, three fail with -EAGAIN */
    o.name = "quiet";
    o.flags = 0;
    assert_int_equal(kc_chan_create(&fx->quiet, &o), 0);
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = 8, .capacity = 16};
    bo.flags = KC_BUS_REGISTER;
    bo.name = "ticks";
    assert_int_equal(kc_bus_create(&bo, &fx->bus, &fx->pub), 0);
    uint64_t m = 1;
    kc_bus_publish(fx->pub, &m, sizeof(m));
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 1 << 20;
    ao.name = "blobs";
    ao.flags = KC_ARENA_REGISTER;
    assert_int_equal(kc_arena_create(&fx->arena, &ao), 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_alloc(fx->arena, 100, &t, NULL), 0);
    fx->frames = 42;
    assert_int_equal(
        kc_registry_add(KC_REGISTRY_CONN, &fx->frames, 0, "peer", &conn_ops, &fx->conn), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    kc_registry_remove(fx->conn);
    kc_chan_destroy(fx->ch);
    kc_chan_destroy(fx->quiet);
    kc_bus_pub_release(fx->pub);
    kc_bus_release(fx->bus);
    kc_arena_destroy(fx->arena);
    kc_sched_destroy(fx->s);
    free(fx);
    return 0;
}

static char *render(kc_monitor_format_t fmt, int *n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *n = kc_monitor_render(f, fmt);
    fclose(f);
    return buf;
}

static void test_monitor_renders_ndjson_for_every_registered_object(void **state)
{
    struct fixture *fx = *state;
    int n;
    char *s = render(KC_MONITOR_NDJSON, &n);
    assert_int_equal(n, 5); /* sched, channel, bus, arena, conn; not "quiet" */
    char want[256];
    snprintf(want, sizeof(want),
             "{\"type\":\"chan\",\"id\":%llu,\"name\":\"orders \\\"eu\\\"\",\"t\":",
             (unsigned long long)kc_chan_id(fx->ch));
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "\"kind\":\"BUFFERED\",\"policy\":\"SUSPEND\",\"capacity\":8,"
                              "\"elem_size\":16,\"occupancy\":0,\"sends\":3,\"receives\":3,"
                              "\"bytes_sent\":48,\"bytes_received\":48"));
    assert_non_null(strstr(s, "\"failures_total\":3,\"failures\":{\"eagain\":3,"));
    assert_non_null(strstr(s, "{\"type\":\"sched\",\"id\":"));
    assert_non_null(strstr(s, "\"name\":\"mon-sched\""));
    assert_non_null(strstr(s, "{\"type\":\"bus\""));
    assert_non_null(strstr(s, "\"name\":\"ticks\",\"t\":"));
    assert_non_null(strstr(s, "\"published\":1,"));
    assert_non_null(strstr(s, "\"name\":\"blobs\""));
    assert_non_null(strstr(s, "\"live_tickets\":1,"));
    assert_non_null(strstr(s, "\"name\":\"peer\",\"t\":"));
    assert_non_null(strstr(s, "\"metrics\":{\"frames_sent\":42}"));
    assert_null(strstr(s, "quiet"));
    assert_non_null(strstr(s, "{\"type\":\"end\",\"t\":"));
    assert_non_null(strstr(s, "\"objects\":5}\n"));
    int lines = 0;
    for (char *p = s; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 6);
    free(s);
    assert_int_equal(kc_monitor_render(NULL, KC_MONITOR_NDJSON), -EINVAL);
    assert_int_equal(kc_monitor_render(stdout, (kc_monitor_format_t)9), -EINVAL);
}

static int remote_labels(void *object, kc_registry_label_fn emit, void *ctx)
{
    (void)object;
    emit(ctx, "role", "imported");
    emit(ctx, "conn", "to tcp:10.0.0.1:7000 \"x\"");
    emit(ctx, "name", "DROPPED: every sample has a name");
    emit(ctx, "id", "DROPPED");
    emit(ctx, "bad-key", "DROPPED: not a label name");
    emit(ctx, "9lives", "DROPPED");
    emit(ctx, "__reserved", "DROPPED");
    emit(ctx, "role", "DROPPED: the first value wins");
    for (int i = 0; i < 10; i++) /* 6 more fit, up to KC_REGISTRY_LABELS_MAX */
        emit(ctx, (const char *[]){"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"}[i],
             "v");
    return 0;
}

static const kc_registry_ops_t remote_ops = {sizeof(kc_registry_ops_t), conn_metrics,
                                             remote_labels};

static void test_monitor_adds_an_objects_labels_to_ndjson_and_every_sample(void **state)
{
    struct fixture *fx = *state;
    kc_registry_node_t *node;
    assert_int_equal(
        kc_registry_add(KC_REGISTRY_REMOTE_CHAN, &fx->frames, 0, "orders-in", &remote_ops, &node),
        0);
    int n;
    char *s = render(KC_MONITOR_NDJSON, &n);
    assert_int_equal(n, 6);
    char want[512];
    snprintf(want, sizeof(want),
             "{\"type\":\"remote_chan\",\"id\":%llu,\"name\":\"orders-in\",\"t\":",
             (unsigned long long)kc_registry_node_id(node));
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, ",\"labels\":{\"role\":\"imported\",\"conn\":\"to tcp:10.0.0.1:7000 "
                              "\\\"x\\\"\",\"l0\":\"v\",\"l1\":\"v\",\"l2\":\"v\",\"l3\":\"v\","
                              "\"l4\":\"v\",\"l5\":\"v\"},\"metrics\":{\"frames_sent\":42}}\n"));
    assert_null(strstr(s, "DROPPED"));
    assert_null(strstr(s, "\"l6\""));
    free(s);
    s = render(KC_MONITOR_PROMETHEUS, &n);
    assert_int_equal(n, 6);
    snprintf(want, sizeof(want),
             "kcoro_remote_chan_frames_sent_total{name=\"orders-in\",id=\"%llu\",role=\"imported\","
             "conn=\"to tcp:10.0.0.1:7000 \\\"x\\\"\",l0=\"v\",l1=\"v\",l2=\"v\",l3=\"v\",l4=\"v\","
             "l5=\"v\"} 42\n",
             (unsigned long long)kc_registry_node_id(node));
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "# TYPE kcoro_remote_chan_frames_sent_total counter\n"));
    assert_null(strstr(s, "DROPPED"));
    free(s);
    kc_registry_remove(node);
}

static void test_monitor_renders_prometheus_families_once_with_help_and_type(void **state)
{
    struct fixture *fx = *state;
    int n;
    char *s = render(KC_MONITOR_PROMETHEUS, &n);
    assert_int_equal(n, 5);
    char want[256];
    snprintf(want, sizeof(want),
             "kcoro_chan_sends_total{name=\"orders \\\"eu\\\"\",id=\"%llu\"} 3\n",
             (unsigned long long)kc_chan_id(fx->ch));
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "# HELP kcoro_chan_sends_total Successful channel sends.\n"
                              "# TYPE kcoro_chan_sends_total counter\n"));
    snprintf(
        want, sizeof(want),
        "kcoro_chan_failures_total{name=\"orders \\\"eu\\\"\",id=\"%llu\",code=\"eagain\"} 3\n",
        (unsigned long long)kc_chan_id(fx->ch));
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "# TYPE kcoro_chan_occupancy gauge\n"));
    assert_non_null(strstr(s, "# TYPE kcoro_sched_tasks_spawned_total counter\n"));
    assert_non_null(strstr(s, "# TYPE kcoro_bus_published_total counter\n"));
    assert_non_null(strstr(s, "# TYPE kcoro_arena_live_tickets gauge\n"));
    assert_non_null(strstr(s, "# TYPE kcoro_conn_frames_sent_total counter\n"));
    assert_non_null(strstr(s, "kcoro_conn_frames_sent_total{name=\"peer\",id=\""));
    /* each family is announced once */
    const char *p = s;
    int types = 0;
    while ((p = strstr(p, "# TYPE kcoro_chan_sends_total ")) != NULL) {
        types++;
        p++;
    }
    assert_int_equal(types, 1);
    free(s);
}

/* ---- the server, from the test's side */

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {10, 0}; /* bounded reads */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Read until the text ends with `end` (or the peer closes); GIVES. */
static char *read_until(int fd, const char *end)
{
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            b = realloc(b, cap *= 2);
        ssize_t r = read(fd, b + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
        b[len] = '\0';
        if (end != NULL && len >= strlen(end) && strstr(b, end) != NULL)
            break;
    }
    b[len] = '\0';
    return b;
}

static void say(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_monitor_serves_the_line_protocol_on_a_unix_socket(void **state)
{
    struct fixture *fx = *state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/kcoro-mon-%d.sock", (int)getpid());
    kc_monitor_t *m = NULL;
    char url[80];
    snprintf(url, sizeof(url), "unix:%s", path);
    assert_int_equal(kc_monitor_start(fx->s, url, NULL, &m), 0);
    char addr[128];
    assert_int_equal(kc_monitor_address(m, addr, sizeof(addr)), (int)strlen(url));
    assert_string_equal(addr, url);
    /* a second monitor on a live path is refused */
    kc_monitor_t *m2 = NULL;
    assert_int_equal(kc_monitor_start(fx->s, url, NULL, &m2), -EADDRINUSE);
    int fd = connect_unix(path);
    say(fd, "snapshot\n");
    char *r = read_until(fd, "\"objects\":5}\n");
    assert_non_null(strstr(r, "\"name\":\"ticks\""));
    assert_non_null(strstr(r, "\"type\":\"end\""));
    free(r);
    say(fd, "tasks\n");
    r = read_until(fd, "\"type\":\"end\"");
    assert_non_null(strstr(r, "{\"type\":\"tasks\",\"sched\":\"mon-sched\""));
    assert_non_null(strstr(r, "\"name\":\"kc-monitor\""));
    assert_non_null(strstr(r, "\"kind\":\"fd\""));
    free(r);
    kc_arena_metrics_t am = {.size = sizeof(am)};
    kc_arena_metrics(fx->arena, &am);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "arena %llu\n", (unsigned long long)am.id);
    say(fd, cmd);
    r = read_until(fd, "\"type\":\"end\"");
    assert_non_null(strstr(r, "\"blobs\""));
    assert_non_null(strstr(r, "\"objects\":1}"));
    free(r);
    say(fd, "arena 999999\n");
    r = read_until(fd, "\"type\":\"end\"");
    assert_non_null(strstr(r, "no arena with id 999999"));
    free(r);
    say(fd, "metrics\n");
    r = read_until(fd, "# EOF\n");
    assert_non_null(strstr(r, "# TYPE kcoro_chan_receives_total counter"));
    assert_non_null(strstr(r, "# TYPE kcoro_monitor_request_duration_seconds histogram"));
    assert_non_null(strstr(r, "kcoro_monitor_request_duration_seconds_bucket{le=\"+Inf\"}"));
    free(r);
    say(fd, "bogus\n");
    r = read_until(fd, "\n");
    assert_non_null(strstr(r, "\"type\":\"error\""));
    free(r);
    close(fd);
    /* stream: three snapshots, then the client goes away */
    fd = connect_unix(path);
    say(fd, "stream 10\n");
    int ends = 0;
    char *acc = NULL;
    for (int i = 0; i < 100 && ends < 3; i++) {
        free(acc);
        acc = read_until(fd, "\"objects\":5}\n");
        for (const char *p = acc; (p = strstr(p, "\"type\":\"end\"")) != NULL; p++)
            ends++;
    }
    free(acc);
    assert_true(ends >= 3);
    close(fd);
    assert_int_equal(kc_monitor_stop(m), 0);
    assert_int_equal(access(path, F_OK), -1); /* the socket file is gone */
    /* a stale socket file (no server) is replaced */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    assert_int_equal(kc_monitor_start(fx->s, url, NULL, &m), 0);
    assert_int_equal(kc_monitor_stop(m), 0);
    assert_int_equal(kc_monitor_stop(NULL), 0);
}

static int connect_tcp(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void test_monitor_serves_http_metrics_on_loopback_tcp(void **state)
{
    struct fixture *fx = *state;
    kc_monitor_t *m = NULL;
    assert_int_equal(kc_monitor_start(fx->s, "tcp:127.0.0.1:0", NULL, &m), 0);
    char addr[128];
    kc_monitor_address(m, addr, sizeof(addr));
    assert_non_null(strstr(addr, "tcp:127.0.0.1:"));
    assert_true(atoi(strrchr(addr, ':') + 1) > 0);
    int fd = connect_tcp(addr);
    say(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n");
    char *r = read_until(fd, NULL); /* Connection: close */
    close(fd);
    assert_int_equal(strncmp(r, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    char *body = strstr(r, "\r\n\r\n");
    assert_non_null(body);
    long clen = atol(strstr(r, "Content-Length: ") + 16);
    assert_int_equal((long)strlen(body + 4), clen);
    assert_non_null(strstr(body, "kcoro_chan_sends_total{name="));
    free(r);
    fd = connect_tcp(addr);
    say(fd, "GET /nope HTTP/1.1\r\n\r\n");
    r = read_until(fd, NULL);
    close(fd);
    assert_int_equal(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24), 0);
    free(r);
    fd = connect_tcp(addr);
    say(fd, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    r = read_until(fd, NULL);
    close(fd);
    assert_int_equal(strncmp(r, "HTTP/1.1 405", 12), 0);
    free(r);
    /* The accept loop spawns the connection's server and only then goes
     * back to waiting on its socket, so on a busy host the first dump can
     * catch it between the two: ask again until it shows it waiting. */
    int seen_waiting = 0;
    for (int attempt = 0; attempt < 200 && !seen_waiting; attempt++) {
        fd = connect_tcp(addr);
        say(fd, "GET /tasks HTTP/1.1\r\n\r\n");
        r = read_until(fd, NULL);
        close(fd);
        assert_non_null(strstr(r, "kcoro sched "));
        assert_non_null(strstr(r, "\"kc-monitor\" ["));
        seen_waiting = strstr(r, "\"kc-monitor\" [waiting: fd ") != NULL;
        free(r);
        if (!seen_waiting)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    assert_true(seen_waiting);
    assert_int_equal(kc_monitor_stop(m), 0);
}

static void test_monitor_refuses_bad_urls_and_public_addresses(void **state)
{
    struct fixture *fx = *state;
    kc_monitor_t *m = NULL;
    assert_int_equal(kc_monitor_start(fx->s, "udp:1.2.3.4:5", NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(fx->s, "tcp:127.0.0.1", NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(fx->s, "tcp:127.0.0.1:99999", NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(fx->s, "tcp:localhost:80", NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(fx->s, "tcp:0.0.0.0:0", NULL, &m), -EPERM);
    assert_int_equal(kc_monitor_start(fx->s, "unix:", NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(fx->s, NULL, NULL, &m), -EINVAL);
    assert_int_equal(kc_monitor_start(NULL, "unix:/tmp/x", NULL, &m), -EPERM);
    kc_monitor_opts_t o = KC_MONITOR_OPTS_INIT;
    o.flags = 16;
    assert_int_equal(kc_monitor_start(fx->s, "tcp:127.0.0.1:0", &o, &m), -EINVAL);
    o.flags = KC_MONITOR_ANY_ADDR;
    assert_int_equal(kc_monitor_start(fx->s, "tcp:0.0.0.0:0", &o, &m), 0);
    assert_int_equal(kc_monitor_stop(m), 0);
    assert_int_equal(kc_monitor_address(NULL, NULL, 0), -EINVAL);
}

static void test_monitor_ends_with_a_graceful_shutdown_of_its_scheduler(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_monitor_t *m = NULL;
    assert_int_equal(kc_monitor_start(s, "tcp:127.0.0.1:0", NULL, &m), 0);
    char addr[128];
    kc_monitor_address(m, addr, sizeof(addr));
    int fd = connect_tcp(addr);       /* a client that stays connected */
    say(fd, "snap");                  /* half a command */
    for (int i = 0; i < 10000; i++) { /* until its coroutine reads it: bounded */
        char *d = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&d, &len);
        kc_sched_dump(s, f, KC_SCHED_DUMP_TEXT);
        fclose(f);
        bool seen = strstr(d, "\"kc-monitor-conn\" [waiting: fd") != NULL;
        free(d);
        if (seen)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(kc_sched_destroy(s), 0); /* does not wait for the monitor */
    assert_int_equal(kc_monitor_stop(m), 0);  /* after the scheduler: frees */
    /* The connection is gone: closed by its coroutine (EOF), or, when the
     * scheduler stopped before accepting it, reset with the listener. */
    char c;
    ssize_t r = read(fd, &c, 1);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_monitor_renders_ndjson_for_every_registered_object,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_monitor_renders_prometheus_families_once_with_help_and_type, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_monitor_adds_an_objects_labels_to_ndjson_and_every_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_serves_the_line_protocol_on_a_unix_socket,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_serves_http_metrics_on_loopback_tcp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_monitor_refuses_bad_urls_and_public_addresses, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_monitor_ends_with_a_graceful_shutdown_of_its_scheduler,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
