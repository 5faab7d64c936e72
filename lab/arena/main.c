#include "kcoro/arena.h"
int main(void)
{
    kc_arena_t *a;
    kc_arena_ticket_t t;
    void *p;
    if (kc_arena_create(&a, NULL) != 0) return 1;
    kc_arena_alloc(a, 100, &t, &p);
    kc_arena_dump(a, stdout, KC_ARENA_DUMP_TEXT);
    kc_arena_release(a, t);
    return kc_arena_destroy(a);
}
