import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// Energies against KERNELS.md evaluated plainly, and the properties of logZ and R.
final class EngineForwardTests: XCTestCase {
    /// ρ written independently from the table of KERNELS.md.
    static func plainRho(_ kernel: Kernel, _ u: Double, nu: Double, delta: Double) -> Double {
        switch kernel {
        case .gaussian: return u * u / 2
        case .laplace: return abs(u)
        case .logistic: return Glibc.log(1 + Glibc.exp(-u))
        case .studentT: return Glibc.log(1 + u * u / nu)
        case .huber: return abs(u) <= delta ? u * u / 2 : delta * (abs(u) - delta / 2)
        case .pseudoHuber: return delta * delta * ((1 + (u / delta) * (u / delta)).squareRoot() - 1)
        case .exponential: return Glibc.exp(abs(u))
        default: return .nan
        }
    }

    /// d_nk evaluated plainly for any kernel 1–9.
    static func plainEnergy(_ p: ProblemData, _ n: Int, _ k: Int) -> Double {
        let d = p.d
        let x = Array(p.x![(n * d) ..< (n * d + d)]), mu = Array(p.mu![(k * d) ..< (k * d + d)])
        switch p.kernel {
        case .cosine:
            let dot = zip(x, mu).map(*).reduce(0, +)
            let nx = x.map { $0 * $0 }.reduce(0, +).squareRoot(), nm = mu.map { $0 * $0 }.reduce(0, +).squareRoot()
            return nx == 0 || nm == 0 ? 1 : 1 - dot / (nx * nm)
        case .mahalanobis:
            // (x − mu)ᵀ P (x − mu) with P = L Lᵀ built explicitly.
            let l = p.chol!, e = zip(x, mu).map(-)
            var sum = 0.0
            for i in 0 ..< d {
                for j in 0 ..< d {
                    var pij = 0.0
                    for m in 0 ..< d where m <= i && m <= j { pij += l[(k * d + i) * d + m] * l[(k * d + j) * d + m] }
                    sum += e[i] * pij * e[j]
                }
            }
            return sum
        default:
            var sum = 0.0
            for i in 0 ..< d { sum += plainRho(p.kernel, (x[i] - mu[i]) / p.scaleValue(k, i), nu: p.nu, delta: p.delta) }
            return sum
        }
    }

    /// Hand-picked points (including u = 0, |u| = δ, negative and large residuals).
    static func handPicked(_ kernel: Kernel, shape: ScaleShape) -> ProblemData {
        var p = ProblemData(kernel: kernel, n: 3, k: 3, d: 2)
        p.x = [0.3, -1.2, 2.0, 0.5, -0.75, 4.0]
        p.mu = [0.3, 0.4, -1.0, 1.5, 0.0, -2.0]
        p.scaleShape = shape
        p.scale = [[0.5], [0.5, 2.0, 1.25], [0.5, 1.0, 2.0, 0.8, 1.25, 3.0]][Int(shape.rawValue) - 1]
        p.nu = 2.5
        p.delta = 0.8
        p.chol = [1.0, 0, 0.5, 2.0, 0.7, 0, -0.3, 1.1, 1.5, 9, 0.2, 0.4]
        p.tau = 0.7
        return p
    }

    func testEnergiesMatchPlainFormulas() throws {
        for kernel in Kernel.allCases where kernel != .learned {
            for shape in (kernel.isSeparable ? ScaleShape.allCases : [.shared]) {
                let p = Self.handPicked(kernel, shape: shape)
                let e64 = try forward(p, Double.self).energies
                let e32 = try forward(p.roundedToFloat(), Float.self).energies
                for n in 0 ..< p.n {
                    for k in 0 ..< p.k {
                        let truth = Self.plainEnergy(p, n, k)
                        assertClose(e64[n * p.k + k], truth, rel: 1e-13, floor: 1e-15, "\(kernel.name) \(shape) d[\(n), \(k)]")
                        assertClose(e32[n * p.k + k], Self.plainEnergy(p.roundedToFloat(), n, k), rel: 1e-5, floor: 1e-6,
                                    "\(kernel.name) \(shape) float32 d[\(n), \(k)]")
                    }
                }
            }
        }
    }

