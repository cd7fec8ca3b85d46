// The per-dimension penalties ρ of the separable kernels 1–7 (KERNELS.md, "Energies"), in one
// place: energies, gradients, statistics and the activation all evaluate ρ through these types.
// Each is a small value type so that the row loops are specialised per kernel (no per-element
// dispatch) and stay in a shape the optimiser can vectorise.

/// ρ(u), ρ′(u) and ∂ρ/∂shape of one separable kernel with its shape parameter bound.
protocol Rho {
    associatedtype T: IEFloat
    /// ρ(u).
    func value(_ u: T) -> T
    /// ρ′(u).
    func derivative(_ u: T) -> T
    /// ∂ρ/∂shape (ν or δ); 0 for kernels without a shape parameter.
    func shapeDerivative(_ u: T) -> T
    /// ρ(a) − ρ(b) given gap = a − b computed exactly by the caller: far out, a and b round to
    /// the same value while their difference still matters (the activation at large |z|).
    func difference(_ a: T, _ b: T, gap: T) -> T
}

extension Rho {
    @inline(__always) func shapeDerivative(_ u: T) -> T { 0 }
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T { value(a) - value(b) }

    /// The midpoint rule ρ′((a + b)/2)·gap where a and b agree to 4 digits (error ~ (gap/a)² relative,
    /// for smooth ρ with ρ‴/ρ′ = O(1/u²)); the plain difference elsewhere.
    @inline(__always) func smoothDifference(_ a: T, _ b: T, gap: T) -> T {
        if (a > 0) == (b > 0) && abs(gap) < 1e-4 * min(abs(a), abs(b)) { return derivative(a / 2 + b / 2) * gap }
        return value(a) - value(b)
    }
}

/// Above this |w|, 1 + w² rounds to w² in T: the large-argument branches below use it to
/// avoid overflowing w².
@inline(__always) func largeArgument<T: IEFloat>(_: T.Type) -> T { 1 / T.ulpOfOne }

/// gaussian: ρ = u²/2.
struct GaussianRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { u * u / 2 }
    @inline(__always) func derivative(_ u: T) -> T { u }
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T { gap * (a / 2 + b / 2) }
}

/// laplace: ρ = |u|.
struct LaplaceRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { abs(u) }
    @inline(__always) func derivative(_ u: T) -> T { u > 0 ? 1 : (u < 0 ? -1 : 0) }
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T {
        if a >= 0 && b >= 0 { return gap }
        if a <= 0 && b <= 0 { return -gap }
        return abs(a) - abs(b)
    }
}

/// logistic: ρ = log(1 + e^(−u)) = max(−u, 0) + log1p(e^(−|u|)).
struct LogisticRho<T: IEFloat>: Rho {
    @inline(__always) func value(_ u: T) -> T { max(-u, 0) + T.log1p(T.exp(-abs(u))) }
    @inline(__always) func derivative(_ u: T) -> T {
        // −1/(1 + e^u), written with e^(−|u|) so that it never overflows.
        let e = T.exp(-abs(u))
        return u >= 0 ? -e / (1 + e) : -1 / (1 + e)
    }
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T {
        let linear = a <= 0 && b <= 0 ? -gap : max(-a, 0) - max(-b, 0)
        return linear + (T.log1p(T.exp(-abs(a))) - T.log1p(T.exp(-abs(b))))
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

    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T { smoothDifference(a, b, gap: gap) }
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
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T {
        if a >= delta && b >= delta { return delta * gap }
        if a <= -delta && b <= -delta { return -delta * gap }
        if abs(a) <= delta && abs(b) <= delta { return gap * (a / 2 + b / 2) }
        return value(a) - value(b)
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
    @inline(__always) func difference(_ a: T, _ b: T, gap: T) -> T { smoothDifference(a, b, gap: gap) }
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
