/* typed_send_size.c - must not compile: an int32_t sent into a channel of
 * int64_t. EXPECT: element size differs */
#include "kcoro/chan_typed.h"

typedef KC_CHAN_OF(int64_t) chan_i64_t;

int typed_send_size(chan_i64_t c);

int typed_send_size(chan_i64_t c)
{
    int32_t v = 1;
    return KC_SEND(c, &v, KC_NO_TIMEOUT, NULL);
}
