#!/usr/bin/env bash
# The hub's feedback, end to end: the BlueZ stand-in streams, in real time, a
# roller that rolls slowly and then much too fast; the hub (a free session) speaks
# into WAV files through real espeak-ng and shows the LEDs on a temporary sysfs
# tree laid out as the kernel's LED class.
#   ~4 s    the roller takes a load      → session; "Let's start" spoken; ok (green) on
#   ~9 s    rolling at 15 cm/s           → warn.too_fast spoken; warn (amber) blinks 150/150
#   then    SIGTERM                      → the goodbye (info.hub.stopping) spoken in
#                                          full before the hub exits 0; every LED off
# Usage: hub_feedback.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"

# loaded and rolling slowly for 5 s (the session starts, the ok LED is on), then much
# too fast (warn.too_fast, the warn LED blinks)
cat >"$tmp/fast.scn" <<'SCN'
# rollcoach-scenario 1
seed 15
roller roller AA:BB:CC:00:00:05 load_cell=yes
roller: rest 4
roller: roll +2 dist=10 force=300
roller: roll +15 dist=30
roller: roll -13 dist=30
roller: roll +14 dist=30
roller: roll -12 dist=30
roller: roll +15 dist=30
roller: roll -14 dist=30
roller: hold 3
roller: rest 30
SCN
"$rc" simulate "$tmp/fast.scn" -o "$tmp/fast.trace" 2>/dev/null
# the kernel's LED class, as files: brightness, max_brightness, trigger, and the
# timer trigger's delay_on/delay_off
for led in green amber red; do
        mkdir -p "$tmp/leds/$led"
        echo 0 >"$tmp/leds/$led/brightness"
        echo 255 >"$tmp/leds/$led/max_brightness"
        echo "[none] timer heartbeat" >"$tmp/leds/$led/trigger"
        : >"$tmp/leds/$led/delay_on"
        : >"$tmp/leds/$led/delay_off"
done
mkdir "$tmp/voice"
cat >"$tmp/hub.conf" <<CONF
[session]
routine = none
[voice]
output = wav
wav_dir = $tmp/voice
[leds]
backend = sysfs
sysfs_root = $tmp/leds
ok = green
hold = green
warn = amber
stop = red
CONF

start_standin "$tmp/fast.trace"

"$rc" run --bus "$addr" --config "$tmp/hub.conf" --plugins "$src/plugins" \
        --actions "$tmp/actions.jsonl" --voice-timeline "$tmp/voice.jsonl" >/dev/null 2>"$tmp/hub.err" &
hub=$!
bg_pids+=("$hub")

spoken() { # KEY: its first audio sample was written
        grep -Eq "\"event\":\"first_sample\",\"id\":[0-9]+,\"key\":\"$1\"" "$tmp/voice.jsonl" 2>/dev/null
}
led_is() { # NAME BRIGHTNESS TRIGGER [DELAY_ON]
        # the trigger selected: as the kernel lists it ("[none] timer ...") or as
        # the hub last wrote it into our plain file ("timer")
        local trig
        trig=$(cat "$tmp/leds/$1/trigger")
        [ "$(cat "$tmp/leds/$1/brightness")" = "$2" ] &&
                { [ "$trig" = "$3" ] || [[ " $trig " == *" [$3] "* ]]; } &&
                { [ $# -lt 4 ] || [ "$(cat "$tmp/leds/$1/delay_on")" = "$4" ]; }
}

wait_for "the session's start was not spoken" spoken cue.hub.session_start
wait_for "the ok LED is not on" led_is green 255 none
wait_for "the too-fast warning was not spoken" spoken warn.too_fast
# warn: its LED blinks fast through the timer trigger; the others are off
wait_for "the warn LED does not blink 150/150" led_is amber 255 timer 150
[ "$(cat "$tmp/leds/amber/delay_off")" = 150 ] || fail "warn: delay_off $(cat "$tmp/leds/amber/delay_off")"
[ "$(cat "$tmp/leds/green/brightness")" = 0 ] || fail "warn: the ok LED is still on"
# let the warning finish, then stop the hub mid-session
wait_for "the too-fast warning did not finish" \
        grep -Eq '"event":"(done|cut)","id":[0-9]+,"key":"warn.too_fast"' "$tmp/voice.jsonl"
t0=$(date +%s%N)
kill -TERM "$hub"
wait "$hub" || fail "the hub exited $?"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
echo "SIGTERM to exit: $elapsed_ms ms"

# the goodbye, said in full before the hub went (not cut by the close)
grep -q '"key":"info.hub.stopping"' "$tmp/actions.jsonl" || fail "the goodbye was not said"
grep -Eq '"event":"done","id":[0-9]+,"key":"info.hub.stopping"' "$tmp/voice.jsonl" ||
        fail "the goodbye was not spoken in full: $(grep info.hub.stopping "$tmp/voice.jsonl")"
# (how long stopping took is printed above, not asserted: the hub exited, which is
# the behaviour; a busy machine makes it slower)
# every utterance spoken went to its own non-empty WAV file, in the order spoken
n_wav=$(find "$tmp/voice" -name '*.wav' | wc -l)
n_start=$(grep -c '"event":"start"' "$tmp/voice.jsonl")
[ "$n_wav" -eq "$n_start" ] || fail "$n_wav WAV files for $n_start utterances"
for key in cue.hub.session_start warn.too_fast info.hub.stopping; do
        f=$(find "$tmp/voice" -name "*-$key.wav" | head -n 1)
        [ -n "$f" ] || fail "no WAV file for $key"
        # 22050 Hz 16-bit mono: at least half a second of audio after the header
        [ "$(stat -c %s "$f")" -gt $((44 + 22050)) ] || fail "$f is too short"
done
# the plugin's warning also reached the actions, from the warnings plugin
grep -q '"key":"warn.too_fast".*"plugin":"warnings"' "$tmp/actions.jsonl" ||
        fail "warn.too_fast is not the warnings plugin's"
# the hub closed with every LED off
for led in green amber red; do
        [ "$(cat "$tmp/leds/$led/brightness")" = 0 ] || fail "$led is still on after the hub exited"
done
grep -q '^voice: ' "$tmp/hub.err" || fail "no voice summary"
grep '^voice: \|^leds: ' "$tmp/hub.err"
echo "hub feedback: ok"
