/* test_lifetime.c - destroy right after close or cancel, while the woken waiter leaves.
 *
 * The lifetime rule of core/docs/ERROR_SEMANTICS.md: a destroy returns 0
 * only once no call is still inside the object, and the woken waiter's
 * last touch happens before destroy returns. Each race here runs the
 * pattern a careless program writes: a waiter is seen waiting in a call
 * on the object, another party closes the channel (or fires the token)
 * and destroys it at once, retrying only while destroy answers -EBUSY.
 * Waiters and destroyers are plain threads and coroutines, in every
 * pairing, over every way to wait on the object.
 *
 * A destroy that returned too early shows three ways: ASan and TSan report
 * the waiter's late touch; in the default build the freed block is at once
 * allocated again by the destroyer and filled with a pattern (glibc hands a
 * freed block of the same size straight back to the same thread), so a
 * late write shows as a changed pattern and a late lock of the block as a
 * waiter that never returns (a bounded wait fails). The counts: every
 * waiter returns the documented code (-EPIPE, -ECANCELED) exactly once per
 * round. 100,000 rounds per family (4,000 for scopes and schedulers),
 * divided by KCORO_TEST_SCALE, and by 10 more under qemu-user.
 * Coroutines record; assertions run on the main stack.
 */
#include "kcoro.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "port/kc_port.h"
#include "sched/kc_sched_impl.h"
#include "kc_test_util.h"

enum {
    ROUNDS = 100000,     /* per family, before KCORO_TEST_SCALE */
    OWNER_ROUNDS = 4000, /* the owner family (a scheduler per round) */
    WAIT_LIMIT_S = 20,   /* a waiter that has not answered by then is stuck */
    N_SCRIBBLE = 64,     /* refill blocks of 16, 32, ... 1,024 bytes */
    SCRIBBLE = 0xa5
};

/* The object of one round, handed from the destroyer to the waiter. */
enum op {
    /* channel family: the destroyer closes, then destroys */
    OP_RECV,              /* kc_chan_recv untimed on a rendezvous channel */
    OP_RECV_TIMED,        /* kc_chan_recv with a 10 s timeout */
    OP_SELECT,            /* kc_chan_select with one receive clause */
    OP_RECV_SEQ,          /* kc_chan_recv on an empty seq-ring channel (buffered 2) */
    OP_SEND_FULL,         /* kc_chan_send on a full locked ring (buffered 3) */
    OP_SELECT_TIMED_SEND, /* kc_chan_select, timed, one send clause, rendezvous */
    N_CHAN_OPS,
    /* token family: the destroyer fires the token, then destroys it */
    OP_TOK_RECV = N_CHAN_OPS, /* kc_chan_recv on a channel nobody sends to */
    OP_TOK_RECV_SEQ,          /* the same on a seq-ring channel */
    OP_TOK_SELECT,            /* kc_chan_select of two never-ready clauses */
    OP_TOK_SLEEP,             /* kc_sched_sleep(10 s) */
    OP_TOK_PARK,              /* kc_park on a parker nobody unparks */
    OP_TOK_BUS,               /* kc_bus_recv on a silent bus */
    OP_TOK_IO,                /* kc_io_wait on a pipe nobody writes */
    N_TOK_OPS,
    /* owner family: the destroyer destroys a scope or a scheduler */
    OP_SCOPE_WAIT = N_TOK_OPS, /* kc_scope_wait on a scope with a blocked child */
    OP_SCHED_IDLE,             /* kc_sched_run_until_idle on a scheduler with one */
    N_OPS
};

static const char *const op_names[N_OPS] = {
    "recv",     "recv_timed",     "select",     "recv_cells", "send_full", "select_timed_send",
    "tok_recv", "tok_recv_cells", "tok_select", "tok_sleep",  "tok_park",  "tok_bus",
    "tok_io",   "scope_wait",     "sched_idle",
};

