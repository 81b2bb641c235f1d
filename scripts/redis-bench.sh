#!/usr/bin/env bash
# redis-bench.sh: redis-benchmark against Redis four ways, in one run:
#
#   direct    redis-benchmark -> redis-server
#   plain     redis-benchmark -> scripts/passthrough (bytes copied, nothing checked) -> redis-server
#   haproxy   redis-benchmark -> haproxy, mode tcp -> redis-server (when haproxy is installed)
#   ubfproxy  redis-benchmark -> ubfproxy run --wire resp --contract contracts/redis.con -> redis-server
#
# (ubfproxy with its defaults: on Linux, event loops, one fewer than the
# processors and at least one)
#
# each with `-t set,get -n 200000 -c 50`, unpipelined and with -P 16. The
# paths are measured in rotating order, ROUNDS times (default 3), and the
# median of each figure is reported, so that whatever else the machine does
# weighs on all of them alike. ubfproxy is compared with the plain Go proxy
# (what checking every message costs on top of being a proxy) and with
# HAProxy (an event-loop proxy in C that checks nothing): the ratios are
# also taken per round, paired, since rounds run minutes apart on a shared
# machine, and their medians are printed after the table. So is each
# proxy's CPU time per request (user and system, read from /proc/PID/stat
# around each redis-benchmark; SET and GET together): what the proxy costs
# the machine, which on a machine whose cores are all busy decides the
# throughput of everything on it; and the user-space part of it, which
# is what a proxy's own code decides (the kernel's part is mostly the
# same TCP work for every proxy). Last, what the whole chain spends per
# request (the proxy, redis-server from /proc/PID/stat, redis-benchmark
# from bash's time), and the ratio to ubfproxy that its total predicts:
# where the three share the cores, throughput follows the total (roughly:
# the prediction has been within about 0.1 of the ratio measured), and a
# proxy can change what Redis and the benchmark spend too.
#
# Usage: scripts/redis-bench.sh            (from the repository root)
#        ROUNDS=1 REQUESTS=50000 scripts/redis-bench.sh   (a quick look)
#        BASE_REV=dac86d7 scripts/redis-bench.sh
#        (also measures ubfproxy built at that revision, as "base", in the
#        same rotation, and prints ubfproxy / base: what a change gained)
#        EVLOOP=1 scripts/redis-bench.sh
#        (also measures scripts/evloop, an event-loop prototype, copying
#        bytes ("evcopy") and checking against contracts/redis.con
#        ("evcheck"), and prints their ratios to HAProxy: what an event
#        loop could give ubfproxy; EVLOOP_WAIT=poller for its -wait poller,
#        EVLOOP_LOOPS=n for n loops rather than one per processor,
#        EVLOOP_KEEP_POLLER=1 for its -keep-poller)
#        GOROUTINES=1 scripts/redis-bench.sh
#        (also measures ubfproxy with --event-loop=false, "ubfgo": a
#        goroutine per direction, the default before the event loop; and
#        prints its ratios to the plain proxy, HAProxy and ubfproxy)
#        EVENT_LOOP=1 scripts/redis-bench.sh
#        (also measures ubfproxy with a loop per processor, "ubfloop"
#        (--event-loops with the machine's count), and prints its ratios
#        to the plain proxy, HAProxy and ubfproxy)
#        PROCS1=1 scripts/redis-bench.sh
#        (also measures ubfproxy run with --event-loop=false and
#        GOMAXPROCS=1, "ubf1": goroutines on one processor; and prints its
#        ratios to the plain proxy, HAProxy and ubfproxy with its defaults)
#        LOOP1=1 scripts/redis-bench.sh
#        (also measures ubfproxy with --event-loop run with GOMAXPROCS=1,
#        "ubfloop1": one loop, one processor; and prints its ratios to the
#        plain proxy, HAProxy and ubfproxy)
#        ONE_LOOP=1 scripts/redis-bench.sh
#        (also measures ubfproxy with --event-loop --event-loops 1,
#        "oneloop": one loop, as many processors as the machine has; and
#        prints its ratios to the plain proxy, HAProxy and ubfproxy)
#        PIN=1 scripts/redis-bench.sh
#        (also measures ubfloop1 held to the first processor with taskset
#        -c 0, "ubfpin", and prints its ratios: what the kernel's placing
#        of the proxy's threads and of the processes it wakes costs)
#        HAPROXY1=1 scripts/redis-bench.sh
#        (also measures HAProxy with one thread, "haproxy1", beside its
#        default of one per processor, and prints ubfproxy / haproxy1 and
#        haproxy1 / haproxy: what HAProxy's second thread gives it)
#
# Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools)
# and Go; haproxy (Debian: haproxy) is optional. Every process it starts is
# stopped when it exits.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PASSWORD=bench-pw

NAME=redis-bench
. "$(dirname "$0")/bench-common.sh"
needs redis-server redis-benchmark go
started_on=$(machine)
build_proxies
start_redis
redis_pid=${pids[-1]}

