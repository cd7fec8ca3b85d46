import XCTest
@testable import ImplicitEM

/// The vector model's backward takes rows in groups, a row that takes the scalar loop (a far row,
/// whose bound on |u| passes the limit) leaving its place to the next, and `finish` fills the
/// last group with rows at coefficient 0. For N = 1…9 with a far row at each position (and
/// none), every separable kernel: every row's outputs with the bits of a one-row call, and (for
/// `differenceCases`) the gradients against float64 central differences.
final class VectorRowGroupTests: XCTestCase {
    /// Random rows, D = 3, K = 9 (one whole float64 vector and a second one partly padded; one
    /// float32 vector), with row `far` (if any) moved out to ±greatest/4.
    private func problem(_ kernel: Kernel, n: Int, far: Int?, greatest: Double) -> ProblemData {
        var p = ProblemData.random(kernel, shape: .perDimension, n: n, k: 9, d: 3, seed: UInt64(17 + n))
        if let far, var x = p.x {
            for i in 0 ..< p.d { x[far * p.d + i] = i == 1 ? -greatest / 4 : greatest / 4 }
            p.x = x
        }
        return p
    }

    /// Σ gL·logZ + Σ gR·R in float64 over the rows with a weight (the far row has none: its logZ
    /// may be −∞).
    private func objective(_ p: ProblemData, gL: [Double], gR: [Double], skipping far: Int?) throws -> Double {
        let f = try forward(p, Double.self)
        var sum = 0.0
        for row in 0 ..< p.n where row != far {
            sum += gL[row] * f.logZ[row]
            for j in 0 ..< p.k { sum += gR[row * p.k + j] * f.resp[row * p.k + j] }
        }
        return sum
    }

    /// Fourth-order central difference of `objective` in entry i of `name`.
    private func difference(_ p: ProblemData, _ name: String, _ i: Int, gL: [Double], gR: [Double],
                            skipping far: Int?) throws -> Double {
        let v = p.values(name)!
        let h = 1e-4 * max(1, abs(v[i]))
        func at(_ step: Double) throws -> Double {
            var q = p, w = v
            w[i] = v[i] + step
            q.set(name, w)
            return try objective(q, gL: gL, gR: gR, skipping: far)
        }
        let d1 = try at(h) - at(-h), d2 = try at(2 * h) - at(-2 * h)
        return (8 * d1 - d2) / (12 * h)
    }

    /// Every far position for N up to one group and a part of the next (pairs or fours); N = 9
    /// with the far row first, inside and last. (The differences cost N² objectives a case.)
    private static let differenceCases: [(n: Int, far: [Int?])] =
        (1 ... 5).map { n in (n, [nil] + (0 ..< n).map(Optional.some)) } + [(9, [nil, 0, 3, 8])]

    func testGradientsAgainstDifferences() throws {
        for kernel in Kernel.allCases where kernel.isSeparable {
            for (n, fars) in Self.differenceCases {
                for far in fars {
                    let p = problem(kernel, n: n, far: far, greatest: Double.greatestFiniteMagnitude)
                    var rng = SeededRNG(seed: UInt64(n * 10 + (far ?? 9)))
                    var gL = rng.array(n, 0.2, 1.5), gR = rng.array(n * p.k, -1, 1)
                    if let far {
                        gL[far] = 0
                        for j in 0 ..< p.k { gR[far * p.k + j] = 0 }
                    }
                    let g = try analyticGradients(p, gL: gL, gR: gR, Double.self)
                    let label = "\(kernel.name) n=\(n) far=\(far.map(String.init) ?? "none")"
                    var names = ["mu", "scale", "x"]
                    if kernel == .studentT { names.append("nu") }
                    if kernel == .huber || kernel == .pseudoHuber { names.append("delta") }
                    for name in names {
                        let analytic = g[name]!, norm = analytic.map(abs).max() ?? 0
                        for i in 0 ..< analytic.count {
                            if name == "x", let far, i / p.d == far {
                                // No weight: the far row's own gradient is exactly zero.
                                XCTAssertEqual(analytic[i], 0, "\(label) d/dx[\(i)]")
                                continue
                            }
                            // The floor of EngineGradientTests: the differences' rounding, not the code's.
                            let fd = try difference(p, name, i, gL: gL, gR: gR, skipping: far)
                            assertClose(analytic[i], fd, rel: 1e-6, floor: 1e-3 * norm, "\(label) d/d\(name)[\(i)]")
                        }
                    }
                }
            }
        }
    }


    /// Each row alone against its place in the batch: logZ, R and the x gradient, and the
    /// parameter sums of the row (the batch with gL = 1 on that row and 0 on the others, which
    /// add exact zeros).
    private func checkRowsAlone<T: IEFloat>(_ kernel: Kernel, n: Int, far: Int?, _: T.Type) throws {
        var big = problem(kernel, n: n, far: far, greatest: T.greatestFiniteMagnitude.double)
        if T.self == Float.self { big = big.roundedToFloat() }
        let k = big.k, d = big.d
        let label = "\(kernel.name) \(precisionName(T.self)) n=\(n) far=\(far.map(String.init) ?? "none")"
        let forwardAll = try forward(big, T.self)
        let all = try analyticGradients(big, gL: nil, gR: nil, T.self)
        for row in 0 ..< n {
            var one = big
            one.n = 1
            one.x = matrixRow(big.x!, row, d)
            one.logprior = big.logprior.map { matrixRow($0, row, k) }
            let what = "\(label) row \(row)"
            let f = try forward(one, T.self)
            assertBitwise(f.logZ, [forwardAll.logZ[row]], "\(what) logZ")
            assertBitwise(f.resp, matrixRow(forwardAll.resp, row, k), "\(what) resp")
            let alone = try analyticGradients(one, gL: nil, gR: nil, T.self)
            assertBitwise(alone["x"]!, matrixRow(all["x"]!, row, d), "\(what) x gradient")
            var oneHot = [Double](repeating: 0, count: n)
            oneHot[row] = 1
            let embedded = try analyticGradients(big, gL: oneHot, gR: nil, T.self)
            for name in ["mu", "scale", "nu", "delta", "logw"] {
                assertBitwise(alone[name]!, embedded[name]!, "\(what) \(name) gradient")
            }
        }
    }

    func testEveryRowHasTheBitsOfAOneRowCall() throws {
        let previous = Threads.count
        Threads.count = 1
        defer { Threads.count = previous }
        for kernel in Kernel.allCases where kernel.isSeparable {
            for n in 1 ... 9 {
                for far in [nil] + (0 ..< n).map(Optional.some) {
                    try checkRowsAlone(kernel, n: n, far: far, Double.self)
                    try checkRowsAlone(kernel, n: n, far: far, Float.self)
                }
            }
        }
    }
}
