#!/bin/sh
# run.sh [SECONDS] [TARGET...] - runs each libFuzzer harness for SECONDS
# (default 5) against a copy of its seed corpus (tests/fuzz/corpus/TARGET),
# one after the other; all of them when no TARGET is named. The programs
# come from `make fuzz` in $EVSTORE_FUZZ_BUILDDIR (default: the current
# directory when it holds tests/fuzz/fuzz_json, else build-fuzz/ in the
# source tree). Fails on the first crash, leak, timeout or sanitizer report,
# printing the reproducer's path and how to replay it. What each run found
# new stays in its work directory, printed at the end (doc/fuzzing.md says
# how to keep a seed). Extra libFuzzer flags: FUZZ_FLAGS="-jobs=2".
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${EVSTORE_FUZZ_BUILDDIR:-}" ]; then
	BUILD=$EVSTORE_FUZZ_BUILDDIR
elif [ -x tests/fuzz/fuzz_json ]; then
	BUILD=$PWD
else
	BUILD=$SRC/build-fuzz
fi
seconds=${1:-5}
[ $# -gt 0 ] && shift
targets=$*
if [ -z "$targets" ]; then
	targets=$(ls "$SRC/tests/fuzz/corpus")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/evstore-fuzz.XXXXXX")
# Our own leaks are findings; what libjwt and OpenSSL keep for the
# process's life is not.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SRC/tests/lsan.supp:print_suppressions=0}

status=0
for t in $targets; do
	prog=$BUILD/tests/fuzz/fuzz_$t
	if [ ! -x "$prog" ]; then
		echo "run.sh: $prog is missing: make fuzz in a tree configured with CC=clang --enable-fuzzing" >&2
		status=1
		break
	fi
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
	cp "$SRC/tests/fuzz/corpus/$t/"* "$work/$t/corpus/" 2>/dev/null
	dict=
	[ -f "$SRC/tests/fuzz/dict/$t.dict" ] && dict=-dict=$SRC/tests/fuzz/dict/$t.dict
	# shellcheck disable=SC2086
	"$prog" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$work/$t/artifacts/" $dict ${FUZZ_FLAGS:-} "$work/$t/corpus" \
		>"$work/$t/log" 2>&1
	rc=$?
	final=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$work/$t/log" | tail -1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
	if [ $rc -ne 0 ]; then
		echo "fuzz_$t: FAILED (exit $rc)"
		grep -aE 'ERROR: |runtime error:|property failed|SUMMARY' "$work/$t/log" | head -5
		for a in "$work/$t/artifacts"/*; do
			[ -f "$a" ] && echo "  reproducer: $a (replay: $prog $a)"
		done
		echo "  log: $work/$t/log"
		status=1
		break
	fi
	echo "fuzz_$t: ok, ${runs:-?} runs in ${seconds}s: ${final#*DONE }"
done
if [ $status -eq 0 ] && [ -z "${FUZZ_KEEP:-}" ]; then
	rm -rf "$work"
else
	echo "work directory kept: $work"
fi
exit $status
