import XCTest
@testable import ImplicitEM

/// student_t's vector backward takes a loop without the far-out branch of ρ′ for a pair of rows
/// whose bound on |u|/√ν keeps every lane below 1/ulp, and the loop with it otherwise. Without
/// the ν gradient (which takes a third loop), the x, mu and scale gradients are checked against
/// float64 central differences, and a row's x gradient must be the same bits whichever loop its
/// pair took.
final class VectorNearLoopTests: XCTestCase {
    /// The x, mu and scale gradients only, so that ∂/∂ν does not choose the loop.
    func gradients<T: IEFloat>(_ p: ProblemData, gL: [Double]?, gR: [Double]?, _: T.Type) throws -> [String: [Double]] {
        let pool = Pool()
        var g = GradientOutputs<T>()
        g.x = pool.output(p.n * p.d, as: T.self)
        g.mu = pool.output(p.k * p.d, as: T.self)
        g.scale = pool.output(p.scale?.count ?? 1, as: T.self)
        try Engine.gradients(p.problem(pool, T.self), gL: pool.input(gL, as: T.self), gR: pool.input(gR, as: T.self),
                             ForwardOutputs(), g)
        return ["x": doubles(g.x), "mu": doubles(g.mu), "scale": doubles(g.scale)]
    }

    /// Every row near: the loop without the branch, against central differences (D = 19: two
    /// float64 vectors and a tail, one float32 vector and a tail).
    func testNearRowsMatchDifferences() throws {
        let p = ProblemData.random(.studentT, shape: .perDimension, n: 6, k: 5, d: 19, seed: 23)
        var rng = SeededRNG(seed: 4)
        let gL = rng.array(p.n, 0.2, 1.5)
        let gR = rng.array(p.n * p.k, -1, 1)
        let g = try gradients(p, gL: gL, gR: gR, Double.self)
        for name in ["x", "mu", "scale"] {
            let analytic = g[name]!, norm = analytic.map(abs).max() ?? 0
            for i in 0 ..< analytic.count {
                let fd = try centralDifference(p, name, i, gL: gL, gR: gR)
                assertClose(analytic[i], fd, rel: 1e-6, floor: 1e-6 * norm, "student_t near d/d\(name)[\(i)]")
            }
        }
    }

    /// An odd N leaves the last row to `finish`, which pairs it with itself through the loop
    /// with the branch; with a fourth (near) row it goes through the loop without. Its x gradient
    /// must be the same bits either way (its energies do not depend on a near partner).
    func testLoopChoiceLeavesRowBitsAlone() throws {
        let four = ProblemData.random(.studentT, shape: .perDimension, n: 4, k: 5, d: 19, seed: 29)
        var three = four
        three.n = 3
        three.x = Array(four.x![0 ..< 3 * four.d])
        if let logprior = four.logprior { three.logprior = Array(logprior[0 ..< 3 * four.k]) }
        for precision in ["float64", "float32"] {
            let a = precision == "float64" ? try gradients(four, gL: nil, gR: nil, Double.self)["x"]!
                : try gradients(four.roundedToFloat(), gL: nil, gR: nil, Float.self)["x"]!
            let b = precision == "float64" ? try gradients(three, gL: nil, gR: nil, Double.self)["x"]!
                : try gradients(three.roundedToFloat(), gL: nil, gR: nil, Float.self)["x"]!
            for at in 0 ..< 3 * four.d {
                XCTAssertEqual(a[at].bitPattern, b[at].bitPattern, "\(precision) gx[\(at / four.d), \(at % four.d)]: \(a[at]) vs \(b[at])")
            }
        }
    }
}
