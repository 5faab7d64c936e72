/* demo_actor.c - demo section: a bank of account actors under a storm.
 *
 * Six accounts, each an actor (kcoro/actor.h) that owns its balance and
 * changes it one message at a time, supervised by one scope. Forty teller
 * coroutines move money between random accounts at once: a withdrawal is
 * an ask (the account may decline), the deposit that follows a tell. Then
 * an auditor asks every account for its balance and the ledger is checked:
 * the money is all there, no balance went negative, and the accounts'
 * own books agree with the tellers' count of transfers.
 */
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>

enum {
    ACCOUNTS = 6,
    OPENING = 500,
    TELLERS = 40,
    TRANSFERS = 100
};

enum {
    DEPOSIT = 1,
    WITHDRAW = 2,
    BALANCE = 3
};

struct order {
    int op;
    long amount;
};

struct book {
    long balance, deposits, withdrawals;
};

static int account(void *state, const void *m, void *reply)
{
    struct book *b = state;
    const struct order *o = m;
    if (o->op == DEPOSIT) {
        b->balance += o->amount;
        b->deposits++;
    } else if (o->op == WITHDRAW) {
        if (b->balance < o->amount)
            return 1; /* declined: not a crash */
        b->balance -= o->amount;
        b->withdrawals++;
    }
    if (reply != NULL)
        *(long *)reply = b->balance;
    return 0;
}

struct bank {
    kc_actor_t *acct[ACCOUNTS];
    atomic_long transfers, declined;
};

struct teller {
    struct bank *bank;
    unsigned seed;
};

static int teller(void *arg)
{
    struct teller *t = arg;
    unsigned x = t->seed;
    for (int i = 0; i < TRANSFERS; i++) {
        x = x * 1103515245u + 12345u;
        int from = (int)((x >> 8) % ACCOUNTS), to = (int)((x >> 16) % ACCOUNTS);
        struct order w = {WITHDRAW, (long)(x >> 24) % 120 + 1};
        int st = kc_actor_ask(t->bank->acct[from], &w, NULL, KC_NO_TIMEOUT, NULL);
        if (st == 1) {
            atomic_fetch_add(&t->bank->declined, 1);
            continue;
        }
        struct order d = {DEPOSIT, w.amount};
        if (st != 0 || kc_actor_tell(t->bank->acct[to], &d, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
        atomic_fetch_add(&t->bank->transfers, 1);
    }
    return 0;
}

int kc_demo_actors(void)
{
    kc_demo_heading("Actors: a bank of account actors under a storm of transfers");
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    kc_scope_t *accounts = NULL, *tellers = NULL;
    int bad = kc_scope_create(&accounts, s, KC_SCOPE_F_CANCEL_ON_FAIL) |
              kc_scope_create(&tellers, s, KC_SCOPE_F_CANCEL_ON_FAIL);
    static struct book books[ACCOUNTS];
    static struct bank bank;
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct order);
    o.reply_size = sizeof(long);
    o.name = "account";
    for (int i = 0; i < ACCOUNTS && !bad; i++) {
        books[i].balance = OPENING;
        bad |= kc_actor_start(&bank.acct[i], accounts, &o, account, &books[i]);
    }
    static struct teller t[TELLERS];
    for (int i = 0; i < TELLERS && !bad; i++) {
        t[i] = (struct teller){&bank, 2654435761u * (unsigned)(i + 1)};
        bad |= kc_scope_spawn(tellers, teller, &t[i], NULL);
    }
    bad |= kc_scope_wait(tellers, KC_NO_TIMEOUT, NULL) | kc_scope_destroy(tellers);
    long total = 0, deposits = 0, withdrawals = 0;
    for (int i = 0; i < ACCOUNTS && bank.acct[i] != NULL; i++) {
        struct order q = {BALANCE, 0};
        long bal = -1;
        bad |= kc_actor_ask(bank.acct[i], &q, &bal, KC_NO_TIMEOUT, NULL) != 0 || bal < 0;
        total += bal;
    }
    for (int i = 0; i < ACCOUNTS; i++) {
        bad |= kc_actor_destroy(bank.acct[i]) != 0;
        deposits += books[i].deposits;
        withdrawals += books[i].withdrawals;
    }
    bad |= kc_scope_destroy(accounts);
    long moved = atomic_load(&bank.transfers);
    printf("bank: %ld transfers and %ld declined by %d tellers; balances sum to %ld "
           "(opened with %d), %ld withdrawals and %ld deposits in the books\n",
           moved, atomic_load(&bank.declined), TELLERS, total, ACCOUNTS * OPENING, withdrawals,
           deposits);
    bad |= total != ACCOUNTS * OPENING || withdrawals != moved || deposits != moved ||
           moved + atomic_load(&bank.declined) != (long)TELLERS * TRANSFERS;
    bad |= kc_sched_destroy(s);
    return bad != 0;
}
