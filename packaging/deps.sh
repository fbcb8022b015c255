#!/bin/sh
# deps.sh [build|run|test] - installs the Debian packages evstore needs:
#   build  what compiles it (autotools, the -dev libraries, Check)
#   run    build + what the quick start runs (PostgreSQL, nginx, curl, jq)
#   test   run + what the test suite starts for real (Apache, syslog-ng, ...)
# Already installed packages are left alone; as a normal user it only says
# what is missing.
set -eu

build="autoconf automake libtool pkgconf make gcc libc6-dev libfcgi-dev libfcgi-bin
       libpq-dev libjson-c-dev libjwt-dev libpcre2-dev libssl-dev check libsubunit-dev"
run="$build postgresql postgresql-contrib nginx-light spawn-fcgi curl jq openssl ca-certificates python3"
test="$run python3 python3-yaml apache2 libapache2-mod-fcgid syslog-ng-core valgrind wrk procps psmisc bsdutils"
# The RPM package, built and checked here (packaging/build-rpm, test_rpm.sh).
test="$test rpm rpmlint elfutils cpio file"
# The load balancer of the rolling-restart and failover tests, and the
# high-availability stack of the failover test (Patroni with etcd).
test="$test haproxy patroni etcd-server etcd-client"
# The pooler the pgbouncer test puts in front of the HTTP suites.
test="$test pgbouncer"
# The package test: build the .deb (debhelper, lintian), run its units
# without systemd as PID 1 (systemd-socket-activate, systemd-analyze), setpriv,
# and logrotate to check its file.
test="$test dpkg-dev debhelper fakeroot lintian systemd util-linux logrotate"

# The metrics test: promtool (check metrics, check and test rules) and a
# real Prometheus server scraping the pool.
test="$test prometheus"

# The fuzzing harnesses' short run (tests/integration/test_fuzz.sh): clang
# with libFuzzer's runtime.
test="$test clang libclang-rt-14-dev"

case "${1:-test}" in
build) want=$build ;;
run) want=$run ;;
test) want=$test ;;
*) echo "usage: $0 [build|run|test]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	status=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "install them with: sudo apt-get install$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep the distribution's nginx/apache from starting on port 80 in a
# container without an init: policy-rc.d says "no" to service starts.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
