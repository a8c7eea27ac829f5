#!/usr/bin/env bash
# The hub (`rollcoach run`, `rollcoach record`) as a process against the BlueZ
# stand-in: SIGTERM mid-session disconnects the devices, flushes the outputs and
# exits 0; a recorded trace replays to the events the hub produced.
# Usage: run.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"

"$rc" simulate "$src/scripts/scenarios/hold.scn" -o "$tmp/hold.trace" 2>/dev/null

expect_exit 0 "$rc" run --help
grep -q "Usage: rollcoach run" "$tmp/out" || fail "run --help"
expect_exit 2 "$rc" run --device keyboard=AA:BB:CC:DD:EE:FF
expect_exit 2 "$rc" record
printf '[profile]\nlevel = expert\n' >"$tmp/bad.conf"
expect_exit 3 "$rc" run --config "$tmp/bad.conf"
grep -q "bad.conf:2" "$tmp/err" || fail "config error without file:line"

# ---- SIGTERM mid-session --------------------------------------------------------
start_standin "$tmp/hold.trace"
"$rc" record "$tmp/rec.trace" --bus "$addr" --plugins "$src/plugins" --voice off \
        --events "$tmp/live.jsonl" --actions "$tmp/actions.jsonl" 2>"$tmp/run.err" &
hub=$!
bg_pids+=("$hub")
wait_for "no motion event: not streaming" grep -q '"event":"motion"' "$tmp/live.jsonl"
sleep 2
kill -TERM "$hub"
set +e; wait "$hub"; status=$?; set -e
[ "$status" -eq 0 ] || { cat "$tmp/run.err" >&2; fail "run exited $status on SIGTERM"; }
grep -q "stopping: SIGTERM" "$tmp/run.err" || fail "SIGTERM not logged"
# the outputs were flushed and closed: the session's end is their last line
tail -n 1 "$tmp/live.jsonl" | grep -q '"event":"session_end","reason":"stopped"' ||
        fail "events do not end with the session's end"
tail -n 1 "$tmp/actions.jsonl" | grep -q '"kind":"session","state":"ended","reason":"stopped"' ||
        fail "actions do not end with the session's end"
# and the roller was disconnected through BlueZ (the stand-in saw a Disconnect)
grep -q "disconnected (local)" "$tmp/standin.err" || fail "the roller was not disconnected"
stop_standin

# ---- record → replay: the same events -------------------------------------------------
"$rc" replay "$tmp/rec.trace" --plugins "$src/plugins" --events "$tmp/replayed.jsonl" \
        --quiet 2>/dev/null
# every event but the session's end (the hub was stopped; the trace just ends)
diff <(grep -v '"event":"session_end"' "$tmp/live.jsonl") \
        <(grep -v '"event":"session_end"' "$tmp/replayed.jsonl") ||
        fail "the recorded trace does not replay to the hub's events"
[ "$(grep -c '"event":"motion"' "$tmp/live.jsonl")" -gt 10 ] || fail "too few events to compare"
echo "run/record CLI: ok"
