/* typed_recv_type.c - must not compile: a float received from a channel of
 * int32_t (same size, other type). EXPECT: element type differs */
#include "kcoro/chan_typed.h"

typedef KC_CHAN_OF(int32_t) chan_i32_t;

int typed_recv_type(chan_i32_t c);

int typed_recv_type(chan_i32_t c)
{
    float f = 0;
    return KC_RECV(c, &f, KC_NO_TIMEOUT, NULL);
}
