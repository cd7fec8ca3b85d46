import XCTest
@testable import ImplicitEM
#if canImport(Glibc)
import Glibc
#endif

/// Seeded data for the fit tests: Box–Muller normals from SplitMix64, so a failure replays.
private struct FitData {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1p-53
    }
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
    /// `perCluster` rows around each centre, with per-dimension spreads.
    mutating func clusters(_ centres: [[Double]], spread: [[Double]], perCluster: Int) -> [Double] {
        var x: [Double] = []
        for (c, centre) in centres.enumerated() {
            for _ in 0..<perCluster {
                for i in 0..<centre.count { x.append(centre[i] + spread[c][i] * normal()) }
            }
        }
        return x
    }
}

private func fit(_ x: [Double], d: Int, weights: [Double]? = nil, _ options: FitOptions) throws -> FitResult {
    try x.withUnsafeBufferPointer { xs in
        if let weights {
            return try weights.withUnsafeBufferPointer {
                try Fit.fit(x: xs, n: x.count / d, d: d, sampleWeights: $0, options: options)
            }
        }
        return try Fit.fit(x: xs, n: x.count / d, d: d, options: options)
    }
}

private func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

final class FitTests: XCTestCase {
    private let centres = [[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]]
    private let spreads = [[1.0, 0.5], [0.7, 1.5], [1.2, 1.0]]

    private func threeClusters(seed: UInt64 = 1, perCluster: Int = 120) -> [Double] {
        var data = FitData(seed: seed)
        return data.clusters(centres, spread: spreads, perCluster: perCluster)
    }

    /// A deliberately poor start, shared by implicit and classical EM.
    private func gaussianStart() -> MixtureParameters {
        MixtureParameters(mu: [1, 1, 4, 2, 2, 5], scale: [2, 2, 1.5, 1, 1, 3],
                          logw: [log(0.5), log(0.3), log(0.2)])
    }

