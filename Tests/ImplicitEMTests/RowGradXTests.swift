import XCTest
@testable import ImplicitEM

/// The row pass zeroes the caller's gx a run of rows at a time (`gradXZeroingBytes`) before the
/// backward adds to it: every row of every run, with the buffer holding NaN before the call,
/// must come out as central differences of Σ logZ give it, on one and two threads.
final class RowGradXTests: XCTestCase {
    func testGradXOfEveryRunAgainstCentralDifferences() throws {
        // D = 16 float64: 8 rows a run; D = 3: 42 rows a run. Cosine and mahalanobis take the
        // blocked pass (64-row blocks), the others the vector model's paired rows.
        let cases: [(Kernel, Int)] = [(.gaussian, 16), (.laplace, 16), (.studentT, 3), (.cosine, 16),
                                      (.mahalanobis, 3)]
        for (kernel, d) in cases {
            let n = 150, k = 5
            let data = ProblemData.random(kernel, n: n, k: k, d: d, seed: 17)
            let gL = [Double](repeating: 1, count: n), gR = [Double](repeating: 0, count: n * k)
            let rowsPerRun = max(1, gradXZeroingBytes / (d * MemoryLayout<Double>.stride))
            // First and last rows of runs, an odd row (paired with its predecessor) and the last row.
            var rows = [0, rowsPerRun - 1, rowsPerRun, 2 * rowsPerRun + 1, 63, 64, n - 1].filter { $0 < n }
            rows = Array(Set(rows)).sorted()
            for threads in [1, 2] {
                let previous = Threads.count
                Threads.count = threads
                defer { Threads.count = previous }
                let g = try analyticGradients(data, gL: nil, gR: nil, Double.self)["x"]!
                XCTAssertFalse(g.contains { $0.isNaN }, "\(kernel.name) gx has a value not written")
                for row in rows {
                    for i in [0, d - 1] {
                        let at = row * d + i
                        let fd = try centralDifference(data, "x", at, gL: gL, gR: gR)
                        assertClose(g[at], fd, rel: 1e-6, floor: 1e-8,
                                    "\(kernel.name) gx[\(row), \(i)], \(threads) threads")
                    }
                }
            }
        }
    }
}
