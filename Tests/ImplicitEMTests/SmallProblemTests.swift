import Foundation
import XCTest
@testable import ImplicitEM

/// Tiny problems (one row, the thread's reusable arena block, one partition) give exactly what the same
/// rows give inside a large problem (heap buffers, many partitions, several threads), and
/// the cheap overlap filter lets through and stops what the pairwise search does.
final class SmallProblemTests: XCTestCase {
    /// Row `row` of `big` as a problem of its own.
    private func single(_ big: ProblemData, row: Int) -> ProblemData {
        var p = big
        p.n = 1
        let d = big.d, k = big.k
        p.x = big.x.map { Array($0[row * d ..< (row + 1) * d]) }
        p.logprior = big.logprior.map { Array($0[row * k ..< (row + 1) * k]) }
        p.energies = big.energies.map { Array($0[row * k ..< (row + 1) * k]) }
        return p
    }

    /// The one-row problem against the same row in an N-row problem where every other row has
    /// gL = 0 (so it adds exact zeros to the parameter sums).
    private func checkEmbedded<T: IEFloat>(_ big: ProblemData, row: Int, _ type: T.Type, threads: Int,
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let small = single(big, row: row)
        let k = big.k, d = big.d
        var gL = [Double](repeating: 0, count: big.n)
        gL[row] = 1
        let previous = Threads.count
        Threads.count = threads
        defer { Threads.count = previous }
        let tiny = try analyticGradients(small, gL: nil, gR: nil, T.self)
        let whole = try analyticGradients(big, gL: gL, gR: nil, T.self)
        let label = "\(big.kernel.name) \(T.self) normalized=\(big.normalized)"
        for name in ["mu", "scale", "nu", "delta", "chol", "logw", "tau"] {
            assertBitwise(tiny[name]!, whole[name]!, "\(label) \(name) gradient", file: file, line: line)
        }
        for (name, width) in [("x", d), ("logprior", k), ("energies", k)] {
            assertBitwise(tiny[name]!, Array(whole[name]![row * width ..< (row + 1) * width]),
                          "\(label) \(name) gradient", file: file, line: line)
        }
        let f1 = try forward(small, T.self), fN = try forward(big, T.self)
        assertBitwise(f1.energies, Array(fN.energies[row * k ..< (row + 1) * k]), "\(label) energies", file: file, line: line)
        assertBitwise(f1.logZ, [fN.logZ[row]], "\(label) logZ", file: file, line: line)
        assertBitwise(f1.resp, Array(fN.resp[row * k ..< (row + 1) * k]), "\(label) resp", file: file, line: line)
    }

    func testOneRowEqualsTheSameRowInALargeProblem() throws {
        for kernel in Kernel.allCases {
            for normalized in kernel == .learned ? [false] : [false, true] {
                // 6000 rows: more than one partition, so the large call runs on two threads.
                let big = ProblemData.random(kernel, shape: .perDimension, n: 6000, k: 3, d: 4,
                                             normalized: normalized, seed: 7)
                do {
                    try checkEmbedded(big, row: 4321, Double.self, threads: 2)
                    try checkEmbedded(big, row: 4321, Float.self, threads: 2)
                } catch let error as ImplicitEMError where error.status == .unsupported && normalized {
                    continue  // a kernel without a normaliser: nothing to compare
                }
            }
        }
    }

    func testSharedScaleAsInTheBenchmark() throws {
        var big = ProblemData.random(.gaussian, shape: .shared, n: 9000, k: 3, d: 4, seed: 3)
        big.logprior = nil
        big.tau = 1
        try checkEmbedded(big, row: 0, Double.self, threads: 2)
        try checkEmbedded(big, row: 8999, Double.self, threads: 1)
    }

    /// Rows go through the vector loops in pairs, and a student_t row far out (some u²/ν above
    /// the limit of the log of a product) sums its ρ instead: its pair still takes the product.
    func testARowFarOutDoesNotChangeItsPair() throws {
        var big = ProblemData.random(.studentT, shape: .perDimension, n: 4, k: 3, d: 4, seed: 5)
        big.x![1 * 4 + 2] = 1e9
        big.x![2 * 4 + 0] = -1e9
        for row in [0, 3] {
            try checkEmbedded(big, row: row, Double.self, threads: 1)
            try checkEmbedded(big, row: row, Float.self, threads: 1)
        }
    }

