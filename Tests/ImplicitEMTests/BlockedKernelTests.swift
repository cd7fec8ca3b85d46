import XCTest
@testable import ImplicitEM

/// The cosine and mahalanobis kernels run the row pass in blocks of rows (matrix products). They
/// are checked against the KERNELS.md formulas evaluated plainly here, in float64, and against
/// central differences, at sizes that cut blocks, tiles, panels and depth chunks unevenly, with
/// masked and overflowing rows inside a block, in both precisions and on 1, 2 and 8 threads.
final class BlockedKernelTests: XCTestCase {
    override func tearDown() { Threads.count = 0 }

    /// Everything the pass computes, by name.
    func run<T: IEFloat>(_ p: ProblemData, gL: [Double]?, gR: [Double]?, _ type: T.Type) throws -> [String: [Double]] {
        let pool = Pool()
        let n = p.n, k = p.k, d = p.d
        let energies = pool.output(n * k, as: T.self), logZ = pool.output(n, as: T.self)
        let resp = pool.output(n * k, as: T.self)
        var g = GradientOutputs<T>()
        g.x = pool.output(n * d, as: T.self)
        g.mu = pool.output(k * d, as: T.self)
        if p.kernel == .mahalanobis { g.chol = pool.output(k * d * d, as: T.self) }
        g.logw = pool.output(k, as: T.self)
        g.logprior = pool.output(n * k, as: T.self)
        g.energies = pool.output(n * k, as: T.self)
        try Engine.gradients(p.problem(pool, T.self), gL: pool.input(gL, as: T.self), gR: pool.input(gR, as: T.self),
                             ForwardOutputs(energies: energies, logZ: logZ, resp: resp), g)
        return ["energies": doubles(energies), "logZ": doubles(logZ), "resp": doubles(resp), "x": doubles(g.x),
                "mu": doubles(g.mu), "chol": doubles(g.chol), "logw": doubles(g.logw),
                "logprior": doubles(g.logprior), "energiesGrad": doubles(g.energies)]
    }

