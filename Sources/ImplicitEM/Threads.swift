#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The number of threads the library uses. Results never depend on it: work is split into
/// partitions that depend only on the problem's shape, each with its own accumulators,
/// reduced in partition order.
public enum Threads {
    /// The thread count (≥ 1). Setting 0 (or a negative value) restores the default, the
    /// number of online processors.
    public static var count: Int {
        get { threadSetting.read() }
        set { threadSetting.write(newValue) }
    }

    /// The number of online processors (at least 1).
    public static var defaultCount: Int {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return online >= 1 ? min(online, maxCount) : 1
    }

    /// More threads than this would only add start-up cost.
    static let maxCount = 256
}

/// The thread-count setting behind a mutex (it is global state read by every call).
private final class ThreadSetting: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value = 0  // 0 = the default

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    func read() -> Int {
        pthread_mutex_lock(mutex)
        let v = value
        pthread_mutex_unlock(mutex)
        return v >= 1 ? v : Threads.defaultCount
    }

    func write(_ newValue: Int) {
        pthread_mutex_lock(mutex)
        value = newValue >= 1 ? min(newValue, Threads.maxCount) : 0
        pthread_mutex_unlock(mutex)
    }
}

private let threadSetting = ThreadSetting()

/// How the rows of a problem are split. The split depends only on the number of rows and
/// the work per row, never on the thread count, so that results are bitwise reproducible.
struct Partitions {
    let count: Int
    let rows: Int

    /// Enough work per partition to pay for a thread start (~20 µs), at most `maxCount` partitions.
    static let minWorkPerPartition = 1 << 16
    static let maxCount = 64

    init(rows: Int, costPerRow: Int) {
        self.rows = rows
        let cost = max(costPerRow, 1)
        let minRows = max(1, Partitions.minWorkPerPartition / cost)
        count = max(1, min(Partitions.maxCount, rows / minRows))
    }

    /// The rows of partition `p`: consecutive, balanced, covering 0..<rows in order.
    func range(_ p: Int) -> Range<Int> {
        let base = rows / count, extra = rows % count
        let lo = base * p + min(p, extra)
        return lo ..< lo + base + (p < extra ? 1 : 0)
    }
}

/// The partitions still to run, handed out one at a time to whichever thread asks first, so
/// that a thread that is preempted (or slower) holds up the call by at most one partition. Which
/// thread runs a partition never affects its result: each partition has its own accumulators.
/// Each thread also gets a worker number, for working memory it reuses from one partition to
/// the next.
private final class PartitionQueue {
    let body: (Int, Int) -> Void
    let total: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var next = 0
    private var nextWorker = 0

    init(body: @escaping (Int, Int) -> Void, total: Int) {
        self.body = body
        self.total = total
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The next partition, or nil when every one has been handed out.
    private func take() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if next >= total { return nil }
        next += 1
        return next - 1
    }

    private func joinWorkers() -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        nextWorker += 1
        return nextWorker - 1
    }

    func run() {
        let worker = joinWorkers()
        while let p = take() { body(p, worker) }
    }
}

/// The threads `runPartitions` uses for `count` partitions: its bodies' workers are 0..<this.
func partitionWorkers(_ count: Int) -> Int { count <= 1 ? 1 : min(Threads.count, count) }

/// Runs `body(p)` for every partition p in 0..<count, on up to `Threads.count` threads.
/// A single partition runs inline on the calling thread. `body` must not throw.
func runPartitions(_ count: Int, _ body: (Int) -> Void) {
    runPartitions(count, workers: partitionWorkers(count)) { p, _ in body(p) }
}

