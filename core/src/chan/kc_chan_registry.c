/* kc_chan_registry.c - channel ids and registry membership (kcoro/registry.h).
 *
 * Every channel gets a process-wide id at create; a channel whose options
 * carry KC_CHAN_REGISTER, or any channel when KCORO_REGISTRY covers "chan",
 * is also listed in the registry under its name. Only create and destroy
 * come here: the send and receive paths never look at the registration.
 */
#include "chan/kc_chan_impl.h"
#include "sched/kc_sched_svc.h"

/* The task waiting through token w, or NULL (a thread, or a token of
 * another owner). A select's clause answers for its select. */
static struct kc_task *token_task(const kc_waiter_t *w)
{
    if (w->parent != NULL)
        w = w->parent;
    if (w->ops != &kc__chan_owner_ops)
        return NULL;
    const struct kc__chan_owner *o = w->owner;
    return kc__parker_task(o->parker);
}

static void note_queue(kc_chan_t *ch, const kc_waiter_queue_t *q, bool send)
{
    for (const kc_waiter_t *w = q->head; w != NULL; w = w->next) {
        struct kc_task *t = token_task(w);
        if (t != NULL)
            kc__task_note_seen(t,
                               w->parent != NULL ? KC_WAIT_SELECT
                               : send            ? KC_WAIT_SEND
                                                 : KC_WAIT_RECV,
                               ch, ch->name);
    }
}

/* kc__chan_waiters (kc_sched_svc.h): a queued token's owner is still in
 * its wait while the lock is held, so its frame (the owner record) and its
 * task are alive. A remote channel keeps no tokens of its own. */
static void note_waiters(void *obj)
{
    kc_chan_t *ch = obj;
    if (ch->rops != NULL)
        return;
    kc__lock(&ch->lock);
    note_queue(ch, &ch->sendq, true);
    note_queue(ch, &ch->recvq, false);
    kc__unlock(&ch->lock);
}

int kc__chan_register(kc_chan_t *ch, const kc_chan_opts_t *opts)
{
    ch->id = kc_registry_new_id();
    if (!kc_registry_wants(KC_REGISTRY_CHAN, opts->flags))
        return 0;
    /* release: the dump that finds it calls it (a repeated store is the
     * same pointer) */
    if (atomic_load_explicit(&kc__chan_waiters, memory_order_relaxed) == NULL)
        atomic_store_explicit(&kc__chan_waiters, note_waiters, memory_order_release);
    return kc_registry_add(KC_REGISTRY_CHAN, ch, ch->id, ch->name, NULL, &ch->reg);
}

void kc__chan_unregister(kc_chan_t *ch)
{
    kc_registry_remove(ch->reg);
    ch->reg = NULL;
}

uint64_t kc_chan_id(const kc_chan_t *ch)
{
    return ch != NULL ? ch->id : 0;
}

const char *kc_chan_name(const kc_chan_t *ch)
{
    return ch != NULL ? ch->name : "";
}
