#!/usr/bin/env bash
# callgrind-per-request.sh: user-space instructions per proxied Redis GET,
# counted by valgrind's callgrind, for ubfproxy (--wire resp, enforcing
# contracts/redis.con), for the plain pass-through proxy
# (scripts/passthrough) and, when it is installed, for HAProxy in TCP mode
# (the configuration redis-bench.sh runs). Instruction counts depend far less than throughput
# on what else the machine is doing (the Go scheduler's idle spinning still
# moves them), so with a few runs and their medians they show a change of a
# few percent that throughput runs on a shared machine cannot.
#
# One client on one connection sends GETs one at a time (c=1), as
# redis-benchmark -t get -c 1 does: after AUTH and WARMUP requests the
# counters are zeroed, REQUESTS more are sent, and the profile is dumped
# (callgrind_control -d) while the proxy still runs; the total over those
# requests divided by REQUESTS is the figure. It counts every thread of the
# proxy process (the Go scheduler and netpoller, the GC), not the kernel,
# and nothing of the connection's set-up.
#
# Usage: scripts/callgrind-per-request.sh          (from the repository root)
#        REQUESTS=5000 KEEP=/tmp/cg scripts/callgrind-per-request.sh
#        (KEEP=dir leaves the profiles there, NAME.runN.out, for callgrind_annotate)
#        PIPELINE=16 scripts/callgrind-per-request.sh
#        (the client writes PIPELINE GETs at once and then reads their
#        replies, as redis-benchmark -P does; the figure is still per GET)
#        PROCS=1 scripts/callgrind-per-request.sh
#        (GOMAXPROCS for both proxies: with 1, idle processors do not spin
#        looking for work, which on a busy machine varies from run to run)
#        RUNS=5 scripts/callgrind-per-request.sh
#        (each proxy is measured RUNS times, default 3, in alternation; the
#        table gives every run and the median, which the ratio uses)
#        GOROUTINES=1 scripts/callgrind-per-request.sh
#        (ubfproxy with --event-loop=false, a goroutine per direction as
#        before the event loop became the default, is measured too)
#        BASE_REV=<commit> scripts/callgrind-per-request.sh
#        (ubfproxy built at that commit is measured too, in the same
#        alternation: a before/after in one run)
#        EVLOOP=1 scripts/callgrind-per-request.sh
#        (scripts/evloop, an event-loop prototype, is measured too, copying
#        bytes and checking against contracts/redis.con; EVLOOP_WAIT=poller
#        for its -wait poller, EVLOOP_LOOPS=n for n loops,
#        EVLOOP_KEEP_POLLER=1 for its -keep-poller)
#
# REQUESTS defaults to 10,000: the Go runtime's garbage collections and
# idle spinning come in bursts, and a window of a few thousand requests
# may hold a collection or not, which moves a single figure by more than
# most changes.
#
# Needs valgrind, redis-server, redis-cli (Debian: redis-tools), python3
# and Go; haproxy (Debian: haproxy) is optional.
set -euo pipefail

REQUESTS=${REQUESTS:-10000}
RUNS=${RUNS:-3}
case $RUNS in
'' | *[!0-9]* | 0) echo "callgrind-per-request: RUNS must be a positive number" >&2; exit 2 ;;
esac
PIPELINE=${PIPELINE:-1}
WARMUP=${WARMUP:-500}
PASSWORD=bench-pw

NAME=callgrind-per-request
. "$(dirname "$0")/bench-common.sh"
needs valgrind callgrind_control redis-server redis-cli python3 go
started_on=$(machine)
build_proxies
build_base
[ -n "${EVLOOP:-}" ] && build_evloop
start_redis
redis-cli -p "$redis_port" -a "$PASSWORD" --no-auth-warning set key xxx >/dev/null