    /// Accumulators larger than the thread's arena block go to the heap; same results.
    func testBuffersBeyondTheStackBlock() throws {
        for kernel: Kernel in [.gaussian, .studentT, .mahalanobis, .cosine] {
            let big = ProblemData.random(kernel, shape: .perDimension, n: 600, k: 40, d: 12, seed: 11)
            try checkEmbedded(big, row: 17, Double.self, threads: 2)
            try checkEmbedded(big, row: 599, Float.self, threads: 1)
        }
    }

    /// The W5 problem against KERNELS.md written out: d_k = Σ_i u²/2 with u = (x_i − μ_ki)/s,
    /// a_k = logw_k − d_k/τ, logZ = log Σ e^a, r = e^(a − logZ), objective logZ.
    func testTinyGaussianAgainstTheFormulas() throws {
        let x = [0.3, -1.2, 0.7, 2.0]
        let mu = [0.0, -1.0, 0.5, 1.5, 1.0, 1.0, -0.5, 0.0, -2.0, 0.3, 0.9, 1.1]
        let logw = [-1.0, -1.2, -1.1]
        let s = 1.3, tau = 0.8, k = 3, d = 4
        var data = ProblemData(kernel: .gaussian, n: 1, k: k, d: d)
        data.x = x; data.mu = mu; data.scale = [s]; data.scaleShape = .shared; data.logw = logw; data.tau = tau

        var energies = [Double](repeating: 0, count: k), a = energies
        for kk in 0 ..< k {
            for i in 0 ..< d {
                let u = (x[i] - mu[kk * d + i]) / s
                energies[kk] += u * u / 2
            }
            a[kk] = logw[kk] - energies[kk] / tau
        }
        let top = a.max()!
        let logZ = top + Foundation.log(a.map { Foundation.exp($0 - top) }.reduce(0, +))
        let r = a.map { Foundation.exp($0 - logZ) }
        var gx = [Double](repeating: 0, count: d), gmu = [Double](repeating: 0, count: k * d)
        var gs = 0.0, gtau = 0.0
        for kk in 0 ..< k {
            for i in 0 ..< d {
                let diff = x[i] - mu[kk * d + i]
                gx[i] -= r[kk] * diff / (s * s * tau)
                gmu[kk * d + i] = r[kk] * diff / (s * s * tau)
                gs += r[kk] / tau * diff * diff / (s * s * s)
            }
            gtau += r[kk] * energies[kk] / (tau * tau)
        }

        let f = try forward(data, Double.self)
        let g = try analyticGradients(data, gL: nil, gR: nil, Double.self)
        func close(_ got: [Double], _ want: [Double], _ what: String) {
            XCTAssertEqual(got.count, want.count, what)
            for (u, v) in zip(got, want) { XCTAssertEqual(u, v, accuracy: 1e-13 * max(1, abs(v)), what) }
        }
        close(f.energies, energies, "energies")
        close(f.logZ, [logZ], "logZ")
        close(f.resp, r, "resp")
        close(g["x"]!, gx, "x gradient")
        close(g["mu"]!, gmu, "mu gradient")
        close(g["logw"]!, r, "logw gradient")
        close(g["scale"]!, [gs], "scale gradient")
        close(g["tau"]!, [gtau], "tau gradient")
    }

    /// A component masked by logw = −∞ whose −d/τ overflows to +∞ (a learned energy of
    /// −3.4e38 at τ = 0.25 in float32) stays masked: the row's only other component takes it all.
    func testMaskedComponentWithOverflowingNegativeEnergy() throws {
        var data = ProblemData(kernel: .learned, n: 1, k: 2, d: 0)
        data.energies = [-6, -Double(Float.greatestFiniteMagnitude)]
        data.logw = [-Double(Float.greatestFiniteMagnitude), -.infinity]
        data.logprior = [1e10, -1e10]
        data.tau = 0.25
        // a_0 = 24 − 3.4028235e38 + 1e10 rounds to −3.4028235e38 in float32; a_1 = −∞.
        let f = try forward(data, Float.self)
        XCTAssertEqual(f.logZ, [-Double(Float.greatestFiniteMagnitude)])
        XCTAssertEqual(f.resp, [1, 0])
        let g = try analyticGradients(data, gL: nil, gR: nil, Float.self)
        XCTAssertEqual(g["logw"]!, [1, 0])
        XCTAssertEqual(g["logprior"]!, [1, 0])
        XCTAssertEqual(g["energies"]!, [-4, 0])  // −δ/τ
    }

