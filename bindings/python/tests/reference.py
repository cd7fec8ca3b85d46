"""An independent plain NumPy/SciPy evaluation of docs/KERNELS.md, for the tests.

It does not import implicitem: every energy, normaliser and gradient is written out here
from the formulas of KERNELS.md, in float64, with N×K×D temporaries (fine at test sizes).
Normalisers use scipy.special (beta, erf, k1e, exp1, ive); their derivatives are closed forms.
"""

from __future__ import annotations

import numpy as np
from scipy import special

SEPARABLE = ("gaussian", "laplace", "logistic", "student_t", "huber", "pseudo_huber",
             "exponential")
KERNELS = SEPARABLE + ("cosine", "mahalanobis", "learned")
#: Kernels whose normalisation is defined (student_t only for tau < 2).
NORMALIZABLE = ("gaussian", "laplace", "student_t", "huber", "pseudo_huber", "exponential",
                "cosine", "mahalanobis")


# ------------------------------------------------------------------------- separable ρ

def rho(kernel, u, nu=None, delta=None):
    """ρ(u), ρ′(u) and ∂ρ/∂shape (ν for student_t, δ for huber/pseudo_huber, else 0)."""
    u = np.asarray(u, dtype=np.float64)
    zero = np.zeros_like(u)
    if kernel == "gaussian":
        return u * u / 2, u, zero
    if kernel == "laplace":
        return np.abs(u), np.sign(u), zero
    if kernel == "logistic":
        value = np.maximum(-u, 0) + np.log1p(np.exp(-np.abs(u)))
        return value, -special.expit(-u), zero
    if kernel == "student_t":
        return np.log1p(u * u / nu), 2 * u / (nu + u * u), -u * u / (nu * (nu + u * u))
    if kernel == "huber":
        inside = np.abs(u) <= delta
        value = np.where(inside, u * u / 2, delta * (np.abs(u) - delta / 2))
        return value, np.clip(u, -delta, delta), np.where(inside, 0.0, np.abs(u) - delta)
    if kernel == "pseudo_huber":
        q = np.sqrt(1 + (u / delta) ** 2)
        return delta ** 2 * (q - 1), u / q, 2 * delta * (q - 1) - u * u / (delta * q)
    if kernel == "exponential":
        with np.errstate(over="ignore"):  # e^|u| is +inf far out, as in the library
            e = np.exp(np.abs(u))
        return e, np.sign(u) * e, zero
    raise ValueError(kernel)


def log_z_rho(kernel, tau, nu=None, delta=None):
    """log Z_ρ(τ, shape) = log ∫ exp(−ρ(u)/τ) du and its derivatives (d/dτ, d/dν, d/dδ)."""
    if kernel == "gaussian":
        return 0.5 * np.log(2 * np.pi * tau), 1 / (2 * tau), 0.0, 0.0
    if kernel == "laplace":
        return np.log(2 * tau), 1 / tau, 0.0, 0.0
    if kernel == "student_t":
        b = 1 / tau - 0.5
        if b <= 0:
            raise ValueError("student_t is not normalisable for tau >= 2")
        value = 0.5 * np.log(nu) + np.log(special.beta(0.5, b))
        # d log B(a, b)/db = ψ(b) − ψ(a + b); db/dτ = −1/τ².
        d_tau = -(special.digamma(b) - special.digamma(0.5 + b)) / tau ** 2
        return value, d_tau, 1 / (2 * nu), 0.0
    if kernel == "huber":
        tail = np.exp(-delta ** 2 / (2 * tau))
        z = np.sqrt(2 * np.pi * tau) * special.erf(delta / np.sqrt(2 * tau)) + 2 * tau / delta * tail
        dz_dtau = np.sqrt(np.pi / (2 * tau)) * special.erf(delta / np.sqrt(2 * tau)) + 2 / delta * tail
        dz_ddelta = -2 * tau / delta ** 2 * tail
        return np.log(z), dz_dtau / z, 0.0, dz_ddelta / z
    if kernel == "pseudo_huber":
        beta = delta ** 2 / tau
        value = np.log(2 * delta) + np.log(special.k1e(beta))  # e^β K₁(β) = k1e(β)
        # d/dβ log(e^β K₁(β)) = 1 + K₁′/K₁, with K₁′ = −K₀ − K₁/β.
        g = 1 - special.k0e(beta) / special.k1e(beta) - 1 / beta
        return value, g * (-beta / tau), 0.0, 1 / delta + g * 2 * delta / tau
    if kernel == "exponential":
        e1 = special.exp1(1 / tau)
        # d/dτ E₁(1/τ) = (−e^{−1/τ} τ)(−1/τ²) = e^{−1/τ}/τ.
        return np.log(2 * e1), np.exp(-1 / tau) / (tau * e1), 0.0, 0.0
    raise ValueError(f"{kernel} has no log Z_rho")


