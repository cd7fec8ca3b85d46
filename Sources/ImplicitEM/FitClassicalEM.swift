#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Classical EM with closed-form M-steps, written out plainly and independently of the engine:
/// the reference that implicit EM is checked against. Two models, as in the textbook:
/// - gaussian with one scale per component and dimension: N(x; mu_k, τ·diag(s_k²));
/// - mahalanobis with a full precision: exp(−(x − mu)ᵀP(x − mu)/τ) normalised, i.e.
///   N(x; mu_k, (τ/2)·P_k⁻¹), with P_k = L_k L_kᵀ.
public enum ClassicalEM {
    /// One E-step and M-step from `parameters`.
    /// - Returns: the new parameters and the mean log-likelihood at the old ones.
    public static func step(kernel: Kernel, x: [Double], n: Int, d: Int, weights: [Double]? = nil,
                            tau: Double, parameters p: MixtureParameters) throws -> (MixtureParameters, Double) {
        guard kernel == .gaussian || kernel == .mahalanobis else {
            throw ImplicitEMError(.unsupported, "kernel: classical EM is written for gaussian and mahalanobis only")
        }
        let k = p.logw.count
        guard n > 0, d > 0, k > 0, x.count == n * d, p.mu.count == k * d,
              kernel == .mahalanobis ? p.chol.count == k * d * d : p.scale.count == k * d else {
            throw ImplicitEMError(.badSize, "parameters: sizes do not match n, k, d")
        }
        // E-step: log w_k + log density, row by row.
        var resp = [Double](repeating: 0, count: n * k)
        var total = 0.0, weightSum = 0.0
        for row in 0..<n {
            var logits = [Double](repeating: 0, count: k)
            for c in 0..<k {
                var logDensity = 0.0
                if kernel == .gaussian {
                    for i in 0..<d {
                        let s = p.scale[c * d + i], e = x[row * d + i] - p.mu[c * d + i]
                        logDensity -= e * e / (2 * tau * s * s) + log(s) + 0.5 * log(2 * Double.pi * tau)
                    }
                } else {
                    // (x − mu)ᵀ L Lᵀ (x − mu) = ‖Lᵀ e‖².
                    var quadratic = 0.0, logDet = 0.0
                    for j in 0..<d {
                        var y = 0.0
                        for i in j..<d { y += p.chol[c * d * d + i * d + j] * (x[row * d + i] - p.mu[c * d + i]) }
                        quadratic += y * y
                        logDet += log(p.chol[c * d * d + j * d + j])
                    }
                    logDensity = -quadratic / tau - Double(d) / 2 * log(Double.pi * tau) + logDet
                }
                logits[c] = p.logw[c] + logDensity
            }
            let top = logits.max() ?? 0
            var sum = 0.0
            for c in 0..<k { sum += exp(logits[c] - top) }
            let logZ = top + log(sum)
            for c in 0..<k { resp[row * k + c] = exp(logits[c] - logZ) }
            let w = weights?[row] ?? 1
            total += w * logZ
            weightSum += w
        }
        // M-step: proportions, means, then (co)variances about the new means.
        var q = p
        for c in 0..<k {
            var count = 0.0
            var mean = [Double](repeating: 0, count: d)
            for row in 0..<n {
                let wr = (weights?[row] ?? 1) * resp[row * k + c]
                count += wr
                for i in 0..<d { mean[i] += wr * x[row * d + i] }
            }
            for i in 0..<d { mean[i] /= count }
            var scatter = [Double](repeating: 0, count: d * d)
            for row in 0..<n {
                let wr = (weights?[row] ?? 1) * resp[row * k + c]
                for i in 0..<d {
                    for j in 0..<d {
                        scatter[i * d + j] += wr * (x[row * d + i] - mean[i]) * (x[row * d + j] - mean[j])
                    }
                }
            }
            q.logw[c] = log(count / weightSum)
            for i in 0..<d { q.mu[c * d + i] = mean[i] }
            if kernel == .gaussian {
                for i in 0..<d { q.scale[c * d + i] = (scatter[i * d + i] / (tau * count)).squareRoot() }
            } else {
                // P = (τ/2) Σ⁻¹ by Gauss–Jordan elimination, then its Cholesky factor.
                var a = scatter.map { $0 / count }
                var inverse = [Double](repeating: 0, count: d * d)
                for i in 0..<d { inverse[i * d + i] = 1 }
                for col in 0..<d {
                    let pivot = a[col * d + col]
                    for j in 0..<d { a[col * d + j] /= pivot; inverse[col * d + j] /= pivot }
                    for row in 0..<d where row != col {
                        let factor = a[row * d + col]
                        for j in 0..<d {
                            a[row * d + j] -= factor * a[col * d + j]
                            inverse[row * d + j] -= factor * inverse[col * d + j]
                        }
                    }
                }
                var l = [Double](repeating: 0, count: d * d)
                for j in 0..<d {
                    var diagonal = tau / 2 * inverse[j * d + j]
                    for m in 0..<j { diagonal -= l[j * d + m] * l[j * d + m] }
                    l[j * d + j] = diagonal.squareRoot()
                    for i in (j + 1)..<max(d, j + 1) {
                        var value = tau / 2 * inverse[i * d + j]
                        for m in 0..<j { value -= l[i * d + m] * l[j * d + m] }
                        l[i * d + j] = value / l[j * d + j]
                    }
                }
                for i in 0..<(d * d) { q.chol[c * d * d + i] = l[i] }
            }
        }
        return (q, total / weightSum)
    }
}