/* Shared by the destroyer and the waiter of one rig. */
struct rig {
    enum op op;
    long rounds;
    /* the round's object: the waiter reads it after seeing `posted` */
    kc_chan_t *ch;
    kc_cancel_t *tok;
    kc_scope_t *scope;
    kc_sched_t *sched2;
    kc_sched_t *sched; /* the rig's own, for scopes */
    /* objects that live for the whole rig (token family) */
    kc_chan_t *quiet, *quiet_cells, *quiet2;
    kc_bus_t *bus;
    kc_bus_pub_t *pub;
    kc_bus_sub_t *sub;
    int pipe_fd[2];
    kc_parker_t parker;
    _Atomic long posted;   /* rounds handed to the waiter */
    _Atomic long answered; /* rounds the waiter has returned from */
    int rc[2];             /* the last two rounds' results */
    /* the destroyer's findings, asserted on the main stack */
    long bad_rc, bad_destroy, stuck, scribbled, not_waiting;
    int first_bad_rc;
};

/* One look of a wait for the other party: yield at first (a thread:
 * sched_yield; a coroutine: its scheduler), then sleep 20 us a look, so a
 * party alone on a worker does not keep a core from the one it waits for
 * on a loaded machine. */
static void backoff(int *looks)
{
    if ((*looks)++ < 64)
        kc_sched_yield();
    else
        kc_sched_sleep(20000, NULL);
}

static int64_t now_s(void)
{
    return (int64_t)(kc__port_now_ns() / 1000000000u);
}

/* The waiter: one blocking call per round, on the object just posted. */
static int waiter_run(void *arg)
{
    struct rig *r = arg;
    uint64_t v = 7;
    kc_parker_init(&r->parker); /* bound to the waiter's own context */
    for (long i = 0; i < r->rounds; i++) {
        int looks = 0;
        while (atomic_load_explicit(&r->posted, memory_order_acquire) <= i)
            backoff(&looks);
        int rc;
        kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->quiet, &v),
                                  KC_CHAN_CLAUSE_SEND_INIT(r->quiet2, &v)};
        switch (r->op) {
        case OP_RECV:
        case OP_RECV_SEQ:
            rc = kc_chan_recv(r->ch, &v, KC_NO_TIMEOUT, NULL);
            break;
        case OP_RECV_TIMED:
            rc = kc_chan_recv(r->ch, &v, 10 * 1000000000ll, NULL);
            break;
        case OP_SELECT:
            cl[0].chan = r->ch;
            rc = kc_chan_select(cl, 1, 0, KC_NO_TIMEOUT, NULL);
            rc = rc == 0 ? cl[0].result : -1000 + rc;
            break;
        case OP_SELECT_TIMED_SEND:
            cl[0] = cl[1];
            cl[0].chan = r->ch;
            rc = kc_chan_select(cl, 1, 0, 10 * 1000000000ll, NULL);
            rc = rc == 0 ? cl[0].result : -1000 + rc;
            break;
        case OP_SEND_FULL:
            rc = kc_chan_send(r->ch, &v, KC_NO_TIMEOUT, NULL);
            break;
        case OP_TOK_RECV:
            rc = kc_chan_recv(r->quiet, &v, KC_NO_TIMEOUT, r->tok);
            break;
        case OP_TOK_RECV_SEQ:
            rc = kc_chan_recv(r->quiet_cells, &v, 10 * 1000000000ll, r->tok);
            break;
        case OP_TOK_SELECT:
            rc = kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, r->tok);
            break;
        case OP_TOK_SLEEP:
            rc = kc_sched_sleep(10 * 1000000000ll, r->tok);
            break;
        case OP_TOK_PARK:
            rc = kc_park(&r->parker, KC_NO_TIMEOUT, r->tok);
            break;
        case OP_TOK_BUS:
            rc = kc_bus_recv(r->sub, &v, sizeof(v), NULL, KC_NO_TIMEOUT, r->tok);
            break;
        case OP_TOK_IO:
            rc = kc_io_wait(r->pipe_fd[0], KC_IO_IN, KC_NO_TIMEOUT, r->tok);
            break;
        case OP_SCOPE_WAIT:
            rc = kc_scope_wait(r->scope, KC_NO_TIMEOUT, NULL);
            break;
        case OP_SCHED_IDLE:
            rc = kc_sched_run_until_idle(r->sched2, KC_NO_TIMEOUT, NULL);
            break;
        default:
            rc = -1;
        }
        r->rc[i & 1] = rc;
        atomic_store_explicit(&r->answered, i + 1, memory_order_release);
    }
    return 0;
}

