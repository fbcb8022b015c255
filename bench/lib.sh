# lib.sh - what the bench scripts share: a throw-away stack directory with
# examples/local-stack.sh loaded, for the binaries in ./build (or
# $EVSTORE_BUILDDIR). Source it with SRC set to the source tree, then call
# bench_stack_init NAME.
bench_stack_init() {
	export STACK_SRCDIR=$SRC STACK_BUILDDIR=${EVSTORE_BUILDDIR:-$SRC/build}
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evstore-$1.XXXXXX")
	export STACK_DIR
	. "$SRC/examples/local-stack.sh"
	chmod 755 "$STACK_DIR"
}
