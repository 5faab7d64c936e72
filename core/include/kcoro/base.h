/* kcoro/base.h - shared vocabulary of the kcoro public API.
 *
 * Visibility, timeouts, the error-code table and kc_strerror(). Every other
 * public header includes this one. Errors are negative errno values: 0 or a
 * non-negative result means success.
 */
#ifndef KCORO_BASE_H
#define KCORO_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_API marks a function exported from libkcoro.so. The library is built
 * with -fvisibility=hidden, so anything without it stays internal. */
#define KC_API __attribute__((visibility("default")))

/* KC_NO_TIMEOUT waits forever. Timeouts are relative nanoseconds on the
 * monotonic clock, read by one rule in every blocking call
 * (core/docs/ERROR_SEMANTICS.md, "Timeouts"):
 *   KC_NO_TIMEOUT (-1)    no limit;
 *   0                     try once, never block;
 *   any other value < 0   the time has already run out: the same as 0;
 *   > 0                   wait at most that long; a value that reaches past
 *                         the clock's range (INT64_MAX ns from its start,
 *                         292 years) saturates and waits without limit.
 * A caller that computes the time left (deadline - now) may pass it as it
 * is, but clamps it at 0 first if it can be exactly -1 (KC_NO_TIMEOUT). */
#define KC_NO_TIMEOUT ((int64_t)-1)

/* KC_VERSION_MAJOR, KC_VERSION_MINOR and KC_VERSION_PATCH give the version
 * of the headers; kc_version() gives the version of the library linked. */
#define KC_VERSION_MAJOR 0
/* Minor version: grows with additions that keep source compatibility. */
#define KC_VERSION_MINOR 1
/* Patch version: grows with fixes only. */
#define KC_VERSION_PATCH 0

/* KC_ERRORS is the error vocabulary (ARCHITECTURE.md section 5) as an
 * X-macro: X(name, errno, meaning). It generates kc_strerror() and
 * kc_errname(); include it to build tables of your own. */
#define KC_ERRORS(X)                                                                               \
    X(EAGAIN, EAGAIN, "would block")                                                               \
    X(ETIME, ETIME, "the deadline passed first")                                                   \
    X(ECANCELED, ECANCELED, "the cancellation token fired first")                                  \
    X(EPIPE, EPIPE, "closed (buffered data already drained)")                                      \
    X(EINVAL, EINVAL, "bad argument; nothing changed")                                             \
    X(ENOMEM, ENOMEM, "allocation failed; nothing changed")                                        \
    X(EMSGSIZE, EMSGSIZE, "payload larger than allowed")                                           \
    X(EPROTO, EPROTO, "malformed frame or protocol violation")                                     \
    X(ENOTSUP, ENOTSUP, "not supported by this kind or backend")                                   \
    X(ESTALE, ESTALE, "stale handle: released, reused or forged")                                  \
    X(EBUSY, EBUSY, "busy: the object is running or in use")                                       \
    X(ESRCH, ESRCH, "the coroutine has already finished")                                          \
    X(EPERM, EPERM, "not allowed from this context")                                               \
    X(EIO, EIO, "an output stream failed")                                                         \
    X(ECONNREFUSED, ECONNREFUSED, "nobody accepted the connection; nothing was sent")              \
    X(ECONNRESET, ECONNRESET, "the connection broke; the peer may have acted")                     \
    X(EDEADLK, EDEADLK, "deadlock: every task waits and nothing can wake one")

/* kc_strerror returns a static, human-readable text for a kcoro result
 * (negative errno or 0). Unknown codes fall back to a generic text.
 * Never blocks. */
KC_API const char *kc_strerror(int err);

/* kc_errname returns the symbolic name ("EPIPE") of a negative errno from
 * the vocabulary, or "E?" when the code is not one of them. Never blocks. */
KC_API const char *kc_errname(int err);

/* kc_version returns the library version as "MAJOR.MINOR.PATCH". */
KC_API const char *kc_version(void);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_BASE_H */
