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

# bench_privacy_stack_start WORKERS: the stack of the personal-data
# benchmarks: Contact (two fields declared personal) and PlainContact (the
# same without), a fresh master key, PostgreSQL migrated and the pool.
bench_privacy_stack_start() {
	mkdir -p "$STACK_DIR/aggregates.d"
	cp "$SRC/bench/contact.json" "$SRC/bench/plain_contact.json" "$STACK_DIR/aggregates.d/"
	(umask 077; openssl rand -hex 32 >"$STACK_DIR/master.key")
	export STACK_AGGREGATES_DIR=$STACK_DIR/aggregates.d
	STACK_LOG_LEVEL=error stack_write_config "[privacy]
master_key_file = $STACK_DIR/master.key"
	stack_pg_start
	stack_migrate
	stack_fcgi_start "$1"
}
