// The per-dimension penalties ρ of the separable kernels 1–7 (KERNELS.md, "Energies"), in one
// place: energies, gradients, statistics and the activation all evaluate ρ through these types.
// Each is a small value type so that the row loops are specialised per kernel (no per-element
// dispatch) and stay in a shape the optimiser can vectorise.

/// One activation point: u₋ = (z + m)/s and u₊ = (z − m)/s, with their exact difference and
/// midpoint (computed from z, m and s, since u₋ and u₊ may round together or overflow), and
/// the unscaled residuals z ± m.
struct ActivationPoint<T: IEFloat> {
    let a: T, b: T
    /// a − b = 2m/s.
    let gap: T
    /// (a + b)/2 = z/s.
    let mid: T
    let plus: T, minus: T

    init(z: T, m: T, s: T) {
        // z ± m may overflow where (z ± m)/s does not (s large): then z/s ± m/s.
        let sum = z + m, difference = z - m
        a = sum.isFinite ? sum / s : z / s + m / s
        b = difference.isFinite ? difference / s : z / s - m / s
        gap = 2 * (m / s)
        mid = z / s
        plus = sum
        minus = difference
    }

    /// x·y where an exact 0 wins over ∞ (the limit the activation needs).
    @inline(__always) static func times(_ x: T, _ y: T) -> T { x == 0 || y == 0 ? 0 : x * y }

    /// |a| − |b| exactly: ±gap on one side of 0, ±2·mid across it.
    @inline(__always) var absDifference: T {
        if a >= 0 && b >= 0 { return gap }
        if a <= 0 && b <= 0 { return -gap }
        return a >= 0 ? 2 * mid : -2 * mid
    }
}

/// ρ(u), ρ′(u) and ∂ρ/∂shape of one separable kernel with its shape parameter bound.
protocol Rho {
    associatedtype T: IEFloat
    /// ρ(u).
    func value(_ u: T) -> T
    /// ρ′(u).
    func derivative(_ u: T) -> T
    /// ∂ρ/∂shape (ν or δ); 0 for kernels without a shape parameter.
    func shapeDerivative(_ u: T) -> T
    /// ρ(a) − ρ(b) at an activation point, without the cancellation, ∞ − ∞ or ∞·0 of the
    /// plain difference where a and b round together or overflow.
    func difference(_ p: ActivationPoint<T>) -> T
}

extension Rho {
    @inline(__always) func shapeDerivative(_ u: T) -> T { 0 }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T { value(p.a) - value(p.b) }

    /// The midpoint rule ρ′(mid)·gap where a and b agree to 4 digits (error ~ (gap/a)² relative,
    /// for smooth ρ with ρ‴/ρ′ = O(1/u²)); the plain difference elsewhere.
    @inline(__always) func smoothDifference(_ p: ActivationPoint<T>) -> T {
        if (p.a > 0) == (p.b > 0) && abs(p.gap) < 1e-4 * min(abs(p.a), abs(p.b)) {
            return ActivationPoint<T>.times(derivative(p.mid), p.gap)
        }
        return value(p.a) - value(p.b)
    }
}

/// Above this |w|, 1 + w² rounds to w² in T: the large-argument branches below use it to
/// avoid overflowing w².
@inline(__always) func largeArgument<T: IEFloat>(_: T.Type) -> T { 1 / T.ulpOfOne }

/// gaussian: ρ = u²/2.
struct GaussianRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { u * u / 2 }
    @inline(__always) func derivative(_ u: T) -> T { u }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T { ActivationPoint<T>.times(p.gap, p.mid) }
}

/// laplace: ρ = |u|.
struct LaplaceRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { abs(u) }
    @inline(__always) func derivative(_ u: T) -> T { u > 0 ? 1 : (u < 0 ? -1 : 0) }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T { p.absDifference }
}

/// logistic: ρ = log(1 + e^(−u)) = max(−u, 0) + log1p(e^(−|u|)).
struct LogisticRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { max(-u, 0) + T.log1p(T.exp(-abs(u))) }
    @inline(__always) func derivative(_ u: T) -> T {
        // −1/(1 + e^u), written with e^(−|u|) so that it never overflows.
        let e = T.exp(-abs(u))
        return u >= 0 ? -e / (1 + e) : -1 / (1 + e)
    }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T {
        let linear = p.a <= 0 && p.b <= 0 ? -p.gap : max(-p.a, 0) - max(-p.b, 0)
        return linear + (T.log1p(T.exp(-abs(p.a))) - T.log1p(T.exp(-abs(p.b))))
    }
}

/// student_t: ρ = log(1 + u²/ν), evaluated through w = u/√ν so that u²/ν cannot overflow
/// for any positive finite ν.
struct StudentTRho<T: IEFloat>: Rho {
    let nu: T
    let invSqrtNu: T
    let logSqrtNu: T

    init(nu: T) {
        self.nu = nu
        let sqrtNu = nu.squareRoot()
        invSqrtNu = 1 / sqrtNu
        logSqrtNu = T.log(sqrtNu)
    }

