"""NumPy, written as a careful user would: row blocks that keep temporaries in cache-sized
pieces, and the |x|^2 - 2 x mu^T + |mu|^2 matrix-product trick where it applies
(gaussian, cosine, mahalanobis). Forward + backward of sum_n logZ_n at tau = 1."""

import numpy as np

from workloads import DELTA, NU

BLOCK_ELEMENTS = 1 << 19     # about 4 MiB of float64 per B x K x D temporary


def _lse(a):
    """logZ and R of logits a (B x K)."""
    m = a.max(axis=1, keepdims=True)
    e = np.exp(a - m)
    s = e.sum(axis=1, keepdims=True)
    return (m + np.log(s))[:, 0], e / s


def _rho(kernel, u):
    """rho(u) and rho'(u)."""
    if kernel == "laplace":
        return np.abs(u), np.sign(u)
    if kernel == "logistic":
        e = np.exp(-np.abs(u))
        rho = np.maximum(-u, 0) + np.log1p(e)
        return rho, np.where(u >= 0, -e, -1.0) / (1 + e)
    if kernel == "student_t":
        u2 = u * u
        return np.log1p(u2 / NU), 2 * u / (NU + u2)
    if kernel == "huber":
        a = np.abs(u)
        return np.where(a <= DELTA, 0.5 * u * u, DELTA * (a - 0.5 * DELTA)), np.clip(u, -DELTA, DELTA)
    if kernel == "pseudo_huber":
        q = np.sqrt(1 + (u / DELTA) ** 2)
        return DELTA * DELTA * (q - 1), u / q
    if kernel == "exponential":
        e = np.exp(np.abs(u))
        return e, np.sign(u) * e
    raise ValueError(kernel)


