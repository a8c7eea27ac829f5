#!/usr/bin/env bash
# The hub's session clock follows the data when the data streams faster than real
# time: the BlueZ stand-in plays scripts/scenarios/hold-long.scn (a 100 s hold) 6
# times faster, and `rollcoach run --once` with the shipped plugins says what a
# replay of the same trace says, in the same order — the plugins' timers (10 s,
# 30 s and 90 s into the hold) fire on the session's clock. On real time the 30 s
# and 90 s ones would come after the data had ended (the whole trace is ~20 s of
# real time at 6x), and this test would wait for warn.hold_long in vain.
# Usage: speed.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config

"$rc" simulate "$src/scripts/scenarios/hold-long.scn" -o "$tmp/hold.trace" 2>/dev/null
"$rc" replay "$tmp/hold.trace" --plugins "$src/plugins" -q -e /dev/null -a "$tmp/replay.jsonl"
keys() { sed -n 's/.*"kind":"say","key":"\([^"]*\)".*/\1/p' "$1"; }
want=$(keys "$tmp/replay.jsonl")
# the scenario's own timeline: a breathing cue 10 s into the hold, the hold target
# at 30 s, the long-hold warning at 90 s
for k in cue.breathe cue.hold_target warn.hold_long; do
        grep -qx "$k" <<<"$want" || fail "the replay does not say $k: the scenario or plugins changed"
done

BUILD_DIR=$bin "$src/scripts/bluez-standin" "$tmp/hold.trace" --speed 6 --disconnect-delay 0 \
        >"$tmp/standin.out" 2>"$tmp/standin.err" &
bg_pids+=("$!")
for _ in $(seq 100); do [ -s "$tmp/standin.out" ] && break; sleep 0.1; done
addr=$(head -n 1 "$tmp/standin.out")
[ -n "$addr" ] || { cat "$tmp/standin.err" >&2; fail "the stand-in did not start"; }
: >"$tmp/hub.jsonl"
"$rc" run --bus "$addr" --once --plugins "$src/plugins" --voice off -e /dev/null \
        -a "$tmp/hub.jsonl" 2>"$tmp/hub.err" &
hub=$!
bg_pids+=("$hub")
# the last of them said, or the data long over (120 s: 6x the trace's length)
for _ in $(seq 1200); do
        grep -q '"key":"warn.hold_long"' "$tmp/hub.jsonl" && break
        kill -0 "$hub" 2>/dev/null || break
        sleep 0.1
done
kill -TERM "$hub" 2>/dev/null || true
wait "$hub" || { cat "$tmp/hub.err" >&2; fail "the hub failed"; }
got=$(keys "$tmp/hub.jsonl")
diff <(echo "$want") <(echo "$got") >&2 ||
        fail "the hub at 6x said other things than the replay (left: replay, right: hub)"
echo "speed CLI: ok"
