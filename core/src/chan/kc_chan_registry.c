/* kc_chan_registry.c - channel ids and registry membership (kcoro/registry.h).
 *
 * Every channel gets a process-wide id at create; a channel whose options
 * carry KC_CHAN_REGISTER, or any channel when KCORO_REGISTRY covers "chan",
 * is also listed in the registry under its name. Only create and destroy
 * come here: the send and receive paths never look at the registration.
 */
#include "chan/kc_chan_impl.h"

int kc__chan_register(kc_chan_t *ch, const kc_chan_opts_t *opts)
{
    ch->id = kc_registry_new_id();
    if (!kc_registry_wants(KC_REGISTRY_CHAN, opts->flags))
        return 0;
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
