// The vector ρ of the kernels that need e^x or a logarithm: logistic, student_t and
// exponential. The same formulas and overflow branches as the scalar `Rho` (Rho.swift), with
// the branch taken per lane by a selection: both sides are computed, and the side a lane does
// not take (an overflowed w², a log of 0) is discarded. The transcendental functions are the
// vector ones of SimdMath.swift, so the values agree with the scalar ρ to a few ulp.

/// logistic: ρ = max(−u, 0) + log1p(e^(−|u|)), ρ′ = −1/(1 + e^u). ρ(0) = log 2.
struct LogisticVectorRho<V: FloatVector>: VectorRho {
    var scalar: LogisticRho<V.Scalar> { LogisticRho() }
    /// base = max(−u, 0), t = e^(−|u|) ≤ 1.
    static var hasLogForm: Bool { true }
    @inline(__always) func logTerm(_ u: V) -> V { keptTerm(u) }
    @inline(__always) func addingBase(_ sum: V, _ u: V) -> V { sum + V().replacing(with: -u, whereAbove: -u, 0) }
    /// e = e^(−|u|), shared by ρ and ρ′.
    static var keepsTerm: Bool { true }
    @inline(__always) func keptTerm(_ u: V) -> V { VectorMath.expOfNonPositive(u.negativeAbsolute) }
    @inline(__always) func value(_ u: V) -> V { valueKeeping(u).value }
    @inline(__always) func valueKeeping(_ u: V) -> (value: V, term: V) {
        let e = keptTerm(u)
        return (V().replacing(with: -u, whereAbove: -u, 0) + VectorMath.log1p(e), e)
    }
    @inline(__always) func derivative(_ u: V) -> V { derivative(u, kept: keptTerm(u)) }
    @inline(__always) func derivative(_ u: V, kept e: V) -> V {
        // −e^(−|u|)/(1 + e^(−|u|)) for u > 0, −1/(1 + e^(−|u|)) otherwise (equal at 0); the
        // sign on the divisor, which rounds symmetrically: the same bits, one negation fewer.
        V(repeating: 1).replacing(with: e, whereAbove: u, 0) / (-1 - e)
    }
}

/// student_t: ρ = log1p(w²), w = |u|/√ν; far out (w above 1/ulp) 2(log|u| − log√ν).
struct StudentTVectorRho<V: FloatVector>: VectorRho {
    let scalar: StudentTRho<V.Scalar>
    static var hasLogForm: Bool { true }
    /// t = w²; above 1/ulp the product form would lose the 1 of 1 + w².
    @inline(__always) func logTerm(_ u: V) -> V {
        let w = u * scalar.invSqrtNu
        return w * w
    }
    @inline(__always) var logTermLimit: V.Scalar { V.Scalar.self == Double.self ? 1e16 : 1e4 }
    @inline(__always) func value(_ u: V) -> V {
        // One logarithm for both branches: log1p(w²) near, log|u| far.
        let a = u.absolute, large = largeArgument(V.Scalar.self)
        let w = a * scalar.invSqrtNu
        let r = VectorMath.log1p((w * w).replacing(with: a, whereAbove: w, large), logWhereAbove: w, large)
        return r.replacing(with: 2 * (r - scalar.logSqrtNu), whereAbove: w, large)
    }
    /// 2w·(1/√ν)/(1 + w²), 2/u far out: one division for both branches (the divider bounds
    /// this loop).
    @inline(__always) func derivative(_ u: V) -> V {
        let w = u * scalar.invSqrtNu
        let far = w.absolute
        let large = largeArgument(V.Scalar.self)
        let numerator = (w * (2 * scalar.invSqrtNu)).replacing(with: V(repeating: 2), whereAbove: far, large)
        return numerator / (1 + w * w).replacing(with: u, whereAbove: far, large)
    }
    static var hasFarBranch: Bool { true }
    @inline(__always) var nearScale: V.Scalar { scalar.invSqrtNu }
    /// `derivative` where no |w| is above 1/ulp.
    @inline(__always) func nearDerivative(_ u: V) -> V {
        let w = u * scalar.invSqrtNu
        return (w * (2 * scalar.invSqrtNu)) / (1 + w * w)
    }
    /// ∂ρ/∂ν = −(w²/(1 + w²))/ν; −1/ν far out.
    @inline(__always) func shapeDerivative(_ u: V) -> V {
        let w = u.absolute * scalar.invSqrtNu
        let w2 = w * w
        return (-(w2 / (1 + w2)) / scalar.nu)
            .replacing(with: V(repeating: -1 / scalar.nu), whereAbove: w, largeArgument(V.Scalar.self))
    }
}

/// exponential: ρ = e^|u| (+∞ beyond the range, as the scalar), ρ′ = sign(u)·e^|u|. ρ(0) = 1.
struct ExponentialVectorRho<V: FloatVector>: VectorRho {
    var scalar: ExponentialRho<V.Scalar> { ExponentialRho() }
    /// e = e^|u| = ρ, shared by ρ and ρ′.
    static var keepsTerm: Bool { true }
    @inline(__always) func keptTerm(_ u: V) -> V { VectorMath.expOfNonNegative(u.absolute) }
    @inline(__always) func value(_ u: V) -> V { keptTerm(u) }
    @inline(__always) func valueKeeping(_ u: V) -> (value: V, term: V) {
        let e = keptTerm(u)
        return (e, e)
    }
    @inline(__always) func derivative(_ u: V) -> V { derivative(u, kept: keptTerm(u)) }
    @inline(__always) func derivative(_ u: V, kept e: V) -> V {
        // e with u's sign, selected rather than multiplied by sign(u), so that 0 and NaN lanes
        // give 0 as the scalar does.
        V().replacing(with: e.withSign(of: u), whereAbove: u.absolute, 0)
    }
}