def _block_rows(k, d):
    return max(64, BLOCK_ELEMENTS // max(1, k * d))


def separable(kernel, x, mu, scale, logw):
    n, d = x.shape
    k = mu.shape[0]
    t = x.dtype
    inv_s = (1 / scale).astype(t)
    logZ = np.empty(n, t)
    R = np.empty((n, k), t)
    gx = np.empty_like(x)
    gmu = np.zeros_like(mu)
    gs = np.zeros_like(scale)
    glogw = np.zeros_like(logw)
    if kernel == "gaussian":
        w = inv_s * inv_s                       # 1/s^2
        muw = mu * w
        c = 0.5 * (mu * muw).sum(axis=1)
        block = 8192
    else:
        block = _block_rows(k, d)
    for lo in range(0, n, block):
        xb = x[lo:lo + block]
        if kernel == "gaussian":
            d_nk = 0.5 * ((xb * xb) @ w.T) - xb @ muw.T + c
        else:
            u = (xb[:, None, :] - mu[None]) * inv_s[None]
            rho, drho = _rho(kernel, u)
            d_nk = rho.sum(axis=2)
        lz, r = _lse(logw - d_nk)
        logZ[lo:lo + block] = lz
        R[lo:lo + block] = r
        glogw += r.sum(axis=0)
        g = -r                                   # d objective / d d_nk
        if kernel == "gaussian":
            gsum = g.sum(axis=0)[:, None]
            gtx = g.T @ xb
            gx[lo:lo + block] = xb * (g @ w) - g @ muw
            gmu -= w * (gtx - mu * gsum)
            gs -= (w * inv_s) * (g.T @ (xb * xb) - 2 * mu * gtx + mu * mu * gsum)
        else:
            p = g[:, :, None] * (drho * inv_s[None])          # d obj / d x per component
            gx[lo:lo + block] = p.sum(axis=1)
            gmu -= p.sum(axis=0)
            gs -= (p * u).sum(axis=0)
    return {"logZ": logZ, "resp": R, "x": gx, "mu": gmu, "scale": gs, "logw": glogw}


def cosine(x, mu, logw):
    n, d = x.shape
    k = mu.shape[0]
    t = x.dtype
    xn = np.linalg.norm(x, axis=1)
    mn = np.linalg.norm(mu, axis=1)
    inv_xn = np.where(xn > 0, 1 / np.where(xn > 0, xn, 1), 0).astype(t)
    inv_mn = np.where(mn > 0, 1 / np.where(mn > 0, mn, 1), 0).astype(t)
    muh = mu * inv_mn[:, None]                   # unit centres
    logZ = np.empty(n, t)
    R = np.empty((n, k), t)
    gx = np.empty_like(x)
    gmuh = np.zeros_like(mu)                     # gradient through the unit centres
    glogw = np.zeros_like(logw)
    block = 2048
    for lo in range(0, n, block):
        xb = x[lo:lo + block]
        ib = inv_xn[lo:lo + block, None]
        c = (xb @ muh.T) * ib
        lz, r = _lse(logw - (1 - c))
        logZ[lo:lo + block] = lz
        R[lo:lo + block] = r
        glogw += r.sum(axis=0)
        gc = r                                  # d obj / d c = -d obj / d d = r
        # dc/dx = muh/|x| - c x/|x|^2
        gx[lo:lo + block] = (gc @ muh) * ib - ((gc * c).sum(axis=1, keepdims=True) * ib * ib) * xb
        gmuh += (gc * ib).T @ xb
    # back through muh = mu/|mu|: d/dmu = (g - (g.muh) muh)/|mu|
    gmu = (gmuh - (gmuh * muh).sum(axis=1, keepdims=True) * muh) * inv_mn[:, None]
    return {"logZ": logZ, "resp": R, "x": gx, "mu": gmu, "logw": glogw}


def mahalanobis(x, mu, chol, logw):
    n, d = x.shape
    k = mu.shape[0]
    t = x.dtype
    L = np.tril(chol)
    logZ = np.empty(n, t)
    R = np.empty((n, k), t)
    gx = np.empty_like(x)
    gmu = np.zeros_like(mu)
    gL = np.zeros_like(L)
    glogw = np.zeros_like(logw)
    block = 4096
    mul = np.einsum("kd,kde->ke", mu, L)         # mu_k^T L_k
    for lo in range(0, n, block):
        xb = x[lo:lo + block]
        b = xb.shape[0]
        y = np.empty((k, b, d), t)
        for j in range(k):
            y[j] = xb @ L[j] - mul[j]            # y = L^T (x - mu)
        d_nk = np.einsum("kbd,kbd->bk", y, y)
        lz, r = _lse(logw - d_nk)
        logZ[lo:lo + block] = lz
        R[lo:lo + block] = r
        glogw += r.sum(axis=0)
        g = -r
        gxb = np.zeros_like(xb)
        for j in range(k):
            v = 2 * g[:, j, None] * y[j]          # d obj / d y
            gxk = v @ L[j].T                      # through y = L^T e
            gxb += gxk
            gmu[j] -= gxk.sum(axis=0)
            gL[j] += (xb - mu[j]).T @ v
        gx[lo:lo + block] = gxb
    return {"logZ": logZ, "resp": R, "x": gx, "mu": gmu, "chol": np.tril(gL), "logw": glogw}


def learned(energies, logw):
    n, k = energies.shape
    t = energies.dtype
    logZ = np.empty(n, t)
    R = np.empty((n, k), t)
    glogw = np.zeros_like(logw)
    block = 16384
    for lo in range(0, n, block):
        lz, r = _lse(logw - energies[lo:lo + block])
        logZ[lo:lo + block] = lz
        R[lo:lo + block] = r
        glogw += r.sum(axis=0)
    return {"logZ": logZ, "resp": R, "energies": -R, "logw": glogw}


def run(w, a):
    if w.kernel == "cosine":
        return cosine(a["x"], a["mu"], a["logw"])
    if w.kernel == "mahalanobis":
        return mahalanobis(a["x"], a["mu"], a["chol"], a["logw"])
    if w.kernel == "learned":
        return learned(a["energies"], a["logw"])
    return separable(w.kernel, a["x"], a["mu"], a["scale"], a["logw"])
