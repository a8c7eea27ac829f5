# Shared by the command-line tests (tests/cli/*.sh), sourced after `set -euo pipefail`
# with rc, src and bin set: a scratch directory, the background processes a test
# starts (`bg_pids`), both cleaned up on exit, and the checks.
tmp=$(mktemp -d)
bg_pids=()
cleanup() {
        local p
        for p in "${bg_pids[@]}"; do
                kill "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Run CMD..., its output in $tmp/out and $tmp/err, and check its exit status.
expect_exit() { # CODE CMD...
        local want=$1; shift
        set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
        [ "$got" -eq "$want" ] || { cat "$tmp/err" >&2; fail "$* exited $got, expected $want"; }
}

# Wait up to 30 s for CMD... to succeed; else show the hub's log ($tmp/hub.err,
# if any) and fail with WHAT.
wait_for() { # WHAT CMD...
        local what=$1; shift
        for _ in $(seq 300); do "$@" && return 0; sleep 0.1; done
        [ ! -f "$tmp/hub.err" ] || cat "$tmp/hub.err" >&2
        fail "$what"
}

# The BlueZ stand-in (scripts/bluez-standin) playing TRACE on a private bus: its
# address in $addr, its pid in $standin_pid (ended on exit, or by stop_standin),
# its log in $tmp/standin.err.
start_standin() { # TRACE
        BUILD_DIR=$bin "$src/scripts/bluez-standin" "$1" --disconnect-delay 0 \
                >"$tmp/standin.out" 2>"$tmp/standin.err" &
        standin_pid=$!
        bg_pids+=("$standin_pid")
        for _ in $(seq 100); do
                [ -s "$tmp/standin.out" ] && break
                sleep 0.1
        done
        addr=$(head -n 1 "$tmp/standin.out")
        [ -n "$addr" ] || { cat "$tmp/standin.err" >&2; fail "the stand-in did not start"; }
}
stop_standin() { kill "$standin_pid" 2>/dev/null || true; wait "$standin_pid" 2>/dev/null || true; }
