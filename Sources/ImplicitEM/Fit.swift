#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fitting a mixture by implicit EM: gradient ascent on Σ_n w_n log Σ_k exp(a_nk), each step
/// the engine's fused gradient preconditioned per component (FitStep.swift), accepted only
/// if it does not lower the objective (backtracking otherwise), so the history never falls.
/// Float64 only: the objective's change between iterations is compared at 1e-6 of its mean
/// and below, which float32 accumulation over N rows cannot resolve.
public enum Fit {
    /// Fits `options.components` components to the N×D rows `x`.
    /// - Parameters:
    ///   - x: N×D rows, finite.
    ///   - sampleWeights: N weights, finite and ≥ 0 with a positive sum; nil means ones.
    /// - Returns: the best restart; `converged` is false when `maxIterations` ran out first.
    public static func fit(x: UnsafeBufferPointer<Double>, n: Int, d: Int,
                           sampleWeights: UnsafeBufferPointer<Double>? = nil,
                           options: FitOptions) throws -> FitResult {
        let model = try makeModel(x: x, n: n, d: d, sampleWeights: sampleWeights, options: options)
        let runs = options.initialization == .given ? 1 : options.restarts
        var best: FitResult?
        for restart in 0..<runs {
            var rng = SplitMix64(seed: options.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(restart))
            let start = try startingParameters(model, options, &rng)
            var result = try run(model, start, options, restart: restart)
            result.restart = restart
            if let current = best, !(result.meanLogLikelihood > current.meanLogLikelihood) { continue }
            best = result
        }
        guard let result = best else {
            throw ImplicitEMError(.badParameter, "restarts: \(options.restarts), must be >= 1")
        }
        return result
    }

    /// One implicit-EM step from `parameters`, as proposed before any backtracking: the
    /// engine's gradient preconditioned per component (FitStep.swift). For gaussian and
    /// mahalanobis it is the classical EM iterate (ClassicalEM.step).
    public static func implicitEMStep(x: UnsafeBufferPointer<Double>, n: Int, d: Int,
                                      sampleWeights: UnsafeBufferPointer<Double>? = nil,
                                      options: FitOptions,
                                      parameters: MixtureParameters) throws -> MixtureParameters {
        let model = try makeModel(x: x, n: n, d: d, sampleWeights: sampleWeights, options: options)
        var given = options
        given.initialization = .given
        given.initial = parameters
        var rng = SplitMix64(seed: 0)
        let start = try startingParameters(model, given, &rng)
        var wanted = model.learn
        wanted.remove(.shape)
        return model.propose(start, try model.gradient(start, parameters: wanted)).parameters
    }

