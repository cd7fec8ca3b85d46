import XCTest
@testable import ImplicitEM

/// The mahalanobis kernel's lane-blocked products (BlockedTriangular.swift) against plain sums,
/// with triangular and dense operands at every tile edge, and the kernel itself against the
/// KERNELS.md formulas written out here in float64, at sizes that cut the block (64 rows), the
/// tiles (2 outputs × 4 vectors) and the vectors (4 or 8 lanes) unevenly, with and without Yᵀ
/// kept from the energies for the backward.
final class MahalanobisTriangleTests: XCTestCase {
    override func tearDown() { Threads.count = 0 }

    enum Shape { case lower, upper, dense }

    /// C[t, l] = Σ_p S(t, p)·A[p, l] through `triangleProduct`, against the plain sum over every p
    /// (S zero outside its triangle), for every output count up to 7, depth and width.
    func checkProduct<V: SIMD>(_: V.Type, _ shape: Shape, tolerance: Double) where V.Scalar: IEFloat & BinaryFloatingPoint {
        let w = V.scalarCount
        var rng = SeededRNG(seed: 7)
        for outputs in 1 ... 7 {
            for vectors in [1, 2, 3, 4, 5, 9] {
                let lanes = vectors * w
                let depth = shape == .dense ? outputs + 3 : outputs
                // S(t, p) = s[t·depth + p]: lower keeps p ≥ t (Yᵀ), upper p ≤ t (Zᵀ).
                var s = [Double](repeating: 0, count: outputs * depth)
                for t in 0 ..< outputs {
                    for p in 0 ..< depth {
                        let kept = shape == .dense || (shape == .lower ? p >= t : p <= t)
                        if kept { s[t * depth + p] = rng.uniform(-1, 1) }
                    }
                }
                let a = rng.array(depth * lanes, -2, 2)
                let sT = s.map { V.Scalar(fromDouble: $0) }, aT = a.map { V.Scalar(fromDouble: $0) }
                var c = [V.Scalar](repeating: .nan, count: outputs * lanes)
                sT.withUnsafeBufferPointer { sb in
                    aT.withUnsafeBufferPointer { ab in
                        c.withUnsafeMutableBufferPointer { cb in
                            let sp = sb.baseAddress!, ap = ab.baseAddress!, cp = cb.baseAddress!
                            switch shape {
                            case .lower:
                                triangleProduct(V.self, outputs: outputs, lanes: lanes, leadingRemainder: false,
                                                s: sp, sp: 1, st: depth, a: ap, la: lanes, c: cp, lc: lanes,
                                                first: { $0 }, end: { _ in depth })
                            case .upper:
                                triangleProduct(V.self, outputs: outputs, lanes: lanes, leadingRemainder: true,
                                                s: sp, sp: 1, st: depth, a: ap, la: lanes, c: cp, lc: lanes,
                                                first: { _ in 0 }, end: { $0 })
                            case .dense:
                                // Only the lanes from the vector holding t (the lower triangle's).
                                triangleProduct(V.self, outputs: outputs, lanes: lanes, leadingRemainder: false,
                                                s: sp, sp: 1, st: depth, a: ap, la: lanes, c: cp, lc: lanes,
                                                first: { _ in 0 }, end: { _ in depth }, lanesFrom: { $0 / w * w })
                            }
                        }
                    }
                }
                for t in 0 ..< outputs {
                    for l in 0 ..< lanes {
                        if shape == .dense && l < t / w * w { continue }
                        var expected = 0.0, magnitude = 0.0
                        for p in 0 ..< depth {
                            expected += s[t * depth + p] * a[p * lanes + l]
                            magnitude += abs(s[t * depth + p] * a[p * lanes + l])
                        }
                        let got = c[t * lanes + l].double
                        XCTAssertEqual(got, expected, accuracy: tolerance * max(1, magnitude),
                                       "\(shape) \(V.self) outputs \(outputs) lanes \(lanes) t \(t) l \(l)")
                    }
                }
            }
        }
    }

    func testProductsAtEveryTileEdge() {
        for shape in [Shape.lower, .upper, .dense] {
            checkProduct(SIMD4<Double>.self, shape, tolerance: 1e-14)
            checkProduct(SIMD8<Float>.self, shape, tolerance: 1e-6)
        }
    }

