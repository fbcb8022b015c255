#!/usr/bin/env bash
# test_rpm.sh - the RPM package, built and inspected (never installed: this
# is a Debian machine). packaging/build-rpm builds it from `make dist`'s
# tarball with packaging/rpm/evstore.spec; rpmlint must report no error.
# Then, read from the .rpm itself (rpm -qp, rpm -qlp --dump, rpm2cpio):
# the files in RHEL's paths, their modes and owners, the %config(noreplace)
# files, the scriptlets (no service started or restarted), the
# dependencies, and what the spec changed for RHEL (socket group apache,
# syslog-ng's s_sys). Last, its file list against the .deb's
# (packaging/build-deb): every difference must be a known distribution
# path, listed in the table below with the reason.
#
# EVSTORE_TEST_RPM=FILE / EVSTORE_TEST_DEB=FILE inspect those packages
# instead of building them (while working on this test: builds take minutes).
. "$(dirname "$0")/lib.sh"

# Started from `make check`: the parent make's flags must not reach the
# builds the scripts run.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

it_require rpm rpmbuild rpmlint rpm2cpio cpio autoreconf
IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evstore-it.XXXXXX")
STACK_DIR=$IT_DIR
rpm_cleanup() {
	local rc=$?
	[ -n "${IT_FINISHED:-}" ] || echo "Bail out! $IT_NAME stopped before its end (exit $rc)"
	if [ "$IT_FAILED" -gt 0 ] || [ "$rc" -ne 0 ] || [ "${EVSTORE_KEEP:-}" = 1 ]; then
		echo "# kept $IT_DIR for inspection"
	else
		rm -rf "$IT_DIR"
	fi
}
trap rpm_cleanup EXIT
trap 'exit 130' INT TERM

SPEC=$IT_SRCDIR/packaging/rpm/evstore.spec
VERSION=$(sed -n 's/^AC_INIT(\[evstore\], \[\([^]]*\)\].*/\1/p' "$IT_SRCDIR/configure.ac")

# --- build --------------------------------------------------------------------
mkdir -p "$IT_DIR/rpm"
if [ -n "${EVSTORE_TEST_RPM:-}" ]; then
	cp "$EVSTORE_TEST_RPM" "$IT_DIR/rpm/"
	echo "# EVSTORE_TEST_RPM: not building, inspecting $EVSTORE_TEST_RPM"
	: >"$IT_DIR/build-rpm.log"
elif "$IT_SRCDIR/packaging/build-rpm" "$IT_DIR/rpm" >"$IT_DIR/build-rpm.log" 2>&1; then
	ok "build-rpm builds the package from make dist's tarball"
else
	not_ok "build-rpm builds the package from make dist's tarball" "$(tail -n 30 "$IT_DIR/build-rpm.log")"
fi
RPM=$(ls "$IT_DIR"/rpm/evstore-*.rpm 2>/dev/null | head -n 1)
[ -n "$RPM" ] || { echo "Bail out! no evstore .rpm in $IT_DIR/rpm"; exit 1; }

if [ -z "${EVSTORE_TEST_RPM:-}" ]; then
	summary=$(grep -E '^ *[0-9]+ packages? and [0-9]+ specfiles? checked' "$IT_DIR/build-rpm.log")
	echo "# rpmlint:${summary}"
	grep -E ': [EW]: ' "$IT_DIR/build-rpm.log" | sed 's/^/#   /'
	check "rpmlint: 0 errors on the package and the spec" \
		grep -qE ' 0 errors, ' <<<"$summary"
fi

q() { rpm -qp --nosignature "$@" "$RPM" 2>/dev/null; }
check "the spec's Version is configure.ac's ($VERSION)" \
	test "$(sed -n 's/^Version:[[:space:]]*//p' "$SPEC")" = "$VERSION"
check "the file is named evstore-<version>-<release>.<arch>.rpm" \
	test "$(basename "$RPM")" = "$(q --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}').rpm"
check "name evstore, version $VERSION, license MIT" \
	test "$(q --qf '%{NAME} %{VERSION} %{LICENSE}')" = "evstore $VERSION MIT"

