#!/bin/sh
# memattack.sh [UBFPROXY [PROXY FLAGS...]]: issue 11's memory attack against
# a ubfproxy binary (default: built from this checkout): 22 connections, each
# holding an unfinished 14.7 MB UBF(A) frame, and the proxy's RSS meanwhile
# and 10 s after they closed. Loopback only; everything it starts it stops.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill $sink $proxy 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
bin=${1:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/ubfproxy" ./cmd/ubfproxy
	bin=$tmp/ubfproxy
else
	shift
fi
go build -o "$tmp/memattack" ./scripts/memattack
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=127.0.0.1:$(port)
listen=127.0.0.1:$(port)
"$tmp/memattack" -sink "$up" & sink=$!
"$bin" run --wire ubf --no-meta --contract contracts/file.con --listen "$listen" --upstream "$up" \
	--log-level error "$@" & proxy=$!
sleep 1
"$tmp/memattack" -addr "$listen" -pid $proxy -conns "${CONNS:-22}" -bytes "${BYTES:-14700000}" -unit "${UNIT:-11 }"
