import XCTest
@testable import ImplicitEM

/// The vector ρ of logistic, student_t and exponential lane by lane against the scalar ρ
/// (which RhoTests checks against KERNELS.md), over random and extreme u in both precisions:
/// the same values to a few ulp, the same overflow (+∞ where the scalar gives it, no NaN it
/// does not give).
final class VectorRhoTests: XCTestCase {
    /// The agreement asked of every lane: a few ulp.
    static let bound = 4.0

    /// |vector − scalar| in ulps of the scalar value; NaN, ±∞ and 0 must match exactly.
    func ulps<T: IEFloat>(_ y: T, _ truth: T) -> Double {
        if truth.isNaN { return y.isNaN ? 0 : .infinity }
        if !truth.isFinite || truth == 0 { return y == truth ? 0 : .infinity }
        return Double(abs(y - truth) / truth.ulp)
    }

    /// u of every kind: 0, ±tiny, subnormal, ±1e-300, random over several scales, the
    /// neighbourhood of the large-argument branch point `branch`, far beyond it, ±greatest finite.
    func inputs<T: IEFloat>(_: T.Type, branch: Double, seed: UInt64) -> [T] {
        var rng = SeededRNG(seed: seed)
        var us: [Double] = [0, -0.0, 1e-300, -1e-300, 1e-40, -1e-40, 1e-20, -1e-20, 1, -1, 0.5, -0.5, 30, -30,
                            700, -700, 709.9, -709.9, 720, -720, 745.5, -745.5, 750, -750, 86, -86, 89, -89,
                            103, -103, 110, -110, 1e10, -1e10, 1e20, -1e20, 1e38, -1e38, 1e200, -1e200]
        for big in [Double.greatestFiniteMagnitude, Double(Float.greatestFiniteMagnitude), Double.leastNonzeroMagnitude,
                    Double(Float.leastNonzeroMagnitude)] {
            us += [big, -big]
        }
        for factor in [0.5, 1 - 1e-6, 1 - 1e-15, 1, 1 + 1e-15, 1 + 1e-6, 2, 1e6] {
            us += [branch * factor, -branch * factor]
        }
        for _ in 0 ..< 3000 { us.append(rng.uniform(-4, 4)) }
        for _ in 0 ..< 3000 { us.append(rng.uniform(-60, 60)) }
        for _ in 0 ..< 3000 { us.append((rng.next() & 1 == 0 ? 1 : -1) * Double.pow(10, rng.uniform(-320, 308))) }
        for _ in 0 ..< 1000 { us.append(branch * rng.uniform(0.9, 1.1) * (rng.next() & 1 == 0 ? 1 : -1)) }
        let extremes = [T.leastNonzeroMagnitude, -T.leastNonzeroMagnitude, T.greatestFiniteMagnitude,
                        -T.greatestFiniteMagnitude]
        return us.map { T(fromDouble: $0) } + extremes
    }

