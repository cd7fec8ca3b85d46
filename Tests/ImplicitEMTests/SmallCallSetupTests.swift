import XCTest
@testable import ImplicitEM

/// The set-up of a one-row call zeroes only what the row pass reads before it writes: the
/// component lanes past K (a vector's padding), the sums and the sinks. Every separable kernel,
/// K below, at and above one vector of lanes: each gradient (the shape gradients sum over
/// every lane) against central differences, and the same bits after calls that leave other
/// values in the thread's working memory.
final class SmallCallSetupTests: XCTestCase {
    private let kernels: [Kernel] = [.gaussian, .laplace, .logistic, .studentT, .huber, .pseudoHuber, .exponential]

    private func gradients(_ data: ProblemData) throws -> [String: [Double]] {
        try analyticGradients(data, gL: nil, gR: nil, Double.self)
    }

    func testOneRowGradientsAgainstCentralDifferences() throws {
        for kernel in kernels {
            for (k, d) in [(1, 1), (3, 4), (8, 2), (9, 3)] {
                for shape in [ScaleShape.shared, .perDimension] {
                    let data = ProblemData.random(kernel, shape: shape, n: 1, k: k, d: d, seed: 31)
                    let g = try gradients(data)
                    let ones = [Double](repeating: 1, count: data.n)
                    let zeros = [Double](repeating: 0, count: data.n * data.k)
                    var names = ["x", "mu", "scale", "logw", "tau"]
                    if kernel == .studentT { names.append("nu") }
                    if kernel == .huber || kernel == .pseudoHuber { names.append("delta") }
                    for name in names {
                        for i in 0 ..< g[name]!.count {
                            let fd = try centralDifference(data, name, i, gL: ones, gR: zeros)
                            assertClose(g[name]![i], fd, rel: 1e-6, floor: 1e-4,
                                        "\(kernel.name) k \(k) d \(d) \(shape) \(name)[\(i)]")
                        }
                    }
                }
            }
        }
    }

    func testOneRowBitsDoNotDependOnEarlierCalls() throws {
        for kernel in kernels {
            for (k, d) in [(3, 4), (9, 3)] {
                let data = ProblemData.random(kernel, shape: .shared, n: 1, k: k, d: d, seed: 41)
                let alone = try gradients(data)
                // Wider problems with large values leave them in the lanes the small call reuses.
                var other = ProblemData.random(kernel, shape: .perDimension, n: 3, k: 16, d: 7, seed: 42)
                other.x = other.x.map { $0.map { $0 * 37 } }
                _ = try gradients(other)
                XCTAssertEqual(try gradients(data), alone, "\(kernel.name) k \(k) d \(d)")
            }
        }
    }
}
