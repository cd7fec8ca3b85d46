#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out the internal buffers of one call (see `withArena`). Small requests are carved
/// from the calling thread's reusable block, so a small problem's call makes no heap
/// allocation; larger ones are allocated on the heap and chained through a small header. Allocation
/// failure is an error (outOfMemory), never a trap. Buffers live until `withArena` returns.
struct Arena {
    /// Bytes of the thread's reusable block: enough for a small problem's buffers, the vector
    /// model's included.
    static let inlineBytes = 16384
    /// The stack block of a call made while the thread's block is in use (an energy callback
    /// that calls back in): what the stack takes without a heap allocation.
    static let stackBytes = 1024
    /// Alignment of every buffer, malloc's and calloc's.
    static let alignment = 16
    /// Header bytes before each heap block: the link, padded to keep the alignment.
    fileprivate static let header = 16

    fileprivate struct State {
        var head: UnsafeMutableRawPointer?
        var next: UnsafeMutableRawPointer
        var end: UnsafeMutableRawPointer
    }
    fileprivate let state: UnsafeMutablePointer<State>

    /// `count` zeroed values of T.
    func zeros<T: IEFloat>(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeMutablePointer<T> {
        try take(count, zeroed: true, what())
    }

    /// `count` values of T, not initialised: for buffers whose users write before they read,
    /// or zero them where they run (a partition's worker, touching its own memory).
    func uninitialized<T: IEFloat>(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeMutablePointer<T> {
        try take(count, zeroed: false, what())
    }

    @inline(__always)
    private func take<T: IEFloat>(_ count: Int, zeroed: Bool, _ what: @autoclosure () -> String) throws -> UnsafeMutablePointer<T> {
        let payload = try checkedProduct(max(count, 1), MemoryLayout<T>.stride, "the size of \(what())")
        let available = state.pointee.end - state.pointee.next
        if payload <= available {
            let raw = state.pointee.next
            let used = (payload + Arena.alignment - 1) & ~(Arena.alignment - 1)
            state.pointee.next = used <= available ? raw + used : state.pointee.end
            if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: payload) }
            return Arena.poisoned(raw, payload, zeroed).bindMemory(to: T.self, capacity: max(count, 1))
        }
        let (bytes, overflow) = payload.addingReportingOverflow(Arena.header)
        guard !overflow, let raw = zeroed ? calloc(1, bytes) : malloc(bytes) else {
            throw ImplicitEMError(.outOfMemory, "cannot allocate \(payload) bytes for \(what())")
        }
        raw.storeBytes(of: state.pointee.head, as: UnsafeMutableRawPointer?.self)
        state.pointee.head = raw
        return Arena.poisoned(raw + Arena.header, payload, zeroed).bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Debug builds fill uninitialised buffers with NaNs (all bits set), so that a read before
    /// a write shows in the tests whatever the memory held before.
    @inline(__always)
    private static func poisoned(_ raw: UnsafeMutableRawPointer, _ bytes: Int, _ zeroed: Bool) -> UnsafeMutableRawPointer {
        #if DEBUG
        if !zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bytes) }
        #endif
        return raw
    }
}

/// Runs `body` with an arena whose buffers are all released when it returns.
@inline(__always)
func withArena<R>(_ body: (Arena) throws -> R) throws -> R {
    if let block = ThreadBlock.acquire() {
        defer { ThreadBlock.release(block) }
        return try withArena(inline: block, bytes: Arena.inlineBytes, body)
    }
    // Stack allocations above 1 KiB go to the heap on some platforms: this one stays small.
    return try withUnsafeTemporaryAllocation(byteCount: Arena.stackBytes, alignment: Arena.alignment) { block in
        guard let base = block.baseAddress else {
            throw ImplicitEMError(.outOfMemory, "cannot allocate the call's working memory")
        }
        return try withArena(inline: base, bytes: block.count, body)
    }
}

