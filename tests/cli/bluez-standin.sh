#!/usr/bin/env bash
# scripts/bluez-standin: the bus address on the first line, org.bluez answering on
# it, both processes and the directory gone after SIGTERM or SIGHUP, clear
# failures for a bad trace and for a stand-in that cannot start. (SIGINT cannot be
# tried here: a background job of a non-interactive shell starts with it ignored.)
# Usage: bluez-standin.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
launcher=$src/scripts/bluez-standin
export BUILD_DIR=$bin

"$rc" simulate "$src/tests/fixtures/standin-session.scn" -o "$tmp/s.trace" 2>/dev/null

# Start it; wait for the first line (at most 10 s).
start() { # ARGS...
        # Emptied here: the background job opens them later, after our first look.
        : >"$tmp/out"
        : >"$tmp/err"
        "$launcher" "$@" >"$tmp/out" 2>"$tmp/err" &
        pid=$!
        for _ in $(seq 200); do
                [ "$(wc -l <"$tmp/out")" -ge 1 ] && break
                kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; fail "the launcher exited"; }
                sleep 0.05
        done
        addr=$(head -n 1 "$tmp/out")
        case $addr in unix:path=*) ;; *) fail "first line is not a bus address: $addr" ;; esac
}

# Its two children, then a signal: all gone, the socket's directory too.
check_stop() { # SIGNAL
        local kids sock
        kids=$(ps -o pid= --ppid "$pid" | tr -d ' ')
        [ "$(echo "$kids" | wc -w)" -eq 2 ] || fail "expected 2 children, found: $kids"
        sock=${addr#unix:path=}; sock=${sock%%,*}
        [ -S "$sock" ] || fail "no socket at $sock"
        kill -"$1" "$pid"
        local st=0; wait "$pid" || st=$?
        [ "$st" -eq 0 ] || { cat "$tmp/err" >&2; fail "launcher exit status $st after SIG$1"; }
        for k in $kids; do
                for _ in $(seq 100); do kill -0 "$k" 2>/dev/null || break; sleep 0.05; done
                ! kill -0 "$k" 2>/dev/null || fail "process $k left running after SIG$1"
        done
        [ ! -e "$(dirname "$sock")" ] || fail "directory $(dirname "$sock") left behind"
}

start "$tmp/s.trace" --speed 4 --decoy 1
busctl --address="$addr" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        NameHasOwner s org.bluez | grep -q "b true" || fail "org.bluez not owned"
busctl --address="$addr" get-property org.bluez /org/bluez/hci0 org.bluez.Adapter1 Powered |
        grep -q "b true" || fail "Adapter1.Powered"
busctl --address="$addr" call org.bluez /org/rollcoach/standin org.rollcoach.StandIn1 Stats |
        grep -q '"connect_calls"' || fail "StandIn1.Stats"
# (a line logged before it owns the name: no race with the rest of its log)
grep -q "device AA:BB:CC:00:00:01: roller" "$tmp/err" || fail "the stand-in's log is not on stderr"
check_stop TERM

start "$tmp/s.trace"
check_stop HUP

# A trace that is not one: the stand-in's status (3), its message, nothing left.
printf 'not a trace\n' >"$tmp/bad.trace"
expect_exit 3 "$launcher" "$tmp/bad.trace"
grep -q "not a rollcoach trace" "$tmp/err" || fail "bad trace not reported"
[ ! -s "$tmp/out" ] || fail "an address was printed for a stand-in that did not start"
expect_exit 2 "$launcher"
expect_exit 2 "$launcher" "$tmp/s.trace" --speed fast
BUILD_DIR=$tmp/nowhere expect_exit 1 "$launcher" "$tmp/s.trace"
grep -q "build first" "$tmp/err" || fail "missing binary not explained"
echo "bluez-standin: ok"
