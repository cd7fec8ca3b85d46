#!/usr/bin/env python3
"""check_copies.py LIBRARY (linked, not stripped): AVX-512 instructions appear only in the
AVX-512 copy's functions. Each copy's global symbols carry the copy's name as a prefix
(avx512.*) and its local ones the module names ImplicitEMWide / ImplicitEMExportsWide; any
other function (the AVX2 copy, the Swift runtime, the dispatcher) runs on every x86-64 CPU
the library loads on, so it must hold no EVEX-encoded instruction (every AVX-512 instruction
is one: prefix byte 0x62) and use no zmm or opmask register."""
import re
import subprocess
import sys

FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")
INSTRUCTION = re.compile(r"^\s*[0-9a-f]+:\t((?:[0-9a-f]{2} )+)\s*\t(.*)$")
AVX512_OPERAND = re.compile(r"%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|\{1to")
LEGACY_PREFIXES = {"26", "2e", "36", "3e", "64", "65", "67"}


def in_avx512_copy(name):
    return name.startswith("avx512.") or "ImplicitEMWide" in name or "ImplicitEMExportsWide" in name


def main(library):
    listing = subprocess.run(["objdump", "-d", "-w", library], check=True, capture_output=True, text=True).stdout
    function, offenders, wide, total = None, {}, 0, 0
    for line in listing.splitlines():
        if (m := FUNCTION.match(line)):
            function = m.group(1)
            continue
        if function is None or not (m := INSTRUCTION.match(line)):
            continue
        total += 1
        code = [b for b in m.group(1).split() if b not in LEGACY_PREFIXES]
        if (code and code[0] == "62") or AVX512_OPERAND.search(m.group(2)):
            if in_avx512_copy(function):
                wide += 1
            else:
                offenders.setdefault(function, m.group(2).strip())
    if wide == 0:
        print(f"check_copies: no AVX-512 instruction in {library}: is it the two-copy build?")
        return 1
    if offenders:
        print(f"check_copies: FAIL: AVX-512 instructions outside the AVX-512 copy, in {len(offenders)} functions:")
        for name, example in list(offenders.items())[:20]:
            print(f"  {name}: {example}")
        return 1
    print(f"check_copies: all {wide} AVX-512 instructions of {total} are in the AVX-512 copy's functions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
