import XCTest
@testable import ImplicitEM

#if canImport(Glibc)
import Glibc
#endif

/// ρ′ and ∂ρ/∂shape of every separable kernel against central differences of ρ, including
/// the large-argument branches, and ρ against the plain formula where it does not overflow.
final class RhoTests: XCTestCase {
    func check<R: Rho>(_ rho: R, _ make: (Double) -> R?, shape: Double?, at points: [Double], _ name: String)
    where R.T == Double {
        for u in points {
            let h = 1e-5 * max(1, abs(u))
            let fd = (8 * (rho.value(u + h) - rho.value(u - h)) - (rho.value(u + 2 * h) - rho.value(u - 2 * h))) / (12 * h)
            assertClose(rho.derivative(u), fd, rel: 1e-7, floor: 1e-9, "\(name) ρ′(\(u))")
            if let shape, let plus = make(shape * (1 + 1e-6)), let minus = make(shape * (1 - 1e-6)) {
                let fdShape = (plus.value(u) - minus.value(u)) / (2e-6 * shape)
                assertClose(rho.shapeDerivative(u), fdShape, rel: 1e-6, floor: 1e-9, "\(name) ∂ρ/∂shape(\(u))")
            }
        }
    }

    static let points: [Double] = [-37, -6.5, -2.2, -0.9, -0.31, -1e-3, 1e-3, 0.27, 0.6, 1.3, 3.3, 11, 250]

    func testDerivativesAgainstFiniteDifferences() {
        check(GaussianRho<Double>(), { _ in nil }, shape: nil, at: Self.points, "gaussian")
        check(LaplaceRho<Double>(), { _ in nil }, shape: nil, at: Self.points, "laplace")
        check(LogisticRho<Double>(), { _ in nil }, shape: nil, at: Self.points, "logistic")
        check(ExponentialRho<Double>(), { _ in nil }, shape: nil, at: Self.points.filter { abs($0) < 40 }, "exponential")
        for nu in [0.3, 2.5, 40] {
            check(StudentTRho<Double>(nu: nu), { StudentTRho<Double>(nu: $0) }, shape: nu, at: Self.points, "student_t ν=\(nu)")
        }
        for delta in [0.4, 1.0, 5.0] {
            let points = Self.points.filter { abs(abs($0) - delta) > 1e-3 }
            check(HuberRho<Double>(delta: delta), { HuberRho<Double>(delta: $0) }, shape: delta, at: points, "huber δ=\(delta)")
            check(PseudoHuberRho<Double>(delta: delta), { PseudoHuberRho<Double>(delta: $0) }, shape: delta, at: Self.points,
                  "pseudo_huber δ=\(delta)")
        }
    }

    /// The stable forms agree with the textbook formulas where those are accurate.
    func testValuesAgainstPlainFormulas() {
        for u in Self.points {
            assertClose(LogisticRho<Double>().value(u), Glibc.log1p(Glibc.exp(-u)), rel: 1e-13, floor: 1e-300, "logistic(\(u))")
            assertClose(StudentTRho<Double>(nu: 2.5).value(u), Glibc.log1p(u * u / 2.5), rel: 1e-14, "student_t(\(u))")
            let q = (1 + (u / 0.7) * (u / 0.7)).squareRoot()
            assertClose(PseudoHuberRho<Double>(delta: 0.7).value(u), 0.49 * (q - 1), rel: 1e-9, "pseudo_huber(\(u))")
        }
    }

    /// The large-argument branches join the ordinary ones without a visible step.
    func testLargeArgumentBranchesAreContinuous() {
        let edge = largeArgument(Double.self)
        let below = edge * (1 - 1e-9), above = edge * (1 + 1e-9)
        let t = StudentTRho<Double>(nu: 1)
        assertClose(t.value(below), t.value(above), rel: 1e-10, "student_t value")
        assertClose(t.derivative(below), t.derivative(above), rel: 1e-8, "student_t derivative")
        assertClose(t.shapeDerivative(below), t.shapeDerivative(above), rel: 1e-12, "student_t shape")
        let p = PseudoHuberRho<Double>(delta: 1)
        assertClose(p.value(below), p.value(above), rel: 1e-8, "pseudo_huber value")
        assertClose(p.derivative(below), p.derivative(above), rel: 1e-12, "pseudo_huber derivative")
        assertClose(p.shapeDerivative(below), p.shapeDerivative(above), rel: 1e-8, "pseudo_huber shape")
        // And far beyond, nothing overflows.
        XCTAssertEqual(StudentTRho<Double>(nu: 1e-300).value(1e300), 2 * (Glibc.log(1e300) + 0.5 * Glibc.log(1e300)), accuracy: 1e-10)
        XCTAssertTrue(PseudoHuberRho<Double>(delta: 1e-200).shapeDerivative(1e200).isFinite)
        XCTAssertTrue(PseudoHuberRho<Float>(delta: 1e-20).value(1e20).isFinite)
    }
}
