/* kc_ipc_peer.h - what the two-process peers of the ipc and mux benchmarks share.
 *
 * Every program forks: the child serves, the parent measures and prints the
 * BENCH lines. kc_bench_place() runs before the fork, so both processes of
 * every program (kcoro's and the peers') sit on the same CPUs.
 */
#ifndef KCORO_KC_IPC_PEER_H
#define KCORO_KC_IPC_PEER_H

#include "kc_bench_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Write or read exactly n bytes; 0, or -1 on an error or end of file. */
static inline int kc_ip_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int kc_ip_read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Fork a child that runs fn(arg) and exits with its result. */
static inline pid_t kc_ip_spawn(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

/* Wait for the child; a child that failed fails the program. */
static inline void kc_ip_reap(pid_t pid, const char *what)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            exit(1);
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: the serving process failed (status %d)\n", what, st);
        exit(1);
    }
}

/* A socket path unique to this run, for ipc:// endpoints. */
static inline void kc_ip_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/kcoro-peer-%ld-%s", (long)getpid(), name);
    unlink(buf);
}

/* Room for n more descriptors (1,000 idle connections need it). */
static inline void kc_ip_fd_room(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

#endif /* KCORO_KC_IPC_PEER_H */