declare -A pid port=([direct]=$redis_port)
paths=(direct)
start_proxies
results="$work/results.csv" # round,path,pipeline,test,rps,p50,p99
cpu="$work/cpu.csv"         # round,path,pipeline,requests,user ticks,system ticks
chain="$work/chain.csv"     # round,path,pipeline,requests,Redis ticks,redis-benchmark seconds
: >"$results"
: >"$cpu"
: >"$chain"
TIMEFORMAT='%U %S' # what bash's time prints: redis-benchmark's CPU

# ticks pid: the CPU time process pid and its threads have used, in clock
# ticks: user and system, comma-separated.
ticks() { awk '{ print $14 "," $15 }' "/proc/$1/stat"; }

# spent before after: the user and system ticks (comma-separated) from
# before to after, two readings of ticks.
spent() { echo "$((${2%,*} - ${1%,*})),$((${2#*,} - ${1#*,}))"; }

for round in $(seq 1 "$ROUNDS"); do
	for pipeline in 1 16; do
		# Rotate the order each round.
		for i in "${!paths[@]}"; do
			path=${paths[$(((i + round) % ${#paths[@]}))]}
			echo "round $round/$ROUNDS: $path -P $pipeline" >&2
			[ -n "${pid[$path]:-}" ] && before=$(ticks "${pid[$path]}")
			redis_before=$(ticks "$redis_pid")
			{ time redis-benchmark -h 127.0.0.1 -p "${port[$path]}" -a "$PASSWORD" \
				-t set,get -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" --csv 2>/dev/null |
				awk -F'","' -v r="$round" -v path="$path" -v p="$pipeline" 'NR > 1 {
					gsub(/"/, "", $1); gsub(/"/, "", $NF)
					print r "," path "," p "," $1 "," $2 "," $5 "," $7 }' >>"$results"; } 2>"$work/time.txt"
			redis_spent=$(spent "$redis_before" "$(ticks "$redis_pid")")
			read -r bench_user bench_sys <"$work/time.txt"
			echo "$round,$path,$pipeline,$((2 * REQUESTS)),$((${redis_spent%,*} + ${redis_spent#*,})),$bench_user,$bench_sys" >>"$chain"
			if [ -n "${pid[$path]:-}" ]; then
				echo "$round,$path,$pipeline,$((2 * REQUESTS)),$(spent "$before" "$(ticks "${pid[$path]}")")" >>"$cpu"
			fi
		done
	done
done

# Only ubfproxy logs violation records: every path's log is read.
violations=$(cat "$work"/*.log 2>/dev/null | grep -c '"contract violation"' || true)

# The median of each figure over the rounds, the table, and the ratios.
report_machine
python3 - "$results" "$ROUNDS" "$REQUESTS" "$CLIENTS" "$violations" "$cpu" "$(getconf CLK_TCK)" "$chain" <<'EOF'
import csv, statistics, sys
path, rounds, n, c, violations, cpu_path, tck, chain_path = sys.argv[1:]
rows, by_round = {}, {}
for rnd, p, pipe, test, rps, p50, p99 in csv.reader(open(path)):
    rows.setdefault((test, int(pipe), p), []).append((float(rps), float(p50), float(p99)))
    by_round[(int(rnd), test, int(pipe), p)] = float(rps)
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
# Every path the scripts start, in the order of the tables, and its name:
# a name that starts with "ubfproxy" is a ubfproxy (the chain's prediction
# is printed for those).
names = {"direct": "direct", "plain": "plain proxy", "haproxy": "HAProxy", "haproxy1": "HAProxy, one thread", "base": "ubfproxy at BASE_REV",
         "evcopy": "evloop copying", "evcheck": "evloop checking", "ubfproxy": "ubfproxy",
         "ubfloop": "ubfproxy, a loop per processor", "ubfgo": "ubfproxy --event-loop=false",
         "ubf1": "ubfproxy --event-loop=false, GOMAXPROCS=1",
         "ubfloop1": "ubfproxy --event-loop, GOMAXPROCS=1",
         "oneloop": "ubfproxy --event-loop --event-loops 1",
         "ubfpin": "ubfproxy --event-loop, GOMAXPROCS=1, taskset -c 0"}
paths = [p for p in names if any(k[2] == p for k in med)]
print(f"redis-benchmark -t set,get -n {n} -c {c}, median of {rounds} round(s); latency in ms")
print()
print("| test | " + " | ".join(f"{names[p]} req/s" for p in paths) + " | p50 " + " / ".join(paths) + " | p99 " + " / ".join(paths) + " |")
print("|---|" + "---:|" * len(paths) + "---|---|")
for test in ("SET", "GET"):
    for pipe in (1, 16):
        m = [med.get((test, pipe, p)) for p in paths]
        label = test if pipe == 1 else f"{test} -P {pipe}"
        if not all(m):
            print(f"| {label} | missing results |")
            continue
        print(f"| {label} | " + " | ".join(f"{x[0]:,.0f}" for x in m)
              + " | " + " / ".join(f"{x[1]:.3f}" for x in m) + " | " + " / ".join(f"{x[2]:.3f}" for x in m) + " |")

def ratio(test, pipe, base, of="ubfproxy"):
    """The median over rounds of of / base, each round paired."""
    rs = [by_round[(r, test, pipe, of)] / by_round[(r, test, pipe, base)]
          for r in range(1, int(rounds) + 1)
          if (r, test, pipe, of) in by_round and (r, test, pipe, base) in by_round]
    return (statistics.median(rs), min(rs), max(rs)) if rs else None

print()
print("| ratio (median of paired rounds, min-max) | SET | GET |")
print("|---|---:|---:|")
pairs = [("ubfproxy", b) for b in ("plain", "haproxy", "haproxy1", "base")] + [("haproxy1", "haproxy")]
pairs += [(e, "haproxy") for e in ("evcopy", "evcheck")] + [("ubfproxy", "evcheck")]
pairs += [("ubfloop", b) for b in ("plain", "haproxy", "ubfproxy", "evcheck")]
pairs += [("ubfproxy", "ubfgo")] + [("ubfgo", b) for b in ("plain", "haproxy")]
pairs += [("ubf1", b) for b in ("plain", "haproxy", "haproxy1", "ubfproxy")]
pairs += [("ubfloop1", b) for b in ("plain", "haproxy", "haproxy1", "ubfproxy")]
pairs += [("oneloop", b) for b in ("plain", "haproxy", "haproxy1", "ubfproxy", "ubfloop")]
pairs += [("ubfpin", b) for b in ("plain", "haproxy", "haproxy1", "ubfproxy", "ubfloop1")]
for of, base in pairs:
    if of not in paths or base not in paths:
        continue
    for pipe in (1, 16):
        cells = []
        for test in ("SET", "GET"):
            r = ratio(test, pipe, base, of)
            cells.append(f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})" if r else "missing")
        what = f"c={c}" + ("" if pipe == 1 else f" -P {pipe}")
        print(f"| {names[of]} / {names[base]}, {what} | {cells[0]} | {cells[1]} |")
cpu, user = {}, {}
for rnd, p, pipe, reqs, u, s in csv.reader(open(cpu_path)):
    per = 1e6 / int(tck) / int(reqs)
    cpu.setdefault((p, int(pipe)), []).append((int(u) + int(s)) * per)
    user.setdefault((p, int(pipe)), []).append(int(u) * per)
if cpu:
    print()
    print("| proxy CPU per request, µs (/proc/PID/stat; median of rounds, min-max) | c=" + c + " | c=" + c + " -P 16 | of which user space, c=" + c + " | -P 16 |")
    print("|---|---:|---:|---:|---:|")
    for p in paths:
        cells = [cpu.get((p, pipe)) for pipe in (1, 16)] + [user.get((p, pipe)) for pipe in (1, 16)]
        if any(cells):
            print(f"| {names[p]} | " + " | ".join(f"{statistics.median(x):.2f} ({min(x):.2f}-{max(x):.2f})" if x else "missing" for x in cells) + " |")

# What the whole chain (proxy, Redis, redis-benchmark) spends per request:
# where they share the machine's cores, throughput follows its total.
other = {}
for rnd, p, pipe, reqs, redis_t, bu, bs in csv.reader(open(chain_path)):
    other.setdefault((p, int(pipe)), []).append((int(redis_t) / int(tck) * 1e6 / int(reqs), (float(bu) + float(bs)) * 1e6 / int(reqs)))
if other:
    total = {}
    print()
    print("| CPU per request of the chain, µs (medians of rounds) | proxy | Redis | redis-benchmark | total |")
    print("|---|---:|---:|---:|---:|")
    for pipe in (1, 16):
        for p in paths:
            o = other.get((p, pipe))
            if not o:
                continue
            prox = statistics.median(cpu[(p, pipe)]) if (p, pipe) in cpu else 0.0
            red, bench = statistics.median(x[0] for x in o), statistics.median(x[1] for x in o)
            total[(p, pipe)] = prox + red + bench
            what = f"c={c}" + ("" if pipe == 1 else f" -P {pipe}")
            print(f"| {names[p]}, {what} | {prox:.2f} | {red:.2f} | {bench:.2f} | {total[(p, pipe)]:.2f} |")
    print()
    print("| ubfproxy / other, as the chain's CPU predicts (other's total / ubfproxy's) | c=" + c + " | c=" + c + " -P 16 |")
    print("|---|---:|---:|")
    for of in (p for p in paths if names[p].startswith("ubfproxy")):
        for base in ("plain", "haproxy"):
            cells = [total.get((base, pipe), 0) / total[(of, pipe)] if (of, pipe) in total and (base, pipe) in total else None for pipe in (1, 16)]
            if any(cells):
                print(f"| {names[of]} / {names[base]} | " + " | ".join(f"{x:.2f}" if x else "missing" for x in cells) + " |")
print()
print(f"violation records logged by ubfproxy during the run: {violations}")
EOF
