# Shared by the command-line tests (tests/cli/*.sh), sourced after `set -euo pipefail`:
# a scratch directory removed on exit, and two checks.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Run CMD..., its output in $tmp/out and $tmp/err, and check its exit status.
expect_exit() { # CODE CMD...
        local want=$1; shift
        set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
        [ "$got" -eq "$want" ] || { cat "$tmp/err" >&2; fail "$* exited $got, expected $want"; }
}
