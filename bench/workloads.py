"""The benchmark's workloads: sizes, seeded inputs, and the work each one needs (for the floor).

Every workload is forward + backward of objective = sum_n logZ_n (gL = 1, gR = 0) at tau = 1,
unnormalised, outputs logZ, R and the gradients for x, mu, scale (chol for mahalanobis) and
logw; the learned kernel gives energies and wants d objective / d E.
"""

from dataclasses import dataclass, field

import numpy as np

SEPARABLE = ("gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber", "exponential")
NU = 3.0      # student_t shape
DELTA = 1.0   # huber / pseudo_huber shape


@dataclass
class Workload:
    name: str
    kernel: str
    n: int
    d: int
    k: int
    dtype: str                      # "float64" or "float32"
    sklearn: str | None = None      # GaussianMixture covariance_type for the E-step peer
    arrays: dict = field(default_factory=dict, repr=False)

    @property
    def np_dtype(self):
        return np.dtype(self.dtype)

    def make(self, seed=0):
        """Seeded inputs: x ~ N(0, 1), centres spread like the data, scales in [0.5, 2]."""
        rng = np.random.default_rng(seed)
        t = self.np_dtype
        n, d, k = self.n, self.d, self.k
        a = {}
        if self.kernel == "learned":
            a["energies"] = rng.gamma(2.0, 2.0, size=(n, k)).astype(t)
        else:
            a["x"] = rng.standard_normal((n, d)).astype(t)
            a["mu"] = rng.standard_normal((k, d)).astype(t)
        if self.kernel in SEPARABLE:
            a["scale"] = rng.uniform(0.5, 2.0, size=(k, d)).astype(t)
        if self.kernel == "mahalanobis":
            chol = np.tril(rng.standard_normal((k, d, d))) * 0.2
            idx = np.arange(d)
            chol[:, idx, idx] = rng.uniform(0.6, 1.4, size=(k, d))
            a["chol"] = chol.astype(t)
        a["logw"] = np.log(rng.dirichlet(np.full(k, 4.0))).astype(t)
        self.arrays = a
        return self


def w1(n=200_000, kernels=SEPARABLE, dtype="float64", tag="W1"):
    return [Workload(f"{tag} {kern}", kern, n, 16, 32, dtype,
                     sklearn="diag" if kern == "gaussian" else None) for kern in kernels]


def all_workloads(quick=False):
    """The table's workloads; quick shrinks N so the whole run takes about a minute."""
    s = 50 if quick else 1
    out = []
    out += w1(200_000 // s)
    out += w1(200_000 // s, ("gaussian", "laplace", "student_t"), "float32", "W1f")
    out.append(Workload("W2 cosine", "cosine", 8192 // (4 if quick else 1), 128, 1024, "float32"))
    out.append(Workload("W3 mahalanobis", "mahalanobis", 50_000 // s, 16, 16, "float64", sklearn="full"))
    out.append(Workload("W4 learned", "learned", 200_000 // s, 0, 64, "float64"))
    return out


# ----------------------------------------------------------------- the work (bench/README.md)

# Separable kernels, per (n, k, i) element, forward + backward: FLOPs (an FMA is 2) and the
# calls to functions whose cost is measured separately.
SEPARABLE_WORK = {
    "gaussian":     (12, {}),
    "laplace":      (11, {}),
    "huber":        (16, {}),
    "pseudo_huber": (13, {"sqrt": 1, "div": 1}),
    "logistic":     (14, {"exp": 1, "log1p": 1, "div": 1}),
    "student_t":    (13, {"log1p": 1, "div": 1}),
    "exponential":  (11, {"exp": 1}),
}
# Log-sum-exp, responsibilities and the logw gradient, per (n, k) pair and per row.
PAIR_WORK = (6, {"exp": 1})
ROW_WORK = (2, {"log": 1, "div": 1})


def work(w: Workload):
    """(flops, {function: calls}, bytes) that forward + backward of w cannot avoid."""
    n, d, k = w.n, w.d, w.k
    b = w.np_dtype.itemsize
    calls = {}

    def add(count, per):
        for name, c in per.items():
            calls[name] = calls.get(name, 0) + count * c

    if w.kernel in SEPARABLE:
        f, per = SEPARABLE_WORK[w.kernel]
        flops = f * n * k * d
        add(n * k * d, per)
        pair_extra = 0
    elif w.kernel == "cosine":
        flops = 6 * n * k * d           # x.mu, and the two gradient products
        pair_extra = 4                  # cosine from the dot, and the gradient coefficients
    elif w.kernel == "mahalanobis":
        flops = n * k * (3 * d * (d + 1) + 6 * d)   # L^T e, L v, e v^T (lower), and the rest
        pair_extra = 0
    else:  # learned
        flops = 0
        pair_extra = 1                  # dE = -r
    flops += n * k * (PAIR_WORK[0] + pair_extra) + n * ROW_WORK[0]
    add(n * k, PAIR_WORK[1])
    add(n, ROW_WORK[1])
    if w.kernel == "learned":
        bytes_ = b * (3 * n * k + n)                  # read E; write R, dE, logZ
    else:
        bytes_ = b * (2 * n * d + n * k + n)          # read x; write grad x, R, logZ
    return flops, calls, bytes_


def floor_seconds(w: Workload, machine: dict, threads: int):
    """max(compute time, memory time) on `threads` threads of this machine."""
    flops, calls, bytes_ = work(w)
    kind = "f32" if w.dtype == "float32" else "f64"
    peak = machine[f"peak_flops_{kind}"] if threads > 1 else machine[f"peak_flops_{kind}_1t"]
    bandwidth = machine["bandwidth"] if threads > 1 else machine["bandwidth_1t"]
    ns = machine["ns_per_element_1t"][kind]
    compute = flops / peak + sum(c * ns[name] for name, c in calls.items()) * 1e-9 / threads
    memory = bytes_ / bandwidth
    return max(compute, memory), {"flops": flops, "calls": calls, "bytes": bytes_,
                                  "compute_s": compute, "memory_s": memory}