# --- files ----------------------------------------------------------------------
# path mode owner group config-flag, from the header.
q --qf '[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]' \
	>"$IT_DIR/files.tsv"
attrs() { awk -F'\t' -v p="$1" '$1 == p { print $2, $3, $4, $5 }' "$IT_DIR/files.tsv"; }
# has PATH MODE [OWNER GROUP [FLAGS]]: the file is there with these attributes.
has() {
	local want="$2 ${3:-root} ${4:-root}" got
	got=$(attrs "$1")
	[ -n "${5:-}" ] && want="$want $5"
	[ -z "${5:-}" ] && got=${got% *}
	[ "$got" = "$want" ] || { echo "#   $1: '$got', expected '$want'"; return 1; }
}
missing=0
for f in \
	/usr/sbin/evstore-fcgi:-rwxr-xr-x /usr/sbin/evstore-runner:-rwxr-xr-x /usr/bin/evstorectl:-rwxr-xr-x \
	/usr/share/man/man1/evstorectl.1.gz:-rw-r--r-- /usr/share/man/man5/evstore.conf.5.gz:-rw-r--r-- \
	/usr/share/man/man8/evstore-fcgi.8.gz:-rw-r--r-- /usr/share/man/man8/evstore-runner.8.gz:-rw-r--r-- \
	/etc/evstore/aggregates.d:drwxr-xr-x /etc/evstore/projections:drwxr-xr-x \
	/usr/lib/systemd/system/evstore-fcgi.socket:-rw-r--r-- \
	/usr/lib/systemd/system/evstore-fcgi.service:-rw-r--r-- \
	/usr/lib/systemd/system/evstore-runner.service:-rw-r--r-- \
	/usr/lib/systemd/system/evstore-fcgi.socket.d/nginx.conf:-rw-r--r-- \
	/usr/lib/tmpfiles.d/evstore.conf:-rw-r--r-- /usr/lib/sysusers.d/evstore.conf:-rw-r--r-- \
	/usr/share/evstore/nginx/evstore-site.conf:-rw-r--r-- \
	/usr/share/evstore/apache/evstore-fcgid.conf:-rw-r--r-- \
	/usr/share/evstore/apache/evstore-cgi.conf:-rw-r--r-- \
	/usr/share/evstore/haproxy/evstore.cfg:-rw-r--r-- \
	/usr/share/doc/evstore/openapi.yaml:-rw-r--r-- /usr/share/doc/evstore/configuration.md:-rw-r--r-- \
	/usr/share/doc/evstore/examples/evstore.conf:-rw-r--r-- \
	/usr/share/licenses/evstore/LICENSE:-rw-r--r-- \
	/var/log/evstore:drwxr-x---; do
	has "${f%%:*}" "${f#*:}" || missing=$((missing + 1))
done
check "programs, man pages, units, tmpfiles, sysusers, docs, license: there, modes as expected" test "$missing" = 0

check "/etc/evstore/evstore.conf: 0640 root:evstore, %config(noreplace)" \
	has /etc/evstore/evstore.conf -rw-r----- root evstore cn
missing=0
for f in /etc/logrotate.d/evstore /etc/nginx/conf.d/evstore-upstream.conf \
	/etc/nginx/default.d/evstore-locations.conf /etc/httpd/conf.d/evstore.conf \
	/etc/syslog-ng/conf.d/evstore.conf; do
	has "$f" -rw-r--r-- root root cn || missing=$((missing + 1))
done
check "logrotate, nginx (conf.d, default.d), httpd conf.d, syslog-ng: 0644, %config(noreplace)" test "$missing" = 0

# Every file in /etc is a configuration file, and every one is noreplace:
# an upgrade keeps what the admin edited.
q --configfiles | sort >"$IT_DIR/configfiles"
awk -F'\t' '$1 ~ /^\/etc\// && $2 !~ /^d/ { print $1 }' "$IT_DIR/files.tsv" | sort >"$IT_DIR/etcfiles"
check "rpm --configfiles: exactly the files in /etc" \
	diff -u "$IT_DIR/etcfiles" "$IT_DIR/configfiles"
