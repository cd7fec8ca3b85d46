import XCTest
@testable import ImplicitEM

/// The vector exponential against libm over its whole range, both precisions.
final class VectorMathTests: XCTestCase {
    /// Largest |approximation − libm| in units of libm's ulp over `inputs`.
    func worstUlps<T: IEFloat>(_ inputs: [T]) -> (ulps: Double, at: T) {
        var values = inputs
        values.withUnsafeMutableBufferPointer { exponentialShifted($0.baseAddress!, $0.count, minus: 0) }
        var worst = (ulps: 0.0, at: T(0))
        for (x, y) in zip(inputs, values) {
            let truth = T.exp(x)
            if truth == y { continue }
            let ulps = !y.isFinite || !truth.isFinite ? Double.infinity : Double(abs(y - truth) / truth.ulp)
            if !(ulps <= worst.ulps) { worst = (ulps, x) }
        }
        return worst
    }

    func sweep<T: IEFloat>(_ lo: Double, _ hi: Double, step: Double, _: T.Type) -> [T] {
        var xs: [T] = [0, -0.0, -T.infinity, -T.leastNonzeroMagnitude, T.leastNonzeroMagnitude, -T.ulpOfOne, 1, -1]
        var x = lo
        while x <= hi {
            xs.append(T(fromDouble: x))
            x += step
        }
        xs.append(-1)  // a count that is not a multiple of the vector width
        return xs
    }

    func testDoubleExponential() {
        // Across underflow (−745), the subnormal range, the reduction's breakpoints and overflow.
        let worst = worstUlps(sweep(-760, 720, step: 0.000731, Double.self))
        XCTAssertLessThanOrEqual(worst.ulps, 1, "float64 exp worst at \(worst.at)")
        let near = worstUlps(sweep(-2, 2, step: 1.1e-6, Double.self))
        XCTAssertLessThanOrEqual(near.ulps, 1, "float64 exp worst at \(near.at)")
    }

    /// A NaN lane stays NaN and leaves the other lanes exact.
    func testNaNLanes() {
        var d: [Double] = [1, .nan, -800, -720, 0.5, 710, -3, 2]
        d.withUnsafeMutableBufferPointer { exponentialShifted($0.baseAddress!, $0.count, minus: 0) }
        XCTAssertTrue(d[1].isNaN)
        XCTAssertEqual([d[0], d[2], d[3], d[4], d[5], d[6], d[7]], [Double.exp(1), 0, Double.exp(-720), Double.exp(0.5), .infinity, Double.exp(-3), Double.exp(2)])
        var f = [Float](repeating: 0.25, count: 16)
        f[3] = .nan; f[5] = -95; f[9] = -200; f[12] = 89
        f.withUnsafeMutableBufferPointer { exponentialShifted($0.baseAddress!, $0.count, minus: 0) }
        XCTAssertTrue(f[3].isNaN)
        XCTAssertEqual([f[0], f[5], f[9], f[12]], [Float.exp(0.25), Float.exp(-95), 0, .infinity])
    }

    func testFloatExponential() {
        let worst = worstUlps(sweep(-110, 95, step: 0.0000917, Float.self))
        XCTAssertLessThanOrEqual(worst.ulps, 1, "float32 exp worst at \(worst.at)")
    }
}
