"""scikit-learn's GaussianMixture E-step (forward only: per-sample log-likelihood and
responsibilities) with the parameters set from the workload. It is a normalised Gaussian
mixture, so it is checked against the library's normalised forward (tau = 1 for the
diagonal Gaussian, tau = 2 for mahalanobis, whose energy has no 1/2)."""

import numpy as np


def sklearn_peer():
    import sklearn
    from sklearn.mixture import GaussianMixture

    def model(w, a):
        k = w.k
        gm = GaussianMixture(n_components=k, covariance_type=w.sklearn)
        gm.weights_ = np.exp(a["logw"].astype(np.float64))
        gm.weights_ /= gm.weights_.sum()
        gm.means_ = a["mu"]
        if w.sklearn == "diag":
            gm.precisions_cholesky_ = 1 / a["scale"]
            gm.covariances_ = a["scale"] ** 2
        else:
            # sklearn only needs some factor with P = F F^T and y = (x - mu) F: L itself works,
            # and its log-determinant reads the diagonal.
            L = np.tril(a["chol"])
            gm.precisions_cholesky_ = L
            gm.precisions_ = L @ np.transpose(L, (0, 2, 1))
        return gm

    cache = {}

    def run(w, a):
        key = id(a["x"])
        if key not in cache:
            cache.clear()
            cache[key] = model(w, a)
        gm = cache[key]
        log_prob_norm, log_resp = gm._estimate_log_prob_resp(a["x"])
        return {"logZ": log_prob_norm, "resp": np.exp(log_resp)}

    def reference_options(w):
        """The library options that make the same normalised mixture."""
        return {"normalized": True, "tau": 2.0 if w.kernel == "mahalanobis" else 1.0,
                "logw": np.log(np.exp(w.arrays["logw"].astype(np.float64))
                               / np.exp(w.arrays["logw"].astype(np.float64)).sum()).astype(w.dtype)}

    info = {"version": sklearn.__version__, "threads": "NumPy BLAS"}
    return run, reference_options, info
