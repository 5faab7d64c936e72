/* test_sched_dump.c - the task dump (kc_sched_dump) and its signal.
 *
 * Tasks are put in every kind of wait the dump names (channel send and
 * receive, select, sleep, join, fd, parker) plus one running, and the text
 * and JSON dumps must show each with the right object; an unregistered
 * scheduler lists only tasks that waited; waiting time grows from the
 * first look; a scheduler's first dump names the channels of tasks that
 * parked before it (nothing noted them); KCORO_DUMP_SIGNAL=USR1 writes the dump from a helper thread
 * (checked in a re-executed child, since the handler is installed once per
 * process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kcoro.h"
#include "kc_test_util.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static kc_chan_t *chan(const char *name, size_t cap, bool reg)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = cap ? KC_CHAN_BUFFERED : KC_CHAN_RENDEZVOUS;
    o.capacity = cap;
    o.elem_size = sizeof(int);
    o.name = name;
    o.flags = reg ? KC_CHAN_REGISTER : 0;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

struct world {
    kc_chan_t *jobs, *out, *a, *b, *stop;
    int pipefd[2];
    kc_parker_t *parker;
    kc_task_t *sleeper_task;
    _Atomic int spinning, release_spin, parked;
    int rc[8];
};

static int receiver(void *arg)
{
    struct world *w = arg;
    int v;
    return kc_chan_recv(w->jobs, &v, KC_NO_TIMEOUT, NULL) == -EPIPE ? 0 : -1;
}

static int sender(void *arg)
{
    struct world *w = arg;
    int v = 2; /* out holds one: this one waits */
    return kc_chan_send(w->out, &v, KC_NO_TIMEOUT, NULL) == -EPIPE ? 0 : -1;
}

static int selector(void *arg)
{
    struct world *w = arg;
    int x, y;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(w->a, &x),
                              KC_CHAN_CLAUSE_RECV_INIT(w->b, &y)};
    int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL);
    return i >= 0 && cl[i].result == -EPIPE ? 0 : -1;
}

static int sleeper(void *arg)
{
    (void)arg;
    return kc_sched_sleep((int64_t)60 * 1000000000, NULL) == -ECANCELED ? 0 : -1;
}

static int joiner(void *arg)
{
    struct world *w = arg;
    return kc_sched_join(w->sleeper_task, NULL, KC_NO_TIMEOUT, NULL);
}

static int reader(void *arg)
{
    struct world *w = arg;
    char c;
    return kc_read(w->pipefd[0], &c, 1, KC_NO_TIMEOUT, NULL) == 1 ? 0 : -1;
}

static int parker_task(void *arg)
{
    struct world *w = arg;
    kc_parker_t p;
    kc_parker_init(&p);
    w->parker = &p;
    atomic_store(&w->parked, 1);
    return kc_park(&p, KC_NO_TIMEOUT, NULL);
}

static int spinner(void *arg)
{
    struct world *w = arg;
    atomic_store(&w->spinning, 1);
    while (!atomic_load(&w->release_spin))
        ;
    return 0;
}

/* Dump s into a string (GIVES: free it). */
static char *dump(kc_sched_t *s, kc_sched_dump_format_t fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(kc_sched_dump(s, f, fmt), 0);
    fclose(f);
    return buf;
}

