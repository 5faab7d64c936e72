/* typed_ok.c - the control case of mk/compile-fail.sh: every typed channel
 * macro with matching element types compiles (so the failures of the other
 * files come from their mismatch, not from the header). */
#include "kcoro/chan_typed.h"

typedef KC_CHAN_OF(int64_t) chan_i64_t;

int typed_ok(void);

int typed_ok(void)
{
    chan_i64_t c;
    int rc = KC_CHAN_MAKE(&c, KC_CHAN_BUFFERED, 4);
    int64_t v = 1, w = 0;
    const int64_t cv = 2;
    rc |= KC_SEND(c, &v, KC_NO_TIMEOUT, NULL) | KC_SEND(c, &cv, 0, NULL);
    rc |= KC_TRY_SEND(c, &v) | KC_RECV(c, &w, 0, NULL) | KC_TRY_RECV(c, &w);
    kc_chan_clause_t cl[2] = {KC_CLAUSE_RECV(c, &w), KC_CLAUSE_SEND(c, &v)};
    rc |= kc_chan_select(cl, 2, 0, 0, NULL);
    return rc | kc_chan_destroy(c.ch);
}
