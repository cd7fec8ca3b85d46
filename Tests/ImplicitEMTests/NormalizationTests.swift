import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// With normalisation on, exp(a_nk − logw_k) = exp(−d/τ − c_k) is a probability density in x:
/// checked by quadrature, independently of how c_k is computed.
final class NormalizationTests: XCTestCase {
    /// exp(logZ) at the given points for one normalised component (K = 1, logw = 0).
    func density(_ base: ProblemData, points: [Double], d: Int) throws -> [Double] {
        var p = base
        p.n = points.count / d
        p.x = points
        p.logprior = nil
        p.logw = nil
        p.normalized = true
        return try forward(p, Double.self).logZ.map { Glibc.exp($0) }
    }

    /// Composite Simpson nodes and weights on [a, b] with `intervals` (even) intervals.
    func simpson(_ a: Double, _ b: Double, _ intervals: Int) -> [(Double, Double)] {
        let h = (b - a) / Double(intervals)
        return (0 ... intervals).map { i in
            let w = (i == 0 || i == intervals) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0)
            return (a + Double(i) * h, w * h / 3)
        }
    }

    /// Nodes and weights in t for x = mu + s·sinh(t), split at the kinks (given as values of u).
    func sinhRule(kinks: [Double], limit: Double, intervals: Int) -> [(t: Double, w: Double)] {
        let cuts = ([-limit, limit] + kinks.map { asinh($0) }).sorted()
        var rule: [(Double, Double)] = []
        for (a, b) in zip(cuts, cuts.dropFirst()) where b > a { rule += simpson(a, b, intervals) }
        return rule
    }

    func testSeparableKernelsIntegrateToOneInOneDimension() throws {
        let cases: [(Kernel, Double, Double, [Double])] = [  // kernel, τ, limit of t, kinks in u
            (.gaussian, 0.7, 9, []), (.laplace, 1.3, 9, [0]), (.studentT, 0.6, 60, []), (.studentT, 1.5, 240, []),
            (.huber, 0.9, 9, [-0.8, 0.8]), (.pseudoHuber, 1.1, 9, []), (.exponential, 0.8, 5, [0]), (.exponential, 3, 5, [0]),
        ]
        for (kernel, tau, limit, kinks) in cases {
            var p = ProblemData(kernel: kernel, n: 1, k: 1, d: 1)
            p.mu = [0.4]
            p.scale = [1.3]
            p.nu = 2.5
            p.delta = 0.8
            p.tau = tau
            let rule = sinhRule(kinks: kinks, limit: limit, intervals: 4000)
            let xs = rule.map { 0.4 + 1.3 * sinh($0.t) }
            let f = try density(p, points: xs, d: 1)
            var total = 0.0
            for (j, node) in rule.enumerated() { total += node.w * f[j] * 1.3 * cosh(node.t) }
            XCTAssertEqual(total, 1, accuracy: 1e-8, "\(kernel.name) tau=\(tau)")
        }
    }

    func testSeparableKernelIntegratesToOneInTwoDimensions() throws {
        var p = ProblemData(kernel: .pseudoHuber, n: 1, k: 1, d: 2)
        p.mu = [0.4, -0.2]
        p.scaleShape = .perDimension
        p.scale = [1.3, 0.6]
        p.delta = 0.8
        p.tau = 0.9
        let rule = sinhRule(kinks: [], limit: 9, intervals: 400)
        var xs: [Double] = []
        for a in rule { for b in rule { xs += [0.4 + 1.3 * sinh(a.t), -0.2 + 0.6 * sinh(b.t)] } }
        let f = try density(p, points: xs, d: 2)
        var total = 0.0, j = 0
        for a in rule {
            for b in rule {
                total += a.w * b.w * f[j] * 1.3 * cosh(a.t) * 0.6 * cosh(b.t)
                j += 1
            }
        }
        XCTAssertEqual(total, 1, accuracy: 1e-7)
    }

    func testMahalanobisIntegratesToOneInTwoDimensions() throws {
        var p = ProblemData(kernel: .mahalanobis, n: 1, k: 1, d: 2)
        p.mu = [0.3, -0.5]
        p.chol = [1.2, 7, -0.4, 0.9]  // the 7 above the diagonal is ignored
        p.tau = 1.4
        let rule = simpson(-12, 12, 400)
        var xs: [Double] = []
        for a in rule { for b in rule { xs += [0.3 + a.0, -0.5 + b.0] } }
        let f = try density(p, points: xs, d: 2)
        var total = 0.0, j = 0
        for a in rule {
            for b in rule {
                total += a.1 * b.1 * f[j]
                j += 1
            }
        }
        XCTAssertEqual(total, 1, accuracy: 1e-8)
    }

    func testCosineIntegratesToOneOnTheCircle() throws {
        for tau in [0.05, 0.5, 3.0] {
            var p = ProblemData(kernel: .cosine, n: 1, k: 1, d: 2)
            p.mu = [0.6, -1.7]
            p.tau = tau
            let m = 4000
            var xs: [Double] = []
            for j in 0 ..< m {
                let theta = 2 * Double.pi * Double(j) / Double(m)
                xs += [cos(theta), sin(theta)]
            }
            let f = try density(p, points: xs, d: 2)
            let total = f.reduce(0, +) * 2 * Double.pi / Double(m)
            XCTAssertEqual(total, 1, accuracy: 1e-9, "tau=\(tau)")
        }
    }

    /// Normalisation does not change R for the cosine kernel (c is the same for every component).
    func testCosineNormalisationLeavesResponsibilities() throws {
        var p = ProblemData.random(.cosine, seed: 21)
        let plain = try forward(p, Double.self)
        p.normalized = true
        let normalised = try forward(p, Double.self)
        for i in 0 ..< p.n * p.k { XCTAssertEqual(plain.resp[i], normalised.resp[i], accuracy: 1e-14) }
    }
}
