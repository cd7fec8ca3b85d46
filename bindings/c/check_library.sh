#!/usr/bin/env bash
# check_library.sh LIBRARY HEADER SONAME WORKDIR CC
# The shared library exports exactly the functions the header declares, has no NEEDED
# entry on a Swift runtime library, carries SONAME, and reports the header's version.
set -euo pipefail
lib=$1 header=$2 soname=$3 work=$4 cc=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
failures=0
fail() { echo "test-symbols: FAIL: $*"; failures=$((failures + 1)); }

# Defined global or weak dynamic symbols.
exported=$(readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") {print $8}' \
    | sed 's/@.*//' | sort -u)
declared=$("$here/../../dispatch/functions.sh" "$header")
[ -n "$declared" ] || fail "no IE_API declarations found in $header"

strays=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$strays" ] || fail "exported but not declared in the header: $(echo $strays)"
[ -z "$missing" ] || fail "declared in the header but not exported: $(echo $missing)"

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
swift_needed=$(echo "$needed" | grep -i swift || true)
[ -z "$swift_needed" ] || fail "NEEDED Swift runtime libraries: $(echo $swift_needed)"

actual_soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$actual_soname" = "$soname" ] || fail "SONAME is '$actual_soname', expected '$soname'"

libdir=$(cd "$(dirname "$lib")" && pwd)
$cc -std=c11 -Wall -Wextra -Werror -I"$(dirname "$header")" "$here/check_version.c" \
    -L"$libdir" -limplicitem -Wl,-rpath,"$libdir" -o "$work/check_version"
"$work/check_version" || fail "the library's version differs from the header's"

count=$(echo "$declared" | wc -l)
if [ "$failures" -ne 0 ]; then
    echo "test-symbols: $failures failure(s)"
    exit 1
fi
echo "test-symbols: exactly the header's $count ie_ functions exported; NEEDED: $(echo $needed); SONAME $actual_soname"