    static func makeModel(x: UnsafeBufferPointer<Double>, n: Int, d: Int,
                          sampleWeights: UnsafeBufferPointer<Double>?,
                          options: FitOptions) throws -> FitModel {
        let kernel = options.kernel, k = options.components
        guard kernel != .learned else {
            throw ImplicitEMError(.unsupported, "kernel: learned has no parameters to fit; fitting takes kernels 1-9")
        }
        guard n > 0 else { throw ImplicitEMError(.badSize, "n: \(n), must be > 0") }
        guard d > 0 else { throw ImplicitEMError(.badSize, "d: \(d), must be > 0") }
        guard k > 0 else { throw ImplicitEMError(.badSize, "k: \(k), must be > 0") }
        guard k <= n else {
            throw ImplicitEMError(.badSize, "k: \(k) components but only n = \(n) rows")
        }
        let (nd, overflowND) = n.multipliedReportingOverflow(by: d)
        let (kdd, overflowKD) = k.multipliedReportingOverflow(by: d)
        let (_, overflowKDD) = kdd.multipliedReportingOverflow(by: d)
        let (_, overflowNK) = n.multipliedReportingOverflow(by: k)
        guard !overflowND && !overflowKD && !overflowKDD && !overflowNK else {
            throw ImplicitEMError(.badSize, "n, k, d: \(n) x \(k) x \(d) overflows")
        }
        guard x.count >= nd else { throw ImplicitEMError(.badSize, "x: \(x.count) values, need n*d = \(nd)") }
        for row in 0..<n {
            for i in 0..<d where !x[row * d + i].isFinite {
                throw ImplicitEMError(.nonFiniteInput, "x[\(row), \(i)] = \(x[row * d + i]) is not finite")
            }
        }
        var totalWeight = Double(n)
        if let w = sampleWeights {
            guard w.count >= n else { throw ImplicitEMError(.badSize, "sample_weight: \(w.count) values, need n = \(n)") }
            totalWeight = 0
            for row in 0..<n {
                guard w[row].isFinite && w[row] >= 0 else {
                    throw ImplicitEMError(.badParameter, "sample_weight[\(row)] = \(w[row]), must be finite and >= 0")
                }
                totalWeight += w[row]
            }
            guard totalWeight > 0 && totalWeight.isFinite else {
                throw ImplicitEMError(.badParameter, "sample_weight: the sum is \(totalWeight), must be finite and > 0")
            }
        }
        guard options.tau > 0 && options.tau.isFinite else {
            throw ImplicitEMError(.badParameter, "tau = \(options.tau), must be finite and > 0")
        }
        if kernel == .studentT {
            guard options.nu > 0 && options.nu.isFinite else {
                throw ImplicitEMError(.badParameter, "nu = \(options.nu), must be finite and > 0 for student_t")
            }
        }
        if kernel == .huber || kernel == .pseudoHuber {
            guard options.delta > 0 && options.delta.isFinite else {
                throw ImplicitEMError(.badParameter, "delta = \(options.delta), must be finite and > 0 for \(kernel.name)")
            }
        }
        guard options.maxIterations >= 0 else {
            throw ImplicitEMError(.badParameter, "max_iter = \(options.maxIterations), must be >= 0")
        }
        guard options.tolerance >= 0 && !options.tolerance.isNaN else {
            throw ImplicitEMError(.badParameter, "tol = \(options.tolerance), must be >= 0")
        }
        guard options.restarts >= 1 else {
            throw ImplicitEMError(.badParameter, "n_init = \(options.restarts), must be >= 1")
        }
        guard options.minScale >= 0 && options.minScale.isFinite else {
            throw ImplicitEMError(.badParameter, "min_scale = \(options.minScale), must be finite and >= 0")
        }
        let normalized = options.normalized ?? (kernel != .logistic)
        if normalized && kernel == .logistic {
            throw ImplicitEMError(.unsupported, "normalized: the logistic kernel has no normaliser (not integrable)")
        }
        var learn: FitParameters
        if let asked = options.learn {
            learn = asked
            let hasShape = kernel == .studentT || kernel == .huber || kernel == .pseudoHuber
            let asksScales = asked.contains(.scales) && kernel.isSeparable
            let asksChol = asked.contains(.chol) && kernel == .mahalanobis
            let asksShape = asked.contains(.shape) && hasShape
            if !normalized && (asksScales || asksChol || asksShape) {
                throw ImplicitEMError(.unsupported, "learn: scales, nu, delta and chol are learnable only with normalized on (else the objective grows without bound with the scale)")
            }
        } else {
            learn = [.means, .weights]
            if normalized { learn.formUnion([.scales, .chol]) }
        }
        if !kernel.isSeparable { learn.remove(.scales) }
        if kernel != .mahalanobis { learn.remove(.chol) }
        if !(kernel == .studentT || kernel == .huber || kernel == .pseudoHuber) { learn.remove(.shape) }

        var model = FitModel(kernel: kernel, n: n, k: k, d: d, scaleShape: options.scaleShape,
                             tau: options.tau, normalized: normalized, learn: learn, minScale: 0,
                             x: UnsafeBufferPointer(rebasing: x[0..<nd]),
                             weights: sampleWeights.map { UnsafeBufferPointer(rebasing: $0[0..<n]) },
                             totalWeight: totalWeight)
        var minScale = options.minScale
        if minScale == 0 {
            let variance = model.dataVariance()
            minScale = 1e-3 * (variance.reduce(0, +) / Double(d)).squareRoot()
        }
        model = FitModel(kernel: kernel, n: n, k: k, d: d, scaleShape: options.scaleShape,
                         tau: options.tau, normalized: normalized, learn: learn, minScale: minScale,
                         x: model.x, weights: model.weights, totalWeight: totalWeight)
        return model
    }