@inline(__always)
private func withArena<R>(inline base: UnsafeMutableRawPointer, bytes: Int, _ body: (Arena) throws -> R) throws -> R {
    var state = Arena.State(head: nil, next: base, end: base + bytes)
    return try withUnsafeMutablePointer(to: &state) { state in
        defer {
            var heapBlock = state.pointee.head
            while let b = heapBlock {
                heapBlock = b.load(as: UnsafeMutableRawPointer?.self)
                free(b)
            }
        }
        return try body(Arena(state: state))
    }
}

/// Each thread's reusable block of `Arena.inlineBytes`, malloc'd on its first call and freed
/// by the key's destructor at thread exit. A flag in its header marks it in use, so that a
/// call nested in another on the same thread (from an energy callback) does not share it.
private enum ThreadBlock {
    static let key: pthread_key_t? = {
        var key = pthread_key_t()
        return pthread_key_create(&key, { free($0) }) == 0 ? key : nil
    }()

    /// The thread's block, marked in use; nil when it is in use already or cannot be had.
    @inline(__always)
    static func acquire() -> UnsafeMutableRawPointer? {
        guard let key else { return nil }
        if let block = pthread_getspecific(key) {
            if block.load(as: Int.self) != 0 { return nil }
            block.storeBytes(of: 1, as: Int.self)
            return block + Arena.header
        }
        guard let fresh = malloc(Arena.header + Arena.inlineBytes) else { return nil }
        guard pthread_setspecific(key, fresh) == 0 else {
            free(fresh)
            return nil
        }
        fresh.storeBytes(of: 1, as: Int.self)
        return fresh + Arena.header
    }

    @inline(__always)
    static func release(_ block: UnsafeMutableRawPointer) {
        (block - Arena.header).storeBytes(of: 0, as: Int.self)
    }
}

/// The scale 1 that stands for an absent scale, one constant per precision.
nonisolated(unsafe) private let unitDouble: UnsafeMutablePointer<Double> = {
    let p = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    p.initialize(to: 1)
    return p
}()
nonisolated(unsafe) private let unitFloat: UnsafeMutablePointer<Float> = {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    p.initialize(to: 1)
    return p
}()

/// The validated problem as plain pointers, with everything precomputed that the row loops
/// share: scales, log-normalisers and their derivatives, unit centres (cosine), and the
/// learned energies (given, or called back into an internal buffer).
struct Setup<T: IEFloat> {
    let kernel: Kernel
    let n: Int, k: Int, d: Int
    let x: UnsafePointer<T>?
    let mu: UnsafePointer<T>?
    /// Scale values (a single 1 when the problem has none) and their index strides:
    /// the scale of component k, dimension i is `scale[k * scaleK + i * scaleI]`.
    let scale: UnsafePointer<T>
    let scaleK: Int, scaleI: Int
    let scaleCount: Int
    /// 1/scale, same layout (multiplications instead of divisions in the row loops); nil when
    /// some scale is so small that its inverse overflows, and the loops divide instead.
    let inverseScale: UnsafePointer<T>?
    let chol: UnsafePointer<T>?
    let logw: UnsafePointer<T>?
    let logprior: UnsafePointer<T>?
    /// N×K energies of the learned kernel.
    let energies: UnsafePointer<T>?
    let nu: T, delta: T, tau: T
    /// K log-normalisers when normalised, else nil.
    let c: UnsafePointer<T>?
    /// ∂c_k/∂τ (K) and ∂c_k/∂shape (K) when normalised.
    let dcdTau: UnsafePointer<T>?
    let dcdShape: UnsafePointer<T>?
    /// Cosine: unit centres (K×D) and the centre norms (K).
    let muUnit: UnsafePointer<T>?
    let muNorm: UnsafePointer<T>?

