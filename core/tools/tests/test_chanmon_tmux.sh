#!/bin/sh
# test_chanmon_tmux.sh - kcoro-chanmon in a real terminal (tmux).
#
# Starts kcoro-obs-demo on a UNIX socket and kcoro-chanmon in a detached
# tmux session of 160x40, then drives it with keys and reads the screen
# back (capture-pane): the channel table with occupancy bars, sorting by
# name, a filter, freezing, the arena view and an arena's allocation
# table, and quitting. Also checks --once and --ndjson. Every wait is
# bounded; everything started is stopped. Needs OUT (the build output).
set -u
OUT=${OUT:?OUT must name the build output}
demo=$OUT/tools/kcoro-obs-demo
mon=$OUT/tools/kcoro-chanmon
work=$(mktemp -d /tmp/kcoro-tmux.XXXXXX)
sock=$work/demo.sock
sess=kcoro-chanmon-$$
demo_pid=
fail() {
    echo "  FAIL    test_chanmon_tmux: $*"
    tmux capture-pane -p -t "$sess" 2>/dev/null | sed 's/^/    | /'
    exit 1
}
cleanup() {
    tmux kill-session -t "$sess" 2>/dev/null
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$demo" --seconds 120 "unix:$sock" > "$work/demo.out" 2>&1 &
demo_pid=$!
i=0
while ! grep -q '^ready ' "$work/demo.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "the demo did not start"; sleep 0.1
done

# Headless modes first.
"$mon" --once --interval 300 "unix:$sock" > "$work/once.txt" || fail "--once failed"
grep -q '^backlog .* 64/64 ' "$work/once.txt" || { cat "$work/once.txt"; fail "--once: no full backlog"; }
"$mon" --ndjson --once --interval 300 "unix:$sock" > "$work/nd.txt" || fail "--ndjson failed"
grep -q '"type":"chan","id":[0-9]*,"name":"orders","sends_per_s":[1-9]' "$work/nd.txt" ||
    { cat "$work/nd.txt"; fail "--ndjson: no orders rate"; }
grep -Eq '"type":"conn","id":[0-9]+,"name":"to mem:obs-demo-[0-9]+","sent_bytes_per_s":[1-9][0-9.]*,"received_bytes_per_s":[1-9][0-9.]*,"rpcs_outstanding":[01],"state":0}' "$work/nd.txt" ||
    { cat "$work/nd.txt"; fail "--ndjson: no connection rates"; }
# The demo's remote channel, exported on one end of its connection and
# imported on the other: both listed, with their connection and the
# elements each way.
grep -Eq '^quotes-out +[0-9]+ exported quotes +from pid [0-9]+ +[1-9][0-9]* +0 +[1-9][0-9.]* +0\.0 +0 open$' "$work/once.txt" ||
    { cat "$work/once.txt"; fail "--once: no exported remote channel"; }
grep -Eq '^quotes-in +[0-9]+ imported quotes +to mem:obs-demo-[0-9]+ +0 +[1-9][0-9]* +0\.0 +[1-9][0-9.]* +[0-9]+ open$' "$work/once.txt" ||
    { cat "$work/once.txt"; fail "--once: no imported remote channel"; }
grep -Eq '"type":"remote_chan","id":[0-9]+,"name":"quotes-in","role":"imported","remote":"quotes","conn":"to mem:obs-demo-[0-9]+","sent":0,"received":[1-9][0-9]*,"sent_per_s":0\.0,"received_per_s":[1-9][0-9.]*,"inbox":[0-9]+,"state":1}' "$work/nd.txt" ||
    { cat "$work/nd.txt"; fail "--ndjson: no imported remote channel"; }

screen() { tmux capture-pane -p -t "$sess"; }
# Wait (up to 10 s) until the screen matches an extended regex.
until_screen() {
    i=0
    while ! screen | grep -Eq "$1"; do
        i=$((i + 1)); [ $i -gt 100 ] && fail "screen never showed /$1/"; sleep 0.1
    done
}
key() { tmux send-keys -t "$sess" "$@"; }

tmux new-session -d -s "$sess" -x 160 -y 40 "$mon --interval 200 unix:$sock" || fail "tmux"
until_screen '^kcoro-chanmon +[0-9]+ objects +sort: rate'
until_screen '^backlog +[0-9]+ BUFFERED +\[########\] +64 '
until_screen '^orders +[0-9]+ BUFFERED +\[\.*#*\.*\]'
until_screen '^jobs .* eagain:[0-9.]+k?'
until_screen '^to mem:obs-demo-[0-9]* +[0-9]+ conn +open, out [0-9.]+k?B/s, in [0-9.]+k?B/s'
until_screen '^demo +[0-9]+ sched +1 workers, 2[01] live tasks'
until_screen '^quotes-out +[0-9]+ remote +exported "quotes" from pid [0-9]+, open, out [0-9.]+k?/s, in 0\.0/s'
until_screen '^quotes-in +[0-9]+ remote +imported "quotes" to mem:obs-demo-[0-9]+, open, out 0\.0/s, in [0-9.]+k?/s'
until_screen '^ticks +[0-9]+ bus +published [0-9.]+k?/s, 1 subscribers'
# The busiest channel (orders) is first when sorted by rate.
screen | grep -E '^[a-z]+ +[0-9]+ (BUFFERED|RENDEZVOUS|CONFLATED)' | head -1 | grep -q '^orders ' ||
    fail "orders is not first by rate"
# Sparklines fill in.
until_screen '^orders .*[#*+=]{3}'

key s
until_screen 'sort: name'
first=$(screen | grep -E '^[a-z]+ +[0-9]+ (BUFFERED|RENDEZVOUS|CONFLATED)' | head -1 | cut -d' ' -f1)
[ "$first" = "backlog" ] || fail "sorted by name, first is $first"
key r
until_screen 'sort: name \(reversed\)'
first=$(screen | grep -E '^[a-z]+ +[0-9]+ (BUFFERED|RENDEZVOUS|CONFLATED)' | head -1 | cut -d' ' -f1)
[ "$first" = "right" ] || fail "reversed, first is $first"

key / ; sleep 0.2; key o r d Enter
until_screen 'filter: ord'
n=$(screen | grep -cE '^[a-z]+ +[0-9]+ (BUFFERED|RENDEZVOUS|CONFLATED)')
[ "$n" = "1" ] || fail "filter ord shows $n channels"

key Space
until_screen '\[FROZEN\]'
a=$(screen | grep '^orders ')
sleep 0.6
b=$(screen | grep '^orders ')
[ "$a" = "$b" ] || fail "frozen view changed"
key Space
until_screen 'filter: ord$'

key a
until_screen '^ARENA +ID +PAGES USED'
until_screen '^payloads +[0-9]+ \[[#.]{10}\]'
key Enter
until_screen '^page runs: [0-9]+ slab'
until_screen '^TICKET +GEN +REFS +LEN +WHERE'
until_screen '^[0-9]+ +[0-9]+ +1 +[0-9]+ +page [0-9]+'

key q
i=0
while tmux has-session -t "$sess" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 50 ] && fail "q did not quit"; sleep 0.1
done
echo "  PASS    test_chanmon_tmux: table, bars, sort, reverse, filter, freeze, arena table, connections, remote channels, quit; --once, --ndjson"