    @inline(__always) func value(_ u: T) -> T {
        let w = abs(u) * invSqrtNu
        if w > largeArgument(T.self) { return 2 * (T.log(abs(u)) - logSqrtNu) }
        return T.log1p(w * w)
    }

    @inline(__always) func derivative(_ u: T) -> T {
        // 2u/(ν + u²) = 2w/((1 + w²)√ν).
        let w = u * invSqrtNu
        if abs(w) > largeArgument(T.self) { return 2 / u }
        return 2 * w / (1 + w * w) * invSqrtNu
    }

    @inline(__always) func shapeDerivative(_ u: T) -> T {
        // −u²/(ν(ν + u²)) = −(w²/(1 + w²))/ν.
        let w = abs(u) * invSqrtNu
        if w > largeArgument(T.self) { return -1 / nu }
        let w2 = w * w
        return -(w2 / (1 + w2)) / nu
    }

    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T {
        // Both residuals overflowed (a vanishing scale): ρ(a) − ρ(b) → 2·log(|z + m|/|z − m|).
        if !p.a.isFinite && !p.b.isFinite { return 2 * (T.log(abs(p.plus)) - T.log(abs(p.minus))) }
        return smoothDifference(p)
    }
}

/// huber: u²/2 inside |u| ≤ δ, δ(|u| − δ/2) outside.
struct HuberRho<T: IEFloat>: Rho {
    let delta: T
    @inline(__always) func value(_ u: T) -> T {
        let a = abs(u)
        return a <= delta ? u * u / 2 : delta * (a - delta / 2)
    }
    @inline(__always) func derivative(_ u: T) -> T { min(max(u, -delta), delta) }
    @inline(__always) func shapeDerivative(_ u: T) -> T {
        let a = abs(u)
        return a <= delta ? 0 : a - delta
    }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T {
        let a = abs(p.a), b = abs(p.b)
        if a >= delta && b >= delta { return delta * p.absDifference }
        if a <= delta && b <= delta { return ActivationPoint<T>.times(p.gap, p.mid) }
        // One inside (i), one outside (o): ρ(o) − ρ(i) = δ(o − δ) + (δ − i)(δ + i)/2, two
        // non-negative terms, so that huge values overflow to +∞ rather than to ∞ − ∞.
        let inside = min(a, b), outside = max(a, b)
        let gap = delta * (outside - delta) + (delta - inside) * (delta / 2 + inside / 2)
        return a > b ? gap : -gap
    }
}

/// pseudo_huber: δ²(q − 1), q = √(1 + (u/δ)²), written as u²/(q + 1) to avoid the cancellation
/// of q − 1 near 0 and the overflow of (u/δ)² far out.
struct PseudoHuberRho<T: IEFloat>: Rho {
    let delta: T
    @inline(__always) func value(_ u: T) -> T {
        let a = abs(u)
        let w = a / delta
        if w > largeArgument(T.self) { return delta * (a - delta) }
        let q = (1 + w * w).squareRoot()
        return a * (a / (q + 1))
    }
    @inline(__always) func derivative(_ u: T) -> T {
        let w = u / delta
        if abs(w) > largeArgument(T.self) { return u > 0 ? delta : -delta }
        return u / (1 + w * w).squareRoot()
    }
    @inline(__always) func shapeDerivative(_ u: T) -> T {
        // 2δ(q − 1) − u²/(δq) = δ·w⁴/(q(q + 1)²), split so that no factor overflows.
        let w = abs(u) / delta
        if w > largeArgument(T.self) { return abs(u) - 2 * delta }  // δ(w − 2), with δw = |u|
        let w2 = w * w
        let q = (1 + w2).squareRoot()
        return delta * (w2 / (q * (q + 1))) * (w2 / (q + 1))
    }
    @inline(__always) func difference(_ p: ActivationPoint<T>) -> T {
        // Far out ρ(u) = δ|u| − δ², so the difference is δ(|a| − |b|).
        if !p.a.isFinite || !p.b.isFinite { return delta * p.absDifference }
        let plain = smoothDifference(p)
        if !plain.isNaN { return plain }
        // Both ρ overflowed (δ² beyond the range): δ²(q_a − q_b) = δ·(|a| − |b|)·(w_a + w_b)/(q_a + q_b)
        // with w = |u|/δ, the last factor in (0, 1].
        @inline(__always) func halfQ(_ w: T) -> T { w > largeArgument(T.self) ? w / 2 : (1 + w * w).squareRoot() / 2 }
        let wa = abs(p.a) / delta, wb = abs(p.b) / delta
        return delta * (p.absDifference * ((wa / 2 + wb / 2) / (halfQ(wa) + halfQ(wb))))
    }
}

/// exponential: ρ = e^|u|. Energies overflow to +∞ for large |u|; the row code handles that
/// limit in log space (SeparableModel.logEnergy).
struct ExponentialRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { T.exp(abs(u)) }
    @inline(__always) func derivative(_ u: T) -> T {
        let e = T.exp(abs(u))
        return u > 0 ? e : (u < 0 ? -e : 0)
    }
}
