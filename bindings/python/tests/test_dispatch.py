"""The shipped library's two code paths. On x86-64 it holds an AVX2 copy and an AVX-512 copy of
its code and picks one when it is loaded: the AVX-512 copy where the CPU can run it, unless the
environment says IMPLICITEM_CPU=avx2. Each public function jumps through a table slot to the
chosen copy; these tests read which copy the slots point to, and check that both copies compute
the same results within the tolerances the other tests hold the library to.

Each variant runs in a child process, since the choice is made once, at load time."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cases import assert_close, case_id, configurations, make_case, split

TESTS = Path(__file__).resolve().parent
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
#: The functions whose table slots are read: a computation, and the two that hold per-copy state.
PROBED = ("ie_forward_f64", "ie_last_error_message", "ie_set_num_threads")
AVX512_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
#: Sizes that fill several vectors of either width and leave remainders.
SIZES = {"n": 203, "k": 19, "d": 21}


def jump_offsets(lib):
    """For each probed function: where its jump (`jmp *slot(%rip)`, bytes FF 25 and a 32-bit
    displacement) lands, relative to the function itself (independent of where the library is
    loaded); None when the function is not such a jump (a build with one copy)."""
    offsets = {}
    for name in PROBED:
        address = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        code = ctypes.string_at(address, 6)
        if code[:2] != b"\xff\x25":
            offsets[name] = None
            continue
        slot = address + 6 + int.from_bytes(code[2:], "little", signed=True)
        offsets[name] = ctypes.c_void_p.from_address(slot).value - address
    return offsets


def child(out):
    """In a child process: the jump offsets and every configuration's outputs, into `out` (.npz)."""
    import implicitem as ie
    from implicitem._loader import library

    results = {f"jump/{k}": np.array(-1 if v is None else v) for k, v in jump_offsets(library).items()}
    for dtype in (np.float64, np.float32):
        for kernel, shape, normalized in configurations():
            case = make_case(kernel, shape, normalized, dtype=dtype, **SIZES)
            problem, gL, gR = split(case)
            got = ie.gradients(**problem, gL=gL, gR=gR)
            for field in dataclasses.fields(got):
                value = getattr(got, field.name)
                if value is not None:
                    results[f"{dtype.__name__}/{case_id(kernel, shape, normalized)}/{field.name}"] = np.asarray(value)
    np.savez(out, **results)


def run_child(tmp_path, cpu):
    out = tmp_path / f"outputs-{cpu or 'default'}.npz"
    env = dict(os.environ)
    env.pop("IMPLICITEM_CPU", None)
    if cpu:
        env["IMPLICITEM_CPU"] = cpu
    code = (f"import sys; sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS)!r}]; "
            f"import test_dispatch; test_dispatch.child({str(out)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=TESTS, timeout=600)
    with np.load(out) as saved:
        return {k: saved[k] for k in saved.files}


def cpu_has_avx512():
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return AVX512_FLAGS <= set(flags.split(":", 1)[1].split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dispatch")
    return {cpu: run_child(tmp, cpu) for cpu in (None, "avx2", "avx512", "no-such-cpu")}


def jumps(outputs):
    return {k: int(v) for k, v in outputs.items() if k.startswith("jump/")}


def test_environment_chooses_the_copy(runs):
    if platform.machine() not in ("x86_64", "AMD64") or -1 in jumps(runs[None]).values():
        pytest.skip("a build with one copy of the code (not x86-64, or NATIVE=1)")
    default, avx2, avx512 = jumps(runs[None]), jumps(runs["avx2"]), jumps(runs["avx512"])
    # An unknown request is ignored; asking for AVX-512 gets it only where it can run.
    assert jumps(runs["no-such-cpu"]) == default
    assert avx512 == default
    if cpu_has_avx512():
        assert all(default[k] != avx2[k] for k in default), (default, avx2)
    else:
        assert default == avx2


def test_both_copies_agree(runs):
    default, avx2 = runs[None], runs["avx2"]
    assert default.keys() == avx2.keys()
    compared = [k for k in default if not k.startswith("jump/")]
    assert len(compared) > 100
    for key in compared:
        rtol = RTOL[np.float32 if key.startswith("float32/") else np.float64]
        assert_close(avx2[key], default[key], rtol, key)
