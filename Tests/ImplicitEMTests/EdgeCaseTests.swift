import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// Numerical edge cases with defined answers: never NaN.
final class EdgeCaseTests: XCTestCase {
    func allGradients(_ p: ProblemData) throws -> [String: [Double]] {
        var rng = SeededRNG(seed: 17)
        return try analyticGradients(p, gL: rng.array(p.n, 0.5, 1.5), gR: rng.array(p.n * p.k, -1, 1), Double.self)
    }

    func assertNoNaN(_ g: [String: [Double]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for (name, values) in g { XCTAssertFalse(values.contains { $0.isNaN }, "\(what): NaN in \(name)", file: file, line: line) }
    }

    func testFullyMaskedRow() throws {
        for kernel in Kernel.allCases {
            var p = ProblemData.random(kernel, n: 4, k: 3, d: 2, seed: 5)
            for k in 0 ..< 3 { p.logprior![1 * 3 + k] = -.infinity }
            let f = try forward(p, Double.self)
            XCTAssertEqual(f.logZ[1], -.infinity, kernel.name)
            XCTAssertEqual(Array(f.resp[3 ..< 6]), [0, 0, 0], kernel.name)
            let g = try allGradients(p)
            assertNoNaN(g, kernel.name)
            XCTAssertEqual(Array(g["logprior"]![3 ..< 6]), [0, 0, 0])
            XCTAssertEqual(Array(g["energies"]![3 ..< 6]), [0, 0, 0])
            if kernel != .learned { XCTAssertEqual(Array(g["x"]![2 ..< 4]), [0, 0]) }
        }
    }

    /// A masked component has R exactly 0, no gradient, and the rest equals the problem without it.
    func testMaskedComponent() throws {
        for kernel in Kernel.allCases {
            var p = ProblemData.random(kernel, n: 5, k: 3, d: 2, seed: 6)
            p.logw![2] = -.infinity
            let f = try forward(p, Double.self)
            for n in 0 ..< 5 { XCTAssertEqual(f.resp[n * 3 + 2], 0, kernel.name) }
            let g = try allGradients(p)
            assertNoNaN(g, kernel.name)
            XCTAssertEqual(g["logw"]![2], 0)
            if kernel != .learned { XCTAssertEqual(Array(g["mu"]![4 ..< 6]), [0, 0], kernel.name) }
        }
    }

    // logw + logprior both near −max overflow to −∞ together, yet nothing is masked: R is the softmax
    // of the true logits (below the range), not a zero row; logZ, below the range, is −∞.
    func testLogitsSumBelowTheRange() throws {
        let big = Double.greatestFiniteMagnitude
        var p = ProblemData.random(.gaussian, n: 2, k: 3, d: 2, seed: 21)
        p.logw = [-big, -big, -big]
        // Equal bases: energies of order 1 are far below one ulp of a logit near −2·max (~1e292),
        // so the logits are equal and R is uniform.
        p.logprior = [Double](repeating: -big, count: 6)
        let f = try forward(p, Double.self)
        for n in 0 ..< 2 {
            XCTAssertEqual(f.logZ[n], -.infinity)
            for j in 0 ..< 3 { XCTAssertEqual(f.resp[n * 3 + j], 1.0 / 3.0, accuracy: 1e-15) }
        }
        assertNoNaN(try allGradients(p), "logits below the range")
        // Bases 1e308 apart: exp(−1e308) is 0, so all responsibility goes to the largest base.
        p.logprior = [-1e308, -1.5e308, -big, -1e308, -big, -big]
        let g = try forward(p, Double.self)
        XCTAssertEqual(Array(g.resp[0 ..< 3]), [1, 0, 0])
        XCTAssertEqual(Array(g.resp[3 ..< 6]), [1, 0, 0])
    }

    func testHugeLogitsAndTinyTemperature() throws {
        var p = ProblemData.random(.gaussian, n: 4, k: 3, d: 2, seed: 7)
        p.logw = [1e300, -1e300, 1e300]
        p.logprior = nil
        let f = try forward(p, Double.self)
        XCTAssertTrue(f.logZ.allSatisfy { $0.isFinite })
        for n in 0 ..< 4 { XCTAssertEqual(f.resp[n * 3 + 1], 0) }
        assertNoNaN(try allGradients(p), "huge logits")

        var t = ProblemData.random(.laplace, n: 6, k: 3, d: 2, seed: 8)
        t.tau = 1e-300
        let ft = try forward(t, Double.self)
        XCTAssertTrue(ft.logZ.allSatisfy { $0.isFinite }, "\(ft.logZ)")
        for n in 0 ..< 6 {
            let row = Array(ft.resp[(n * 3) ..< (n * 3 + 3)])
            let nearest = (0 ..< 3).min { ft.energies[n * 3 + $0] < ft.energies[n * 3 + $1] }!
            XCTAssertEqual(row[nearest], 1)
            XCTAssertEqual(row.reduce(0, +), 1)
        }
        let g = try allGradients(t)
        for name in ["x", "mu", "logw", "logprior"] { XCTAssertFalse(g[name]!.contains { $0.isNaN }, name) }
    }

    /// Energies that overflow to +∞ are their limit: R on the smallest log-energy.
    func testExponentialOverflow() throws {
        var p = ProblemData(kernel: .exponential, n: 3, k: 3, d: 2)
        p.mu = [0, -5, 3, 0, -3, 0]
        // Row 0: every energy overflows; log d = 900, 897, 903: the centre (3, 0) takes it all.
        // Row 1: log d = 905, 900, 900 (by symmetry): split equally between (3, 0) and (−3, 0).
        // Row 2: ordinary.
        p.x = [900, 1, 0, 900, 0.5, 0.2]
        p.logw = [0, 0.5, -0.25]
        let f = try forward(p, Double.self)
        XCTAssertEqual(Array(f.resp[0 ..< 3]), [0, 1, 0])
        XCTAssertEqual(Array(f.resp[3 ..< 6]), [0, 0.5, 0.5])
        XCTAssertEqual(f.logZ[0], -.infinity)
        XCTAssertTrue(f.logZ[2].isFinite)
        XCTAssertEqual(f.energies[0], .infinity)
        let g = try allGradients(p)
        assertNoNaN(g, "exponential overflow")
        XCTAssertEqual(Array(g["x"]![0 ..< 4]), [0, 0, 0, 0])
        XCTAssertEqual(Array(g["logprior"]![0 ..< 6]), [0, 0, 0, 0, 0, 0])

        // One component overflows, the others do not: it simply gets R = 0.
        var q = ProblemData(kernel: .exponential, n: 1, k: 2, d: 1)
        q.mu = [0, 1000]
        q.x = [0.5]
        let fq = try forward(q, Double.self)
        XCTAssertEqual(fq.resp, [1, 0])
        assertNoNaN(try allGradients(q), "partial overflow")

        // float32 overflows much earlier (e^89).
        var s = p
        s.x = [100, 1, 0, 100, 0.5, 0.2]
        let f32 = try forward(s, Float.self)
        XCTAssertEqual(Array(f32.resp[0 ..< 3]), [0, 1, 0])
        XCTAssertEqual(Array(f32.resp[3 ..< 6]), [0, 0.5, 0.5])
        XCTAssertFalse(f32.logZ.contains { $0.isNaN })
    }

    func testCosineZeroVectors() throws {
        var p = ProblemData(kernel: .cosine, n: 2, k: 2, d: 3)
        p.x = [0, 0, 0, 1, 2, -1]
        p.mu = [1, 0, 1, 0, 0, 0]
        let f = try forward(p, Double.self)
        XCTAssertEqual(Array(f.energies[0 ..< 2]), [1, 1])
        XCTAssertEqual(f.energies[3], 1)
        let g = try allGradients(p)
        assertNoNaN(g, "cosine")
        XCTAssertEqual(Array(g["x"]![0 ..< 3]), [0, 0, 0])
        XCTAssertEqual(Array(g["mu"]![3 ..< 6]), [0, 0, 0])
    }

    func testHuberAtTheJoin() throws {
        var p = ProblemData(kernel: .huber, n: 2, k: 2, d: 1)
        p.delta = 0.75
        p.mu = [0, 1]
        p.scale = [2]
        p.x = [1.5, -0.5]  // u = 0.75 = δ for component 0, u = −0.75 for component 1
        let f = try forward(p, Double.self)
        XCTAssertEqual(f.energies[0], 0.75 * 0.75 / 2)
        XCTAssertEqual(f.energies[3], 0.75 * 0.75 / 2)
        let gL = [1.0, 0.7], gR = [0.3, -0.2, 0.1, 0.4]
        let g = try analyticGradients(p, gL: gL, gR: gR, Double.self)
        // ρ is only C¹ at the join, so a plain central difference with a small step (error O(h)).
        for i in 0 ..< 2 {
            let h = 1e-7
            var plus = p, minus = p
            plus.x![i] += h
            minus.x![i] -= h
            let fd = (try objective(plus, gL: gL, gR: gR) - objective(minus, gL: gL, gR: gR)) / (2 * h)
            assertClose(g["x"]![i], fd, rel: 1e-6, floor: 1e-3, "x[\(i)]")
        }
    }

    func testLogisticFarOut() throws {
        var p = ProblemData(kernel: .logistic, n: 2, k: 1, d: 1)
        p.mu = [0]
        p.x = [1000, -1000]
        let f = try forward(p, Double.self)
        XCTAssertEqual(f.energies[0], 0)
        XCTAssertEqual(f.energies[1], 1000)
        let g = try allGradients(p)
        assertNoNaN(g, "logistic")
        XCTAssertTrue(g["x"]!.allSatisfy { $0.isFinite })
    }

    func testStudentTExtremeShapes() throws {
        for nu in [1e-300, 1e300] {
            var p = ProblemData(kernel: .studentT, n: 3, k: 2, d: 1)
            p.mu = [0, 2]
            p.x = [0.5, 1e-200, 1e200]
            p.nu = nu
            let f = try forward(p, Double.self)
            XCTAssertTrue(f.energies.allSatisfy { $0.isFinite }, "nu = \(nu): \(f.energies)")
            // ρ(0.5) = log(1 + 0.25/ν), written out differently for each end.
            let expected = nu < 1 ? Glibc.log(0.25) - Glibc.log(nu) : 0.25 / nu
            assertClose(f.energies[0], expected, rel: 1e-14, "ρ(0.5) with nu = \(nu)")
            let g = try allGradients(p)
            assertNoNaN(g, "nu = \(nu)")
            XCTAssertTrue(g["nu"]![0].isFinite)
        }
    }

    func testFloat32NearItsLimits() throws {
        for kernel in Kernel.allCases where kernel != .learned {
            var p = ProblemData.random(kernel, n: 4, k: 3, d: 2, seed: 9)
            p.x = [3e38, -3e38, 1e-38, 1e-45, 1e30, -1e30, 0, 0]
            p.logprior = nil
            let f = try forward(p.roundedToFloat(), Float.self)
            XCTAssertFalse(f.logZ.contains { $0.isNaN }, "\(kernel.name) logZ \(f.logZ)")
            XCTAssertFalse(f.resp.contains { $0.isNaN }, "\(kernel.name) resp \(f.resp)")
            for n in 0 ..< 4 where f.logZ[n] > -.infinity || f.resp[(n * 3) ..< (n * 3 + 3)].reduce(0, +) > 0 {
                XCTAssertEqual(f.resp[(n * 3) ..< (n * 3 + 3)].reduce(0, +), 1, accuracy: 1e-6, "\(kernel.name) row \(n)")
            }
            let g = try analyticGradients(p.roundedToFloat(), gL: nil, gR: nil, Float.self)
            for name in ["logw", "logprior", "energies"] {
                XCTAssertFalse(g[name]!.contains { $0.isNaN }, "\(kernel.name) \(name)")
            }
        }
    }

    /// A scale whose inverse overflows (subnormal) is divided by, not multiplied with its inverse.
    func testSubnormalScale() throws {
        var p = ProblemData(kernel: .gaussian, n: 2, k: 2, d: 1)
        let tiny = Double.leastNormalMagnitude / 8  // 1/tiny overflows
        XCTAssertEqual(1 / tiny, .infinity)
        p.mu = [0, 1.5 * tiny]
        p.x = [tiny, tiny]
        p.scaleShape = .perComponent
        p.scale = [tiny, 1]
        let f = try forward(p, Double.self)
        XCTAssertEqual(f.energies[0], 0.5, accuracy: 1e-6)
        assertNoNaN(try allGradients(p), "subnormal scale")
    }

    /// Gaussian and mahalanobis energies that overflow still pick the nearest centre.
    func testQuadraticOverflowPicksTheNearestCentre() throws {
        var g = ProblemData(kernel: .gaussian, n: 1, k: 3, d: 2)
        g.mu = [0, 0, 1, 0, 2e153, 0]
        g.x = [3e154, 1e154]
        g.scale = [0.5]
        let f = try forward(g, Double.self)
        XCTAssertEqual(f.energies, [.infinity, .infinity, .infinity])
        XCTAssertEqual(f.resp, [0, 0, 1])
        var m = ProblemData(kernel: .mahalanobis, n: 1, k: 2, d: 2)
        m.mu = [0, 0, 5e153, 5e153]
        m.x = [1e155, 1e155]
        m.chol = [3, 0, 0, 3, 1, 0, 0, 1]
        let fm = try forward(m, Double.self)
        XCTAssertEqual(fm.resp, [0, 1])  // ‖x‖·3 > ‖x − mu‖·1
        var f32 = g
        f32.mu = [0, 0, 1, 0, 2e18, 0]
        f32.x = [3e19, 1e19]
        XCTAssertEqual(try forward(f32, Float.self).resp, [0, 0, 1])
    }

    /// L_kᵀe with L near the range limit: L00·e0 + L10·e1 = −6e308 + 6e308 overflows to ∞ − ∞ in
    /// the plain sum, while y = (0, −6) and d = 36 exactly.
    func testMahalanobisNearTheRangeLimit() throws {
        var p = ProblemData(kernel: .mahalanobis, n: 1, k: 2, d: 2)
        p.x = [-6, -6]
        p.mu = [0, 0, 0, 0]
        p.chol = [1e308, 0, -1e308, 1, 1, 0, 0, 1]  // component 1: the identity, d = 72
        let f = try forward(p, Double.self)
        XCTAssertEqual(f.energies, [36, 72])
        let r0 = 1 / (1 + Glibc.exp(-36.0)), r1 = Glibc.exp(-36.0) / (1 + Glibc.exp(-36.0))
        assertClose(f.resp[0], r0, rel: 1e-15, "r0")
        // Objective logZ (gL = 1, gR = 0): ∂/∂x = −Σ_k r_k·2·L_k·y_k with y_0 = (0, −6), y_1 = x.
        let g = try analyticGradients(p, gL: [1], gR: [0, 0], Double.self)
        assertNoNaN(g, "mahalanobis near the limit")
        assertClose(g["x"]![0], -(r1 * 2 * -6), rel: 1e-13, "x[0]")
        assertClose(g["x"]![1], -(r0 * 2 * -6 + r1 * 2 * -6), rel: 1e-13, "x[1]")
        // ∂d_0/∂L_ij = 2·e_i·y_j: only y_1 = −6 is nonzero, so only L11 gets 2·(−6)·(−6)·(−r0).
        assertClose(g["chol"]![3], -r0 * 72, rel: 1e-13, "chol[0, 1, 1]")
        XCTAssertEqual(g["chol"]![0], 0)
        XCTAssertEqual(g["chol"]![2], 0)

        // L11 = 1e308 too: y_1 = −6e308, so d_0 = +∞ (its limit) and component 1 takes the row.
        p.chol![3] = 1e308
        let fo = try forward(p, Double.self)
        XCTAssertEqual(fo.energies, [.infinity, 72])
        XCTAssertEqual(fo.resp, [0, 1])
        assertNoNaN(try analyticGradients(p, gL: [1], gR: [0, 0], Double.self), "overflowing energy")
        // float32: the same with L = 3e38.
        p.chol = [3e38, 0, -3e38, 1, 1, 0, 0, 1]
        let f32 = try forward(p, Float.self)
        XCTAssertEqual(f32.energies, [36, 72])
        assertNoNaN(try analyticGradients(p, gL: [1], gR: [0, 0], Float.self), "float32")
    }

    /// A statistic's term is exactly 0 where x_m = 0, even when w·r·x_i overflows; terms that
    /// overflow with both signs sum to 0 (the documented rule; here also the exact value).
    func testStatsNearTheRangeLimit() throws {
        var p = ProblemData(kernel: .gaussian, n: 2, k: 1, d: 2)
        p.x = [1.7e308, 0, 1e200, -1e200]
        p.mu = [0, 0]
        p.scale = [1]
        let pool = Pool()
        let sumR = pool.output(1, as: Double.self), sumRX = pool.output(2, as: Double.self)
        let sumRXX = pool.output(4, as: Double.self)
        // Row 0 has weight 2: w·x_0 = 3.4e308 overflows and x_1 = 0.
        try Engine.stats(p.problem(pool, Double.self), weights: pool.input([2, 1], as: Double.self),
                         sumR: sumR, sumRX: sumRX, sumRXX: sumRXX)
        XCTAssertEqual(doubles(sumR), [3])
        XCTAssertEqual(doubles(sumRX), [.infinity, -1e200])
        // (0,0): 2·1.7e308² + 1e400 = +∞; (0,1) and (1,0): 0 + (−1e400); (1,1): 1e400.
        XCTAssertEqual(doubles(sumRXX), [.infinity, -.infinity, -.infinity, .infinity])

        p.x = [1e200, 1e200, 1e200, -1e200]  // x_0·x_1 = +1e400 and −1e400
        let both = pool.output(4, as: Double.self)
        try Engine.stats(p.problem(pool, Double.self), weights: nil, sumR: nil, sumRX: nil, sumRXX: both)
        XCTAssertEqual(doubles(both), [.infinity, 0, 0, .infinity])
    }

    /// A subnormal τ: −δ/τ overflows, and a dimension with ρ′ = 0 (x = mu) still gets exactly 0.
    /// d_0 ≈ 5e−9 keeps d_0/τ finite, so the row is regular with r = (1, 0).
    func testTinyTemperatureZeroDerivative() throws {
        for kernel in [Kernel.gaussian, .studentT, .huber, .pseudoHuber, .mahalanobis] {
            var p = ProblemData(kernel: kernel, n: 1, k: 2, d: 2)
            p.x = [0.5, 1e-4]
            p.mu = [0.5, 0, 3, 3]
            if kernel == .mahalanobis { p.chol = [1, 0, 0, 1, 1, 0, 0, 1] } else { p.scale = [1] }
            p.nu = 2
            p.delta = 1
            p.tau = 1e-45  // float32's smallest subnormal
            let g = try analyticGradients(p, gL: [1], gR: [0, 0], Float.self)
            assertNoNaN(g, "\(kernel.name) tau = 1e-45")
            // Objective logZ: ∂/∂x = −(1/τ)·∂d_0/∂x, with ∂d_0/∂x_0 = 0 and ∂d_0/∂x_1 > 0.
            XCTAssertEqual(Array(g["x"]!), [0, -.infinity], kernel.name)
            XCTAssertEqual(Array(g["mu"]![0 ..< 2]), [0, .infinity], kernel.name)
            XCTAssertEqual(Array(g["mu"]![2 ..< 4]), [0, 0], kernel.name)
        }
    }

    /// Per-row terms of τ's gradient that overflow with both signs: Σ_n gL_n·d_n/τ² is
    /// 1.7e308·2 − 1.7e308·2, +∞ − ∞ in floating point; the documented answer is 0 (here also
    /// the exact one). mu's terms gL_n·x_n/(τs²) overflow with one sign: their limit, +∞.
    func testSharedGradientOverflowingWithBothSigns() throws {
        var p = ProblemData(kernel: .gaussian, n: 2, k: 1, d: 1)
        p.x = [2, -2]
        p.mu = [0]
        p.scale = [1]
        let g = try analyticGradients(p, gL: [1.7e308, -1.7e308], gR: nil, Double.self)
        assertNoNaN(g, "both signs")
        XCTAssertEqual(g["tau"]!, [0])
        XCTAssertEqual(g["mu"]!, [.infinity])
    }

    /// A subnormal cosine centre: ∂d/∂mu = −(x̂ − c·mû)/‖mu‖ overflows; one row gives its limit,
    /// two mirrored rows give +∞ − ∞, 0 by the documented rule (and exactly 0 by symmetry).
    func testCosineSubnormalCentre() throws {
        var p = ProblemData(kernel: .cosine, n: 1, k: 1, d: 2)
        p.x = [1, 0]
        p.mu = [5e-324, -5e-324]
        // x̂ − c·mû = (0.5, 0.5); with K = 1, r = 1 and ∂logZ/∂d = −1.
        let one = try analyticGradients(p, gL: [1], gR: [0], Double.self)
        XCTAssertEqual(one["mu"]!, [.infinity, .infinity])
        p.n = 2
        p.x = [1, 0, -1, 0]
        let two = try analyticGradients(p, gL: [1, 1], gR: [0, 0], Double.self)
        assertNoNaN(two, "mirrored rows")
        XCTAssertEqual(two["mu"]!, [0, 0])
    }

    /// float32 huber at its limit: z + m overflows in float32 but (z + m)/s = −2 exactly, and
    /// 2τ overflows but t = (ρ(−2) − ρ(0))/(2τ) = 1/τ does not.
    func testActivationAtTheFloat32Limit() throws {
        let big = Double(Float.greatestFiniteMagnitude)
        let pool = Pool()
        let act = pool.output(1, as: Float.self), dact = pool.output(1, as: Float.self)
        try Engine.activation(kernel: .huber, z: pool.input([-big], as: Float.self)!, m: Float(-big), scale: Float(big),
                              nu: 0, delta: Float(big), tau: Float(big), act: act, dact: dact)
        XCTAssertEqual(act[0], Float(Glibc.tanh(1 / big)))
        XCTAssertEqual(dact[0], 0)  // −2/(2τs) ≈ −1.7e−77 underflows
    }

    /// A huge δ: ρ(u₋) and ρ(u₊) both overflow while their difference has a sign.
    /// pseudo_huber: u₋ ≈ 1.01e202, u₊ ≈ −9.9e201, δ = 1e200: ρ(u₋) − ρ(u₊) = δ²(q₋ − q₊) ≈ 1.4e398 > 0.
    /// huber: u₋ = 1e199 inside, u₊ = −2e200 outside: ρ(u₋) − ρ(u₊) ≈ −1e400.
    func testActivationWithBothPenaltiesOverflowing() throws {
        let pool = Pool()
        let act = pool.output(2, as: Double.self)
        try Engine.activation(kernel: .pseudoHuber, z: pool.input([1, 2.220446049250313e-16], as: Double.self)!, m: 100,
                              scale: 1e-200, nu: 0, delta: 1e200, tau: 3.4e38, act: act, dact: nil)
        XCTAssertEqual(doubles(act), [1, 1])
        let one = pool.output(1, as: Double.self)
        try Engine.activation(kernel: .huber, z: pool.input([-0.95], as: Double.self)!, m: 1.05,
                              scale: 1e-200, nu: 0, delta: 1e200, tau: 1, act: one, dact: nil)
        XCTAssertEqual(one[0], -1)
    }

    /// The smallest subnormal scale: residuals of 0 and of ±∞, never NaN, rows still sum to 1.
    func testSmallestScale() throws {
        for kernel in [Kernel.gaussian, .laplace, .logistic, .studentT, .huber, .pseudoHuber, .exponential] {
            for centre in [0.0, 1.0] {
                var p = ProblemData(kernel: kernel, n: 2, k: 1, d: 1)
                p.x = [0, 0]
                p.mu = [centre]
                p.scale = [Double.leastNonzeroMagnitude]
                p.nu = 2
                p.delta = 1
                let f = try forward(p, Double.self)
                XCTAssertEqual(f.resp, [1, 1], "\(kernel.name) mu = \(centre)")
                let g = try allGradients(p)
                for name in ["scale", "logw", "tau", "nu", "delta", "logprior", "energies"] {
                    XCTAssertFalse(g[name]!.contains { $0.isNaN }, "\(kernel.name) mu = \(centre): NaN in \(name)")
                }
            }
        }
    }
}
