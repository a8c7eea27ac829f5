#!/usr/bin/env bash
# The shipped coaching plugins from the command line: `rollcoach replay` of the
# bundled demo trace with the lower-back-relief routine writes the actions the
# demo's timeline calls for; short fast strokes are warned, a quick flick is
# not; a bad --routine or --step is refused.
# Usage: plugins.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
# The session times (ms) of the says of KEY in FILE, one a line.
says() { # KEY FILE
        sed -n "/\"kind\":\"say\"/{/\"key\":\"$1\"/s/.*\"t_ms\":\([0-9]*\).*/\1/p}" "$2"
}
# T (ms) within [LO, HI] seconds.
within() { # T LO HI WHAT
        awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo * 1000 && t <= hi * 1000) }' ||
                fail "$4 at $1 ms, expected within $2..$3 s"
}

demo=$bin/demo-lower-back.trace
[ -r "$demo" ] || fail "no demo trace at $demo (CMake's demo_trace target makes it)"
# no plugins from the user's directories: only the source tree's
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config
cat >"$tmp/profile.conf" <<'EOF'
[profile]
height_cm = 170
weight_kg = 70
level = beginner
EOF
replay() { "$rc" replay "$demo" --plugins "$src/plugins" --profile "$tmp/profile.conf" "$@"; }

expect_exit 0 replay --routine lower-back-relief --actions "$tmp/a.jsonl"
a=$tmp/a.jsonl

# cue.step: the first step at the start, then one at each short press of the
# demo (scripts/scenarios/demo-lower-back.scn gives them to 0.1 s: 54.5, 102.1,
# ... 358.3 s; the last, 400.5 s, ends the steps), received 15-20 ms later.
mapfile -t cues < <(says cue.step "$a")
[ "${#cues[@]}" -eq 9 ] || fail "${#cues[@]} cue.step, expected 9"
[ "${cues[0]}" -eq 0 ] || fail "the first cue.step at ${cues[0]} ms, expected 0"
presses=(54.5 102.1 145.5 187.5 235.7 282.9 322.3 358.3)
for i in "${!presses[@]}"; do
        p=${presses[$i]}
        within "${cues[$((i + 1))]}" "$(awk -v p="$p" 'BEGIN { print p - 0.1 }')" \
                "$(awk -v p="$p" 'BEGIN { print p + 0.1 }')" "cue.step $((i + 2))"
done

# warn.too_fast: once, during the hamstrings' 15 cm/s pass (205.3..207.8 s); the
# 1-s mean speed passes 3 x 2.54 cm/s about 0.6 s into it.
mapfile -t fast < <(says warn.too_fast "$a")
[ "${#fast[@]}" -eq 1 ] || fail "${#fast[@]} warn.too_fast, expected 1"
within "${fast[0]}" 205.8 207.8 "warn.too_fast"

# safety.lumbar: once, in the thoracic step's drift toward the feet: after the
# roller passes its start (254.7 s) and before it reaches the lumbar spine,
# 0.085 x 170 cm = 14.5 cm below the start at 2.5 cm/s (260.5 s).
mapfile -t lumbar < <(says safety.lumbar "$a")
[ "${#lumbar[@]}" -eq 1 ] || fail "${#lumbar[@]} safety.lumbar, expected 1"
within "${lumbar[0]}" 254.7 260.5 "safety.lumbar"
grep -q '"kind":"say","key":"safety.lumbar","priority":"safety"' "$a" ||
        grep -q '"key":"safety.lumbar".*"priority":"safety"' "$a" || fail "safety.lumbar priority"

# the session ends with the breathing reset ("complete"), before the trace's end
grep -q '"kind":"session".*"reason":"complete"' "$a" || fail "the session did not complete"

# the same trace and options give the same bytes
expect_exit 0 replay --routine lower-back-relief --actions "$tmp/b.jsonl"
cmp "$a" "$tmp/b.jsonl" || fail "two replays differ"

# --step: the routine starts there
expect_exit 0 replay --routine lower-back-relief --step thoracic --actions "$tmp/c.jsonl"
head -n 20 "$tmp/c.jsonl" | grep '"key":"cue.step"' | head -n 1 | grep -q '"t_ms":0,.*Upper back' ||
        fail "--step thoracic did not start at the upper back"

# short fast strokes (scripts/scenarios/short-fast-strokes.scn: 1-s strokes at
# 9 cm/s from 8 s to 15 s) through `simulate` and `replay --actions -`: warned
# once, after 2 s of them and within 5 s; one quick flick in slow rolling is not
"$rc" simulate "$src/scripts/scenarios/short-fast-strokes.scn" -o "$tmp/fast.trace" 2>/dev/null ||
        fail "simulate short-fast-strokes.scn"
"$rc" replay "$tmp/fast.trace" --plugins "$src/plugins" --profile "$tmp/profile.conf" \
        --actions - >"$tmp/fast.jsonl" 2>/dev/null || fail "replay of short fast strokes"
mapfile -t fast < <(says warn.too_fast "$tmp/fast.jsonl")
[ "${#fast[@]}" -eq 1 ] || fail "short fast strokes: ${#fast[@]} warn.too_fast, expected 1"
within "${fast[0]}" 10 13 "warn.too_fast of short fast strokes"
"$rc" simulate "$src/scripts/scenarios/quick-reversal.scn" -o "$tmp/flick.trace" 2>/dev/null ||
        fail "simulate quick-reversal.scn"
"$rc" replay "$tmp/flick.trace" --plugins "$src/plugins" --profile "$tmp/profile.conf" \
        --actions - >"$tmp/flick.jsonl" 2>/dev/null || fail "replay of a quick reversal"
[ -z "$(says warn.too_fast "$tmp/flick.jsonl")" ] || fail "a quick reversal was warned"

# refused: an unknown routine or step, or a step without a routine (a bad
# command line: 2; 3 would also do), with a message naming what is wrong
refused() { # WORD ARGS...
        local word=$1 got; shift
        set +e; replay "$@" --actions "$tmp/x.jsonl" >"$tmp/out" 2>"$tmp/err"; got=$?; set -e
        [ "$got" -eq 2 ] || [ "$got" -eq 3 ] || fail "$*: exit $got, expected 2 or 3"
        grep -q -- "$word" "$tmp/err" || fail "$*: the error does not name $word"
}
refused no-such-routine --routine no-such-routine
refused no_such_step --routine lower-back-relief --step no_such_step
refused step --step thoracic
echo "plugins CLI: ok"