    /// KERNELS.md, plainly, in float64; energies above `limit` (the largest value of the
    /// precision under test) are +∞, as that precision holds them. Rows whose logits have no
    /// finite maximum contribute no gradient (their logZ and R are checked separately).
    func reference(_ p: ProblemData, gL: [Double]?, gR: [Double]?,
                   limit: Double = .greatestFiniteMagnitude) -> (values: [String: [Double]], regular: [Bool]) {
        let n = p.n, k = p.k, d = p.d, tau = p.tau
        let x = p.x!, mu = p.mu!
        var energies = [Double](repeating: 0, count: n * k)
        var dx = [Double](repeating: 0, count: n * k * d)      // ∂d_nk/∂x_n
        var dmu = [Double](repeating: 0, count: n * k * d)     // ∂d_nk/∂mu_k
        var dl = [Double](repeating: 0, count: n * k * d * d)  // ∂d_nk/∂L_k
        for nn in 0 ..< n {
            for kk in 0 ..< k {
                let xr = Array(x[nn * d ..< (nn + 1) * d]), mr = Array(mu[kk * d ..< (kk + 1) * d])
                let at = (nn * k + kk) * d
                if p.kernel == .cosine {
                    let xNorm = xr.map { $0 * $0 }.reduce(0, +).squareRoot()
                    let mNorm = mr.map { $0 * $0 }.reduce(0, +).squareRoot()
                    if xNorm == 0 || mNorm == 0 {
                        energies[nn * k + kk] = 1
                        continue
                    }
                    let c = zip(xr, mr).map { $0 * $1 }.reduce(0, +) / (xNorm * mNorm)
                    energies[nn * k + kk] = 1 - c
                    for i in 0 ..< d {
                        dx[at + i] = -(mr[i] / (xNorm * mNorm) - c * xr[i] / (xNorm * xNorm))
                        dmu[at + i] = -(xr[i] / (xNorm * mNorm) - c * mr[i] / (mNorm * mNorm))
                    }
                } else {
                    let l = p.chol!, base = kk * d * d
                    let e = zip(xr, mr).map { $0 - $1 }
                    var y = [Double](repeating: 0, count: d)
                    for j in 0 ..< d { for i in j ..< d { y[j] += l[base + i * d + j] * e[i] } }
                    let energy = y.map { $0 * $0 }.reduce(0, +)
                    energies[nn * k + kk] = energy > limit ? .infinity : energy
                    for i in 0 ..< d {
                        var ly = 0.0
                        for j in 0 ... i { ly += l[base + i * d + j] * y[j] }
                        dx[at + i] = 2 * ly
                        dmu[at + i] = -2 * ly
                        for j in 0 ... i { dl[(nn * k + kk) * d * d + i * d + j] = 2 * e[i] * y[j] }
                    }
                }
            }
        }
        var logZ = [Double](repeating: 0, count: n), resp = [Double](repeating: 0, count: n * k)
        var gx = [Double](repeating: 0, count: n * d), gmu = [Double](repeating: 0, count: k * d)
        var gchol = [Double](repeating: 0, count: k * d * d), glogw = [Double](repeating: 0, count: k)
        var glogprior = [Double](repeating: 0, count: n * k), gEnergies = [Double](repeating: 0, count: n * k)
        var regular = [Bool](repeating: true, count: n)
        for nn in 0 ..< n {
            var a = [Double](repeating: 0, count: k)
            for kk in 0 ..< k {
                a[kk] = (p.logw?[kk] ?? 0) + (p.logprior?[nn * k + kk] ?? 0) - energies[nn * k + kk] / tau
            }
            let top = a.max()!
            if !top.isFinite {
                regular[nn] = false
                continue
            }
            let total = a.map { Foundation.exp($0 - top) }.reduce(0, +)
            logZ[nn] = top + Foundation.log(total)
            let r = a.map { Foundation.exp($0 - logZ[nn]) }
            let gLn = gL?[nn] ?? 1
            var dot = 0.0
            for kk in 0 ..< k { dot += r[kk] * (gR?[nn * k + kk] ?? 0) }
            for kk in 0 ..< k {
                resp[nn * k + kk] = r[kk]
                let delta = r[kk] * (gLn + (gR?[nn * k + kk] ?? 0) - dot)
                let coef = -delta / tau
                glogw[kk] += delta
                glogprior[nn * k + kk] = delta
                gEnergies[nn * k + kk] = coef
                let at = (nn * k + kk) * d
                for i in 0 ..< d {
                    gx[nn * d + i] += coef * dx[at + i]
                    gmu[kk * d + i] += coef * dmu[at + i]
                    for j in 0 ..< d { gchol[kk * d * d + i * d + j] += coef * dl[at * d + i * d + j] }
                }
            }
        }
        var values = ["energies": energies, "logZ": logZ, "resp": resp, "x": gx, "mu": gmu, "logw": glogw,
                      "logprior": glogprior, "energiesGrad": gEnergies]
        if p.kernel == .mahalanobis { values["chol"] = gchol }
        return (values, regular)
    }

    /// max |a − b| ≤ tol·max |b| over the entries `use` selects (normwise, as an array's error is judged).
    func assertNormwise(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, where use: (Int) -> Bool = { _ in true },
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var error = 0.0, size = 0.0
        for i in 0 ..< min(a.count, b.count) where use(i) {
            error = max(error, abs(a[i] - b[i]))
            size = max(size, abs(b[i]))
            if a[i].isNaN { XCTFail("\(what): NaN at \(i)", file: file, line: line) }
        }
        XCTAssertLessThanOrEqual(error, tol * max(size, 1e-300), "\(what): normwise error \(error / max(size, 1e-300))",
                                 file: file, line: line)
    }

    /// float64 to about 1e3 ulps of the largest entry, float32 likewise (sums of up to a few
    /// hundred rounded terms).
    func tolerance<T: IEFloat>(_: T.Type) -> Double { T.self == Float.self ? 1e-4 : 1e-12 }

    /// A problem whose inputs are exact in float32, so that both precisions solve the same one.
    func problem(_ kernel: Kernel, n: Int, k: Int, d: Int, seed: UInt64) -> ProblemData {
        var p = ProblemData.random(kernel, n: n, k: k, d: d, seed: seed)
        p.logprior = nil
        p.tau = 0.75
        return p.roundedToFloat()
    }

