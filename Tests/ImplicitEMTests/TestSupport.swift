import XCTest
@testable import ImplicitEM

/// SplitMix64: a seeded generator so that every failure can be replayed.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double { Double.random(in: lo ..< hi, using: &self) }
    mutating func array(_ count: Int, _ lo: Double, _ hi: Double) -> [Double] { (0 ..< count).map { _ in uniform(lo, hi) } }
}

/// Owns buffers handed to the engine for the duration of a test call.
final class Pool {
    private var frees: [() -> Void] = []
    func input<T: IEFloat>(_ values: [Double]?, as _: T.Type) -> UnsafeBufferPointer<T>? {
        guard let values else { return nil }
        let b = UnsafeMutableBufferPointer<T>.allocate(capacity: values.count)
        for (i, v) in values.enumerated() { b[i] = T(fromDouble: v) }
        frees.append { b.deallocate() }
        return UnsafeBufferPointer(b)
    }
    func output<T: IEFloat>(_ count: Int, as _: T.Type, fill: Double = .nan) -> UnsafeMutableBufferPointer<T> {
        let b = UnsafeMutableBufferPointer<T>.allocate(capacity: max(count, 0))
        for i in 0 ..< count { b[i] = T(fromDouble: fill) }
        frees.append { b.deallocate() }
        return b
    }
    deinit { for f in frees { f() } }
}

func doubles<T: IEFloat>(_ b: UnsafeMutableBufferPointer<T>?) -> [Double] { b.map { $0.map { $0.double } } ?? [] }

/// A problem as plain Double arrays, convertible to either precision.
struct ProblemData {
    var kernel: Kernel
    var n: Int, k: Int, d: Int
    var x: [Double]?
    var mu: [Double]?
    var scaleShape: ScaleShape = .shared
    var scale: [Double]?
    var chol: [Double]?
    var logw: [Double]?
    var logprior: [Double]?
    var energies: [Double]?
    var nu = 0.0, delta = 0.0, tau = 1.0
    var normalized = false

    func problem<T: IEFloat>(_ pool: Pool, _ type: T.Type) -> Problem<T> {
        Problem<T>(kernel: kernel, n: n, k: k, d: d, x: pool.input(x, as: T.self), mu: pool.input(mu, as: T.self),
                   scaleShape: scaleShape, scale: pool.input(scale, as: T.self), chol: pool.input(chol, as: T.self),
                   logw: pool.input(logw, as: T.self), logprior: pool.input(logprior, as: T.self),
                   energies: pool.input(energies, as: T.self),
                   nu: T(fromDouble: nu), delta: T(fromDouble: delta), tau: T(fromDouble: tau), normalized: normalized)
    }

    /// A random problem with residuals kept away from the kinks of laplace, huber and exponential.
    static func random(_ kernel: Kernel, shape: ScaleShape = .perDimension, n: Int = 5, k: Int = 3, d: Int = 3,
                       normalized: Bool = false, seed: UInt64 = 1) -> ProblemData {
        var rng = SeededRNG(seed: seed &+ UInt64(kernel.rawValue) &* 1000 &+ UInt64(shape.rawValue) &* 10)
        var p = ProblemData(kernel: kernel, n: n, k: k, d: d)
        p.x = rng.array(n * d, -1.5, 1.5)
        p.mu = rng.array(k * d, -1, 1)
        if kernel.isSeparable {
            p.scaleShape = shape
            p.scale = rng.array(shape.count(k: k, d: d), 0.6, 1.6)
        }
        p.nu = rng.uniform(1.5, 4)
        p.delta = rng.uniform(0.4, 1.2)
        p.tau = normalized ? rng.uniform(0.5, 1.2) : rng.uniform(0.5, 2)
        if kernel == .mahalanobis {
            var l = [Double](repeating: 0, count: k * d * d)
            for kk in 0 ..< k {
                for i in 0 ..< d {
                    for j in 0 ... i { l[(kk * d + i) * d + j] = i == j ? rng.uniform(0.6, 1.5) : rng.uniform(-0.5, 0.5) }
                    // Entries above the diagonal are ignored by the kernel: fill them with noise.
                    for j in (i + 1) ..< max(d, i + 1) { l[(kk * d + i) * d + j] = rng.uniform(-9, 9) }
                }
            }
            p.chol = l
        }
        if kernel == .learned {
            p.x = nil
            p.mu = nil
            p.energies = rng.array(n * k, 0, 3)
        }
        p.logw = rng.array(k, -1, 0.5)
        p.logprior = rng.array(n * k, -0.7, 0.7)
        p.normalized = normalized
        p.keepAwayFromKinks()
        return p
    }

