import Foundation
import XCTest
@testable import ImplicitEM

/// Concurrent calls on distinct buffers are safe and every result is bitwise independent of
/// the thread count (docs/API.md, "C ABI conventions"). Run under ThreadSanitizer by
/// `make sanitize` (`swift test --sanitize=thread --filter ConcurrencyTests`).
final class ConcurrencyTests: XCTestCase {
    /// Kernels whose problems are large enough for the engine to split the rows into several
    /// partitions (Partitions: at least 2^16 units of work each; a row costs about 2·K·D,
    /// 4·K·D² for mahalanobis, K for learned). The others stay small to keep debug runs short.
    static let partitioned: [Kernel] = [.gaussian, .mahalanobis, .learned]

    static func rows(_ kernel: Kernel) -> Int {
        switch kernel {
        case .gaussian: return 4200
        case .mahalanobis: return 1100
        case .learned: return 33000
        default: return 64
        }
    }

    static func problem(_ kernel: Kernel, seed: UInt64) -> ProblemData {
        var data = ProblemData.random(kernel, shape: .perComponent, n: rows(kernel), k: 4, d: 4,
                                      normalized: kernel != .logistic && kernel != .learned, seed: seed)
        if kernel == .studentT { data.tau = 0.9 }  // normalised Student-t needs τ < 2
        return data
    }

    /// Every entry point on one problem, as the bit patterns of every output value.
    static func everything<T: IEFloat>(_ data: ProblemData, _: T.Type, callback: Bool = false) throws -> [UInt64] {
        let pool = Pool()
        let n = data.n, k = data.k, d = data.d
        var problem = data.problem(pool, T.self)
        if callback, let table = problem.energies {
            // The learned energies through the callback instead of the matrix.
            problem.energies = nil
            problem.energyFunction = { _, first, rows, out in
                for i in 0 ..< rows * k { out[i] = table[first * k + i] }
            }
        }
        var bits: [UInt64] = []
        func keep(_ b: UnsafeMutableBufferPointer<T>?) { if let b { bits += b.map { $0.double.bitPattern } } }

        let e = pool.output(n * k, as: T.self), l = pool.output(n, as: T.self), r = pool.output(n * k, as: T.self)
        try Engine.forward(problem, ForwardOutputs(energies: e, logZ: l, resp: r))
        keep(e); keep(l); keep(r)

        let gL = pool.input((0 ..< n).map { 0.5 + Double($0 % 5) / 4 }, as: T.self)
        let gR = pool.input((0 ..< n * k).map { Double($0 % 7) / 7 - 0.4 }, as: T.self)
        let usesD = data.kernel != .learned
        var g = GradientOutputs<T>()
        g.x = usesD ? pool.output(n * d, as: T.self) : nil
        g.mu = usesD ? pool.output(k * d, as: T.self) : nil
        g.scale = pool.output(data.scale?.count ?? 1, as: T.self)
        g.nu = pool.output(1, as: T.self)
        g.delta = pool.output(1, as: T.self)
        g.chol = data.kernel == .mahalanobis ? pool.output(k * d * d, as: T.self) : nil
        g.logw = pool.output(k, as: T.self)
        g.logprior = pool.output(n * k, as: T.self)
        g.tau = pool.output(1, as: T.self)
        g.energies = pool.output(n * k, as: T.self)
        let ge = pool.output(n * k, as: T.self), gl = pool.output(n, as: T.self), gr = pool.output(n * k, as: T.self)
        try Engine.gradients(problem, gL: gL, gR: gR, ForwardOutputs(energies: ge, logZ: gl, resp: gr), g)
        keep(ge); keep(gl); keep(gr)
        keep(g.x); keep(g.mu); keep(g.scale); keep(g.nu); keep(g.delta); keep(g.chol)
        keep(g.logw); keep(g.logprior); keep(g.tau); keep(g.energies)

        let weights = pool.input((0 ..< n).map { Double($0 % 3) }, as: T.self)
        let sumR = pool.output(k, as: T.self)
        let sumRX = usesD ? pool.output(k * d, as: T.self) : nil
        let sumRXX = usesD ? pool.output(k * d * d, as: T.self) : nil
        try Engine.stats(problem, weights: weights, sumR: sumR, sumRX: sumRX, sumRXX: sumRXX)
        keep(sumR); keep(sumRX); keep(sumRXX)

        if data.kernel != .learned && data.kernel != .logistic {
            let c = pool.output(k, as: T.self)
            try Engine.logNormalizer(problem, c)
            keep(c)
        }
        if data.kernel.isSeparable {
            let z = pool.input((0 ..< n).map { Double($0) / Double(n) * 8 - 4 }, as: T.self)!
            let act = pool.output(n, as: T.self), dact = pool.output(n, as: T.self)
            try Engine.activation(kernel: data.kernel, z: z, m: T(fromDouble: 0.8), scale: T(fromDouble: 0.7),
                                  nu: T(fromDouble: 3), delta: T(fromDouble: 0.6), tau: T(fromDouble: 0.9),
                                  act: act, dact: dact)
            keep(act); keep(dact)
        }
        return bits
    }