check "every configuration file is %config(noreplace)" \
	test -z "$(awk -F'\t' '$5 ~ /c/ && $5 !~ /n/' "$IT_DIR/files.tsv")"
check "nothing is setuid, setgid or writable by others" \
	test -z "$(awk -F'\t' '$2 !~ /^l/ && $2 ~ /^.(..[sS]|.....[sS]|.......w)/' "$IT_DIR/files.tsv")"
check "every file and directory belongs to root (the conffile's group aside)" \
	test -z "$(awk -F'\t' '$3 != "root" || ($4 != "root" && $1 != "/etc/evstore/evstore.conf")' "$IT_DIR/files.tsv")"

# The payload (rpm2cpio | cpio) holds what the header lists, with the same
# modes (rpm -qlp --dump: path size mtime digest mode owner group config ...).
rpm2cpio "$RPM" | cpio -t --quiet 2>/dev/null | sed 's|^\./|/|' | sort >"$IT_DIR/payload"
q -l | sort >"$IT_DIR/listed"
check "rpm2cpio | cpio -t: the payload holds the listed files" \
	diff -u "$IT_DIR/listed" "$IT_DIR/payload"
q -l --dump >"$IT_DIR/dump"
rpm2cpio "$RPM" | cpio -tv --quiet 2>/dev/null | awk '{ sub(/^\.\//, "/", $9); print $9, $1 }' |
	sort >"$IT_DIR/payload-modes"
awk -F'\t' '{ print $1, $2 }' "$IT_DIR/files.tsv" | sort >"$IT_DIR/header-modes"
check "rpm2cpio | cpio -tv: the payload's modes are the header's" \
	diff -u "$IT_DIR/header-modes" "$IT_DIR/payload-modes"
check "rpm -qlp --dump: evstore.conf 0100640 root evstore, a config file" \
	grep -qE '^/etc/evstore/evstore\.conf [0-9]+ [0-9]+ [0-9a-f]+ 0100640 root evstore 1 ' "$IT_DIR/dump"

# --- what the spec changed for RHEL ---------------------------------------------
mkdir "$IT_DIR/root"
(cd "$IT_DIR/root" && rpm2cpio "$RPM" | cpio -idm --quiet 2>/dev/null)
R=$IT_DIR/root
check "evstore-fcgi.socket: SocketGroup=apache (RHEL's web server), mode 0660" \
	eval "grep -qx 'SocketGroup=apache' '$R/usr/lib/systemd/system/evstore-fcgi.socket' &&
		grep -qx 'SocketMode=0660' '$R/usr/lib/systemd/system/evstore-fcgi.socket'"
check "the socket's nginx drop-in gives the user nginx the socket by ACL" \
	grep -qx 'ExecStartPost=-/usr/bin/setfacl -m u:nginx:rw /run/evstore/fcgi.sock' \
	"$R/usr/lib/systemd/system/evstore-fcgi.socket.d/nginx.conf"
if command -v systemd-analyze >/dev/null 2>&1; then
	# The socket with its drop-in, found on the unit path as systemd would.
	verify_socket() {
		local out
		out=$(SYSTEMD_UNIT_PATH="$R/usr/lib/systemd/system:" systemd-analyze verify --man=no \
			"$R/usr/lib/systemd/system/evstore-fcgi.socket" 2>&1) && [ -z "$out" ] ||
			{ printf '#   %s\n' "$out"; return 1; }
	}
	check "systemd-analyze verify: evstore-fcgi.socket with the nginx drop-in" verify_socket
fi
check "the units start the programs from /usr/sbin" \
	grep -qx 'ExecStart=/usr/sbin/evstore-fcgi' "$R/usr/lib/systemd/system/evstore-fcgi.service"
check "syslog-ng snippet: source s_sys (RHEL), no s_src left" \
	eval "grep -q 'source(s_sys)' '$R/etc/syslog-ng/conf.d/evstore.conf' &&
		! grep -q 'source(s_src)' '$R/etc/syslog-ng/conf.d/evstore.conf'"