    /// Moves x so that no residual u is within 0.05 of a kink (0 for laplace/exponential, ±δ for huber).
    mutating func keepAwayFromKinks() {
        guard kernel == .laplace || kernel == .exponential || kernel == .huber, var x, let mu else { return }
        for _ in 0 ..< 50 {
            var moved = false
            for nn in 0 ..< n {
                for kk in 0 ..< k {
                    for i in 0 ..< d {
                        let s = scaleValue(kk, i)
                        let u = (x[nn * d + i] - mu[kk * d + i]) / s
                        let kinks = kernel == .huber ? [-delta, delta] : [0.0]
                        for kink in kinks where abs(u - kink) < 0.05 {
                            x[nn * d + i] += 0.13 * s
                            moved = true
                        }
                    }
                }
            }
            if !moved { break }
        }
        self.x = x
    }

    func scaleValue(_ kk: Int, _ i: Int) -> Double {
        guard let scale else { return 1 }
        switch scaleShape {
        case .shared: return scale[0]
        case .perComponent: return scale[kk]
        case .perDimension: return scale[kk * d + i]
        }
    }
}

/// Forward outputs in the given precision, as Double arrays.
func forward<T: IEFloat>(_ data: ProblemData, _ type: T.Type) throws -> (energies: [Double], logZ: [Double], resp: [Double]) {
    let pool = Pool()
    let e = pool.output(data.n * data.k, as: T.self), l = pool.output(data.n, as: T.self), r = pool.output(data.n * data.k, as: T.self)
    try Engine.forward(data.problem(pool, T.self), ForwardOutputs(energies: e, logZ: l, resp: r))
    return (doubles(e), doubles(l), doubles(r))
}

/// Σ gL·logZ + Σ gR·R in float64.
func objective(_ data: ProblemData, gL: [Double], gR: [Double]) throws -> Double {
    let f = try forward(data, Double.self)
    var sum = 0.0
    for i in 0 ..< data.n { sum += gL[i] * f.logZ[i] }
    for i in 0 ..< data.n * data.k { sum += gR[i] * f.resp[i] }
    return sum
}

/// Every gradient of the objective, as Double arrays keyed by parameter name.
func analyticGradients<T: IEFloat>(_ data: ProblemData, gL: [Double]?, gR: [Double]?, _ type: T.Type) throws -> [String: [Double]] {
    let pool = Pool()
    let n = data.n, k = data.k, d = data.d
    let scaleCount = data.scale?.count ?? 1
    var g = GradientOutputs<T>()
    g.x = pool.output(n * d, as: T.self)
    g.mu = pool.output(k * d, as: T.self)
    g.scale = pool.output(scaleCount, as: T.self)
    g.nu = pool.output(1, as: T.self)
    g.delta = pool.output(1, as: T.self)
    g.chol = pool.output(k * d * d, as: T.self)
    g.logw = pool.output(k, as: T.self)
    g.logprior = pool.output(n * k, as: T.self)
    g.tau = pool.output(1, as: T.self)
    g.energies = pool.output(n * k, as: T.self)
    try Engine.gradients(data.problem(pool, T.self), gL: pool.input(gL, as: T.self), gR: pool.input(gR, as: T.self),
                         ForwardOutputs(), g)
    return ["x": doubles(g.x), "mu": doubles(g.mu), "scale": doubles(g.scale), "nu": doubles(g.nu),
            "delta": doubles(g.delta), "chol": doubles(g.chol), "logw": doubles(g.logw),
            "logprior": doubles(g.logprior), "tau": doubles(g.tau), "energies": doubles(g.energies)]
}

