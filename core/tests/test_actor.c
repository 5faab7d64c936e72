/* test_actor.c - kcoro/actor.h: mailbox, handler, ask, supervision.
 *
 * A bank of account actors takes a storm of concurrent transfers from
 * coroutines on four workers and from threads; the ledger is checked to the
 * unit: money is neither made nor lost, no balance goes negative, and every
 * transfer that was accepted is in the books. A crash stops an actor (its
 * scope fails and cancels its siblings, queued asks get -EPIPE) or
 * restarts it with fresh state, as its policy says; an ask that gives up
 * leaks nothing and its late answer is dropped.
 */
#include "kcoro.h"
#include "kcoro/actor.h"

#include <pthread.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

#define MS ((int64_t)1000 * 1000)

enum {
    OP_DEPOSIT = 1,
    OP_WITHDRAW = 2,
    OP_BALANCE = 3,
    OP_CRASH = 4,
    OP_SLOW = 5
};

struct msg {
    int op;
    int64_t amount;
};

struct account {
    int64_t balance, opening;
    long deposits, withdrawals, declined, inits;
};

static int account_init(void *state)
{
    struct account *acc = state;
    acc->balance = acc->opening;
    acc->inits++;
    return 0;
}

/* Status 0: done; 1: declined (not enough money); negative: a crash. */
static int account(void *state, const void *m, void *reply)
{
    struct account *acc = state;
    const struct msg *msg = m;
    switch (msg->op) {
    case OP_DEPOSIT:
        acc->balance += msg->amount;
        acc->deposits++;
        break;
    case OP_WITHDRAW:
        if (acc->balance < msg->amount) {
            acc->declined++;
            return 1;
        }
        acc->balance -= msg->amount;
        acc->withdrawals++;
        break;
    case OP_CRASH:
        return -EPROTO;
    case OP_SLOW:
        kc_sched_sleep(msg->amount, NULL);
        break;
    default:
        break;
    }
    if (reply != NULL)
        *(int64_t *)reply = acc->balance;
    return 0;
}

enum {
    ACCOUNTS = 8,
    OPENING = 1000,
    MOVERS = 64,
    MOVES = 200,
    THREADS = 2
};

