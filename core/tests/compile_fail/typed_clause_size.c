/* typed_clause_size.c - must not compile: a select clause receiving a
 * uint16_t from a channel of uint64_t. EXPECT: element size differs */
#include "kcoro/chan_typed.h"

typedef KC_CHAN_OF(uint64_t) chan_u64_t;

int typed_clause_size(chan_u64_t c);

int typed_clause_size(chan_u64_t c)
{
    uint16_t small = 0;
    kc_chan_clause_t cl[1] = {KC_CLAUSE_RECV(c, &small)};
    return kc_chan_select(cl, 1, 0, 0, NULL);
}
