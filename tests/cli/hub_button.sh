#!/usr/bin/env bash
# The hub's own push button and GPIO LEDs, end to end: `rollcoach run` with its
# libgpiod calls answered by tests/fake_gpiod.c (LD_PRELOAD; no GPIO chip or
# simulator runs here), over the BlueZ stand-in streaming a roller that lies
# unloaded (so no session starts by itself). The button is line 23 of gpiochip0;
# the LEDs ok/hold 17, warn 27, stop 22 (config/rollcoach.conf's examples).
#   a short press, bouncing on both edges     → a session (the routine) starts;
#                                                ok LED on; the bounces counted
#   a short press                              → the next step
#   a long press (held 2 s; long_ms 1500)      → safety.pain_stop, the session ends
#                                                (long_press); the stop LED stays on
#   a double press                             → counted; no new session
#   SIGTERM                                    → exit 0; every LED off
# Usage: hub_button.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
shim=$bin/libfake_gpiod.so
[ -f "$shim" ] || fail "no $shim (built with the tests)"

cat >"$tmp/idle.scn" <<'SCN'
# rollcoach-scenario 1
seed 4
roller roller AA:BB:CC:00:23:01 load_cell=yes
roller: rest 120
SCN
"$rc" simulate "$tmp/idle.scn" -o "$tmp/idle.trace" 2>/dev/null
gpio=$tmp/gpio
mkdir -p "$gpio/gpiochip0"
mkfifo "$gpio/gpiochip0/23.events"
cat >"$tmp/hub.conf" <<'CONF'
[session]
routine = lower-back-relief
[voice]
output = off
[leds]
backend = gpiod
gpio_chip = gpiochip0
ok_line = 17
hold_line = 17
warn_line = 27
stop_line = 22
[button]
enabled = yes
gpio_chip = gpiochip0
line = 23
CONF

start_standin "$tmp/idle.trace"

# under AddressSanitizer its runtime must come first in the preload list
preload=$shim
asan=$(ldd "$rc" | awk '/libasan/ { print $3 }')
[ -z "$asan" ] || preload=$asan:$shim
RC_FAKE_GPIO=$gpio LD_PRELOAD=$preload "$rc" run --bus "$addr" --config "$tmp/hub.conf" \
        --plugins "$src/plugins" --actions "$tmp/actions.jsonl" >/dev/null 2>"$tmp/hub.err" &
hub=$!
bg_pids+=("$hub")

has() { grep -Eq "$1" "$tmp/actions.jsonl" 2>/dev/null; }
count() { grep -Ec "$1" "$tmp/actions.jsonl" 2>/dev/null || true; }
value() { cat "$gpio/gpiochip0/$1.value"; }
edges() { printf '%s' "$1" >"$gpio/gpiochip0/23.events"; }

wait_for "the roller was not streamed" grep -q 'streaming' "$tmp/hub.err"
# what the hub asked of the lines (flags: gpiod.h, ACTIVE_LOW 1<<2 | BIAS_PULL_UP 1<<5)
grep -Eq '^23 events [^ ]+ 36$' "$gpio/gpiochip0/requests" ||
        fail "the button line: $(cat "$gpio/gpiochip0/requests")"
for line in 17 27 22; do
        grep -Eq "^$line output [^ ]+ 0$" "$gpio/gpiochip0/requests" || fail "LED line $line not an output"
        [ "$(value $line)" = 0 ] || fail "LED line $line is on at start"
done
sleep 1
has '"state":"started"' && fail "a session started without a load or a press"

# a short press whose edges bounce: pressed, bounce, bounce ... released, bounce, bounce
edges PUP
sleep 0.15
edges UPU
wait_for "a short press did not start a session" has '"kind":"session","state":"started"'
wait_for "no first step" has '"kind":"step".*"glutes_left"'
has '"key":"cue.hub.session_start"' || fail "the start was not said"
wait_for "the ok LED is not on" test "$(value 17)" = 1
[ "$(value 22)" = 0 ] && [ "$(value 27)" = 0 ] || fail "ok: another LED is on"

sleep 0.5
edges P
sleep 0.1
edges U
wait_for "a short press did not go to the next step" has '"kind":"step".*"glutes_right"'

sleep 0.5
edges P
sleep 2
edges U
wait_for "a long press did not stop the session" has '"state":"ended".*"reason":"long_press"'
has '"key":"safety.pain_stop"' || fail "the pain stop was not said"
wait_for "the stop LED is not on" test "$(value 22)" = 1
[ "$(value 17)" = 0 ] || fail "stop: the ok LED is still on"

sleep 0.5
edges P; sleep 0.08; edges U; sleep 0.15; edges P; sleep 0.08; edges U
sleep 1.5
[ "$(count '"state":"started"')" -eq 1 ] || fail "a double press started a session"

kill -TERM "$hub"
wait "$hub" || fail "the hub exited $?"
for line in 17 27 22; do
        [ "$(value $line)" = 0 ] || fail "LED line $line is on after the hub exited"
done
summary=$(grep '^hub button: ' "$tmp/hub.err") || fail "no hub button summary"
echo "$summary"
[[ $summary == "hub button: 2 short, 1 long, 1 double presses; 4 bounces ignored" ]] ||
        fail "expected 2 short, 1 long, 1 double, 4 bounces"
grep -q 'hub button: short press' "$tmp/hub.err" || fail "the presses were not logged"
echo "hub button and GPIO LEDs: ok"
