/* 03_pipeline.c - tutorial step 3: a pipeline of channels.
 *
 * A producer (kc_produce) generates numbers and its channel closes when it
 * returns; a stage squares them into a typed channel; main sums what
 * arrives until the channel is closed.
 */
#include <kcoro.h>
#include <kcoro/chan_typed.h>
#include <stdio.h>

typedef KC_CHAN_OF(int64_t) chan_i64_t;

struct range {
    int from, to;
};

static int numbers(kc_chan_t *out, void *arg)
{
    const struct range *r = arg;
    for (int i = r->from; i <= r->to; i++)
        if (kc_chan_send(out, &i, KC_NO_TIMEOUT, NULL) != 0)
            return -ECANCELED;
    return 0; /* the channel is closed with this as its reason */
}

struct stage {
    kc_chan_t *in;
    chan_i64_t out;
};

static int square(void *arg)
{
    struct stage *st = arg;
    int v;
    while (kc_chan_recv(st->in, &v, KC_NO_TIMEOUT, NULL) == 0) {
        int64_t sq = (int64_t)v * v;
        KC_SEND(st->out, &sq, KC_NO_TIMEOUT, NULL); /* an int here would not compile */
    }
    return kc_chan_close(st->out.ch);
}

int main(void)
{
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 16;
    o.elem_size = sizeof(int);
    kc_chan_t *nums = NULL;
    KC_PRODUCE(&nums, s, &o, numbers, (struct range){1, 100});
    chan_i64_t squares;
    KC_CHAN_MAKE(&squares, KC_CHAN_BUFFERED, 16);
    KC_GO(s, square, (struct stage){nums, squares});
    int64_t sum = 0, v;
    while (KC_RECV(squares, &v, KC_NO_TIMEOUT, NULL) == 0) /* from a plain thread too */
        sum += v;
    printf("sum of squares 1..100 = %lld (producer's close reason %d)\n", (long long)sum,
           kc_chan_close_reason(nums));
    kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL);
    kc_chan_destroy(nums);
    kc_chan_destroy(squares.ch);
    kc_sched_destroy(s);
    return sum == 338350 ? 0 : 1;
}