    static func everything(_ kernel: Kernel, seed: UInt64, float: Bool, callback: Bool = false) throws -> [UInt64] {
        let data = problem(kernel, seed: seed)
        return float ? try everything(data, Float.self, callback: callback) : try everything(data, Double.self, callback: callback)
    }

    override func tearDown() {
        Threads.count = 0
        super.tearDown()
    }

    /// 8 threads call every entry point of every kernel in both precisions at once, each on its
    /// own buffers, while the thread-count setting changes under them; each result must be the
    /// one computed alone.
    func testEightThreadsCallEveryEntryPointConcurrently() throws {
        Threads.count = 2
        var expected: [String: [UInt64]] = [:]
        for kernel in Kernel.allCases {
            for float in [false, true] {
                expected["\(kernel.name) \(float)"] = try Self.everything(kernel, seed: 7, float: float)
            }
        }
        let lock = NSLock()
        var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            // 3 steps of 8 workers, starting 3 apart, cover all 20 kernel/precision pairs.
            for step in 0 ..< 3 {
                // Each worker starts at a different kernel, so all kernels run side by side.
                let index = (step + worker * 3) % (Kernel.allCases.count * 2)
                let kernel = Kernel.allCases[index / 2], float = index % 2 == 1
                if step % 4 == worker % 4 { Threads.count = 1 + (worker + step) % 4 }
                let key = "\(kernel.name) \(float)"
                do {
                    let got = try Self.everything(kernel, seed: 7, float: float, callback: kernel == .learned && worker % 2 == 0)
                    if got != expected[key] {
                        lock.lock(); failures.append("worker \(worker): \(key) differs from the serial result"); lock.unlock()
                    }
                } catch {
                    lock.lock(); failures.append("worker \(worker): \(key) threw \(error)"); lock.unlock()
                }
            }
        }
        XCTAssertEqual(failures, [])
    }

    /// The same call on 1, 2 and 8 threads gives bitwise identical outputs (every kernel is
    /// covered at release speed by bindings/c/test_edge.c; here the partitioned ones).
    func testThreadCountDoesNotChangeAnyOutput() throws {
        for kernel in Self.partitioned {
            let data = Self.problem(kernel, seed: 11)
            let cost = kernel == .learned ? data.k : 2 * data.k * data.d * (kernel == .mahalanobis ? data.d : 1)
            XCTAssertGreaterThan(Partitions(rows: data.n, costPerRow: cost).count, 1, "\(kernel.name): one partition only")
            for float in [false] {
                var results: [[UInt64]] = []
                for threads in [1, 2, 8] {
                    Threads.count = threads
                    results.append(try Self.everything(kernel, seed: 11, float: float))
                }
                XCTAssertFalse(results[0].isEmpty)
                XCTAssertEqual(results[0], results[1], "\(kernel.name) float=\(float): 2 threads differ from 1")
                XCTAssertEqual(results[0], results[2], "\(kernel.name) float=\(float): 8 threads differ from 1")
            }
        }
    }

    /// Errors thrown on several threads at once do not disturb each other or write anything.
    func testConcurrentErrorsLeaveBuffersUntouched() {
        let lock = NSLock()
        var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var data = Self.problem(.gaussian, seed: 3)
            data.x![worker * 7] = worker % 2 == 0 ? .nan : .infinity
            let pool = Pool()
            let r = pool.output(data.n * data.k, as: Double.self, fill: 12345)
            do {
                try Engine.forward(data.problem(pool, Double.self), ForwardOutputs(resp: r))
                lock.lock(); failures.append("worker \(worker): no error"); lock.unlock()
            } catch let error as ImplicitEMError {
                let row = (worker * 7) / data.d, column = (worker * 7) % data.d
                let value = worker % 2 == 0 ? "nan" : "inf"
                let message = error.message.lowercased()
                let named = message.contains("x") && message.contains("\(row)") && message.contains("\(column)")
                if error.status != .nonFiniteInput || !named || !message.contains(value) {
                    lock.lock(); failures.append("worker \(worker): \(error.status) \(error.message)"); lock.unlock()
                }
            } catch {
                lock.lock(); failures.append("worker \(worker): \(error)"); lock.unlock()
            }
            if r.contains(where: { $0 != 12345 }) {
                lock.lock(); failures.append("worker \(worker): resp written on error"); lock.unlock()
            }
        }
        XCTAssertEqual(failures, [])
    }
}
