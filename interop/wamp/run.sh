#!/usr/bin/env bash
# Interop: autobahn-python (pinned in requirements.txt) against our router, over WebSocket with
# each serializer and over RawSocket with each serializer, plus ticket and WAMP-CRA auth.
# Usage: interop/wamp/run.sh   (from anywhere; builds the wamp_router example first)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
"$here/install.sh"
py="$here/../.venv-wamp/bin/python"
ws_port="${WAMP_WS_PORT:-18080}"
raw_port="${WAMP_RAW_PORT:-18081}"
(cd "$root" && cargo build -q -p wamp --example wamp_router)
"${CARGO_TARGET_DIR:-$root/target}/debug/examples/wamp_router" --ws "127.0.0.1:$ws_port" --rawsocket "127.0.0.1:$raw_port" &
router=$!
trap 'kill $router 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$raw_port") 2>/dev/null && break
    sleep 0.1
done
fail=0
for ser in json msgpack cbor; do
    timeout 60 "$py" "$here/peer.py" --transport websocket --url "ws://127.0.0.1:$ws_port/ws" --serializer "$ser" || fail=1
    timeout 60 "$py" "$here/peer.py" --transport rawsocket --url "rs://127.0.0.1:$raw_port" --serializer "$ser" || fail=1
done
timeout 60 "$py" "$here/peer.py" --transport websocket --url "ws://127.0.0.1:$ws_port/ws" --serializer json --auth ticket || fail=1
timeout 60 "$py" "$here/peer.py" --transport rawsocket --url "rs://127.0.0.1:$raw_port" --serializer cbor --auth wampcra || fail=1
if [ "$fail" -ne 0 ]; then
    echo "wamp interop: FAILED"
    exit 1
fi
echo "wamp interop: all passed"
