#!/usr/bin/env bash
# Every command in README.md and docs/ works as written: the shell snippets (```sh
# blocks, and untagged blocks that start with a command, or with a `$ ` prompt:
# then only the prompted lines, the rest is their output) are extracted and run,
# each must exit 0. (The configuration blocks, ```ini, are parsed by
# tests/test_config.c, test_docs_blocks.)
#
# What is substituted, and only that:
#   - the snippets run in a scratch copy of the tree: every top-level entry of the
#     source linked, build/ linked to this build directory, so nothing they write
#     lands in the source tree (and the test checks that nothing did);
#   - the files a snippet takes as the reader's own exist there: my-session.trace
#     (the demo trace) and me.conf (config/rollcoach.conf); the example plugin of
#     docs/plugins.md, saved where it says (~/.config/rollcoach/plugins/
#     hold-twenty.lua); `rollcoach` is on PATH (this build's, as if installed);
#     HOME is the scratch directory;
#   - the live hub (`rollcoach run` without --bus or --duration) runs against the
#     BlueZ stand-in through DBUS_SYSTEM_BUS_ADDRESS, which it honours, and is
#     stopped with SIGINT after 10 s (it runs until stopped);
#   - skipped, each for a reason printed below: `git clone` (the network; this is
#     the clone), `scripts/test` (it runs this test), `scripts/demo` (it installs
#     packages and builds into build/ itself, and runs minutes but for --fast), the
#     benchmarks (minutes of figures; bench-core's and bench_engine's --help are
#     checked instead). A block that mixes skipped and other commands is
#     an error: split it, so that no command goes untested.
# Usage: docs.sh ROLLCOACH SRCDIR BINDIR
set -euo pipefail
rc=$1 src=$2 bin=$3
. "$(dirname "$0")/lib.bash"

[ -r "$bin/demo-lower-back.trace" ] || fail "no demo trace in $bin"
work=$tmp/tree
mkdir -p "$work" "$tmp/snippets" "$tmp/home"
for e in "$src"/* "$src"/.clang-format "$src"/.luacheckrc; do
        [ "$(basename "$e")" = build ] || ln -s "$e" "$work/"
done
ln -s "$bin" "$work/build"
cp "$bin/demo-lower-back.trace" "$work/my-session.trace"
cp "$src/config/rollcoach.conf" "$work/me.conf"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config PATH=$bin:$PATH
mkdir -p "$HOME/.config/rollcoach/plugins"
awk '/^<!-- example-plugin/ { m = 1; next } m && /^```lua/ { inb = 1; next } inb && /^```/ { exit } inb' \
        "$src/docs/plugins.md" >"$HOME/.config/rollcoach/plugins/hold-twenty.lua"
[ -s "$HOME/.config/rollcoach/plugins/hold-twenty.lua" ] || fail "no example plugin in docs/plugins.md"
before=$(cd "$src" && git status --porcelain --untracked-files=all 2>/dev/null || true)

# The blocks, one file each, named by where they are: FILE:LINE.
for f in "$src"/README.md "$src"/docs/*.md "$src"/docs/spec/*.md; do
        awk -v file="${f#"$src"/}" -v out="$tmp/snippets" '
                function flush() { if (keep) { n++; print text > (out "/" sprintf("%03d", n) ".sh"); close(out "/" sprintf("%03d", n) ".sh") } }
                /^[ \t]*```/ {
                        if (!inb) {
                                inb = 1; match($0, /^[ \t]*/); indent = RLENGTH
                                lang = substr($0, indent + 4); start = FNR; text = "# " file ":" start; first = ""
                                next
                        }
                        inb = 0
                        keep = lang == "sh" || (lang == "" && first ~ /^(\$|rollcoach|build\/|scripts\/|git|luacheck|jq|grep) /)
                        flush(); next
                }
                inb {
                        line = substr($0, indent + 1)
                        if (first == "" && line !~ /^[ \t]*$/) first = line
                        text = text "\n" line
                }
                BEGIN { n = ENVIRON["N"] + 0 }
                END { print n > (out "/count") }
        ' "$f"
        export N=$(cat "$tmp/snippets/count")
