#!/usr/bin/env bash
# What the program does with bad input and bad command lines:
# one line and "Try ... --help" for a bad option, one prefix ("rollcoach replay:")
# on every message, bounded reads of what is not a trace or a configuration
# (/dev/zero ends, under `timeout` so a regression fails instead of hanging), a
# directory as a trace is unusable input (3, as a missing file), 200 000 config
# errors print a bounded summary, -q silences the warnings, and --strict makes a
# failing plugin fail the run.
# Usage: inputs.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config # no user plugins
trace=$src/tests/fixtures/spec-example.trace

# a bad option: getopt's line, one "Try" line, no help text
for cmd in replay simulate run record; do
        expect_exit 2 "$rc" "$cmd" --no-such-option
        [ "$(wc -l <"$tmp/err")" -eq 2 ] || { cat "$tmp/err" >&2; fail "$cmd: not two lines"; }
        grep -q "^rollcoach $cmd: unrecognized option '--no-such-option'" "$tmp/err" ||
                fail "$cmd: the option's line"
        grep -qx "Try 'rollcoach $cmd --help'." "$tmp/err" || fail "$cmd: no Try line"
done
expect_exit 2 "$rc" replay --now yesterday "$trace"
[ "$(wc -l <"$tmp/err")" -eq 2 ] || fail "--now: not two lines"
expect_exit 2 "$rc"
grep -qx "Try 'rollcoach --help'." "$tmp/err" || fail "no command: no Try line"
expect_exit 2 "$rc" frobnicate
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command"
expect_exit 0 "$rc" replay --help
grep -q -- "--strict" "$tmp/out" || fail "--strict not in replay --help"

# one prefix: every line of an error run starts with "rollcoach replay:"
expect_exit 3 "$rc" replay "$tmp/missing.trace"
grep -qv "^rollcoach replay: " "$tmp/err" && fail "a line without the command's prefix"
grep -q "^rollcoach replay: error: .*missing.trace" "$tmp/err" || fail "missing trace message"

# not a trace, not a configuration: bounded, named, exit 3
expect_exit 3 timeout 60 "$rc" replay /dev/zero
grep -q "/dev/zero:1: not a rollcoach trace" "$tmp/err" || fail "/dev/zero as a trace"
expect_exit 3 timeout 60 "$rc" replay "$trace" --profile /dev/zero
grep -q "/dev/zero:1: not a configuration" "$tmp/err" || fail "/dev/zero as a profile"
{ printf "# rollcoach-trace 1\n"; head -c 3000000 /dev/zero | tr "\0" x; } >"$tmp/huge-line.trace"
expect_exit 3 timeout 60 "$rc" replay "$tmp/huge-line.trace"
grep -q "huge-line.trace:2: not a rollcoach trace" "$tmp/err" || fail "a 3 MB line"
# a directory is unusable input, as a missing file is
mkdir "$tmp/dir.trace"
expect_exit 3 "$rc" replay "$tmp/dir.trace"
grep -q "dir.trace: a directory, not a trace" "$tmp/err" || fail "a directory as a trace"

# 200 000 errors: 20 printed and one line counting them all
awk 'BEGIN { print "[profile]"; for (i = 0; i < 200000; i++) print "bad" }' >"$tmp/errors.conf"
expect_exit 3 timeout 60 "$rc" replay "$trace" --profile "$tmp/errors.conf"
[ "$(wc -l <"$tmp/err")" -eq 21 ] || fail "$(wc -l <"$tmp/err") lines for 200000 errors"
grep -q "199980 more errors not shown (200000 in all)" "$tmp/err" || fail "the errors' summary"
# a path of 255 characters in a line longer than inih's default 200 bytes
long=/$(printf 'd%.0s' $(seq 254))
printf '[profile]\nlevel = beginner\n[plugins]\nstate_dir = %s\n' "$long" >"$tmp/long.conf"
expect_exit 0 "$rc" replay "$trace" --profile "$tmp/long.conf" --no-plugins -q -e /dev/null

# -q: the summary and the warnings (a rejected packet, malformed lines) are not printed
expect_exit 0 "$rc" replay "$trace" -q -e /dev/null
[ ! -s "$tmp/err" ] || { cat "$tmp/err" >&2; fail "-q printed something"; }
expect_exit 0 "$rc" replay "$trace" -e /dev/null
grep -q "rejected" "$tmp/err" || fail "without -q the rejected packet is reported"

# --strict: a plugin that does not load fails the run (exit 4); without it, 0
mkdir "$tmp/plugins"
cp "$src/plugins/safety.lua" "$tmp/plugins/"
expect_exit 0 "$rc" replay "$trace" --plugins "$tmp/plugins" --strict -q -a /dev/null
printf 'this is not Lua\n' >"$tmp/plugins/broken.lua"
expect_exit 0 "$rc" replay "$trace" --plugins "$tmp/plugins" -q -a /dev/null
expect_exit 4 "$rc" replay "$trace" --plugins "$tmp/plugins" --strict -q -a /dev/null
grep -q "^rollcoach replay: error: --strict: 1 plugin" "$tmp/err" || fail "--strict's message"
# a plugin that loads but fails in every callback, until it is disabled
cat >"$tmp/plugins/broken.lua" <<'LUA'
coach.plugin{name = "failing", api = 1}
coach.on("device", function(ev) error("deliberate") end)
LUA
expect_exit 4 "$rc" replay "$trace" --plugins "$tmp/plugins" --strict -q -a /dev/null
# a --plugins directory that is not one is a usage error, not an empty run that
# passes --strict (a typo in a plugin's CI loaded nothing and exited 0)
expect_exit 2 "$rc" replay "$trace" --plugins "$tmp/no-such-dir" --strict -q -a /dev/null
grep -q "^rollcoach replay: error: --plugins $tmp/no-such-dir: No such file or directory" \
        "$tmp/err" || fail "a missing --plugins directory: $(cat "$tmp/err")"
expect_exit 2 "$rc" replay "$trace" --plugins "$tmp/plugins/broken.lua" -q -a /dev/null
grep -q "not a directory" "$tmp/err" || fail "a file as --plugins: $(cat "$tmp/err")"
echo "inputs CLI: ok"