    func testLearnedEnergiesAreCopiedAndLogitsFollowTheDefinition() throws {
        var p = ProblemData(kernel: .learned, n: 2, k: 3, d: 0)
        p.energies = [0.5, 1.5, -2.0, 3.0, 0.0, 1.0]
        p.logw = [0.1, -0.2, 0.3]
        p.logprior = [0, -1, 0.5, 0.25, 0, -.infinity]
        p.tau = 2
        let f = try forward(p, Double.self)
        XCTAssertEqual(f.energies, p.energies!)
        for n in 0 ..< 2 {
            let a = (0 ..< 3).map { k in p.logw![k] + p.logprior![n * 3 + k] - p.energies![n * 3 + k] / p.tau }
            let logZ = Glibc.log(a.map { Glibc.exp($0) }.reduce(0, +))
            assertClose(f.logZ[n], logZ, rel: 1e-14, "logZ[\(n)]")
            for k in 0 ..< 3 { assertClose(f.resp[n * 3 + k], Glibc.exp(a[k] - logZ), rel: 1e-14, floor: 1e-300, "r[\(n), \(k)]") }
        }
        XCTAssertEqual(f.resp[5], 0)
    }

    func testResponsibilitiesSumToOneAndIgnoreConstantShifts() throws {
        for kernel in Kernel.allCases {
            var p = ProblemData.random(kernel, n: 7, k: 4, d: 3, seed: 3)
            let f = try forward(p, Double.self)
            for n in 0 ..< p.n {
                let sum = f.resp[(n * p.k) ..< (n * p.k + p.k)].reduce(0, +)
                XCTAssertEqual(sum, 1, accuracy: 1e-14, "\(kernel.name) row \(n)")
            }
            p.logw = p.logw!.map { $0 + 3.75 }
            let shifted = try forward(p, Double.self)
            for i in 0 ..< p.n * p.k { XCTAssertEqual(shifted.resp[i], f.resp[i], accuracy: 1e-14, "\(kernel.name) r[\(i)]") }
            for n in 0 ..< p.n { XCTAssertEqual(shifted.logZ[n], f.logZ[n] + 3.75, accuracy: 1e-12, "\(kernel.name) logZ[\(n)]") }
        }
    }

    /// A gradient step of size τs²/Σ_n r_nk on mu_k lands on the EM M-step Σ r x / Σ r.
    func testGaussianImplicitEMIdentity() throws {
        var p = ProblemData.random(.gaussian, shape: .shared, n: 40, k: 3, d: 2, seed: 11)
        p.logprior = nil
        let s = p.scale![0]
        let f = try forward(p, Double.self)
        let g = try analyticGradients(p, gL: nil, gR: nil, Double.self)
        for k in 0 ..< p.k {
            var sumR = 0.0, sumRX = [0.0, 0.0]
            for n in 0 ..< p.n {
                let r = f.resp[n * p.k + k]
                sumR += r
                for i in 0 ..< 2 { sumRX[i] += r * p.x![n * 2 + i] }
            }
            for i in 0 ..< 2 {
                let step = p.mu![k * 2 + i] + p.tau * s * s / sumR * g["mu"]![k * 2 + i]
                XCTAssertEqual(step, sumRX[i] / sumR, accuracy: 1e-12, "component \(k), dimension \(i)")
            }
        }
    }

    /// Nil outputs are skipped; energies alone need no logits.
    func testOptionalOutputs() throws {
        let p = ProblemData.random(.laplace, seed: 4)
        let full = try forward(p, Double.self)
        let pool = Pool()
        let l = pool.output(p.n, as: Double.self)
        try Engine.forward(p.problem(pool, Double.self), ForwardOutputs(logZ: l))
        XCTAssertEqual(doubles(l), full.logZ)
        try Engine.forward(p.problem(pool, Double.self), ForwardOutputs())
    }

