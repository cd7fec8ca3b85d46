import Foundation
import XCTest
@testable import ImplicitEM

/// Outputs large enough to be written with non-temporal stores (`streamingPays`): the values are
/// those of the softmax written plainly here, bitwise those of the same rows in calls too small
/// to stream, and independent of the thread count, for any alignment of the outputs, a K that
/// is not a whole number of cache lines, and rows whose logits have no finite maximum.
/// Streaming is asked for here (IMPLICITEM_STREAMING=1), whatever this CPU's default.
final class LearnedStreamTests: XCTestCase {
    override func setUp() {
        super.setUp()
        setenv("IMPLICITEM_STREAMING", "1", 1)
    }

    override func tearDown() {
        unsetenv("IMPLICITEM_STREAMING")
        Threads.count = 0
        super.tearDown()
    }

    /// IMPLICITEM_STREAMING=1 or 0 decides; anything else, or nothing, leaves it to the CPU, read
    /// here from /proc/cpuinfo: not on AMD's family 19h (25: Zen 3, Zen 4), else on.
    func testStreamingFollowsTheEnvironmentThenTheCPU() throws {
        #if arch(x86_64)
        let large = streamingThresholdBytes, small = streamingThresholdBytes - 1
        XCTAssertTrue(streamingPays(bytes: large))
        XCTAssertFalse(streamingPays(bytes: small))
        setenv("IMPLICITEM_STREAMING", "0", 1)
        XCTAssertFalse(streamingPays(bytes: large))
        let lines = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n")
        func field(_ name: String) throws -> String {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix(name) }, "no \(name) in /proc/cpuinfo")
            return String(line.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces)
        }
        let zen34 = try field("vendor_id") == "AuthenticAMD" && field("cpu family") == "25"
        XCTAssertEqual(cpuStreamsByDefault, !zen34)
        for other in ["", "yes", "10", "01", "true"] {
            setenv("IMPLICITEM_STREAMING", other, 1)
            XCTAssertEqual(streamingPays(bytes: large), !zen34, "IMPLICITEM_STREAMING=\(other)")
        }
        unsetenv("IMPLICITEM_STREAMING")
        XCTAssertEqual(streamingPays(bytes: large), !zen34)
        XCTAssertFalse(streamingPays(bytes: small))
        #else
        XCTAssertFalse(streamingPays(bytes: 1 << 40))
        #endif
    }

    struct Case {
        var n: Int, k: Int
        var energies: [Double], logw: [Double], logprior: [Double]?
        var tau: Double, gL: [Double]?
    }

    /// N rows of K energies, enough for an N×K output of T to be streamed.
    static func makeCase<T: IEFloat>(_: T.Type, k: Int, irregular: Bool) -> Case {
        let n = streamingThresholdBytes / (k * MemoryLayout<T>.stride) + 3
        var rng = SeededRNG(seed: 5)
        var energies = rng.array(n * k, 0, 6)
        let logw = rng.array(k, -2, 0)
        var logprior: [Double]? = nil
        var tau = 1.0
        var gL: [Double]? = nil
        if irregular {
            // Row 7 overflows (−E/τ below the range), row 11 is masked, the last row overflows.
            tau = 0.5
            let big = T.self == Float.self ? 3e38 : 1e308
            for j in 0 ..< k { energies[7 * k + j] = big; energies[(n - 1) * k + j] = big }
            var prior = rng.array(n * k, -1, 0)
            for j in 0 ..< k { prior[11 * k + j] = -.infinity }
            logprior = prior
            gL = rng.array(n, 0.5, 1.5)
        }
        return Case(n: n, k: k, energies: energies, logw: logw, logprior: logprior, tau: tau, gL: gL)
    }

    /// logZ, R, ∂E and ∂logw for rows first..<first+rows, the outputs placed `offset` values
    /// past an allocation's start.
    static func run<T: IEFloat>(_ c: Case, _: T.Type, first: Int, rows: Int, offset: Int,
                                forwardOnly: Bool = false) throws -> [[T]] {
        let k = c.k, count = rows * k
        func input(_ v: [Double]) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: v.count)
            for i in 0 ..< v.count { b[i] = T(fromDouble: v[i]) }
            return b
        }
        let energies = input(Array(c.energies[first * k ..< (first + rows) * k]))
        let logw = input(c.logw)
        let logprior = c.logprior.map { input(Array($0[first * k ..< (first + rows) * k])) }
        let gL = c.gL.map { input(Array($0[first ..< first + rows])) }
        let whole = UnsafeMutableBufferPointer<T>.allocate(capacity: 2 * count + rows + k + 2 * offset)
        whole.initialize(repeating: T(fromDouble: .nan))
        defer {
            for b in [energies, logw, whole] { b.deallocate() }
            logprior?.deallocate()
            gL?.deallocate()
        }
        let base = whole.baseAddress!
        let resp = UnsafeMutableBufferPointer(start: base + offset, count: count)
        let gradE = UnsafeMutableBufferPointer(start: base + offset + count + offset, count: count)
        let logZ = UnsafeMutableBufferPointer(start: base + 2 * (offset + count), count: rows)
        let gradW = UnsafeMutableBufferPointer(start: base + 2 * (offset + count) + rows, count: k)
        let problem = Problem<T>(kernel: .learned, n: rows, k: k, d: 0, logw: UnsafeBufferPointer(logw),
                                 logprior: logprior.map { UnsafeBufferPointer($0) },
                                 energies: UnsafeBufferPointer(energies), tau: T(fromDouble: c.tau))
        if forwardOnly {
            try Engine.forward(problem, ForwardOutputs(logZ: logZ, resp: resp))
            return [Array(logZ), Array(resp)]
        }
        try Engine.gradients(problem, gL: gL.map { UnsafeBufferPointer($0) }, gR: nil,
                             ForwardOutputs(logZ: logZ, resp: resp),
                             GradientOutputs(logw: gradW, energies: gradE))
        return [Array(logZ), Array(resp), Array(gradE), Array(gradW)]
    }

    static func bits<T: IEFloat>(_ v: [T]) -> [UInt64] { v.map { $0.double.bitPattern } }

    func check<T: IEFloat>(_ type: T.Type, k: Int, offset: Int, irregular: Bool, forwardOnly: Bool = false) throws {
        let c = Self.makeCase(T.self, k: k, irregular: irregular)
        let label = "\(precisionName(T.self)) K=\(k) offset=\(offset) irregular=\(irregular) forwardOnly=\(forwardOnly)"
        XCTAssertTrue(streamingPays(bytes: c.n * k * MemoryLayout<T>.stride), label)
        Threads.count = 1
        let one = try Self.run(c, T.self, first: 0, rows: c.n, offset: offset, forwardOnly: forwardOnly)
        Threads.count = 2
        let two = try Self.run(c, T.self, first: 0, rows: c.n, offset: offset, forwardOnly: forwardOnly)
        for (a, b) in zip(one, two) { XCTAssertEqual(Self.bits(a), Self.bits(b), "\(label): 1 vs 2 threads") }

        // The same rows in slices too small to stream, at another alignment: the same bits.
        let slice = 997
        XCTAssertFalse(streamingPays(bytes: slice * k * MemoryLayout<T>.stride))
        var first = 0
        while first < c.n {
            let rows = min(slice, c.n - first)
            let part = try Self.run(c, T.self, first: first, rows: rows, offset: offset + 1, forwardOnly: forwardOnly)
            XCTAssertEqual(Self.bits(part[0]), Self.bits(Array(one[0][first ..< first + rows])), "\(label): logZ rows \(first)...")
            XCTAssertEqual(Self.bits(part[1]), Self.bits(Array(one[1][first * k ..< (first + rows) * k])),
                           "\(label): R rows \(first)...")
            if !forwardOnly {
                XCTAssertEqual(Self.bits(part[2]), Self.bits(Array(one[2][first * k ..< (first + rows) * k])),
                               "\(label): ∂E rows \(first)...")
            }
            first += rows
        }

        // The softmax written plainly: logZ = log Σ_k e^(a_k), R = e^(a − logZ), ∂E = −gL·R/τ,
        // ∂logw = Σ_n gL·R, with a_k = logw_k + logprior_nk − E_nk/τ.
        let tol = T.self == Float.self ? 2e-5 : 1e-13
        var gradW = [Double](repeating: 0, count: k)
        for n in 0 ..< c.n {
            let a = (0 ..< k).map { j in c.logw[j] + (c.logprior?[n * k + j] ?? 0) - T(fromDouble: c.energies[n * k + j]).double / c.tau }
            let top = a.max()!
            let masked = irregular && (n == 7 || n == 11 || n == c.n - 1)
            let gLn = c.gL.map { T(fromDouble: $0[n]).double } ?? 1
            if masked {
                // Masked or overflowed rows: R is 0 or one-hot (KERNELS.md), no gradient.
                XCTAssertEqual(one[0][n].double, -.infinity, "\(label): logZ row \(n)")
                if !forwardOnly { for j in 0 ..< k { XCTAssertEqual(one[2][n * k + j].double, 0, "\(label): ∂E row \(n)") } }
                continue
            }
            let logZ = top + log(a.reduce(0) { $0 + exp($1 - top) })
            assertClose(one[0][n].double, logZ, rel: tol, floor: 1, "\(label): logZ row \(n)")
            for j in 0 ..< k {
                let r = exp(a[j] - logZ)
                assertClose(one[1][n * k + j].double, r, rel: tol, floor: 1e-30, "\(label): R[\(n), \(j)]")
                if !forwardOnly {
                    assertClose(one[2][n * k + j].double, -gLn * r / c.tau, rel: tol, floor: 1e-30, "\(label): ∂E[\(n), \(j)]")
                }
                gradW[j] += gLn * r
            }
        }
        if !forwardOnly {
            for j in 0 ..< k { assertClose(one[3][j].double, gradW[j], rel: tol * 100, "\(label): ∂logw[\(j)]") }
        }
    }

    func testFloat64() throws {
        try check(Double.self, k: 64, offset: 0, irregular: false)
        try check(Double.self, k: 64, offset: 2, irregular: false)
        try check(Double.self, k: 37, offset: 1, irregular: true)
        try check(Double.self, k: 16, offset: 5, irregular: false, forwardOnly: true)
    }

    func testFloat32() throws {
        try check(Float.self, k: 64, offset: 0, irregular: false)
        try check(Float.self, k: 40, offset: 3, irregular: true)
        try check(Float.self, k: 32, offset: 7, irregular: false, forwardOnly: true)
    }
}
