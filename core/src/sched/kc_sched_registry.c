/* kc_sched_registry.c - scheduler ids, names and registry membership.
 *
 * Every scheduler gets a process-wide id and a name at create; one whose
 * options carry KC_SCHED_REGISTER, or any when KCORO_REGISTRY covers
 * "sched", is listed in the registry and keeps every task on its task list
 * (reg_head) from spawn on, so a dump sees tasks that never waited.
 */
#include "sched/kc_sched_impl.h"

#include "kcoro/registry.h"
#include "kcoro/monitor.h"

#include <stdio.h>
#include <stdlib.h>

int kc__sched_register(struct kc_sched *s, const kc_sched_opts_t *o)
{
    s->id = kc_registry_new_id();
    if (o->name != NULL && o->name[0] != '\0')
        snprintf(s->name, sizeof(s->name), "%s", o->name);
    else
        snprintf(s->name, sizeof(s->name), "sched-%llu", (unsigned long long)s->id);
    /* A dump signal or a monitor from the environment needs the scheduler
     * listed, and so does the flag or the process-wide switch. */
    const char *mon = getenv("KCORO_MONITOR");
    int sig = kc__sched_dump_signal(); /* installs its handler: asked first, always */
    if (!kc_registry_wants(KC_REGISTRY_SCHED, o->flags) && sig == 0 &&
        (mon == NULL || mon[0] == '\0'))
        return 0;
    s->list_all = true;
    /* Listing alone switches no wait notes on: they cost every wait, and a
     * dump reads channel waits from the channels' queues (D4 of
     * kc_sched_dump.c); the dump signal, a monitor and a first dump do. */
    return kc_registry_add(KC_REGISTRY_SCHED, s, s->id, s->name, NULL, &s->obs_reg);
}

void kc__sched_unregister(struct kc_sched *s)
{
    kc__sched_dump_disarm(s);
    kc_registry_remove(s->obs_reg);
    s->obs_reg = NULL;
}

uint64_t kc_sched_id(const kc_sched_t *s)
{
    return s != NULL ? s->id : 0;
}

int kc__sched_hook_add(kc_sched_t *s, struct kc__sched_hook *h)
{
    if (s == NULL || h == NULL || h->fn == NULL)
        return -EINVAL;
    /* acquire: pairs with the shutdown's state change */
    if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_SCHED_RUNNING)
        return -EPIPE;
    kc__lock(&s->hook_lock);
    h->next = s->hooks;
    s->hooks = h;
    kc__unlock(&s->hook_lock);
    return 0;
}

void kc__sched_hook_remove(kc_sched_t *s, struct kc__sched_hook *h)
{
    kc__lock(&s->hook_lock);
    for (struct kc__sched_hook **pp = &s->hooks; *pp != NULL; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    kc__unlock(&s->hook_lock);
}

void kc__sched_run_hooks(struct kc_sched *s, int phase)
{
    kc__lock(&s->hook_lock);
    struct kc__sched_hook *h = s->hooks;
    if (phase == KC__SCHED_HOOK_FREE)
        s->hooks = NULL; /* the owners may free their hooks from here on */
    while (h != NULL) {
        struct kc__sched_hook *next = h->next; /* h may be freed by its call */
        h->fn(s, phase, h->arg);
        h = next;
    }
    kc__unlock(&s->hook_lock);
}

void kc__sched_created(struct kc_sched *s)
{
    static atomic_flag once = ATOMIC_FLAG_INIT;
    const char *url = getenv("KCORO_MONITOR");
    if (url == NULL || url[0] == '\0' || atomic_flag_test_and_set(&once))
        return;
    kc_monitor_opts_t o = KC_MONITOR_OPTS_INIT;
    o.flags = KC_MONITOR_FREE_WITH_SCHED;
    kc_monitor_t *m = NULL;
    int rc = kc_monitor_start(s, url, &o, &m);
    if (rc < 0)
        fprintf(stderr, "kcoro: KCORO_MONITOR=%s: %s\n", url, kc_strerror(rc));
}
