#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// One implicit-EM step: the engine's gradient of Σ_n w_n L_n, preconditioned per component by
// the responsibility-weighted curvature of its energy (KERNELS.md, "Implicit EM").
//
// Centres: mu_k += τ s² g_k / W_k with W_k = Σ_n w_n r_nk ω(u_nk), ω(u) = ρ′(u)/u. For the
// gaussian ω = 1 and the step is the EM M-step; for laplace, huber, pseudo_huber and student_t,
// ρ is a concave function of u², ½ω(u₀)u² majorises it, and the step is the IRLS (MM) update
// mu_k = Σ w r ω x / Σ w r ω. Logistic uses the uniform bound ω = ¼ on ρ″ (again MM); the
// exponential uses its curvature ω = e^|u| (a Newton step, kept monotone by backtracking).
//
// Scales (MM kernels): the gradient gives A = Σ w r ω (x − mu)² = τ s²(s g_s + N) at the old
// centres, so the MM scale s² = Σ w r ω (x − mu_new)² / (τ N) = s²(s g_s + N)/N − Σ W Δ²/(τ N),
// summed over the entries that share the scale. Gaussian: exactly the EM variance.
// Exponential scales: a Newton step in log s.
//
// Mahalanobis: mu_k += τ/(2 N_k) P_k⁻¹ g_k is the EM mean; the Cholesky gradient
// lower(−(2/τ) S L + N diag(1/L_ii)) gives the scatter S about the old centre, and the precision
// becomes (τ/2)·Σ⁻¹ with Σ = (S − N Δ Δᵀ)/N: the EM covariance.
//
// Cosine: mu_k + τ g_k / Σ w r c is Σ w r x̂ / Σ w r c, the von Mises–Fisher mean direction.
//
// Weights: logw_k = log(N_k / Σ_j N_j), the EM mixing proportions, from ∂/∂logw_k = N_k.

/// A proposed step and what it found about each component.
struct FitProposal {
    var parameters: MixtureParameters
    var status: [ComponentStatus]
}

extension FitModel {
    /// The responsibility below which a component counts as empty.
    var emptyCount: Double { 1e-9 * totalWeight }

    /// ω(u) = ρ′(u)/u, the weight of the quadratic majoriser (or curvature) of each kernel.
    @inline(__always) func curvatureWeight(_ u: Double, nu: Double, delta: Double) -> Double {
        let a = abs(u)
        switch kernel {
        case .gaussian: return 1
        // |u| below 1e-2 of a scale is treated as 1e-2: a centre sitting on a sample (as
        // k-means++ starts it) would otherwise be held there by an unbounded weight.
        case .laplace: return 1 / max(a, 1e-2)
        case .logistic: return 0.25
        case .studentT: return 2 / (nu + u * u)
        case .huber: return a <= delta ? 1 : delta / a
        case .pseudoHuber:
            let w = a / delta
            return 1 / (1 + w * w).squareRoot()
        case .exponential: return exp(min(a, 700))
        default: return 1
        }
    }

    func propose(_ p: MixtureParameters, _ g: FitGradient) -> FitProposal {
        var q = p
        var status = [ComponentStatus](repeating: .ok, count: k)
        let count = g.count
        var total = 0.0
        for c in 0..<k { total += count[c] }
        for c in 0..<k where !(count[c] > emptyCount) { status[c] = .emptied }

        if learn.contains(.weights) && total > 0 {
            let logTotal = log(total)
            for c in 0..<k { q.logw[c] = count[c] > 0 ? log(count[c]) - logTotal : -Double.infinity }
        }
        switch kernel {
        case .cosine: proposeCosine(p, g, &q, status)
        case .mahalanobis: proposeMahalanobis(p, g, &q, &status)
        default: proposeSeparable(p, g, &q, &status)
        }
        return FitProposal(parameters: q, status: status)
    }

