"""Central differences (float64) of the objective sum(gL*logZ) + sum(gR*R), computed by the
library's forward pass, against the library's gradients, for every parameter of every
kernel, scale shape and normalisation."""

import numpy as np
import pytest

import implicitem as ie
import reference as ref
from cases import PARAMETERS, case_id, central_differences, configurations, make_case, split

CONFIGS = list(configurations())


@pytest.mark.parametrize("kernel, scale_shape, normalized", CONFIGS,
                         ids=[case_id(*c) for c in CONFIGS])
def test_gradients_match_central_differences(kernel, scale_shape, normalized):
    case = make_case(kernel, scale_shape, normalized, seed=1)
    problem, g_l, g_r = split(case)
    grads = ie.gradients(**case)

    def evaluate(changed):
        return ref.objective(ie.forward(**changed), g_l, g_r)

    for name, grad_name in PARAMETERS.items():
        if problem.get(name) is None:
            continue
        numeric = central_differences(evaluate, problem, name)
        analytic = np.where(np.isfinite(problem[name]), getattr(grads, grad_name), 0.0)
        # Step h = 1e-6 relative: truncation O(h^2 f''') and rounding O(eps f / h) are both
        # far below 1e-6 of the gradient's scale for these order-one problems.
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6,
                                   atol=1e-6 * max(1.0, np.max(np.abs(numeric))), err_msg=name)