    /// Builds the setup of a validated problem. `normalizers` forces the log-normalisers to be
    /// built whatever `problem.normalized` says (for `Engine.logNormalizer`).
    init(_ p: __shared Problem<T>, arena: Arena, normalizers forced: Bool = false) throws {
        kernel = p.kernel
        n = p.n; k = p.k; d = p.kernel == .learned && !p.usesDimension ? 0 : p.d
        x = p.x?.baseAddress
        mu = p.mu?.baseAddress
        chol = p.chol?.baseAddress
        logw = p.logw?.baseAddress
        logprior = p.logprior?.baseAddress
        nu = p.nu; delta = p.delta; tau = p.tau

        if let s = p.scale, kernel.isSeparable, let base = s.baseAddress {
            scale = base
            scaleCount = s.count
            switch p.scaleShape {
            case .shared: (scaleK, scaleI) = (0, 0)
            case .perComponent: (scaleK, scaleI) = (1, 0)
            case .perDimension: (scaleK, scaleI) = (p.d, 1)
            }
        } else {
            if T.self == Double.self {
                scale = UnsafeRawPointer(unitDouble).assumingMemoryBound(to: T.self)
            } else if T.self == Float.self {
                scale = UnsafeRawPointer(unitFloat).assumingMemoryBound(to: T.self)
            } else {
                let one: UnsafeMutablePointer<T> = try arena.zeros(1, "the unit scale")
                one[0] = 1
                scale = UnsafePointer(one)
            }
            scaleCount = 1
            (scaleK, scaleI) = (0, 0)
        }

        if scaleCount == 1 && scale[0] == 1 {
            inverseScale = scale
        } else {
            let inverse: UnsafeMutablePointer<T> = try arena.zeros(scaleCount, "the inverse scales")
            var finite = true
            for j in 0 ..< scaleCount {
                inverse[j] = 1 / scale[j]
                finite = finite && inverse[j].isFinite
            }
            inverseScale = finite ? UnsafePointer(inverse) : nil
        }

        // Normalisers, computed in Double and stored in T.
        if p.normalized || forced {
            let cs: UnsafeMutablePointer<T> = try arena.zeros(p.k, "the log-normalisers")
            let dTau: UnsafeMutablePointer<T> = try arena.zeros(p.k, "the log-normaliser derivatives")
            let dShape: UnsafeMutablePointer<T> = try arena.zeros(p.k, "the log-normaliser derivatives")
            let dd = Double(p.d)
            switch p.kernel {
            case .gaussian, .laplace, .logistic, .studentT, .huber, .pseudoHuber, .exponential:
                let term = try separableLogNormalizer(p.kernel, tau: p.tau.double, nu: p.nu.double,
                                                      delta: p.delta.double)
                for kk in 0 ..< p.k {
                    var logScales = 0.0
                    for i in 0 ..< p.d { logScales += Double.log(scale[kk * scaleK + i * scaleI].double) }
                    cs[kk] = T(fromDouble: logScales + dd * term.value)
                    dTau[kk] = T(fromDouble: dd * term.dTau)
                    dShape[kk] = T(fromDouble: dd * term.dShape)
                }
            case .mahalanobis:
                guard let chol = p.chol else { throw ImplicitEMError(.nullPointer, "chol is required by the mahalanobis kernel") }
                let base = dd / 2 * Double.log(Double.pi * p.tau.double)
                for kk in 0 ..< p.k {
                    var logDiag = 0.0
                    for i in 0 ..< p.d { logDiag += Double.log(chol[(kk * p.d + i) * p.d + i].double) }
                    cs[kk] = T(fromDouble: base - logDiag)
                    dTau[kk] = T(fromDouble: dd / (2 * p.tau.double))
                }
            case .cosine:
                let term = try vonMisesFisherLogNormalizer(dimension: p.d, tau: p.tau.double)
                for kk in 0 ..< p.k {
                    cs[kk] = T(fromDouble: term.value)
                    dTau[kk] = T(fromDouble: term.dTau)
                }
            case .learned:
                throw ImplicitEMError(.unsupported, "the learned kernel cannot be normalised (its energies have no known integral)")
            }
            for kk in 0 ..< p.k where !cs[kk].isFinite {
                throw ImplicitEMError(.unsupported,
                    "the log-normaliser of component \(kk) is not finite in \(T.self == Float.self ? "float32" : "float64") (\(cs[kk]))")
            }
            c = UnsafePointer(cs); dcdTau = UnsafePointer(dTau); dcdShape = UnsafePointer(dShape)
        } else {
            c = nil; dcdTau = nil; dcdShape = nil
        }

        if p.kernel == .cosine, let mu = p.mu {
            let unit: UnsafeMutablePointer<T> = try arena.zeros(p.k * p.d, "the unit centres")
            let norms: UnsafeMutablePointer<T> = try arena.zeros(p.k, "the centre norms")
            if let base = mu.baseAddress {
                for kk in 0 ..< p.k { norms[kk] = safeNorm(base + kk * p.d, p.d, unit: unit + kk * p.d) }
            }
            muUnit = UnsafePointer(unit); muNorm = UnsafePointer(norms)
        } else {
            muUnit = nil; muNorm = nil
        }

        if p.kernel == .learned {
            if let given = p.energies?.baseAddress {
                energies = given
            } else {
                energies = UnsafePointer(try callEnergyFunction(p, arena: arena))
            }
        } else {
            energies = nil
        }
    }