static void *waiter_thread(void *arg)
{
    waiter_run(arg);
    return NULL;
}

/* Is the waiter inside its call on the round's object? Seen through the
 * channel's waiting counters, or the token's users. */
static bool waiting(const struct rig *r)
{
    if (r->op < N_CHAN_OPS) {
        kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
        kc_chan_snapshot(r->ch, &s);
        return s.recv_waiting + s.send_waiting > 0;
    }
    if (r->op == OP_SCOPE_WAIT)
        return kc__scope_waiters(r->scope) > 0;
    if (r->op == OP_SCHED_IDLE)
        return kc__sched_waiters(r->sched2) > 0;
    return kc__cancel_users(r->tok) > 0;
}

/* Every small size class, so whichever block destroy freed (the object,
 * its ring) comes back. */
static size_t scribble_size(int k)
{
    return (size_t)(k + 1) * 16;
}

/* Take the freed object's block back (same size, same thread) and fill it;
 * returns it for scribble_check once the waiter has answered. */
static unsigned char *scribble(size_t n)
{
    unsigned char *p = malloc(n);
    if (p != NULL)
        memset(p, SCRIBBLE, n);
    return p;
}

static bool scribble_intact(const unsigned char *p, size_t n)
{
    for (size_t i = 0; p != NULL && i < n; i++)
        if (p[i] != SCRIBBLE)
            return false;
    return true;
}

static kc_chan_t *round_chan(enum op op)
{
    kc_chan_t *ch = NULL;
    size_t cap = op == OP_RECV_SEQ ? 2 : op == OP_SEND_FULL ? 3 : 0;
    int rc = kc_chan_make(&ch, cap ? KC_CHAN_BUFFERED : KC_CHAN_RENDEZVOUS, cap, sizeof(uint64_t));
    for (uint64_t v = 0; rc == 0 && op == OP_SEND_FULL && v < cap; v++)
        rc = kc_chan_try_send(ch, &v);
    return rc == 0 ? ch : NULL;
}

/* A child of the round's scope or scheduler: waits on a channel nobody
 * sends to until the destroy cancels it. */
static int blocked_child(void *arg)
{
    struct rig *r = arg;
    uint64_t v;
    kc_chan_recv(r->quiet, &v, KC_NO_TIMEOUT, NULL); /* -ECANCELED */
    return 0;
}

/* Make the round's object. 0 or -1. */
static int round_make(struct rig *r)
{
    switch (r->op < N_CHAN_OPS ? 0 : r->op < N_TOK_OPS ? 1 : r->op) {
    case 0:
        r->ch = round_chan(r->op);
        return r->ch != NULL ? 0 : -1;
    case 1:
        return kc_cancel_create(&r->tok, NULL) == 0 ? 0 : -1;
    case OP_SCOPE_WAIT:
        if (kc_scope_create(&r->scope, r->sched, 0) != 0)
            return -1;
        return kc_scope_spawn(r->scope, blocked_child, r, NULL) == 0 ? 0 : -1;
    default: {
        kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
        o.nworkers = 1;
        if (kc_sched_create(&r->sched2, &o) != 0)
            return -1;
        return kc_sched_spawn(r->sched2, NULL, blocked_child, r, NULL) == 0 ? 0 : -1;
    }
    }
}

