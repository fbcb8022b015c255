#!/usr/bin/env bash
# The libFuzzer harnesses (tests/fuzz, doc/fuzzing.md), briefly: a clang
# build of the library with the fuzzer's coverage hooks, ASan and UBSan in
# a directory of its own, then each harness for FUZZ_SECONDS (default 10)
# from its seed corpus, two at a time. A crash, leak, timeout or sanitizer
# report fails the harness's check and names the reproducer to replay.
# Needs clang and libFuzzer (packaging/deps.sh test installs them); no
# PostgreSQL, no servers.
. "$(dirname "$0")/lib.sh"
it_require clang make
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
FUZZ_BUILD=${EVSTORE_FUZZ_BUILDDIR:-$IT_BUILDDIR/build-fuzz-it}
probe=$(mktemp -d "${TMPDIR:-/tmp}/evstore-fuzzprobe.XXXXXX")
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1 ||
	it_skip "clang cannot link libFuzzer programs (Debian: libclang-rt-14-dev)"

# A configured tree is reused: make rebuilds what changed.
mkdir -p "$FUZZ_BUILD"
if [ ! -f "$FUZZ_BUILD/Makefile" ]; then
	(cd "$FUZZ_BUILD" && "$IT_SRCDIR/configure" -q CC=clang --enable-fuzzing --enable-werror) \
		>"$probe/configure.log" 2>&1
fi
if (cd "$FUZZ_BUILD" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -j"$(nproc)" fuzz) >"$probe/make.log" 2>&1; then
	ok "make fuzz builds every harness with clang (in $FUZZ_BUILD)"
else
	not_ok "make fuzz builds every harness with clang (in $FUZZ_BUILD)" \
		"$(tail -n 15 "$probe/configure.log" "$probe/make.log" 2>/dev/null)"
	echo "$IT_NAME: $IT_PASSED passed, $IT_FAILED failed"
	echo "1..$((IT_PASSED + IT_FAILED))"
	exit 1
fi

targets=$(ls "$IT_SRCDIR/tests/fuzz/corpus")
for t in $targets; do
	# Two at a time: the machine's two cores.
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
	EVSTORE_FUZZ_BUILDDIR=$FUZZ_BUILD "$IT_SRCDIR/tests/fuzz/run.sh" "$FUZZ_SECONDS" "$t" \
		>"$probe/$t.out" 2>&1 &
done
wait
for t in $targets; do
	if grep -q "^fuzz_$t: ok" "$probe/$t.out"; then
		ok "fuzz_$t: ${FUZZ_SECONDS}s from its corpus without a finding"
	else
		not_ok "fuzz_$t: ${FUZZ_SECONDS}s from its corpus without a finding" "$(cat "$probe/$t.out")"
	fi
done
echo "$IT_NAME: $IT_PASSED passed, $IT_FAILED failed"
echo "1..$((IT_PASSED + IT_FAILED))"
[ "$IT_FAILED" -eq 0 ]
