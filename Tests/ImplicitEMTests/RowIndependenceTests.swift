import XCTest
@testable import ImplicitEM

/// A row's outputs never depend on the rows around it: each row of an N-row call has the bits a
/// one-row call gives (rows share the vector model's energy pairs and its paired backward, the
/// blocked models' blocks and the row scratch), for every kernel and precision, N odd and even,
/// with masked, partly masked and overflowing rows among regular ones, with and without gR and
/// gL. And the softmax exponentials give the bits of their plain form.
final class RowIndependenceTests: XCTestCase {

    /// n rows with row 2 fully masked, row 3 partly masked, row 5 overflowing (energies beyond the
    /// range of T), the others regular.
    private func problem<T: IEFloat>(_ kernel: Kernel, n: Int, k: Int, _: T.Type) -> ProblemData {
        var p = ProblemData.random(kernel, shape: .perDimension, n: n, k: k, d: 3, seed: UInt64(n))
        p.tau = 0.5
        var logprior = p.logprior!
        for j in 0 ..< k { logprior[2 * k + j] = -.infinity }
        logprior[3 * k + 1] = -.infinity
        p.logprior = logprior
        let huge = T.greatestFiniteMagnitude.double / 4
        if var x = p.x {
            for i in 0 ..< p.d { x[5 * p.d + i] = i == 0 ? huge : -huge }
            p.x = x
        }
        if var energies = p.energies {
            for j in 0 ..< k { energies[5 * k + j] = huge * Double(1 + j % 3) }
            p.energies = energies
        }
        return p
    }

    private func single(_ big: ProblemData, row: Int) -> ProblemData {
        var p = big
        p.n = 1
        p.x = big.x.map { matrixRow($0, row, big.d) }
        p.logprior = big.logprior.map { matrixRow($0, row, big.k) }
        p.energies = big.energies.map { matrixRow($0, row, big.k) }
        return p
    }

    private func check<T: IEFloat>(_ kernel: Kernel, n: Int, k: Int, _ type: T.Type) throws {
        let big = problem(kernel, n: n, k: k, T.self)
        let d = big.d
        let label = "\(kernel.name) \(precisionName(T.self)) n=\(n) k=\(k)"
        var rng = SeededRNG(seed: 11)
        let gR = rng.array(n * k, -1, 1), gL = rng.array(n, 0.5, 2)
        let forwardAll = try forward(big, T.self)
        let plainAll = try analyticGradients(big, gL: nil, gR: nil, T.self)
        let weightedAll = try analyticGradients(big, gL: gL, gR: gR, T.self)
        for row in 0 ..< n {
            let one = single(big, row: row)
            let what = "\(label) row \(row)"
            let f = try forward(one, T.self)
            assertBitwise(f.energies, matrixRow(forwardAll.energies, row, k), "\(what) energies")
            assertBitwise(f.logZ, [forwardAll.logZ[row]], "\(what) logZ")
            assertBitwise(f.resp, matrixRow(forwardAll.resp, row, k), "\(what) resp")
            let plain = try analyticGradients(one, gL: nil, gR: nil, T.self)
            let weighted = try analyticGradients(one, gL: [gL[row]], gR: matrixRow(gR, row, k), T.self)
            for (name, width) in [("x", d), ("logprior", k), ("energies", k)] {
                assertBitwise(plain[name]!, matrixRow(plainAll[name]!, row, width), "\(what) \(name) gradient")
                assertBitwise(weighted[name]!, matrixRow(weightedAll[name]!, row, width), "\(what) \(name) gradient with gR")
            }
            // The parameter sums of one row: every other row of the large call has gL = 0 and
            // adds exact zeros.
            var oneHot = [Double](repeating: 0, count: n)
            oneHot[row] = 1
            let embedded = try analyticGradients(big, gL: oneHot, gR: nil, T.self)
            for name in ["mu", "scale", "nu", "delta", "chol", "logw", "tau"] {
                assertBitwise(plain[name]!, embedded[name]!, "\(what) \(name) gradient")
            }
        }
    }

    func testEveryRowHasTheBitsOfAOneRowCall() throws {
        let previous = Threads.count
        Threads.count = 1
        defer { Threads.count = previous }
        for kernel in Kernel.allCases {
            for n in [7, 8] {
                // 19 components: whole vectors and a scalar tail in either precision.
                try check(kernel, n: n, k: 19, Double.self)
                try check(kernel, n: n, k: 19, Float.self)
            }
            try check(kernel, n: 8, k: 32, Double.self)
            try check(kernel, n: 8, k: 32, Float.self)
        }
    }

    /// The blocked models (64 rows a block) across a block boundary.
    func testBlockedModelsAcrossBlocks() throws {
        for kernel in [Kernel.cosine, .mahalanobis] {
            try check(kernel, n: 67, k: 5, Double.self)
            try check(kernel, n: 67, k: 5, Float.self)
        }
    }

    /// `RowSoftmax.exponentials` against its plain form: the maxima's values set to −∞ (e^−∞ = 0
    /// in the sum), the vector chunks' e^(v − max) summed per lane and then across the lanes, the
    /// scalar tail with libm, 1 added for each maximum after the first, and the maxima's values
    /// set to 1 at the end. Every count up to four vectors and every position of the maximum,
    /// alone and tied with a second one.
    private func checkExponentials<V: RowVector>(_: V.Type) where V.Scalar: IEFloat {
        typealias S = V.Scalar
        let lanes = V.scalarCount
        var rng = SeededRNG(seed: 5)
        for count in 1 ... 4 * lanes + 3 {
            for skip in 0 ..< count {
                for tied in [nil, count > 2 ? (skip + 2) % count : nil] {
                    var v = (0 ..< count).map { _ in S(fromDouble: rng.uniform(-90, -1e-3)) }
                    v[skip] = 0
                    if let tied { v[tied] = 0 }
                    if count > 2 { v[(skip + 1) % count] = -.infinity }
                    let maxima = v.indices.filter { v[$0] == 0 }
                    var plain = v
                    for i in maxima { plain[i] = -.infinity }
                    var acc = V()
                    var j = 0
                    while j + lanes <= count {
                        var chunk = V()
                        for lane in 0 ..< lanes { chunk[lane] = plain[j + lane] }
                        let e = chunk.exponentialOfNonPositive
                        for lane in 0 ..< lanes { plain[j + lane] = e[lane] }
                        acc += e
                        j += lanes
                    }
                    var expected = acc.total
                    while j < count {
                        plain[j] = S.exp(plain[j])
                        expected += plain[j]
                        j += 1
                    }
                    if maxima.count > 1 { expected += S(maxima.count - 1) }
                    for i in maxima { plain[i] = 1 }
                    var out = v
                    let rest = RowSoftmax.exponentials(&out, count, minus: 0)
                    let what = "\(S.self) count \(count) maxima \(maxima)"
                    XCTAssertEqual(rest.double.bitPattern, expected.double.bitPattern, "\(what) sum")
                    for i in 0 ..< count where out[i].double.bitPattern != plain[i].double.bitPattern {
                        XCTFail("\(what) value \(i): \(out[i]) vs \(plain[i])")
                        break
                    }
                }
            }
        }
    }

    func testExponentialsAsTheirPlainForm() {
        checkExponentials(SIMD8<Double>.self)
        checkExponentials(SIMD16<Float>.self)
    }
}
