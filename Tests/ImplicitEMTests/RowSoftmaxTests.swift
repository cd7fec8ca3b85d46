import XCTest
@testable import ImplicitEM

/// The per-row softmax steps (RowMath.swift) against plain scalar loops written here, in both
/// precisions, for counts with and without a scalar tail, every set of optional terms and
/// outputs, and rows full of ties.
final class RowSoftmaxTests: XCTestCase {
    static let counts = [1, 3, 8, 16, 17, 32, 40, 64, 71]

    /// Small whole numbers, so that equal logits are common; some −∞ weights (masked).
    func row<T: IEFloat>(_ count: Int, _ rng: inout SeededRNG, _: T.Type) -> [T] {
        (0 ..< count).map { _ in T(fromDouble: Double(Int.random(in: 0 ... 3, using: &rng))) }
    }

    func checkLogits<T: IEFloat>(_: T.Type) {
        var rng = SeededRNG(seed: 5)
        for count in Self.counts {
            for variant in 0 ..< 16 {
                let tau: T = variant & 8 != 0 ? T(fromDouble: 0.5) : 1
                let energy = row(count, &rng, T.self)
                var logw: [T]? = variant & 1 != 0 ? row(count, &rng, T.self) : nil
                if count > 2, logw != nil { logw![1] = -T.infinity }
                let logprior: [T]? = variant & 2 != 0 ? row(count, &rng, T.self) : nil
                let c: [T]? = variant & 4 != 0 ? row(count, &rng, T.self) : nil
                // The plain formula, a plain scan with `>`.
                var expected = [T](repeating: 0, count: count)
                var top = -T.infinity
                for j in 0 ..< count {
                    var a = -(energy[j] / tau)
                    if let logw { a += logw[j] }
                    if let logprior { a += logprior[j] }
                    if let c { a -= c[j] }
                    if a.isNaN { a = -T.infinity }
                    expected[j] = a
                    if a > top { top = a }
                }
                var out = [T](repeating: .nan, count: count)
                let value = energy.withUnsafeBufferPointer { e in
                    logw.withOptionalPointer { w in
                        logprior.withOptionalPointer { p in
                            c.withOptionalPointer { cp in
                                out.withUnsafeMutableBufferPointer {
                                    RowSoftmax.logits(e.baseAddress!, LogitTerms(tau: tau, logw: w, logprior: p, c: cp),
                                                      into: $0.baseAddress!, count)
                                }
                            }
                        }
                    }
                }
                let label = "\(T.self) count \(count) variant \(variant)"
                XCTAssertEqual(out, expected, label)
                XCTAssertEqual(value, top, label)
            }
        }
    }

    func testLogitsAndMaximum() {
        checkLogits(Double.self)
        checkLogits(Float.self)
    }

    /// Every logit masked: −∞.
    func testAllMasked() {
        let energy = [Double](repeating: 1, count: 19), logw = [Double](repeating: -.infinity, count: 19)
        var out = [Double](repeating: 0, count: 19)
        let value = logw.withUnsafeBufferPointer { w in
            RowSoftmax.logits(energy, LogitTerms(tau: 1, logw: w.baseAddress, logprior: nil, c: nil), into: &out, 19)
        }
        XCTAssertEqual(value, -.infinity)
        XCTAssertEqual(out, logw)
    }

    func checkNormalise<T: IEFloat>(_: T.Type) {
        var rng = SeededRNG(seed: 9)
        for count in Self.counts {
            for variant in 0 ..< 64 {
                let gL: T = variant & 16 != 0 ? T(fromDouble: -1.5) : 1
                let tau: T = variant & 32 != 0 ? T(fromDouble: 0.25) : 1
                // Exponentials in [0, 1] with exact zeros (masked components).
                var e = (0 ..< count).map { _ in T(fromDouble: rng.uniform(0, 1)) }
                if count > 2 { e[2] = 0 }
                let inverse = T(fromDouble: 1 / rng.uniform(1, 3))
                let start = (0 ..< count).map { _ in T(fromDouble: rng.uniform(-1, 1)) }
                var values = e, resp = [T](repeating: .nan, count: count), coefficient = resp
                var sums = start, gradLogprior = resp, gradEnergies = resp
                let wantResp = variant & 1 != 0, wantSums = variant & 2 != 0
                let wantPrior = variant & 4 != 0, wantEnergies = variant & 8 != 0
                resp.withUnsafeMutableBufferPointer { r in
                    coefficient.withUnsafeMutableBufferPointer { co in
                        sums.withUnsafeMutableBufferPointer { s in
                            gradLogprior.withUnsafeMutableBufferPointer { gp in
                                gradEnergies.withUnsafeMutableBufferPointer { ge in
                                    let deltas = RowSoftmax.Deltas(
                                        gL: gL, tau: tau, coefficient: co.baseAddress!,
                                        sums: wantSums ? s.baseAddress : nil,
                                        gradLogprior: wantPrior ? gp.baseAddress : nil,
                                        gradEnergies: wantEnergies ? ge.baseAddress : nil)
                                    RowSoftmax.normalise(&values, count, times: inverse, keep: true,
                                                         resp: wantResp ? r.baseAddress : nil, deltas)
                                }
                            }
                        }
                    }
                }
                let label = "\(T.self) count \(count) variant \(variant)"
                for j in 0 ..< count {
                    let r = e[j] * inverse
                    let product = r * gL
                    let delta: T = product == 0 ? 0 : product
                    let coef: T = delta == 0 ? 0 : -(delta / tau)
                    XCTAssertEqual(values[j], r, label)
                    XCTAssertEqual(coefficient[j], coef, label)
                    XCTAssertEqual(coefficient[j].sign, coef.sign, "the sign of 0: \(label)")
                    if wantResp { XCTAssertEqual(resp[j], r, label) } else { XCTAssertTrue(resp[j].isNaN, label) }
                    XCTAssertEqual(sums[j], wantSums ? start[j] + delta : start[j], label)
                    if wantPrior { XCTAssertEqual(gradLogprior[j], delta, label) }
                    if wantEnergies {
                        XCTAssertEqual(gradEnergies[j], coef, label)
                        XCTAssertEqual(gradEnergies[j].sign, coef.sign, label)
                    }
                }
            }
        }
    }

