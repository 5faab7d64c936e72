/* kcoro_demo.c - `make demo`: a short guided tour of kcoro at work.
 *
 * Runs each section in turn (kcoro_demo.h) and says whether all of them did
 * what they promised. Sections grow with the runtime.
 */
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>

void kc_demo_heading(const char *title)
{
    printf("\n== %s\n", title);
}

int main(void)
{
    printf("kcoro %s - a coroutine runtime for C\n", kc_version());
    int bad = 0;
    bad |= kc_demo_coroutines();
    bad |= kc_demo_scheduler();
    bad |= kc_demo_channels();
    bad |= kc_demo_bus();
    bad |= kc_demo_zero_copy();
    bad |= kc_demo_ergonomics();
    bad |= kc_demo_actors();
    printf("\n%s\n",
           bad ? "demo: something misbehaved (see above)" : "demo: all sections ran as promised");
    return bad ? 1 : 0;
}
