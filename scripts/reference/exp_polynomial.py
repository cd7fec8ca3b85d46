#!/usr/bin/env python3
"""The coefficients of q in the vector e^r ≈ 1 + r + r²·q(r) of Sources/ImplicitEM/SimdMath.swift.

A Remez exchange at 50 digits (mpmath) minimises the relative error of 1 + r + r²·q(r) against
e^r on |r| ≤ (ln 2)/2 (a little beyond: the reduced r reaches it after rounding), with 1 and r
held exact; q has degree 9 in float64 and 4 in float32. It prints the error with the
coefficients rounded to the precision, then the coefficients (hex first), lowest degree first.

Run: python3 scripts/reference/exp_polynomial.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50
a = mp.log(2)/2 * mp.mpf('1.0005')  # a little beyond ln2/2: the reduced r reaches it after rounding
def q_true(r):
    if abs(r) < mp.mpf('1e-20'): return mp.mpf(1)/2 + r/6
    return (mp.exp(r) - 1 - r)/r**2

def remez(deg, dtype):
    # minimise the relative error of 1 + r + r^2 q(r) against e^r; weight w(r) = r^2/e^r on q's error
    n = deg + 2
    # initial reference: Chebyshev extrema
    xs = [a*mp.cos(mp.pi*(i+mp.mpf(0.3))/n) for i in range(n)][::-1]
    w = lambda r: r**2/mp.exp(r)
    for it in range(30):
        # solve sum c_j x^j + (-1)^i E / w(x) = q(x) ; w(x)=0 at 0 is a problem -> avoid x=0 in reference
        M = mp.matrix(n, n); b = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(deg+1): M[i, j] = x**j
            M[i, deg+1] = (-1)**i / w(x)
            b[i] = q_true(x)
        sol = mp.lu_solve(M, b)
        c = [sol[j] for j in range(deg+1)]
        err = lambda r: (mp.polyval(c[::-1], r) - q_true(r)) * w(r)
        # new extrema: sample densely
        grid = [-a + 2*a*i/4000 for i in range(4001)]
        vals = [err(r) for r in grid]
        # find local extrema with alternating signs
        ext = []
        for i in range(len(grid)):
            v = vals[i]
            l = vals[i-1] if i > 0 else None; rr = vals[i+1] if i+1 < len(grid) else None
            if (l is None or abs(v) >= abs(l)) and (rr is None or abs(v) >= abs(rr)) and abs(v) > 0:
                ext.append((grid[i], v))
        # merge same-sign runs keeping the largest
        merged = []
        for x, v in ext:
            if merged and mp.sign(merged[-1][1]) == mp.sign(v):
                if abs(v) > abs(merged[-1][1]): merged[-1] = (x, v)
            else: merged.append((x, v))
        if len(merged) >= n:
            # choose n consecutive with the largest max
            best = max(range(len(merged)-n+1), key=lambda s: max(abs(v) for _, v in merged[s:s+n]))
            xs = [x for x, _ in merged[best:best+n]]
        else:
            break
    return c

def check(c, dtype, name):
    cr = [dtype(float(x)) for x in c]
    worst = 0
    for i in range(20001):
        r = -a + 2*a*i/20000
        p = 1 + r + r**2 * mp.polyval([mp.mpf(float(x)) for x in cr[::-1]], r)
        e = abs(p/mp.exp(r) - 1)
        worst = max(worst, e)
    eps = np.finfo(dtype).eps
    print(name, 'deg q', len(c)-1, 'max rel err', mp.nstr(worst, 5), '= %.4f ulp(eps)' % float(worst/eps))
    return cr

for deg in (9,):
    c = remez(deg, np.float64)
    cr = check(c, np.float64, 'f64')
    print([float(x).hex() for x in cr]); print([repr(float(x)) for x in cr])
for deg in (4,):
    c = remez(deg, np.float32)
    cr = check(c, np.float32, 'f32')
    print([float(x).hex() for x in cr]); print([repr(x) for x in cr])
