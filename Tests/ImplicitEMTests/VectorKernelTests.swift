import XCTest
@testable import ImplicitEM

/// The vectorised separable kernels: D wide enough for whole vectors (8 doubles, 16 floats)
/// plus a scalar tail, against the plain formulas of KERNELS.md and central differences.
final class VectorKernelTests: XCTestCase {
    static let kernels: [Kernel] = [.gaussian, .laplace, .logistic, .studentT, .huber, .pseudoHuber, .exponential]
    /// Body only, body + tail, two bodies + tail (float64); one and two float vectors + tail.
    static let widths = [16, 21, 37]

    static func problems(_ kernel: Kernel, d: Int) -> [ProblemData] {
        var list = ScaleShape.allCases.map { ProblemData.random(kernel, shape: $0, n: 4, k: 3, d: d, seed: UInt64(d)) }
        var unscaled = ProblemData.random(kernel, shape: .shared, n: 4, k: 3, d: d, seed: 11)
        unscaled.scale = nil
        list.append(unscaled)
        return list
    }

    func testWideEnergiesMatchPlainFormulas() throws {
        for kernel in Self.kernels {
            for d in Self.widths {
                for p in Self.problems(kernel, d: d) {
                    let e64 = try forward(p, Double.self).energies
                    let p32 = p.roundedToFloat()
                    let e32 = try forward(p32, Float.self).energies
                    for n in 0 ..< p.n {
                        for k in 0 ..< p.k {
                            let label = "\(kernel.name) d=\(d) shape=\(p.scaleShape) scale=\(p.scale != nil) [\(n),\(k)]"
                            assertClose(e64[n * p.k + k], EngineForwardTests.plainEnergy(p, n, k), rel: 1e-13, floor: 1e-12, label)
                            assertClose(e32[n * p.k + k], EngineForwardTests.plainEnergy(p32, n, k), rel: 1e-5, floor: 1e-5, label)
                        }
                    }
                }
            }
        }
    }

    /// Every gradient in float64 against central differences; float32 against float64.
    func testWideGradients() throws {
        for kernel in Self.kernels {
            for p in Self.problems(kernel, d: 21) {
                var rng = SeededRNG(seed: 3)
                let gL = rng.array(p.n, 0.2, 1.5)
                let gR = rng.array(p.n * p.k, -1, 1)
                let g = try analyticGradients(p, gL: gL, gR: gR, Double.self)
                let p32 = p.roundedToFloat()
                let g32 = try analyticGradients(p32, gL: gL, gR: gR, Float.self)
                let g64 = try analyticGradients(p32, gL: gL, gR: gR, Double.self)
                let label = "\(kernel.name) shape=\(p.scaleShape) scale=\(p.scale != nil)"
                try assertMatchesDifferences(p, g, EngineGradientTests.parameters(kernel), gL: gL, gR: gR, label)
                for name in EngineGradientTests.parameters(kernel) {
                    guard let a32 = g32[name], let a64 = g64[name] else { continue }
                    let norm64 = a64.map(abs).max() ?? 0
                    for i in 0 ..< a64.count {
                        assertClose(a32[i], a64[i], rel: 1e-3, floor: 1e-3 * norm64, "\(label) float32 d/d\(name)[\(i)]")
                    }
                }
            }
        }
    }

    /// Lanes far out (|u|/δ above 1/ulp) next to ordinary ones: pseudo_huber's linear branch
    /// and huber's outer branch inside a vector, energies and gradients finite.
    func testFarOutLanes() throws {
        for kernel in [Kernel.huber, .pseudoHuber, .gaussian, .laplace, .studentT] {
            var p = ProblemData.random(kernel, shape: .perDimension, n: 4, k: 2, d: 19, seed: 5)
            p.x![3] = 1e20
            p.x![19 + 10] = -3e19
            let e = try forward(p, Double.self).energies
            for n in 0 ..< p.n {
                for k in 0 ..< p.k {
                    let truth = EngineForwardTests.plainEnergy(p, n, k)
                    assertClose(e[n * p.k + k], truth, rel: 1e-13, "\(kernel.name) far out [\(n),\(k)]")
                }
            }
            let g = try analyticGradients(p, gL: nil, gR: nil, Double.self)
            for name in ["x", "mu", "scale"] {
                XCTAssertFalse(g[name]!.contains { !$0.isFinite }, "\(kernel.name) \(name) gradient")
            }
        }
    }