/// Reads or writes one parameter array of a problem by name.
extension ProblemData {
    func values(_ name: String) -> [Double]? {
        switch name {
        case "x": return x
        case "mu": return mu
        case "scale": return scale
        case "nu": return [nu]
        case "delta": return [delta]
        case "chol": return chol
        case "logw": return logw
        case "logprior": return logprior
        case "tau": return [tau]
        case "energies": return energies
        default: return nil
        }
    }

    mutating func set(_ name: String, _ v: [Double]) {
        switch name {
        case "x": x = v
        case "mu": mu = v
        case "scale": scale = v
        case "nu": nu = v[0]
        case "delta": delta = v[0]
        case "chol": chol = v
        case "logw": logw = v
        case "logprior": logprior = v
        case "tau": tau = v[0]
        case "energies": energies = v
        default: break
        }
    }
}

/// Fourth-order central difference of the objective with respect to entry `i` of parameter
/// `name` (a nil scale is differentiated as the shared scale 1 it stands for).
func centralDifference(_ data: ProblemData, _ name: String, _ i: Int, gL: [Double], gR: [Double]) throws -> Double {
    var data = data
    if name == "scale" && data.scale == nil {
        data.scale = [1]
        data.scaleShape = .shared
    }
    guard let v = data.values(name) else { return .nan }
    let h = 1e-4 * max(1, abs(v[i]))
    func at(_ step: Double) throws -> Double {
        var p = data, w = v
        w[i] = v[i] + step
        p.set(name, w)
        return try objective(p, gL: gL, gR: gR)
    }
    let d1 = try at(h) - at(-h), d2 = try at(2 * h) - at(-2 * h)
    return (8 * d1 - d2) / (12 * h)
}

/// |a − b| ≤ tol·max(|a|, |b|, floor).
func assertClose(_ a: Double, _ b: Double, rel tol: Double, floor: Double = 1e-300, _ what: @autoclosure () -> String,
                 file: StaticString = #filePath, line: UInt = #line) {
    let scale = max(abs(a), abs(b), floor)
    if !(abs(a - b) <= tol * scale) || a.isNaN != b.isNaN {
        XCTFail("\(what()): \(a) vs \(b) (relative error \(abs(a - b) / scale) > \(tol))", file: file, line: line)
    }
}

/// The name used in messages for the precision.
func precisionName<T: IEFloat>(_: T.Type) -> String { T.self == Float.self ? "float32" : "float64" }

/// For C as `matrixProduct` leaves it (C₀ + A·B when accumulating, else A·B; A is rows×depth,
/// or its transpose stored depth×rows), the largest |C − the plain float64 triple loop| and
/// the largest |value| of the loop.
func plainProductError<T: IEFloat>(_ c: [T], _ start: [T], _ a: [T], _ b: [T], rows: Int, columns: Int, depth: Int,
                                   transposed: Bool, accumulate: Bool) -> (error: Double, size: Double) {
    var error = 0.0, size = 0.0
    for m in 0 ..< rows {
        for n in 0 ..< columns {
            var sum = accumulate ? start[m * columns + n].double : 0
            for p in 0 ..< depth {
                let am = transposed ? a[p * rows + m] : a[m * depth + p]
                sum += am.double * b[p * columns + n].double
            }
            error = max(error, abs(c[m * columns + n].double - sum))
            size = max(size, abs(sum))
        }
    }
    return (error, size)
}

/// Fails at the first entry whose bits differ (the row-independence tests' check).
func assertBitwise(_ a: [Double], _ b: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    for (i, (u, v)) in zip(a, b).enumerated() where u.bitPattern != v.bitPattern {
        XCTFail("\(what)[\(i)]: \(u) vs \(v)", file: file, line: line)
        return
    }
}

/// Row `row` of a row-major matrix `width` wide.
func matrixRow(_ values: [Double], _ row: Int, _ width: Int) -> [Double] {
    Array(values[row * width ..< (row + 1) * width])
}
