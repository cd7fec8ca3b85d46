#!/usr/bin/env python3
"""Reference values for Tests/ImplicitEMTests/SpecialFunctionsTests.swift and NormalizersTests.swift.

Every value is computed with mpmath at 50 significant digits and, where scipy.special has the
function and its result is finite and normal, checked against scipy (the script stops if they
disagree by more than 1e-13 relative). The printed Swift tables are pasted into the tests.

Run: python3 scripts/reference/special_values.py > /tmp/tables.swift
With --debye it prints instead the Debye polynomial table of Sources/ImplicitEM/SpecialFunctions.swift.
"""
import math
import sys

import mpmath as mp
import numpy as np
import scipy.special as sc

mp.mp.dps = 50
D = mp.mpf


def debye_polynomials(count=15):
    """u_1 … u_count of Debye's expansion of I_ν(νz), exactly: u_{k+1} = ½p²(1 − p²)u_k′ + ⅛∫₀ᵖ(1 − 5t²)u_k(t)dt."""
    from fractions import Fraction as Q

    u = [{0: Q(1)}]  # power of p -> coefficient
    for _ in range(count):
        prev = u[-1]
        nxt = {}
        for e, c in prev.items():
            if e > 0:  # ½p²(1 − p²)·e·c·p^(e−1)
                nxt[e + 1] = nxt.get(e + 1, 0) + Q(1, 2) * e * c
                nxt[e + 3] = nxt.get(e + 3, 0) - Q(1, 2) * e * c
            nxt[e + 1] = nxt.get(e + 1, 0) + c / (8 * (e + 1))  # ⅛∫ t^e
            nxt[e + 3] = nxt.get(e + 3, 0) - 5 * c / (8 * (e + 3))  # ⅛∫ −5t^(e+2)
        u.append({e: c for e, c in nxt.items() if c != 0})
    for k in range(1, count + 1):
        coefficients = [u[k].get(k + 2 * j, 0) for j in range(k + 1)]
        print("    [" + ", ".join(repr(float(c)) for c in coefficients) + "],")


if "--debye" in sys.argv:
    debye_polynomials()
    sys.exit(0)


def fmt(x):
    x = float(x)
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".infinity" if x > 0 else "-.infinity"
    return repr(x)


def check(name, args, ours, theirs, tol=1e-13):
    theirs = float(theirs)
    if not math.isfinite(theirs) or theirs == 0 or abs(theirs) < 1e-300:
        return
    err = abs(float(ours) - theirs) / abs(theirs)
    if err > tol:
        sys.exit(f"scipy disagrees with mpmath for {name}{args}: {float(ours)!r} vs {theirs!r} ({err:.2e})")


def table(name, comment, rows):
    print(f"    /// {comment}")
    print(f"    static let {name}: [[Double]] = [")
    for row in rows:
        print("        [" + ", ".join(fmt(v) for v in row) + "],")
    print("    ]")
    print()


# --- digamma ψ(x), and the gamma differences of the student_t normaliser ----------------------
xs = [1e-300, 1e-6, 0.1, 0.5, 1.0, 1.4616321449683623, 2.5, 7.3, 19.9, 20.0, 20.5, 50.0, 1e3, 1e6, 1e12, 1e200]
rows = []
for x in xs:
    v = mp.digamma(D(x))
    check("digamma", (x,), v, sc.digamma(x))
    rows.append([x, v])
table("digamma", "[x, ψ(x)]", rows)

rows = []
for a in [1e-300, 1e-12, 1e-6, 0.01, 0.25, 0.5, 1.0, 3.7, 19.99, 20.0, 33.3, 1e3, 1e6, 1e10, 1e17, 1e300]:
    with mp.workdps(700):  # the differences cancel ~log10(a) digits
        lg = mp.loggamma(D(a)) - mp.loggamma(D(a) + D(0.5))
        dg = mp.digamma(D(a)) - mp.digamma(D(a) + D(0.5))
    if a < 1e6:
        check("betaln", (0.5, a), lg + mp.log(mp.pi) / 2, sc.betaln(0.5, a), tol=1e-12)
    rows.append([a, lg, dg])
table("gammaHalf", "[a, log Γ(a) − log Γ(a + ½), ψ(a) − ψ(a + ½)]", rows)

# --- scaled exponential integral e^x E₁(x) ------------------------------------------------------
rows = []
for x in [1e-300, 1e-10, 1e-3, 0.3, 0.999, 1.0, 1.001, 2.0, 5.5, 20.0, 100.0, 700.0, 1e4, 1e8, 1e15, 1e16, 1e300]:
    v = mp.e1(D(x)) * mp.exp(D(x))
    check("exp1*exp", (x,), v, sc.exp1(x) * math.exp(x) if x < 700 else float("nan"), tol=5e-15 * max(1, x))
    rows.append([x, v])
table("exponentialIntegralE1Scaled", "[x, e^x E₁(x)]", rows)

# --- scaled K₀, K₁ ---------------------------------------------------------------------------
rows = []
for x in [1e-300, 1e-8, 0.01, 0.5, 1.0, 1.999, 2.0, 2.001, 3.3, 7.0, 12.5, 19.9, 20.0, 50.0, 1e3, 1e8, 1e300]:
    k0 = mp.besselk(0, D(x)) * mp.exp(D(x))
    k1 = mp.besselk(1, D(x)) * mp.exp(D(x))
    check("kve", (0, x), k0, sc.kve(0, x), tol=3e-15)
    check("kve", (1, x), k1, sc.kve(1, x), tol=3e-15)
    with mp.workdps(700):  # 1 − K₀/K₁ ≈ 1/(2x) cancels ~log10(x) digits
        complement = 1 - mp.besselk(0, D(x)) / mp.besselk(1, D(x)) if x > 2 else 0
    rows.append([x, k0, k1, complement])
