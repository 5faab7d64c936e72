#!/bin/sh
# test_wireshark.sh - the Lua dissector against a real capture of two kcoro processes.
#
# kcoro-wire-session serves on two loopback TCP ports (an IPC connection
# through libkcoro-tcp with a pre-shared key, and a bare transport session
# with DATA frames); dumpcap captures loopback for exactly those ports while
# the client process runs the session; then tshark decodes the capture
# with core/tools/wireshark/kcoro.lua and wireshark_check.py compares every
# decoded frame with the frames parsed independently from the raw TCP
# payload, and the fields with what the two processes say they sent.
#
# Capture: on the loopback interface with dumpcap, which needs root or
# CAP_NET_RAW (CI runs as root). Without either, the test says so and
# fails, except for a non-root user, where it is skipped with the reason.
# dumpcap is known to be capturing once a UDP probe to the RAW port shows
# up in its file; the session starts after that, and the capture stops
# after a second probe (sent once both processes have exited) is in the
# file, so nothing of the session is missed. Needs OUT.
set -u
OUT=${OUT:?OUT must name the build output}
top=$(cd "$(dirname "$0")/../../.." && pwd)
session=$OUT/tools/kcoro-wire-session
lua=$top/core/tools/wireshark/kcoro.lua
work=$(mktemp -d /tmp/kcoro-wireshark.XXXXXX)
server_pid= dumpcap_pid=
fail() { echo "  FAIL    test_wireshark: $*"; for f in server.err client.err dumpcap.err; do
    [ -s "$work/$f" ] && { echo "  --- $f"; tail -5 "$work/$f"; }; done; exit 1; }
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$dumpcap_pid" ] && kill "$dumpcap_pid" 2>/dev/null && wait "$dumpcap_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

[ -x "$session" ] || fail "$session is not built"
# 1. The server; it writes its two ports once it listens.
head -c 32 /dev/urandom > "$work/key" && chmod 600 "$work/key"
"$session" serve "$work/key" "$work/ports" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
i=0
while [ ! -s "$work/ports" ]; do
    i=$((i + 1)); [ $i -gt 200 ] && fail "the server did not start"; sleep 0.05
done
read -r ipc raw < "$work/ports"

# 2. dumpcap on lo for those ports (and the probes), until a probe is in its file.
probe() { python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ("127.0.0.1", int(sys.argv[2])))' "$1" "$raw"; }
seen() { tshark -r "$work/cap.pcapng" -Y "udp.dstport == $raw && data.data == $(printf %s "$1" | od -An -tx1 | tr -d ' \n' | sed 's/../&:/g; s/:$//')" 2>/dev/null | grep -q .; }
dumpcap -q -i lo -f "tcp port $ipc or tcp port $raw or udp port $raw" -w "$work/cap.pcapng" \
    > "$work/dumpcap.out" 2> "$work/dumpcap.err" &
dumpcap_pid=$!
i=0
until probe start && seen start; do
    if ! kill -0 "$dumpcap_pid" 2>/dev/null; then
        dumpcap_pid=
        if [ "$(id -u)" -ne 0 ]; then
            echo "  SKIP    test_wireshark: dumpcap cannot capture on lo as $(id -un) (needs root or CAP_NET_RAW): $(tail -1 "$work/dumpcap.err")"
            exit 0
        fi
        fail "dumpcap cannot capture on lo"
    fi
    i=$((i + 1)); [ $i -gt 100 ] && fail "dumpcap did not start capturing"; sleep 0.1
done

# 3. The client: the whole session, then both processes exit 0.
timeout 60 "$session" connect "$work/key" "$ipc" "$raw" > "$work/client.out" 2> "$work/client.err" ||
    fail "the client failed"
wait "$server_pid" || { server_pid=; fail "the server failed"; }
server_pid=
i=0
until probe end && seen end; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "the end probe never reached the capture"; sleep 0.1
done
kill -INT "$dumpcap_pid"; wait "$dumpcap_pid"; dumpcap_pid=

# 4. Decode: the heuristic finds both sessions (they open with HELLO).
tshark -r "$work/cap.pcapng" -X lua_script:"$lua" -T pdml > "$work/cap.pdml" 2> "$work/tshark.err" ||
    fail "tshark could not decode the capture"
tshark -r "$work/cap.pcapng" -2 -X lua_script:"$lua" -T pdml > "$work/cap2.pdml" 2>> "$work/tshark.err" ||
    fail "tshark -2 could not decode the capture"
tshark -r "$work/cap.pcapng" -Y "tcp.len > 0" -T fields -e tcp.srcport -e tcp.dstport -e tcp.seq \
    -e tcp.payload > "$work/payload.tsv" 2>> "$work/tshark.err" || fail "tshark: TCP payload"
cat "$work/server.out" "$work/client.out" > "$work/sent.txt"
python3 "$top/core/tools/tests/wireshark_check.py" "$work/cap.pdml" "$work/cap2.pdml" \
    "$work/payload.tsv" "$work/sent.txt" "$ipc" "$raw" > "$work/check.out" 2>&1 ||
    { cat "$work/check.out"; fail "the decoded capture differs from what was sent"; }
echo "  PASS    test_wireshark: $(cat "$work/check.out") ($(tshark --version 2>/dev/null | head -1 | cut -d" " -f1-3))"
