"""The autograd peers: the same objective (sum_n logZ_n, tau = 1) written plainly, with the
gradients from jax.jit(jax.value_and_grad) and from PyTorch's backward, both on the CPU.
The matrix-product trick is used where it applies (gaussian, cosine, mahalanobis)."""

import numpy as np

from workloads import DELTA, NU

# ------------------------------------------------------------------------------------- JAX


def jax_peer():
    """A function (workload, arrays) -> outputs, compiled once per workload shape."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def rho(kernel, u):
        if kernel == "laplace":
            return jnp.abs(u)
        if kernel == "logistic":
            return jnp.maximum(-u, 0) + jnp.log1p(jnp.exp(-jnp.abs(u)))
        if kernel == "student_t":
            return jnp.log1p(u * u / NU)
        if kernel == "huber":
            a = jnp.abs(u)
            return jnp.where(a <= DELTA, 0.5 * u * u, DELTA * (a - 0.5 * DELTA))
        if kernel == "pseudo_huber":
            return DELTA * DELTA * (jnp.sqrt(1 + (u / DELTA) ** 2) - 1)
        if kernel == "exponential":
            return jnp.exp(jnp.abs(u))
        raise ValueError(kernel)

    def energies(kernel, p, x):
        if kernel == "gaussian":
            w = 1 / (p["scale"] * p["scale"])
            return 0.5 * ((x * x) @ w.T) - x @ (p["mu"] * w).T + 0.5 * (p["mu"] ** 2 * w).sum(1)
        if kernel == "cosine":
            xh = x / jnp.linalg.norm(x, axis=1, keepdims=True)
            muh = p["mu"] / jnp.linalg.norm(p["mu"], axis=1, keepdims=True)
            return 1 - xh @ muh.T
        if kernel == "mahalanobis":
            L = jnp.tril(p["chol"])
            y = jnp.einsum("nd,kde->nke", x, L) - jnp.einsum("kd,kde->ke", p["mu"], L)[None]
            return (y * y).sum(2)
        u = (x[:, None, :] - p["mu"][None]) / p["scale"][None]
        return rho(kernel, u).sum(2)

    def objective(kernel):
        def f(p, x):
            e = p["energies"] if kernel == "learned" else energies(kernel, p, x)
            a = p["logw"] - e
            lz = jax.nn.logsumexp(a, axis=1)
            return lz.sum(), (lz, jnp.exp(a - lz[:, None]))
        return f

    cache = {}

    def run(w, a):
        key = (w.kernel, w.n, w.dtype)
        if key not in cache:
            cache[key] = jax.jit(jax.value_and_grad(objective(w.kernel), argnums=(0, 1), has_aux=True))
        p = {name: jnp.asarray(v) for name, v in a.items() if name != "x"}
        x = jnp.asarray(a["x"]) if "x" in a else jnp.zeros((), w.dtype)
        (_, (lz, r)), (gp, gx) = cache[key](p, x)
        out = {"logZ": lz, "resp": r, **gp}
        if "x" in a:
            out["x"] = gx
        out = {name: np.asarray(jax.block_until_ready(v)) for name, v in out.items()}
        if "chol" in out:
            out["chol"] = np.tril(out["chol"])
        return out

    info = {"version": jax.__version__, "threads": "XLA CPU pool (all cores)"}
    return run, info


# --------------------------------------------------------------------------------- PyTorch


def torch_peer():
    import torch

    def rho(kernel, u):
        if kernel == "laplace":
            return u.abs()
        if kernel == "logistic":
            return torch.clamp(-u, min=0) + torch.log1p(torch.exp(-u.abs()))
        if kernel == "student_t":
            return torch.log1p(u * u / NU)
        if kernel == "huber":
            a = u.abs()
            return torch.where(a <= DELTA, 0.5 * u * u, DELTA * (a - 0.5 * DELTA))
        if kernel == "pseudo_huber":
            return DELTA * DELTA * (torch.sqrt(1 + (u / DELTA) ** 2) - 1)
        if kernel == "exponential":
            return torch.exp(u.abs())
        raise ValueError(kernel)

    def energies(kernel, p, x):
        if kernel == "gaussian":
            w = 1 / (p["scale"] * p["scale"])
            return 0.5 * ((x * x) @ w.T) - x @ (p["mu"] * w).T + 0.5 * (p["mu"] ** 2 * w).sum(1)
        if kernel == "cosine":
            xh = x / torch.linalg.norm(x, dim=1, keepdim=True)
            muh = p["mu"] / torch.linalg.norm(p["mu"], dim=1, keepdim=True)
            return 1 - xh @ muh.T
        if kernel == "mahalanobis":
            L = torch.tril(p["chol"])
            y = torch.einsum("nd,kde->nke", x, L) - torch.einsum("kd,kde->ke", p["mu"], L)[None]
            return (y * y).sum(2)
        u = (x[:, None, :] - p["mu"][None]) / p["scale"][None]
        return rho(kernel, u).sum(2)

    def run(w, a):
        """Row blocks of about 32 MiB of B x K x D temporaries, one backward per block;
        parameter gradients accumulate in .grad as a user's training loop would."""
        p = {name: torch.from_numpy(v).requires_grad_() for name, v in a.items() if name != "x"}
        n = w.n
        kd = max(1, w.k * max(w.d, 1))
        block = n if w.kernel in ("gaussian", "cosine", "learned") else max(1024, (1 << 22) // kd)
        t = getattr(torch, w.dtype)
        logZ = torch.empty(n, dtype=t)
        R = torch.empty((n, w.k), dtype=t)
        gx = torch.empty((n, w.d), dtype=t) if "x" in a else None
        xs = torch.from_numpy(a["x"]) if "x" in a else None
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            if w.kernel == "learned":
                e = p["energies"][lo:hi]
                xb = None
            else:
                xb = xs[lo:hi].clone().requires_grad_()
                e = energies(w.kernel, p, xb)
            a_nk = p["logw"] - e
            lz = torch.logsumexp(a_nk, dim=1)
            lz.sum().backward()
            with torch.no_grad():
                logZ[lo:hi] = lz
                R[lo:hi] = torch.exp(a_nk - lz[:, None])
                if xb is not None:
                    gx[lo:hi] = xb.grad
        out = {"logZ": logZ.numpy(), "resp": R.numpy()}
        out.update({name: v.grad.numpy() for name, v in p.items()})
        if gx is not None:
            out["x"] = gx.numpy()
        if "chol" in out:
            out["chol"] = np.tril(out["chol"])
        return out

    info = {"version": torch.__version__, "threads": torch.get_num_threads()}
    return run, info
