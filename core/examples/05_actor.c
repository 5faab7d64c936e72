/* 05_actor.c - tutorial step 5: an actor owns its state.
 *
 * A counter actor: many coroutines tell it to add, one asks for the total.
 * Only the actor's coroutine touches the count, so it needs no lock. The
 * actor runs in a scope, which would see it fail if its handler crashed.
 */
#include <kcoro.h>
#include <stdio.h>

enum {
    ADD = 1,
    GET = 2
};

struct msg {
    int op;
    long n;
};

static int counter(void *state, const void *m, void *reply)
{
    long *count = state;
    const struct msg *msg = m;
    if (msg->op == ADD)
        *count += msg->n;
    if (reply != NULL)
        *(long *)reply = *count;
    return 0;
}

static int client(void *arg)
{
    kc_actor_t *a = arg;
    for (int i = 1; i <= 100; i++) {
        struct msg add = {ADD, i};
        if (kc_actor_tell(a, &add, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    kc_scope_t *actors = NULL, *clients = NULL;
    kc_scope_create(&actors, s, KC_SCOPE_F_CANCEL_ON_FAIL);
    kc_scope_create(&clients, s, 0);
    long count = 0;
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = sizeof(struct msg);
    o.reply_size = sizeof(long);
    kc_actor_t *a = NULL;
    if (kc_actor_start(&a, actors, &o, counter, &count) != 0)
        return 1;
    for (int i = 0; i < 10; i++)
        kc_scope_spawn(clients, client, a, NULL);
    kc_scope_wait(clients, KC_NO_TIMEOUT, NULL);
    struct msg get = {GET, 0};
    long total = 0;
    int st = kc_actor_ask(a, &get, &total, KC_NO_TIMEOUT, NULL); /* request-reply */
    printf("10 clients x (1 + ... + 100): the actor counted %ld (ask status %d)\n", total, st);
    kc_actor_destroy(a);
    kc_scope_destroy(clients);
    kc_scope_destroy(actors);
    kc_sched_destroy(s);
    return total == 50500 ? 0 : 1;
}
