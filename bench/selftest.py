"""Checks the benchmark's peers against an independent truth, without the library:
KERNELS.md's formulas evaluated plainly, one (n, k) pair at a time, and central finite
differences of sum_n logZ_n in float64 for every gradient. sklearn's E-step is checked against
the normalised Gaussian mixture written out by hand. `make bench-selftest`."""

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peer_numpy  # noqa: E402
from workloads import DELTA, NU, SEPARABLE, Workload  # noqa: E402


def rho(kernel, u):
    if kernel == "gaussian":
        return u * u / 2
    if kernel == "laplace":
        return abs(u)
    if kernel == "logistic":
        return max(-u, 0.0) + math.log1p(math.exp(-abs(u)))
    if kernel == "student_t":
        return math.log(1 + u * u / NU)
    if kernel == "huber":
        return u * u / 2 if abs(u) <= DELTA else DELTA * (abs(u) - DELTA / 2)
    if kernel == "pseudo_huber":
        return DELTA ** 2 * (math.sqrt(1 + (u / DELTA) ** 2) - 1)
    if kernel == "exponential":
        return math.exp(abs(u))
    raise ValueError(kernel)


def energy(kernel, p, n, k):
    if kernel == "learned":
        return p["energies"][n, k]
    x, mu = p["x"][n], p["mu"][k]
    if kernel in SEPARABLE:
        return sum(rho(kernel, (x[i] - mu[i]) / p["scale"][k, i]) for i in range(len(x)))
    if kernel == "cosine":
        return 1 - sum(x * mu) / (math.sqrt(sum(x * x)) * math.sqrt(sum(mu * mu)))
    if kernel == "mahalanobis":
        L = np.tril(p["chol"][k])
        e = x - mu
        y = [sum(L[i, j] * e[i] for i in range(len(e))) for j in range(len(e))]
        return sum(v * v for v in y)
    raise ValueError(kernel)


def logits(kernel, p):
    n = (p["energies"] if kernel == "learned" else p["x"]).shape[0]
    k = p["logw"].shape[0]
    return np.array([[p["logw"][j] - energy(kernel, p, i, j) for j in range(k)] for i in range(n)])


def plain(kernel, p):
    """logZ and R straight from the definitions, and the objective sum_n logZ_n."""
    a = logits(kernel, p)
    logZ = np.array([math.log(sum(math.exp(v) for v in row)) for row in a])
    return logZ, np.exp(a - logZ[:, None])


def finite_differences(kernel, p, h=1e-6):
    grads = {}
    for name, value in p.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            if name == "chol" and idx[1] < idx[2]:
                continue                              # the upper triangle is ignored
            old = value[idx]
            value[idx] = old + h
            up = plain(kernel, p)[0].sum()
            value[idx] = old - h
            down = plain(kernel, p)[0].sum()
            value[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads[name] = g
    return grads


def check(label, got, want, tol):
    got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
    err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
    ok = err <= tol
    print(f"  {'ok  ' if ok else 'FAIL'} {label:38s} err {err:.1e}")
    return ok


def main():
    peers = {"numpy": peer_numpy.run}
    try:
        import peer_autograd
        peers["jax"] = peer_autograd.jax_peer()[0]
    except ImportError as e:
        print(f"jax not checked: {e}")
    try:
        import peer_autograd
        peers["torch"] = peer_autograd.torch_peer()[0]
    except ImportError as e:
        print(f"torch not checked: {e}")
    failures = 0
    passes = 0
    kernels = list(SEPARABLE) + ["cosine", "mahalanobis", "learned"]
    for kernel in kernels:
        for dtype in ("float64", "float32"):
            w = Workload(f"{kernel}", kernel, 7, 0 if kernel == "learned" else 3, 4, dtype).make(3)
            a = w.arrays
            p64 = {k: v.astype(np.float64) for k, v in a.items()}
            logZ, R = plain(kernel, p64)
            fd = finite_differences(kernel, p64)
            tol = 1e-6 if dtype == "float64" else 2e-4
            for name, run in peers.items():
                out = run(w, a)
                results = [check(f"{kernel} {dtype} {name} logZ", out["logZ"], logZ, tol),
                           check(f"{kernel} {dtype} {name} resp", out["resp"], R, tol)]
                for g in fd:
                    results.append(check(f"{kernel} {dtype} {name} d/d{g}", out[g], fd[g], 10 * tol))
                passes += sum(results)
                failures += len(results) - sum(results)
    # scikit-learn's E-step: a normalised Gaussian mixture, diagonal and full
    try:
        import peer_sklearn
        run, _, _ = peer_sklearn.sklearn_peer()
        for cov, kernel in (("diag", "gaussian"), ("full", "mahalanobis")):
            w = Workload(kernel, kernel, 7, 3, 4, "float64", sklearn=cov).make(4)
            a = w.arrays
            if kernel == "gaussian":
                c = np.log(a["scale"]).sum(1) + 1.5 * math.log(2 * math.pi)
                e = logits(kernel, a)
                lw = a["logw"] - np.log(np.exp(a["logw"]).sum())
                full = e - a["logw"] + lw - c
            else:
                L = np.tril(a["chol"])
                c = 1.5 * math.log(2 * math.pi) - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
                lw = a["logw"] - np.log(np.exp(a["logw"]).sum())
                full = lw - 0.5 * (a["logw"] - logits(kernel, a)) - c
            logZ = np.log(np.exp(full).sum(1))
            out = run(w, a)
            results = [check(f"sklearn {cov} logZ", out["logZ"], logZ, 1e-9),
                       check(f"sklearn {cov} resp", out["resp"], np.exp(full - logZ[:, None]), 1e-9)]
            passes += sum(results)
            failures += len(results) - sum(results)
    except ImportError as e:
        print(f"sklearn not checked: {e}")
    print(f"{passes} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