check "httpd conf.d/evstore.conf is apache/evstore-proxy-fcgi.conf" \
	cmp -s "$IT_SRCDIR/apache/evstore-proxy-fcgi.conf" "$R/etc/httpd/conf.d/evstore.conf"
check "nginx: the upstream in conf.d (http context), the locations in default.d, as shipped" \
	eval "cmp -s '$IT_SRCDIR/nginx/evstore-upstream.conf' '$R/etc/nginx/conf.d/evstore-upstream.conf' &&
		cmp -s '$IT_SRCDIR/nginx/evstore-locations.conf' '$R/etc/nginx/default.d/evstore-locations.conf'"
check "the nginx site example includes default.d/, not Debian's snippets/" \
	eval "grep -q 'include /etc/nginx/default.d/evstore-locations.conf' '$R/usr/share/evstore/nginx/evstore-site.conf' &&
		! grep -q '^ *include .*snippets/' '$R/usr/share/evstore/nginx/evstore-site.conf'"
check "evstore.conf is the shipped sample" \
	cmp -s "$IT_SRCDIR/packaging/evstore.conf" "$R/etc/evstore/evstore.conf"

# --- scriptlets -----------------------------------------------------------------
q --scripts >"$IT_DIR/scripts"
# section NAME: the body of one scriptlet ("postinstall", ...).
section() { awk -v s="$1 scriptlet" 'index($0, s) == 1 { on = 1; next } / scriptlet \(using / { on = 0 } on' "$IT_DIR/scripts"; }
UNITS='evstore-fcgi.socket evstore-fcgi.service evstore-runner.service'
check "%pre creates the evstore system user (sysusers or useradd -r)" \
	eval "section preinstall | grep -qE 'useradd -r .* evstore$|sysusers'"
check "%post: systemd-tmpfiles --create evstore.conf (/run/evstore)" \
	eval "section postinstall | grep -q 'systemd-tmpfiles --create evstore.conf'"
check "%post: %systemd_post (preset on first install) for the three units" \
	eval "section postinstall | grep -qF 'preset $UNITS'"
check "%preun: %systemd_preun (disable --now on removal)" \
	eval "section preuninstall | grep -qF 'disable --now $UNITS'"
check "%postun: %systemd_postun (daemon-reload on upgrade)" \
	eval "section postuninstall | grep -q 'systemctl daemon-reload'"
# Upgrade is: migrate, then restart (README). The package never starts or
# restarts a service: it may have no database, or an old schema.
check "no scriptlet starts or restarts a service" \
	eval "! grep -vE '^[[:space:]]*#' '$IT_DIR/scripts' | grep -qE 'systemctl [^|;]*(start|restart|reload-or)|try-restart|update-helper'"

# --- dependencies ---------------------------------------------------------------
q --requires | sed 's/[[:space:]]*$//' >"$IT_DIR/requires"
missing=0
for r in 'libpq.so.5()(64bit)' 'libjson-c.so.5()(64bit)' 'libjwt.so.0()(64bit)' 'libfcgi.so.0()(64bit)' \
	logrotate acl; do
	grep -qxF "$r" "$IT_DIR/requires" || { echo "#   no Requires: $r"; missing=$((missing + 1)); }
done
check "Requires: libpq, json-c, libjwt, fcgi (found by rpm), logrotate, acl" test "$missing" = 0
check "no Debian package name among the requirements" \
	eval "! grep -qE '^lib[a-z0-9-]+(-dev|[0-9]+)\$|^(libc6|adduser|debconf)' '$IT_DIR/requires'"

