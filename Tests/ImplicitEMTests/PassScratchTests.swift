import XCTest
@testable import ImplicitEM

/// The row pass hands each partition its accumulators and scratch uninitialised and the
/// partition zeroes what it reads: results must not depend on what the memory held before,
/// and the τ gradient (summed in place) must match central differences with and without gR.
final class PassScratchTests: XCTestCase {
    private let kernels: [Kernel] = [.gaussian, .studentT, .pseudoHuber, .cosine, .mahalanobis]

    private func upstream(_ data: ProblemData, seed: UInt64) -> (gL: [Double], gR: [Double]) {
        var rng = SeededRNG(seed: seed)
        return (rng.array(data.n, 0.2, 1.5), rng.array(data.n * data.k, -1, 1))
    }

    func testTauGradientAgainstCentralDifferences() throws {
        for kernel in kernels {
            // 300 rows × 40 components: more than one block of rows for the blocked kernels.
            let data = ProblemData.random(kernel, n: 300, k: 40, d: 5, seed: 5)
            let (gL, gR) = upstream(data, seed: 9)
            let zeros = [Double](repeating: 0, count: data.n * data.k)
            for useGR in [false, true] {
                let g = try analyticGradients(data, gL: gL, gR: useGR ? gR : nil, Double.self)
                let fd = try centralDifference(data, "tau", 0, gL: gL, gR: useGR ? gR : zeros)
                assertClose(g["tau"]![0], fd, rel: 1e-7, "\(kernel.name) tau gradient, gR \(useGR)")
            }
        }
    }

    /// Gradients without gx (the models then accumulate into scratch sinks), computed before and
    /// after large calls that leave other values in the thread's block and on the heap, on one and
    /// two threads: bitwise the same.
    func testResultsDoNotDependOnWhatTheBuffersHeldBefore() throws {
        for kernel in kernels {
            for (n, k, d) in [(1, 3, 4), (200, 40, 12)] {
                let data = ProblemData.random(kernel, n: n, k: k, d: d, seed: 21)
                let (gL, gR) = upstream(data, seed: 4)
                func run(threads: Int) throws -> [Double] {
                    let previous = Threads.count
                    Threads.count = threads
                    defer { Threads.count = previous }
                    let pool = Pool()
                    var g = GradientOutputs<Double>()
                    g.mu = pool.output(data.k * data.d, as: Double.self)
                    g.logw = pool.output(data.k, as: Double.self)
                    g.tau = pool.output(1, as: Double.self)
                    if let scale = data.scale { g.scale = pool.output(scale.count, as: Double.self) }
                    if data.chol != nil { g.chol = pool.output(data.k * data.d * data.d, as: Double.self) }
                    try Engine.gradients(data.problem(pool, Double.self), gL: pool.input(gL, as: Double.self),
                                         gR: pool.input(gR, as: Double.self), ForwardOutputs(), g)
                    return doubles(g.mu) + doubles(g.logw) + doubles(g.tau) + doubles(g.scale) + doubles(g.chol)
                }
                let first = try run(threads: 1)
                // Large calls with other values fill the thread's block and heap blocks of similar size.
                var other = ProblemData.random(kernel, n: 1500, k: k, d: d, seed: 99)
                other.x = other.x.map { $0.map { $0 * 37 } }
                _ = try analyticGradients(other, gL: nil, gR: nil, Double.self)
                _ = try analyticGradients(ProblemData.random(kernel, n: 2, k: k, d: d, seed: 98), gL: nil, gR: nil,
                                          Double.self)
                for threads in [1, 2] {
                    let again = try run(threads: threads)
                    XCTAssertEqual(first.count, again.count)
                    for (i, (a, b)) in zip(first, again).enumerated() where a.bitPattern != b.bitPattern {
                        XCTFail("\(kernel.name) n=\(n) threads=\(threads) value \(i): \(a) vs \(b)")
                        break
                    }
                }
            }
        }
    }
}