    /// Value, derivative and shape derivative of every lane over `us` within `bound` of the scalar ρ.
    func assertMatchesScalar<VR: VectorRho>(_ rho: VR, _ us: [VR.V.Scalar], _ label: String,
                                            file: StaticString = #filePath, line: UInt = #line) {
        typealias T = VR.V.Scalar
        let width = VR.V.scalarCount
        var padded = us + [T](repeating: 0, count: (width - us.count % width) % width)
        var results: [(name: String, vector: [T], scalar: (T) -> T)] = [
            ("ρ", [], rho.scalar.value), ("ρ′", [], rho.scalar.derivative),
            ("∂ρ/∂shape", [], rho.scalar.shapeDerivative),
        ]
        for r in results.indices {
            var out = [T](repeating: .nan, count: padded.count)
            padded.withUnsafeMutableBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    for j in stride(from: 0, to: input.count, by: width) {
                        let u = VR.V(loading: input.baseAddress! + j)
                        let y = r == 0 ? rho.value(u) : r == 1 ? rho.derivative(u) : rho.shapeDerivative(u)
                        y.store(to: output.baseAddress! + j)
                    }
                }
            }
            results[r].vector = out
        }
        for (name, vector, scalar) in results {
            var worst = (ulps: 0.0, at: T(0), vector: T(0), scalar: T(0))
            for (u, y) in zip(us, vector) {
                let truth = scalar(u)
                let e = ulps(y, truth)
                if !(e <= worst.ulps) { worst = (e, u, y, truth) }
            }
            let message = "\(label) \(name): \(worst.ulps) ulp at u = \(worst.at): \(worst.vector) vs \(worst.scalar)"
            XCTAssertLessThanOrEqual(worst.ulps, Self.bound, message, file: file, line: line)
        }
    }

    func testLogistic() {
        // The branch points: e^(−|u|) leaves the normal range and underflows.
        assertMatchesScalar(LogisticVectorRho<SIMD8<Double>>(), inputs(Double.self, branch: 708, seed: 1),
                            "float64 logistic")
        assertMatchesScalar(LogisticVectorRho<SIMD16<Float>>(), inputs(Float.self, branch: 87, seed: 2),
                            "float32 logistic")
    }

    func testStudentT() {
        for nu in [1e-8, 0.3, 1, 2.5, 30, 1e8] {
            let branch = largeArgument(Double.self) * nu.squareRoot()
            assertMatchesScalar(StudentTVectorRho<SIMD8<Double>>(scalar: StudentTRho(nu: nu)),
                                inputs(Double.self, branch: branch, seed: 3), "float64 student_t ν=\(nu)")
            let nu32 = Float(nu)
            let branch32 = Double(largeArgument(Float.self) * nu32.squareRoot())
            assertMatchesScalar(StudentTVectorRho<SIMD16<Float>>(scalar: StudentTRho(nu: nu32)),
                                inputs(Float.self, branch: branch32, seed: 4), "float32 student_t ν=\(nu)")
        }
    }

    func testExponential() {
        // The branch point: e^|u| overflows.
        assertMatchesScalar(ExponentialVectorRho<SIMD8<Double>>(), inputs(Double.self, branch: 709.78, seed: 5),
                            "float64 exponential")
        assertMatchesScalar(ExponentialVectorRho<SIMD16<Float>>(), inputs(Float.self, branch: 88.72, seed: 6),
                            "float32 exponential")
    }

    /// NaN lanes next to ordinary lanes stay in their own lane, and ∞ lanes give the scalar's limits.
    func testSpecialLanesStayInTheirLane() {
        let u = SIMD8<Double>(.nan, 1, .infinity, -.infinity, -2, 0, 3, -1e300)
        let rhos: [(String, (SIMD8<Double>) -> SIMD8<Double>, (Double) -> Double)] = [
            ("logistic ρ", LogisticVectorRho<SIMD8<Double>>().value, LogisticRho<Double>().value),
            ("logistic ρ′", LogisticVectorRho<SIMD8<Double>>().derivative, LogisticRho<Double>().derivative),
            ("student_t ρ", StudentTVectorRho<SIMD8<Double>>(scalar: StudentTRho(nu: 3)).value, StudentTRho(nu: 3).value),
            ("student_t ρ′", StudentTVectorRho<SIMD8<Double>>(scalar: StudentTRho(nu: 3)).derivative,
             StudentTRho(nu: 3).derivative),
            ("exponential ρ", ExponentialVectorRho<SIMD8<Double>>().value, ExponentialRho<Double>().value),
            ("exponential ρ′", ExponentialVectorRho<SIMD8<Double>>().derivative, ExponentialRho<Double>().derivative),
        ]
        for (name, vector, scalar) in rhos {
            let y = vector(u)
            for i in 1 ..< 8 {
                XCTAssertLessThanOrEqual(ulps(y[i], scalar(u[i])), Self.bound, "\(name) lane \(i) u = \(u[i])")
            }
            XCTAssertEqual(y[0].isNaN, scalar(.nan).isNaN, "\(name) NaN lane")
        }
    }
}