struct bank {
    kc_actor_t *acct[ACCOUNTS];
    struct account state[ACCOUNTS];
    atomic_long moved, declined, transfers;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Move money between random accounts: withdraw, and deposit only what was
 * withdrawn. */
static int transfers(struct bank *b, uint64_t seed, int moves)
{
    for (int i = 0; i < moves; i++) {
        uint64_t r = mix(seed + (uint64_t)i * 0x9e3779b97f4a7c15ull);
        int from = (int)(r % ACCOUNTS), to = (int)((r >> 8) % ACCOUNTS);
        struct msg w = {OP_WITHDRAW, (int64_t)((r >> 16) % 300) + 1};
        int64_t left = -1;
        int st = kc_actor_ask(b->acct[from], &w, &left, KC_NO_TIMEOUT, NULL);
        if (st < 0)
            return st;
        if (st == 1) {
            atomic_fetch_add(&b->declined, 1);
            continue;
        }
        if (left < 0)
            return -100;
        struct msg d = {OP_DEPOSIT, w.amount};
        if (i % 2 == 0)
            st = kc_actor_tell(b->acct[to], &d, KC_NO_TIMEOUT, NULL);
        else
            st = kc_actor_ask(b->acct[to], &d, NULL, KC_NO_TIMEOUT, NULL);
        if (st != 0)
            return -101;
        atomic_fetch_add(&b->moved, w.amount);
        atomic_fetch_add(&b->transfers, 1);
    }
    return 0;
}

struct mover {
    struct bank *b;
    uint64_t seed;
};

static int mover(void *arg)
{
    struct mover *m = arg;
    return transfers(m->b, m->seed, MOVES);
}

static void *thread_mover(void *arg)
{
    struct mover *m = arg;
    return (void *)(intptr_t)transfers(m->b, m->seed, MOVES);
}

static void test_bank_storm_keeps_the_ledger(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(4);
    kc_scope_t *bank_scope = NULL, *movers = NULL;
    assert_int_equal(kc_scope_create(&bank_scope, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    assert_int_equal(kc_scope_create(&movers, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    static struct bank b;
    memset(&b, 0, sizeof(b));
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct msg);
    o.reply_size = sizeof(int64_t);
    o.mailbox = 16;
    o.init = account_init;
    o.name = "account";
    for (int i = 0; i < ACCOUNTS; i++) {
        b.state[i].opening = OPENING;
        assert_int_equal(kc_actor_start(&b.acct[i], bank_scope, &o, account, &b.state[i]), 0);
    }
    static struct mover m[MOVERS + THREADS];
    for (int i = 0; i < MOVERS + THREADS; i++)
        m[i] = (struct mover){&b, (uint64_t)i * 7919 + 1};
    for (int i = 0; i < MOVERS; i++)
        assert_int_equal(kc_scope_spawn(movers, mover, &m[i], NULL), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_mover, &m[MOVERS + i]), 0);
    assert_int_equal(kc_scope_wait(movers, KC_NO_TIMEOUT, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_int_equal((int)(intptr_t)ret, 0);
    }
    /* the audit: ask every account, through its mailbox */
    int64_t total = 0;
    long deposits = 0, withdrawals = 0, declined = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        struct msg q = {OP_BALANCE, 0};
        int64_t bal = -1;
        assert_int_equal(kc_actor_ask(b.acct[i], &q, &bal, KC_NO_TIMEOUT, NULL), 0);
        assert_true(bal >= 0);
        total += bal;
    }
    for (int i = 0; i < ACCOUNTS; i++) {
        assert_int_equal(kc_actor_destroy(b.acct[i]), 0);
        deposits += b.state[i].deposits;
        withdrawals += b.state[i].withdrawals;
        declined += b.state[i].declined;
        assert_int_equal(b.state[i].inits, 1);
    }
    assert_int_equal(total, (int64_t)ACCOUNTS * OPENING); /* nothing made or lost */
    long attempts = (long)(MOVERS + THREADS) * MOVES;
    assert_int_equal(atomic_load(&b.transfers) + atomic_load(&b.declined), attempts);
    assert_int_equal(withdrawals, atomic_load(&b.transfers));
    assert_int_equal(deposits, atomic_load(&b.transfers));
    assert_int_equal(declined, atomic_load(&b.declined));
    assert_true(atomic_load(&b.transfers) > attempts / 2);
    assert_int_equal(kc_scope_destroy(movers), 0);
    assert_int_equal(kc_scope_destroy(bank_scope), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static int sibling(void *arg)
{
    (void)arg;
    return kc_sched_sleep(10000 * MS, NULL); /* -ECANCELED when the scope fails */
}

static void test_crash_stops_the_actor_and_fails_its_scope(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    assert_int_equal(kc_scope_spawn(sc, sibling, NULL, NULL), 0);
    struct account acc = {.opening = 50};
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct msg);
    o.reply_size = sizeof(int64_t);
    o.init = account_init;
    kc_actor_t *a = NULL;
    assert_int_equal(kc_actor_start(&a, sc, &o, account, &acc), 0);
    struct msg slow = {OP_SLOW, 30 * MS}, crash = {OP_CRASH, 0}, dep = {OP_DEPOSIT, 5};
    assert_int_equal(kc_actor_tell(a, &slow, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_actor_tell(a, &crash, KC_NO_TIMEOUT, NULL), 0);
    int64_t bal = 0;
    /* queued behind the crash: answered with -EPIPE */
    assert_int_equal(kc_actor_ask(a, &dep, &bal, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(kc_actor_ask(a, &dep, &bal, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(kc_actor_tell(a, &dep, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL),
                     -EPROTO); /* the sibling was cancelled */
    assert_int_equal(acc.deposits, 0);
    assert_int_equal(kc_actor_destroy(a), -EPROTO);
    assert_int_equal(kc_scope_destroy(sc), -EPROTO);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_restart_policy_reinitialises_and_goes_on(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    struct account acc = {.opening = 100};
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct msg);
    o.reply_size = sizeof(int64_t);
    o.init = account_init;
    o.policy = KC_ACTOR_RESTART;
    o.max_restarts = 2;
    kc_actor_t *a = NULL;
    assert_int_equal(kc_actor_start(&a, sc, &o, account, &acc), 0);
    struct msg dep = {OP_DEPOSIT, 5}, crash = {OP_CRASH, 0}, q = {OP_BALANCE, 0};
    int64_t bal = 0;
    assert_int_equal(kc_actor_ask(a, &dep, &bal, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(bal, 105);
    assert_int_equal(kc_actor_ask(a, &crash, &bal, KC_NO_TIMEOUT, NULL), -EPROTO);
    assert_int_equal(kc_actor_ask(a, &q, &bal, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(bal, 100); /* fresh state after the restart */
    assert_int_equal(kc_actor_restarts(a), 1);
    assert_int_equal(kc_actor_ask(a, &crash, &bal, KC_NO_TIMEOUT, NULL), -EPROTO);
    assert_int_equal(kc_actor_restarts(a), 2);
    assert_int_equal(kc_actor_ask(a, &crash, &bal, KC_NO_TIMEOUT, NULL), -EPROTO); /* no more */
    assert_int_equal(kc_actor_ask(a, &q, &bal, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(acc.inits, 3);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), -EPROTO);
    assert_int_equal(kc_actor_destroy(a), -EPROTO);
    assert_int_equal(kc_scope_destroy(sc), -EPROTO);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_ask_that_gives_up_and_stop_and_errors(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    struct account acc = {.opening = 10};
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct msg);
    o.reply_size = sizeof(int64_t);
    o.init = account_init;
    kc_actor_t *a = NULL;
    kc_actor_t *bad = (kc_actor_t *)&bad;
    kc_actor_opts_t ob = o;
    ob.msg_size = 0;
    assert_int_equal(kc_actor_start(&bad, sc, &ob, account, &acc), -EINVAL);
    assert_null(bad);
    ob = o;
    ob.msg_size = KC_ACTOR_MSG_MAX + 1;
    assert_int_equal(kc_actor_start(&bad, sc, &ob, account, &acc), -EINVAL);
    ob = o;
    ob.policy = (kc_actor_policy_t)7;
    assert_int_equal(kc_actor_start(&bad, sc, &ob, account, &acc), -EINVAL);
    ob = o;
    ob.max_restarts = -1;
    assert_int_equal(kc_actor_start(&bad, sc, &ob, account, &acc), -EINVAL);
    assert_int_equal(kc_actor_start(&bad, NULL, &o, account, &acc), -EINVAL);
    assert_int_equal(kc_actor_start(&bad, sc, &o, NULL, &acc), -EINVAL);
    assert_int_equal(kc_actor_start(NULL, sc, &o, account, &acc), -EINVAL);
    assert_int_equal(kc_actor_start(&a, sc, &o, account, &acc), 0);
    struct msg slow = {OP_SLOW, 60 * MS}, dep = {OP_DEPOSIT, 1};
    int64_t bal = 0;
    assert_int_equal(kc_actor_tell(a, &slow, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_actor_ask(a, &dep, &bal, 10 * MS, NULL), -ETIME); /* gave up... */
    assert_int_equal(kc_actor_tell(NULL, &dep, 0, NULL), -EINVAL);
    assert_int_equal(kc_actor_tell(a, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_actor_ask(NULL, &dep, &bal, 0, NULL), -EINVAL);
    /* a negative timeout has run out (kcoro/base.h): posted, not waited for */
    assert_int_equal(kc_actor_ask(a, &dep, &bal, -5, NULL), -ETIME);
    assert_int_equal(kc_actor_stop(a), 0);
    assert_int_equal(kc_actor_stop(a), -EPIPE);
    assert_int_equal(kc_actor_stop(NULL), -EINVAL);
    assert_int_equal(kc_actor_tell(a, &dep, 0, NULL), -EPIPE);
    assert_int_equal(kc_actor_destroy(a), 0); /* ...but was handled: queued messages are */
    assert_int_equal(acc.deposits, 2);
    assert_int_equal(acc.balance, 12);
    assert_int_equal(kc_actor_destroy(NULL), 0);
    assert_int_equal(kc_actor_restarts(NULL), 0);
    assert_int_equal(kc_scope_destroy(sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bank_storm_keeps_the_ledger),
        cmocka_unit_test(test_crash_stops_the_actor_and_fails_its_scope),
        cmocka_unit_test(test_restart_policy_reinitialises_and_goes_on),
        cmocka_unit_test(test_ask_that_gives_up_and_stop_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
