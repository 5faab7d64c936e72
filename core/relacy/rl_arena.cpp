/* rl_arena.cpp - the arena's ticket entries under Relacy: issue,
 * validate-and-retain in one CAS, and the releases.
 *
 * Drives graduated/arena's kc__arena_issue (the release store that makes
 * an entry LIVE), take_ref / kc_arena_retain (validate and retain with one
 * acquire CAS), kc_arena_release's fast path and release_slow (release
 * decrements, the acq_rel last release), copied by extract.pl with their
 * memory orders. The owner writes a payload, issues a ticket and hands it
 * over through a relaxed word (no ordering of its own); two holders retain
 * it, read the payload and release; whoever releases last frees the block,
 * which the harness models as the block's next owner writing it. The
 * allocator's caches and the ticket check word are not driven here.
 * Invariants checked:
 *   - a retain that succeeds sees the payload written before the issue;
 *   - a retain after the last release fails with -ESTALE and reads nothing;
 *   - the block is freed exactly once, and only after every holder's use
 *     of it (no use after release: a read not ordered before the free is a
 *     data race on the payload);
 *   - the entry ends FREE with the next generation and no references.
 */
//! extract: macro:KC_ARENA_STATE macro:KC_ARENA_GEN macro:KC_ARENA_REFS
//! extract: macro:KC_ARENA_BIN_COUNT macro:KC_ARENA_META_CLASS
//! extract: kc__arena_seal kc__arena_seal_lo kc__arena_seal_hi kc__arena_issue
//! extract: take_ref kc_arena_retain release_slow kc_arena_release
//! mutant: issue_rel kc__arena_issue:&e->state:relaxed
//! mutant: retain_acq take_ref:compare_exchange:relaxed
//! mutant: release_dec release_slow:s-1:relaxed
//! mutant: release_last release_slow:last:release
//! mutant: fast_last kc_arena_release:compare_exchange:release
//! slack: fast_load kc_arena_release:load_explicit(&e->state:relaxed
#include "kc_relacy.hpp"

#define KC_ARENA_NOINLINE
typedef struct kc_arena_ticket {
    uint32_t index, gen, len, check;
} kc_arena_ticket_t;

struct kc_arena_entry {
    kc_atomic<uint64_t> state;
    kc_atomic<uintptr_t> addr;
    kc_atomic<uint64_t> seal;
    kc_atomic<uint32_t> meta;
};

/* The thread cache, whose path this test does not take (no hint). */
struct kc_arena_bin {
    kc_atomic<uint64_t> word;
    uint32_t cap;
};
struct kc_arena_item {
    void *block;
    uint64_t head;
};
struct kc_arena_tcache {
    struct kc_arena_bin bins[1];
    struct kc_arena_item items[1][1];
};
struct kc_arena {
    uint32_t max_tickets;
    uint64_t uid;
    struct kc_arena_entry *table;
    kc_atomic<uint64_t> stale_rejections, double_releases, retired_slots;
};
struct kc_arena_hint {
    uint64_t uid;
    struct kc_arena_tcache *tc;
};
typedef struct kc_arena kc_arena_t;

/* The ticket check word is a keyed hash; its value is not what is tested
 * here, only that a ticket carries the one its entry was issued with. */
static uint32_t kc__arena_check_word(struct kc_arena *a, uint64_t head, uint32_t len)
{
    (void)a;
    return (uint32_t)(head * 0x9e3779b9u) ^ len ^ 1u;
}
static uint64_t kc__arena_seal(uint32_t lo, uint32_t hi);
static int vet(struct kc_arena *a, const kc_arena_ticket_t *t)
{
    if (t->index >= a->max_tickets || (t->gen & 1) == 0)
        return -ESTALE;
    return 0;
}

/* Not the caller's arena cache: the release goes to free_slow. */
static struct kc_arena_hint no_hint = {0, nullptr};
static struct kc_arena_hint *kc__arena_hint_get(void)
{
    return &no_hint;
}

/* The block goes back to the allocator; its next owner writes it. */
static rl::var<int> *cur_payload;
static int frees;
static int free_slow(struct kc_arena *a, uint32_t idx, struct kc_arena_entry *e, bool retired)
{
    (void)a, (void)idx, (void)retired;
    RL_ASSERT((void *)e->addr($).load(rl::mo_relaxed) == (void *)cur_payload);
    (*cur_payload)($) = -1;
    frees++;
    return 1;
}
static int kc_arena_release(kc_arena_t *a, kc_arena_ticket_t t);

#include "kc_relacy_gen.h"

enum {
    NHOLD = 2
};

/* Thread 0 writes the payload, issues the ticket, hands it over, then
 * releases its reference; threads 1..NHOLD retain, read, release. FAST:
 * the last release may take kc_arena_release's fast path. */
template <bool FAST> struct arena_test : rl::test_suite<arena_test<FAST>, 1 + NHOLD> {
    struct kc_arena a;
    struct kc_arena_entry entry;
    rl::var<int> payload;
    kc_atomic<int> handed; /* the ticket is there (relaxed: no ordering) */
    kc_arena_ticket_t ticket;
    int retained[NHOLD + 1];

    void before()
    {
        a.max_tickets = 1;
        a.uid = 1;
        a.table = &entry;
        a.stale_rejections($).store(0, rl::mo_relaxed);
        a.double_releases($).store(0, rl::mo_relaxed);
        a.retired_slots($).store(0, rl::mo_relaxed);
        entry.state($).store(KC_ARENA_STATE(0, 0), rl::mo_relaxed); /* FREE, gen 0 */
        entry.addr($).store(0, rl::mo_relaxed);
        entry.seal($).store(0, rl::mo_relaxed);
        entry.meta($).store(0, rl::mo_relaxed);
        handed($).store(0, rl::mo_relaxed);
        cur_payload = &payload;
        frees = 0;
    }

    void release(const kc_arena_ticket_t &t)
    {
        int rc = FAST ? kc_arena_release(&a, t) : release_slow(&a, t);
        RL_ASSERT(rc == 0 || rc == 1);
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            payload($) = 42;
            kc__arena_issue(&a, kc__arena_seal(0, 1), (uintptr_t)&payload, 8, 0, &ticket);
            handed($).store(1, rl::mo_relaxed);
            release(ticket);
            return;
        }
        while (handed($).load(rl::mo_relaxed) == 0)
            rl::yield(1, $);
        /* the ticket's bytes were written before the flag; a relaxed flag
         * does not order them, so copy them the way a channel would have:
         * the test only needs its value, which never changes */
        kc_arena_ticket_t t = {0, 1, 8, 0};
        t.check = kc__arena_check_word(&a, kc__arena_seal(0, 1), 8);
        int rc = kc_arena_retain(&a, t);
        retained[idx] = rc == 0;
        if (rc != 0) {
            RL_ASSERT(rc == -ESTALE);
            return;
        }
        RL_ASSERT(payload($) == 42); /* the issue's payload, not freed */
        release(t);
    }

    void after()
    {
        RL_ASSERT(frees == 1);
        RL_ASSERT(entry.state($).load(rl::mo_relaxed) == KC_ARENA_STATE(2, 0));
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<arena_test<false>>("arena: issue, 2 retains, releases", 100000);
    ok = ok && kc_rl_run<arena_test<true>>("arena: the same through kc_arena_release", 100000);
    return ok ? 0 : 1;
}
