#!/usr/bin/env bash
# syscalls-per-request.sh: the system calls each proxy makes per proxied
# Redis GET, counted by perf's syscall tracepoints on the proxy process
# (every thread) while redis-benchmark runs through it. The paths are those
# of redis-bench.sh: the plain pass-through Go proxy (scripts/passthrough),
# HAProxy in TCP mode (when installed), ubfproxy enforcing
# contracts/redis.con and, with EVLOOP=1, the event-loop prototype copying
# and checking. Where system calls are dear (a virtual machine that traps
# them) they are most of a proxy's CPU, and this shows whether a proxy
# pays for more of them or for dearer ones: redis-bench.sh's CPU table has
# the time, this the count. Beside it, counted on the whole machine over
# as many requests again, without perf: the interrupts that wake a process on another
# processor (dear on a virtual machine, where they trap) and the context
# switches, which tell where the proxy makes its neighbours pay.
#
# Usage: scripts/syscalls-per-request.sh          (from the repository root)
#        PIPELINE=16 scripts/syscalls-per-request.sh   (redis-benchmark -P 16)
#        REQUESTS=200000 CLIENTS=10 scripts/syscalls-per-request.sh
#        EVLOOP=1, BASE_REV=<commit>, HAPROXY1=1 scripts/syscalls-per-request.sh
#        (more paths, as in redis-bench.sh: the event-loop prototype, with
#        EVLOOP_LOOPS, EVLOOP_WAIT and EVLOOP_KEEP_POLLER; ubfproxy built at
#        that commit; HAProxy with one thread)
#
# Each path gets a warm-up of a tenth of REQUESTS first (connections made,
# buffers grown), then perf counts over REQUESTS GETs (default 100,000; with
# -P 16, eight times as many). A system call is listed when it is made at
# least once per hundred requests. Needs perf (Debian: linux-perf; the
# syscalls:* tracepoints need root or kernel.perf_event_paranoid <= -1),
# redis-server, redis-benchmark and Go.
set -euo pipefail

PIPELINE=${PIPELINE:-1}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-$((PIPELINE == 1 ? 100000 : 800000))}
PASSWORD=bench-pw

NAME=syscalls-per-request
. "$(dirname "$0")/bench-common.sh"
needs perf redis-server redis-benchmark go
started_on=$(machine)
perf stat -e 'syscalls:sys_enter_read' -- true >/dev/null 2>&1 || {
	echo "$NAME: perf cannot count the syscalls:* tracepoints here (run as root, or lower kernel.perf_event_paranoid)" >&2
	exit 2
}
build_proxies
start_redis

declare -A pid port
paths=()
start_proxies

bench() { # bench port requests
	redis-benchmark -h 127.0.0.1 -p "$1" -a "$PASSWORD" -t get -n "$2" -c "$CLIENTS" -P "$PIPELINE" -q >/dev/null 2>&1
}

# wakeups: the machine's rescheduling and function-call interrupts so far
# (RES and CAL in /proc/interrupts, every processor: what waking a process
# on another processor sends), then its context switches (/proc/stat).
wakeups() {
	echo "$(awk '/^ *(RES|CAL):/ {for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i} END {print s + 0}' /proc/interrupts) $(awk '/^ctxt/ {print $2}' /proc/stat)"
}

for path in "${paths[@]}"; do
	echo "counting $path..." >&2
	bench "${port[$path]}" $((REQUESTS / 10))
	# perf counts until its sleep ends, which the benchmark's end cuts
	# short: the count covers the benchmark and the moment perf takes to
	# start, which a short sleep before the benchmark leaves idle.
	perf stat -x, -e 'syscalls:sys_enter_*' -p "${pid[$path]}" -o "$work/$path.perf" -- sleep 3600 &
	perf_pid=$!
	sleep 1
	bench "${port[$path]}" "$REQUESTS"
	pkill -INT -P "$perf_pid" sleep || true
	wait "$perf_pid" || true
	# Again without perf, whose tracepoints slow every system call and
	# so change when processes sleep and wake.
	before="$(wakeups)"
	bench "${port[$path]}" "$REQUESTS"
	echo "$before $(wakeups)" >"$work/$path.wakeups"
done

report_machine
python3 - "$REQUESTS" "$PIPELINE" "$CLIENTS" "$work" "${paths[@]}" <<'EOF'
import csv, os, sys
n, p, c, work, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
counts = {}
for path in paths:
    counts[path] = {}
    for row in csv.reader(open(os.path.join(work, path + ".perf"))):
        if len(row) < 3 or not row[0].strip().isdigit():
            continue
        name = row[2].removeprefix("syscalls:sys_enter_")
        counts[path][name] = int(row[0])
calls = sorted({k for cs in counts.values() for k, v in cs.items() if v >= n / 100},
               key=lambda k: -max(cs.get(k, 0) for cs in counts.values()))
print(f"system calls per GET (redis-benchmark -t get -n {n} -c {c} -P {p}; perf, every thread of the proxy)")
print()
print("| system call | " + " | ".join(paths) + " |")
print("|---|" + "---:|" * len(paths))
for k in calls:
    print(f"| {k} | " + " | ".join(f"{counts[path].get(k, 0) / n:.3f}" for path in paths) + " |")
print("| all | " + " | ".join(f"{sum(counts[path].values()) / n:.3f}" for path in paths) + " |")
print()
print("the whole machine per GET, over as many requests again without perf: interrupts that wake a process on another processor (RES and CAL in /proc/interrupts), and context switches")
print()
print("| | " + " | ".join(paths) + " |")
print("|---|" + "---:|" * len(paths))
w = {path: [int(x) for x in open(os.path.join(work, path + ".wakeups")).read().split()] for path in paths}
print("| cross-processor wake-ups | " + " | ".join(f"{(w[path][2] - w[path][0]) / n:.3f}" for path in paths) + " |")
print("| context switches | " + " | ".join(f"{(w[path][3] - w[path][1]) / n:.3f}" for path in paths) + " |")
EOF
