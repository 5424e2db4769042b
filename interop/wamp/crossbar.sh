#!/usr/bin/env bash
# Crossbar.io comparison: the same load program (crates/wamp/examples/wamp_load.rs) against our
# router and against Crossbar.io on 127.0.0.1, one after the other, plus an interop check of our
# client (wamp::Session) against Crossbar: RPC and pub/sub with JSON, MessagePack and CBOR over
# WebSocket and RawSocket.
#
# Usage: interop/wamp/crossbar.sh            install (if needed), run both, print the table
#        interop/wamp/crossbar.sh install    only install Crossbar.io into interop/.venv-crossbar
#
# Environment:
#   CB_WS_PORT (18090), CB_RAW_PORT (18091)   Crossbar's WebSocket and RawSocket ports
#   LOAD_ARGS                                 extra wamp_load options for both runs, e.g.
#                                             "--sessions 500 --rpc-secs 3 --serializer json"
#   SKIP_OURS=1                               run only against Crossbar
#   RESULTS=FILE                              also keep the JSON lines (default: a temp file)
# Installing Crossbar.io (pinned, PyPI) takes a few minutes the first time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/interop/.venv-crossbar"
crossbar_version="26.10.1"
python="${PYTHON:-python3}"

install() {
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    # Keep the venv out of git without touching any shared .gitignore.
    [ -f "$venv/.gitignore" ] || echo '*' > "$venv/.gitignore"
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('crossbar') == '$crossbar_version' else 1)" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet "crossbar==$crossbar_version"
    fi
    "$venv/bin/python" -c "import importlib.metadata as m; print('crossbar', m.version('crossbar'), 'autobahn', m.version('autobahn'))"
}

install
[ "${1:-}" = "install" ] && exit 0

ws_port="${CB_WS_PORT:-18090}"
raw_port="${CB_RAW_PORT:-18091}"
read -r -a load_args <<< "${LOAD_ARGS:-}"
results="${RESULTS:-$(mktemp /tmp/wamp-crossbar-results.XXXXXX)}"
: > "$results"

(cd "$root" && cargo build -q --release -p wamp --example wamp_load)
load="$root/target/release/examples/wamp_load"

# 1. Our router (wamp_load starts it as its own child process and reads its /proc).
if [ "${SKIP_OURS:-0}" != "1" ]; then
    echo "== ours =="
    "$load" --json --label ours "${load_args[@]}" | tee -a "$results"
fi

# 2. Crossbar.io with a minimal generated config: realm1, anonymous, WebSocket and RawSocket.
cbdir="$(mktemp -d /tmp/wamp-crossbar.XXXXXX)"
cat > "$cbdir/config.json" <<EOF
{
    "version": 2,
    "controller": {},
    "workers": [
        {
            "type": "router",
            "realms": [
                {
                    "name": "realm1",
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "",
                                    "match": "prefix",
                                    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                                    "disclose": {"caller": false, "publisher": false},
                                    "cache": true
                                }
                            ]
                        }
                    ]
                }
            ],
            "transports": [
                {
                    "type": "websocket",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $ws_port, "backlog": 2048},
                    "serializers": ["json", "msgpack", "cbor"],
                    "options": {"max_message_size": 16777216}
                },
                {
                    "type": "rawsocket",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $raw_port, "backlog": 2048},
                    "serializers": ["json", "msgpack", "cbor"],
                    "options": {"max_message_size": 16777216}
                }
            ]
        }
    ]
}
EOF
"$venv/bin/crossbar" check --cbdir "$cbdir" > "$cbdir/check.log" 2>&1 || { cat "$cbdir/check.log"; exit 1; }
# --shutdownafter bounds the node's life even if this script is killed.
"$venv/bin/crossbar" start --cbdir "$cbdir" --loglevel warn --color false --shutdownafter 1200 \
    > "$cbdir/node.log" 2>&1 &
cb=$!
cleanup() {
    kill "$cb" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$cb" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$cb" 2>/dev/null || true
}
trap cleanup EXIT
up=0
for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$ws_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$raw_port") 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$cb" 2>/dev/null || break
    sleep 0.1
done
if [ "$up" != "1" ]; then
    echo "crossbar did not start; its log:"
    cat "$cbdir/node.log"
    exit 1
fi
echo "== crossbar $crossbar_version (pid $cb, cbdir $cbdir) =="
fail=0
"$load" --json --label crossbar --url "ws://127.0.0.1:$ws_port/ws" --rawsocket "127.0.0.1:$raw_port" \
    --router-pid "$cb" "${load_args[@]}" | tee -a "$results" || fail=1
echo "== interop: wamp::Session against crossbar =="
"$load" --json --label crossbar --phases check --url "ws://127.0.0.1:$ws_port/ws" \
    --rawsocket "127.0.0.1:$raw_port" | tee -a "$results" || fail=1

# 3. Side by side.
"$python" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    if r["phase"] in ("join", "rpc", "pubsub", "end"):
        by.setdefault(r["phase"], {})[r["router"]] = r
keys = {
    "join": ["joined", "failed", "join_ms", "join_p50_ms", "join_p99_ms", "router_session_count",
             "router_rss_before_kib", "router_rss_joined_kib", "router_kib_per_session",
             "router_rss_after_kib", "leave_ms", "router_cpu_s"],
    "rpc": ["calls_per_s", "p50_us", "p99_us", "max_us", "failed", "router_rss_peak_kib",
            "router_rss_after_kib", "router_cpu_us_per_call"],
    "pubsub": ["published", "expected", "delivered", "delivered_per_s", "loss_pct",
               "subscribers_disconnected", "latency_p50_us", "latency_p99_us",
               "router_rss_before_kib", "router_rss_peak_kib", "router_rss_after_kib", "router_cpu_s",
               "client_cpu_s"],
    "end": ["router_rss_kib", "router_hwm_kib", "router_procs"],
}
print(f"\n{'phase':8} {'metric':26} {'ours':>14} {'crossbar':>14}")
for phase, ks in keys.items():
    d = by.get(phase, {})
    for k in ks:
        a = d.get("ours", {}).get(k, "-")
        b = d.get("crossbar", {}).get(k, "-")
        if a == "-" and b == "-":
            continue
        print(f"{phase:8} {k:26} {a!s:>14} {b!s:>14}")
checks = [r for r in rows if r["phase"] == "check"]
ok = sum(1 for r in checks if r["result"] == "ok")
print(f"\ninterop check (wamp::Session -> crossbar): {ok}/{len(checks)} ok")
EOF
echo "results: $results"
exit "$fail"