    // MARK: - The overlap check's filter

    private func gradientsCall(_ pool: Pool, _ adjust: (inout Problem<Double>, inout ForwardOutputs<Double>, inout GradientOutputs<Double>) -> Void) throws {
        let data = ProblemData.random(.gaussian, shape: .shared, n: 2, k: 2, d: 2, seed: 5)
        var problem = data.problem(pool, Double.self)
        var out = ForwardOutputs<Double>(logZ: pool.output(2, as: Double.self), resp: pool.output(4, as: Double.self))
        var g = GradientOutputs<Double>(x: pool.output(4, as: Double.self), mu: pool.output(4, as: Double.self))
        adjust(&problem, &out, &g)
        try Engine.gradients(problem, gL: nil, gR: nil, out, g)
    }

    private func expectOverlap(_ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                               _ adjust: (inout Problem<Double>, inout ForwardOutputs<Double>, inout GradientOutputs<Double>) -> Void) {
        let pool = Pool()
        do {
            try gradientsCall(pool, adjust)
            XCTFail("expected an overlap error (\(fragment))", file: file, line: line)
        } catch let error as ImplicitEMError {
            XCTAssertEqual(error.status, .overlap, error.message, file: file, line: line)
            XCTAssertEqual(error.message, fragment, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testBuffersThatTouchButDoNotOverlapAreAccepted() throws {
        let pool = Pool()
        let block = pool.output(12, as: Double.self)
        // x gradient, mu gradient and resp end to end in one block: each starts where the last ends.
        try gradientsCall(pool) { _, out, g in
            g.x = UnsafeMutableBufferPointer(rebasing: block[0 ..< 4])
            g.mu = UnsafeMutableBufferPointer(rebasing: block[4 ..< 8])
            out.resp = UnsafeMutableBufferPointer(rebasing: block[8 ..< 12])
        }
    }

    func testInputsMayShareMemory() throws {
        let pool = Pool()
        // x and mu read the same values (N = K): allowed, and the same results as two copies.
        let shared = pool.input([0.1, -0.4, 0.9, 0.3], as: Double.self)!
        let apart = pool.input([0.1, -0.4, 0.9, 0.3], as: Double.self)!
        var results: [[Double]] = []
        for mu in [shared, apart] {
            let gmu = pool.output(4, as: Double.self)
            try gradientsCall(pool) { p, _, g in
                p.x = shared
                p.mu = mu
                g.mu = gmu
            }
            results.append(doubles(gmu))
        }
        assertBitwise(results[0], results[1], "mu gradient")
    }

    func testOverlapsAreFoundWhateverTheOrderInMemory() {
        let pool = Pool()
        let block = pool.output(40, as: Double.self, fill: 0.5)
        // An output inside an input that starts below it.
        expectOverlap("output mu gradient overlaps input x") { p, _, g in
            p.x = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(block)[0 ..< 4])
            g.mu = UnsafeMutableBufferPointer(rebasing: block[3 ..< 7])
        }
        // Two outputs, the later one in memory listed first.
        expectOverlap("output resp overlaps output x gradient") { _, out, g in
            out.resp = UnsafeMutableBufferPointer(rebasing: block[20 ..< 24])
            g.x = UnsafeMutableBufferPointer(rebasing: block[17 ..< 21])
        }
        // One value in common at the very end, far from the other buffers.
        expectOverlap("output logZ overlaps output mu gradient") { _, out, g in
            g.mu = UnsafeMutableBufferPointer(rebasing: block[30 ..< 34])
            out.logZ = UnsafeMutableBufferPointer(rebasing: block[33 ..< 35])
        }
    }
}
