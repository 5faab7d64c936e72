/* mux_raw.c - raw sockets, the floor under core/bench/bench_mux.c.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * every other mux program, one thread each, blocking sockets, no framing.
 * The parent writes, the child reads everything and answers one byte at the
 * end, so the figure includes delivery:
 *   peer.raw.mux.stream_64       msg/s  64-byte elements over a socketpair,
 *                                       batched 64 to a write (4 KiB writes)
 *   peer.raw.mux.streams100_1k   MB/s   the bytes of 100 streams of 1 KiB
 *                                       elements, batched 64 elements to a
 *                                       write (64 KiB writes)
 */
#include "kc_ipc_peer.h"

#include <sys/socket.h>

struct sink {
    int fd, other;
    long bytes; /* bytes per repetition */
};

/* Read a repetition's bytes, answer one byte, until the writer closes. */
static int drain(void *arg)
{
    struct sink *k = arg;
    close(k->other);
    static char buf[1 << 16];
    for (;;) {
        long left = k->bytes;
        while (left > 0) {
            ssize_t r = read(k->fd, buf, left < (long)sizeof(buf) ? (size_t)left : sizeof(buf));
            if (r == 0 && left == k->bytes)
                return 0; /* the writer closed between repetitions */
            if (r <= 0)
                return errno == EINTR ? 0 : 1;
            left -= r;
        }
        if (kc_ip_write_all(k->fd, "k", 1) != 0)
            return 1;
    }
}

struct source {
    int fd;
    size_t batch; /* bytes per write */
    long bytes;
};

/* Seconds per repetition. */
static double pour(struct source *s)
{
    static char buf[1 << 16];
    memset(buf, 0x5a, s->batch);
    uint64_t t0 = kc_bench_now_ns();
    for (long done = 0; done < s->bytes; done += (long)s->batch)
        if (kc_ip_write_all(s->fd, buf, s->batch) != 0)
            exit(1);
    char k;
    if (kc_ip_read_all(s->fd, &k, 1) != 0)
        exit(1);
    return (double)(kc_bench_now_ns() - t0) / 1e9;
}

static double stream_64(void *arg)
{
    struct source *s = arg;
    return (double)s->bytes / 64 / pour(s);
}

static double streams100_1k(void *arg)
{
    struct source *s = arg;
    return (double)s->bytes / 1e6 / pour(s);
}

static void figure(const char *name, const char *unit, double (*fn)(void *), size_t batch,
                   long bytes)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        exit(1);
    struct sink k = {sv[1], sv[0], bytes};
    pid_t pid = kc_ip_spawn(drain, &k);
    close(sv[1]);
    struct source s = {sv[0], batch, bytes};
    kc_bench_measure(name, unit, fn, &s);
    close(sv[0]);
    kc_ip_reap(pid, name);
}

int main(void)
{
    kc_bench_place();
    /* Whole batches: the element counts are multiples of 64. */
    long elems64 = kc_bench_iters(2000000) / 64 * 64;
    long elems1k = kc_bench_iters(100 * 1000) / 64 * 64;
    figure("peer.raw.mux.stream_64", "msg/s", stream_64, 64 * 64, (elems64 ? elems64 : 64) * 64);
    figure("peer.raw.mux.streams100_1k", "MB/s", streams100_1k, 64 * 1024,
           (elems1k ? elems1k : 64) * 1024);
    return 0;
}
