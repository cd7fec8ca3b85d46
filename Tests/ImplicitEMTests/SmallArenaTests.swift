import Foundation
import XCTest
@testable import ImplicitEM

/// The working memory of a call: each thread reuses one block; a call nested in another on the
/// same thread (from an energy callback) takes its own; calls of any size in any order give the
/// same results as the formulas.
final class SmallArenaTests: XCTestCase {
    /// Gaussian energies of one row, written out: d_k = Σ_i (x_i − μ_ki)²/2.
    private func gaussianEnergies(_ x: [Double], _ mu: [Double], k: Int, d: Int) -> [Double] {
        (0 ..< k).map { kk in (0 ..< d).reduce(0.0) { s, i in s + (x[i] - mu[kk * d + i]) * (x[i] - mu[kk * d + i]) / 2 } }
    }

    /// logZ = log Σ_k e^(−E_k), r = e^(−E − logZ).
    private func softmax(_ energies: [Double]) -> (logZ: Double, resp: [Double]) {
        let top = energies.map { -$0 }.max()!
        let logZ = top + Foundation.log(energies.map { Foundation.exp(-$0 - top) }.reduce(0, +))
        return (logZ, energies.map { Foundation.exp(-$0 - logZ) })
    }

    func testCallNestedInAnEnergyCallback() throws {
        let x = [0.3, -1.2, 0.7, 2.0]
        let mu = [0.0, -1.0, 0.5, 1.5, 1.0, 1.0, -0.5, 0.0, -2.0, 0.3, 0.9, 1.1]
        let k = 3, d = 4
        var innerLogZ: [Double] = []
        // The learned kernel's energies are the gaussian energies, computed by a nested call.
        let energyFunction: EnergyFunction<Double> = { rows, _, count, out in
            try mu.withUnsafeBufferPointer { muBuffer in
                let problem = Problem<Double>(kernel: .gaussian, n: count, k: k, d: d, x: rows, mu: muBuffer)
                var logZ = [Double](repeating: 0, count: count)
                try logZ.withUnsafeMutableBufferPointer { l in
                    try Engine.forward(problem, ForwardOutputs(energies: out, logZ: l))
                }
                innerLogZ = logZ
            }
        }
        var energies = [Double](repeating: .nan, count: k), logZ = [Double.nan], resp = energies
        var gradEnergies = energies
        try x.withUnsafeBufferPointer { xb in
            let problem = Problem<Double>(kernel: .learned, n: 1, k: k, d: d, x: xb, energyFunction: energyFunction)
            try energies.withUnsafeMutableBufferPointer { e in
                try logZ.withUnsafeMutableBufferPointer { l in
                    try resp.withUnsafeMutableBufferPointer { r in
                        try gradEnergies.withUnsafeMutableBufferPointer { g in
                            try Engine.gradients(problem, gL: nil, gR: nil, ForwardOutputs(energies: e, logZ: l, resp: r),
                                                 GradientOutputs(energies: g))
                        }
                    }
                }
            }
        }
        let want = gaussianEnergies(x, mu, k: k, d: d)
        let (wantLogZ, wantResp) = softmax(want)
        for j in 0 ..< k {
            XCTAssertEqual(energies[j], want[j], accuracy: 1e-14 * max(1, abs(want[j])), "energies[\(j)]")
            XCTAssertEqual(resp[j], wantResp[j], accuracy: 1e-14, "resp[\(j)]")
            XCTAssertEqual(gradEnergies[j], -wantResp[j], accuracy: 1e-14, "energies gradient[\(j)]")
        }
        XCTAssertEqual(logZ[0], wantLogZ, accuracy: 1e-14 * max(1, abs(wantLogZ)))
        XCTAssertEqual(innerLogZ.count, 1)
        XCTAssertEqual(innerLogZ[0], wantLogZ, accuracy: 1e-14 * max(1, abs(wantLogZ)))
    }

    /// A call whose buffers spill past the thread's block, then small calls that reuse it (dirty
    /// from the large one): every result as computed alone, on this thread and on others.
    func testSmallCallsAfterALargeOneAndOnOtherThreads() throws {
        let small = ProblemData.random(.gaussian, shape: .shared, n: 1, k: 3, d: 4, seed: 21)
        let large = ProblemData.random(.laplace, shape: .perDimension, n: 300, k: 64, d: 32, seed: 22)
        let alone = try analyticGradients(small, gL: nil, gR: nil, Double.self)
        let largeAlone = try analyticGradients(large, gL: nil, gR: nil, Double.self)
        for _ in 0 ..< 3 {
            XCTAssertEqual(try analyticGradients(large, gL: nil, gR: nil, Double.self), largeAlone)
            XCTAssertEqual(try analyticGradients(small, gL: nil, gR: nil, Double.self), alone)
        }
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 4)
        defer { results.deallocate() }
        results.initialize(repeating: false)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            var same = true
            for _ in 0 ..< 50 {
                same = same && (try? analyticGradients(small, gL: nil, gR: nil, Double.self)) == alone
            }
            results[t] = same
        }
        XCTAssertEqual(Array(results), [true, true, true, true])
        // The formulas for the small problem: logw gradient = r, mu gradient = r_k (x − μ_k).
        let x = small.x!, mu = small.mu!, s = small.scale![0], tau = small.tau
        var e = [Double](repeating: 0, count: 3)
        for kk in 0 ..< 3 {
            for i in 0 ..< 4 { e[kk] += (x[i] - mu[kk * 4 + i]) * (x[i] - mu[kk * 4 + i]) / (2 * s * s) }
            e[kk] = e[kk] / tau - (small.logw?[kk] ?? 0) - (small.logprior?[kk] ?? 0)
        }
        let (_, r) = softmax(e)
        for kk in 0 ..< 3 {
            XCTAssertEqual(alone["logw"]![kk], r[kk], accuracy: 1e-13)
            for i in 0 ..< 4 {
                let want = r[kk] * (x[i] - mu[kk * 4 + i]) / (s * s * tau)
                XCTAssertEqual(alone["mu"]![kk * 4 + i], want, accuracy: 1e-13 * max(1, abs(want)))
            }
        }
    }
}
