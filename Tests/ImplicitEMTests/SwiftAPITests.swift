import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// The array-based convenience API returns what the engine computes.
final class SwiftAPITests: XCTestCase {
    func testSwiftAPI() throws {
        let x = try Matrix<Double>([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
        let mu = try Matrix<Double>([[0.0, 0.0], [1.0, 1.0]])
        let params = KernelParameters<Double>(kernel: .studentT, scale: [1.5], nu: 3, tau: 0.9)
        let f = try ImplicitEM.forward(x: x, mu: mu, params)
        var p = ProblemData(kernel: .studentT, n: 3, k: 2, d: 2)
        p.x = x.storage; p.mu = mu.storage; p.scale = [1.5]; p.nu = 3; p.tau = 0.9
        let truth = try forward(p, Double.self)
        XCTAssertEqual(f.energies.storage, truth.energies)
        XCTAssertEqual(f.logZ, truth.logZ)
        XCTAssertEqual(f.resp.storage, truth.resp)
        let g = try ImplicitEM.gradients(x: x, mu: mu, params)
        let gt = try analyticGradients(p, gL: nil, gR: nil, Double.self)
        XCTAssertEqual(g.mu?.storage, gt["mu"])
        XCTAssertEqual(g.nu, gt["nu"]![0])
        XCTAssertNil(g.delta)
        XCTAssertNil(g.chol)
        let (act, dact) = try ImplicitEM.activation([0.5, -1.0], kernel: .gaussian, m: 2, scale: 1, tau: 1)
        XCTAssertEqual(act[0], Glibc.tanh(1.0), accuracy: 1e-15)
        XCTAssertEqual(dact.count, 2)
        XCTAssertThrowsError(try Matrix<Double>(rows: 2, cols: 2, storage: [1]))
        let stats = try ImplicitEM.stats(x: x, mu: mu, params)
        XCTAssertEqual(stats.sumR.reduce(0, +), 3, accuracy: 1e-14)
    }

    func testLearnedGradientsWithUpstream() throws {
        let energies = try Matrix<Float>([[0.5, 1.5], [2.0, 0.25]])
        let params = KernelParameters<Float>(kernel: .learned, logw: [0.1, -0.3], tau: 0.5)
        let g = try ImplicitEM.gradients(x: nil, mu: nil, params, energies: energies, gL: [1, 0.5],
                                         gR: try Matrix<Float>([[0.2, -0.1], [0, 0.3]]))
        var p = ProblemData(kernel: .learned, n: 2, k: 2, d: 0)
        p.energies = energies.storage.map(Double.init)
        p.logw = [0.1, -0.3].map { Double(Float($0)) }
        p.tau = 0.5
        let truth = try analyticGradients(p, gL: [1, 0.5], gR: [Double(Float(0.2)), Double(Float(-0.1)), 0, Double(Float(0.3))], Float.self)
        XCTAssertEqual(g.energies.storage.map(Double.init), truth["energies"])
        XCTAssertEqual(g.logw.map(Double.init), truth["logw"])
        XCTAssertNil(g.x)
        XCTAssertNil(g.scale)
        XCTAssertEqual(g.forward.energies, energies)
    }

    func testErrorsPassThrough() {
        let x = try! Matrix<Double>([[0.0, 1.0]])
        let mu = try! Matrix<Double>([[0.0, 1.0, 2.0]])
        XCTAssertThrowsError(try ImplicitEM.forward(x: x, mu: mu, KernelParameters(kernel: .gaussian))) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.status, .badSize)
        }
        let mu2 = try! Matrix<Double>([[0.0, 1.0]])
        XCTAssertThrowsError(try ImplicitEM.forward(x: x, mu: mu2, KernelParameters(kernel: .gaussian, scale: [-1]))) {
            XCTAssertEqual(($0 as? ImplicitEMError)?.message, "scale[0] = -1 must be > 0")
        }
    }
}
