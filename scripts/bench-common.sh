# bench-common.sh: what the benchmark scripts share, sourced by them with
# NAME (for messages) and PASSWORD set: a checked list of tools, a work
# directory and the processes started, both cleaned up at exit, free
# loopback ports, the two proxies built, redis-server started, and
# HAProxy's configuration.

# needs bin...: exits unless every bin is installed.
needs() {
	for bin in "$@"; do
		command -v "$bin" >/dev/null || { echo "$NAME: $bin is not installed" >&2; exit 2; }
	done
	[ -f contracts/redis.con ] || { echo "$NAME: run from the repository root" >&2; exit 2; }
}

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port port: waits up to a minute (valgrind starts slowly) until
# something listens on port.
wait_port() {
	for _ in $(seq 1 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$NAME: nothing listens on port $1" >&2
	exit 1
}

# machine: one line naming the machine and its state now (CPU model,
# processors, kernel, load average, UTC time) and the commit measured, for
# the report: figures of two machines differ by more than any change.
machine() {
	local model rev
	model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || rev="$rev (with uncommitted changes)"
	echo "${model:-unknown CPU}, $(nproc) processors, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null), $(date -u +'%Y-%m-%d %H:%M UTC'); ubfproxy at $rev"
}

# start_path name port command...: starts command as the path called name
# (what it prints in $work/name.log), waits until something listens on
# port, and records it in the arrays pid and port and the list paths, which
# the script declares (declare -A pid port; paths=()).
start_path() {
	local name=$1 p=$2
	shift 2
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	pid[$name]=$!
	wait_port "$p"
	port[$name]=$p
	paths+=("$name")
}

# build_proxies: $work/ubfproxy and $work/passthrough.
build_proxies() {
	echo "building ubfproxy and the pass-through proxy..." >&2
	go build -o "$work/ubfproxy" ./cmd/ubfproxy
	go build -o "$work/passthrough" ./scripts/passthrough
}

# build_evloop: $work/evloop, the event-loop prototype (scripts/evloop), for
# the scripts' EVLOOP=1.
build_evloop() {
	echo "building scripts/evloop..." >&2
	go build -o "$work/evloop" ./scripts/evloop
}

# evloop_cmd name port: sets evloop to the command that runs the prototype
# as name (evcopy copies bytes, evcheck checks contracts/redis.con) on
# port, in front of Redis, waiting the EVLOOP_WAIT way (default syscall),
# with EVLOOP_LOOPS event loops (default: one per processor), beside the Go
# runtime's poller with EVLOOP_KEEP_POLLER=1 (its -keep-poller).
evloop_cmd() {
	evloop=("$work/evloop" -wait "${EVLOOP_WAIT:-syscall}" -listen "127.0.0.1:$2" -upstream "127.0.0.1:$redis_port")
	[ -n "${EVLOOP_LOOPS:-}" ] && evloop+=(-loops "$EVLOOP_LOOPS")
	[ -n "${EVLOOP_KEEP_POLLER:-}" ] && evloop+=(-keep-poller)
	[ "$1" = evcheck ] && evloop+=(-contract contracts/redis.con)
	return 0
}

# start_redis: redis-server on a free port ($redis_port) with PASSWORD and
# no persistence.
start_redis() {
	redis_port=$(free_port)
	redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$work" --requirepass "$PASSWORD" --logfile "$work/redis.log" &
	pids+=($!)
	wait_port "$redis_port"
}

# build_base: $work/ubfproxy-base, ubfproxy built at BASE_REV, when set.
build_base() {
	[ -n "${BASE_REV:-}" ] || return 0
	echo "building ubfproxy at $BASE_REV..." >&2
	git worktree add -q --detach "$work/base-src" "$BASE_REV"
	(cd "$work/base-src" && go build -o "$work/ubfproxy-base" ./cmd/ubfproxy)
	git worktree remove --force "$work/base-src"
}

# haproxy_config port [threads]: writes a configuration of HAProxy in TCP
# mode on 127.0.0.1:port in front of redis-server, as the benchmarks run it
# (the defaults of HAProxy 2.6: one thread per CPU; with threads, that many),
# and sets haproxy_cfg to its path.
haproxy_config() {
	haproxy_cfg="$work/haproxy-${2:-default}.cfg"
	cat >"$haproxy_cfg" <<CFG
global
	maxconn 4096
	${2:+nbthread $2}
defaults
	mode tcp
	timeout connect 5s
	timeout client 5m
	timeout server 5m
frontend bench
	bind 127.0.0.1:$1
	default_backend redis
backend redis
	server redis 127.0.0.1:$redis_port
CFG
}

# start_ubfproxy name procs binary [flags...]: starts ubfproxy (binary)
# as path name in front of redis-server on a free port, enforcing
# contracts/redis.con, with flags, and with GOMAXPROCS=procs unless procs
# is empty; with pin_cpus set, on those processors only (taskset -c).
start_ubfproxy() {
	local name=$1 procs=$2 binary=$3 p pin=()
	shift 3
	p=$(free_port)
	[ -n "${pin_cpus:-}" ] && pin=(taskset -c "$pin_cpus")
	start_path "$name" "$p" "${pin[@]}" env ${procs:+GOMAXPROCS=$procs} "$binary" run --contract contracts/redis.con --wire resp \
		--listen "127.0.0.1:$p" --upstream "127.0.0.1:$redis_port" "$@"
}

# start_proxies: starts, in front of redis-server, the proxies the scripts
# compare, as paths (start_path): plain (scripts/passthrough) and ubfproxy
# enforcing contracts/redis.con (its defaults: on Linux, event loops, one
# fewer than the processors); ubfgo, the same with --event-loop=false (a
# goroutine per direction), with GOROUTINES=1; ubf1, ubfgo with
# GOMAXPROCS=1, with PROCS1=1 (since the loop became the default, ubfproxy
# with GOMAXPROCS=1 is ubfloop1); ubfloop1, ubfproxy with GOMAXPROCS=1 (one
# loop), with LOOP1=1; oneloop, --event-loop --event-loops 1 (one loop,
# every processor), with ONE_LOOP=1; ubfpin, ubfloop1 held to the first
# processor (taskset -c 0), with PIN=1; base, ubfproxy built at BASE_REV,
# when set; ubfloop, a loop per processor (--event-loops with the
# machine's count), with EVENT_LOOP=1; evcopy and
# evcheck (scripts/evloop) with EVLOOP=1; haproxy when installed,
# and haproxy1, HAProxy with one thread, with HAPROXY1=1 too.
start_proxies() {
	local p ev
	p=$(free_port)
	start_path plain "$p" "$work/passthrough" -listen "127.0.0.1:$p" -upstream "127.0.0.1:$redis_port"
	start_ubfproxy ubfproxy "" "$work/ubfproxy"
	if [ -n "${GOROUTINES:-}" ]; then
		start_ubfproxy ubfgo "" "$work/ubfproxy" --event-loop=false
	fi
	if [ -n "${EVENT_LOOP:-}" ]; then
		start_ubfproxy ubfloop "" "$work/ubfproxy" --event-loop --event-loops "$(nproc)"
	fi
	if [ -n "${PROCS1:-}" ]; then
		start_ubfproxy ubf1 1 "$work/ubfproxy" --event-loop=false
	fi
	if [ -n "${LOOP1:-}" ]; then
		start_ubfproxy ubfloop1 1 "$work/ubfproxy" --event-loop
	fi
	if [ -n "${ONE_LOOP:-}" ]; then
		start_ubfproxy oneloop "" "$work/ubfproxy" --event-loop --event-loops 1
	fi
	if [ -n "${PIN:-}" ]; then
		needs taskset
		pin_cpus=0 start_ubfproxy ubfpin 1 "$work/ubfproxy" --event-loop
	fi
	if [ -n "${BASE_REV:-}" ]; then
		build_base
		start_ubfproxy base "" "$work/ubfproxy-base"
	fi
	if [ -n "${EVLOOP:-}" ]; then
		build_evloop
		for ev in evcopy evcheck; do
			p=$(free_port)
			evloop_cmd "$ev" "$p"
			start_path "$ev" "$p" "${evloop[@]}"
		done
	fi
	if ! command -v haproxy >/dev/null; then
		echo "$NAME: haproxy is not installed; going on without it" >&2
		return 0
	fi
	p=$(free_port)
	haproxy_config "$p"
	start_path haproxy "$p" haproxy -f "$haproxy_cfg" -db
	if [ -n "${HAPROXY1:-}" ]; then
		p=$(free_port)
		haproxy_config "$p" 1
		start_path haproxy1 "$p" haproxy -f "$haproxy_cfg" -db
	fi
}

# report_machine: the machine at the start of the run ($started_on, which
# the script sets from machine before it builds anything) and now.
report_machine() {
	echo "machine at the start: $started_on"
	echo "machine at the end:   $(machine)"
	echo
}
