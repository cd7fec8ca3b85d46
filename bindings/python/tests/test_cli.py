"""python3 -m implicitem fit: a user's CSV in, a summary, responsibilities and a figure out;
clear messages for bad files."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from implicitem.cli import Progress, main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def data_csv(tmp_path):
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.standard_normal((60, 2)), rng.standard_normal((60, 2)) + [6, 0],
                        rng.standard_normal((60, 2)) + [0, 6]])
    path = tmp_path / "data.csv"
    with open(path, "w") as handle:
        handle.write("a,b\n")
        for row in X:
            handle.write(f"{row[0]:.17g},{row[1]:.17g}\n")
    return str(path), X


def test_fit_writes_responsibilities(data_csv, tmp_path):
    path, X = data_csv
    out_csv = tmp_path / "resp.csv"
    code, out, err = run("fit", path, "--kernel", "laplace", "-k", "3", "--scale", "per-dim",
                         "--out", str(out_csv))
    assert code == 0, err
    assert "180 rows, 2 columns (a, b)" in out
    assert out.count("component ") == 3
    resp = np.loadtxt(out_csv, delimiter=",", skiprows=1)
    assert resp.shape == (180, 3)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-9)
    # The same fit through the estimator gives the same responsibilities.
    import implicitem as ie
    model = ie.Mixture(3, kernel="laplace", scale_shape="per_dimension", n_init=3, max_iter=300,
                       random_state=0).fit(X)
    np.testing.assert_allclose(resp, model.predict_proba(X), atol=1e-9)


def test_plot(data_csv, tmp_path):
    pytest.importorskip("matplotlib")
    path, _ = data_csv
    figure = tmp_path / "fig.png"
    code, out, err = run("fit", path, "-k", "3", "--plot", str(figure))
    assert code == 0, err
    with open(figure, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("1,2\n3,x\n", "line 2, column 2: 'x' is not a number"),
    ("1,2\n3,4,5\n", "line 2: 3 columns, but the rows before it have 2 (ragged rows)"),
    ("1,2\n3,4\n", "2 rows, fewer than the 3 components"),
    ("a,b\n", "no rows of numbers"),
    ("1,2\n3,inf\n4,5\n", "line 2, column 2: 'inf' is not finite"),
])
def test_bad_files_get_clear_messages(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    code, out, err = run("fit", str(path), "-k", "3")
    assert code == 2
    assert message in err
    assert str(path) in err
    assert "Traceback" not in err


def test_progress_reports_only_after_a_second():
    stream = io.StringIO()
    progress = Progress(stream, after=1.0, every=0.0)
    progress(0, 1, -3.0)
    assert stream.getvalue() == ""
    progress.start -= 2.0  # as if the fit had been running for two seconds
    progress(1, 7, -2.5)
    assert "restart 2, iteration 7: mean log-likelihood -2.500000" in stream.getvalue()


def test_module_entry_point(data_csv):
    path, _ = data_csv
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + \
        os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-m", "implicitem", "fit", path, "-k", "2",
                             "--kernel", "student_t"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "kernel student_t, k = 2" in result.stdout