# --- the .deb's file list against the .rpm's -------------------------------------
# Files and symlinks only (directories differ in ownership habits: RPM
# co-owns the web servers' include directories, dpkg lists every parent).
# Each rule maps a Debian path to RHEL's, or names a file only one
# distribution has, and why. Anything else is a difference to fix.
deb_to_rhel() {
	sed -E \
		-e 's|^/lib/systemd/system/|/usr/lib/systemd/system/|' `# bookworm units in /lib; RHEL: /usr/lib` \
		-e 's|^/etc/apache2/conf-available/evstore\.conf$|/etc/httpd/conf.d/evstore.conf|' `# a2enconf vs conf.d/` \
		-e 's|^/etc/nginx/snippets/evstore-upstream\.conf$|/etc/nginx/conf.d/evstore-upstream.conf|' `# http context` \
		-e 's|^/etc/nginx/snippets/evstore-locations\.conf$|/etc/nginx/default.d/evstore-locations.conf|' `# server context` \
		-e 's|^/usr/share/doc/evstore/copyright$|/usr/share/licenses/evstore/LICENSE|' `# debian/copyright vs %license` \
		-e 's|^(/usr/share/doc/evstore/.*)\.gz$|\1|' `# dh_compress gzips docs over 4 KiB; RPM ships them as they are` \
		-e '/^\/usr\/share\/doc\/evstore\/changelog(\.Debian)?$/d' `# debian/changelog (native: changelog.gz); RPM: %changelog in the header` \
		-e '/^\/etc\/nginx\/snippets\/evstore-site\.conf$/d' `# RHEL has no sites-available: /usr/share/evstore/nginx/ only` \
		-e '/^\/usr\/share\/lintian\//d' `# lintian overrides: Debian's tool`
}
rhel_only() {
	sed -E \
		-e '/^\/usr\/lib\/\.build-id\//d' `# rpm's build-id links to the binaries` \
		-e '/^\/usr\/lib\/systemd\/system\/evstore-fcgi\.socket\.d\/nginx\.conf$/d' `# socket group apache: nginx by ACL; Debian's www-data serves both`
}
if [ -n "${EVSTORE_TEST_DEB:-}" ]; then
	DEB=$EVSTORE_TEST_DEB
	echo "# EVSTORE_TEST_DEB: not building, comparing with $DEB"
elif [ -x "$IT_SRCDIR/packaging/build-deb" ] && command -v dpkg-buildpackage >/dev/null 2>&1; then
	mkdir -p "$IT_DIR/deb"
	if "$IT_SRCDIR/packaging/build-deb" "$IT_DIR/deb" >"$IT_DIR/build-deb.log" 2>&1; then
		DEB=$(ls "$IT_DIR"/deb/evstore_*.deb 2>/dev/null | head -n 1)
	else
		DEB=
		not_ok "build-deb builds the .deb to compare with" "$(tail -n 20 "$IT_DIR/build-deb.log")"
	fi
else
	DEB=
	DEB_SKIP="packaging/build-deb is not in this tree (or dpkg-buildpackage is missing)"
fi
if [ -n "$DEB" ]; then
	dpkg-deb --fsys-tarfile "$DEB" | tar -tvf - | awk '$1 !~ /^d/ { sub(/^\.\//, "/", $6); print $6 }' |
		deb_to_rhel | sort -u >"$IT_DIR/deb-files"
	awk -F'\t' '$2 !~ /^d/ { print $1 }' "$IT_DIR/files.tsv" | rhel_only | sort -u >"$IT_DIR/rpm-files"
	if diff -u "$IT_DIR/deb-files" "$IT_DIR/rpm-files" >"$IT_DIR/deb-rpm.diff"; then
		ok "the .rpm has the .deb's files, up to the known distribution paths"
	else
		not_ok "the .rpm has the .deb's files, up to the known distribution paths" \
			"$(grep -E '^[-+]/' "$IT_DIR/deb-rpm.diff" | sed 's/^-/only in the .deb: /; s/^+/only in the .rpm: /')"
	fi
elif [ -n "${DEB_SKIP:-}" ]; then
	IT_PASSED=$((IT_PASSED + 1))
	printf 'ok %d - the .rpm has the .deb'"'"'s files, up to the known distribution paths # SKIP %s\n' \
		$((IT_PASSED + IT_FAILED)) "$DEB_SKIP"
fi

it_finish