    static func startingParameters(_ model: FitModel, _ options: FitOptions,
                                   _ rng: inout SplitMix64) throws -> MixtureParameters {
        let k = model.k, d = model.d
        var start = MixtureParameters(mu: [], logw: [], nu: options.nu, delta: options.delta)
        if let given = options.initial {
            start = given
            if model.kernel == .studentT && !(given.nu > 0) { start.nu = options.nu }
            if (model.kernel == .huber || model.kernel == .pseudoHuber) && !(given.delta > 0) { start.delta = options.delta }
            try checkGiven(model, start)
        }
        if options.initialization == .given {
            guard start.mu.count == k * d else {
                throw ImplicitEMError(.nullPointer, "init_mu: initialization 'given' needs k*d = \(k * d) centres")
            }
        } else {
            let points = model.seedingPoints()
            start.mu = options.initialization == .kmeansPlusPlus
                ? model.kmeansPlusPlus(points, &rng) : try model.randomRows(points, &rng)
        }
        if model.kernel == .cosine {
            for c in 0..<k {
                var row = Array(start.mu[(c * d)..<((c + 1) * d)])
                guard normalizeDirection(&row) else {
                    throw ImplicitEMError(.badParameter, "mu: centre \(c) is a zero vector, which has no direction (cosine)")
                }
                for i in 0..<d { start.mu[c * d + i] = row[i] }
            }
        }
        var complete = model.completeStart(start)
        if model.learn.contains(.weights) {
            // Mixing proportions: log Σ exp = 0.
            var largest = -Double.infinity
            for value in complete.logw { largest = max(largest, value) }
            var sum = 0.0
            for value in complete.logw { sum += exp(value - largest) }
            for c in 0..<k { complete.logw[c] -= largest + log(sum) }
        }
        return complete
    }

    /// The given parameters: the right sizes, finite, positive scales and Cholesky diagonals.
    private static func checkGiven(_ model: FitModel, _ p: MixtureParameters) throws {
        let k = model.k, d = model.d
        func finite(_ values: [Double], _ name: String) throws {
            for (i, value) in values.enumerated() where !value.isFinite {
                throw ImplicitEMError(.nonFiniteInput, "\(name)[\(i)] = \(value) is not finite")
            }
        }
        if !p.mu.isEmpty {
            guard p.mu.count == k * d else { throw ImplicitEMError(.badSize, "init_mu: \(p.mu.count) values, need k*d = \(k * d)") }
            try finite(p.mu, "init_mu")
        }
        if model.hasScale && !p.scale.isEmpty {
            guard p.scale.count == model.scaleCount else {
                throw ImplicitEMError(.badSize, "init_scale: \(p.scale.count) values, need \(model.scaleCount) for this scale shape")
            }
            for (i, value) in p.scale.enumerated() where !(value > 0 && value.isFinite) {
                throw ImplicitEMError(.badParameter, "init_scale[\(i)] = \(value), must be finite and > 0")
            }
        }
        if model.hasChol && !p.chol.isEmpty {
            guard p.chol.count == k * d * d else {
                throw ImplicitEMError(.badSize, "init_chol: \(p.chol.count) values, need k*d*d = \(k * d * d)")
            }
            try finite(p.chol, "init_chol")
            for c in 0..<k {
                for i in 0..<d {
                    let v = p.chol[c * d * d + i * d + i]
                    guard v > 0 else { throw ImplicitEMError(.badParameter, "init_chol[\(c), \(i), \(i)] = \(v), must be > 0") }
                }
            }
        }
        if !p.logw.isEmpty {
            guard p.logw.count == k else { throw ImplicitEMError(.badSize, "init_logw: \(p.logw.count) values, need k = \(k)") }
            for (i, value) in p.logw.enumerated() where value.isNaN || value == .infinity {
                throw ImplicitEMError(.nonFiniteInput, "init_logw[\(i)] = \(value), must be finite or -inf")
            }
            guard p.logw.contains(where: { $0 > -.infinity }) else {
                throw ImplicitEMError(.badParameter, "init_logw: every component is masked (-inf)")
            }
        }
    }