    func check<T: IEFloat>(_ p: ProblemData, gL: [Double]?, gR: [Double]?, _ type: T.Type, _ label: String,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try run(p, gL: gL, gR: gR, T.self)
        let (want, regular) = reference(p, gL: gL, gR: gR, limit: Double(T.greatestFiniteMagnitude))
        let tol = tolerance(T.self), k = p.k, d = p.d
        let name = "\(p.kernel.name) \(precisionName(T.self)) \(label) N=\(p.n) K=\(k) D=\(d)"
        for key in want.keys.sorted() {
            let rowOf: (Int) -> Int
            switch key {
            case "logZ": rowOf = { $0 }
            case "x": rowOf = { $0 / max(d, 1) }
            case "energies", "resp", "logprior", "energiesGrad": rowOf = { $0 / k }
            default: rowOf = { _ in 0 }
            }
            let perRow = key != "mu" && key != "chol" && key != "logw"
            // Finite energies are compared everywhere; the other per-row outputs on regular rows.
            let energies = want["energies"]!
            assertNormwise(got[key]!, want[key]!, tol, "\(name) \(key)",
                           where: { key == "energies" ? energies[$0].isFinite : !perRow || regular[rowOf($0)] },
                           file: file, line: line)
        }
        for (i, energy) in want["energies"]!.enumerated() where energy.isInfinite {
            XCTAssertEqual(got["energies"]![i], .infinity, "\(name) an overflowing energy", file: file, line: line)
        }
        // Rows without a finite maximum: no gradient at all.
        for nn in 0 ..< p.n where !regular[nn] {
            for i in 0 ..< d { XCTAssertEqual(got["x"]![nn * d + i], 0, "\(name) x of row \(nn)", file: file, line: line) }
            for kk in 0 ..< k {
                XCTAssertEqual(got["logprior"]![nn * k + kk], 0, "\(name) logprior of row \(nn)", file: file, line: line)
            }
        }
    }

    /// Block edges: N not a multiple of the block (64), K and D not multiples of the vector
    /// width, K = 1, D = 1, more than one depth chunk (K > 256 in x's product), and more than one
    /// piece of components (K > 96 in mu's product).
    func testAgainstThePlainFormulasAtEveryEdge() throws {
        let shapes: [(Kernel, Int, Int, Int)] = [
            (.cosine, 150, 13, 19), (.cosine, 67, 1, 5), (.cosine, 65, 7, 1), (.cosine, 130, 300, 33),
            (.cosine, 1, 3, 2), (.cosine, 200, 40, 16),
            (.mahalanobis, 150, 5, 13), (.mahalanobis, 67, 1, 4), (.mahalanobis, 65, 3, 1),
            (.mahalanobis, 130, 4, 19), (.mahalanobis, 1, 2, 3), (.mahalanobis, 200, 3, 16),
        ]
        for (seed, (kernel, n, k, d)) in shapes.enumerated() {
            var p = problem(kernel, n: n, k: k, d: d, seed: UInt64(seed + 1))
            var rng = SeededRNG(seed: UInt64(100 + seed))
            if kernel == .cosine && n > 3 {
                // Zero vectors: d = 1 and no gradient.
                for i in 0 ..< d { p.x![2 * d + i] = 0 }
                if k > 1 { for i in 0 ..< d { p.mu![(k - 1) * d + i] = 0 } }
            }
            let gL = rng.array(n, 0.5, 1.5).map { Double(Float($0)) }
            let gR = rng.array(n * k, -1, 1).map { Double(Float($0)) }
            try check(p, gL: gL, gR: nil, Double.self, "gL")
            try check(p, gL: gL, gR: nil, Float.self, "gL")
            try check(p, gL: nil, gR: gR, Double.self, "gR")
            try check(p, gL: nil, gR: gR, Float.self, "gR")
        }
    }