    // The identity of KERNELS.md: each implicit-EM iterate is the classical EM iterate.
    func testGaussianImplicitEMEqualsClassicalEM() throws {
        let x = threeClusters()
        var weights: [Double] = []
        var data = FitData(seed: 9)
        for _ in 0..<(x.count / 2) { weights.append(0.2 + 2 * data.uniform()) }
        for (tau, w) in [(1.0, nil), (0.7, weights)] as [(Double, [Double]?)] {
            // Whole fits of a few iterations; then every implicit-EM step along 30 classical EM
            // iterations, out to where the objective is flat to rounding (there a fit's
            // backtracking, not the step, decides whether it moves).
            for iterations in [1, 3, 6] {
                let implicit = try fit(x, d: 2, weights: w, gaussianOptions(tau, iterations, gaussianStart()))
                XCTAssertEqual(implicit.iterations, iterations)
                var reference = gaussianStart()
                var history: [Double] = []
                for _ in 0..<iterations {
                    let (next, value) = try ClassicalEM.step(kernel: .gaussian, x: x, n: x.count / 2, d: 2,
                                                             weights: w, tau: tau, parameters: reference)
                    history.append(value)
                    reference = next
                }
                XCTAssertLessThan(maxDifference(implicit.parameters.mu, reference.mu), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.parameters.scale, reference.scale), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.parameters.logw, reference.logw), 1e-10)
                XCTAssertLessThan(maxDifference(Array(implicit.history.prefix(iterations)), history), 1e-10)
            }
            var iterate = gaussianStart()
            for _ in 0..<30 {
                let implicit = try x.withUnsafeBufferPointer { xs in
                    try (w ?? []).withUnsafeBufferPointer { ws in
                        try Fit.implicitEMStep(x: xs, n: x.count / 2, d: 2, sampleWeights: w == nil ? nil : ws,
                                               options: gaussianOptions(tau, 1, iterate), parameters: iterate)
                    }
                }
                let reference = try ClassicalEM.step(kernel: .gaussian, x: x, n: x.count / 2, d: 2,
                                                     weights: w, tau: tau, parameters: iterate).0
                XCTAssertLessThan(maxDifference(implicit.mu, reference.mu), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.scale, reference.scale), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.logw, reference.logw), 1e-10)
                iterate = reference
            }
        }
    }

    private func gaussianOptions(_ tau: Double, _ iterations: Int, _ start: MixtureParameters) -> FitOptions {
        FitOptions(kernel: .gaussian, components: 3, scaleShape: .perDimension, tau: tau,
                   maxIterations: iterations, tolerance: 0, initialization: .given, initial: start,
                   minScale: 1e-12)
    }

    func testMahalanobisImplicitEMEqualsClassicalEM() throws {
        // Three correlated clusters in three dimensions.
        var data = FitData(seed: 4)
        var x: [Double] = []
        let means = [[0.0, 0, 0], [5, 1, -2], [-1, 6, 3]]
        let mixing = [[1.0, 0, 0, 0.8, 0.6, 0, -0.3, 0.2, 0.5], [0.5, 0, 0, -0.4, 1.2, 0, 0.1, 0.3, 0.9],
                      [1.5, 0, 0, 0.2, 0.4, 0, 0.6, -0.5, 0.7]]
        for c in 0..<3 {
            for _ in 0..<100 {
                let z = [data.normal(), data.normal(), data.normal()]
                for i in 0..<3 {
                    var v = means[c][i]
                    for j in 0..<3 { v += mixing[c][i * 3 + j] * z[j] }
                    x.append(v)
                }
            }
        }
        var chol = [Double](repeating: 0, count: 27)
        for c in 0..<3 { for i in 0..<3 { chol[c * 9 + i * 3 + i] = 0.5 + 0.2 * Double(c) } }
        chol[0 * 9 + 1 * 3 + 0] = 0.1
        chol[2 * 9 + 2 * 3 + 1] = -0.2
        let start = MixtureParameters(mu: [1, 1, 1, 4, 0, 0, 0, 4, 2], chol: chol,
                                      logw: [log(0.4), log(0.35), log(0.25)])
        for tau in [2.0, 1.0] {
            for iterations in [1, 4, 25] {
                var options = FitOptions(kernel: .mahalanobis, components: 3, tau: tau,
                                         maxIterations: iterations, tolerance: 0,
                                         initialization: .given, initial: start)
                options.minScale = 1e-12
                let implicit = try fit(x, d: 3, options)
                XCTAssertEqual(implicit.iterations, iterations)
                var reference = start
                for _ in 0..<iterations {
                    reference = try ClassicalEM.step(kernel: .mahalanobis, x: x, n: x.count / 3, d: 3,
                                                     tau: tau, parameters: reference).0
                }
                XCTAssertLessThan(maxDifference(implicit.parameters.mu, reference.mu), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.parameters.chol, reference.chol), 1e-10)
                XCTAssertLessThan(maxDifference(implicit.parameters.logw, reference.logw), 1e-10)
            }
        }
    }

    private func optionsForEveryKernel() -> [FitOptions] {
        var all: [FitOptions] = []
        for kernel in Kernel.allCases where kernel != .learned {
            var options = FitOptions(kernel: kernel, components: 3, scaleShape: .perDimension,
                                     nu: 3, delta: 1, tau: 1, maxIterations: 30, tolerance: 1e-9, seed: 7)
            if [.studentT, .huber, .pseudoHuber].contains(kernel) {
                options.learn = [.means, .weights, .scales, .shape]
            }
            all.append(options)
        }
        return all
    }

    func testObjectiveHistoryNeverFallsForAnyKernel() throws {
        var x = threeClusters()
        // 10% gross outliers.
        var data = FitData(seed: 3)
        for _ in 0..<36 { x += [-20 + 40 * data.uniform(), -20 + 40 * data.uniform()] }
        for scaleShape in [ScaleShape.shared, .perComponent, .perDimension] {
            for var options in optionsForEveryKernel() {
                options.scaleShape = scaleShape
                let result = try fit(x, d: 2, options)
                XCTAssertEqual(result.history.count, result.iterations + 1)
                XCTAssertGreaterThan(result.iterations, 0, "\(options.kernel.name)")
                for (a, b) in zip(result.history, result.history.dropFirst()) {
                    XCTAssertGreaterThanOrEqual(b, a, "\(options.kernel.name) \(scaleShape)")
                }
                XCTAssertEqual(result.meanLogLikelihood, result.history.last)
                XCTAssertTrue(result.parameters.mu.allSatisfy { $0.isFinite })
                XCTAssertEqual(result.parameters.logw.map { exp($0) }.reduce(0, +), 1, accuracy: 1e-12)
            }
        }
    }

    func testLearnsTheShapeParameters() throws {
        // Student-t data with ν = 3 (normal / sqrt(chi²/ν)); the fitted ν should land near it.
        var data = FitData(seed: 11)
        var x: [Double] = []
        for _ in 0..<4000 {
            var chi2 = 0.0
            for _ in 0..<3 { let z = data.normal(); chi2 += z * z }
            x.append(2 + data.normal() / (chi2 / 3).squareRoot())
        }
        // ρ = log(1 + u²/ν) at τ = 2/(ν + 1) is the Student-t density with ν degrees of freedom:
        // at τ = 0.5 with the scale fixed at 1, the maximum-likelihood ν is near 3.
        let options = FitOptions(kernel: .studentT, components: 1, nu: 10, tau: 0.5,
                                 learn: [.means, .weights, .shape], maxIterations: 500,
                                 tolerance: 1e-12, initialization: .given,
                                 initial: MixtureParameters(mu: [0], scale: [1], logw: [0]))
        let result = try fit(x, d: 1, options)
        XCTAssertEqual(result.parameters.nu, 3, accuracy: 0.4)
        XCTAssertEqual(result.parameters.mu[0], 2, accuracy: 0.1)
    }

    // For the robust kernels one implicit-EM step is the IRLS (MM) update, written out plainly:
    // r from the logits (the log Z_ρ terms are equal for every component and cancel),
    // ω = ρ′(u)/u, mu = Σ r ω x / Σ r ω, s² = Σ r ω (x − mu)² / (τ Σ r), w = Σ r / N.
    func testRobustStepIsTheReweightedUpdate() throws {
        let x = threeClusters(seed: 6, perCluster: 60)
        let n = x.count / 2, k = 3, d = 2, tau = 0.8
        let kernels: [(Kernel, (Double) -> Double, (Double) -> Double)] = [
            (.studentT, { log(1 + $0 * $0 / 3) }, { 2 / (3 + $0 * $0) }),
            (.huber, { abs($0) <= 1.2 ? $0 * $0 / 2 : 1.2 * (abs($0) - 0.6) }, { abs($0) <= 1.2 ? 1 : 1.2 / abs($0) }),
            (.pseudoHuber, { 1.44 * ((1 + $0 * $0 / 1.44).squareRoot() - 1) }, { 1 / (1 + $0 * $0 / 1.44).squareRoot() }),
        ]
        let start = gaussianStart()
        for (kernel, rho, omega) in kernels {
            let options = FitOptions(kernel: kernel, components: k, scaleShape: .perDimension, nu: 3,
                                     delta: 1.2, tau: tau, initialization: .given, initial: start,
                                     minScale: 1e-12)
            let step = try x.withUnsafeBufferPointer {
                try Fit.implicitEMStep(x: $0, n: n, d: d, options: options, parameters: start)
            }
            var resp = [Double](repeating: 0, count: n * k)
            for row in 0..<n {
                var logits = (0..<k).map { c -> Double in
                    var a = start.logw[c]
                    for i in 0..<d {
                        let s = start.scale[c * d + i]
                        a -= rho((x[row * d + i] - start.mu[c * d + i]) / s) / tau + log(s)
                    }
                    return a
                }
                let top = logits.max()!
                logits = logits.map { exp($0 - top) }
                let sum = logits.reduce(0, +)
                for c in 0..<k { resp[row * k + c] = logits[c] / sum }
            }
            for c in 0..<k {
                let count = (0..<n).reduce(0) { $0 + resp[$1 * k + c] }
                XCTAssertEqual(step.logw[c], log(count / Double(n)), accuracy: 1e-10, kernel.name)
                for i in 0..<d {
                    let s = start.scale[c * d + i], m = start.mu[c * d + i]
                    var weight = 0.0, weighted = 0.0
                    for row in 0..<n {
                        let w = resp[row * k + c] * omega((x[row * d + i] - m) / s)
                        weight += w
                        weighted += w * x[row * d + i]
                    }
                    let mean = weighted / weight
                    var spread = 0.0
                    for row in 0..<n {
                        let e = x[row * d + i] - mean
                        spread += resp[row * k + c] * omega((x[row * d + i] - m) / s) * e * e
                    }
                    XCTAssertEqual(step.mu[c * d + i], mean, accuracy: 1e-10, kernel.name)
                    XCTAssertEqual(step.scale[c * d + i], (spread / (tau * count)).squareRoot(),
                                   accuracy: 1e-10, kernel.name)
                }
            }
        }
    }

    // One component: the fixed points have closed forms.
    func testSingleComponentClosedForms() throws {
        var data = FitData(seed: 5)
        var x: [Double] = []
        for _ in 0..<501 { x += [3 + 2 * data.normal(), -1 + 0.5 * data.normal()] }
        let n = 501
        // gaussian, shared scale: the mean, and s² = mean squared deviation over both dims / τ.
        let tau = 1.3
        let g = try fit(x, d: 2, FitOptions(kernel: .gaussian, components: 1, scaleShape: .shared,
                                              tau: tau, maxIterations: 5, tolerance: 0))
        var mean = [0.0, 0.0]
        for row in 0..<n { for i in 0..<2 { mean[i] += x[row * 2 + i] / Double(n) } }
        var squares = 0.0
        for row in 0..<n { for i in 0..<2 { squares += pow(x[row * 2 + i] - mean[i], 2) } }
        XCTAssertLessThan(maxDifference(g.parameters.mu, mean), 1e-12)
        XCTAssertEqual(g.parameters.scale[0], (squares / Double(2 * n) / tau).squareRoot(), accuracy: 1e-12)

        // laplace with the scale fixed: the centre is the median of each dimension.
        let l = try fit(x, d: 2, FitOptions(kernel: .laplace, components: 1, scaleShape: .shared,
                                              learn: [.means], maxIterations: 2000, tolerance: 1e-15,
                                              initialization: .given,
                                              initial: MixtureParameters(mu: [0, 0], scale: [1], logw: [0])))
        for i in 0..<2 {
            let sorted = (0..<n).map { x[$0 * 2 + i] }.sorted()
            XCTAssertEqual(l.parameters.mu[i], sorted[n / 2], accuracy: 2e-3)
        }

        // cosine: from a start within 90° of it, one step lands on the normalised mean direction Σ x̂ / ‖Σ x̂‖.
        let c = try fit(x, d: 2, FitOptions(kernel: .cosine, components: 1, maxIterations: 1,
                                              tolerance: 0, initialization: .given,
                                              initial: MixtureParameters(mu: [1, 0.3], logw: [0])))
        var direction = [0.0, 0.0]
        for row in 0..<n {
            let norm = hypot(x[row * 2], x[row * 2 + 1])
            for i in 0..<2 { direction[i] += x[row * 2 + i] / norm }
        }
        let length = hypot(direction[0], direction[1])
        XCTAssertLessThan(maxDifference(c.parameters.mu, direction.map { $0 / length }), 1e-12)
    }

    // Student-t, huber, pseudo_huber: the fitted centre is a stationary point of the plainly
    // written objective, checked by central finite differences.
    func testRobustCentresAreStationary() throws {
        var data = FitData(seed: 8)
        var x: [Double] = []
        for _ in 0..<300 { x.append(1 + data.normal()) }
        for _ in 0..<30 { x.append(15 + data.normal()) }
        let rhos: [(Kernel, (Double) -> Double)] = [
            (.studentT, { log(1 + $0 * $0 / 2) }),
            (.huber, { abs($0) <= 1.5 ? $0 * $0 / 2 : 1.5 * (abs($0) - 0.75) }),
            (.pseudoHuber, { 1.5 * 1.5 * ((1 + ($0 / 1.5) * ($0 / 1.5)).squareRoot() - 1) }),
        ]
        for (kernel, rho) in rhos {
            let options = FitOptions(kernel: kernel, components: 1, nu: 2, delta: 1.5, tau: 1,
                                     learn: [.means], maxIterations: 100, tolerance: 0,
                                     initialization: .given,
                                     initial: MixtureParameters(mu: [4], scale: [1], logw: [0]))
            let mu = try fit(x, d: 1, options).parameters.mu[0]
            func objective(_ m: Double) -> Double { -x.reduce(0) { $0 + rho($1 - m) } }
            let h = 1e-5
            let slope = (objective(mu + h) - objective(mu - h)) / (2 * h)
            // Rounding in the difference quotient is ~1e-16·330/1e-5; truncation ~h²·330.
            XCTAssertLessThan(abs(slope), 1e-6, kernel.name)
            XCTAssertLessThan(abs(mu - 1), 0.3, kernel.name)   // the outliers barely pull it
        }
    }

    func testDeterministicWhateverTheThreadCount() throws {
        let x = threeClusters(seed: 2, perCluster: 700)
        var results: [FitResult] = []
        for threads in [1, 2, 3] {
            Threads.count = threads
            results.append(try fit(x, d: 2, FitOptions(kernel: .studentT, components: 3, nu: 2,
                                                        maxIterations: 10, restarts: 2, seed: 42)))
        }
        Threads.count = 0
        for r in results.dropFirst() {
            XCTAssertEqual(r.parameters, results[0].parameters)
            XCTAssertEqual(r.history, results[0].history)
        }
        let other = try fit(x, d: 2, FitOptions(kernel: .studentT, components: 3, nu: 2,
                                                 maxIterations: 10, restarts: 2, seed: 43))
        XCTAssertNotEqual(other.parameters.mu, results[0].parameters.mu)
    }

    func testRestartsKeepTheBest() throws {
        let x = threeClusters()
        let best = try fit(x, d: 2, FitOptions(kernel: .gaussian, components: 3, maxIterations: 30,
                                                restarts: 4, initialization: .randomPoints, seed: 5))
        // Restart r is seeded with seed + r·0x9E3779B97F4A7C15: each alone gives its own fit.
        let alone = try (0..<4).map { r in
            try fit(x, d: 2, FitOptions(kernel: .gaussian, components: 3, maxIterations: 30,
                                        initialization: .randomPoints,
                                        seed: 5 &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(r))).meanLogLikelihood
        }
        XCTAssertEqual(best.meanLogLikelihood, alone.max())
        XCTAssertEqual(best.meanLogLikelihood, alone[best.restart])
    }

    func testWarmStartContinuesAFit() throws {
        let x = threeClusters()
        let options = FitOptions(kernel: .gaussian, components: 3, scaleShape: .perDimension,
                                 maxIterations: 10, tolerance: 0, seed: 3)
        let first = try fit(x, d: 2, options)
        var warm = options
        warm.initialization = .given
        warm.initial = first.parameters
        let continued = try fit(x, d: 2, warm)
        var long = options
        long.maxIterations = 20
        let straight = try fit(x, d: 2, long)
        XCTAssertEqual(continued.history.first!, first.meanLogLikelihood, accuracy: 1e-12)
        XCTAssertLessThan(maxDifference(continued.parameters.mu, straight.parameters.mu), 1e-12)
    }

    func testEmptiedAndCollapsedComponents() throws {
        var x = threeClusters(perCluster: 50)
        // A component started far from every row empties.
        var options = FitOptions(kernel: .gaussian, components: 2, scaleShape: .perComponent,
                                 maxIterations: 5, initialization: .given,
                                 initial: MixtureParameters(mu: [2, 2, 500, 500], scale: [1, 1], logw: [0, 0]))
        var result = try fit(x, d: 2, options)
        XCTAssertEqual(result.componentStatus, [.ok, .emptied])
        XCTAssertEqual(result.parameters.mu[2], 500)
        // A component that sits on ten copies of one point collapses onto the floor.
        for _ in 0..<10 { x += [30, 30] }
        options.initial = MixtureParameters(mu: [2, 2, 30, 30], scale: [1, 1], logw: [0, 0])
        options.minScale = 1e-4
        result = try fit(x, d: 2, options)
        XCTAssertEqual(result.componentStatus, [.ok, .collapsed])
        XCTAssertEqual(result.parameters.scale[1], 1e-4)
    }

    func testBadInputIsAClearError() throws {
        let x = threeClusters(perCluster: 2)
        func status(_ body: () throws -> Void) -> (Status?, String) {
            do { try body(); return (nil, "") } catch let e as ImplicitEMError { return (e.status, e.message) } catch { return (nil, "") }
        }
        var (s, message) = status { _ = try fit(x, d: 2, FitOptions(kernel: .gaussian, components: 7)) }
        XCTAssertEqual(s, .badSize)
        XCTAssertTrue(message.contains("k"), message)
        (s, message) = status { _ = try fit(x, d: 2, FitOptions(kernel: .logistic, components: 2, normalized: true)) }
        XCTAssertEqual(s, .unsupported)
        (s, message) = status {
            _ = try fit(x, d: 2, FitOptions(kernel: .gaussian, components: 2, normalized: false, learn: [.means, .scales]))
        }
        XCTAssertEqual(s, .unsupported)
        var bad = x
        bad[5] = .nan
        (s, message) = status { _ = try fit(bad, d: 2, FitOptions(kernel: .gaussian, components: 2)) }
        XCTAssertEqual(s, .nonFiniteInput)
        XCTAssertTrue(message.contains("x[2, 1]"), message)
        (s, message) = status { _ = try fit(x, d: 2, weights: [Double](repeating: -1, count: 6), FitOptions(kernel: .gaussian, components: 2)) }
        XCTAssertEqual(s, .badParameter)
        XCTAssertTrue(message.contains("sample_weight"), message)
        (s, message) = status { _ = try fit(x, d: 2, FitOptions(kernel: .studentT, components: 2)) }
        XCTAssertEqual(s, .badParameter)
        XCTAssertTrue(message.contains("nu"), message)
        (s, message) = status { _ = try fit(x, d: 2, FitOptions(kernel: .learned, components: 2)) }
        XCTAssertEqual(s, .unsupported)
    }
}