# The client: AUTH, WARMUP GETs, "warm" on stdout; then, on a line from
# stdin, REQUESTS GETs and "done". Each reply is read whole before the next
# request goes out.
cat >"$work/client.py" <<'EOF'
import socket, sys
port, pw, warm, n, p = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.create_connection(("127.0.0.1", int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def call(req, want):
    s.sendall(req)
    got = b""
    while len(got) < len(want):
        b = s.recv(4096)
        if not b:
            sys.exit("connection closed; got %r" % got)
        got += b
    if got != want:
        sys.exit("unexpected reply %r, want %r" % (got, want))
call(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw.encode()), b"+OK\r\n")
get, reply = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", b"$3\r\nxxx\r\n"
for _ in range(warm // p):
    call(get * p, reply * p)
print("warm", flush=True)
sys.stdin.readline()
for _ in range(n // p):
    call(get * p, reply * p)
print("done", flush=True)
EOF

# measure name port command...: runs the proxy under callgrind and prints
# its name and the instructions counted over the REQUESTS requests.
measure() {
	local name=$1 port=$2
	shift 2
	# Go binaries under valgrind: no asynchronous preemption (its signals)
	# and no RDTSCP, which valgrind does not emulate.
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=${PROCS:-} valgrind --tool=callgrind \
		--callgrind-out-file="$work/$name.%p.out" "$@" 2>"$work/$name.valgrind.log" &
	local pid=$!
	pids+=("$pid")
	wait_port "$port"
	# This run's fifo and client output: a file left by an earlier run
	# would be read before the new client writes it.
	rm -f "$work/$name.go" "$work/$name.client"
	mkfifo "$work/$name.go"
	python3 "$work/client.py" "$port" "$PASSWORD" "$WARMUP" "$REQUESTS" "$PIPELINE" <"$work/$name.go" >"$work/$name.client" &
	local cpid=$!
	exec 4>"$work/$name.go"
	until grep -q warm "$work/$name.client"; do
		kill -0 "$cpid" 2>/dev/null || { echo "callgrind-per-request: the client failed against $name" >&2; kill "$pid" 2>/dev/null; exit 1; }
		sleep 0.1
	done
	callgrind_control -z "$pid" >/dev/null 2>&1
	echo go >&4
	exec 4>&-
	wait "$cpid" || { echo "callgrind-per-request: the client failed against $name" >&2; kill "$pid" 2>/dev/null; exit 1; }
	# Dump while the proxy runs: a profile written at exit is not
	# reliably complete for a Go process killed by a signal.
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	# The dump made by -d has a part number; its totals are the
	# instructions since the zeroing.
	local dump total
	dump=$(ls -t "$work/$name.$pid.out".* 2>/dev/null | head -1)
	[ -n "$dump" ] || { echo "callgrind-per-request: no profile dumped for $name (pid $pid)" >&2; exit 1; }
	total=$(awk '/^(totals|summary):/ { print $2; exit }' "$dump")
	if [ -n "${KEEP:-}" ]; then
		mkdir -p "$KEEP"
		cp "$dump" "$KEEP/$name.run${run:-1}.out"
	fi
	echo "$name $total"
}

# measure_ubf name binary [flag...]: measures an ubfproxy binary.
measure_ubf() {
	local port name=$1 bin=$2
	shift 2
	port=$(free_port)
	measure "$name" "$port" "$bin" run --contract contracts/redis.con --wire resp \
		--listen "127.0.0.1:$port" --upstream "127.0.0.1:$redis_port" "$@"
}

results=()
for run in $(seq 1 "$RUNS"); do
	echo "run $run/$RUNS" >&2
	port=$(free_port)
	# measure runs in a subshell: its failure is this script's.
	r=$(measure plain "$port" "$work/passthrough" -listen "127.0.0.1:$port" -upstream "127.0.0.1:$redis_port") || exit 1
	results+=("$r")
	if command -v haproxy >/dev/null; then
		port=$(free_port)
		haproxy_config "$port"
		r=$(measure haproxy "$port" haproxy -f "$haproxy_cfg" -db) || exit 1
		results+=("$r")
	fi
	if [ -n "${EVLOOP:-}" ]; then
		for ev in evcopy evcheck; do
			port=$(free_port)
			evloop_cmd "$ev" "$port"
			r=$(measure "$ev" "$port" "${evloop[@]}") || exit 1
			results+=("$r")
		done
	fi
	if [ -n "${BASE_REV:-}" ]; then
		r=$(measure_ubf base "$work/ubfproxy-base") || exit 1
		results+=("$r")
	fi
	if [ -n "${GOROUTINES:-}" ]; then
		r=$(measure_ubf ubfgo "$work/ubfproxy" --event-loop=false) || exit 1
		results+=("$r")
	fi
	r=$(measure_ubf ubfproxy "$work/ubfproxy") || exit 1
	results+=("$r")
done

report_machine
python3 - "$((REQUESTS / PIPELINE * PIPELINE))" "$PIPELINE" "${BASE_REV:-}" "${results[@]}" <<'EOF'
import statistics, sys
n, p, base = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
runs = {}
for arg in sys.argv[4:]:
    name, total = arg.split()
    runs.setdefault(name, []).append(int(total) / n)
print(f"user-space instructions per proxied GET (callgrind, one client, c=1, {n} requests after a warm-up"
      + (f", {p} GETs written at once" if p > 1 else "") + f"; {len(runs['plain'])} runs each, alternated)")
print()
print("| proxy | runs | median |")
print("|---|---|---:|")
names = {"evcopy": "evloop copying", "evcheck": "evloop checking", "plain": "plain", "haproxy": "HAProxy", "base": f"ubfproxy at {base}", "ubfproxy": "ubfproxy",
         "ubfgo": "ubfproxy --event-loop=false"}
med = {}
for name in ("plain", "haproxy", "evcopy", "evcheck", "base", "ubfgo", "ubfproxy"):
    if name in runs:
        med[name] = statistics.median(runs[name])
        print(f"| {names[name]} | {', '.join(f'{v:,.0f}' for v in runs[name])} | {med[name]:,.0f} |")
print()
print(f"ubfproxy / plain: {med['ubfproxy'] / med['plain']:.2f} (medians)")
if "haproxy" in med:
    print(f"ubfproxy / HAProxy: {med['ubfproxy'] / med['haproxy']:.2f} (medians)")
if "evcheck" in med:
    print(f"ubfproxy / evloop checking: {med['ubfproxy'] / med['evcheck']:.2f} (medians)")
if "base" in med:
    print(f"ubfproxy / ubfproxy at {base}: {med['ubfproxy'] / med['base']:.3f} (medians)")
if "ubfgo" in med:
    print(f"ubfproxy / ubfproxy --event-loop=false: {med['ubfproxy'] / med['ubfgo']:.3f} (medians)")
EOF
