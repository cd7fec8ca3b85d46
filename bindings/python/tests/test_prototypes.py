"""The ctypes declarations mirror include/implicitem.h: every function is declared, every
enum value matches, and every struct has the C compiler's size and field offsets."""

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from implicitem import _prototypes as proto

HEADER = Path(__file__).resolve().parents[3] / "include" / "implicitem.h"
STRUCTS = {name: cls for name, cls in [
    ("ie_problem_f64", proto.ProblemF64), ("ie_problem_f32", proto.ProblemF32),
    ("ie_grads_f64", proto.GradsF64), ("ie_grads_f32", proto.GradsF32),
    ("ie_fit_options_f64", getattr(proto, "FitOptionsF64", None)),
    ("ie_fit_result_f64", getattr(proto, "FitResultF64", None))] if cls is not None}
ENUMS = {"IE_": proto.Status, "IE_KERNEL_": proto.Kernel, "IE_SCALE_": proto.ScaleShape}


def header_text():
    return HEADER.read_text()


def test_every_header_function_is_declared():
    declared = set(re.findall(r"IE_API[^;]*?\b(ie_\w+)\s*\(", header_text(), re.DOTALL))
    assert declared == set(proto.PROTOTYPES)


def test_enum_values_match_the_header():
    text = header_text()
    for prefix, enum in ENUMS.items():
        for member in enum:
            c_name = (prefix + member.name) if prefix != "IE_" else "IE_" + member.name
            found = re.search(rf"\b{c_name}\s*=\s*(\d+)", text)
            assert found, f"{c_name} is not in the header"
            assert int(found.group(1)) == member.value, c_name


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to read the struct layout")
def test_struct_layouts_match_the_c_compiler(tmp_path):
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "implicitem.h"',
             "int main(void) {"]
    expected = []
    for c_name, cls in STRUCTS.items():
        lines.append(f'printf("%zu\\n", sizeof({c_name}));')
        expected.append(ctypes.sizeof(cls))
        for field, _ in cls._fields_:
            lines.append(f'printf("%zu\\n", offsetof({c_name}, {field}));')
            expected.append(getattr(cls, field).offset)
    lines += ["return 0;", "}"]
    source, program = tmp_path / "layout.c", tmp_path / "layout"
    source.write_text("\n".join(lines))
    subprocess.run(["cc", "-I", str(HEADER.parent), "-o", str(program), str(source)], check=True)
    measured = [int(v) for v in subprocess.run([str(program)], check=True, capture_output=True,
                                                text=True).stdout.split()]
    assert measured == expected
