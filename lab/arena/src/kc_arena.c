/* kc_arena.c - arena lifecycle: create, destroy, flush and purge.
 *
 * The front of the arena: it sets up the pages (kc_arena_page.c), regions
 * (kc_arena_region.c) and the key of the per-thread caches
 * (kc_arena_cache.c), and tears them down. The alloc/release paths live in
 * kc_arena_ticket.c.
 */
#include "kc_arena_impl.h"

#include "kcoro/registry.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_uint_fast64_t next_uid = 1;

/* ------------------------------------------------------------ create, destroy */

static uint64_t make_key(const struct kc_arena *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t k = a->uid * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)a;
    k ^= ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    return k ^ (k >> 29);
}

static int check_opts(const kc_arena_opts_t *o, size_t *bytes, size_t *ps, uint32_t *tickets)
{
    long os = sysconf(_SC_PAGESIZE);
    size_t os_page = os > 0 ? (size_t)os : 4096;
    if (o->size < offsetof(kc_arena_opts_t, flags))
        return -EINVAL; /* the layout before flags is accepted: flags 0 */
    if (o->size >= sizeof(kc_arena_opts_t) && (o->flags & ~KC_ARENA_REGISTER) != 0)
        return -EINVAL;
    *ps = o->page_size != 0 ? o->page_size
                            : (KC_ARENA_PAGE_DEFAULT > os_page ? KC_ARENA_PAGE_DEFAULT : os_page);
    if ((*ps & (*ps - 1)) != 0 || *ps < os_page || *ps > KC_ARENA_PAGE_MAX)
        return -EINVAL;
    *bytes = o->bytes != 0 ? o->bytes : KC_ARENA_BYTES_DEFAULT;
    if (*bytes > ((size_t)UINT32_MAX - 1) * *ps || *bytes > SIZE_MAX - *ps)
        return -EINVAL;
    *bytes = (*bytes + *ps - 1) & ~(*ps - 1);
    size_t t = o->max_tickets;
    if (t == 0) {
        t = *bytes / 64;
        t = t < 1024 ? 1024 : t > (1u << 20) ? (1u << 20) : t;
    }
    if (t > KC_ARENA_TICKETS_MAX)
        return -EINVAL;
    *tickets = (uint32_t)t;
    return 0;
}

int kc_arena_create(kc_arena_t **out, const kc_arena_opts_t *opts)
{
    kc_arena_opts_t defaults = KC_ARENA_OPTS_INIT;
    const kc_arena_opts_t *o = opts != NULL ? opts : &defaults;
    size_t bytes, ps;
    uint32_t tickets;
    int rc;
    if (out == NULL)
        return -EINVAL;
    if ((rc = check_opts(o, &bytes, &ps, &tickets)) != 0)
        return rc;
    struct kc_arena *a = NULL;
    if (posix_memalign((void **)&a, 128, sizeof(*a)) != 0)
        return -ENOMEM;
    memset(a, 0, sizeof(*a));
    a->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
    a->key = make_key(a);
    a->bytes = bytes;
    a->page_size = ps;
    a->page_shift = (unsigned)__builtin_ctzll(ps);
    a->pages_total = (uint32_t)(bytes / ps);
    a->max_tickets = tickets;
    a->max_len = bytes < UINT32_MAX ? bytes : UINT32_MAX;
    snprintf(a->name, sizeof(a->name), "%s", o->name != NULL ? o->name : "arena");
    for (char *c = a->name; *c != '\0'; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '_'; /* the name goes into JSON unescaped */
#if defined(KC_FAULT_INJECT) && KC_FAULT_INJECT
    const char *every = getenv("KC_FAULT_EVERY");
    a->fault_every = every != NULL ? (uint32_t)strtoul(every, NULL, 10) : 0;
#endif
    rc = -ENOMEM;
    if ((a->base = kc__arena_map_aligned(bytes, ps)) == NULL)
        goto out_free;
    if ((a->table = kc__arena_map((size_t)tickets * sizeof(*a->table))) == NULL)
        goto out_unmap_ram;
    if (kc__arena_pages_init(a) != 0)
        goto out_unmap_table;
    if (pthread_key_create(&a->tkey, kc__arena_tcache_exit) != 0)
        goto out_fini_pages;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->region_lock, NULL);
    kc__arena_regions_init(a);
    a->id = kc_registry_new_id();
    uint32_t flags = o->size >= sizeof(kc_arena_opts_t) ? o->flags : 0;
    if (kc_registry_wants(KC_REGISTRY_ARENA, flags) &&
        kc_registry_add(KC_REGISTRY_ARENA, a, a->id, a->name, NULL, &a->obs_reg) != 0) {
        pthread_key_delete(a->tkey);
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->region_lock);
        goto out_fini_pages;
    }
    *out = a;
    return 0;

out_fini_pages:
    kc__arena_pages_fini(a);
out_unmap_table:
    kc__arena_unmap(a->table, (size_t)tickets * sizeof(*a->table));
out_unmap_ram:
    kc__arena_unmap(a->base, bytes);
out_free:
    free(a);
    return rc;
}

int kc_arena_destroy(kc_arena_t *a)
{
    if (a == NULL)
        return 0;
    kc_registry_remove(a->obs_reg); /* no monitor looks at it from here on */
    kc_arena_metrics_t m = {.size = sizeof(m)};
    kc_arena_metrics(a, &m);
    pthread_key_delete(a->tkey);
    for (struct kc_arena_tcache *tc = a->caches, *next; tc != NULL; tc = next) {
        next = tc->next;
        free(tc);
    }
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->region_lock);
    kc__arena_pages_fini(a);
    kc__arena_unmap(a->table, (size_t)a->max_tickets * sizeof(*a->table));
    kc__arena_unmap(a->base, a->bytes);
    free(a);
    return m.live_tickets > INT_MAX ? INT_MAX : (int)m.live_tickets;
}

void kc_arena_flush(kc_arena_t *a)
{
    if (a == NULL)
        return;
    struct kc_arena_tcache *tc = pthread_getspecific(a->tkey);
    if (tc == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    kc__arena_tcache_drain(a, tc);
    pthread_mutex_unlock(&a->lock);
}

int kc_arena_purge(kc_arena_t *a)
{
    if (a == NULL)
        return -EINVAL;
    struct kc_arena_tcache *tc = pthread_getspecific(a->tkey);
    pthread_mutex_lock(&a->lock);
    if (tc != NULL)
        kc__arena_tcache_drain(a, tc);
    int n = kc__arena_purge_locked(a);
    pthread_mutex_unlock(&a->lock);
    return n;
}
