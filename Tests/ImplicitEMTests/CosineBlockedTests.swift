import XCTest
@testable import ImplicitEM

/// The blocked cosine pass's own paths: the product's four-row tile (the remainder of a 64-row
/// block), the mu gradient where 1/‖mu‖ overflows, and partitions handed out to threads on
/// demand. Each against the KERNELS.md formulas or a plain loop, written here.
final class CosineBlockedTests: XCTestCase {
    override func tearDown() { Threads.count = 0 }

    /// Rounding of sums over at most a few hundred terms, relative to the largest |value|.
    func tolerance<T: IEFloat>(_: T.Type) -> Double { T.self == Float.self ? 1e-4 : 1e-12 }

    /// C = (C or 0) + A·B by a plain loop in float64, for rows whose remainder after the
    /// six-row tiles is 4 or 5 (the four-row tile) and, bit for bit, a row computed inside a
    /// four-row tile equals the same row computed alone.
    func testFourRowTileAgainstAPlainLoop() {
        func check<T: IEFloat>(_: T.Type) {
            var rng = SeededRNG(seed: 31)
            for (rows, columns, depth) in [(4, 16, 5), (10, 17, 64), (11, 24, 300), (64, 33, 128), (5, 8, 257)] {
                for transposed in [false, true] {
                    let a = rng.array(rows * depth, -1, 1).map { T(fromDouble: $0) }
                    let b = rng.array(depth * columns, -1, 1).map { T(fromDouble: $0) }
                    let start = rng.array(rows * columns, -1, 1).map { T(fromDouble: $0) }
                    func product(_ count: Int, from first: Int, accumulate: Bool) -> [T] {
                        var c = Array(start[first * columns ..< (first + count) * columns])
                        var pack = [T](repeating: 0, count: productPackSize)
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                let base = ap.baseAddress! + (transposed ? first : first * depth)
                                let matrix = transposed ? StridedMatrix(base: base, row: 1, column: rows)
                                                        : StridedMatrix(base: base, row: depth, column: 1)
                                matrixProduct(rows: count, columns: columns, depth: depth, matrix, bp.baseAddress!,
                                              ldb: columns, &c, ldc: columns, accumulate: accumulate, pack: &pack)
                            }
                        }
                        return c
                    }
                    for accumulate in [false, true] {
                        let c = product(rows, from: 0, accumulate: accumulate)
                        let (error, size) = plainProductError(c, start, a, b, rows: rows, columns: columns,
                                                              depth: depth, transposed: transposed,
                                                              accumulate: accumulate)
                        XCTAssertLessThanOrEqual(error, tolerance(T.self) * max(size, 1),
                                                 "\(precisionName(T.self)) \(rows)×\(columns)×\(depth)")
                        // The last row of the six-row tiles' remainder lies in the four-row tile.
                        let row = (rows / 6) * 6 + min(rows % 6, 4) - 1
                        if rows % 6 >= 4 {
                            let alone = product(1, from: row, accumulate: accumulate)
                            let inTile = c[row * columns ..< (row + 1) * columns].map(\.double)
                            XCTAssertTrue(alone.map(\.double).elementsEqual(inTile) { $0.bitPattern == $1.bitPattern },
                                          "\(precisionName(T.self)) row \(row) of \(rows): a row's result depends on its tile")
                        }
                    }
                }
            }
        }
        check(Float.self)
        check(Double.self)
    }

    /// A product reading B's panels packed once (`packPanels`) against a plain loop, and bit for
    /// bit the same as the product that packs each panel itself: depths across chunks, widths
    /// with a single-vector and a scalar tail.
    func testPrepackedPanels() {
        func check<T: IEFloat>(_: T.Type) {
            var rng = SeededRNG(seed: 34)
            for (rows, columns, depth) in [(10, 16, 3), (7, 33, 300), (64, 40, 513), (3, 5, 9), (6, 64, 256)] {
                let a = rng.array(rows * depth, -1, 1).map { T(fromDouble: $0) }
                let b = rng.array(depth * columns, -1, 1).map { T(fromDouble: $0) }
                var packed = [T](repeating: .nan, count: (try? packedPanelsSize(T.self, depth: depth, columns: columns)) ?? 0)
                packed.withUnsafeMutableBufferPointer { pp in
                    b.withUnsafeBufferPointer { bp in
                        if let to = pp.baseAddress { packPanels(depth: depth, columns: columns, bp.baseAddress!, ldb: columns, into: to) }
                    }
                }
                XCTAssertFalse(packed.contains { $0.isNaN }, "every panel value is written")
                func product(prepacked: Bool) -> [T] {
                    var c = [T](repeating: 0, count: rows * columns)
                    var pack = [T](repeating: 0, count: productPackSize)
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            packed.withUnsafeBufferPointer { pp in
                                matrixProduct(rows: rows, columns: columns, depth: depth,
                                              StridedMatrix(base: ap.baseAddress!, row: depth, column: 1), bp.baseAddress!,
                                              ldb: columns, &c, ldc: columns, accumulate: false, pack: &pack,
                                              packed: prepacked ? pp.baseAddress : nil)
                            }
                        }
                    }
                    return c
                }
                let got = product(prepacked: true), own = product(prepacked: false)
                XCTAssertTrue(got.map(\.double).elementsEqual(own.map(\.double)) { $0.bitPattern == $1.bitPattern },
                              "\(precisionName(T.self)) \(rows)×\(columns)×\(depth): packed panels change the result")
                var error = 0.0, size = 0.0
                for m in 0 ..< rows {
                    for n in 0 ..< columns {
                        var sum = 0.0
                        for p in 0 ..< depth { sum += a[m * depth + p].double * b[p * columns + n].double }
                        error = max(error, abs(got[m * columns + n].double - sum))
                        size = max(size, abs(sum))
                    }
                }
                XCTAssertLessThanOrEqual(error, tolerance(T.self) * max(size, 1),
                                         "\(precisionName(T.self)) \(rows)×\(columns)×\(depth)")
            }
        }
        check(Float.self)
        check(Double.self)
    }

    /// KERNELS.md plainly (unnormalised, τ = 1, gL = 1, gR = 0): the mu gradient of every component.
    func plainMuGradient(_ p: ProblemData) -> [Double] { plainMuTerms(p).gradient }

    /// The mu gradient, and per component the sum of its terms' sizes, Σ_n r·(1 + |c|)/‖mu‖ (a
    /// bound on every term |r·(x̂_i − c·mû_i)/‖mu‖|): the scale of the rounding of its sums.
    func plainMuTerms(_ p: ProblemData) -> (gradient: [Double], size: [Double]) {
        let n = p.n, k = p.k, d = p.d, x = p.x!, mu = p.mu!, logw = p.logw!
        var g = [Double](repeating: 0, count: k * d), size = [Double](repeating: 0, count: k)
        func norm(_ v: ArraySlice<Double>) -> Double {
            let m = v.map(abs).max()!
            return m == 0 ? 0 : m * v.map { ($0 / m) * ($0 / m) }.reduce(0, +).squareRoot()
        }
        for nn in 0 ..< n {
            let xr = x[nn * d ..< (nn + 1) * d], xNorm = norm(xr)
            var c = [Double](repeating: 0, count: k), a = [Double](repeating: 0, count: k)
            for kk in 0 ..< k {
                let mr = mu[kk * d ..< (kk + 1) * d], mNorm = norm(mr)
                if xNorm != 0 && mNorm != 0 {
                    c[kk] = zip(xr, mr).map { ($0 / xNorm) * ($1 / mNorm) }.reduce(0, +)
                }
                a[kk] = logw[kk] - (1 - c[kk])
            }
            let top = a.max()!
            let total = a.map { exp($0 - top) }.reduce(0, +)
            for kk in 0 ..< k {
                let r = exp(a[kk] - top) / total
                let mr = mu[kk * d ..< (kk + 1) * d], mNorm = norm(mr)
                if xNorm == 0 || mNorm == 0 || r == 0 { continue }
                size[kk] += r * (1 + abs(c[kk])) / mNorm
                // ∂logZ/∂mu = −r·∂d/∂mu = r·(x̂/‖mu‖ − c·mû/‖mu‖), with each unit vector formed first.
                for i in 0 ..< d {
                    let xHat = xr[xr.startIndex + i] / xNorm, mHat = mr[mr.startIndex + i] / mNorm
                    g[kk * d + i] += r * (xHat - c[kk] * mHat) / mNorm
                }
            }
        }
        return (g, size)
    }

    /// A centre so short that 1/‖mu‖ overflows (subnormal) with a responsibility so small that its
    /// gradient is finite: the division, not the multiplication by an infinite reciprocal.
    func testMuGradientWhereTheReciprocalNormOverflows() throws {
        var rng = SeededRNG(seed: 32)
        let n = 150, k = 5, d = 9
        var p = ProblemData(kernel: .cosine, n: n, k: k, d: d)
        p.x = rng.array(n * d, -1, 1)
        var mu = rng.array(k * d, -1, 1)
        for i in 0 ..< d { mu[2 * d + i] *= 1e-309 }
        p.mu = mu
        var logw = rng.array(k, -1, 0)
        logw[2] = -700  // r ≈ 1e-304, so that r/‖mu‖ ≈ 1e5
        p.logw = logw
        let want = plainMuGradient(p)
        let got = try analyticGradients(p, gL: nil, gR: nil, Double.self)["mu"]!
        for j in 0 ..< k * d {
            XCTAssertTrue(got[j].isFinite, "mu[\(j)] = \(got[j])")
            assertClose(got[j], want[j], rel: 1e-9, floor: 1e-12, "mu[\(j)]")
        }
        XCTAssertGreaterThan(want[2 * d ..< 3 * d].map(abs).max()!, 1, "the short centre's gradient is large but finite")
    }

    /// Partitions are handed to threads on demand: every partition runs exactly once, for any
    /// thread count, also with more threads than partitions, and with uneven partitions.
    func testEveryPartitionRunsOnce() {
        for threads in [1, 2, 3, 8] {
            Threads.count = threads
            for count in [0, 1, 2, 7, 64] {
                let runs = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                runs.initialize(repeating: 0, count: max(count, 1))
                runPartitions(count) { p in
                    if p % 3 == 0 { usleep(200) }  // uneven: later partitions go to whoever is free
                    runs[p] += 1
                }
                XCTAssertEqual((0 ..< count).map { runs[$0] }, [Int](repeating: 1, count: count),
                               "\(count) partitions on \(threads) threads")
                runs.deallocate()
            }
        }
    }

    /// Random x, mu and logw, each value exact in float32, so that both precisions see one problem.
    func cosineProblem(n: Int, k: Int, d: Int, _ rng: inout SeededRNG) -> ProblemData {
        var p = ProblemData(kernel: .cosine, n: n, k: k, d: d)
        p.x = rng.array(n * d, -1, 1).map { Double(Float($0)) }
        p.mu = rng.array(k * d, -1, 1).map { Double(Float($0)) }
        p.logw = rng.array(k, -3, 0).map { Double(Float($0)) }
        return p
    }

    /// The W2 shape, scaled down (K > 96 pieces, K > 256 depth chunks, 64-row blocks with the
    /// four-row remainder): mu against the plain formulas in float64 and float32, bitwise the same
    /// on 1, 2 and 8 threads.
    func testMuGradientAtTheBenchmarkShape() throws {
        var rng = SeededRNG(seed: 33)
        let p = cosineProblem(n: 700, k: 300, d: 20, &rng)
        let want = plainMuGradient(p)
        let size = want.map(abs).max()!
        var first: [Double] = []
        for threads in [1, 2, 8] {
            Threads.count = threads
            let got64 = try analyticGradients(p, gL: nil, gR: nil, Double.self)["mu"]!
            let got32 = try analyticGradients(p, gL: nil, gR: nil, Float.self)["mu"]!
            let error64 = zip(got64, want).map { abs($0 - $1) }.max()!
            let error32 = zip(got32, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(error64, 1e-12 * size)
            XCTAssertLessThanOrEqual(error32, tolerance(Float.self) * size)
            if threads == 1 { first = got32 + got64; continue }
            XCTAssertTrue(first.elementsEqual(got32 + got64) { $0.bitPattern == $1.bitPattern }, "\(threads) threads differ")
        }
    }

    /// The mu product reads each piece of components (96) from Coef's columns copied row by row:
    /// a whole piece, a piece of one component after a whole one, and pieces with a partial block
    /// of rows and D past the product's whole vectors, against the plain formulas in float64.
    func testMuGradientAtThePieceEdges() throws {
        var rng = SeededRNG(seed: 34)
        for (n, k, d) in [(64, 96, 16), (130, 97, 33), (70, 193, 5)] {
            let p = cosineProblem(n: n, k: k, d: d, &rng)
            let want = plainMuGradient(p)
            let size = want.map(abs).max()!
            let got64 = try analyticGradients(p, gL: nil, gR: nil, Double.self)["mu"]!
            let got32 = try analyticGradients(p, gL: nil, gR: nil, Float.self)["mu"]!
            XCTAssertLessThanOrEqual(zip(got64, want).map { abs($0 - $1) }.max()!, 1e-12 * size, "N \(n) K \(k) D \(d)")
            XCTAssertLessThanOrEqual(zip(got32, want).map { abs($0 - $1) }.max()!, tolerance(Float.self) * size,
                                     "float32 N \(n) K \(k) D \(d)")
        }
    }

    /// mu's terms are summed over each partition's blocks and divided by ‖mu‖ once, at the partition's
    /// end: with at least 3 partitions whose rows are not whole blocks, a zero centre (its gradient
    /// stays exactly 0), a centre so short that 1/‖mu‖ overflows (the division) and one whose squares
    /// overflow, against the plain formulas in float64, per component; the same bits on 1, 2 and 3
    /// threads; and the other gradients unchanged, bit for bit, when mu's is not asked for.
    func testMuGradientSummedPerPartition() throws {
        func check<T: IEFloat>(_: T.Type, short: Double, long: Double) throws {
            let (n, k, d) = (1700, 24, 20)
            // Engine's split for the cosine (Setup.costPerRow = 2·K·D, 64-row blocks).
            let partitions = rowPartitions(rows: n, costPerRow: 2 * k * d, blockRows: 64)
            XCTAssertGreaterThanOrEqual(partitions.count, 3)
            XCTAssertTrue((0 ..< partitions.count).contains { partitions.range($0).count % 64 != 0 })
            var rng = SeededRNG(seed: 36)
            var p = ProblemData(kernel: .cosine, n: n, k: k, d: d)
            var mu = rng.array(k * d, -1, 1)
            for i in 0 ..< d {
                mu[3 * d + i] = 0
                mu[5 * d + i] *= short
                mu[7 * d + i] *= long
            }
            var logw = rng.array(k, -3, 0)
            logw[5] = -30  // r small enough that r/‖mu‖ summed over the rows stays finite
            // Every value exact in T, so that the plain formulas see the problem the kernel sees.
            func exact(_ v: [Double]) -> [Double] { v.map { T(fromDouble: $0).double } }
            p.x = exact(rng.array(n * d, -1, 1))
            p.mu = exact(mu)
            p.logw = exact(logw)
            let (want, size) = plainMuTerms(p)
            let what = precisionName(T.self)
            XCTAssertEqual(1 / T(fromDouble: p.mu![5 * d ..< 6 * d].map { $0 * $0 }.reduce(0, +).squareRoot()),
                           T.infinity, "\(what): 1/‖mu‖ overflows")
            XCTAssertFalse(T(fromDouble: long * long).isFinite, "\(what): the long centre's squares overflow")
            var first: [String: [Double]] = [:]
            for threads in [1, 2, 3] {
                Threads.count = threads
                let got = try analyticGradients(p, gL: nil, gR: nil, T.self)
                if threads == 1 {
                    first = got
                    for kk in 0 ..< k {
                        if kk != 3 { XCTAssertGreaterThan(size[kk], 0, "\(what) component \(kk) has terms") }
                        for i in 0 ..< d {
                            let j = kk * d + i
                            XCTAssertTrue(got["mu"]![j].isFinite, "\(what) mu[\(j)]")
                            XCTAssertLessThanOrEqual(abs(got["mu"]![j] - want[j]), tolerance(T.self) * size[kk],
                                                     "\(what) mu[\(j)]: \(got["mu"]![j]) vs \(want[j])")
                        }
                    }
                    XCTAssertTrue(got["mu"]![3 * d ..< 4 * d].allSatisfy { $0 == 0 }, "\(what): the zero centre's gradient")
                    continue
                }
                for name in ["mu", "x", "logw"] {
                    XCTAssertTrue(first[name]!.elementsEqual(got[name]!) { $0.bitPattern == $1.bitPattern },
                                  "\(what) \(name) on \(threads) threads")
                }
            }
            // Without mu's gradient.
            Threads.count = 2
            let pool = Pool()
            var g = GradientOutputs<T>()
            g.x = pool.output(n * d, as: T.self)
            g.logw = pool.output(k, as: T.self)
            try Engine.gradients(p.problem(pool, T.self), gL: nil, gR: nil, ForwardOutputs(), g)
            XCTAssertTrue(first["x"]!.elementsEqual(doubles(g.x)) { $0.bitPattern == $1.bitPattern }, "\(what) x without mu")
            XCTAssertTrue(first["logw"]!.elementsEqual(doubles(g.logw)) { $0.bitPattern == $1.bitPattern },
                          "\(what) logw without mu")
        }
        try check(Double.self, short: 1e-309, long: 1e300)
        try check(Float.self, short: 1e-40, long: 1e30)
    }

    /// The blocked pass's unit rows against ‖v‖ and v/‖v‖ in float64: lengths across the vector
    /// width, values whose squares overflow or underflow (the scaled route), subnormals and zero.
    func testUnitVectorAgainstAPlainNorm() {
        func check<T: IEFloat>(_: T.Type, scales: [Double]) {
            var rng = SeededRNG(seed: 35)
            for d in [1, 3, 8, 15, 16, 17, 33, 128] {
                for scale in scales + [0] {
                    let v = rng.array(d, -1, 1).map { T(fromDouble: $0 * scale) }
                    var unit = [T](repeating: .nan, count: d)
                    let norm = v.withUnsafeBufferPointer { vp in
                        unit.withUnsafeMutableBufferPointer { unitVector(vp.baseAddress!, d, unit: $0.baseAddress!) }
                    }
                    // The norm in float64, scaled by a power of two so that nothing overflows or
                    // underflows: power·root, and the unit vector (v/power)/root.
                    let values = v.map(\.double), top = values.map(abs).max()!
                    let power = top == 0 ? 1 : Double(sign: .plus, exponent: top.exponent, significand: 1)
                    let root = values.map { ($0 / power) * ($0 / power) }.reduce(0, +).squareRoot()
                    let what = "\(precisionName(T.self)) d = \(d), scale \(scale)"
                    if root == 0 {
                        XCTAssertEqual(norm.double, 0, what)
                        XCTAssertTrue(unit.allSatisfy { $0 == 0 }, what)
                        continue
                    }
                    // Rounding: d squares summed, a root, two divisions; a subnormal norm is
                    // also off by up to one step of the least subnormal.
                    let tol = (Double(d) / 2 + 3) * T.ulpOfOne.double
                    assertClose(norm.double, power * root, rel: tol, floor: T.leastNonzeroMagnitude.double / tol, what)
                    for i in 0 ..< d {
                        assertClose(unit[i].double, (values[i] / power) / root, rel: tol, floor: T.ulpOfOne.double,
                                    "\(what) unit[\(i)]")
                    }
                }
            }
        }
        // Float: squares overflow from 1.9e19, the scaled route below √(1e-31 / d).
        check(Float.self, scales: [1, 1e15, 1e30, 1e37, 1e-15, 1e-20, 1e-25, 1e-40])
        check(Double.self, scales: [1, 1e150, 1e200, 1e306, 1e-140, 1e-150, 1e-170, 1e-310])
    }
}