def vmf_log_normalizer(d, tau):
    """The cosine kernel's c (von Mises–Fisher on S^(D−1), κ = 1/τ) and dc/dτ."""
    kappa, order = 1 / tau, d / 2 - 1
    # log I_ν(κ) − κ = log ive(ν, κ).
    value = d / 2 * np.log(2 * np.pi) + np.log(special.ive(order, kappa)) - order * np.log(kappa)
    # dc/dκ = I_ν′/I_ν − 1 − ν/κ with I_ν′ = I_{ν+1} + (ν/κ) I_ν.
    dc_dkappa = special.ive(order + 1, kappa) / special.ive(order, kappa) - 1
    return value, -dc_dkappa / tau ** 2


# ---------------------------------------------------------------------------- the model

def full_scale(scale, k, d):
    """The (K, D) scale a shared / per-component / per-dimension scale stands for."""
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim == 0:
        return np.full((k, d), float(s))
    if s.ndim == 1:
        return np.repeat(s[:, None], d, axis=1)
    return s.copy()


def reduce_scale(grad_full, scale):
    """Sum a (K, D) scale gradient over what the given scale shares."""
    s = np.asarray(scale)
    if s.ndim == 0:
        return float(grad_full.sum())
    if s.ndim == 1:
        return grad_full.sum(axis=1)
    return grad_full


