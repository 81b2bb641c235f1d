#!/usr/bin/env bash
# redis-bench.sh: redis-benchmark against Redis three ways, in one run:
#
#   direct    redis-benchmark -> redis-server
#   plain     redis-benchmark -> scripts/passthrough (bytes copied, nothing checked) -> redis-server
#   ubfproxy  redis-benchmark -> ubfproxy run --wire resp --contract contracts/redis.con -> redis-server
#
# each with `-t set,get -n 200000 -c 50`, unpipelined and with -P 16. The
# three paths are measured in alternating order, ROUNDS times (default 3),
# and the median of each figure is reported, so that whatever else the
# machine does weighs on all of them alike. ubfproxy is compared with the
# plain proxy: what checking every message costs on top of being a proxy.
#
# Usage: scripts/redis-bench.sh            (from the repository root)
#        ROUNDS=1 REQUESTS=50000 scripts/redis-bench.sh   (a quick look)
#
# Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools)
# and Go. Every process it starts is stopped when it exits.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PASSWORD=bench-pw

for bin in redis-server redis-benchmark go; do
	command -v "$bin" >/dev/null || { echo "redis-bench: $bin is not installed" >&2; exit 2; }
done
[ -f contracts/redis.con ] || { echo "redis-bench: run from the repository root" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "redis-bench: nothing listens on port $1" >&2
	exit 1
}

echo "building ubfproxy and the pass-through proxy..." >&2
go build -o "$work/ubfproxy" ./cmd/ubfproxy
go build -o "$work/passthrough" ./scripts/passthrough

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$work" --requirepass "$PASSWORD" --logfile "$work/redis.log" &
pids+=($!)
wait_port "$redis_port"

plain_port=$(free_port)
"$work/passthrough" -listen "127.0.0.1:$plain_port" -upstream "127.0.0.1:$redis_port" 2>"$work/passthrough.log" &
pids+=($!)
wait_port "$plain_port"

ubf_port=$(free_port)
"$work/ubfproxy" run --contract contracts/redis.con --wire resp \
	--listen "127.0.0.1:$ubf_port" --upstream "127.0.0.1:$redis_port" 2>"$work/ubfproxy.log" &
pids+=($!)
wait_port "$ubf_port"

declare -A port=([direct]=$redis_port [plain]=$plain_port [ubfproxy]=$ubf_port)
paths=(direct plain ubfproxy)
results="$work/results.csv" # path,pipeline,test,rps,p50,p99
: >"$results"

for round in $(seq 1 "$ROUNDS"); do
	for pipeline in 1 16; do
		# Rotate the order each round.
		for i in 0 1 2; do
			path=${paths[$(((i + round) % 3))]}
			echo "round $round/$ROUNDS: $path -P $pipeline" >&2
			redis-benchmark -h 127.0.0.1 -p "${port[$path]}" -a "$PASSWORD" \
				-t set,get -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" --csv 2>/dev/null |
				awk -F'","' -v path="$path" -v p="$pipeline" 'NR > 1 {
					gsub(/"/, "", $1); gsub(/"/, "", $NF)
					print path "," p "," $1 "," $2 "," $5 "," $7 }' >>"$results"
		done
	done
done

violations=$(grep -c '"contract violation"' "$work/ubfproxy.log" || true)

# The median of each figure over the rounds, and the table.
python3 - "$results" "$ROUNDS" "$REQUESTS" "$CLIENTS" "$violations" <<'EOF'
import csv, statistics, sys
path, rounds, n, c, violations = sys.argv[1:]
rows = {}
for p, pipe, test, rps, p50, p99 in csv.reader(open(path)):
    rows.setdefault((test, int(pipe), p), []).append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print(f"redis-benchmark -t set,get -n {n} -c {c}, median of {rounds} round(s); latency in ms")
print()
print("| test | pipeline | direct req/s | plain proxy req/s | ubfproxy req/s | ubfproxy / plain | ubfproxy / direct | p50 direct / plain / ubfproxy | p99 direct / plain / ubfproxy |")
print("|---|---|---:|---:|---:|---:|---:|---|---|")
for test in ("SET", "GET"):
    for pipe in (1, 16):
        d, p, u = (med.get((test, pipe, k)) for k in ("direct", "plain", "ubfproxy"))
        if not (d and p and u):
            print(f"| {test} | {pipe} | missing results |")
            continue
        print(f"| {test} | -P {pipe} | {d[0]:,.0f} | {p[0]:,.0f} | {u[0]:,.0f} | {u[0]/p[0]:.0%} | {u[0]/d[0]:.0%} "
              f"| {d[1]:.3f} / {p[1]:.3f} / {u[1]:.3f} | {d[2]:.3f} / {p[2]:.3f} / {u[2]:.3f} |")
print()
print(f"violation records logged by ubfproxy: {violations} (redis-benchmark's CONFIG GET at start-up is refused by the contract)")
EOF
