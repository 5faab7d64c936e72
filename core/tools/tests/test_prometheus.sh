#!/bin/sh
# test_prometheus.sh - the exporter against the real Prometheus tools.
#
# Starts kcoro-obs-demo with its monitor on a free loopback TCP port, checks
# one scrape of /metrics with `promtool check metrics`, then runs a
# Prometheus server (Debian's `prometheus`) scraping it every second and
# queries the samples back through Prometheus's HTTP API: the channels'
# send counters must be there, named and increasing. Everything it starts
# it stops; every wait is bounded. Needs OUT (the build flavour's output).
set -u
OUT=${OUT:?OUT must name the build output}
demo=$OUT/tools/kcoro-obs-demo
work=$(mktemp -d /tmp/kcoro-prom.XXXXXX)
demo_pid= prom_pid=
fail() { echo "  FAIL    test_prometheus: $*"; [ -f "$work/prom.log" ] && tail -5 "$work/prom.log"; exit 1; }
cleanup() {
    [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. The demo, on a port the kernel picks; it says where.
"$demo" --seconds 120 tcp:127.0.0.1:0 > "$work/demo.out" 2>&1 &
demo_pid=$!
i=0
while ! grep -q '^ready ' "$work/demo.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "the demo did not start"; sleep 0.1
done
port=$(sed -n 's/^ready tcp:127.0.0.1:\([0-9]*\)$/\1/p' "$work/demo.out")
[ -n "$port" ] || fail "no port in: $(cat "$work/demo.out")"

# 2. One scrape, checked by promtool (format, HELP/TYPE, naming lint).
curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" > "$work/metrics.txt" || fail "scrape failed"
promtool check metrics < "$work/metrics.txt" > "$work/promtool.out" 2>&1 ||
    { cat "$work/promtool.out"; fail "promtool check metrics"; }
grep -q '^kcoro_chan_sends_total{name="orders",id="[0-9]*"} [0-9]' "$work/metrics.txt" ||
    fail "no kcoro_chan_sends_total for orders"
grep -q '^kcoro_conn_sent_frames_total{name="to mem:obs-demo-[0-9]*",id="[0-9]*"} [0-9]' "$work/metrics.txt" ||
    fail "no kcoro_conn_sent_frames_total for the demo's connection"
grep -q '^kcoro_conn_state{name="from pid [0-9]*",id="[0-9]*"} 0$' "$work/metrics.txt" ||
    fail "no kcoro_conn_state 0 (open) for the demo's accepted end"
grep -q '^kcoro_remote_chan_received_elements_total{name="quotes-in",id="[0-9]*",role="imported",remote="quotes",conn="to mem:obs-demo-[0-9]*",conn_id="[0-9]*",chan_id="[0-9]*"} [0-9]' "$work/metrics.txt" ||
    fail "no kcoro_remote_chan_received_elements_total for the demo's imported channel"
grep -q '^kcoro_remote_chan_state{name="quotes-out",id="[0-9]*",role="exported",remote="quotes",conn="from pid [0-9]*",conn_id="[0-9]*",chan_id="[0-9]*"} 1$' "$work/metrics.txt" ||
    fail "no kcoro_remote_chan_state 1 (open) for the demo's export"
grep -q '^# TYPE kcoro_monitor_request_duration_seconds histogram$' "$work/metrics.txt" ||
    fail "no histogram"

# 3. A Prometheus server scraping it, on another free port.
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kcoro
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$pport" > "$work/prom.log" 2>&1 &
prom_pid=$!

# 4. Ask it back: the orders channel's sends, twice, increasing.
q() { curl -sf --max-time 5 "http://127.0.0.1:$pport/api/v1/query" \
        --data-urlencode "query=$1" 2>/dev/null; }
val() { q "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null; }
first= i=0
while [ -z "$first" ]; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "Prometheus never had the sample"; sleep 0.2
    first=$(val 'kcoro_chan_sends_total{name="orders"}')
done
up=$(val 'up{job="kcoro"}')
[ "$up" = "1" ] || fail "target not up ($up)"
i=0 second=$first
while [ "$(python3 -c "print(float('$second') > float('$first'))")" != "True" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "the counter did not grow ($first)"; sleep 0.2
    second=$(val 'kcoro_chan_sends_total{name="orders"}')
done
rate=$(val 'sum(rate(kcoro_chan_receives_total[5s]))')
n=$(q 'count(kcoro_chan_capacity)' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
[ "$n" = "8" ] || fail "expected 8 channels (quotes-in the imported one), Prometheus has $n"
echo "  PASS    test_prometheus: promtool clean; scraped by Prometheus $(prometheus --version 2>&1 | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p'); orders sends $first -> $second; receive rate $rate/s over 8 channels; remote channels labelled"
