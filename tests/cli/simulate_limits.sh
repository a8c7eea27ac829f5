#!/usr/bin/env bash
# rollcoach simulate keeps its output bounded and never leaves a temporary
# behind: a scenario whose devices' timelines add up to more than 4 device-hours is
# refused (exit 3, said why), and a run killed by SIGTERM or SIGINT while writing
# removes FILE.tmp (the trace is written through it, renamed when complete).
# Usage: simulate_limits.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2
. "$(dirname "$0")/lib.bash"

# 8 rollers for 31 minutes: 8 x 1860 s = 14880 device-seconds, over 14400
{
        echo "# rollcoach-scenario 1"
        for i in 1 2 3 4 5 6 7 8; do echo "roller r$i AA:BB:CC:00:00:0$i"; done
        for i in 1 2 3 4 5 6 7 8; do echo "r$i: rest 1860"; done
} >"$tmp/huge.scn"
expect_exit 3 "$rc" simulate "$tmp/huge.scn" -o "$tmp/huge.trace"
grep -q "huge.scn:1: the devices' timelines add up to 14880 s, over 14400 s" "$tmp/err" ||
        { cat "$tmp/err" >&2; fail "the bound not said"; }
[ ! -e "$tmp/huge.trace" ] && [ ! -e "$tmp/huge.trace.tmp" ] || fail "a file was written"
# at the bound it is a scenario like any other; written here into a FIFO, which
# must stay one: an output that is not a regular file (a FIFO, /dev/null) is
# written directly, never replaced by the renamed temporary (as root, a rename
# onto /dev/null would make it a regular file that fills the disk)
sed -i 's/rest 1860/rest 1800/' "$tmp/huge.scn"
mkfifo "$tmp/out.fifo"
wc -c <"$tmp/out.fifo" >"$tmp/fifo.count" &
bg_pids+=("$!")
"$rc" simulate "$tmp/huge.scn" -o "$tmp/out.fifo" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; fail "8 x 1800 s refused"; }
[ -p "$tmp/out.fifo" ] || fail "the FIFO given as output was replaced"
wait "${bg_pids[-1]}"
[ ! -e "$tmp/out.fifo.tmp" ] || fail "a temporary was left beside the FIFO"
[ "$(cat "$tmp/fifo.count")" -gt 1000000 ] || fail "the trace did not go through the FIFO"

# killed while writing: no FILE.tmp, no FILE
printf '# rollcoach-scenario 1\nroller r AA:BB:CC:00:00:01 load_cell=yes\nr: rest 14000\n' \
        >"$tmp/long.scn"
for sig in TERM INT; do
        rm -f "$tmp/long.trace" "$tmp/long.trace.tmp"
        "$rc" simulate "$tmp/long.scn" -o "$tmp/long.trace" 2>"$tmp/err" &
        pid=$!
        bg_pids+=("$pid")
        for _ in $(seq 300); do [ -s "$tmp/long.trace.tmp" ] && break; sleep 0.1; done
        [ -s "$tmp/long.trace.tmp" ] || fail "no temporary seen being written"
        kill -"$sig" "$pid"
        set +e
        wait "$pid"
        st=$?
        set -e
        [ "$st" -ne 0 ] || fail "SIG$sig: the run finished before the signal; make the scenario longer"
        [ ! -e "$tmp/long.trace.tmp" ] || fail "SIG$sig left $tmp/long.trace.tmp"
        [ ! -e "$tmp/long.trace" ] || fail "SIG$sig left a partial trace"
done
echo "simulate limits CLI: ok"