/* Wait (bounded, 10 s) until a dump of s contains every needle. */
static char *dump_until(kc_sched_t *s, kc_sched_dump_format_t fmt, const char *const *needles,
                        int n)
{
    for (int round = 0; round < 10000; round++) {
        char *d = dump(s, fmt);
        int found = 0;
        for (int i = 0; i < n; i++)
            found += strstr(d, needles[i]) != NULL;
        if (found == n)
            return d;
        if (round == 9999)
            printf("dump never showed everything:\n%s\n", d);
        free(d);
        if (round == 9999)
            fail();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int until_stopped(void *arg);

/* A task that sleeps first (the sleep's note is the task's last) and then
 * waits on a channel. */
struct late {
    kc_chan_t *in, *out, *sel, *other;
    int kind; /* 0 recv in, 1 send out, 2 select over sel and other */
};

static int sleep_then_wait(void *arg)
{
    struct late *l = arg;
    if (kc_sched_sleep(1000000, NULL) != 0)
        return -1;
    int v = 7, x, y;
    if (l->kind == 0)
        return kc_chan_recv(l->in, &v, KC_NO_TIMEOUT, NULL) == -EPIPE ? 0 : -1;
    if (l->kind == 1)
        return kc_chan_send(l->out, &v, KC_NO_TIMEOUT, NULL) == -EPIPE ? 0 : -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(l->sel, &x),
                              KC_CHAN_CLAUSE_RECV_INIT(l->other, &y)};
    int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL);
    return i >= 0 && cl[i].result == -EPIPE ? 0 : -1;
}

static uint64_t waiting(const kc_chan_t *ch, bool send)
{
    kc_chan_snapshot_t sn;
    memset(&sn, 0, sizeof(sn));
    sn.size = sizeof(sn);
    assert_int_equal(kc_chan_snapshot(ch, &sn), 0);
    return send ? sn.send_waiting : sn.recv_waiting;
}

/* Nothing notes a wait before a scheduler's first dump (D4 of
 * kc_sched_dump.c): tasks that waited on channels before it are named from
 * the channels' queues, not from the sleep they noted last; once dumped, a
 * wait on an unlisted channel is noted. */
