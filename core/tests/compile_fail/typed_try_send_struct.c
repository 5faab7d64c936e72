/* typed_try_send_struct.c - must not compile: a struct of another size
 * try-sent into a channel of struct point. EXPECT: element size differs */
#include "kcoro/chan_typed.h"

struct point {
    double x, y;
};

struct point3 {
    double x, y, z;
};

typedef KC_CHAN_OF(struct point) chan_point_t;

int typed_try_send_struct(chan_point_t c);

int typed_try_send_struct(chan_point_t c)
{
    struct point3 p = {1, 2, 3};
    return KC_TRY_SEND(c, &p);
}