    private func proposeSeparable(_ p: MixtureParameters, _ g: FitGradient,
                                  _ q: inout MixtureParameters, _ status: inout [ComponentStatus]) {
        let learnMeans = learn.contains(.means), learnScales = learn.contains(.scales)
        guard learnMeans || learnScales else { return }
        // W (K×D) = Σ_n w r ω and, for exponential scales, V = Σ_n w r e^|u|(u² + |u|)/τ:
        // one pass over the rows, no N×K×D temporary.
        var curvature = [Double](repeating: 0, count: k * d)
        var logScaleCurvature = [Double](repeating: 0, count: kernel == .exponential ? k * d : 0)
        if kernel == .gaussian {
            for c in 0..<k { for i in 0..<d { curvature[c * d + i] = g.count[c] } }
        } else {
            for row in 0..<n {
                let w = weight(row)
                if w == 0 { continue }
                for c in 0..<k {
                    let r = g.resp[row * k + c]
                    if r == 0 { continue }
                    for i in 0..<d {
                        let u = (x[row * d + i] - p.mu[c * d + i]) / p.scale[scaleIndex(c, i)]
                        let omega = curvatureWeight(u, nu: p.nu, delta: p.delta)
                        curvature[c * d + i] += w * r * omega
                        if kernel == .exponential {
                            let a = abs(u)
                            logScaleCurvature[c * d + i] += w * r * omega * (a * a + a) / tau
                        }
                    }
                }
            }
        }
        var shift = [Double](repeating: 0, count: k * d)
        if learnMeans {
            for c in 0..<k where status[c] != .emptied {
                for i in 0..<d {
                    let s = p.scale[scaleIndex(c, i)], weightSum = curvature[c * d + i]
                    guard weightSum > 0 && weightSum.isFinite else { continue }
                    let step = tau * s * s * g.mu[c * d + i] / weightSum
                    if step.isFinite {
                        q.mu[c * d + i] = p.mu[c * d + i] + step
                        shift[c * d + i] = step
                    }
                }
            }
        }
        guard learnScales else { return }
        // Groups of (component, dimension) entries that share one scale.
        var groupCount = [Double](repeating: 0, count: scaleCount)
        var groupShift = [Double](repeating: 0, count: scaleCount)
        var groupCurvature = [Double](repeating: 0, count: scaleCount)
        for c in 0..<k {
            for i in 0..<d {
                let j = scaleIndex(c, i)
                groupCount[j] += g.count[c]
                groupShift[j] += curvature[c * d + i] * shift[c * d + i] * shift[c * d + i]
                if kernel == .exponential { groupCurvature[j] += logScaleCurvature[c * d + i] }
            }
        }
        var floored = [Bool](repeating: false, count: scaleCount)
        for j in 0..<scaleCount where groupCount[j] > emptyCount {
            let s = p.scale[j]
            var next: Double
            if kernel == .exponential {
                guard groupCurvature[j] > 0 else { continue }
                let logStep = min(max(s * g.scale[j] / groupCurvature[j], -1), 1)
                next = s * exp(logStep)
            } else {
                let variance = s * s * (s * g.scale[j] + groupCount[j]) / groupCount[j]
                    - groupShift[j] / (tau * groupCount[j])
                next = variance > 0 ? variance.squareRoot() : 0
            }
            guard !next.isNaN else { continue }
            if !(next >= minScale) {
                next = minScale
                floored[j] = true
            }
            q.scale[j] = min(next, Double.greatestFiniteMagnitude)
        }
        for c in 0..<k where status[c] == .ok {
            for i in 0..<d where floored[scaleIndex(c, i)] { status[c] = .collapsed }
        }
    }

    private func proposeCosine(_ p: MixtureParameters, _ g: FitGradient,
                               _ q: inout MixtureParameters, _ status: [ComponentStatus]) {
        guard learn.contains(.means) else { return }
        var agreement = [Double](repeating: 0, count: k)   // Σ_n w r c_nk, c = 1 − d
        for row in 0..<n {
            let w = weight(row)
            if w == 0 { continue }
            for c in 0..<k {
                let r = g.resp[row * k + c]
                if r != 0 { agreement[c] += w * r * (1 - g.energies[row * k + c]) }
            }
        }
        for c in 0..<k where status[c] != .emptied {
            // The vMF mean direction when Σ w r c > 0. Otherwise the mean direction lies more than
            // 90° away, out of reach of a tangent step: turn to the gradient's direction (the
            // limit of an unbounded step) and let the next iteration finish.
            var row = (0..<d).map { g.mu[c * d + $0] }
            if agreement[c] > 0 {
                row = (0..<d).map { p.mu[c * d + $0] + tau / agreement[c] * g.mu[c * d + $0] }
            }
            if normalizeDirection(&row) { for i in 0..<d { q.mu[c * d + i] = row[i] } }
        }
    }