table("besselKScaled", "[x, e^x K₀(x), e^x K₁(x), 1 − K₀/K₁ (x > 2, else 0)]", rows)

# --- log(e^(−x) I_ν(x)) and I_{ν+1}/I_ν, real ν ----------------------------------------------
rows = []
orders = [0.0, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 24.5, 24.9, 25.0, 50.5, 200.0, 1023.0, 2047.0]
points = [1e-6, 0.3, 2.0, 2.5, 7.0, 19.0, 21.0, 60.0, 333.0, 1e4, 1e6, 1e12]
for nu in orders:
    # also both sides of each switch between methods (κ = 5 and κ = 20 + ν²/2 below order 25)
    borders = [5.0 * (1 - 1e-9), 5.0 * (1 + 1e-9)]
    if nu < 25:
        borders += [(20 + nu * nu / 2) * (1 - 1e-9), (20 + nu * nu / 2) * (1 + 1e-9)]
    for x in points + borders:
        i = mp.besseli(D(nu), D(x))
        i1 = mp.besseli(D(nu) + 1, D(x))
        logive = mp.log(i) - D(x)
        r = i1 / i
        s = sc.ive(nu, x)
        if s > 1e-300:
            check("ive", (nu, x), mp.exp(logive), s, tol=1e-12)
        rows.append([nu, x, logive, r, 1 - r])
table("besselI", "[ν, x, log(e^(−x) I_ν(x)), I_{ν+1}(x)/I_ν(x), 1 − I_{ν+1}/I_ν]", rows)

# --- the normalisers themselves, from KERNELS.md's closed forms ------------------------------
def logz(kernel, tau, shape):
    tau, shape = D(tau), D(shape)
    if kernel == "student_t":
        return mp.log(mp.sqrt(shape) * mp.beta(D(0.5), 1 / tau - D(0.5)))
    if kernel == "huber":
        d = shape
        return mp.log(mp.sqrt(2 * mp.pi * tau) * mp.erf(d / mp.sqrt(2 * tau)) + (2 * tau / d) * mp.exp(-d * d / (2 * tau)))
    if kernel == "pseudo_huber":
        b = shape * shape / tau
        return mp.log(2 * shape) + b + mp.log(mp.besselk(1, b))
    if kernel == "exponential":
        return mp.log(2 * mp.e1(1 / tau))
    raise ValueError(kernel)


def vmf(dim, tau):
    tau = D(tau)
    k = 1 / tau
    nu = D(dim) / 2 - 1
    return D(dim) / 2 * mp.log(2 * mp.pi) + mp.log(mp.besseli(nu, k)) - k - nu * mp.log(k)


rows = []
cases = {
    "student_t": [(t, s) for t in [1e-6, 0.01, 0.5, 1.0, 1.9, 1.999999] for s in [1e-6, 1.0, 1e6]],
    "huber": [(t, s) for t in [1e-6, 0.01, 1.0, 1e3, 1e6] for s in [1e-6, 0.05, 1.0, 30.0, 1e6]],
    "pseudo_huber": [(t, s) for t in [1e-6, 0.01, 1.0, 1e3, 1e6] for s in [1e-6, 0.05, 1.0, 30.0, 1e6]],
    "exponential": [(t, 0) for t in [1e-6, 1e-3, 0.1, 0.9, 1.0, 1.1, 10.0, 1e3, 1e6, 1e100]],
}
code = {"student_t": 4, "huber": 5, "pseudo_huber": 6, "exponential": 7}
for kernel, pts in cases.items():
    for tau, shape in pts:
        v = logz(kernel, tau, shape)
        # Central differences with a relative step of 1e-15, carried at enough digits that the
        # change of log Z is resolved: Huber's ∂/∂δ is e^(−t²) (t² = δ²/2τ) relative to it, so
        # it is only tabulated (else NaN: not checked) where t² ≤ 1300.
        t2 = shape * shape / (2 * tau) if kernel == "huber" else 0
        with mp.workdps(60 + int(min(t2, 1300) / 2.3)):
            dt = mp.diff(lambda t: logz(kernel, t, shape), D(tau), h=D(tau) * D("1e-15"))
            if not shape:
                ds = D(0)
            elif t2 > 1300:
                ds = mp.nan
            else:
                ds = mp.diff(lambda s: logz(kernel, tau, s), D(shape), h=D(shape) * D("1e-15"))
        rows.append([code[kernel], tau, shape, v, dt, ds])
table("separable", "[kernel raw value, τ, ν or δ, log Z_ρ, ∂/∂τ, ∂/∂shape]", rows)

rows = []
for dim in [2, 3, 4, 5, 10, 51, 52, 100, 1000, 4096]:
    for tau in [1e-6, 1e-3, 0.05, 0.5, 1.0, 10.0, 1e6]:
        v = vmf(dim, tau)
        dt = mp.diff(lambda t: vmf(dim, t), D(tau), h=D(tau) * D("1e-15"))
        rows.append([dim, tau, v, dt])
table("vonMisesFisher", "[D, τ, c, dc/dτ]", rows)
