#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// log Z_ρ(τ, shape) of a separable kernel and its partial derivatives (computed in Double).
/// `dShape` is ∂value/∂ν (student_t) or ∂value/∂δ (huber, pseudo_huber), 0 otherwise.
struct NormalizerTerm: Sendable {
    var value: Double
    var dTau: Double
    var dShape: Double
}

/// log Z_ρ = log ∫ exp(−ρ(u)/τ) du of a separable kernel (KERNELS.md, "Normalised kernels").
/// Throws `.unsupported` for logistic, for student_t with τ ≥ 2, and for non-separable kernels.
func separableLogNormalizer(_ kernel: Kernel, tau: Double, nu: Double, delta: Double) throws -> NormalizerTerm {
    guard tau > 0, tau.isFinite else {
        throw ImplicitEMError(.badParameter, "tau must be finite and > 0 (got \(tau))")
    }
    switch kernel {
    case .gaussian:
        return NormalizerTerm(value: 0.5 * log(2 * Double.pi * tau), dTau: 0.5 / tau, dShape: 0)
    case .laplace:
        return NormalizerTerm(value: log(2 * tau), dTau: 1 / tau, dShape: 0)
    default:
        throw ImplicitEMError(.unsupported, "normalisation of kernel \(kernel.name): not yet implemented")
    }
}

/// The cosine kernel's von Mises–Fisher c (same for every component) and dc/dτ (in dTau; dShape = 0).
func vonMisesFisherLogNormalizer(dimension: Int, tau: Double) throws -> NormalizerTerm {
    throw ImplicitEMError(.unsupported, "normalisation of kernel cosine: not yet implemented")
}