    func testNormaliseEveryOutputSet() {
        checkNormalise(Double.self)
        checkNormalise(Float.self)
    }

    /// e^(v − max) for all but the maxima (set to 1), and the sum of the others plus 1 for a
    /// second maximum, against libm.
    func testExponentials() {
        var rng = SeededRNG(seed: 3)
        for count in Self.counts {
            for tie in [false, true] where !tie || count > 2 {
                var v = (0 ..< count).map { _ in rng.uniform(-800, -1e-3) }
                v[count / 2] = 0
                if tie { v[count - 1] = 0 }
                if count > 1 { v[0] = -.infinity }
                var out = v
                let rest = RowSoftmax.exponentials(&out, count, minus: 0)
                var sum = tie ? 1.0 : 0.0
                for j in 0 ..< count {
                    if v[j] == 0 {
                        XCTAssertEqual(out[j], 1)
                        continue
                    }
                    let truth = Double.exp(v[j])
                    XCTAssertLessThanOrEqual(abs(out[j] - truth), truth.ulp, "count \(count) at \(v[j])")
                    sum += out[j]
                }
                XCTAssertEqual(rest, sum, accuracy: 1e-15 * max(sum, 1), "count \(count) tie \(tie)")
            }
        }
    }

    /// logZ = top + log(1 + rest) for a run of rows, against libm's log1p: every count up to a few
    /// vectors (whole vectors and tails), rests from 0 (a limit row, or K = 1) and subnormal up to
    /// K − 1, and limit rows whose top is ±∞. Each row's value must not depend on the others.
    func checkLogPartitions<T: IEFloat>(_: T.Type, _ rng: inout SeededRNG) {
        for count in 0 ... 40 {
            var tops = [T](), rests = [T]()
            for i in 0 ..< count {
                switch i % 7 {
                case 0: rests.append(0)
                case 1: rests.append(T.leastNonzeroMagnitude)
                case 2: rests.append(T(fromDouble: rng.uniform(0, 1e-12)))
                case 3: rests.append(T(fromDouble: rng.uniform(0, 1)))
                default: rests.append(T(fromDouble: rng.uniform(0, 63)))
                }
                tops.append(T(fromDouble: rng.uniform(-50, 50)))
            }
            if count > 5 {
                tops[5] = -T.infinity
                rests[5] = 0
            }
            if count > 12 {
                tops[12] = T.infinity
                rests[12] = 0
            }
            var out = [T](repeating: .nan, count: count)
            RowSoftmax.logPartitions(tops: tops, rests: rests, count, into: &out)
            for i in 0 ..< count {
                let label = "\(T.self) count \(count) row \(i): top \(tops[i]) rest \(rests[i])"
                let log = T.log1p(rests[i]), expected = tops[i] + log
                if !expected.isFinite {
                    XCTAssertEqual(out[i], expected, label)
                    continue
                }
                // libm's log1p and the vector one are each within an ulp; the sum rounds once more.
                XCTAssertLessThanOrEqual(abs(out[i] - expected), log.ulp + expected.ulp, label)
                var alone = [T.nan]
                RowSoftmax.logPartitions(tops: [tops[i]], rests: [rests[i]], 1, into: &alone)
                XCTAssertEqual(alone[0], out[i], label)
            }
        }
    }

    func testLogPartitions() {
        var rng = SeededRNG(seed: 11)
        checkLogPartitions(Double.self, &rng)
        checkLogPartitions(Float.self, &rng)
    }
}

private extension Optional {
    func withOptionalPointer<T, R>(_ body: (UnsafePointer<T>?) -> R) -> R where Wrapped == [T] {
        guard let array = self else { return body(nil) }
        return array.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
