/* kc_poller.c - picking the poller backend (kc_poller.h).
 *
 * epoll on Linux, unless KCORO_PORT=portable asks for the poll() backend,
 * which every POSIX system has. Both backends use the wake fds of
 * kc_port_fd.c; this file sits above them and calls down only.
 */
#include "port/kc_futex.h"
#include "port/kc_poller.h"

int kc__poller_open(struct kc_poller **out)
{
#ifdef __linux__
    if (!kc__port_portable())
        return kc__poller_open_epoll(out);
#endif
    return kc__poller_open_poll(out);
}
