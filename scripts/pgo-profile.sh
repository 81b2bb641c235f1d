#!/usr/bin/env bash
# pgo-profile.sh: writes cmd/ubfproxy/default.pgo, the CPU profile the Go
# toolchain uses to optimise ubfproxy (profile-guided optimisation: `go
# build` and `go run` of ./cmd/ubfproxy read it by themselves, -pgo=auto).
# With it the compiler inlines the calls the profile shows hot beyond its
# usual budget and calls the decoder and the endpoint of the hot path
# directly rather than through their interfaces.
#
# The profile is of the proxy's hot path under the load the benchmarks
# measure: ubfproxy built without a profile (-pgo=off, so that an old
# profile does not shape the new one), enforcing contracts/redis.con
# between redis-benchmark (-t set,get -c 50, unpipelined and with -P 16,
# SECONDS_EACH seconds each) and redis-server. Served with --metrics and --pprof, it
# counts the rules too (--metrics turns that on). Run it again when the
# message path changed much: a stale profile still builds and still
# helps, less.
#
# Usage: scripts/pgo-profile.sh             (from the repository root)
#        SECONDS_EACH=30 scripts/pgo-profile.sh
#
# Needs redis-server and redis-benchmark (Debian: redis-server,
# redis-tools) and Go.
set -euo pipefail

SECONDS_EACH=${SECONDS_EACH:-20}
PASSWORD=bench-pw

NAME=pgo-profile
. "$(dirname "$0")/bench-common.sh"
needs redis-server redis-benchmark go
echo "building ubfproxy without a profile..." >&2
go build -pgo=off -o "$work/ubfproxy" ./cmd/ubfproxy
start_redis

port=$(free_port)
metrics=$(free_port)
"$work/ubfproxy" run --contract contracts/redis.con --wire resp \
	--listen "127.0.0.1:$port" --upstream "127.0.0.1:$redis_port" \
	--metrics "127.0.0.1:$metrics" --pprof 2>"$work/ubfproxy.log" &
pids+=($!)
wait_port "$port"

profiles=()
for pipeline in 1 16; do
	echo "profiling for ${SECONDS_EACH}s with redis-benchmark -P $pipeline..." >&2
	# -l: loop until stopped, so that the load covers the whole profile.
	redis-benchmark -h 127.0.0.1 -p "$port" -a "$PASSWORD" -t set,get -c 50 -P "$pipeline" -l -q >/dev/null 2>&1 &
	bench=$!
	pids+=("$bench")
	sleep 1
	go tool pprof -proto -seconds "$SECONDS_EACH" "http://127.0.0.1:$metrics/debug/pprof/profile" >"$work/P$pipeline.pprof" 2>"$work/pprof.log" ||
		{ cat "$work/pprof.log" >&2; exit 1; }
	kill "$bench"
	wait "$bench" 2>/dev/null || true
	profiles+=("$work/P$pipeline.pprof")
done
go tool pprof -proto "${profiles[@]}" >cmd/ubfproxy/default.pgo 2>"$work/pprof.log" || { cat "$work/pprof.log" >&2; exit 1; }
echo "wrote cmd/ubfproxy/default.pgo ($(wc -c <cmd/ubfproxy/default.pgo) bytes)" >&2
