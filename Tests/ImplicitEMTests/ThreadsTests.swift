import Foundation
import XCTest
@testable import ImplicitEM

/// Results do not depend on the thread count, bit for bit.
final class ThreadsTests: XCTestCase {
    override func tearDown() { Threads.count = 0 }

    func testCountSetting() {
        Threads.count = 3
        XCTAssertEqual(Threads.count, 3)
        Threads.count = 0
        XCTAssertEqual(Threads.count, Threads.defaultCount)
        XCTAssertGreaterThanOrEqual(Threads.count, 1)
        Threads.count = -5
        XCTAssertEqual(Threads.count, Threads.defaultCount)
    }

    func testPartitionsCoverTheRowsAndIgnoreTheThreadCount() {
        for (rows, cost) in [(1, 12), (1000, 1), (20_000, 64), (1_000_000, 3), (7, 1 << 20)] {
            let parts = Partitions(rows: rows, costPerRow: cost)
            XCTAssertGreaterThanOrEqual(parts.count, 1)
            XCTAssertLessThanOrEqual(parts.count, Partitions.maxCount)
            var next = 0
            for p in 0 ..< parts.count {
                let range = parts.range(p)
                XCTAssertEqual(range.lowerBound, next)
                next = range.upperBound
            }
            XCTAssertEqual(next, rows)
        }
        XCTAssertEqual(Partitions(rows: 1, costPerRow: 12).count, 1)  // tiny calls run inline
    }

    /// Every partition runs once, on a worker number below the given count that no other
    /// partition holds at the same time (the row pass gives each worker its own scratch).
    func testEachPartitionRunsOnceOnAWorkerNoOtherHoldsMeanwhile() {
        for (count, workers) in [(1, 1), (1, 4), (5, 1), (64, 2), (64, 3), (7, 8)] {
            let lock = NSLock()
            var runs = [Int](repeating: 0, count: count)
            var busy = [Bool](repeating: false, count: max(workers, 1))
            var clashes = 0, outOfRange = 0
            runPartitions(count, workers: workers) { p, worker in
                lock.lock()
                if worker < 0 || worker >= workers { outOfRange += 1 } else if busy[worker] { clashes += 1 } else { busy[worker] = true }
                runs[p] += 1
                lock.unlock()
                usleep(200)  // let the others start meanwhile
                lock.lock()
                if worker >= 0 && worker < workers { busy[worker] = false }
                lock.unlock()
            }
            XCTAssertEqual(runs, [Int](repeating: 1, count: count), "\(count) partitions on \(workers)")
            XCTAssertEqual(outOfRange, 0, "\(count) partitions on \(workers)")
            XCTAssertEqual(clashes, 0, "\(count) partitions on \(workers)")
        }
        Threads.count = 3
        XCTAssertEqual(partitionWorkers(1), 1)
        XCTAssertEqual(partitionWorkers(2), 2)
        XCTAssertEqual(partitionWorkers(64), 3)
    }

    /// The CPUs the calling thread may run on, from /proc (Linux): "Cpus_allowed_list: 0-3,6".
    static func allowedCPUs() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }
        var count = 0
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces))! }
            count += ends.count == 2 ? ends[1] - ends[0] + 1 : 1
        }
        return count
    }

    /// A helper thread may run on every CPU its caller may but the one the caller was on, when
    /// any is left; the caller's own CPUs are untouched.
    func testHelpersStartOffTheCallersCPU() throws {
        #if os(Linux)
        let before = try XCTUnwrap(Self.allowedCPUs())
        let lock = NSLock()
        var arrived = 0
        var helperCPUs: [Int?] = []
        let caller = pthread_self()
        runPartitions(2, workers: 2) { _, _ in
            lock.lock()
            arrived += 1
            if pthread_equal(pthread_self(), caller) == 0 { helperCPUs.append(Self.allowedCPUs()) }
            lock.unlock()
            // Hold each partition until both threads have one (the caller might otherwise run both).
            let start = Date()
            while Date().timeIntervalSince(start) < 5 {
                lock.lock()
                let both = arrived == 2
                lock.unlock()
                if both { break }
                usleep(100)
            }
        }
        XCTAssertEqual(helperCPUs.count, 1, "the helper ran one partition")
        XCTAssertEqual(helperCPUs.first ?? nil, before >= 2 ? before - 1 : before)
        XCTAssertEqual(Self.allowedCPUs(), before, "the caller's CPUs")

        if before >= 2 {
            let mask = try XCTUnwrap(HelperPlacement.mask(helpers: before - 1))
            XCTAssertEqual(mask.reduce(0) { $0 + $1.nonzeroBitCount }, before - 1)
        }
        XCTAssertNil(HelperPlacement.mask(helpers: before), "more helpers than other CPUs")
        #endif
    }

    func outputs<T: IEFloat>(_ p: ProblemData, _ type: T.Type) throws -> [[Double]] {
        var rng = SeededRNG(seed: 1)
        let gR = rng.array(p.n * p.k, -1, 1)
        let g = try analyticGradients(p, gL: nil, gR: gR, T.self)
        let f = try forward(p, T.self)
        return [f.energies, f.logZ, f.resp] + g.keys.sorted().map { g[$0]! }
    }

    func testBitwiseIdenticalForAnyThreadCount() throws {
        // Just over 8 partitions each, so that 8 threads all have work (mahalanobis runs in
        // blocks of 64 rows, at least 8 blocks per partition).
        let cases: [(Kernel, Int, Int, Int)] = [(.gaussian, 12_300, 4 * 6 * 2, 1), (.mahalanobis, 4_700, 4 * 6 * 6 * 2, 64)]
        for (kernel, n, cost, block) in cases {
            let p = ProblemData.random(kernel, shape: .perDimension, n: n, k: 4, d: 6, normalized: true, seed: 2)
            XCTAssertGreaterThan(rowPartitions(rows: n, costPerRow: cost, blockRows: block).count, 8,
                                 "the problem must use every thread")
            var reference: [[Double]] = [], reference32: [[Double]] = []
            for threads in [1, 2, 8] {
                Threads.count = threads
                let result = try outputs(p, Double.self)
                let result32 = kernel == .gaussian ? try outputs(p.roundedToFloat(), Float.self) : []
                if threads == 1 {
                    reference = result
                    reference32 = result32
                    continue
                }
                XCTAssertTrue(zip(reference, result).allSatisfy { $0.0.elementsEqual($0.1) { $0.bitPattern == $1.bitPattern } },
                              "\(kernel.name): \(threads) threads differ")
                XCTAssertTrue(zip(reference32, result32).allSatisfy { $0.0.elementsEqual($0.1) { $0.bitPattern == $1.bitPattern } },
                              "\(kernel.name) float32: \(threads) threads differ")
            }
        }
        // Stats too.
        let p = ProblemData.random(.laplace, n: 25_000, k: 3, d: 4, seed: 3)  // 9 partitions
        var sums: [[Double]] = []
        for threads in [1, 2, 8] {
            Threads.count = threads
            let pool = Pool()
            let a = pool.output(3, as: Double.self), b = pool.output(12, as: Double.self), c = pool.output(48, as: Double.self)
            try Engine.stats(p.problem(pool, Double.self), weights: nil, sumR: a, sumRX: b, sumRXX: c)
            sums.append(doubles(a) + doubles(b) + doubles(c))
        }
        XCTAssertEqual(sums[0].map(\.bitPattern), sums[1].map(\.bitPattern))
        XCTAssertEqual(sums[0].map(\.bitPattern), sums[2].map(\.bitPattern))
    }
}
