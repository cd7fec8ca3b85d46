// The fixed part of a fit (data, kernel, what is learned) and its two evaluations through the
// engine: the objective, and the fused gradient with the responsibilities it comes with.

/// The objective Σ_n w_n L_n / Σ_n w_n and everything an implicit-EM step needs from one
/// fused forward + backward pass at the current parameters.
struct FitGradient {
    var meanLogLikelihood: Double
    /// N×K responsibilities.
    var resp: [Double]
    /// N×K energies (cosine only; empty otherwise).
    var energies: [Double]
    /// ∂/∂mu (K×D), ∂/∂scale, ∂/∂chol (K×D×D); empty when not learned.
    var mu: [Double]
    var scale: [Double]
    var chol: [Double]
    /// ∂/∂logw_k = Σ_n w_n r_nk = N_k, the weighted responsibility count.
    var count: [Double]
    var nu: Double
    var delta: Double
}

struct FitModel {
    let kernel: Kernel
    let n: Int
    let k: Int
    let d: Int
    let scaleShape: ScaleShape
    let tau: Double
    let normalized: Bool
    let learn: FitParameters
    let minScale: Double
    let x: UnsafeBufferPointer<Double>
    let weights: UnsafeBufferPointer<Double>?
    let totalWeight: Double

    var hasScale: Bool { kernel.isSeparable }
    var hasChol: Bool { kernel == .mahalanobis }
    var shapeName: String? {
        switch kernel {
        case .studentT: return "nu"
        case .huber, .pseudoHuber: return "delta"
        default: return nil
        }
    }
    var scaleCount: Int { hasScale ? scaleShape.count(k: k, d: d) : 0 }

    @inline(__always) func weight(_ row: Int) -> Double { weights?[row] ?? 1 }

    /// The scale of component `c` in dimension `i`, whatever the scale shape.
    @inline(__always) func scaleIndex(_ c: Int, _ i: Int) -> Int {
        switch scaleShape {
        case .shared: return 0
        case .perComponent: return c
        case .perDimension: return c * d + i
        }
    }

    func withProblem<R>(_ p: MixtureParameters, _ body: (Problem<Double>) throws -> R) rethrows -> R {
        try p.mu.withUnsafeBufferPointer { mu in
            try p.scale.withUnsafeBufferPointer { scale in
                try p.chol.withUnsafeBufferPointer { chol in
                    try p.logw.withUnsafeBufferPointer { logw in
                        let problem = Problem<Double>(
                            kernel: kernel, n: n, k: k, d: d, x: x, mu: mu,
                            scaleShape: scaleShape, scale: hasScale ? scale : nil,
                            chol: hasChol ? chol : nil, logw: logw,
                            nu: kernel == .studentT ? p.nu : 0,
                            delta: (kernel == .huber || kernel == .pseudoHuber) ? p.delta : 0,
                            tau: tau, normalized: normalized)
                        return try body(problem)
                    }
                }
            }
        }
    }

    /// Σ_n w_n v_n / Σ_n w_n in row order (rows of zero weight are skipped, so a −∞ there
    /// does not make a NaN).
    func weightedMean(_ values: [Double]) -> Double {
        var sum = 0.0
        for row in 0..<n {
            let w = weight(row)
            if w != 0 { sum += w * values[row] }
        }
        return sum / totalWeight
    }

    func meanLogLikelihood(_ p: MixtureParameters) throws -> Double {
        var logZ = [Double](repeating: 0, count: n)
        try logZ.withUnsafeMutableBufferPointer { out in
            try withProblem(p) { try Engine.forward($0, ForwardOutputs(logZ: out)) }
        }
        return weightedMean(logZ)
    }

    /// The fused pass with gL = the sample weights, so every gradient is of Σ_n w_n L_n.
    func gradient(_ p: MixtureParameters, parameters wanted: FitParameters) throws -> FitGradient {
        var logZ = [Double](repeating: 0, count: n)
        var resp = [Double](repeating: 0, count: n * k)
        var energies = [Double](repeating: 0, count: kernel == .cosine ? n * k : 0)
        var gMu = [Double](repeating: 0, count: wanted.contains(.means) ? k * d : 0)
        var gScale = [Double](repeating: 0, count: wanted.contains(.scales) && hasScale ? scaleCount : 0)
        var gChol = [Double](repeating: 0, count: wanted.contains(.chol) && hasChol ? k * d * d : 0)
        var count = [Double](repeating: 0, count: k)
        let wantsShape = wanted.contains(.shape) && shapeName != nil
        var gNu = [0.0], gDelta = [0.0]
        try logZ.withUnsafeMutableBufferPointer { logZ in
        try resp.withUnsafeMutableBufferPointer { resp in
        try energies.withUnsafeMutableBufferPointer { energies in
        try gMu.withUnsafeMutableBufferPointer { gMu in
        try gScale.withUnsafeMutableBufferPointer { gScale in
        try gChol.withUnsafeMutableBufferPointer { gChol in
        try count.withUnsafeMutableBufferPointer { count in
        try gNu.withUnsafeMutableBufferPointer { gNu in
        try gDelta.withUnsafeMutableBufferPointer { gDelta in
            let outputs = ForwardOutputs(energies: kernel == .cosine ? energies : nil,
                                         logZ: logZ, resp: resp)
            let grads = GradientOutputs(
                mu: gMu.isEmpty ? nil : gMu, scale: gScale.isEmpty ? nil : gScale,
                nu: wantsShape && kernel == .studentT ? gNu : nil,
                delta: wantsShape && kernel != .studentT ? gDelta : nil,
                chol: gChol.isEmpty ? nil : gChol, logw: count)
            try withProblem(p) { problem in
                try Engine.gradients(problem, gL: weights, gR: nil, outputs, grads)
            }
        }}}}}}}}}
        return FitGradient(meanLogLikelihood: weightedMean(logZ), resp: resp, energies: energies,
                           mu: gMu, scale: gScale, chol: gChol, count: count,
                           nu: gNu[0], delta: gDelta[0])
    }
}
