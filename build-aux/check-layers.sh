#!/bin/sh
# check-layers.sh ARCHIVE... - fails the build when evstore's layering is
# broken. Each archive src/FOLDER/lib*.a is the layer FOLDER; the table
# below says which layers it may call. It reads the archives' symbol tables
# (nm), so what it judges is what the linker would link:
#   - a symbol a layer uses must be its own, an allowed layer's, or a
#     system library's: a call upward or sideways is an error;
#   - libpq is reached through src/pg only: outside it, a layer may read a
#     PGresult it was handed (PQgetvalue, PQntuples, ..., PQclear) and
#     nothing else of libpq's;
#   - libjwt is used by src/auth only, libfcgi by src/fcgi only, libcrypto
#     by src/privacy/cipher.c only.
# Exit status 0 when all holds, 1 with one line per violation otherwise.
set -eu
NM=${NM:-nm}

allowed() {
	case $1 in
	base) echo "" ;;
	json) echo "base" ;;
	auth) echo "json base" ;;
	pg) echo "base" ;;
	store) echo "pg json base" ;;
	privacy) echo "store pg json base" ;;
	aggregate) echo "privacy store pg json base" ;;
	subs) echo "store pg json base" ;;
	fcgi) echo "subs aggregate privacy store pg auth json base" ;;
	runner) echo "subs aggregate privacy store pg json base" ;;
	ctl) echo "subs aggregate privacy store pg auth json base" ;;
	*) echo "check-layers: no rule for layer '$1'" >&2; exit 1 ;;
	esac
}

# What a layer outside src/pg may use of libpq: reading a result.
PQ_RESULT='^PQ(getvalue|getisnull|getlength|ntuples|nfields|fnumber|fname|cmdTuples|clear)$'

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# layer<TAB>symbol for every definition, and layer<TAB>member<TAB>symbol
# for every use.
for a in "$@"; do
	layer=$(basename "$(dirname "$a")")
	allowed "$layer" >/dev/null
	"$NM" -g --defined-only -P "$a" 2>/dev/null |
		awk -v l="$layer" 'NF >= 2 && $1 !~ /:$/ { print l "\t" $1 }' >>"$tmp/defs"
	"$NM" -u -A -P "$a" 2>/dev/null |
		awk -v l="$layer" '{ n = split($1, p, "[][]"); m = (n > 1 ? p[2] : $1); sub(/:$/, "", m); print l "\t" m "\t" $2 }' >>"$tmp/uses"
done

fail=0
while IFS="	" read -r layer member sym; do
	ok=$(allowed "$layer")
	owner=$(awk -F '\t' -v s="$sym" '$2 == s { print $1; exit }' "$tmp/defs")
	if [ -n "$owner" ] && [ "$owner" != "$layer" ]; then
		case " $ok " in
		*" $owner "*) ;;
		*) echo "check-layers: src/$layer ($member) uses $sym of src/$owner, which it may not"; fail=1 ;;
		esac
		continue
	fi
	case $sym in
	PQ*) if [ "$layer" != pg ] && ! echo "$sym" | grep -Eq "$PQ_RESULT"; then
		echo "check-layers: src/$layer ($member) calls libpq's $sym; only src/pg may"; fail=1
	     fi ;;
	jwt_*) [ "$layer" = auth ] || { echo "check-layers: src/$layer ($member) calls libjwt's $sym; only src/auth may"; fail=1; } ;;
	FCGX_* | FCGI_*) [ "$layer" = fcgi ] || { echo "check-layers: src/$layer ($member) calls libfcgi's $sym; only src/fcgi may"; fail=1; } ;;
	EVP_* | HMAC* | RAND_* | SHA256* | OPENSSL_* | CRYPTO_*)
		[ "$layer" = privacy ] && [ "$member" = cipher.o ] ||
			{ echo "check-layers: src/$layer ($member) calls libcrypto's $sym; only src/privacy/cipher.c may"; fail=1; } ;;
	esac
done <"$tmp/uses"
exit $fail
