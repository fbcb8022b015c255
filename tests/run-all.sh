#!/usr/bin/env bash
# run-all.sh - the whole test suite, exactly as CI runs it:
#   1. installs what is missing (Debian packages; as root),
#   2. builds with -Werror under AddressSanitizer and UBSan (build-test/),
#   3. runs the Check unit suites (the store suite against a throw-away
#      PostgreSQL) and every integration test in tests/integration/,
#   4. ends with one line: "N passed, N failed".
# Options: --no-sanitizers builds without ASan/UBSan; TESTS="feed auth"
# runs only those integration tests.
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
SAN=--enable-sanitizers
[ "${1:-}" = --no-sanitizers ] && SAN=

packaging/deps.sh test || exit 1

BUILD=${EVSTORE_TEST_BUILDDIR:-$SRC/build-test}
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
fi
mkdir -p "$BUILD"
cd "$BUILD" || exit 1
flags="$SAN --enable-werror"
if [ ! -f Makefile ] || [ "$(cat .configure-flags 2>/dev/null)" != "$flags" ]; then
	"$SRC/configure" $flags -q || exit 1
	echo "$flags" >.configure-flags
fi
echo "== building in $BUILD"
make -j"$(nproc)" >make.log 2>&1 || { cat make.log; echo "0 passed, 1 failed"; exit 1; }

export EVSTORE_BUILDDIR=$BUILD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SRC/tests/lsan.supp:print_suppressions=0}

passed=0
failed=0

# --- unit suites, the store suite against its own PostgreSQL -----------------
echo "== unit tests"
(
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evstore-unit.XXXXXX")
	STACK_PG_OPTIONS="-c fsync=off"
	. "$SRC/examples/local-stack.sh"
	chmod 755 "$STACK_DIR"
	trap 'stack_pg_stop immediate; rm -rf "$STACK_DIR"' EXIT
	stack_pg_start || exit 1
	export EVSTORE_TEST_DATABASE_URL
	EVSTORE_TEST_DATABASE_URL=$(stack_database_url)
	make -j"$(nproc)" check >check.log 2>&1
)
# Every suite in the source tree must have run: one that did not even build
# leaves no log and counts as a failure.
for src in "$SRC"/tests/unit/check_*.c; do
	name=$(basename "$src" .c)
	log=tests/unit/$name.log
	if [ ! -f "$log" ]; then
		echo "$name: did not run"
		grep -E 'error|Error' check.log | head -n 10 | sed 's/^/#   /'
		failed=$((failed + 1))
		continue
	fi
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		if grep -q '^SKIP' "${log%.log}.trs" 2>/dev/null || grep -q ':test-result: SKIP' "${log%.log}.trs" 2>/dev/null; then
			echo "$name: skipped"
		else
			echo "$name: no Check summary (crashed?)"; sed 's/^/#   /' "$log" | tail -n 30
			failed=$((failed + 1))
		fi
		continue
	fi
	echo "$name: $line"
	checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
	fails=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
	errs=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + checks - fails - errs))
	failed=$((failed + fails + errs))
	[ $((fails + errs)) -gt 0 ] && grep -E ':[EF]:' "$log" | head -n 20 | sed 's/^/#   /'
	grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" && {
		echo "#   sanitizer report in $log"; failed=$((failed + 1)); }
done

# --- integration tests ---------------------------------------------------------
echo "== integration tests"
for t in "$SRC"/tests/integration/test_*.sh; do
	name=$(basename "$t" .sh); name=${name#test_}
	if [ -n "${TESTS:-}" ] && ! grep -qw "$name" <<<"$TESTS"; then continue; fi
	echo "-- $name"
	out=$(bash "$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -vE '^ok ' | sed 's/^/   /'
	line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "   $name ended early (exit $rc)"
		failed=$((failed + 1))
		continue
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.*passed, ([0-9]+) failed/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$rc" -ne 0 ] && [ "$f" = 0 ] && { echo "   $name exited $rc"; failed=$((failed + 1)); }
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
