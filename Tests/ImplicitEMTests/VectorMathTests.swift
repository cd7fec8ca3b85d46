import XCTest
@testable import ImplicitEM
#if canImport(Glibc)
import Glibc
#endif

/// The vector exponential, logarithm and log(1 + x) against libm over their whole domains,
/// both precisions.
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

    /// e^x keeps NaN, +∞ and −∞ lanes as libm does, next to ordinary lanes of the same vector.
    func testExponentialSpecialLanes() {
        let x = SIMD8<Double>(.nan, .infinity, -.infinity, 0.5, 709.8, -745.2, 1000, -1e300).exponential
        XCTAssertTrue(x[0].isNaN)
        XCTAssertEqual(x[1], .infinity)
        XCTAssertEqual(x[2], 0)
        XCTAssertEqual(x[3], Glibc.exp(0.5))
        XCTAssertEqual(x[4], .infinity)
        XCTAssertEqual(x[5], Glibc.exp(-745.2))
        XCTAssertEqual(x[6], .infinity)
        XCTAssertEqual(x[7], 0)
        var f = SIMD16<Float>(repeating: 2)
        f[0] = .nan; f[1] = .infinity; f[2] = -.infinity; f[3] = 88.8; f[4] = -103.5
        let e = f.exponential
        XCTAssertTrue(e[0].isNaN)
        XCTAssertEqual(e[1], .infinity)
        XCTAssertEqual(e[2], 0)
        XCTAssertEqual(e[3], .infinity)
        XCTAssertEqual(e[4], Float(Glibc.exp(-103.5)))
        XCTAssertEqual(e[5], Glibc.expf(2))
    }

    /// The softmax's e^x for x ≤ 0: within 1 ulp of libm (0 where libm gives 0) across the
    /// subnormal range and underflow, and the same bits as the general vector exponential.
    func testNonPositiveExponential() {
        var d = sweep(-760, 0, step: 0.000917, Double.self).filter { $0 <= 0 }
        d += [-746, -745.1332191019411, -745.13321910194122, -744.44007192138122, -708.39641853226408,
              -708.4, -0x1p-60, -.leastNormalMagnitude, -1e300]
        let dv = lanes(d, { $0.exponentialOfNonPositive }), dg = lanes(d, { $0.exponential })
        for (j, x) in d.enumerated() {
            XCTAssertEqual(dv[j].bitPattern, dg[j].bitPattern, "float64 at \(x)")
            XCTAssertLessThanOrEqual(ulps(dv[j], Glibc.exp(x)), 1, "float64 at \(x)")
        }
        var f = sweep(-110, 0, step: 0.0000613, Float.self).filter { $0 <= 0 }
        f += [-104, -103.97208, -103.27893, -87.33655, -87.3, -0x1p-30, -.leastNormalMagnitude, -1e30]
        let fv = lanes(f, { $0.exponentialOfNonPositive }), fg = lanes(f, { $0.exponential })
        for (j, x) in f.enumerated() {
            XCTAssertEqual(fv[j].bitPattern, fg[j].bitPattern, "float32 at \(x)")
            XCTAssertLessThanOrEqual(ulps(fv[j], Glibc.expf(x)), 1, "float32 at \(x)")
        }
    }

    // MARK: logarithms

    /// `function` across vectors of T (the count padded with 1s), back as an array.
    func lanes<T: VectorScalar>(_ inputs: [T], _ function: (T.Vector) -> T.Vector) -> [T] {
        let width = T.Vector.scalarCount
        var padded = inputs + [T](repeating: 1, count: (width - inputs.count % width) % width)
        padded.withUnsafeMutableBufferPointer { b in
            for j in stride(from: 0, to: b.count, by: width) {
                function(T.Vector(loading: b.baseAddress! + j)).store(to: b.baseAddress! + j)
            }
        }
        return Array(padded.prefix(inputs.count))
    }

    /// |y − truth| in ulps of truth; 0 or ∞ (a failure) where truth is NaN, ±∞ or ±0, which
    /// must be matched exactly, sign included.
    func ulps<T: IEFloat>(_ y: T, _ truth: T) -> Double {
        if truth.isNaN { return y.isNaN ? 0 : .infinity }
        if !truth.isFinite || truth == 0 { return y == truth && y.sign == truth.sign ? 0 : .infinity }
        return Double(abs(y - truth) / truth.ulp)
    }

    /// The worst error of the vector function over `inputs` against libm in float64 (rounded
    /// to T for float32).
    func worst<T: VectorScalar>(_ inputs: [T], _ function: (T.Vector) -> T.Vector,
                                _ truth: (Double) -> Double) -> (ulps: Double, at: T) {
        var worst = (ulps: 0.0, at: T(0))
        for (x, y) in zip(inputs, lanes(inputs, function)) {
            let e = ulps(y, T(fromDouble: truth(x.double)))
            if !(e <= worst.ulps) { worst = (e, x) }
        }
        return worst
    }

    /// Random bit patterns (every binade, subnormals, ±∞ and NaN, with `signs`), uniform
    /// samples of (lo, hi), and the edges.
    func logInputs(signs: Bool, lo: Double, hi: Double, edges: [Double]) -> [Double] {
        var rng = SeededRNG(seed: 17)
        var xs = edges
        let signMask: UInt64 = signs ? ~0 : 0x7fff_ffff_ffff_ffff
        for _ in 0 ..< 60000 { xs.append(Double(bitPattern: rng.next() & signMask)) }
        for _ in 0 ..< 60000 { xs.append(rng.uniform(lo, hi)) }
        // Subnormals and the bottom binades.
        for _ in 0 ..< 4000 { xs.append(Double(bitPattern: rng.next() % 0x0030_0000_0000_0000)) }
        return xs
    }

    func floatInputs(_ doubles: [Double], seed: UInt64, signs: Bool) -> [Float] {
        var rng = SeededRNG(seed: seed)
        let signMask: UInt32 = signs ? ~0 : 0x7fff_ffff
        var xs = doubles.map { Float($0) }
        for _ in 0 ..< 60000 { xs.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & signMask)) }
        for _ in 0 ..< 4000 { xs.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) % 0x0180_0000)) }
        return xs
    }

    static let logEdges: [Double] = [
        0, -0.0, 1, -1, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .leastNormalMagnitude,
        Double.leastNormalMagnitude.nextDown, .greatestFiniteMagnitude, 1.0.nextUp, 1.0.nextDown, 2, 0.5,
        0.5.squareRoot(), 0.5.squareRoot().nextUp, 0.5.squareRoot().nextDown, 2.0.squareRoot(),
        2.0.squareRoot().nextUp, 2.0.squareRoot().nextDown, 1e-300, 1e300, 3, 10, Double(Float.leastNormalMagnitude),
        Double(Float.leastNonzeroMagnitude), Double(Float.greatestFiniteMagnitude), 1 + 1e-7, 1 - 1e-7,
    ]

    static let log1pEdges: [Double] = logEdges + [
        -1.0.nextDown, (-1.0).nextUp, -1 + 1e-10, -0.5, -0.2928932188134524, -0.2929, 0.4142135623730950, 0.4143,
        1.0.nextUp, 2.0.squareRoot() - 1, 0x1p-54, -0x1p-54, 0x1p-53, -0x1p-53, 0x1p-25, -0x1p-25, 0x1p-24,
        -0x1p-24, 0x1p53, 0x1p53 + 2, 0x1p24, 0x1p24 + 2, -.leastNonzeroMagnitude, -.leastNormalMagnitude,
        1e-20, -1e-20, 0x1p-1022, -1e-300, 1e16, -(Double(Float.leastNonzeroMagnitude)),
    ]

    func testDoubleLogarithm() {
        let xs = logInputs(signs: true, lo: 0.5, hi: 2, edges: Self.logEdges)
        let w = worst(xs, { $0.logarithm }, Glibc.log)
        XCTAssertLessThanOrEqual(w.ulps, 1, "float64 log worst at \(w.at)")
    }

    func testDoubleLogarithmOnePlus() {
        var xs = logInputs(signs: true, lo: -1, hi: 1, edges: Self.log1pEdges)
        var rng = SeededRNG(seed: 23)
        // Near −1, near 0 on both sides, and across the correction's switch at 1.
        for _ in 0 ..< 20000 { xs.append(-1 + Double.pow(2, -rng.uniform(1, 53))) }
        for _ in 0 ..< 20000 { xs.append((rng.next() & 1 == 0 ? 1 : -1) * Double.pow(2, -rng.uniform(1, 60))) }
        for _ in 0 ..< 20000 { xs.append(rng.uniform(0.4, 4)) }
        let w = worst(xs, { $0.logarithmOnePlus }, Glibc.log1p)
        XCTAssertLessThanOrEqual(w.ulps, 1, "float64 log1p worst at \(w.at)")
    }

    func testFloatLogarithm() {
        let xs = floatInputs(logInputs(signs: true, lo: 0.5, hi: 2, edges: Self.logEdges), seed: 29, signs: true)
        let w = worst(xs, { $0.logarithm }, Glibc.log)
        XCTAssertLessThanOrEqual(w.ulps, 1, "float32 log worst at \(w.at)")
    }

    func testFloatLogarithmOnePlus() {
        var xs = floatInputs(logInputs(signs: true, lo: -1, hi: 1, edges: Self.log1pEdges), seed: 31, signs: true)
        var rng = SeededRNG(seed: 37)
        for _ in 0 ..< 20000 { xs.append(Float(-1 + Double.pow(2, -rng.uniform(1, 24)))) }
        for _ in 0 ..< 20000 { xs.append(Float((rng.next() & 1 == 0 ? 1 : -1) * Double.pow(2, -rng.uniform(1, 30)))) }
        for _ in 0 ..< 20000 { xs.append(Float(rng.uniform(0.4, 4))) }
        let w = worst(xs, { $0.logarithmOnePlus }, Glibc.log1p)
        XCTAssertLessThanOrEqual(w.ulps, 1, "float32 log1p worst at \(w.at)")
    }

    /// log x and log(1 + x) chosen per lane in one vector, both precisions, over the edges and
    /// random inputs with a random choice per lane.
    func testMixedLogarithms() {
        func check<T: VectorScalar>(_: T.Type, _ label: String) {
            var rng = SeededRNG(seed: 41)
            let xs: [T] = (Self.log1pEdges + logInputs(signs: true, lo: -1, hi: 4, edges: [])).map { T(fromDouble: $0) }
            let keys: [T] = xs.map { _ in rng.next() & 1 == 0 ? 1 : -1 }
            let width = T.Vector.scalarCount
            var worst = (ulps: 0.0, at: T(0))
            var j = 0
            while j + width <= xs.count {
                let x = xs.withUnsafeBufferPointer { T.Vector(loading: $0.baseAddress! + j) }
                let key = keys.withUnsafeBufferPointer { T.Vector(loading: $0.baseAddress! + j) }
                let y = VectorMath.log1p(x, logWhereAbove: key, 0)
                for i in 0 ..< width {
                    let truth = key[i] > 0 ? Glibc.log(x[i].double) : Glibc.log1p(x[i].double)
                    let e = ulps(y[i], T(fromDouble: truth))
                    if !(e <= worst.ulps) { worst = (e, x[i]) }
                }
                j += width
            }
            XCTAssertLessThanOrEqual(worst.ulps, 1, "\(label) mixed log/log1p worst at \(worst.at)")
        }
        check(Double.self, "float64")
        check(Float.self, "float32")
    }
}
