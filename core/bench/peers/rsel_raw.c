/* rsel_raw.c - the floor under rsel.remote2_recv: one claim round trip on a raw socket.
 *
 * Exactly-once with leases (core/docs/CHANNELS.md, "Remote select between
 * processes") means a select may return a remote element only after the
 * channel's owner has answered its claim: an owner that has not heard from
 * a selector by the end of its lease gives the element to someone else, so
 * an element the selector had taken on its own could be taken twice. Every
 * element of rsel.remote2_recv therefore costs at least one round trip
 * between the two processes. This program measures that round trip with
 * nothing else on it:
 *   peer.raw.rsel.claim_rtt  ns  a 24-byte CLAIM and its 32-byte COMMIT
 *                                (the protocol's header, and the header
 *                                with an 8-byte element) over a UNIX
 *                                socketpair, blocking, one outstanding
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * bench_rsel and rsel_zmq. pairs.tsv compares it with zmq_poll's path: if
 * the bare round trip is already slower than zmq_poll over sockets that
 * ZeroMQ fills ahead, no claim protocol can be as fast.
 */
#include "kc_ipc_peer.h"

#include <sys/socket.h>

enum {
    CLAIM_BYTES = 24,
    COMMIT_BYTES = 32
};

/* The owner's side: a COMMIT for every CLAIM until the selector closes. */
static int owner(void *arg)
{
    int *sv = arg;
    close(sv[0]);
    char claim[CLAIM_BYTES], commit[COMMIT_BYTES];
    memset(commit, 0x36, sizeof(commit));
    long n = 0;
    while (kc_ip_read_all(sv[1], claim, sizeof(claim)) == 0) {
        memcpy(commit, claim, sizeof(claim));
        memcpy(commit + sizeof(claim), &n, sizeof(n));
        n++;
        if (kc_ip_write_all(sv[1], commit, sizeof(commit)) != 0)
            return 1;
    }
    close(sv[1]);
    return 0;
}

struct selector {
    int fd;
    long iters;
    long next; /* the element number the next COMMIT must carry */
};

/* ns per claim round trip; every COMMIT must answer its CLAIM. */
static double claim_rtt(void *arg)
{
    struct selector *s = arg;
    char claim[CLAIM_BYTES], commit[COMMIT_BYTES];
    memset(claim, 0x35, sizeof(claim));
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < s->iters; i++) {
        memcpy(claim, &i, sizeof(i));
        if (kc_ip_write_all(s->fd, claim, sizeof(claim)) != 0 ||
            kc_ip_read_all(s->fd, commit, sizeof(commit)) != 0)
            exit(1);
        long id, elem;
        memcpy(&id, commit, sizeof(id));
        memcpy(&elem, commit + CLAIM_BYTES, sizeof(elem));
        if (id != i || elem != s->next++) {
            fprintf(stderr, "rsel_raw: COMMIT %ld/%ld answers CLAIM %ld\n", id, elem, i);
            exit(1);
        }
    }
    return (double)(kc_bench_now_ns() - t0) / (double)s->iters;
}

int main(void)
{
    kc_bench_place();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t pid = kc_ip_spawn(owner, sv);
    close(sv[1]);
    struct selector s = {sv[0], kc_bench_iters(100000), 0};
    kc_bench_measure("peer.raw.rsel.claim_rtt", "ns", claim_rtt, &s);
    close(sv[0]);
    kc_ip_reap(pid, "peer.raw.rsel.claim_rtt");
    return 0;
}
