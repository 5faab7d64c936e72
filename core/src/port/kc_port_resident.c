/* kc_port_resident.c - how much of a mapping the OS holds in RAM (mincore).
 *
 * Used by the task dump to report how many pages of a coroutine's stack
 * were ever touched: stacks are committed lazily, so resident pages are the
 * stack's high-water mark (pooled stacks keep the pages of earlier tasks).
 */
#define _DEFAULT_SOURCE /* mincore */
#include "port/kc_port.h"

#include <stdlib.h>
#include <sys/mman.h>

uint64_t kc__port_resident_bytes(const void *p, size_t len)
{
    size_t ps = kc__port_page_size();
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(ps - 1);
    uintptr_t hi = ((uintptr_t)p + len + ps - 1) & ~(uintptr_t)(ps - 1);
    size_t pages = (hi - lo) / ps;
    if (pages == 0)
        return 0;
    unsigned char small[256];
    unsigned char *vec = pages <= sizeof(small) ? small : malloc(pages);
    if (vec == NULL)
        return 0;
    uint64_t n = 0;
    if (mincore((void *)lo, hi - lo, vec) == 0) /* an unmapped range: 0 */
        for (size_t i = 0; i < pages; i++)
            n += vec[i] & 1u;
    if (vec != small)
        free(vec);
    return n * ps;
}