    /// Rows go through the vector loops in pairs: an odd N leaves a row that waits for
    /// `finish`, masked components have zero coefficients, and K = 10 fills one and a half
    /// vectors of doubles (a float vector holds all ten). Every gradient against central
    /// differences.
    func testRowPairs() throws {
        for kernel in Self.kernels {
            for shape in ScaleShape.allCases {
                var p = ProblemData.random(kernel, shape: shape, n: 7, k: 10, d: 5, seed: 17)
                var logprior = p.logprior ?? [Double](repeating: 0, count: p.n * p.k)
                for j in 0 ..< 8 { logprior[4 * p.k + j] = -.infinity }
                logprior[1 * p.k + 9] = -.infinity
                p.logprior = logprior
                var rng = SeededRNG(seed: 9)
                let gL = rng.array(p.n, 0.2, 1.5)
                let gR = rng.array(p.n * p.k, -1, 1)
                let g = try analyticGradients(p, gL: gL, gR: gR, Double.self)
                try assertMatchesDifferences(p, g, EngineGradientTests.parameters(kernel).filter { $0 != "logprior" },
                                             gL: gL, gR: gR, "\(kernel.name) shape=\(shape)")
            }
        }
    }

    /// Each named gradient against float64 central differences of the objective.
    func assertMatchesDifferences(_ p: ProblemData, _ g: [String: [Double]], _ names: [String],
                                  gL: [Double], gR: [Double], _ label: String) throws {
        for name in names {
            guard let analytic = g[name], let values = p.values(name) ?? (name == "scale" ? [1] : nil) else {
                XCTFail("\(label): no gradient for \(name)")
                continue
            }
            let norm = analytic.map(abs).max() ?? 0
            for i in 0 ..< values.count {
                let fd = try centralDifference(p, name, i, gL: gL, gR: gR)
                assertClose(analytic[i], fd, rel: 1e-6, floor: 1e-3 * norm, "\(label) d/d\(name)[\(i)]")
            }
        }
    }

    /// A subnormal δ, whose reciprocal overflows in float32: w = u/δ is then divided, not
    /// multiplied, so u = 0 gives ρ = 0 rather than 0·∞.
    func testPseudoHuberWithSubnormalDelta() throws {
        var p = ProblemData.random(.pseudoHuber, shape: .perDimension, n: 4, k: 3, d: 16, seed: 31)
        p.delta = Double(Float.leastNonzeroMagnitude)
        for i in 0 ..< p.d { p.mu![i] = p.x![i] }  // row 0 sits on centre 0
        let p32 = p.roundedToFloat()
        let e32 = try forward(p32, Float.self)
        for n in 0 ..< p.n {
            for k in 0 ..< p.k {
                assertClose(e32.energies[n * p.k + k], EngineForwardTests.plainEnergy(p32, n, k), rel: 1e-5, floor: 1e-30,
                            "pseudo_huber δ = \(p.delta) [\(n),\(k)]")
            }
        }
        XCTAssertEqual(e32.energies[0], 0)
        XCTAssertFalse(e32.logZ.contains { $0.isNaN })
    }

    /// student_t's energy as one log1p of Π(1 + w²) − 1: exact to the last digits for a row a
    /// hair from its centre (d ≈ Σ w² ≈ 1e-18) and for ordinary rows, against the plain sum.
    func testStudentTProductForm() throws {
        var p = ProblemData.random(.studentT, shape: .perDimension, n: 6, k: 9, d: 16, seed: 41)
        for i in 0 ..< p.d { p.x![i] = p.mu![i] + 1e-9 * Double(i + 1) }
        // Σ_i log1p(u_i²/ν) in float64 (a plain log(1 + u²/ν) rounds such tiny terms away).
        func truth(_ q: ProblemData, _ n: Int, _ k: Int) -> Double {
            (0 ..< q.d).reduce(0.0) { sum, i in
                let u = (q.x![n * q.d + i] - q.mu![k * q.d + i]) / q.scale![k * q.d + i]
                return sum + Double.log1p(u * u / q.nu)
            }
        }
        let e = try forward(p, Double.self).energies
        let p32 = p.roundedToFloat()
        let e32 = try forward(p32, Float.self).energies
        for n in 0 ..< p.n {
            for k in 0 ..< p.k {
                assertClose(e[n * p.k + k], truth(p, n, k), rel: 1e-13, "student_t [\(n),\(k)]")
                assertClose(e32[n * p.k + k], truth(p32, n, k), rel: 1e-5, "student_t float32 [\(n),\(k)]")
            }
        }
    }

