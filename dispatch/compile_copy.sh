#!/usr/bin/env bash
# compile_copy.sh OUT_DIR MODULE_SUFFIX SYMBOL_PREFIX -- SWIFTC_FLAGS...
# Compiles one copy of the library's Swift sources (the ImplicitEM and ImplicitEMExports modules)
# into OUT_DIR/core.o and OUT_DIR/exports.o, with the flags of SwiftPM's release build plus
# SWIFTC_FLAGS (the target CPU). MODULE_SUFFIX renames the modules (ImplicitEM<suffix>), so that
# two copies in one library have distinct Swift symbols and runtime metadata. A non-empty
# SYMBOL_PREFIX then renames every global symbol the copy defines to SYMBOL_PREFIX.name: the C
# entry points, which the dispatcher (dispatch/select.c) calls, and also the copies of
# standard-library specializations each module emits as weak symbols, which the linker would
# otherwise merge across copies (and could then run one copy's AVX-512 code from the other).
set -euo pipefail
out=$1 suffix=$2 prefix=$3
shift 3
[ "${1:-}" = "--" ] && shift
swiftc=${SWIFTC:-swiftc}
mkdir -p "$out"
core=ImplicitEM$suffix exports=ImplicitEMExports$suffix
alias=()
[ -z "$suffix" ] || alias=(-module-alias "ImplicitEM=$core")
common=(-parse-as-library -whole-module-optimization -num-threads 0 -O -swift-version 5 -g
        -static-stdlib -Xcc -fPIC -Xcc -fno-omit-frame-pointer -package-name implicitem
        -DSWIFT_PACKAGE -module-cache-path "$out/ModuleCache" -I "$out" "$@")

"$swiftc" -module-name "$core" -emit-module -emit-module-path "$out/$core.swiftmodule" \
    "${common[@]}" -c Sources/ImplicitEM/*.swift -o "$out/core.o.tmp"
"$swiftc" -module-name "$exports" "${alias[@]}" \
    "${common[@]}" -c Sources/ImplicitEMExports/*.swift -o "$out/exports.o.tmp"

if [ -n "$prefix" ]; then
    # One map for both objects: the exports object's references to the core's symbols follow.
    nm --defined-only --extern-only "$out/core.o.tmp" "$out/exports.o.tmp" \
        | awk -v p="$prefix." 'NF == 3 {print $3, p $3}' | sort -u > "$out/renames"
    for object in core exports; do
        objcopy --redefine-syms="$out/renames" "$out/$object.o.tmp"
    done
fi
mv "$out/core.o.tmp" "$out/core.o"
mv "$out/exports.o.tmp" "$out/exports.o"
