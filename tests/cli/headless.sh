#!/usr/bin/env bash
# Sessions on a hub without a screen (docs/headless.md), in one run of the hub
# against the BlueZ stand-in, on the hub's clock:
#   ~3 s   the roller takes a load                → session 1 starts
#    8 s   a long press                           → it ends (long_press)
#  8-10 s  still on the roller                    → no new session (not re-armed)
# 10-21 s  off the roller (re-armed after 10 s)
#   21 s   on the roller again                    → session 2 starts
#   25 s   off it; idle_minutes 0.2 (12 s)        → it ends at ~37 s (idle), said
#   40 s   a short press on the roller            → session 3 starts
#   +2 s   the roller vanishes (link dropped, reconnects refused);
#          roller_grace_seconds 2                 → it ends (roller_left), said
# Usage: headless.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
ROLLER=AA:BB:CC:00:40:01

cat >"$tmp/headless.scn" <<SCN
# rollcoach-scenario 1
seed 9
roller r $ROLLER
r: rest 3
r: roll 2.5 5 force=280
r: press long
r: hold 2 force=280
r: rest 11
r: roll 2.5 4 force=280
r: rest 15
r: press short
r: rest 15
SCN
"$rc" simulate "$tmp/headless.scn" -o "$tmp/headless.trace" 2>/dev/null
printf '[session]\nroutine = none\nidle_minutes = 0.2\nroller_grace_seconds = 2\n[voice]\noutput = off\n' \
        >"$tmp/hub.conf"

start_standin "$tmp/headless.trace"

"$rc" run --bus "$addr" --config "$tmp/hub.conf" --plugins "$src/plugins" \
        --actions "$tmp/actions.jsonl" --events "$tmp/events.jsonl" 2>"$tmp/hub.err" &
hub=$!
bg_pids+=("$hub")

# wait until the third session has started, then take the roller away
for _ in $(seq 600); do
        [ "$(grep -c '"state":"started"' "$tmp/actions.jsonl" 2>/dev/null || true)" -ge 3 ] && break
        sleep 0.1
done
sleep 2
busctl --address="$addr" call org.bluez /org/rollcoach/standin org.rollcoach.StandIn1 \
        RefuseConnects su "$ROLLER" 1000 >/dev/null
busctl --address="$addr" call org.bluez /org/rollcoach/standin org.rollcoach.StandIn1 \
        DropLink s "$ROLLER" >/dev/null
for _ in $(seq 100); do
        [ "$(grep -c '"state":"ended"' "$tmp/actions.jsonl" 2>/dev/null || true)" -ge 3 ] && break
        sleep 0.1
done
sleep 0.5
kill -TERM "$hub"
wait "$hub" || fail "the hub exited $?"

# the sessions, from the actions: start and end times (s) and reasons
starts=$(sed -n 's/^{"t_ms":\([0-9]*\),"kind":"session","state":"started".*/\1/p' "$tmp/actions.jsonl")
ends=$(sed -n 's/^{"t_ms":\([0-9]*\),"kind":"session","state":"ended".*"reason":"\([a-z_]*\)".*/\1 \2/p' \
        "$tmp/actions.jsonl")
echo "starts (ms): $(echo $starts)"
echo "ends (ms, reason): $(echo "$ends" | tr '\n' ';')"
[ "$(echo "$starts" | wc -l)" -eq 3 ] || fail "expected 3 sessions, got: $starts"
within() { # MS LO HI WHAT
        awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo * 1000 && t <= hi * 1000) }' ||
                fail "$4 at $1 ms, expected within $2..$3 s"
}
set -- $starts
within "$1" 2.5 5 "session 1 start (the load at ~3.3 s)"
within "$2" 20.5 24 "session 2 start (back on the roller at ~21.3 s)"
within "$3" 39.5 42 "session 3 start (the press at ~40.3 s)"
set -- $(echo "$ends" | tr '\n' ' ')
[ "$2" = long_press ] || fail "session 1 ended by $2, expected long_press"
within "$1" 7.5 9.5 "session 1 end (the long press at ~8.3 s)"
[ "$4" = idle ] || fail "session 2 ended by $4, expected idle"
within "$3" 35 40 "session 2 end (12 s after the last rolling at ~25.3 s)"
[ "$6" = roller_left ] || fail "session 3 ended by $6, expected roller_left"
# and the hub said what happened
grep -q '"key":"info.hub.session_idle"' "$tmp/actions.jsonl" || fail "the idle end was not said"
grep -q '"key":"warn.hub.roller_left"' "$tmp/actions.jsonl" || fail "the roller leaving was not said"
[ "$(grep -c '"key":"cue.hub.session_start"' "$tmp/actions.jsonl")" -eq 3 ] ||
        fail "each start should be said"
# nothing is said after the pain stop of session 1 until session 2 starts
awk -v a="$1" -v b="$(echo $starts | cut -d' ' -f2)" -F'[:,]' \
        '/"kind":"say"/ && $2 > a && $2 < b { bad = 1 } END { exit bad }' "$tmp/actions.jsonl" ||
        fail "something was said between the long press and the next session"
echo "headless sessions: ok"
