"""The command line: ``python3 -m implicitem fit data.csv ...`` and ``python3 -m implicitem demo``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, TextIO

import numpy as np

from ._errors import ImplicitEMError
from ._fitdata import DataFileError, read_csv

KERNELS = ["gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber",
           "exponential", "cosine", "mahalanobis"]
SCALES = {"shared": "shared", "per-component": "per_component", "per-dim": "per_dimension"}


class Progress:
    """Reports on stderr, once a fit has run for more than `after` seconds, at most every
    `every` seconds."""

    def __init__(self, stream: TextIO = sys.stderr, after: float = 1.0, every: float = 0.5) -> None:
        self.stream, self.after, self.every = stream, after, every
        self.start = time.monotonic()
        self.last = None
        self.reported = False

    def __call__(self, restart: int, iteration: int, value: float) -> None:
        now = time.monotonic()
        if now - self.start < self.after or (self.last is not None and now - self.last < self.every):
            return
        self.last = now
        self.reported = True
        self.stream.write(f"  restart {restart + 1}, iteration {iteration}: "
                          f"mean log-likelihood {value:.6f} ({now - self.start:.1f} s)\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m implicitem",
                                     description="Fit mixtures by implicit EM (libimplicitem).")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a mixture to the rows of a CSV file")
    fit.add_argument("data", help="CSV file: one sample a row, numeric columns (a header line "
                                  "of names is allowed)")
    fit.add_argument("--kernel", default="gaussian", choices=KERNELS)
    fit.add_argument("-k", "--components", type=int, default=2, help="number of components")
    fit.add_argument("--scale", default="per-component", choices=list(SCALES),
                     help="scale shape of kernels 1-7")
    fit.add_argument("--tau", type=float, default=None,
                     help="temperature (default 1; 2 for mahalanobis, the usual Gaussian)")
    fit.add_argument("--nu", type=float, default=None, help="student_t shape (default 1)")
    fit.add_argument("--delta", type=float, default=None, help="huber / pseudo_huber shape (default 1)")
    fit.add_argument("--learn-shape", action="store_true", help="also learn nu or delta")
    fit.add_argument("--max-iter", type=int, default=300)
    fit.add_argument("--tol", type=float, default=1e-6)
    fit.add_argument("--n-init", type=int, default=3, help="restarts, the best kept")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", help="write the responsibilities (N x K) to this CSV")
    fit.add_argument("--plot", help="write a PNG of the rows coloured by responsibility "
                                    "(first two columns; needs matplotlib)")
    demo = commands.add_parser("demo", help="fit every kernel to the bundled data set, print "
                                            "a table and write figures")
    demo.add_argument("--out-dir", default="build/demo", help="where the figures go")
    demo.add_argument("--no-plots", action="store_true", help="print the table only")
    return parser


def run_fit(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from .mixture import Mixture

    if args.components < 1:
        stderr.write("error: -k must be at least 1\n")
        return 2
    try:
        X, names = read_csv(args.data, min_rows=args.components)
    except DataFileError as error:
        stderr.write(f"error: {error}\n")
        return 2
    tau = args.tau if args.tau is not None else (2.0 if args.kernel == "mahalanobis" else 1.0)
    learn = None
    if args.learn_shape:
        learn = ["means", "weights", "scales", "shape"]
    model = Mixture(args.components, kernel=args.kernel, scale_shape=SCALES[args.scale],
                    nu=args.nu, delta=args.delta, tau=tau, learn=learn, max_iter=args.max_iter,
                    tol=args.tol, n_init=args.n_init, random_state=args.seed)
    progress = Progress(stderr)
    started = time.monotonic()
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, progress=progress)
    except ImplicitEMError as error:
        stderr.write(f"error: {error}\n")
        return 1
    elapsed = time.monotonic() - started
    n, d = X.shape
    stdout.write(f"{args.data}: {n} rows, {d} columns ({', '.join(names)})\n")
    stdout.write(f"kernel {args.kernel}, k = {args.components}, tau = {tau:g}: "
                 f"{model.n_iter_} iterations ({'converged' if model.converged_ else 'max_iter reached'}), "
                 f"mean log-likelihood {model.lower_bound_:.6f}, {elapsed:.2f} s\n")
    labels = model.predict(X)
    for c in range(args.components):
        centre = ", ".join(f"{v:.4g}" for v in model.means_[c])
        line = f"  component {c}: weight {model.weights_[c]:.4f}, {np.sum(labels == c)} rows, centre [{centre}]"
        if model.scales_ is not None:
            scales = np.broadcast_to(model.scales_, (args.components, d)) if np.ndim(model.scales_) == 0 \
                else (model.scales_ if np.ndim(model.scales_) == 2 else np.repeat(model.scales_[:, None], d, 1))
            line += f", scale [{', '.join(f'{v:.4g}' for v in scales[c])}]"
        status = int(model.component_status_[c])
        if status:
            line += " (collapsed)" if status == 1 else " (emptied)"
        stdout.write(line + "\n")
    if model.nu_ is not None:
        stdout.write(f"  nu = {model.nu_:.4g}\n")
    if model.delta_ is not None:
        stdout.write(f"  delta = {model.delta_:.4g}\n")
    if args.out:
        resp = model.predict_proba(X)
        header = ",".join(f"r{c}" for c in range(args.components))
        np.savetxt(args.out, resp, delimiter=",", header=header, comments="", fmt="%.10g")
        stdout.write(f"responsibilities written to {args.out}\n")
    if args.plot:
        try:
            from .demo import plot_responsibilities
        except ImportError:
            stderr.write("error: --plot needs matplotlib (pip install matplotlib)\n")
            return 1
        try:
            plot_responsibilities(X, model, args.plot, title=f"{args.kernel}, k = {args.components}")
        except ImportError:
            stderr.write("error: --plot needs matplotlib (pip install matplotlib)\n")
            return 1
        stdout.write(f"figure written to {args.plot}\n")
    return 0


def main(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout,
         stderr: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fit":
        return run_fit(args, stdout, stderr)
    from .demo import run_demo
    return run_demo(out_dir=args.out_dir, plots=not args.no_plots, stdout=stdout, stderr=stderr)
