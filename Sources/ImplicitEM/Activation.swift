// The activation of the two-component signed model (KERNELS.md, "Activation shape"):
// act(z) = tanh(t), t = (ρ(u₋) − ρ(u₊))/(2τ), u₋ = (z + m)/s, u₊ = (z − m)/s,
// act′(z) = sech²(t)·t′ with t′ = (ρ′(u₋) − ρ′(u₊))/(2τs).

/// sech²(t) = 4e^(−2|t|)/(1 + e^(−2|t|))², accurate where tanh(t) is near ±1.
@inline(__always) func sech2<T: IEFloat>(_ t: T) -> T {
    let e = T.exp(-2 * abs(t))
    let onePlus = 1 + e
    return 4 * e / (onePlus * onePlus)
}

func activationShape<T: IEFloat>(kernel: Kernel, z: UnsafeBufferPointer<T>, m: T, scale: T, nu: T, delta: T,
                                 tau: T, act: UnsafeMutableBufferPointer<T>?, dact: UnsafeMutableBufferPointer<T>?) throws {
    if !kernel.isSeparable {
        throw ImplicitEMError(.unsupported, "the activation is defined for kernels 1-7, not \(kernel.name)")
    }
    if z.count <= 0 { throw ImplicitEMError(.badSize, "z has no values (n must be > 0)") }
    try checkCount(act, "act", z.count, "n")
    try checkCount(dact, "dact", z.count, "n")
    if !m.isFinite { throw ImplicitEMError(.badParameter, "m = \(m) must be finite") }
    try checkPositive(scale, "scale")
    try checkPositive(tau, "tau")
    if kernel == .studentT { try checkPositive(nu, "nu") }
    if kernel == .huber || kernel == .pseudoHuber { try checkPositive(delta, "delta") }
    try checkFinite(z, "z", columns: 0)
    try checkNoOverlap { r in
        r.input("z", z)
        r.output("act", act); r.output("dact", dact)
    }

    let a = act?.baseAddress, da = dact?.baseAddress
    switch kernel {
    case .gaussian: activationLoop(GaussianRho<T>(), z, m, scale, tau, a, da)
    case .laplace: activationLoop(LaplaceRho<T>(), z, m, scale, tau, a, da)
    case .logistic: activationLoop(LogisticRho<T>(), z, m, scale, tau, a, da)
    case .studentT: activationLoop(StudentTRho<T>(nu: nu), z, m, scale, tau, a, da)
    case .huber: activationLoop(HuberRho<T>(delta: delta), z, m, scale, tau, a, da)
    case .pseudoHuber: activationLoop(PseudoHuberRho<T>(delta: delta), z, m, scale, tau, a, da)
    case .exponential: exponentialActivation(z, m, scale, tau, a, da)
    case .cosine, .mahalanobis, .learned: break
    }
}

@inline(__always)
func activationLoop<R: Rho>(_ rho: R, _ z: UnsafeBufferPointer<R.T>, _ m: R.T, _ s: R.T, _ tau: R.T,
                            _ act: UnsafeMutablePointer<R.T>?, _ dact: UnsafeMutablePointer<R.T>?) {
    // Halve first and divide by τ and s one at a time: 2τ and 2τs may overflow where t does not.
    for j in 0 ..< z.count {
        let point = ActivationPoint(z: z[j], m: m, s: s)
        let t = (rho.difference(point) / 2) / tau
        if let act { act[j] = R.T.tanh(t) }
        if let dact {
            let slope = (((rho.derivative(point.a) - rho.derivative(point.b)) / 2) / tau) / s
            let weight = sech2(t)
            // A NaN slope only arises from ∞ − ∞ at a vanishing scale, where the response is flat.
            dact[j] = weight == 0 || slope.isNaN ? 0 : weight * slope
        }
    }
}

/// The exponential kernel's e^|u| terms overflow long before their difference matters, so t and
/// act′ are formed in log space: with a = |u₋|, b = |u₊|, M = max(a, b),
/// t = ±e^M·(1 − e^(−|a − b|))/(2τ) and log|act′| = log sech²(t) + M + log|σ₋e^(a−M) − σ₊e^(b−M)| − log(2τs).
func exponentialActivation<T: IEFloat>(_ z: UnsafeBufferPointer<T>, _ m: T, _ s: T, _ tau: T,
                                       _ act: UnsafeMutablePointer<T>?, _ dact: UnsafeMutablePointer<T>?) {
    let logTwoTau = T.log(2) + T.log(tau), logTwoTauS = logTwoTau + T.log(s)
    let logMax = T.log(T.greatestFiniteMagnitude)
    for j in 0 ..< z.count {
        let point = ActivationPoint(z: z[j], m: m, s: s)
        let uMinus = point.a, uPlus = point.b
        let a = abs(uMinus), b = abs(uPlus)
        // |a| − |b| exactly (u₋ and u₊ may round to one value, or both overflow).
        let difference = point.absDifference
        let top = max(a, b), gap = abs(difference)
        var t: T = 0
        if gap > 0 {
            let logAbsT = top + T.log(-T.expm1(-gap)) - logTwoTau
            let magnitude = logAbsT > logMax ? T.infinity : T.exp(logAbsT)
            t = difference > 0 ? magnitude : -magnitude
        }
        if let act { act[j] = T.tanh(t) }
        if let dact {
            if !top.isFinite {
                // A vanishing scale: a step at the centre, flat elsewhere.
                dact[j] = t == 0 ? T.infinity : 0
                continue
            }
            let signMinus: T = uMinus > 0 ? 1 : (uMinus < 0 ? -1 : 0)
            let signPlus: T = uPlus > 0 ? 1 : (uPlus < 0 ? -1 : 0)
            let scaled = signMinus * T.exp(a - top) - signPlus * T.exp(b - top)
            if scaled == 0 || t.isInfinite {
                dact[j] = 0
            } else {
                let e = T.exp(-2 * abs(t))
                let logSech2 = T.log(4) - 2 * abs(t) - 2 * T.log1p(e)
                let logAbs = logSech2 + top + T.log(abs(scaled)) - logTwoTauS
                let magnitude = T.exp(logAbs)
                dact[j] = scaled > 0 ? magnitude : -magnitude
            }
        }
    }
}