/* Close or fire, then destroy at once, again only while -EBUSY. Returns
 * destroy's result. */
static int round_end(struct rig *r)
{
    int rc, looks = 0;
    switch (r->op < N_CHAN_OPS ? 0 : r->op < N_TOK_OPS ? 1 : r->op) {
    case 0:
        kc_chan_close(r->ch);
        while ((rc = kc_chan_destroy(r->ch)) == -EBUSY)
            backoff(&looks);
        return rc;
    case 1:
        kc_cancel_trigger(r->tok);
        while ((rc = kc_cancel_destroy(r->tok)) == -EBUSY)
            backoff(&looks);
        return rc;
    case OP_SCOPE_WAIT:
        return kc_scope_destroy(r->scope); /* cancels the child, waits, frees */
    default:
        rc = kc_sched_shutdown(r->sched2, KC_SCHED_SHUTDOWN_CANCEL);
        return rc != 0 ? rc : kc_sched_destroy(r->sched2);
    }
}

/* The destroyer: per round, post a fresh object, see the waiter inside,
 * close or fire, destroy at once (again only while -EBUSY), then refill
 * the freed block and wait for the waiter's answer. */
static int destroyer_run(void *arg)
{
    struct rig *r = arg;
    int want = r->op < N_CHAN_OPS ? -EPIPE : r->op < N_TOK_OPS ? -ECANCELED : 0;
    for (long i = 0; i < r->rounds; i++) {
        if (round_make(r) != 0) {
            r->bad_destroy++;
            return -1;
        }
        atomic_store_explicit(&r->posted, i + 1, memory_order_release);
        int64_t t0 = now_s();
        int looks = 0;
        while (!waiting(r)) {
            if (now_s() - t0 > WAIT_LIMIT_S) {
                r->not_waiting++;
                return -1;
            }
            backoff(&looks);
        }
        if (round_end(r) != 0)
            r->bad_destroy++;
        unsigned char *blk[N_SCRIBBLE];
        for (int k = 0; k < N_SCRIBBLE; k++)
            blk[k] = scribble(scribble_size(k));
        t0 = now_s();
        looks = 0;
        while (atomic_load_explicit(&r->answered, memory_order_acquire) <= i) {
            if (now_s() - t0 > WAIT_LIMIT_S) {
                r->stuck++;
                return -1; /* the waiter is lost: leave it */
            }
            backoff(&looks);
        }
        for (int k = 0; k < N_SCRIBBLE; k++) {
            r->scribbled += !scribble_intact(blk[k], scribble_size(k));
            free(blk[k]);
        }
        if (r->rc[i & 1] != want) {
            if (r->bad_rc++ == 0)
                r->first_bad_rc = r->rc[i & 1];
        }
    }
    return 0;
}

static void *destroyer_thread(void *arg)
{
    destroyer_run(arg);
    return NULL;
}

