import XCTest
@testable import ImplicitEM
#if canImport(Glibc)
import Glibc
#endif

/// The one-signed vector exponentials (e^x for x ≥ 0 in the exponential kernel, x ≤ 0 in the
/// softmax and the logistic kernel) against libm, and bit for bit against the general one.
final class VectorExponentialTests: XCTestCase {
    /// |y − truth| in ulps of truth; 0 or ∞ (a failure) where truth is NaN, ±∞ or 0, which must
    /// be matched exactly.
    func ulps<T: IEFloat>(_ y: T, _ truth: T) -> Double {
        if truth.isNaN { return y.isNaN ? 0 : .infinity }
        if !truth.isFinite || truth == 0 { return y == truth ? 0 : .infinity }
        return Double(abs(y - truth) / truth.ulp)
    }

    /// `function` and the general exponential over `inputs`, in vectors (padded with 0s).
    func both<T: VectorScalar>(_ inputs: [T], _ function: (T.Vector) -> T.Vector) -> (one: [T], general: [T]) {
        let width = T.Vector.scalarCount
        let padded = inputs + [T](repeating: 0, count: (width - inputs.count % width) % width)
        var one = padded, general = padded
        padded.withUnsafeBufferPointer { x in
            for j in stride(from: 0, to: x.count, by: width) {
                let v = T.Vector(loading: x.baseAddress! + j)
                one.withUnsafeMutableBufferPointer { function(v).store(to: $0.baseAddress! + j) }
                general.withUnsafeMutableBufferPointer { VectorMath.exp(v).store(to: $0.baseAddress! + j) }
            }
        }
        return (Array(one.prefix(inputs.count)), Array(general.prefix(inputs.count)))
    }

    /// Uniform samples of [0, hi] (every reduction interval many times), random bit patterns of
    /// the non-negative doubles below hi, and the edges; negated for x ≤ 0.
    func inputs(hi: Double, edges: [Double], seed: UInt64) -> [Double] {
        var rng = SeededRNG(seed: seed)
        var xs = edges
        for _ in 0 ..< 200_000 { xs.append(rng.uniform(0, hi)) }
        for _ in 0 ..< 50_000 { xs.append(rng.uniform(0, 1)) }
        for _ in 0 ..< 50_000 {
            let x = Double(bitPattern: rng.next() & 0x7fff_ffff_ffff_ffff)
            if x <= hi { xs.append(x) }
        }
        return xs
    }

    func check<T: VectorScalar>(_ xs: [T], _ function: (T.Vector) -> T.Vector, _ label: String) {
        let (one, general) = both(xs, function)
        var worst = (ulps: 0.0, at: T(0))
        for (j, x) in xs.enumerated() {
            let same = one[j].isNaN ? general[j].isNaN
                : one[j].sign == general[j].sign && one[j].significandBitPattern == general[j].significandBitPattern
                    && one[j].exponentBitPattern == general[j].exponentBitPattern
            XCTAssertTrue(same, "\(label): not the general exponential's bits at \(x)")
            let e = ulps(one[j], T(fromDouble: Glibc.exp(x.double)))
            if !(e <= worst.ulps) { worst = (e, x) }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 1, "\(label) worst at \(worst.at)")
    }

    static let doubleEdges: [Double] = [
        0, .leastNonzeroMagnitude, .leastNormalMagnitude, 0x1p-60, 0.5 * 0.6931471805599453,
        0.6931471805599453, 1, 2, 700, 709.782712893384, 709.7827128933840.nextUp, 709.79, 710, 710.5, 745,
        746, 800, 1e300, .greatestFiniteMagnitude, .infinity, 88.72283935546875, 103.97208, 104.5,
    ]

    func testNonNegative() {
        let d = inputs(hi: 720, edges: Self.doubleEdges, seed: 53)
        check(d, { $0.exponentialOfNonNegative }, "float64 e^x, x ≥ 0")
        // float32: its own range (overflow at 88.72) and the float32 rounding of the inputs.
        let f = inputs(hi: 95, edges: Self.doubleEdges, seed: 59).map { Float($0) }
        check(f, { $0.exponentialOfNonNegative }, "float32 e^x, x ≥ 0")
    }

    func testNonPositive() {
        // Across the subnormal results and underflow in both precisions.
        let d = inputs(hi: 760, edges: Self.doubleEdges, seed: 61).map { -$0 }
        check(d, { $0.exponentialOfNonPositive }, "float64 e^x, x ≤ 0")
        let f = inputs(hi: 110, edges: Self.doubleEdges, seed: 67).map { -Float($0) }
        check(f, { $0.exponentialOfNonPositive }, "float32 e^x, x ≤ 0")
    }

    /// NaN lanes stay NaN next to ordinary lanes; ±0 give 1.
    func testSpecialLanes() {
        let up = SIMD8<Double>(.nan, 0, 1, .infinity, 710, 709.5, 0.25, 3).exponentialOfNonNegative
        XCTAssertTrue(up[0].isNaN)
        XCTAssertEqual([up[1], up[2], up[3], up[4], up[5], up[6], up[7]],
                       [1, Glibc.exp(1), .infinity, .infinity, Glibc.exp(709.5), Glibc.exp(0.25), Glibc.exp(3)])
        let down = SIMD8<Double>(.nan, -0.0, -1, -.infinity, -746, -745.2, -0.25, -800).exponentialOfNonPositive
        XCTAssertTrue(down[0].isNaN)
        XCTAssertEqual([down[1], down[2], down[3], down[4], down[5], down[6], down[7]],
                       [1, Glibc.exp(-1), 0, 0, Glibc.exp(-745.2), Glibc.exp(-0.25), 0])
        var f = SIMD16<Float>(repeating: 2)
        f[0] = .nan; f[1] = .infinity; f[2] = 89; f[3] = 88.7; f[4] = 0
        let e = f.exponentialOfNonNegative
        XCTAssertTrue(e[0].isNaN)
        XCTAssertEqual([e[1], e[2], e[3], e[4], e[5]], [.infinity, .infinity, Glibc.expf(88.7), 1, Glibc.expf(2)])
        let g = (-f).exponentialOfNonPositive
        XCTAssertTrue(g[0].isNaN)
        XCTAssertEqual([g[1], g[2], g[3], g[4], g[5]], [0, Glibc.expf(-89), Glibc.expf(-88.7), 1, Glibc.expf(-2)])
    }
}
