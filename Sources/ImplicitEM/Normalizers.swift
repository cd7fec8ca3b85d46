#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The exact log-normalisers of KERNELS.md ("Normalised kernels"), in Double.
// Every value and derivative is finite for finite positive parameters, except where the true
// value lies outside Double's range (then ±∞ with the right sign; noted at each case).

/// log Z_ρ(τ, shape) of a separable kernel and its partial derivatives (computed in Double).
/// `dShape` is ∂value/∂ν (student_t) or ∂value/∂δ (huber, pseudo_huber), 0 otherwise.
struct NormalizerTerm: Sendable {
    var value: Double
    var dTau: Double
    var dShape: Double
}

private let logTwo = 0.69314718055994530941723212145817657
private let logPi = 1.1447298858494001741434273513530587
private let logTwoPi = 1.8378770664093454835606594728112353

private func checkPositive(_ value: Double, _ name: String, _ kernel: Kernel) throws {
    guard value > 0, value.isFinite else {
        throw ImplicitEMError(.badParameter, "\(name) must be finite and > 0 for the normalised \(kernel.name) kernel (got \(value))")
    }
}

/// exp(−(a + aError)/b) with the quotient's rounding error restored (by FMA), so that a large
/// exponent (Huber's δ²/(2τ), vMF's 2/τ) costs no more than exp's own rounding.
/// nil where a or b is not finite (the caller then has a plainer form).
private func expOfNegativeQuotient(_ a: Double, _ b: Double, numeratorError: Double = 0) -> Double? {
    guard a.isFinite, b.isFinite, numeratorError.isFinite else { return nil }
    let q = a / b
    guard q < 746 else { return 0 }  // below the smallest subnormal
    let remainder = (fma(-q, b, a) + numeratorError) / b
    return exp(-q) * exp(-remainder)
}

/// log Z_ρ = log ∫ exp(−ρ(u)/τ) du of a separable kernel (KERNELS.md, "Normalised kernels").
/// Throws `.unsupported` for logistic, for student_t with τ ≥ 2, and for non-separable kernels;
/// `.badParameter` for τ (or the kernel's ν, δ) not finite and > 0.
func separableLogNormalizer(_ kernel: Kernel, tau: Double, nu: Double, delta: Double) throws -> NormalizerTerm {
    guard kernel.isSeparable else {
        throw ImplicitEMError(.unsupported, "kernel \(kernel.name) is not separable: it has no per-dimension normaliser")
    }
    try checkPositive(tau, "tau", kernel)
    switch kernel {
    case .gaussian:
        // ½log(2πτ)
        return NormalizerTerm(value: 0.5 * (logTwoPi + log(tau)), dTau: 0.5 / tau, dShape: 0)
    case .laplace:
        // log(2τ)
        return NormalizerTerm(value: logTwo + log(tau), dTau: 1 / tau, dShape: 0)
    case .logistic:
        throw ImplicitEMError(.unsupported, "the logistic kernel is not integrable: it cannot be normalised")
    case .studentT:
        try checkPositive(nu, "nu", kernel)
        return try studentTLogNormalizer(tau: tau, nu: nu)
    case .huber:
        try checkPositive(delta, "delta", kernel)
        return huberLogNormalizer(tau: tau, delta: delta)
    case .pseudoHuber:
        try checkPositive(delta, "delta", kernel)
        return pseudoHuberLogNormalizer(tau: tau, delta: delta)
    case .exponential:
        return exponentialLogNormalizer(tau: tau)
    case .cosine, .mahalanobis, .learned:
        throw ImplicitEMError(.unsupported, "kernel \(kernel.name) is not separable: it has no per-dimension normaliser")
    }
}

/// ½log ν + log B(½, a), a = 1/τ − ½ = (2 − τ)/(2τ); log B(½, a) = ½log π + log Γ(a) − log Γ(a + ½).
private func studentTLogNormalizer(tau: Double, nu: Double) throws -> NormalizerTerm {
    guard tau < 2 else {
        throw ImplicitEMError(.unsupported, "the normalised student_t kernel needs tau < 2 (got \(tau)): exp(−ρ/τ) is not integrable otherwise")
    }
    let a = (2 - tau) / (2 * tau)
    let base = 0.5 * (log(nu) + logPi)
    guard a.isFinite else {
        // τ below ~5.6e-309: a = ∞, log Γ(a) − log Γ(a + ½) = −½log a to all digits;
        // ∂/∂τ = 1/(τ(2 − τ)) then exceeds Double's range (+∞).
        let logA = log(2 - tau) - logTwo - log(tau)
        return NormalizerTerm(value: base - 0.5 * logA, dTau: (1 / tau) / (2 - tau), dShape: 0.5 / nu)
    }
    // ∂/∂τ = (ψ(a) − ψ(a + ½))·da/dτ, da/dτ = −1/τ² (divided in two steps: τ² may underflow).
    return NormalizerTerm(value: base + logGammaHalfRatio(a),
                          dTau: -(digammaHalfDifference(a) / tau) / tau,
                          dShape: 0.5 / nu)
}