    /// KERNELS.md for the mahalanobis kernel, plainly, in float64 (gR absent: δ = gL·r).
    func reference(_ p: ProblemData, gL: [Double]) -> [String: [Double]] {
        let n = p.n, k = p.k, d = p.d, tau = p.tau
        let x = p.x!, mu = p.mu!, chol = p.chol!, logw = p.logw!, logprior = p.logprior!
        var energies = [Double](repeating: 0, count: n * k), logZ = [Double](repeating: 0, count: n)
        var gx = [Double](repeating: 0, count: n * d), gmu = [Double](repeating: 0, count: k * d)
        var gchol = [Double](repeating: 0, count: k * d * d)
        for nn in 0 ..< n {
            var es = [[Double]](), ys = [[Double]](), a = [Double](repeating: 0, count: k)
            for kk in 0 ..< k {
                let e = (0 ..< d).map { x[nn * d + $0] - mu[kk * d + $0] }
                // y = L_kᵀ e with L_k's lower triangle.
                var y = [Double](repeating: 0, count: d), energy = 0.0
                for j in 0 ..< d {
                    for i in j ..< d { y[j] += chol[(kk * d + i) * d + j] * e[i] }
                    energy += y[j] * y[j]
                }
                energies[nn * k + kk] = energy
                a[kk] = logw[kk] + logprior[nn * k + kk] - energy / tau
                es.append(e)
                ys.append(y)
            }
            let top = a.max()!
            let z = top + log(a.reduce(0.0) { $0 + exp($1 - top) })
            logZ[nn] = z
            for kk in 0 ..< k {
                let coef = -(gL[nn] * exp(a[kk] - z)) / tau
                let e = es[kk], y = ys[kk]
                for i in 0 ..< d {
                    // ∂d/∂x = 2·L·y, ∂d/∂mu = −2·L·y, ∂d/∂L_ij = 2·e_i·y_j (j ≤ i).
                    var ly = 0.0
                    for j in 0 ... i { ly += chol[(kk * d + i) * d + j] * y[j] }
                    gx[nn * d + i] += coef * 2 * ly
                    gmu[kk * d + i] -= coef * 2 * ly
                    for j in 0 ... i { gchol[(kk * d + i) * d + j] += coef * 2 * e[i] * y[j] }
                }
            }
        }
        return ["energies": energies, "logZ": logZ, "x": gx, "mu": gmu, "chol": gchol]
    }

    func run<T: IEFloat>(_ p: ProblemData, gL: [Double], _ type: T.Type) throws -> [String: [Double]] {
        let pool = Pool()
        let energies = pool.output(p.n * p.k, as: T.self), logZ = pool.output(p.n, as: T.self)
        var g = GradientOutputs<T>()
        g.x = pool.output(p.n * p.d, as: T.self)
        g.mu = pool.output(p.k * p.d, as: T.self)
        g.chol = pool.output(p.k * p.d * p.d, as: T.self)
        try Engine.gradients(p.problem(pool, T.self), gL: pool.input(gL, as: T.self), gR: nil,
                             ForwardOutputs(energies: energies, logZ: logZ), g)
        return ["energies": doubles(energies), "logZ": doubles(logZ), "x": doubles(g.x), "mu": doubles(g.mu),
                "chol": doubles(g.chol)]
    }

    func check<T: IEFloat>(_ p: ProblemData, _ type: T.Type, tolerance: Double, _ label: String) throws {
        var rng = SeededRNG(seed: UInt64(p.n * 31 + p.k * 7 + p.d))
        let gL = rng.array(p.n, 0.5, 1.5).map { Double(Float($0)) }
        // The precision under test holds the inputs rounded to it.
        var q = p
        for name in ["x", "mu", "chol", "logw", "logprior"] {
            q.set(name, q.values(name)!.map { T(fromDouble: $0).double })
        }
        q.tau = T(fromDouble: q.tau).double
        let expected = reference(q, gL: gL), got = try run(q, gL: gL, T.self)
        for (name, want) in expected {
            let have = got[name]!
            XCTAssertEqual(have.count, want.count, "\(label) \(name)")
            let scale = max(1, want.map(abs).max() ?? 0)
            for i in 0 ..< min(have.count, want.count) {
                if name == "chol" && (i % p.d) > (i / p.d) % p.d {
                    XCTAssertEqual(have[i], 0, "\(label) chol above the diagonal at \(i)")
                    continue
                }
                XCTAssertEqual(have[i], want[i], accuracy: tolerance * scale, "\(label) \(name)[\(i)]")
            }
        }
    }

    /// Rows not a multiple of the block (and fewer than one block), K = 1, D = 1, D odd and not a
    /// multiple of the vector width or of the tile, and a K·D too large to keep Yᵀ (recomputed).
    func testAgainstThePlainFormulas() throws {
        let shapes: [(n: Int, k: Int, d: Int)] = [
            (1, 1, 1), (63, 1, 1), (64, 2, 2), (65, 1, 5), (129, 3, 7), (130, 2, 8), (200, 4, 9), (70, 2, 17),
            (67, 3, 16), (65, 257, 16),
        ]
        XCTAssertGreaterThan(64 * 257 * 16, keptProjectionLimit, "the last shape recomputes Yᵀ")
        for (seed, shape) in shapes.enumerated() {
            let p = ProblemData.random(.mahalanobis, n: shape.n, k: shape.k, d: shape.d, seed: UInt64(40 + seed))
            let label = "N \(shape.n) K \(shape.k) D \(shape.d)"
            for threads in [1, 2] {
                Threads.count = threads
                try check(p, Double.self, tolerance: 1e-11, "\(label) float64 threads \(threads)")
                try check(p, Float.self, tolerance: 2e-4, "\(label) float32 threads \(threads)")
            }
        }
    }
}
