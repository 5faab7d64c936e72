/* kc_port.h - the platform layer: memory mapping, guard pages and clocks.
 *
 * Layer 0 of kcoro. Only files in core/src/port include Linux- or
 * platform-specific headers; everything above calls these functions. Each
 * function says what it falls back to where the platform lacks a feature.
 */
#ifndef KCORO_KC_PORT_H
#define KCORO_KC_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How guard pages are made (see ARCHITECTURE.md section 6a). */
typedef enum kc_port_guard_mode {
    KC_PORT_GUARD_MADVISE = 1, /* MADV_GUARD_INSTALL: no extra VMAs */
    KC_PORT_GUARD_MPROTECT = 2 /* PROT_NONE: two VMAs per stack */
} kc_port_guard_mode_t;

/* The system page size, cached after the first call. */
size_t kc__port_page_size(void);

/* Reserve len bytes of private, anonymous, lazily committed read-write
 * memory. Returns NULL when the mapping fails. */
void *kc__port_map(size_t len);

/* Unmap what kc__port_map() returned. */
void kc__port_unmap(void *p, size_t len);

/* Turn [p, p+len) into a guard region: any access faults. Returns 0 or a
 * negative errno (-ENOMEM when the process is out of map entries). The first
 * call probes MADV_GUARD_INSTALL and falls back to mprotect(PROT_NONE) for
 * good when the kernel lacks it or KCORO_GUARD=mprotect asks for it. */
int kc__port_guard(void *p, size_t len);

/* Which guard mechanism kc__port_guard() settled on (after one call). */
kc_port_guard_mode_t kc__port_guard_mode(void);

/* Give the physical pages behind [p, p+len) back to the OS; the range stays
 * mapped and reads as zeroes afterwards. */
void kc__port_discard(void *p, size_t len);

/* The process's resident set size in bytes, or 0 if unknown. */
size_t kc__port_rss_bytes(void);

/* Bytes of [p, p+len) (rounded out to pages) the OS holds in RAM; 0 when
 * the range is not mapped or cannot be asked about (kc_port_resident.c). */
uint64_t kc__port_resident_bytes(const void *p, size_t len);

/* Monotonic time in nanoseconds. */
uint64_t kc__port_now_ns(void);

/* The number of online CPUs (at least 1). */
int kc__port_ncpus(void);

/* The credentials of the process at the other end of the connected UNIX
 * socket fd: effective uid and gid, and pid (-1 where the platform does not
 * tell it). SO_PEERCRED on Linux, getpeereid() on the BSDs and macOS.
 * Returns 0 or a negative errno (-ENOTSUP where the platform has neither). */
int kc__port_peer_cred(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid);

/* The bytes the connected stream socket fd holds written and not yet read
 * by its peer (SIOCOUTQ on Linux: the kernel's accounting, a little above
 * the payload) in *queued and, when cap is not NULL, its send buffer's size
 * (SO_SNDBUF as the kernel keeps it). Returns 0 or a negative errno
 * (-ENOTSUP where the platform cannot tell). */
int kc__port_sock_queued(int fd, uint32_t *queued, uint32_t *cap);

#endif /* KCORO_KC_PORT_H */
