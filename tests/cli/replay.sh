#!/usr/bin/env bash
# rollcoach replay from the command line: usage, exit codes, messages, output.
# Usage: replay.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2
. "$(dirname "$0")/lib.bash"

expect_exit 0 "$rc" replay --help
grep -q "Usage: rollcoach replay TRACE" "$tmp/out" || fail "--help text"
expect_exit 2 "$rc" replay
expect_exit 2 "$rc" replay --no-such-option x
expect_exit 3 "$rc" replay "$tmp/missing.trace"
grep -q "missing.trace" "$tmp/err" || fail "missing file not named"

printf 'not a trace\n' >"$tmp/bad.trace"
expect_exit 3 "$rc" replay "$tmp/bad.trace"
grep -q "bad.trace:1" "$tmp/err" || fail "no file:line for a missing header"

printf '[profile]\nheight_cm = 9000\n' >"$tmp/bad.conf"
expect_exit 3 "$rc" replay "$src/tests/fixtures/spec-example.trace" --profile "$tmp/bad.conf"
grep -q "bad.conf:2" "$tmp/err" || fail "profile error without file:line"

# The spec's example: every good line analysed, each bad one reported by line.
expect_exit 0 "$rc" replay "$src/tests/fixtures/spec-example.trace" --events "$tmp/ev.jsonl"
grep -q "spec-example.trace:6" "$tmp/err" || fail "malformed line 6 not reported"
grep -q "spec-example.trace:11" "$tmp/err" || fail "backwards line 11 not reported"
grep -q "trace line 9.*rejected: value" "$tmp/err" || fail "bad button event not reported"
grep -q "2 malformed lines skipped, 1 packets rejected" "$tmp/err" || fail "summary counts"
# Events, in order, worked out from the packets by hand (t_ms = t_us / 1000):
# the roller is announced by its Roller Info (at 120 µs = 0 ms); the strap by its
# first measurement, 72 bpm (0x48) with contact not supported (flags 0x10: RR
# present, contact bits 0) — the second, 8 ms later, is inside the ~1 Hz pacing;
# a short press; battery 90 % (0x5a); the disconnect; the session's end at the
# last line (912 ms), with the strap's figures: each of its packets carries one
# RR of 0x0400 = 1024/1024 s = 1000 ms, both in range and, being fewer than 3,
# judged by the range rule alone (core/analysis/hr.h), both accepted at the end:
# mean HR 60000 / 1000 = 60, one successive difference of 0 ms, RMSSD 0.
want='{"t_ms":0,"event":"session_start"}
{"t_ms":0,"event":"device","device":"AA:BB:CC:DD:EE:01","kind":"roller","state":"connected","name":"AA:BB:CC:DD:EE:01"}
{"t_ms":7,"event":"device","device":"11:22:33:44:55:66","kind":"hr","state":"connected","name":"11:22:33:44:55:66"}
{"t_ms":7,"event":"hr","device":"11:22:33:44:55:66","bpm":72}
{"t_ms":9,"event":"button","device":"AA:BB:CC:DD:EE:01","press":"short"}
{"t_ms":10,"event":"battery","device":"AA:BB:CC:DD:EE:01","percent":90}
{"t_ms":912,"event":"device","device":"AA:BB:CC:DD:EE:01","kind":"roller","state":"disconnected","name":"AA:BB:CC:DD:EE:01"}
{"t_ms":912,"event":"session_end","reason":"end_of_trace","duration_s":0.91,"mean_hr":60,"rmssd_ms":0}'
diff <(echo "$want") "$tmp/ev.jsonl" ||
        fail "events differ from the expected ones"

# stdin, stdout, and byte-identical output on a second run
"$rc" replay - --quiet <"$src/tests/fixtures/spec-example.trace" >"$tmp/ev2.jsonl" 2>/dev/null
cmp "$tmp/ev.jsonl" "$tmp/ev2.jsonl" || fail "replay is not deterministic"
echo "replay CLI: ok"