def energies_and_partials(x, mu, kernel, scale=1.0, nu=None, delta=None, chol=None):
    """d (N, K) and its partial derivatives with respect to every kernel parameter."""
    x = np.asarray(x, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    n, d = x.shape
    k = mu.shape[0]
    out = {}
    if kernel in SEPARABLE:
        s = full_scale(scale, k, d)
        u = (x[:, None, :] - mu[None, :, :]) / s[None]
        value, slope, d_shape = rho(kernel, u, nu, delta)
        out["d"] = value.sum(axis=2)
        out["dx"] = slope / s[None]                 # ∂d_nk/∂x_ni
        out["dmu"] = -slope / s[None]               # ∂d_nk/∂mu_ki
        out["ds"] = -slope * u / s[None]            # ∂d_nk/∂s_ki
        out["dshape"] = d_shape.sum(axis=2)         # ∂d_nk/∂ν or ∂d_nk/∂δ
    elif kernel == "cosine":
        nx = np.linalg.norm(x, axis=1)
        nm = np.linalg.norm(mu, axis=1)
        both = (nx[:, None] > 0) & (nm[None, :] > 0)
        denominator = np.where(both, nx[:, None] * nm[None, :], 1.0)
        c = np.where(both, x @ mu.T / denominator, 0.0)
        safe_nx = np.where(nx > 0, nx, 1.0)
        safe_nm = np.where(nm > 0, nm, 1.0)
        dc_dx = mu[None] / denominator[:, :, None] - c[:, :, None] * x[:, None, :] / safe_nx[:, None, None] ** 2
        dc_dmu = x[:, None, :] / denominator[:, :, None] - c[:, :, None] * mu[None] / safe_nm[None, :, None] ** 2
        out["d"] = 1 - c
        out["dx"] = np.where(both[:, :, None], -dc_dx, 0.0)
        out["dmu"] = np.where(both[:, :, None], -dc_dmu, 0.0)
    elif kernel == "mahalanobis":
        lower = np.tril(np.asarray(chol, dtype=np.float64))
        e = x[:, None, :] - mu[None]                        # (N, K, D)
        y = np.einsum("kij,nki->nkj", lower, e)             # y = Lᵀ e
        out["d"] = (y * y).sum(axis=2)
        ly = np.einsum("kij,nkj->nki", lower, y)            # L y
        out["dx"] = 2 * ly
        out["dmu"] = -2 * ly
        out["dchol"] = np.tril(2 * e[:, :, :, None] * y[:, :, None, :])  # 2 e yᵀ, lower
    else:
        raise ValueError(kernel)
    return out


def log_normalizers(kernel, k, d, scale=1.0, nu=None, delta=None, chol=None, tau=1.0):
    """c (K,) and its partials: dtau (K,), dnu, ddelta (K,), ds (K, D), dchol (K, D, D)."""
    zeros = np.zeros(k)
    out = {"dnu": zeros, "ddelta": zeros}
    if kernel in SEPARABLE:
        s = full_scale(scale, k, d)
        value, d_tau, d_nu, d_delta = log_z_rho(kernel, tau, nu, delta)
        out["c"] = np.log(s).sum(axis=1) + d * value
        out["dtau"] = np.full(k, d * d_tau)
        out["dnu"] = np.full(k, d * d_nu)
        out["ddelta"] = np.full(k, d * d_delta)
        out["ds"] = 1 / s
    elif kernel == "cosine":
        value, d_tau = vmf_log_normalizer(d, tau)
        out["c"] = np.full(k, value)
        out["dtau"] = np.full(k, d_tau)
    elif kernel == "mahalanobis":
        lower = np.asarray(chol, dtype=np.float64)
        diagonal = np.diagonal(lower, axis1=1, axis2=2)
        out["c"] = d / 2 * np.log(np.pi * tau) - np.log(diagonal).sum(axis=1)
        out["dtau"] = np.full(k, d / (2 * tau))
        out["dchol"] = np.zeros((k, d, d))
        out["dchol"][:, np.arange(d), np.arange(d)] = -1 / diagonal
    else:
        raise ValueError(f"{kernel} is not normalisable")
    return out


def log_sum_exp_rows(a):
    """L_n and r_nk, with L = −∞ and a zero row where every logit is −∞."""
    top = np.max(a, axis=1)
    masked = np.isneginf(top)
    shift = np.where(masked, 0.0, top)
    with np.errstate(invalid="ignore"):
        p = np.exp(a - shift[:, None])
    p[masked] = 0.0
    total = p.sum(axis=1)
    log_z = np.where(masked, -np.inf, shift + np.log(np.where(masked, 1.0, total)))
    resp = np.where(masked[:, None], 0.0, p / np.where(masked, 1.0, total)[:, None])
    return log_z, resp


def compute(x=None, mu=None, kernel="gaussian", scale=1.0, nu=None, delta=None, chol=None,
            logw=None, tau=1.0, normalized=False, energies=None, logprior=None, gL=None, gR=None):
    """Forward outputs and every gradient of Σ gL·logZ + Σ gR·R, as a dict named like
    implicitem.GradientResult (scale's gradient shaped like `scale`; nu/delta/tau floats)."""
    f64 = (lambda a: None if a is None else np.asarray(a, dtype=np.float64))
    x, mu, chol, logw, energies, logprior, gL, gR = map(
        f64, (x, mu, chol, logw, energies, logprior, gL, gR))
    if kernel == "learned":
        if normalized:
            raise ValueError("learned is not normalisable")
        d_nk = energies
        partials = {}
    else:
        partials = energies_and_partials(x, mu, kernel, scale, nu, delta, chol)
        d_nk = partials["d"]
    n, k = d_nk.shape
    dim = x.shape[1] if x is not None else 1
    if normalized:
        norm = log_normalizers(kernel, k, dim, scale, nu, delta, chol, tau)
    else:
        norm = {"c": np.zeros(k), "dtau": np.zeros(k), "dnu": np.zeros(k),
                "ddelta": np.zeros(k), "ds": np.zeros((k, dim)), "dchol": np.zeros((k, dim, dim))}
    logits = -d_nk / tau - norm["c"][None]
    if logw is not None:
        logits = logits + logw[None]
    if logprior is not None:
        logits = logits + logprior
    log_z, resp = log_sum_exp_rows(logits)

    g_l = np.ones(n) if gL is None else gL
    g_r = np.zeros((n, k)) if gR is None else gR
    delta_nk = g_l[:, None] * resp + resp * (g_r - (resp * g_r).sum(axis=1, keepdims=True))
    d_energy = -delta_nk / tau
    column = delta_nk.sum(axis=0)                   # Σ_n δ_nk
    out = {"energies": d_nk, "logZ": log_z, "resp": resp, "c": norm["c"],
           "energies_grad": d_energy, "logw": column,
           "logprior": delta_nk if logprior is not None else None,
           "tau": float((delta_nk * (d_nk / tau ** 2 - norm["dtau"][None])).sum()),
           "x": None, "mu": None, "scale": None, "nu": None, "delta": None, "chol": None}
    if kernel != "learned":
        out["x"] = (d_energy[:, :, None] * partials["dx"]).sum(axis=1)
        out["mu"] = (d_energy[:, :, None] * partials["dmu"]).sum(axis=0)
    if kernel in SEPARABLE:
        grad_s = (d_energy[:, :, None] * partials["ds"]).sum(axis=0) - column[:, None] * norm["ds"]
        out["scale"] = reduce_scale(grad_s, scale)
        shape_grad = float((d_energy * partials["dshape"]).sum())
        if kernel == "student_t":
            out["nu"] = shape_grad - float((column * norm["dnu"]).sum())
        if kernel in ("huber", "pseudo_huber"):
            out["delta"] = shape_grad - float((column * norm["ddelta"]).sum())
    if kernel == "mahalanobis":
        out["chol"] = ((d_energy[:, :, None, None] * partials["dchol"]).sum(axis=0)
                       - column[:, None, None] * norm["dchol"])
    return out


def objective(result, gL=None, gR=None):
    """Σ_n gL_n·logZ_n + Σ_nk gR_nk·r_nk (rows with logZ = −∞ contribute nothing)."""
    log_z = np.asarray(result["logZ"] if isinstance(result, dict) else result.logZ, dtype=np.float64)
    resp = np.asarray(result["resp"] if isinstance(result, dict) else result.resp, dtype=np.float64)
    g_l = np.ones(log_z.shape) if gL is None else np.asarray(gL, dtype=np.float64)
    finite = np.isfinite(log_z)
    total = float((g_l[finite] * log_z[finite]).sum())
    if gR is not None:
        total += float((np.asarray(gR, dtype=np.float64) * resp).sum())
    return total


def activation(z, kernel, m=1.0, scale=1.0, nu=None, delta=None, tau=1.0):
    """act(z) = tanh((d(z; −m) − d(z; +m))/(2τ)) and its derivative, with sech² = 1/cosh²."""
    z = np.asarray(z, dtype=np.float64)
    up, up_slope, _ = rho(kernel, (z + m) / scale, nu, delta)       # d(z; −m)
    down, down_slope, _ = rho(kernel, (z - m) / scale, nu, delta)   # d(z; +m)
    t = (up - down) / (2 * tau)
    t_prime = (up_slope - down_slope) / (2 * scale * tau)
    with np.errstate(over="ignore"):
        sech2 = 1 / np.cosh(t) ** 2
    return np.tanh(t), sech2 * t_prime


def stats(resp, x, weights=None):
    """Σ_n w r, Σ_n w r x, Σ_n w r x xᵀ."""
    resp = np.asarray(resp, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    wr = w[:, None] * resp
    return wr.sum(axis=0), wr.T @ x, np.einsum("nk,ni,nj->kij", wr, x, x)