/// Runs `body(p, worker)` for every partition p in 0..<count on up to `workers` threads (the
/// caller's `partitionWorkers(count)`, read once: the thread setting may change meanwhile),
/// worker being the running thread's number in 0..<workers.
func runPartitions(_ count: Int, workers: Int, _ body: (Int, Int) -> Void) {
    let threads = count <= 1 ? 1 : min(workers, count)
    if threads <= 1 {
        for p in 0 ..< count { body(p, 0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let queue = PartitionQueue(body: body, total: count)
        var started: [pthread_t] = []
        started.reserveCapacity(threads - 1)
        let context = Unmanaged.passRetained(queue)
        let attributes = UnsafeMutablePointer<pthread_attr_t>.allocate(capacity: 1)
        let haveAttributes = pthread_attr_init(attributes) == 0
        if haveAttributes { HelperPlacement.elsewhere(helpers: threads - 1, attributes) }
        defer {
            if haveAttributes { pthread_attr_destroy(attributes) }
            attributes.deallocate()
        }
        for _ in 1 ..< threads {
            var thread = pthread_t()
            let rc = pthread_create(&thread, haveAttributes ? UnsafePointer(attributes) : nil, { raw in
                guard let raw else { return nil }
                Unmanaged<PartitionQueue>.fromOpaque(raw).takeUnretainedValue().run()
                return nil
            }, context.toOpaque())
            // No thread available: the threads that did start (and this one) take its share.
            if rc == 0 { started.append(thread) }
        }
        queue.run()
        for thread in started { pthread_join(thread, nil) }
        context.release()
    }
}

/// Helper threads start on the other CPUs than the caller's. Left to the scheduler, a thread
/// created while the other CPUs idle often starts on its creator's CPU, which is then busy with
/// its own share of the partitions, and waits there for a migration: 1.9–2.9 ms on a 2-CPU
/// virtual machine (50–80 µs kept off that CPU), longer than a whole call of 10^4 rows. Linux
/// only; the GNU functions are looked up at run time (Swift does not see their declarations).
enum HelperPlacement {
    #if os(Linux)
    typealias CurrentCPU = @convention(c) () -> Int32
    typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    typealias SetAffinity = @convention(c) (UnsafeMutablePointer<pthread_attr_t>, Int, UnsafeRawPointer) -> Int32

    private static func symbol<F>(_ name: String, _: F.Type) -> F? {
        dlsym(nil, name).map { unsafeBitCast($0, to: F.self) }
    }
    private static let currentCPU = symbol("sched_getcpu", CurrentCPU.self)
    private static let getAffinity = symbol("sched_getaffinity", GetAffinity.self)
    private static let setAffinity = symbol("pthread_attr_setaffinity_np", SetAffinity.self)
    /// Words of a CPU mask: 1024 CPUs, glibc's cpu_set_t.
    static let maskWords = 16
    #endif

    /// The CPUs the helpers may run on: those this thread may run on but the one it runs on now,
    /// when at least `helpers` remain (else nil: helpers kept off this CPU would have to share
    /// the others while it idles at the end).
    static func mask(helpers: Int) -> [UInt64]? {
        #if os(Linux)
        guard let currentCPU, let getAffinity else { return nil }
        var mask = [UInt64](repeating: 0, count: maskWords)
        let cpu = Int(currentCPU())
        let got = mask.withUnsafeMutableBytes { getAffinity(0, $0.count, $0.baseAddress!) }
        guard got == 0, cpu >= 0, cpu < 64 * maskWords else { return nil }
        let bit: UInt64 = 1 << UInt64(cpu % 64)
        guard mask[cpu / 64] & bit != 0 else { return nil }
        mask[cpu / 64] &= ~bit
        let others = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        return others >= helpers ? mask : nil
        #else
        return nil
        #endif
    }

    /// Sets `attributes` to start threads on `mask(helpers:)`; leaves them as they are when
    /// there is no such mask or it cannot be set.
    static func elsewhere(helpers: Int, _ attributes: UnsafeMutablePointer<pthread_attr_t>) {
        #if os(Linux)
        guard let setAffinity, let mask = mask(helpers: helpers) else { return }
        _ = mask.withUnsafeBytes { setAffinity(attributes, $0.count, $0.baseAddress!) }
        #endif
    }
}
