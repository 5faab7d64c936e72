#!/bin/sh
# demo.sh - two hosts: kcoro processes in two network namespaces, one consumer killed.
#
# `make demo-multihost` (as root) runs this. Two network namespaces joined
# by a veth pair (10.77.0.1/24 and 10.77.0.2/24) stand for two hosts; each
# runs a producer and a remote-select consumer (kcoro-multihost,
# core/tools/multihost/multihost.c); each consumer takes the values of the
# other host's producer over libkcoro-tcp with a pre-shared key, under
# rel: sessions, with KCORO_SIM adding delay and loss in every process and
# KCORO_MONITOR serving each one's registry. The script
#   1. lets a fifth of the values through, then shows kcoro-chanmon
#      (--once --ndjson) attached to a producer and a consumer on each side,
#   2. cuts every TCP connection between the hosts (ss -K in host A): the
#      sessions resume on new connections,
#   3. kills host B's consumer with SIGKILL and starts it again on the same
#      ledger file,
#   4. waits for every process to finish, shows the chanmon streams, and
#      checks the ledger of both directions (core/tools/multihost/ledger.sh)
#      and that the sessions resumed.
# It stops by itself (every wait is bounded; 60 s at most end to end) and
# removes its namespaces, veth and processes on every exit (trap).
#
# When it cannot run (not root, no ip(8), network namespaces refused) it
# fails, unless MULTIHOST_SKIP_OK=1 (set by test targets that run it
# where it may not be possible): then it prints why and exits 0.
# Knobs: MULTIHOST_COUNT (values per direction, 3000), MULTIHOST_SIM
# (netem words, "delay 2ms 1ms loss 1%": a delay with a jitter, which
# reorders, and loss). Needs OUT.
set -u
OUT=${OUT:?OUT must name the build output}
top=$(cd "$(dirname "$0")/../../.." && pwd)
prog=$OUT/tools/kcoro-multihost
chanmon=$OUT/tools/kcoro-chanmon
ledger_sh=$top/core/tools/multihost/ledger.sh
count=${MULTIHOST_COUNT:-3000}
sim=${MULTIHOST_SIM:-delay 2ms 1ms loss 1%}
tag=$$
nsa=kcmh-a-$tag nsb=kcmh-b-$tag
vea=kcmha$tag veb=kcmhb$tag
ipa=10.77.0.1 ipb=10.77.0.2 port=7701
work=
pids=
t0=$(date +%s)