    /// logistic's energy as Σ max(−u, 0) + one log1p of Π(1 + e^(−|u|)) − 1, in blocks of
    /// dimensions: rows a hair from their centre, ordinary rows and rows far out (where the
    /// e^(−|u|) are tiny and the product keeps their digits), and D long enough for several
    /// blocks in both precisions, against the plain sum of log1p(e^(−|u|)) in float64.
    func testLogisticProductForm() throws {
        func truth(_ q: ProblemData, _ n: Int, _ k: Int) -> Double {
            (0 ..< q.d).reduce(0.0) { sum, i in
                let u = (q.x![n * q.d + i] - q.mu![k * q.d + i]) / q.scale![k * q.d + i]
                return sum + max(-u, 0) + Double.log1p(Double.exp(-abs(u)))
            }
        }
        for d in [16, 37, 250, 2100] {
            var p = ProblemData.random(.logistic, shape: .perDimension, n: 6, k: 9, d: d, seed: UInt64(d))
            for i in 0 ..< p.d {
                p.x![i] = p.mu![i] + 1e-9 * Double(i % 7 + 1)                   // row 0 at centre 0
                p.x![p.d + i] = p.mu![p.d + i] + (i % 2 == 0 ? 40 : -35)        // row 1 far from centre 1
                p.x![2 * p.d + i] = 25 * Double(i % 3) - 20                      // row 2 far from all
            }
            let e = try forward(p, Double.self).energies
            let p32 = p.roundedToFloat()
            let e32 = try forward(p32, Float.self).energies
            for n in 0 ..< p.n {
                for k in 0 ..< p.k {
                    assertClose(e[n * p.k + k], truth(p, n, k), rel: 1e-13, "logistic d=\(d) [\(n),\(k)]")
                    assertClose(e32[n * p.k + k], truth(p32, n, k), rel: 1e-5, "logistic float32 d=\(d) [\(n),\(k)]")
                }
            }
        }
    }

    /// A row far enough out that its u could overflow takes the scalar backward between
    /// paired rows; the gradients equal the sums of the rows' gradients computed one by one.
    func testFarRowBetweenPairs() throws {
        for kernel in [Kernel.gaussian, .laplace, .huber, .pseudoHuber, .logistic, .exponential] {
            var p = ProblemData.random(kernel, shape: .perDimension, n: 5, k: 4, d: 3, seed: 23)
            p.x![2 * p.d] = 1e308           // row 2, dimension 0
            p.scale![3 * p.d] = 1e308       // component 3 sees it at u ≈ 1; the others overflow
            let whole = try analyticGradients(p, gL: nil, gR: nil, Double.self)
            var sums: [String: [Double]] = [:]
            for n in 0 ..< p.n {
                var row = p
                row.n = 1
                row.x = Array(p.x![n * p.d ..< (n + 1) * p.d])
                row.logprior = p.logprior.map { Array($0[n * p.k ..< (n + 1) * p.k]) }
                let g = try analyticGradients(row, gL: nil, gR: nil, Double.self)
                for name in ["mu", "scale", "logw"] {
                    let v = g[name]!
                    sums[name] = zip(sums[name] ?? [Double](repeating: 0, count: v.count), v).map { $0 + $1 }
                }
                for (i, v) in g["x"]!.enumerated() {
                    assertClose(whole["x"]![n * p.d + i], v, rel: 1e-14, floor: 1e-300, "\(kernel.name) x[\(n),\(i)]")
                }
            }
            for name in ["mu", "scale", "logw"] {
                XCTAssertFalse(whole[name]!.contains { !$0.isFinite }, "\(kernel.name) \(name) finite")
                for (i, v) in sums[name]!.enumerated() {
                    assertClose(whole[name]![i], v, rel: 1e-12, floor: 1e-12, "\(kernel.name) \(name)[\(i)]")
                }
            }
        }
    }

    /// Cosine over wide D: dot products and gradient updates in vectors plus a tail.
    func testWideCosine() throws {
        for d in Self.widths {
            let p = ProblemData.random(.cosine, n: 4, k: 3, d: d, seed: UInt64(d))
            let e64 = try forward(p, Double.self).energies
            let p32 = p.roundedToFloat()
            let e32 = try forward(p32, Float.self).energies
            for n in 0 ..< p.n {
                for k in 0 ..< p.k {
                    assertClose(e64[n * p.k + k], EngineForwardTests.plainEnergy(p, n, k), rel: 1e-13, floor: 1e-13, "cosine d=\(d) [\(n),\(k)]")
                    assertClose(e32[n * p.k + k], EngineForwardTests.plainEnergy(p32, n, k), rel: 1e-5, floor: 1e-5, "cosine f32 d=\(d) [\(n),\(k)]")
                }
            }
            var rng = SeededRNG(seed: 4)
            let gL = rng.array(p.n, 0.2, 1.5)
            let gR = rng.array(p.n * p.k, -1, 1)
            let g = try analyticGradients(p, gL: gL, gR: gR, Double.self)
            let g32 = try analyticGradients(p32, gL: gL, gR: gR, Float.self)
            let g64 = try analyticGradients(p32, gL: gL, gR: gR, Double.self)
            for name in ["x", "mu"] {
                let analytic = g[name]!, norm = analytic.map(abs).max() ?? 0
                for i in 0 ..< analytic.count {
                    let fd = try centralDifference(p, name, i, gL: gL, gR: gR)
                    assertClose(analytic[i], fd, rel: 1e-6, floor: 1e-3 * norm, "cosine d=\(d) d/d\(name)[\(i)]")
                }
                let norm64 = g64[name]!.map(abs).max() ?? 0
                for i in 0 ..< analytic.count {
                    assertClose(g32[name]![i], g64[name]![i], rel: 1e-3, floor: 1e-3 * norm64, "cosine f32 d=\(d) d/d\(name)[\(i)]")
                }
            }
        }
    }
}
