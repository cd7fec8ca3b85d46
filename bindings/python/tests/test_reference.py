"""The reference implementation checked against truths independent of it: numerical
integration for the normalisers, and central differences for its closed-form gradients."""

import numpy as np
import pytest
from scipy import integrate, special

import reference as ref
from cases import PARAMETERS, case_id, central_differences, configurations, make_case, split


@pytest.mark.parametrize("kernel, shape", [("gaussian", {}), ("laplace", {}),
                                           ("student_t", {"nu": 3.0}), ("huber", {"delta": 1.3}),
                                           ("pseudo_huber", {"delta": 0.7}), ("exponential", {})])
@pytest.mark.parametrize("tau", [0.5, 0.9, 1.7])
def test_log_z_rho_matches_quadrature(kernel, shape, tau):
    integrand = lambda u: np.exp(-ref.rho(kernel, u, **shape)[0] / tau)  # noqa: E731
    breaks = [-shape.get("delta", 0.0), 0.0, shape.get("delta", 0.0)]
    total = sum(integrate.quad(integrand, a, b, limit=200, epsabs=0, epsrel=1e-13)[0]
                for a, b in zip([-np.inf] + breaks, breaks + [np.inf]))
    assert ref.log_z_rho(kernel, tau, **shape)[0] == pytest.approx(np.log(total), rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_vmf_normalizer_matches_quadrature(d, tau):
    # ∫ over S^(D-1) of exp(-(1 - cos θ)/τ): the polar angle θ against the sphere's area element.
    area = 2 * np.pi ** ((d - 1) / 2) / special.gamma((d - 1) / 2)
    total = area * integrate.quad(lambda t: np.exp(-(1 - np.cos(t)) / tau) * np.sin(t) ** (d - 2),
                                  0, np.pi, epsabs=0, epsrel=1e-13)[0]
    assert ref.vmf_log_normalizer(d, tau)[0] == pytest.approx(np.log(total), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kernel, scale_shape, normalized", list(configurations()),
                         ids=[case_id(*c) for c in configurations()])
def test_reference_gradients_match_central_differences(kernel, scale_shape, normalized):
    case = make_case(kernel, scale_shape, normalized)
    problem, g_l, g_r = split(case)
    grads = ref.compute(**case)

    def evaluate(changed):
        return ref.objective(ref.compute(**changed), g_l, g_r)

    for name, grad_name in PARAMETERS.items():
        if problem.get(name) is None:
            continue
        numeric = central_differences(evaluate, problem, name)
        expected = np.where(np.isfinite(problem[name]), grads[grad_name], 0.0)
        np.testing.assert_allclose(expected, numeric, rtol=1e-6,
                                   atol=1e-6 * max(1.0, np.max(np.abs(numeric))), err_msg=name)