    func testLogNormalizerClosedForms() throws {
        var p = ProblemData.random(.gaussian, shape: .perDimension, n: 2, k: 3, d: 2, seed: 2)
        p.normalized = false  // logNormalizer ignores the flag
        let pool = Pool()
        let c = pool.output(3, as: Double.self)
        try Engine.logNormalizer(p.problem(pool, Double.self), c)
        for k in 0 ..< 3 {
            let truth = Glibc.log(p.scale![k * 2]) + Glibc.log(p.scale![k * 2 + 1]) + Glibc.log(2 * Double.pi * p.tau)
            XCTAssertEqual(c[k], truth, accuracy: 1e-14)
        }
        var m = ProblemData.random(.mahalanobis, n: 2, k: 2, d: 3, seed: 2)
        m.tau = 0.8
        let cm = pool.output(2, as: Double.self)
        try Engine.logNormalizer(m.problem(pool, Double.self), cm)
        for k in 0 ..< 2 {
            // ∫ exp(−eᵀPe/τ) de = √(det(2π·τ/2·P⁻¹)) = (πτ)^(D/2)/det L.
            let det = (0 ..< 3).map { m.chol![(k * 3 + $0) * 3 + $0] }.reduce(1, *)
            XCTAssertEqual(cm[k], 1.5 * Glibc.log(Double.pi * 0.8) - Glibc.log(det), accuracy: 1e-13)
        }
    }

    func testStatsMatchResponsibilities() throws {
        let p = ProblemData.random(.mahalanobis, n: 9, k: 3, d: 2, seed: 8)
        var rng = SeededRNG(seed: 1)
        let w = rng.array(p.n, 0, 2)
        let f = try forward(p, Double.self)
        let pool = Pool()
        let a = pool.output(3, as: Double.self), b = pool.output(6, as: Double.self), c = pool.output(12, as: Double.self)
        try Engine.stats(p.problem(pool, Double.self), weights: pool.input(w, as: Double.self), sumR: a, sumRX: b, sumRXX: c)
        for k in 0 ..< 3 {
            var r = 0.0, rx = [0.0, 0.0], rxx = [0.0, 0.0, 0.0, 0.0]
            for n in 0 ..< p.n {
                let wr = w[n] * f.resp[n * 3 + k]
                r += wr
                for i in 0 ..< 2 {
                    rx[i] += wr * p.x![n * 2 + i]
                    for j in 0 ..< 2 { rxx[i * 2 + j] += wr * p.x![n * 2 + i] * p.x![n * 2 + j] }
                }
            }
            XCTAssertEqual(a[k], r, accuracy: 1e-13)
            for i in 0 ..< 2 { XCTAssertEqual(b[k * 2 + i], rx[i], accuracy: 1e-13) }
            for i in 0 ..< 4 { XCTAssertEqual(c[k * 4 + i], rxx[i], accuracy: 1e-13) }
        }
    }

    /// The learned kernel with given energies still has x for the statistics.
    func testLearnedStatsUseX() throws {
        var p = ProblemData(kernel: .learned, n: 3, k: 2, d: 2)
        p.energies = [0, 1, 2, 0.5, 1, 1]
        p.x = [1, 2, 3, 4, 5, 6]
        let r = try forward(p, Double.self).resp
        let pool = Pool()
        let sumRX = pool.output(4, as: Double.self)
        try Engine.stats(p.problem(pool, Double.self), weights: nil, sumR: nil, sumRX: sumRX, sumRXX: nil)
        for k in 0 ..< 2 {
            for i in 0 ..< 2 {
                let truth = (0 ..< 3).map { r[$0 * 2 + k] * p.x![$0 * 2 + i] }.reduce(0, +)
                XCTAssertEqual(sumRX[k * 2 + i], truth, accuracy: 1e-14)
            }
        }
    }

    /// logZ = log1p(e^−40) when one term dominates, not 0 + log(1 + e^−40) = 0.
    func testLogZWhenOneTermDominates() throws {
        var p = ProblemData(kernel: .learned, n: 1, k: 2, d: 0)
        p.energies = [0, 40]
        let f = try forward(p, Double.self)
        assertClose(f.logZ[0], Glibc.log1p(Glibc.exp(-40)), rel: 1e-14, "logZ")
        assertClose(f.resp[1], Glibc.exp(-40) / (1 + Glibc.exp(-40)), rel: 1e-14, "r")
    }
}
