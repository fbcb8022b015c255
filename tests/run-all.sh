#!/usr/bin/env bash
# run-all.sh - the whole test suite, exactly as CI runs it:
#   1. installs what is missing (Debian packages; as root),
#   2. builds with -Werror under AddressSanitizer and UBSan (build-test/),
#   3. runs `make check` there, with a throw-away PostgreSQL for the
#      DB-backed Check unit suites: every unit suite and every integration
#      test in tests/integration/ (each starts its own PostgreSQL, FastCGI
#      pool and nginx),
#   4. reads what each left in its .log and .trs: one line per unit suite,
#      what each integration test reported besides its passing checks, and
#      ends with one line: "N passed, N failed".
# Counted as failures too: a suite or test whose source exists but that did
# not run, an integration test that skipped (its prerequisites were just
# installed), a sanitizer report, a test that stopped early.
# Options: --no-sanitizers builds without ASan/UBSan; TESTS="feed auth"
# runs only those integration tests (the unit suites always run).
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
SAN=--enable-sanitizers
[ "${1:-}" = --no-sanitizers ] && SAN=

packaging/deps.sh test || exit 1

BUILD=${EVSTORE_TEST_BUILDDIR:-$SRC/build-test}
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] ||
	[ tests/local.mk -nt Makefile.in ]; then
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

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SRC/tests/lsan.supp:print_suppressions=0}

# The integration tests to run: all of them, or those TESTS names.
its=()
for t in "$SRC"/tests/integration/test_*.sh; do
	name=$(basename "$t" .sh); name=${name#test_}
	if [ -n "${TESTS:-}" ] && ! grep -qw "$name" <<<"$TESTS"; then continue; fi
	its+=("$name")
done
# make's own list unless filtered: a test left out of tests/local.mk then
# shows as one that did not run.
make_tests=()
if [ -n "${TESTS:-}" ]; then
	list='$(UNIT_TESTS)'
	for name in "${its[@]}"; do list="$list tests/integration/test_$name.sh"; done
	make_tests=("TESTS=$list")
fi

# Logs of an earlier run must not stand in for tests that did not run now.
rm -f test-suite.log tests/unit/*.log tests/unit/*.trs tests/integration/*.log tests/integration/*.trs

echo "== make check: the unit suites and ${#its[@]} integration tests (log: $BUILD/check.log)"
start=$SECONDS
(
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evstore-unit.XXXXXX")
	STACK_PG_OPTIONS="-c fsync=off"
	. "$SRC/examples/local-stack.sh"
	chmod 755 "$STACK_DIR"
	trap 'stack_pg_stop immediate; rm -rf "$STACK_DIR"' EXIT
	stack_pg_start || exit 1
	export EVSTORE_TEST_DATABASE_URL
	EVSTORE_TEST_DATABASE_URL=$(stack_database_url)
	make -j"$(nproc)" check "${make_tests[@]}" >check.log 2>&1
)
elapsed=$((SECONDS - start))

passed=0
failed=0
sanitized() { grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; }

# --- unit suites: Check's summary line in each log --------------------------------
echo "== unit tests"
for src in "$SRC"/tests/unit/check_*.c; do
	name=$(basename "$src" .c)
	log=tests/unit/$name.log
	if [ ! -f "$log" ]; then
		echo "$name: did not run (not built, or not in UNIT_TESTS in tests/local.mk)"
		grep -E 'error|Error' check.log | head -n 10 | sed 's/^/#   /'
		failed=$((failed + 1))
		continue
	fi
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		if grep -q ':test-result: SKIP' "${log%.log}.trs" 2>/dev/null; then
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
	sanitized "$log" && { echo "#   sanitizer report in $log"; failed=$((failed + 1)); }
done

# --- integration tests: their summary line, TAP results from the driver -------------
echo "== integration tests"
for name in "${its[@]}"; do
	log=tests/integration/test_$name.log
	trs=${log%.log}.trs
	echo "-- $name"
	if [ ! -f "$trs" ]; then
		echo "   did not run (not in INTEGRATION_TESTS in tests/local.mk?)"
		failed=$((failed + 1))
		continue
	fi
	# what it said besides its passing checks, the plan and the driver's echo
	grep -vE '^(ok |(PASS|FAIL|SKIP|XFAIL|ERROR): |1\.\.[0-9]+$)' "$log" | sed 's/^/   /'
	if grep -q '^:global-test-result: SKIP' "$trs"; then
		echo "   skipped, though its prerequisites were installed: $(sed -n 's/^1\.\.0 # SKIP //p' "$log")"
		failed=$((failed + 1))
		continue
	fi
	line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "   $name ended early"
		failed=$((failed + 1))
		continue
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.*passed, ([0-9]+) failed/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	# the driver's own verdicts: a wrong plan, a bail-out
	if grep -q '^:test-result: ERROR' "$trs"; then
		grep -E '^ERROR: ' "$log" | sed 's/^/   /'
		failed=$((failed + 1))
	fi
	sanitized "$log" && { echo "   sanitizer report in $log"; failed=$((failed + 1)); }
done

echo
echo "== make check took $((elapsed / 60)) min $((elapsed % 60)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
