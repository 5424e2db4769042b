#!/usr/bin/env bash
# Interop: autobahn-python (pinned in requirements.txt) and autobahn-js (pinned in
# js/package-lock.json) against our router. Python: WebSocket and RawSocket with each serializer,
# plus ticket and WAMP-CRA auth. JS: WebSocket with each serializer, RawSocket with JSON (the only
# serializer autobahn-js 22.11.1 RawSocket has), plus ticket and WAMP-CRA auth.
# Prints one line per run, then "N passed, N failed"; exits non-zero if any run fails.
# Usage: interop/wamp/run.sh   (from anywhere; builds the wamp_router example first)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
if ! "$here/install.sh"; then
    echo "wamp interop: install.sh FAILED" >&2
    exit 1
fi
py="$here/../.venv-wamp/bin/python"
ws_port="${WAMP_WS_PORT:-18080}"
raw_port="${WAMP_RAW_PORT:-18081}"
ws_url="ws://127.0.0.1:$ws_port/ws"
raw_url="rs://127.0.0.1:$raw_port"
(cd "$root" && cargo build -q -p wamp --example wamp_router)
"${CARGO_TARGET_DIR:-$root/target}/debug/examples/wamp_router" --ws "127.0.0.1:$ws_port" --rawsocket "127.0.0.1:$raw_port" &
router=$!
trap 'kill $router 2>/dev/null || true; wait $router 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$raw_port") 2>/dev/null && break
    sleep 0.1
done
passed=0
failed=0
# run_peer LABEL CMD...: one bounded peer run; the peer prints its own "tag: ok|FAILED" line,
# a run killed by the timeout gets one here.
run_peer() {
    local label="$1" rc=0
    shift
    timeout 60 "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        [ "$rc" -ne 124 ] || echo "$label: FAILED (timed out after 60 s)"
    fi
}
for ser in json msgpack cbor; do
    run_peer "websocket_${ser}_anonymous" "$py" "$here/peer.py" --transport websocket --url "$ws_url" --serializer "$ser"
    run_peer "rawsocket_${ser}_anonymous" "$py" "$here/peer.py" --transport rawsocket --url "$raw_url" --serializer "$ser"
done
run_peer websocket_json_ticket "$py" "$here/peer.py" --transport websocket --url "$ws_url" --serializer json --auth ticket
run_peer rawsocket_cbor_wampcra "$py" "$here/peer.py" --transport rawsocket --url "$raw_url" --serializer cbor --auth wampcra
jspeer=(node "$here/js/peer.js")
for ser in json msgpack cbor; do
    run_peer "js_websocket_${ser}_anonymous" "${jspeer[@]}" --transport websocket --url "$ws_url" --serializer "$ser"
done
run_peer js_rawsocket_json_anonymous "${jspeer[@]}" --transport rawsocket --url "$raw_url" --serializer json
run_peer js_websocket_msgpack_ticket "${jspeer[@]}" --transport websocket --url "$ws_url" --serializer msgpack --auth ticket
run_peer js_rawsocket_json_wampcra "${jspeer[@]}" --transport rawsocket --url "$raw_url" --serializer json --auth wampcra
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