    /// Work per row, for the partition split.
    var costPerRow: Int {
        switch kernel {
        case .mahalanobis: return k &* max(d, 1) &* max(d, 1) &* 2
        case .learned: return k
        default: return k &* max(d, 1) &* 2
        }
    }
}

/// ‖v‖ without overflow or underflow (scaled by the largest magnitude); writes v/‖v‖ into
/// `unit` (zeros for the zero vector, whose norm is 0).
@inline(__always)
func safeNorm<T: IEFloat>(_ v: UnsafePointer<T>, _ d: Int, unit: UnsafeMutablePointer<T>) -> T {
    var m: T = 0
    for i in 0 ..< d { m = max(m, abs(v[i])) }
    if m == 0 {
        for i in 0 ..< d { unit[i] = 0 }
        return 0
    }
    var sum: T = 0
    for i in 0 ..< d {
        let t = v[i] / m
        unit[i] = t
        sum += t * t
    }
    let r = sum.squareRoot()
    for i in 0 ..< d { unit[i] /= r }
    return m * r
}

/// Block size of the learned kernel's callback.
let energyFunctionBlockRows = 1024

/// Calls the energy function over all rows, in order, into an internal N×K buffer, and checks
/// every value, before any output is written.
func callEnergyFunction<T: IEFloat>(_ p: Problem<T>, arena: Arena) throws -> UnsafeMutablePointer<T> {
    guard let function = p.energyFunction else {
        throw ImplicitEMError(.nullPointer, "the learned kernel needs energies or an energy function")
    }
    let nk = try checkedProduct(p.n, p.k, "N*K")
    let buffer: UnsafeMutablePointer<T> = try arena.zeros(nk, "the learned energies")
    let d = p.x == nil ? 0 : p.d
    var first = 0
    while first < p.n {
        let rows = min(energyFunctionBlockRows, p.n - first)
        let block = "\(first)..<\(first + rows)"
        let xRows = UnsafeBufferPointer<T>(start: p.x?.baseAddress.map { $0 + first * d }, count: p.x == nil ? 0 : rows * d)
        let out = UnsafeMutableBufferPointer<T>(start: buffer + first * p.k, count: rows * p.k)
        do {
            try function(xRows, first, rows, out)
        } catch let error as ImplicitEMError where error.status == .callbackFailed {
            throw error
        } catch {
            throw ImplicitEMError(.callbackFailed, "energy function failed for rows \(block): \(error)")
        }
        for j in 0 ..< rows * p.k where !out[j].isFinite {
            throw ImplicitEMError(.callbackFailed,
                "energy function returned \(describeNonFinite(out[j])) at energies[\(first + j / p.k), \(j % p.k)] for rows \(block)")
        }
        first += rows
    }
    return buffer
}