    /// Masked rows (every component −∞), partly masked rows and, for mahalanobis, rows whose
    /// energies overflow, in the middle of blocks: they contribute nothing, the others are exact.
    func testMaskedAndOverflowingRowsInsideBlocks() throws {
        for kernel in [Kernel.cosine, .mahalanobis] {
            var p = problem(kernel, n: 140, k: 6, d: 9, seed: 7)
            var prior = [Double](repeating: 0, count: p.n * p.k)
            for kk in 0 ..< p.k {
                prior[3 * p.k + kk] = -.infinity      // fully masked
                prior[70 * p.k + kk] = -.infinity
            }
            prior[5 * p.k + 1] = -.infinity           // partly masked
            prior[64 * p.k + 0] = -.infinity
            p.logprior = prior
            if kernel == .mahalanobis {
                for i in 0 ..< p.d { p.x![10 * p.d + i] = 1e30; p.x![100 * p.d + i] = -1e30 }
            }
            try check(p, gL: nil, gR: nil, Float.self, "masked")
            if kernel == .mahalanobis {
                // float64 reaches the overflow further out.
                for i in 0 ..< p.d { p.x![10 * p.d + i] = 1e300; p.x![100 * p.d + i] = -1e300 }
            }
            try check(p, gL: nil, gR: nil, Double.self, "masked")
            let got = try run(p, gL: nil, gR: nil, Double.self)
            for row in [3, 70] {
                XCTAssertEqual(got["logZ"]![row], -.infinity, "\(kernel.name): a fully masked row has logZ = −∞")
            }
            if kernel == .mahalanobis {
                for row in [10, 100] {
                    XCTAssertEqual(got["logZ"]![row], -.infinity, "overflowing energies: logZ = −∞")
                    XCTAssertEqual(got["resp"]![row * p.k ..< (row + 1) * p.k].reduce(0, +), 1, accuracy: 1e-15,
                                   "overflowing energies: R goes to the smallest energy")
                }
            }
        }
    }

    /// A regular row whose coefficients −δ/τ overflow (a huge gL at a tiny τ) takes the per-row
    /// backward: its gradient is ±∞ with the sign of the exact one, never NaN, and every other
    /// row of its block is unaffected.
    func testOverflowingCoefficientsInsideABlock() throws {
        for kernel in [Kernel.cosine, .mahalanobis] {
            var p = problem(kernel, n: 100, k: 4, d: 7, seed: 9)
            p.tau = 1e-30
            var gL = [Double](repeating: 1, count: p.n)
            gL[40] = 1e10  // δ/τ ≈ 1e40 > the float32 maximum
            let got = try run(p, gL: gL, gR: nil, Float.self)
            let (want, _) = reference(p, gL: gL, gR: nil)
            let d = p.d
            for i in 0 ..< d {
                let g = got["x"]![40 * d + i], w = want["x"]![40 * d + i]
                XCTAssertFalse(g.isNaN)
                if abs(w) > Double(Float.greatestFiniteMagnitude) { XCTAssertEqual(g, w > 0 ? .infinity : -.infinity) }
                if g.isInfinite { XCTAssertEqual(g.sign, w.sign, "\(kernel.name): the sign of an overflowing gradient") }
            }
            assertNormwise(got["x"]!, want["x"]!, tolerance(Float.self), "\(kernel.name) x of the other rows",
                           where: { $0 / d != 40 })
            XCTAssertFalse(got["mu"]!.contains { $0.isNaN })
        }
    }

    /// Central differences of Σ gL·logZ + Σ gR·R in float64, with more rows than one block.
    func testAgainstCentralDifferences() throws {
        for (kernel, names) in [(Kernel.cosine, ["x", "mu"]), (.mahalanobis, ["x", "mu", "chol"])] {
            let p = problem(kernel, n: 70, k: 3, d: 5, seed: 11)
            var rng = SeededRNG(seed: 12)
            let gL = rng.array(p.n, 0.5, 1.5), gR = rng.array(p.n * p.k, -1, 1)
            let analytic = try analyticGradients(p, gL: gL, gR: gR, Double.self)
            for name in names {
                let values = p.values(name)!
                for i in stride(from: 0, to: values.count, by: max(1, values.count / 40)) {
                    if name == "chol" && (i % (p.d * p.d)) % p.d > (i % (p.d * p.d)) / p.d { continue }  // upper: ignored
                    let numeric = try centralDifference(p, name, i, gL: gL, gR: gR)
                    assertClose(analytic[name]![i], numeric, rel: 1e-7, floor: 1e-6, "\(kernel.name) \(name)[\(i)]")
                }
            }
        }
    }

