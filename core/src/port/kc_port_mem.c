/* kc_port_mem.c - memory mapping, guard pages, RSS and clocks for Linux/POSIX.
 *
 * Guard pages prefer madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which marks
 * pages as faulting without splitting the virtual memory area, so a process
 * can hold a million guarded stacks under the default vm.max_map_count. On
 * kernels without it (probed once) we use mprotect(PROT_NONE) instead;
 * then each guarded stack costs two VMAs and the ceiling is about 32k stacks.
 * KCORO_GUARD=mprotect skips the probe and uses mprotect guards anyway, so
 * the behaviour of older kernels and of qemu-user (which accepts and ignores
 * MADV_GUARD_INSTALL) can be reproduced on a new kernel.
 */
#define _GNU_SOURCE
#include "port/kc_port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static atomic_size_t page_size;
static atomic_int guard_mode;

size_t kc__port_page_size(void)
{
    size_t ps = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page_size, ps, memory_order_relaxed);
    }
    return ps;
}

void *kc__port_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kc__port_unmap(void *p, size_t len)
{
    if (p != NULL)
        munmap(p, len);
}

/* Does MADV_GUARD_INSTALL really guard? Some kernels reject it (EINVAL) and
 * some emulators (qemu-user) accept and ignore it, so we install a guard on a
 * scratch page and check that the kernel refuses to read from it. */
static int probe_guard_mode(void)
{
    const char *forced = getenv("KCORO_GUARD");
    if (forced != NULL && strcmp(forced, "mprotect") == 0)
        return KC_PORT_GUARD_MPROTECT;
    size_t ps = kc__port_page_size();
    int mode = KC_PORT_GUARD_MPROTECT;
    void *p = kc__port_map(ps);
    int fds[2];
    if (p == NULL)
        return mode;
    if (madvise(p, ps, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        if (write(fds[1], p, 1) < 0 && errno == EFAULT)
            mode = KC_PORT_GUARD_MADVISE;
        close(fds[0]);
        close(fds[1]);
    }
    kc__port_unmap(p, ps);
    return mode;
}

static int settled_guard_mode(void)
{
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode == 0) {
        mode = probe_guard_mode();
        atomic_store_explicit(&guard_mode, mode, memory_order_relaxed);
    }
    return mode;
}

int kc__port_guard(void *p, size_t len)
{
    if (settled_guard_mode() == KC_PORT_GUARD_MADVISE)
        return madvise(p, len, MADV_GUARD_INSTALL) == 0 ? 0 : -errno;
    return mprotect(p, len, PROT_NONE) == 0 ? 0 : -errno;
}

kc_port_guard_mode_t kc__port_guard_mode(void)
{
    return (kc_port_guard_mode_t)settled_guard_mode();
}

void kc__port_discard(void *p, size_t len)
{
    madvise(p, len, MADV_DONTNEED);
}

size_t kc__port_rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long total = 0, resident = 0;
    if (sscanf(buf, "%lu %lu", &total, &resident) != 2)
        return 0;
    return (size_t)resident * kc__port_page_size();
}

uint64_t kc__port_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int kc__port_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
