#!/usr/bin/env python3
"""Writes the seed corpus of the C-ABI fuzz target (fuzz/corpus/): one valid call of every
entry point, precision and kernel, plus seeds for the error paths (NULLs, bad enums,
overflowing sizes, overlaps, failing callbacks, masked rows, special values).
The byte layout is the decoder's in FuzzCABI.swift."""
import os
import random
import sys

ENTRIES = ["forward", "gradients", "stats", "log_normalizer", "activation"]
MODERATE_ONE = 96 + 16          # decodes to 1.0
SPECIAL = 192                   # first special value (NaN, inf, -inf, 0, ...)


def value(v):
    """The byte that decodes to the moderate value v (a multiple of 1/16 in [-6, 6))."""
    b = int(round(v * 16)) + 96
    assert 0 <= b < 192
    return b


def seed(entry, f32, kernel, n=3, k=2, d=2, flags1=0b00000111, flags2=0, flags3=0b10,
         mask=0xFFFF & ~0x8000, pair=0, callback_fail=0, params=(1.5, 1.0, 1.0), rng=None,
         extra=b""):
    out = bytearray([ENTRIES.index(entry) << 1 | int(f32), kernel - 1, 0, n - 1, k - 1, d - 1,
                     flags1, flags2, flags3, mask & 0xFF, mask >> 8, pair, callback_fail])
    out += bytes(value(p) for p in params)
    rng = rng or random.Random(kernel * 31 + ENTRIES.index(entry))
    out += bytes(rng.randrange(40, 152) for _ in range(200))
    return bytes(out) + extra


def main(folder):
    os.makedirs(folder, exist_ok=True)
    seeds = {}
    for entry in ENTRIES:
        for f32 in (False, True):
            for kernel in range(1, 11):
                name = f"{entry}-{'f32' if f32 else 'f64'}-k{kernel}"
                seeds[name] = seed(entry, f32, kernel)
                seeds[name + "-normalized"] = seed(entry, f32, kernel, flags1=0b10111)
    # Learned kernel through its callback, with x, and with a callback that fails.
    seeds["learned-callback"] = seed("gradients", False, 10, flags1=0b1111)
    seeds["learned-callback-fails"] = seed("forward", False, 10, flags1=0b1111, callback_fail=0xF0)
    # Error paths: NULL x, NULL problem, bad struct size, bad kernel, overflowing sizes, overlaps.
    seeds["null-x"] = seed("forward", False, 1, flags2=1)
    seeds["null-problem"] = seed("forward", False, 1, flags3=0x70)
    seeds["bad-struct"] = seed("gradients", True, 4, flags2=0x80, flags3=0x80)
    seeds["bad-kernel"] = seed("forward", False, 1) [:1] + bytes([251]) + seed("forward", False, 1)[2:]
    seeds["size-rejected"] = seed("forward", False, 1)[:3] + bytes([0xF3]) + seed("forward", False, 1)[4:]
    seeds["pair-overflow"] = seed("stats", False, 2, pair=0xF8)
    seeds["kdd-overflow"] = seed("forward", False, 9, pair=0xFB)
    seeds["overlap-input"] = seed("forward", False, 5, flags2=1 << 3)
    seeds["overlap-outputs"] = seed("gradients", True, 6, flags2=2 << 3)
    # Special values: every byte from the special table once, in each place.
    specials = bytes(range(SPECIAL, 256))
    for entry in ENTRIES:
        for kernel in (1, 4, 7, 8, 9, 10):
            seeds[f"specials-{entry}-k{kernel}"] = seed(entry, False, kernel)[:16] + specials * 3
    # Masked rows: logw and logprior of -inf (special index 2).
    masked = bytearray(seed("gradients", False, 1, n=2, k=2, d=1))
    seeds["masked"] = bytes(masked[:16]) + bytes([value(0.5), value(-1), value(2), value(1)]) \
        + bytes([value(1), value(-1)]) + bytes([194, 194]) + bytes([194, 194, value(0), 194]) + bytes(40)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds into {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus"))
