#!/usr/bin/env bash
# Instructions per message on one side of one benchmark cell, counted by callgrind.
#
# Unlike throughput, the count does not move with other load on the machine, so it compares
# two builds of a change exactly. The cell runs twice under callgrind (for SHORT and LONG
# seconds) and the difference of the two totals is divided by the difference of the two
# message counts: start-up, connection set-up and shutdown cancel out. Time is not
# instructions (cache misses, atomic operations and system calls weigh differently), so
# confirm a change with `rsocket-bench suite` as well.
#
# usage: bench/instructions.sh IMPL WORKLOAD SIDE [SIZE]
#   IMPL      ours | raw | rsocket-rust
#   WORKLOAD  rr1, rr64, fnf, stream, ... (as `rsocket-bench suite --workloads`)
#   SIDE      server | client (the other side runs natively on another CPU)
#   SIZE      payload size, default 16
# environment: B (the bench binary, default target/release/rsocket-bench; build it with
#   `cargo build --release -p rsocket-bench`, add CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
#   for callgrind_annotate), SHORT and LONG (seconds, default 1 and 3), KEEP=1 keeps the
#   callgrind output files (their paths are printed).
set -euo pipefail
cd "$(dirname "$0")/.."

IMPL=${1:?impl}
WORKLOAD=${2:?workload}
SIDE=${3:?side: server or client}
SIZE=${4:-16}
B=${B:-target/release/rsocket-bench}
SHORT=${SHORT:-1}
LONG=${LONG:-3}
case $SIDE in server | client) ;; *) echo "side must be server or client" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
[ -x "$B" ] || { echo "$B not built: cargo build --release -p rsocket-bench" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# One run of length $1 (seconds, or items for stream workloads): prints "<instructions>
# <messages>".
run() {
    local secs=$1 port out length
    port=$(python3 interop/free_ports.py 1)
    out=$WORK/callgrind.$secs.out
    case $WORKLOAD in
        stream* ) length=(--items "$secs" --duration 1) ;;
        *) length=(--duration "$secs") ;;
    esac
    local common=(--impl "$IMPL" --transport tcp --workload "$WORKLOAD" --size "$SIZE"
        --addr "127.0.0.1:$port" "${length[@]}" --max-secs 120)
    local cg=(valgrind --tool=callgrind --callgrind-out-file="$out")
    local srv=() cli=()
    if [ "$SIDE" = server ]; then srv=("${cg[@]}"); else cli=("${cg[@]}"); fi
    # The server stops when its standard input closes.
    mkfifo "$WORK/stdin.$secs"
    taskset -c 0 "${srv[@]}" "$B" server "${common[@]}" --until-stdin-eof \
        <"$WORK/stdin.$secs" >"$WORK/server.$secs.log" 2>&1 &
    local server=$!
    exec {hold}>"$WORK/stdin.$secs"
    # Wait until it listens (slow under valgrind).
    for _ in $(seq 1 300); do
        grep -q ready "$WORK/server.$secs.log" 2>/dev/null && break
        sleep 0.1
    done
    taskset -c 1 "${cli[@]}" "$B" client "${common[@]}" >"$WORK/client.$secs.json" \
        2>"$WORK/client.$secs.log"
    exec {hold}>&-
    wait "$server" || true
    local msgs instr
    msgs=$(grep -o '"msgs":[0-9]*' "$WORK/client.$secs.json" | cut -d: -f2)
    instr=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    if [ "${KEEP:-0}" = 1 ]; then
        cp "$out" "callgrind.$IMPL.$WORKLOAD.$SIDE.$secs.out"
        echo "kept callgrind.$IMPL.$WORKLOAD.$SIDE.$secs.out" >&2
    fi
    echo "$instr $msgs"
}

case $WORKLOAD in
    stream*) SHORT=${ITEMS_SHORT:-200000}; LONG=${ITEMS_LONG:-600000} ;;
esac
read -r i1 m1 < <(run "$SHORT")
read -r i2 m2 < <(run "$LONG")
if [ -z "$m1" ] || [ -z "$m2" ] || [ "$m2" -le "$m1" ]; then
    echo "no usable message counts ($m1, $m2)" >&2
    exit 1
fi
echo "$IMPL $WORKLOAD ${SIZE}B $SIDE: $(((i2 - i1) / (m2 - m1))) instructions per message ($m1 and $m2 messages)"
