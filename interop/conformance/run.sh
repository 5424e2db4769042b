#!/usr/bin/env bash
# Outside-in conformance probe of `rsocket serve` (the README's main job): hand-built frames
# over raw TCP against four servers — plain, --lease (2 requests per 600 ms lease), --resume
# and --mtu 65536 — checking the conformance rows listed in probe.py and probe_more.py (the
# latter also against a fifth, --lease --resume, for R28), then the attacks of
# attacks.py against four fresh servers. Each prints one line per check and a final
# "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
(cd "$root" && cargo build -q -p rsocket-cli)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/rsocket"
[[ "$bin" = /* ]] || bin="$root/$bin"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # port, extra flags...
    local port="$1"; shift
    "$bin" serve --tcp "127.0.0.1:$port" --ws off --wamp-ws off --wamp-rawsocket off "$@" \
        > "$here/.serve-$port.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "conformance: rsocket serve did not start on port $port" >&2
    cat "$here/.serve-$port.log" >&2
    exit 1
}

read -r plain lease resume mtu <<< "$(python3 "$here/../free_ports.py" 4)"
start "$plain"
start "$lease" --lease --lease-requests 2 --lease-ttl-ms 600
start "$resume" --resume
start "$mtu" --mtu 65536
timeout 120 python3 "$here/probe.py" "$plain" "$lease" "$resume" "$mtu"
read -r both <<< "$(python3 "$here/../free_ports.py" 1)"
start "$both" --lease --lease-requests 2 --lease-ttl-ms 600 --resume
timeout 120 python3 "$here/probe_more.py" "$plain" "$lease" "$resume" "$mtu" "$both"

# The attacks of conformance.md (A1-A18) against fresh servers: their memory checks start
# from each server's RSS, which the probe above has grown.
read -r plain lease resume mtu <<< "$(python3 "$here/../free_ports.py" 4)"
start "$plain"
start "$lease" --lease --lease-requests 2 --lease-ttl-ms 600
start "$resume" --resume
start "$mtu" --mtu 65536
timeout 180 python3 "$here/attacks.py" "$plain" "$resume" "$mtu" "$lease"