static void rig_setup(struct rig *r, enum op op, long rounds)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->rounds = rounds;
    r->pipe_fd[0] = r->pipe_fd[1] = -1;
    assert_int_equal(kc_chan_make(&r->quiet, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_chan_make(&r->quiet2, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    assert_int_equal(kc_chan_make(&r->quiet_cells, KC_CHAN_BUFFERED, 4, sizeof(uint64_t)), 0);
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = sizeof(uint64_t), .expected_subs = 1};
    assert_int_equal(kc_bus_create(&bo, &r->bus, &r->pub), 0);
    assert_int_equal(kc_bus_subscribe(r->bus, &r->sub), 0);
    assert_int_equal(pipe(r->pipe_fd), 0);
    assert_int_equal(kc_io_set_nonblock(r->pipe_fd[0]), 0);
}

static void rig_teardown(struct rig *r)
{
    assert_int_equal(kc_chan_destroy(r->quiet), 0);
    assert_int_equal(kc_chan_destroy(r->quiet2), 0);
    assert_int_equal(kc_chan_destroy(r->quiet_cells), 0);
    kc_bus_unsubscribe(r->sub);
    kc_bus_pub_release(r->pub);
    kc_bus_release(r->bus);
    close(r->pipe_fd[0]);
    close(r->pipe_fd[1]);
}

static void rig_check(const struct rig *r)
{
    if (r->bad_rc || r->bad_destroy || r->stuck || r->scribbled || r->not_waiting)
        fail_msg("%s: %ld bad results (first %d), %ld failed destroys, %ld stuck waiters, "
                 "%ld refilled blocks changed, %ld waiters never seen waiting",
                 op_names[r->op], r->bad_rc, r->first_bad_rc, r->bad_destroy, r->stuck,
                 r->scribbled, r->not_waiting);
    assert_int_equal(atomic_load(&r->answered), r->rounds);
}

/* Run one op's rounds with the waiter and the destroyer each a thread or
 * a coroutine (of one scheduler with two workers). */
static void run_pairing(enum op op, long rounds, bool waiter_coro, bool destroyer_coro)
{
    struct rig r;
    rig_setup(&r, op, rounds);
    kc_sched_t *s = kc_test_sched(2);
    r.sched = s;
    pthread_t wt, dt;
    kc_task_t *wtask = NULL, *dtask = NULL;
    if (waiter_coro)
        assert_int_equal(kc_sched_spawn(s, &wtask, waiter_run, &r, NULL), 0);
    else
        assert_int_equal(pthread_create(&wt, NULL, waiter_thread, &r), 0);
    if (destroyer_coro)
        assert_int_equal(kc_sched_spawn(s, &dtask, destroyer_run, &r, NULL), 0);
    else
        assert_int_equal(pthread_create(&dt, NULL, destroyer_thread, &r), 0);
    if (destroyer_coro)
        assert_int_equal(kc_sched_join(dtask, NULL, KC_NO_TIMEOUT, NULL), 0);
    else
        pthread_join(dt, NULL);
    if (r.stuck || r.not_waiting)
        rig_check(&r); /* the waiter is lost: report without joining it */
    if (waiter_coro)
        assert_int_equal(kc_sched_join(wtask, NULL, KC_NO_TIMEOUT, NULL), 0);
    else
        pthread_join(wt, NULL);
    assert_int_equal(kc_sched_destroy(s), 0);
    rig_check(&r);
    rig_teardown(&r);
}

/* A family's rounds spread over its ops and the four pairings. */
static void run_family(enum op first, enum op end, long rounds)
{
    if (getenv("KCORO_UNDER_QEMU") != NULL)
        rounds /= 10; /* emulated: each round is a hundred times slower */
    long per = kc_test_scaled(rounds) / ((long)(end - first) * 4);
    if (per < 1)
        per = 1;
    for (enum op op = first; op < end; op++)
        for (int pairing = 0; pairing < 4; pairing++)
            run_pairing(op, per, pairing & 1, pairing & 2);
}

static void test_chan_destroy_right_after_close_while_waiters_leave(void **state)
{
    (void)state;
    run_family(OP_RECV, N_CHAN_OPS, ROUNDS);
}

static void test_cancel_destroy_right_after_trigger_while_waiters_leave(void **state)
{
    (void)state;
    run_family(OP_TOK_RECV, N_TOK_OPS, ROUNDS);
}

static void test_scope_and_sched_destroy_while_other_waiters_leave(void **state)
{
    (void)state;
    run_family(OP_SCOPE_WAIT, N_OPS, OWNER_ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_destroy_right_after_close_while_waiters_leave),
        cmocka_unit_test(test_cancel_destroy_right_after_trigger_while_waiters_leave),
        cmocka_unit_test(test_scope_and_sched_destroy_while_other_waiters_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