say() { echo "[$(($(date +%s) - t0))s] $*"; }
cannot() {
    if [ "${MULTIHOST_SKIP_OK:-0}" = 1 ]; then
        echo "  SKIP    demo-multihost: $*"
        exit 0
    fi
    echo "demo-multihost: cannot run: $*" >&2
    exit 1
}
fail() {
    echo "demo-multihost: FAIL: $*"
    for f in "$work"/*.err; do
        [ -s "$f" ] && { echo "  --- $(basename "$f")"; tail -8 "$f"; }
    done
    exit 1
}
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    ip netns del "$nsa" 2>/dev/null
    ip netns del "$nsb" 2>/dev/null
    ip link del "$vea" 2>/dev/null
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces and a veth pair)"
command -v ip >/dev/null 2>&1 || cannot "no ip(8): apt-get install iproute2"
command -v ss >/dev/null 2>&1 || cannot "no ss(8): apt-get install iproute2"
[ -x "$prog" ] && [ -x "$chanmon" ] || fail "$prog or $chanmon is not built"
work=$(mktemp -d /tmp/kcoro-multihost.XXXXXX) || fail "mktemp"

# ---- two hosts
if ! { ip netns add "$nsa" && ip netns add "$nsb"; } 2>"$work/netns.err"; then
    cannot "network namespaces refused: $(tail -1 "$work/netns.err")"
fi
ip link add "$vea" type veth peer name "$veb" &&
    ip link set "$vea" netns "$nsa" && ip link set "$veb" netns "$nsb" &&
    ip -n "$nsa" addr add "$ipa/24" dev "$vea" && ip -n "$nsb" addr add "$ipb/24" dev "$veb" &&
    ip -n "$nsa" link set "$vea" up && ip -n "$nsb" link set "$veb" up &&
    ip -n "$nsa" link set lo up && ip -n "$nsb" link set lo up ||
    fail "could not set up the veth pair"
say "hosts: $nsa ($ipa) and $nsb ($ipb), joined by $vea/$veb"
head -c 32 /dev/urandom >"$work/key" && chmod 600 "$work/key"

# run NS LOGNAME SEED ARGS...: one kcoro-multihost in a namespace, in the background
run() {
    ns=$1 log=$2 seed=$3
    shift 3
    KCORO_SIM=$sim KCORO_SIM_SEED=$seed KCORO_MONITOR=unix:$work/$log.sock \
        ip netns exec "$ns" "$prog" "$@" >"$work/$log.out" 2>"$work/$log.err" &
    last=$!
    pids="$pids $last"
}
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }
# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s, fail after SECONDS
wait_until() {
    lim=$(($1 * 10)) what=$2 i=0
    shift 2
    until "$@"; do
        for p in $watch; do
            kill -0 "$p" 2>/dev/null || fail "a process ended early, waiting for $what"
        done
        i=$((i + 1))
        [ $i -gt $lim ] && fail "timed out waiting for $what"
        sleep 0.1
    done
}
watch=
at_least() { # at_least FILE N: FILE has N lines, or every value (N above count)
    n=$2
    [ "$n" -le "$count" ] || n=$count
    [ "$(lines "$1")" -ge "$n" ]
}

say "KCORO_SIM=\"$sim\" in every process; $count values each way; rel: sessions with a 4 s grace"
run "$nsa" prodA 1 producer A "$ipa:$port" "$work/key" "$count"
prod_a=$last
run "$nsb" prodB 2 producer B "$ipb:$port" "$work/key" "$count"
prod_b=$last
run "$nsa" consA 3 consumer A B "$ipb:$port" "$work/key" "$count" "$work/ledger.B-to-A"
cons_a=$last
run "$nsb" consB1 4 consumer B A "$ipa:$port" "$work/key" "$count" "$work/ledger.A-to-B"
cons_b=$last
watch="$prod_a $prod_b $cons_a $cons_b"

# ---- 1. traffic, and chanmon on both sides
wait_until 25 "a fifth of the values A->B" at_least "$work/ledger.A-to-B" $((count / 5))
wait_until 25 "a fifth of the values B->A" at_least "$work/ledger.B-to-A" $((count / 5))
say "flowing: A->B $(lines "$work/ledger.A-to-B"), B->A $(lines "$work/ledger.B-to-A") recorded"
for s in prodA consB1 prodB consA; do
    wait_until 10 "$s's monitor" test -S "$work/$s.sock"
    "$chanmon" --ndjson --interval 1000 "unix:$work/$s.sock" >"$work/$s.ndjson" 2>/dev/null &
    pids="$pids $!"
done
for s in prodA consB1; do
    say "kcoro-chanmon --once --ndjson --interval 500 unix:$s.sock"
    timeout 10 "$chanmon" --once --ndjson --interval 500 "unix:$work/$s.sock" >"$work/$s.once" ||
        fail "kcoro-chanmon --once could not read $s's monitor"
    grep -E '"(name|conn)":"[AB]\.' "$work/$s.once" | cut -c1-220 | head -6 | sed 's/^/    /'
done

# ---- 2. cut every TCP link between the hosts
ab=$(lines "$work/ledger.A-to-B") ba=$(lines "$work/ledger.B-to-A")
cut=$(ip netns exec "$nsa" ss -K -t state established dst "$ipb" 2>&1 | grep -c "$ipb")
say "cut: ss -K killed $cut TCP connections of host A to host B (the sessions' links)" \
    "at A->B $ab, B->A $ba recorded"
[ "$cut" -ge 2 ] || fail "ss -K cut $cut connections (needs CONFIG_INET_DIAG_DESTROY)"
wait_until 25 "A->B to go on after the cut" at_least "$work/ledger.A-to-B" $((ab + 100))
wait_until 25 "B->A to go on after the cut" at_least "$work/ledger.B-to-A" $((ba + 100))
say "the sessions resumed on new links: A->B $(lines "$work/ledger.A-to-B")," \
    "B->A $(lines "$work/ledger.B-to-A") recorded"

# ---- 3. kill host B's consumer, start it again
wait_until 25 "two fifths of the values A->B" at_least "$work/ledger.A-to-B" $((2 * count / 5))
watch="$prod_a $prod_b $cons_a"
kill -9 "$cons_b"
wait "$cons_b" 2>/dev/null
at_kill=$(lines "$work/ledger.A-to-B")
say "SIGKILL host B's consumer after it recorded $at_kill of A's values; restarting it"
sleep 1
run "$nsb" consB2 5 consumer B A "$ipa:$port" "$work/key" "$count" "$work/ledger.A-to-B"
cons_b=$last
watch="$prod_a $prod_b $cons_a $cons_b"
wait_until 10 "the restarted consumer's monitor" test -S "$work/consB2.sock"
"$chanmon" --ndjson --interval 1000 "unix:$work/consB2.sock" >"$work/consB2.ndjson" 2>/dev/null &
pids="$pids $!"
wait_until 25 "the restarted consumer to record" at_least "$work/ledger.A-to-B" $((at_kill + 100))
say "host B's new consumer goes on: A->B $(lines "$work/ledger.A-to-B") recorded"

# ---- 4. the end: every process finishes by itself
left=$((60 - ($(date +%s) - t0)))
[ $left -gt 5 ] || left=5
i=0 rcs=""
for p in $prod_a $prod_b $cons_a $cons_b; do
    while kill -0 "$p" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((left * 10)) ] && fail "the processes did not finish within 60 s"
        sleep 0.1
    done
    wait "$p"
    rcs="$rcs $?"
done
say "finished; exit codes (producers A B, consumers A B):$rcs"
for s in prodA consB1 prodB consA consB2; do
    n=$(lines "$work/$s.ndjson")
    echo "    chanmon --ndjson on $s: $n lines, e.g.:"
    grep -E '"name":"[AB]\.(out|in)' "$work/$s.ndjson" | tail -1 | cut -c1-200 | sed 's/^/      /'
done
for s in prodA prodB consA consB2; do
    echo "    $s: $(tr '\n' ' ' <"$work/$s.out")"
done
case "$rcs" in *[1-9]*) fail "a process failed (exit codes:$rcs)" ;; esac

# ---- the ledger and the sessions
rc=0
sh "$ledger_sh" "A->B" "$count" "$work/ledger.A-to-B" "$work/prodA.out" || rc=1
sh "$ledger_sh" "B->A" "$count" "$work/ledger.B-to-A" "$work/prodB.out" || rc=1
res() { awk '$1 == "rel_resumed" { print $2 }' "$work/$1.out"; }
conns() { awk '$1 == "connections" { print $2 }' "$work/$1.out"; }
lost() { awk '$1 == "connections_lost" { print $2 }' "$work/$1.out"; }
say "sessions resumed after the cut: producer A $(res prodA), producer B $(res prodB)," \
    "consumer A $(res consA); connections served: A $(conns prodA), B $(conns prodB)"
[ "$(res prodA)" -ge 1 ] && [ "$(res prodB)" -ge 1 ] && [ "$(res consA)" -ge 1 ] ||
    { echo "demo-multihost: FAIL: a session did not resume after the cut"; rc=1; }
# A served two consumers (the killed one and its successor; whether the
# killed one's session ran out of grace before the last value was
# acknowledged depends on timing); B served one: its links were cut but
# the session went on.
[ "$(conns prodB)" -eq 1 ] && [ "$(lost prodB)" -eq 0 ] ||
    { echo "demo-multihost: FAIL: B served $(conns prodB) connections, lost $(lost prodB)"; rc=1; }
[ "$(conns prodA)" -eq 2 ] ||
    { echo "demo-multihost: FAIL: A served $(conns prodA) connections, not 2"; rc=1; }
[ $rc -eq 0 ] || fail "the ledger or the sessions do not check out"
say "demo-multihost: OK: both ledgers balance, nothing lost, each value recorded exactly once"