/// With t = δ/√(2τ): Z = √(2τ)·g(t), g(t) = √π·erf(t) + e^(−t²)/t, g′(t) = −e^(−t²)/t², so
/// ∂log Z/∂δ = −e^(−t²)/(δ·t·g) and ∂log Z/∂τ = (1 + e^(−t²)/(t·g))/(2τ). t·g ≥ 1 never cancels.
private func huberLogNormalizer(tau: Double, delta: Double) -> NormalizerTerm {
    let t = delta / (2.0.squareRoot() * tau.squareRoot())  // may over/underflow: both ends handled below
    let gauss = expOfNegativeQuotient(delta * delta, 2 * tau, numeratorError: fma(delta, delta, -delta * delta))
        ?? exp(-t * t)
    let tg = Double.pi.squareRoot() * t * erf(t) + gauss
    let value: Double
    if t >= 1 {
        // ½log(2τ) + log g(t); t = +∞ gives the Gaussian limit ½log(2πτ).
        value = 0.5 * (logTwo + log(tau)) + log(Double.pi.squareRoot() * erf(t) + gauss / t)
    } else {
        // log g = log(t·g) − log t, with log t = log δ − ½log(2τ): finite even when t underflows.
        value = logTwo + log(tau) - log(delta) + log(tg)
    }
    // 1/(2τ) may overflow for subnormal τ: the true derivative is then beyond Double's range.
    return NormalizerTerm(value: value, dTau: (0.5 / tau) * (1 + gauss / tg), dShape: -gauss / (delta * tg))
}

/// log Z = log(2δ) + log(e^β K₁(β)), β = δ²/τ. With M = β·d/dβ log(e^β K₁(β)) = β(1 − K₀/K₁) − 1:
/// ∂/∂τ = −M/τ and ∂/∂δ = (1 + 2M)/δ.
private func pseudoHuberLogNormalizer(tau: Double, delta: Double) -> NormalizerTerm {
    let beta = (delta / tau) * delta
    let inverseBeta = (tau / delta) / delta
    let value: Double
    let m: Double
    let onePlusTwoM: Double
    if inverseBeta <= 0.05 {
        // β ≥ 20: e^β K₁(β) = √(π/(2β))·Σ, so log Z = ½log(2πτ) + log Σ and M = −½ + β·Σ′/Σ, which
        // keeps 1 + 2M = 2β·Σ′/Σ exact (it tends to −3/(4β)). β = +∞ gives the Gaussian limit.
        let hankel = besselK1ScaledAsymptoticSum(inverseX: inverseBeta)
        value = 0.5 * (logTwoPi + log(tau)) + log(hankel.sum)
        m = -0.5 + hankel.logDerivativeTimesX
        onePlusTwoM = 2 * hankel.logDerivativeTimesX
    } else if beta > 2 {
        value = logTwo + log(delta) + log(besselK1Scaled(beta))
        m = beta * besselKRatioComplement(beta) - 1
        onePlusTwoM = 1 + 2 * m
    } else {
        // β ≤ 2: log(e^β K₁(β)) = β + log(β·K₁(β)) − log β, with log β = 2log δ − log τ, so that a
        // β that underflows still gives the Laplace-like limit log(2τ/δ).
        let small = beta > 1e-150 ? besselK0AndXK1Small(beta) : (k0: 0, xk1: 1)
        value = logTwo - log(delta) + log(tau) + beta + log(small.xk1)
        m = beta - 1 - beta * (beta * small.k0) / small.xk1
        onePlusTwoM = 1 + 2 * m
    }
    return NormalizerTerm(value: value, dTau: -m / tau, dShape: onePlusTwoM / delta)
}

/// log Z = log 2 + log E₁(1/τ) = log 2 − x + log(e^x E₁(x)), x = 1/τ; since dE₁/dx = −e^(−x)/x,
/// ∂/∂τ = 1/(τ·e^x E₁(x)). For τ below ~5.6e-309, x = +∞: log Z = −∞ and ∂/∂τ = +∞, the true
/// values (≈ −1/τ, 1/τ²) being beyond Double's range.
private func exponentialLogNormalizer(tau: Double) -> NormalizerTerm {
    let x = 1 / tau
    let scaled = exponentialIntegralE1Scaled(x)
    return NormalizerTerm(value: logTwo - x + log(scaled), dTau: 1 / (tau * scaled), dShape: 0)
}

/// The cosine kernel's von Mises–Fisher c (same for every component) and dc/dτ (in dTau; dShape = 0).
///
/// c = log ∫_{S^(D−1)} exp(−(1 − xᵀμ)/τ) dx = (D/2)·log(2π) + log I_ν(κ) − κ − ν·log κ, κ = 1/τ,
/// ν = D/2 − 1, and dc/dτ = (1 − I_{ν+1}(κ)/I_ν(κ))/τ². For D = 1 the "sphere" S⁰ is the two
/// points ±1 with counting measure, and the same formula (I_{−½}(κ) = √(2/(πκ))·cosh κ) gives
/// c = log(1 + e^(−2κ)), dc/dτ = 2e^(−2κ)/((1 + e^(−2κ))τ²).
/// Throws `.badParameter` for D < 1 or τ not finite and > 0.
func vonMisesFisherLogNormalizer(dimension: Int, tau: Double) throws -> NormalizerTerm {
    guard dimension >= 1 else {
        throw ImplicitEMError(.badParameter, "the normalised cosine kernel needs dimension d >= 1 (got \(dimension))")
    }
    try checkPositive(tau, "tau", .cosine)
    if dimension == 1 {
        let e = expOfNegativeQuotient(2, tau) ?? 0
        return NormalizerTerm(value: log1p(e), dTau: (2 * e / (1 + e) / tau) / tau, dShape: 0)
    }
    let halfD = 0.5 * Double(dimension)
    let core = besselIScaledCore(order: halfD - 1, tau: tau)
    // dc/dτ ≈ (D − 1)/(2τ) for small τ: +∞ only where that exceeds Double's range (subnormal τ).
    return NormalizerTerm(value: halfD * logTwoPi + core.logScaledPlusPower,
                          dTau: (core.ratioComplement / tau) / tau, dShape: 0)
}
