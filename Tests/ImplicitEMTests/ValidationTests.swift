import XCTest
@testable import ImplicitEM

/// Every kind of bad input gives its status and a message naming the argument, and leaves
/// every output exactly as it was (poisoned with a sentinel).
final class ValidationTests: XCTestCase {
    static let sentinel = -12345.5

    struct Failure: Error {}

    /// Runs gradients with every output poisoned; checks the error and that nothing was written.
    func expectError(_ status: Status, _ fragment: String, _ data: ProblemData,
                     gL: [Double]? = nil, gR: [Double]? = nil,
                     adjust: (inout Problem<Double>, inout ForwardOutputs<Double>, inout GradientOutputs<Double>) -> Void = { _, _, _ in },
                     file: StaticString = #filePath, line: UInt = #line) {
        let pool = Pool()
        let n = max(data.n, 1), k = max(data.k, 1), d = max(data.d, 1)
        var out = ForwardOutputs<Double>(energies: pool.output(n * k, as: Double.self, fill: Self.sentinel),
                                         logZ: pool.output(n, as: Double.self, fill: Self.sentinel),
                                         resp: pool.output(n * k, as: Double.self, fill: Self.sentinel))
        var g = GradientOutputs<Double>()
        g.x = pool.output(n * d, as: Double.self, fill: Self.sentinel)
        g.mu = pool.output(k * d, as: Double.self, fill: Self.sentinel)
        g.scale = pool.output(data.scale?.count ?? 1, as: Double.self, fill: Self.sentinel)
        g.logw = pool.output(k, as: Double.self, fill: Self.sentinel)
        g.tau = pool.output(1, as: Double.self, fill: Self.sentinel)
        g.energies = pool.output(n * k, as: Double.self, fill: Self.sentinel)
        var problem = data.problem(pool, Double.self)
        adjust(&problem, &out, &g)
        do {
            try Engine.gradients(problem, gL: pool.input(gL, as: Double.self), gR: pool.input(gR, as: Double.self), out, g)
            XCTFail("expected \(status) (\(fragment)), got success", file: file, line: line)
        } catch let error as ImplicitEMError {
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(fragment), "message \"\(error.message)\" lacks \"\(fragment)\"", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        for buffer in [out.energies, out.logZ, out.resp, g.x, g.mu, g.scale, g.logw, g.tau, g.energies] {
            guard let buffer else { continue }
            XCTAssertTrue(buffer.allSatisfy { $0 == Self.sentinel || $0.isNaN && Self.sentinel.isNaN },
                          "an output was written before the error", file: file, line: line)
        }
    }

    func gaussian() -> ProblemData { ProblemData.random(.gaussian, shape: .perDimension, n: 4, k: 3, d: 4) }

    func testNullPointer() {
        expectError(.nullPointer, "x", gaussian()) { p, _, _ in p.x = nil }
        expectError(.nullPointer, "mu", gaussian()) { p, _, _ in p.mu = nil }
        expectError(.nullPointer, "chol", ProblemData.random(.mahalanobis)) { p, _, _ in p.chol = nil }
        expectError(.nullPointer, "energies", ProblemData.random(.learned)) { p, _, _ in p.energies = nil }
    }

    func testBadSize() {
        expectError(.badSize, "n = 0", gaussian()) { p, _, _ in p.n = 0 }
        expectError(.badSize, "k = -1", gaussian()) { p, _, _ in p.k = -1 }
        expectError(.badSize, "d = 0", gaussian()) { p, _, _ in p.d = 0 }
        var wrongMu = gaussian()
        wrongMu.mu = Array(wrongMu.mu!.dropLast(2))
        expectError(.badSize, "mu has 10 values, expected K*D = 12", wrongMu)
        var wrongScale = gaussian()
        wrongScale.scaleShape = .perComponent
        expectError(.badSize, "scale has 12 values, expected K = 3", wrongScale)
        var wrongPrior = gaussian()
        wrongPrior.logprior = [0]
        expectError(.badSize, "logprior", wrongPrior)
        expectError(.badSize, "gL", gaussian(), gL: [1, 1])
        expectError(.badSize, "gR", gaussian(), gR: [1, 1])
        expectError(.badSize, "resp", gaussian()) { _, out, _ in out.resp = UnsafeMutableBufferPointer(rebasing: out.resp![1...]) }
        expectError(.badSize, "mu gradient", gaussian()) { _, _, g in g.mu = UnsafeMutableBufferPointer(rebasing: g.mu![1...]) }
        expectError(.badSize, "overflows", gaussian()) { p, _, _ in p.n = Int.max / 2; p.k = 4 }
        expectError(.badSize, "overflows", gaussian()) { p, _, _ in p.d = Int.max / 2 }
    }

    func testBadParameter() {
        var scale = gaussian()
        scale.scale![3] = -1
        expectError(.badParameter, "scale[3] = -1 must be > 0", scale)
        var nanScale = gaussian()
        nanScale.scale![5] = .nan
        expectError(.badParameter, "scale[5]", nanScale)
        expectError(.badParameter, "tau = 0 must be > 0", gaussian()) { p, _, _ in p.tau = 0 }
        expectError(.badParameter, "tau", gaussian()) { p, _, _ in p.tau = .infinity }
        expectError(.badParameter, "nu = -1 must be > 0", ProblemData.random(.studentT)) { p, _, _ in p.nu = -1 }
        expectError(.badParameter, "delta", ProblemData.random(.huber)) { p, _, _ in p.delta = .nan }
        expectError(.badParameter, "delta", ProblemData.random(.pseudoHuber)) { p, _, _ in p.delta = 0 }
        var chol = ProblemData.random(.mahalanobis)
        chol.chol![(1 * 3 + 2) * 3 + 2] = 0
        expectError(.badParameter, "chol[1, 2, 2] = 0 must be > 0", chol)
    }

    /// The finiteness checks pass over clean blocks of 1,024 values at once: a bad value is still
    /// found and named wherever it lies (first value, either side of a block edge, last value),
    /// a −∞ that logprior allows does not hide a NaN after it in the same block, and a clean
    /// input of several blocks is accepted.
    func testNonFiniteInputInLongBuffers() {
        let n = 700, d = 4, k = 3  // x: 2,800 values, logprior: 2,100
        func long() -> ProblemData { ProblemData.random(.gaussian, shape: .perDimension, n: n, k: k, d: d) }
        for index in [0, 1023, 1024, 2047, 2048, n * d - 1] {
            var data = long()
            data.x![index] = index % 2 == 0 ? .nan : -.infinity
            expectError(.nonFiniteInput, "x[\(index / d), \(index % d)] is \(index % 2 == 0 ? "NaN" : "-inf")", data)
        }
        var prior = long()
        prior.logprior![1030] = -.infinity
        prior.logprior![1040] = .nan
        expectError(.nonFiniteInput, "logprior[\(1040 / k), \(1040 % k)] is NaN", prior)
        var energies = ProblemData.random(.learned, n: n, k: k)
        energies.energies![2099] = .infinity
        expectError(.nonFiniteInput, "energies[\(2099 / k), \(2099 % k)] is inf", energies)

        var clean = long()
        for j in stride(from: 0, to: n * k, by: 97) { clean.logprior![j] = -.infinity }
        let pool = Pool()
        let problem = clean.problem(pool, Double.self)
        let logZ = pool.output(n, as: Double.self, fill: 0)
        XCTAssertNoThrow(try Engine.forward(problem, ForwardOutputs(energies: nil, logZ: logZ, resp: nil)))
        XCTAssertTrue(logZ.allSatisfy { $0.isFinite })
        var float = long()
        float.x![1500] = .nan
        let floatPool = Pool()
        XCTAssertThrowsError(try Engine.forward(float.problem(floatPool, Float.self),
                                                ForwardOutputs(energies: nil, logZ: floatPool.output(n, as: Float.self, fill: 0),
                                                               resp: nil))) { error in
            XCTAssertTrue((error as? ImplicitEMError)?.message.contains("x[375, 0] is NaN") ?? false, "\(error)")
        }
    }

    /// Buffers long enough to be scanned on every thread first: the first non-finite value is
    /// named wherever it lies (first, a partition's edge, last, or behind a −∞ that is allowed),
    /// and a buffer whose only non-finite values are allowed −∞ passes.
    func testNonFiniteInputInBuffersScannedOnEveryThread() throws {
        let k = 4, n = parallelFiniteCheckValues / k + 3, count = n * k
        let partitions = Partitions(rows: count, costPerRow: 1)
        XCTAssertGreaterThan(partitions.count, 1)
        let edge = partitions.range(1).lowerBound
        var values = [Double](repeating: 0.5, count: count)
        func message(_ allowMinusInfinity: Bool) -> String? {
            do {
                try values.withUnsafeBufferPointer {
                    try checkFinite($0, "energies", columns: k, allowMinusInfinity: allowMinusInfinity)
                }
                return nil
            } catch let error as ImplicitEMError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        for index in [0, edge - 1, edge, count / 2, count - 1] {
            values[index] = .nan
            XCTAssertEqual(message(false), "energies[\(index / k), \(index % k)] is NaN")
            values[count - 1] = .infinity
            XCTAssertEqual(message(false), "energies[\(index / k), \(index % k)] is \(index == count - 1 ? "inf" : "NaN")")
            values[index] = 0.5
            values[count - 1] = 0.5
        }
        for index in stride(from: 3, to: count, by: 4099) { values[index] = -.infinity }
        XCTAssertNil(message(true))
        XCTAssertEqual(message(false), "energies[0, 3] is -inf")
        values[edge + 1] = .nan
        XCTAssertEqual(message(true), "energies[\((edge + 1) / k), \((edge + 1) % k)] is NaN")

        // Through the engine: the call fails before writing anything.
        var energies = ProblemData.random(.learned, n: n, k: k)
        energies.energies![edge] = -.infinity
        expectError(.nonFiniteInput, "energies[\(edge / k), \(edge % k)] is -inf", energies)
    }

    func testNonFiniteInput() {
        var x = gaussian()
        x.x![1 * 4 + 2] = .nan
        expectError(.nonFiniteInput, "x[1, 2] is NaN", x)
        var mu = gaussian()
        mu.mu![2 * 4 + 3] = -.infinity
        expectError(.nonFiniteInput, "mu[2, 3] is -inf", mu)
        var logw = gaussian()
        logw.logw![1] = .infinity
        expectError(.nonFiniteInput, "logw[1] is inf", logw)
        var logwNaN = gaussian()
        logwNaN.logw![0] = .nan
        expectError(.nonFiniteInput, "logw[0] is NaN", logwNaN)
        var prior = gaussian()
        prior.logprior![5] = .nan
        expectError(.nonFiniteInput, "logprior[1, 2] is NaN", prior)
        var energies = ProblemData.random(.learned)
        energies.energies![4] = .infinity
        expectError(.nonFiniteInput, "energies[1, 1] is inf", energies)
        var chol = ProblemData.random(.mahalanobis)
        chol.chol![(0 * 3 + 2) * 3 + 1] = .nan
        expectError(.nonFiniteInput, "chol[0, 2, 1] is NaN", chol)
        var gL = [Double](repeating: 1, count: 4)
        gL[3] = .nan
        expectError(.nonFiniteInput, "gL[3] is NaN", gaussian(), gL: gL)
        var gR = [Double](repeating: 0, count: 12)
        gR[7] = -.infinity
        expectError(.nonFiniteInput, "gR[2, 1] is -inf", gaussian(), gR: gR)
    }

    /// −∞ is a mask in logw and logprior, and NaN above the Cholesky diagonal is ignored.
    func testAllowedNonFiniteValues() throws {
        var p = gaussian()
        p.logw![1] = -.infinity
        p.logprior![2] = -.infinity
        XCTAssertNoThrow(try forward(p, Double.self))
        var m = ProblemData.random(.mahalanobis)
        m.chol![1] = .nan
        XCTAssertNoThrow(try forward(m, Double.self))
    }

    func testUnsupported() {
        var logistic = ProblemData.random(.logistic)
        logistic.normalized = true
        expectError(.unsupported, "logistic", logistic)
        var learned = ProblemData.random(.learned)
        learned.normalized = true
        expectError(.unsupported, "learned", learned)
        var student = ProblemData.random(.studentT)
        student.normalized = true
        student.tau = 2.5
        expectError(.unsupported, "tau", student)
    }

    func testOverlap() {
        expectError(.overlap, "resp", gaussian()) { _, out, _ in
            out.resp = UnsafeMutableBufferPointer(start: out.energies!.baseAddress, count: out.energies!.count)
        }
        let pool = Pool()
        expectError(.overlap, "mu", gaussian()) { p, _, g in
            let alias = pool.output(p.mu!.count, as: Double.self, fill: Self.sentinel)
            p.mu = UnsafeBufferPointer(alias)
            g.mu = alias
        }
        expectError(.overlap, "logZ", gaussian()) { p, out, _ in
            p.logw = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(out.logZ!)[0 ..< 3])
        }
    }

    func testCallbackFailures() {
        struct Broken: Error, CustomStringConvertible { var description: String { "broken network" } }
        var p = ProblemData.random(.learned, n: 3000, k: 2)
        p.energies = nil
        expectError(.callbackFailed, "energy function failed for rows 1024..<2048: broken network", p) { problem, _, _ in
            problem.energyFunction = { _, first, _, out in
                if first >= 1024 { throw Broken() }
                for j in 0 ..< out.count { out[j] = 1 }
            }
        }
        expectError(.callbackFailed, "NaN at energies[2049, 1] for rows 2048..<3000", p) { problem, _, _ in
            problem.energyFunction = { _, first, _, out in
                for j in 0 ..< out.count { out[j] = 1 }
                if first == 2048 { out[3] = .nan }
            }
        }
        expectError(.callbackFailed, "custom message", p) { problem, _, _ in
            problem.energyFunction = { _, _, _, _ in throw ImplicitEMError(.callbackFailed, "custom message") }
        }
    }

    /// The callback sees every row once, in order, with its x rows.
    func testCallbackSeesRowsInOrder() throws {
        let n = 2500, k = 2, d = 2
        var rng = SeededRNG(seed: 3)
        let x = rng.array(n * d, -1, 1)
        var seen: [Int] = []
        let pool = Pool()
        let problem = Problem<Double>(kernel: .learned, n: n, k: k, d: d, x: pool.input(x, as: Double.self),
                                      energyFunction: { xRows, first, rows, out in
            seen.append(first)
            XCTAssertEqual(xRows.count, rows * d)
            for r in 0 ..< rows {
                out[r * k] = xRows[r * d] * xRows[r * d]
                out[r * k + 1] = xRows[r * d + 1] * xRows[r * d + 1]
            }
        })
        let e = pool.output(n * k, as: Double.self)
        try Engine.forward(problem, ForwardOutputs(energies: e))
        XCTAssertEqual(seen, [0, 1024, 2048])
        for i in 0 ..< n * k { XCTAssertEqual(e[i], x[i] * x[i]) }
    }

    func testStatsAndActivationValidation() throws {
        let pool = Pool()
        let p = gaussian().problem(pool, Double.self)
        let sumR = pool.output(3, as: Double.self, fill: Self.sentinel)
        XCTAssertThrowsError(try Engine.stats(p, weights: pool.input([1, -1, 1, 1], as: Double.self), sumR: sumR, sumRX: nil, sumRXX: nil)) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.status, .badParameter)
        }
        XCTAssertTrue(sumR.allSatisfy { $0 == Self.sentinel })
        let z = pool.input([0.5, .nan], as: Double.self)!
        let act = pool.output(2, as: Double.self, fill: Self.sentinel)
        XCTAssertThrowsError(try Engine.activation(kernel: .gaussian, z: z, m: 1, scale: 1, nu: 0, delta: 0, tau: 1, act: act, dact: nil)) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.message, "z[1] is NaN")
        }
        XCTAssertThrowsError(try Engine.activation(kernel: .cosine, z: z, m: 1, scale: 1, nu: 0, delta: 0, tau: 1, act: act, dact: nil)) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.status, .unsupported)
        }
        XCTAssertTrue(act.allSatisfy { $0 == Self.sentinel })
        let c = pool.output(3, as: Double.self, fill: Self.sentinel)
        var logistic = ProblemData.random(.logistic, n: 4, k: 3)
        logistic.normalized = false
        XCTAssertThrowsError(try Engine.logNormalizer(logistic.problem(pool, Double.self), c)) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.status, .unsupported)
        }
        XCTAssertTrue(c.allSatisfy { $0 == Self.sentinel })
    }
}
