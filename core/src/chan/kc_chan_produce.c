/* kc_chan_produce.c - kc_produce and close reasons.
 *
 * A producer runs on a coroutine that starts with one block copied onto its
 * stack: a header (the body, the channel, the size of the user's argument)
 * followed by the user's argument, so the caller's struct may die as soon
 * as kc_produce returns and nothing is allocated for it. When the body
 * returns, the channel is closed with the body's status as the reason
 * (kc__chan_close_local in kc_chan_locked.c stores it under the channel's lock, before
 * the closed flag is published, so a receiver that has seen -EPIPE reads
 * it). A channel someone else closed first keeps that close's reason.
 */
#include "chan/kc_chan_impl.h"

#include "kcoro/produce.h"

#include <string.h>

struct produce_head {
    kc_produce_fn_t fn;
    kc_chan_t *ch;
    size_t arg_size;
};

/* The user's argument starts this far into the block, aligned for any type. */
#define KC_PRODUCE_HEAD                                                                            \
    ((sizeof(struct produce_head) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

static int produce_main(void *arg)
{
    struct produce_head *h = arg;
    void *user = h->arg_size > 0 ? (unsigned char *)arg + KC_PRODUCE_HEAD : NULL;
    int status = h->fn(h->ch, user);
    (void)kc__chan_close(h->ch, status); /* -EPIPE: closed already, reason kept */
    return status;
}

int kc_produce(kc_chan_t **out, kc_sched_t *s, const kc_chan_opts_t *opts, kc_produce_fn_t fn,
               const void *arg, size_t arg_size, kc_task_t **task)
{
    if (task != NULL)
        *task = NULL;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (opts == NULL || fn == NULL || arg_size > KC_SPAWN_ARG_MAX - KC_PRODUCE_HEAD ||
        (arg_size > 0 && arg == NULL))
        return -EINVAL;
    kc_chan_t *ch = NULL;
    int rc = kc_chan_create(&ch, opts);
    if (rc < 0)
        return rc;
    _Alignas(max_align_t) unsigned char block[KC_SPAWN_ARG_MAX];
    struct produce_head h = {fn, ch, arg_size};
    memcpy(block, &h, sizeof(h));
    if (arg_size > 0)
        memcpy(block + KC_PRODUCE_HEAD, arg, arg_size);
    kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
    at.name = opts->name;
    rc = kc_sched_spawn_copy(s, task, produce_main, block, KC_PRODUCE_HEAD + arg_size, &at);
    if (rc < 0) {
        kc_chan_destroy(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

int kc_chan_close_with(kc_chan_t *ch, int reason)
{
    return kc__chan_close(ch, reason);
}

int kc_chan_close_reason(const kc_chan_t *ch)
{
    /* acquire: pairs with the release store of `closed` in kc__chan_close,
     * which follows the write of the reason */
    if (ch == NULL || atomic_load_explicit(&ch->closed, memory_order_acquire) == 0)
        return 0;
    return ch->close_reason;
}