done
rm "$tmp/snippets/count"

# The live hub's bus, for the snippets that use the system bus.
start_standin "$bin/demo-lower-back.trace"

skip_reason() { # LINE: why it is not run, or nothing
        case $1 in
        "git clone"*) echo "needs the network; this is the clone" ;;
        scripts/test*) echo "it runs this test" ;;
        scripts/demo*) echo "it installs packages and builds into build/ itself (and runs minutes but for --fast)" ;;
        scripts/bench-* | build/bench_*) echo "a benchmark (minutes of figures, no checks)" ;;
        esac
}

ran=0 skipped=0
for s in "$tmp"/snippets/*.sh; do
        where=$(head -n 1 "$s" | cut -c3-)
        # a transcript (`$ command`, then its output): the commands alone
        if sed -n 2p "$s" | grep -q '^\$ '; then
                { head -n 1 "$s"; sed -n 's/^\$ //p' "$s"; } >"$s.cmds"
                mv "$s.cmds" "$s"
        fi
        # the command lines: continuations joined, comments and blanks left out
        cmds=$(sed -e :a -e '/\\$/N; s/\\\n//; ta' "$s" | sed -e 's/[ \t]#.*//' -e '/^[ \t]*#/d' -e '/^[ \t]*$/d')
        n_cmds=$(printf '%s\n' "$cmds" | wc -l)
        n_skip=0 why=''
        while IFS= read -r line; do
                r=$(skip_reason "$line")
                [ -z "$r" ] || { n_skip=$((n_skip + 1)); why="$why; $(echo $line): $r"; }
        done <<<"$cmds"
        if [ "$n_skip" -eq "$n_cmds" ]; then
                echo "skipped $where${why}"
                skipped=$((skipped + 1))
                continue
        fi
        [ "$n_skip" -eq 0 ] || fail "$where mixes commands this test runs and skips${why}: split the block"
        # the live hub on the stand-in, stopped after 10 s
        sed -E -e '/(^|[ \/])rollcoach run /{/--bus|--duration/!s/^([ \t]*)((build\/)?rollcoach run )/\1timeout -s INT --preserve-status 10 \2/}' \
                "$s" >"$s.run"
        echo "running $where"
        set +e
        (cd "$work" && DBUS_SYSTEM_BUS_ADDRESS=$addr timeout 150 bash -e "$s.run") \
                >"$tmp/out" 2>"$tmp/err"
        st=$?
        set -e
        [ "$st" -eq 0 ] || { cat "$s.run" "$tmp/err" >&2; fail "$where exited $st"; }
        ran=$((ran + 1))
done
# README: the stand-in snippet, replay (twice), simulate, the live hub; plugins.md:
# luacheck, simulate, replay, the transcript (grep, jq), --strict
[ "$ran" -ge 10 ] || fail "only $ran snippets ran: is the extraction broken?"
[ "$skipped" -ge 3 ] || fail "only $skipped snippets skipped: is the extraction broken?"

# what the snippets wrote is in the scratch tree, not in the source tree
for f in events.jsonl actions.jsonl hold.trace; do
        [ -s "$work/$f" ] || fail "no $f written by the snippets"
done
after=$(cd "$src" && git status --porcelain --untracked-files=all 2>/dev/null || true)
[ "$before" = "$after" ] || fail "the snippets changed the source tree: $(diff <(echo "$before") <(echo "$after"))"

# the skipped scripts and the benchmarks answer --help
for c in scripts/demo scripts/bench-core scripts/bluez-standin; do
        expect_exit 0 "$src/$c" --help
        [ -s "$tmp/out" ] || [ -s "$tmp/err" ] || fail "$c --help printed nothing"
done
for b in bench_engine; do
        [ -x "$bin/$b" ] || continue # a build without the benchmarks
        expect_exit 0 "$bin/$b" --help
        grep -qi "usage" "$tmp/out" || fail "$b --help: no usage"
done
echo "docs CLI: $ran snippets ran, $skipped skipped: ok"
