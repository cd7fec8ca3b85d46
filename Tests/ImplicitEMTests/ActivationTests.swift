import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// act(z) and act′(z) of the two-component signed model.
final class ActivationTests: XCTestCase {
    static let kernels: [Kernel] = [.gaussian, .laplace, .logistic, .studentT, .huber, .pseudoHuber, .exponential]

    func activation<T: IEFloat>(_ kernel: Kernel, _ z: [Double], m: Double = 0.9, scale: Double = 1.2, nu: Double = 2.5,
                                delta: Double = 0.7, tau: Double = 0.8, _ type: T.Type) throws -> ([Double], [Double]) {
        let pool = Pool()
        let a = pool.output(z.count, as: T.self), da = pool.output(z.count, as: T.self)
        try Engine.activation(kernel: kernel, z: pool.input(z, as: T.self)!, m: T(fromDouble: m), scale: T(fromDouble: scale),
                              nu: T(fromDouble: nu), delta: T(fromDouble: delta), tau: T(fromDouble: tau), act: a, dact: da)
        return (doubles(a), doubles(da))
    }

    func testGaussianIsTanh() throws {
        let z = stride(from: -6.0, through: 6.0, by: 0.37).map { $0 }
        let (act, _) = try activation(.gaussian, z, m: 0.9, scale: 1.2, tau: 0.8, Double.self)
        for (j, zj) in z.enumerated() {
            XCTAssertEqual(act[j], Glibc.tanh(0.9 * zj / (1.44 * 0.8)), accuracy: 1e-15, "z = \(zj)")
        }
    }

    /// act agrees with the two-component responsibilities r₊ − r₋ of the engine itself.
    func testMatchesTwoComponentResponsibilities() throws {
        let z = [-2.5, -0.3, 0.0, 0.4, 1.7]
        for kernel in Self.kernels {
            let (act, _) = try activation(kernel, z, Double.self)
            var p = ProblemData(kernel: kernel, n: z.count, k: 2, d: 1)
            p.x = z
            p.mu = [0.9, -0.9]
            p.scale = [1.2]
            p.nu = 2.5
            p.delta = 0.7
            p.tau = 0.8
            let r = try forward(p, Double.self).resp
            for j in 0 ..< z.count { XCTAssertEqual(act[j], r[j * 2] - r[j * 2 + 1], accuracy: 1e-14, "\(kernel.name) z=\(z[j])") }
        }
    }

    func testDerivativeAgainstCentralDifferences() throws {
        let z = [-3.1, -1.4, -0.25, 0.33, 1.1, 2.6]
        for kernel in Self.kernels {
            for precision in [0, 1] {
                let (_, dact) = precision == 0 ? try activation(kernel, z, Double.self) : try activation(kernel, z.map { Double(Float($0)) }, Float.self)
                for (j, zj) in z.enumerated() {
                    let h = 1e-4
                    let v = try activation(kernel, [zj + h, zj - h, zj + 2 * h, zj - 2 * h], Double.self).0
                    let fd = (8 * (v[0] - v[1]) - (v[2] - v[3])) / (12 * h)
                    assertClose(dact[j], fd, rel: precision == 0 ? 1e-7 : 1e-4, floor: 1e-4, "\(kernel.name) act'(\(zj))")
                }
            }
        }
    }

    /// Far out the exponential kernel's e^|u| overflows; act saturates and act′ stays finite.
    func testExtremeInputsStayFinite() throws {
        for kernel in Self.kernels {
            let z = [-1e300, -800, -60, 60, 800, 1e300]
            for (a, da) in [try activation(kernel, z, Double.self), try activation(kernel, [-3e38, -100, 100, 3e38], Float.self)] {
                for v in a { XCTAssertTrue(v.isFinite && abs(v) <= 1, "\(kernel.name) act = \(v)") }
                for v in da { XCTAssertTrue(v.isFinite, "\(kernel.name) act' = \(v)") }
            }
        }
        // Far out, z ± m round to one value but the difference of the energies still matters.
        let (laplace, _) = try activation(.laplace, [-1e300, 1e300], m: 0.9, scale: 1.2, tau: 0.8, Double.self)
        XCTAssertEqual(laplace[1], Glibc.tanh(0.9 / (1.2 * 0.8)), accuracy: 1e-15)
        XCTAssertEqual(laplace[0], -Glibc.tanh(0.9 / (1.2 * 0.8)), accuracy: 1e-15)
        let (huber, _) = try activation(.huber, [1e300], m: 0.9, scale: 1.2, delta: 0.7, tau: 0.8, Double.self)
        XCTAssertEqual(huber[0], Glibc.tanh(0.7 * 1.5 / 1.6), accuracy: 1e-15)
        let (a, da) = try activation(.exponential, [-1000, 1000], Double.self)
        XCTAssertEqual(a, [-1, 1])
        XCTAssertEqual(da, [0, 0])
        // Between the components, where tanh is near ±1, act′ keeps its accuracy: 800·sech²(t)·t′ in log space.
        let (_, near) = try activation(.gaussian, [20], m: 1, scale: 1, tau: 1, Double.self)
        XCTAssertEqual(near[0], 4 * Glibc.exp(-40) / Glibc.pow(1 + Glibc.exp(-40), 2), accuracy: 1e-30)
    }

    /// A vanishing (subnormal) scale: z ± m overflow after scaling, yet nothing is NaN.
    func testVanishingScale() throws {
        let z = [0.0, 0.5, -2.0, 3e300]
        for kernel in Self.kernels {
            let (act, dact) = try activation(kernel, z, m: 1, scale: 2.2e-311, nu: 2, delta: 0.5, tau: 1, Double.self)
            for v in act { XCTAssertTrue(!v.isNaN && abs(v) <= 1, "\(kernel.name) act = \(v)") }
            for v in dact { XCTAssertFalse(v.isNaN, "\(kernel.name) act' = \(v)") }
            if kernel != .logistic {
                XCTAssertEqual(act[0], 0, "\(kernel.name): symmetric kernels give 0 at z = 0")
                XCTAssertEqual(act[1], kernel == .studentT ? Glibc.tanh(Glibc.log(1.5 / 0.5)) : 1, accuracy: 1e-15, kernel.name)
            }
        }
    }
}