    /// One start to convergence (or to maxIterations).
    static func run(_ model: FitModel, _ start: MixtureParameters, _ options: FitOptions,
                    restart: Int) throws -> FitResult {
        var p = start
        // The upper triangle of a Cholesky factor is ignored by the engine: keep it zero.
        if model.hasChol {
            let d = model.d
            for c in 0..<model.k { for i in 0..<d { for j in (i + 1)..<max(d, i + 1) { p.chol[c * d * d + i * d + j] = 0 } } }
        }
        var wanted = model.learn
        wanted.remove(.shape)
        var gradient = try model.gradient(p, parameters: wanted)
        var objective = gradient.meanLogLikelihood
        var history = [objective]
        var status = [ComponentStatus](repeating: .ok, count: model.k)
        var converged = false
        var iterations = 0
        var shapeRate = 1.0
        while iterations < options.maxIterations {
            let proposal = model.propose(p, gradient)
            var accepted: (MixtureParameters, Double)?
            var t = 1.0
            for _ in 0..<40 {
                let candidate = t == 1 ? proposal.parameters : model.interpolate(p, proposal.parameters, t)
                let value = try model.meanLogLikelihood(candidate)
                if value >= objective {
                    accepted = (candidate, value)
                    break
                }
                t *= 0.5
            }
            guard let (next, value) = accepted else {
                converged = true   // no step raises the objective at this precision
                break
            }
            p = next
            var reached = value
            if model.learn.contains(.shape) {
                (p, reached) = try shapeStep(model, p, reached, &shapeRate)
            }
            iterations += 1
            status = proposal.status
            let gain = reached - objective
            objective = reached
            history.append(objective)
            if let progress = options.progress, !progress(restart, iterations, objective) {
                throw ImplicitEMError(.callbackFailed, "progress: the callback asked to stop at iteration \(iterations)")
            }
            if gain < options.tolerance {
                converged = true
                break
            }
            gradient = try model.gradient(p, parameters: wanted)
        }
        return FitResult(parameters: p, history: history, iterations: iterations,
                         converged: converged, meanLogLikelihood: objective,
                         componentStatus: status, restart: restart, minScale: model.minScale)
    }

    /// A gradient step in log ν (or log δ) with the other parameters fixed, at an adaptive
    /// rate that grows after a gain and halves after a miss; never lowers the objective.
    static func shapeStep(_ model: FitModel, _ p: MixtureParameters, _ objective: Double,
                          _ rate: inout Double) throws -> (MixtureParameters, Double) {
        let g = try model.gradient(p, parameters: [.shape])
        let isNu = model.kernel == .studentT
        let value = isNu ? p.nu : p.delta
        let slope = value * (isNu ? g.nu : g.delta) / model.totalWeight   // ∂ mean / ∂ log value
        guard slope.isFinite && slope != 0 else { return (p, objective) }
        var logStep = min(max(rate * slope, -0.5), 0.5)
        for _ in 0..<8 {
            var candidate = p
            let next = value * exp(logStep)
            if isNu { candidate.nu = next } else { candidate.delta = next }
            let reached = next.isFinite && next > 0 ? try model.meanLogLikelihood(candidate) : -.infinity
            if reached >= objective {
                rate = min(rate * 1.5, 1e6)
                return (candidate, reached)
            }
            logStep *= 0.5
            rate *= 0.5
        }
        return (p, objective)
    }
}
