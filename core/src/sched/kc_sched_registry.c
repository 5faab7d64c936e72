/* kc_sched_registry.c - scheduler ids, names and registry membership.
 *
 * Every scheduler gets a process-wide id and a name at create; one whose
 * options carry KC_SCHED_REGISTER, or any when KCORO_REGISTRY covers
 * "sched", is listed in the registry and keeps every task on its task list
 * (reg_head) from spawn on, so a dump sees tasks that never waited.
 */
#include "sched/kc_sched_impl.h"

#include "kcoro/registry.h"

#include <stdio.h>

int kc__sched_register(struct kc_sched *s, const kc_sched_opts_t *o)
{
    s->id = kc_registry_new_id();
    if (o->name != NULL && o->name[0] != '\0')
        snprintf(s->name, sizeof(s->name), "%s", o->name);
    else
        snprintf(s->name, sizeof(s->name), "sched-%llu", (unsigned long long)s->id);
    if (!kc_registry_wants(KC_REGISTRY_SCHED, o->flags))
        return 0;
    s->list_all = true;
    return kc_registry_add(KC_REGISTRY_SCHED, s, s->id, s->name, NULL, &s->obs_reg);
}

void kc__sched_unregister(struct kc_sched *s)
{
    kc_registry_remove(s->obs_reg);
    s->obs_reg = NULL;
}

uint64_t kc_sched_id(const kc_sched_t *s)
{
    return s != NULL ? s->id : 0;
}