static void test_first_dump_names_channels_of_tasks_parked_before_it(void **state)
{
    (void)state;
    kc_registry_configure("none");
    kc_sched_t *s = kc_test_sched(1); /* unregistered: nothing else notes */
    struct late l[3];
    kc_chan_t *in = chan("early-in", 0, true), *out = chan("early-out", 1, true);
    kc_chan_t *sel = chan("early-sel", 0, true), *other = chan("other", 0, false);
    kc_chan_t *late = chan("late", 0, false);
    int one = 1;
    assert_int_equal(kc_chan_send(out, &one, 0, NULL), 0);
    kc_task_t *t[4];
    const char *names[3] = {"early-recv", "early-send", "early-select"};
    for (int i = 0; i < 3; i++) {
        l[i] = (struct late){in, out, sel, other, i};
        kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
        at.name = names[i];
        assert_int_equal(kc_sched_spawn(s, &t[i], sleep_then_wait, &l[i], &at), 0);
    }
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    KC_TEST_WAIT_FOR(waiting(in, false) == 1 && waiting(out, true) == 1 &&
                     waiting(sel, false) == 1 && waiting(other, false) == 1 &&
                     kc_sched_metrics(s, &m, NULL, 0) == 1 && m.idle_workers == 1);
    char *d = dump(s, KC_SCHED_DUMP_TEXT); /* the first: every task parked before it */
    char want[3][160];
    snprintf(want[0], sizeof(want[0]), "\"early-recv\" [waiting: chan recv \"early-in\" (#%llu)",
             (unsigned long long)kc_chan_id(in));
    snprintf(want[1], sizeof(want[1]), "\"early-send\" [waiting: chan send \"early-out\" (#%llu)",
             (unsigned long long)kc_chan_id(out));
    snprintf(want[2], sizeof(want[2]),
             "\"early-select\" [waiting: select of 2 clauses: recv \"early-sel\" (#%llu), recv an "
             "unregistered channel",
             (unsigned long long)kc_chan_id(sel));
    for (int i = 0; i < 3; i++)
        if (strstr(d, want[i]) == NULL) {
            printf("no '%s' in:\n%s\n", want[i], d);
            fail();
        }
    assert_null(strstr(d, "sleep"));
    assert_non_null(strstr(d, "3 live tasks, 3 listed"));
    free(d);
    /* dumped once: a wait begun now is noted, on an unlisted channel too */
    kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
    at.name = "late-recv";
    assert_int_equal(kc_sched_spawn(s, &t[3], until_stopped, late, &at), 0);
    const char *needle = "\"late-recv\" [waiting: chan recv an unregistered channel";
    d = dump_until(s, KC_SCHED_DUMP_TEXT, &needle, 1);
    free(d);
    kc_chan_close(in);
    kc_chan_close(out);
    kc_chan_close(sel);
    kc_chan_close(other);
    kc_chan_close(late);
    for (int i = 0; i < 4; i++) {
        int st = -1;
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    kc_chan_destroy(in);
    kc_chan_destroy(out);
    kc_chan_destroy(sel);
    kc_chan_destroy(other);
    kc_chan_destroy(late);
}

static void test_dump_names_every_kind_of_wait(void **state)
{
    (void)state;
    kc_registry_configure("none");
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    so.flags = KC_SCHED_REGISTER;
    so.name = "dumped";
    assert_int_equal(kc_sched_create(&s, &so), 0);
    struct world w;
    memset(&w, 0, sizeof(w));
    w.jobs = chan("jobs", 0, true);
    w.out = chan("out", 1, true);
    w.a = chan("left", 0, true);
    w.b = chan("right", 0, false); /* unregistered: named as such */
    int one = 1;
    assert_int_equal(kc_chan_send(w.out, &one, 0, NULL), 0);
    assert_int_equal(pipe(w.pipefd), 0);
    assert_int_equal(kc_io_set_nonblock(w.pipefd[0]), 0);
    kc_task_t *t[8];
    kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
    at.name = "recv-jobs";
    assert_int_equal(kc_sched_spawn(s, &t[0], receiver, &w, &at), 0);
    at.name = "send-out";
    assert_int_equal(kc_sched_spawn(s, &t[1], sender, &w, &at), 0);
    at.name = "select-lr";
    assert_int_equal(kc_sched_spawn(s, &t[2], selector, &w, &at), 0);
    at.name = "sleepy";
    assert_int_equal(kc_sched_spawn(s, &t[3], sleeper, &w, &at), 0);
    w.sleeper_task = t[3];
    at.name = "joining";
    assert_int_equal(kc_sched_spawn(s, &t[4], joiner, &w, &at), 0);
    at.name = "pipe-reader";
    assert_int_equal(kc_sched_spawn(s, &t[5], reader, &w, &at), 0);
    at.name = "parked";
    assert_int_equal(kc_sched_spawn(s, &t[6], parker_task, &w, &at), 0);
    char want[8][160];
    snprintf(want[0], sizeof(want[0]),
             "task %llu \"recv-jobs\" [waiting: chan recv \"jobs\" (#%llu)",
             (unsigned long long)kc_task_id(t[0]), (unsigned long long)kc_chan_id(w.jobs));
    snprintf(want[1], sizeof(want[1]), "\"send-out\" [waiting: chan send \"out\" (#%llu)",
             (unsigned long long)kc_chan_id(w.out));
    snprintf(want[2], sizeof(want[2]),
             "\"select-lr\" [waiting: select of 2 clauses: recv \"left\" (#%llu), recv an "
             "unregistered channel",
             (unsigned long long)kc_chan_id(w.a));
    snprintf(want[3], sizeof(want[3]), "\"sleepy\" [waiting: sleep, ");
    snprintf(want[4], sizeof(want[4]), "\"joining\" [waiting: join task %llu",
             (unsigned long long)kc_task_id(t[3]));
    snprintf(want[5], sizeof(want[5]), "\"pipe-reader\" [waiting: fd %d (in)", w.pipefd[0]);
    snprintf(want[6], sizeof(want[6]), "\"parked\" [waiting: park");
    const char *needles[8];
    for (int i = 0; i < 7; i++)
        needles[i] = want[i];
    char *d = dump_until(s, KC_SCHED_DUMP_TEXT, needles, 7);
    assert_non_null(strstr(d, "kcoro sched "));
    assert_non_null(strstr(d, "\"dumped\": 1 workers, 7 live tasks, 7 listed"));
    assert_null(strstr(d, "have not waited"));
    free(d);
    /* A running task, seen as such. */
    at.name = "busy";
    assert_int_equal(kc_sched_spawn(s, &t[7], spinner, &w, &at), 0);
    while (!atomic_load(&w.spinning)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    d = dump(s, KC_SCHED_DUMP_TEXT);
    assert_non_null(strstr(d, "\"busy\" [running on worker 0]"));
    assert_non_null(strstr(d, "8 live tasks, 8 listed"));
    free(d);
    /* JSON: the same facts, one line. */
    d = dump(s, KC_SCHED_DUMP_JSON);
    char jw[128];
    snprintf(jw, sizeof(jw), "\"wait\":{\"kind\":\"chan recv\",\"chan\":\"jobs\",\"chan_id\":%llu}",
             (unsigned long long)kc_chan_id(w.jobs));
    assert_non_null(strstr(d, jw));
    assert_non_null(strstr(d, "\"nclauses\":2,\"clauses\":[{\"op\":\"recv\",\"chan\":\"left\""));
    assert_non_null(strstr(d, "{\"op\":\"recv\",\"chan\":null}"));
    assert_non_null(strstr(d, "\"state\":\"running\",\"worker\":0"));
    assert_non_null(strstr(d, "\"sched\":\"dumped\""));
    assert_non_null(strstr(d, "\"live\":8,\"unlisted\":0"));
    assert_int_equal(strchr(d, '\n') - d + 1, (long)strlen(d)); /* one line */
    free(d);
    /* Stack use: a parked task's stack is in use and resident. */
    d = dump(s, KC_SCHED_DUMP_JSON);
    char *p = strstr(d, "\"name\":\"parked\"");
    assert_non_null(p);
    unsigned long long used = 0, res = 0, size = 0;
    assert_int_equal(sscanf(strstr(p, "\"stack_used\":"),
                            "\"stack_used\":%llu,\"stack_resident\":%llu,\"stack_size\":%llu",
                            &used, &res, &size),
                     3);
    assert_true(used > 0 && used < size);
    assert_true(res >= used && res <= size);
    free(d);
    /* Release everything; every task ends as its wait ends. */
    atomic_store(&w.release_spin, 1);
    kc_chan_close(w.jobs);
    kc_chan_close(w.out);
    kc_chan_close(w.a);
    kc_chan_close(w.b);
    assert_int_equal(write(w.pipefd[1], "x", 1), 1);
    kc_sched_cancel(t[3]);
    kc_unpark(w.parker);
    for (int i = 0; i < 8; i++) {
        int st = -99;
        if (i == 3)
            continue; /* "joining" joined it */
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    close(w.pipefd[0]);
    close(w.pipefd[1]);
    kc_chan_destroy(w.jobs);
    kc_chan_destroy(w.out);
    kc_chan_destroy(w.a);
    kc_chan_destroy(w.b);
    assert_int_equal(kc_sched_dump(NULL, stdout, KC_SCHED_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_sched_stamp_waits(NULL), -EINVAL);
}

static int until_stopped(void *arg)
{
    int v;
    return kc_chan_recv(arg, &v, KC_NO_TIMEOUT, NULL) == -EPIPE ? 0 : -1;
}

static int spin_until(void *arg)
{
    _Atomic int *flag = arg;
    while (!atomic_load(flag))
        kc_sched_yield();
    return 0;
}

static void test_dump_of_unregistered_sched_counts_tasks_that_never_waited(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_chan_t *stop = chan("stop", 0, true);
    kc_task_t *a, *b;
    _Atomic int flag = 0;
    assert_int_equal(kc_sched_spawn(s, &a, until_stopped, stop, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &b, spin_until, &flag, NULL), 0);
    /* an unregistered scheduler with no deadlock check: the wait is not
     * described (nobody switched the notes on), but it is listed */
    const char *needles[] = {"[waiting: ", "and 1 tasks that have not waited yet"};
    char *d = dump_until(s, KC_SCHED_DUMP_TEXT, needles, 2);
    assert_non_null(strstr(d, "2 live tasks, 1 listed"));
    free(d);
    /* Waiting time: stamped at the first look, then it grows. */
    assert_true(kc_sched_stamp_waits(s) >= 0);
    struct timespec ts = {0, 60 * 1000000};
    nanosleep(&ts, NULL);
    d = dump(s, KC_SCHED_DUMP_JSON);
    char *p = strstr(d, "\"waiting_ns\":");
    assert_non_null(p);
    long long waited = atoll(p + strlen("\"waiting_ns\":"));
    assert_true(waited >= 60 * 1000000LL);
    free(d);
    atomic_store(&flag, 1);
    kc_chan_close(stop);
    assert_int_equal(kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    kc_chan_destroy(stop);
}

/* The re-executed child of the signal test. */
static int signal_child(bool reg)
{
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    so.flags = reg ? KC_SCHED_REGISTER : 0; /* listed by the flag, or for the signal */
    so.name = "signalled";
    if (kc_sched_create(&s, &so) != 0)
        return 2;
    kc_chan_t *stuck = chan("stuck", 0, true);
    kc_task_t *t;
    if (kc_sched_spawn(s, &t, until_stopped, stuck, NULL) != 0)
        return 3;
    kc_chan_snapshot_t snap = KC_CHAN_SNAPSHOT_INIT;
    for (int i = 0; i < 10000; i++) { /* until it waits: bounded */
        kc_chan_snapshot(stuck, &snap);
        if (snap.recv_waiting == 1)
            break;
        {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    raise(SIGUSR1);
    const char *path = getenv("KCORO_DUMP_FILE");
    for (int i = 0; i < 10000; i++) { /* until the helper wrote it: bounded */
        FILE *f = fopen(path, "r");
        char buf[4096] = "";
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        if (strstr(buf, "chan recv \"stuck\"") != NULL)
            break;
        {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    kc_chan_close(stuck);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_destroy(s);
    kc_chan_destroy(stuck);
    return 0;
}

static void signal_dump(bool reg)
{
    if (getenv("KCORO_UNDER_QEMU") != NULL) { /* the child re-executes itself */
        printf("[ SKIPPED  ] signal dump: qemu-user cannot re-execute the test\n");
        return;
    }
    char path[] = "/tmp/kcoro-dump-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("KCORO_DUMP_SIGNAL", "USR1", 1);
        setenv("KCORO_DUMP_FILE", path, 1);
        execl("/proc/self/exe", "test_sched_dump",
              reg ? "--signal-child-registered" : "--signal-child", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    assert_non_null(strstr(buf, "\"signalled\": 1 workers, 1 live tasks, 1 listed"));
    assert_non_null(strstr(buf, "[waiting: chan recv \"stuck\""));
}

static void test_dump_signal_writes_every_registered_sched(void **state)
{
    (void)state;
    signal_dump(false);
}

/* A scheduler registered by its flag installs the handler too. */
static void test_dump_signal_with_a_registered_sched(void **state)
{
    (void)state;
    signal_dump(true);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--signal-child") == 0)
        return signal_child(false);
    if (argc > 1 && strcmp(argv[1], "--signal-child-registered") == 0)
        return signal_child(true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_dump_names_channels_of_tasks_parked_before_it),
        cmocka_unit_test(test_dump_names_every_kind_of_wait),
        cmocka_unit_test(test_dump_of_unregistered_sched_counts_tasks_that_never_waited),
        cmocka_unit_test(test_dump_signal_writes_every_registered_sched),
        cmocka_unit_test(test_dump_signal_with_a_registered_sched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