    private func proposeMahalanobis(_ p: MixtureParameters, _ g: FitGradient,
                                    _ q: inout MixtureParameters, _ status: inout [ComponentStatus]) {
        let dd = d * d
        for c in 0..<k where status[c] != .emptied {
            let count = g.count[c]
            let l = Array(p.chol[(c * dd)..<((c + 1) * dd)])
            var shift = [Double](repeating: 0, count: d)
            if learn.contains(.means) {
                let direction = SmallMatrix.solveCholesky(l, d, Array(g.mu[(c * d)..<((c + 1) * d)]))
                for i in 0..<d {
                    shift[i] = tau / (2 * count) * direction[i]
                    q.mu[c * d + i] = p.mu[c * d + i] + shift[i]
                }
            }
            guard learn.contains(.chol) else { continue }
            // lower(S L) = −(τ/2)·(g_L − N diag(1/L_ii)).
            var product = [Double](repeating: 0, count: dd)
            for i in 0..<d {
                for j in 0...i {
                    var value = g.chol[c * dd + i * d + j]
                    if i == j { value -= count / l[i * d + i] }
                    product[i * d + j] = -tau / 2 * value
                }
            }
            let scatter = SmallMatrix.symmetricFromLowerProduct(product, l, d)
            var covariance = [Double](repeating: 0, count: dd)
            for i in 0..<dd {
                covariance[i] = (scatter[i] - count * shift[i / d] * shift[i % d]) / count
            }
            let (factor, floored) = SmallMatrix.precisionCholesky(
                covariance: covariance, d, tau: tau, floor: minScale)
            guard factor.allSatisfy({ $0.isFinite }) else { continue }
            for i in 0..<dd { q.chol[c * dd + i] = factor[i] }
            if floored { status[c] = .collapsed }
        }
    }

    /// p + t(q − p): centres and Cholesky factors linearly (cosine centres renormalised),
    /// scales in log space, mixing proportions in probability space; all stay valid.
    func interpolate(_ p: MixtureParameters, _ q: MixtureParameters, _ t: Double) -> MixtureParameters {
        var r = q
        for i in 0..<p.mu.count { r.mu[i] = p.mu[i] + t * (q.mu[i] - p.mu[i]) }
        if kernel == .cosine {
            for c in 0..<k {
                var row = Array(r.mu[(c * d)..<((c + 1) * d)])
                if normalizeDirection(&row) { for i in 0..<d { r.mu[c * d + i] = row[i] } }
                else { for i in 0..<d { r.mu[c * d + i] = p.mu[c * d + i] } }
            }
        }
        for i in 0..<p.scale.count { r.scale[i] = p.scale[i] * pow(q.scale[i] / p.scale[i], t) }
        for i in 0..<p.chol.count { r.chol[i] = p.chol[i] + t * (q.chol[i] - p.chol[i]) }
        for c in 0..<k where learn.contains(.weights) {
            let mixed = (1 - t) * exp(p.logw[c]) + t * exp(q.logw[c])
            r.logw[c] = mixed > 0 ? log(mixed) : -Double.infinity
        }
        return r
    }
}

/// Scales `v` to unit length; false (and `v` unchanged) for a zero or non-finite vector.
func normalizeDirection(_ v: inout [Double]) -> Bool {
    var largest = 0.0
    for value in v { largest = max(largest, abs(value)) }
    guard largest > 0 && largest.isFinite else { return false }
    var sum = 0.0
    for value in v { sum += (value / largest) * (value / largest) }
    let norm = largest * sum.squareRoot()
    for i in 0..<v.count { v[i] /= norm }
    return true
}