    /// Bit-for-bit the same on 1, 2 and 8 threads (more than 8 partitions), both precisions.
    func testBitwiseIdenticalForAnyThreadCount() throws {
        for (kernel, n, k, d) in [(Kernel.cosine, 4_700, 13, 11), (.mahalanobis, 4_700, 3, 7)] {
            let p = problem(kernel, n: n, k: k, d: d, seed: 13)
            let cost = kernel == .cosine ? k * d * 2 : k * d * d * 2  // Setup.costPerRow
            XCTAssertGreaterThan(rowPartitions(rows: n, costPerRow: cost, blockRows: 64).count, 8,
                                 "the problem must use every thread")
            var rng = SeededRNG(seed: 14)
            let gR = rng.array(n * k, -1, 1).map { Double(Float($0)) }
            var first64: [String: [Double]] = [:], first32: [String: [Double]] = [:]
            for threads in [1, 2, 8] {
                Threads.count = threads
                let r64 = try run(p, gL: nil, gR: gR, Double.self), r32 = try run(p, gL: nil, gR: gR, Float.self)
                if threads == 1 {
                    first64 = r64
                    first32 = r32
                    continue
                }
                for key in r64.keys {
                    XCTAssertTrue(first64[key]!.elementsEqual(r64[key]!) { $0.bitPattern == $1.bitPattern },
                                  "\(kernel.name) float64 \(key): \(threads) threads differ")
                    XCTAssertTrue(first32[key]!.elementsEqual(r32[key]!) { $0.bitPattern == $1.bitPattern },
                                  "\(kernel.name) float32 \(key): \(threads) threads differ")
                }
            }
        }
    }

    /// The matrix product itself against a plain triple loop, at every tile edge, with strided A
    /// (27 and 51 columns: pairs of vectors, one vector and scalars, for 4-, 8- and 16-lane products).
    func testMatrixProductAtEveryEdge() {
        func check<T: IEFloat>(_: T.Type) {
            var rng = SeededRNG(seed: 15)
            for (rows, columns, depth) in [(1, 1, 1), (7, 17, 3), (6, 16, 256), (13, 33, 257), (5, 8, 0), (12, 3, 600),
                                            (9, 27, 70), (9, 51, 300)] {
                for transposed in [false, true] {
                    let a = rng.array(rows * max(depth, 1), -1, 1).map { T(fromDouble: $0) }
                    let b = rng.array(max(depth, 1) * columns, -1, 1).map { T(fromDouble: $0) }
                    let start = rng.array(rows * columns, -1, 1).map { T(fromDouble: $0) }
                    for accumulate in [false, true] {
                        var c = start, withComplement = start
                        var complement = [T](repeating: .nan, count: rows * columns)
                        var pack = [T](repeating: 0, count: productPackSize)
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                let matrix = transposed ? StridedMatrix(base: ap.baseAddress!, row: 1, column: rows)
                                                        : StridedMatrix(base: ap.baseAddress!, row: depth, column: 1)
                                matrixProduct(rows: rows, columns: columns, depth: depth, matrix, bp.baseAddress!,
                                              ldb: columns, &c, ldc: columns, accumulate: accumulate, pack: &pack)
                                complement.withUnsafeMutableBufferPointer { e in
                                    matrixProduct(rows: rows, columns: columns, depth: depth, matrix, bp.baseAddress!,
                                                  ldb: columns, &withComplement, ldc: columns, accumulate: accumulate,
                                                  pack: &pack, complement: e.baseAddress!)
                                }
                            }
                        }
                        let what = "\(precisionName(T.self)) \(rows)×\(columns)×\(depth)"
                        let (error, size) = plainProductError(c, start, a, b, rows: rows, columns: columns,
                                                              depth: depth, transposed: transposed,
                                                              accumulate: accumulate)
                        XCTAssertLessThanOrEqual(error, tolerance(T.self) * max(size, 1), what)
                        // The complement: C unchanged, and 1 − C of the same sums, rounded once.
                        XCTAssertTrue(c.elementsEqual(withComplement) { $0.double.bitPattern == $1.double.bitPattern }, what)
                        XCTAssertTrue(zip(c, complement).allSatisfy { (1 - $0).double.bitPattern == $1.double.bitPattern },
                                      "\(what): complement")
                    }
                }
            }
        }
        check(Double.self)
        check(Float.self)
    }
}
