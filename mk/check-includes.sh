#!/bin/sh
# mk/check-includes.sh [TOP] - include hygiene, part of `make lint`: no file
# in core/, graduated/ or lab/*/src outside core/src/port includes a Linux
# header or any system header beyond C11 and POSIX.1-2008 (core's tests may
# also include cmocka.h, the examples kcoro's headers as users do, peer
# benchmarks their peer's header). Prints what
# it finds and exits non-zero if anything was found.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
allowed='assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h
locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h
stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h time.h uchar.h wchar.h wctype.h
aio.h arpa/inet.h dirent.h dlfcn.h fcntl.h fnmatch.h glob.h grp.h iconv.h langinfo.h
libgen.h monetary.h mqueue.h net/if.h netdb.h netinet/in.h netinet/tcp.h nl_types.h
poll.h pthread.h pwd.h regex.h sched.h search.h semaphore.h spawn.h strings.h
sys/mman.h sys/resource.h sys/select.h sys/socket.h sys/stat.h sys/statvfs.h sys/time.h
sys/times.h sys/types.h sys/uio.h sys/un.h sys/utsname.h sys/wait.h syslog.h termios.h
unistd.h utime.h wordexp.h'
bad=$({ find core graduated -name '*.[ch]'; find lab -path 'lab/*/src/*' -name '*.[ch]'; } 2>/dev/null |
    sort | grep -v '^core/src/port/' | while read -r f; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$f" |
    while read -r h; do
        case " $(echo $allowed) " in *" $h "*) continue ;; esac
        case "$f:$h" in core/tests/*:cmocka.h) continue ;; esac
        case "$f:$h" in core/examples/*:kcoro.h | core/examples/*:kcoro/*) continue ;; esac # as users write it
        case "$f:$h" in core/tools/chanmon/*:curses.h) continue ;; esac # its terminal UI
        case "$f" in core/bench/peers/*) continue ;; esac # peers include their library
        echo "  $f includes <$h>: not C11/POSIX (platform code belongs in core/src/port)"
    done
done)
if [ -n "$bad" ]; then echo "lint: include hygiene:"; echo "$bad"; exit 1; fi
exit 0

