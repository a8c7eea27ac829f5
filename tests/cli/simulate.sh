#!/usr/bin/env bash
# rollcoach simulate from the command line: usage, exit codes, messages, output.
# Usage: simulate.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2
. "$(dirname "$0")/lib.bash"
demo=$src/scripts/scenarios/demo-lower-back.scn

# usage
expect_exit 0 "$rc" simulate --help
grep -q "Usage: rollcoach simulate SCENARIO" "$tmp/out" || fail "--help text"
grep -q -- "--seed N" "$tmp/out" || fail "--help does not name --seed"
expect_exit 2 "$rc" simulate
expect_exit 2 "$rc" simulate "$demo" "$demo"
expect_exit 2 "$rc" simulate --no-such-option "$demo"
expect_exit 2 "$rc" simulate --seed banana "$demo"
expect_exit 2 "$rc" simulate --seed -1 "$demo"
expect_exit 2 "$rc" simulate "$demo" -o

# unusable scenarios: every error with its file and line, exit 3, nothing written
expect_exit 3 "$rc" simulate "$tmp/missing.scn"
grep -q "missing.scn" "$tmp/err" || fail "missing file not named"
printf '# rollcoach-scenario 1\nroller r AA:BB:CC:DD:EE:01 rate=5\nr: roll 2.5\nr: hold 3 force=-1\n' \
        >"$tmp/bad.scn"
expect_exit 3 "$rc" simulate "$tmp/bad.scn" -o "$tmp/bad.trace"
grep -q "bad.scn:2: rate (Hz) must be in 16..1000" "$tmp/err" || fail "line 2 not reported"
grep -q "bad.scn:3: usage: roll SPEED" "$tmp/err" || fail "line 3 not reported"
grep -q "bad.scn:4: force (N) must be in 0..6000" "$tmp/err" || fail "line 4 not reported"
[ ! -e "$tmp/bad.trace" ] && [ ! -e "$tmp/bad.trace.tmp" ] || fail "a trace was written"
printf 'roller r AA:BB:CC:DD:EE:01\n' >"$tmp/nohdr.scn"
expect_exit 3 "$rc" simulate "$tmp/nohdr.scn"
grep -q "nohdr.scn:1: not a scenario" "$tmp/err" || fail "missing header not reported"

# the demo: header line, a summary per device, byte-identical on every run, to a
# file or to stdout; another seed gives other bytes
expect_exit 0 "$rc" simulate "$demo" -o "$tmp/a.trace"
[ "$(head -n 1 "$tmp/a.trace")" = "# rollcoach-trace 1" ] || fail "trace header line"
[ ! -e "$tmp/a.trace.tmp" ] || fail "temporary file left behind"
grep -q "simulate: roller roller C4:7F:51:0A:12:01: [0-9]* notifications, [0-9]* lost, [0-9]* malformed, [0-9]* samples" \
        "$tmp/err" || fail "roller summary"
grep -q "simulate: body clip C4:7F:51:0A:12:02:" "$tmp/err" || fail "body summary"
grep -q "simulate: hr strap E8:1B:3C:77:40:09:" "$tmp/err" || fail "hr summary"
expect_exit 0 "$rc" simulate --output "$tmp/b.trace" "$demo"
cmp "$tmp/a.trace" "$tmp/b.trace" || fail "two runs of the demo differ"
"$rc" simulate "$demo" >"$tmp/c.trace" 2>/dev/null
cmp "$tmp/a.trace" "$tmp/c.trace" || fail "stdout differs from the file"
"$rc" simulate "$demo" --seed 0x2a >"$tmp/d.trace" 2>/dev/null
! cmp -s "$tmp/a.trace" "$tmp/d.trace" || fail "--seed changed nothing"
# about 8 minutes: the last line is a disconnect at 483 s + latency
tail -n 1 "$tmp/a.trace" | grep -q '^483015000,.*,disconnect,$' || fail "demo does not end at 483 s"
# nine steps, each ended by a short press (button event 1)
[ "$(grep -c ',caf70003-e46c-49f3-98a8-0c9d2480bb18,0101' "$tmp/a.trace")" -eq 9 ] ||
        fail "the demo should have 9 short presses"

# writing fails: exit 1, no partial file
expect_exit 1 "$rc" simulate "$demo" -o "$tmp/no/such/dir/x.trace"

# what simulate writes, replay reads: no malformed line; the hold is found
expect_exit 0 "$rc" simulate "$src/scripts/scenarios/hold.scn" -o "$tmp/hold.trace"
expect_exit 0 "$rc" replay "$tmp/hold.trace" --events "$tmp/hold.jsonl"
grep -q " 0 malformed lines skipped, 0 packets rejected" "$tmp/err" || fail "replay rejected lines"
[ "$(grep -c '"event":"hold_end"' "$tmp/hold.jsonl")" -eq 1 ] || fail "replay found no single hold"
echo "simulate CLI: ok"
