// Argument checks shared by every entry point. They run before any output is written, and
// each failure names the argument (and the row, column and value where they apply).

/// `a * b`, or a badSize error naming the product when it overflows.
@inline(__always)
func checkedProduct(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    if overflow { throw ImplicitEMError(.badSize, "\(what()) overflows (\(a) * \(b))") }
    return p
}

/// The buffer has exactly `expected` values.
@inline(__always)
func checkCount<B: Collection>(_ buffer: B?, _ name: @autoclosure () -> String, _ expected: Int,
                               _ formula: @autoclosure () -> String) throws {
    guard let buffer else { return }
    let count = buffer.count
    if count != expected { throw countError(name(), count, expected, formula()) }
}

@inline(never)
func countError(_ name: String, _ count: Int, _ expected: Int, _ formula: String) -> ImplicitEMError {
    ImplicitEMError(.badSize, "\(name) has \(count) values, expected \(formula) = \(expected)")
}

/// A value for a message: integral values without a trailing ".0" ("-1", not "-1.0").
func formatValue<T: IEFloat>(_ v: T) -> String {
    if v.isFinite && v == v.rounded() && abs(v) < 1e15 { return String(Int64(v.double)) }
    return "\(v)"
}

/// "NaN", "inf" or "-inf".
func describeNonFinite<T: IEFloat>(_ v: T) -> String {
    v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf")
}

/// Every value is finite (or −∞ where `allowMinusInfinity`); `columns` > 0 names entries as [row, col].
@inline(__always)
func checkFinite<T: IEFloat>(_ buffer: UnsafeBufferPointer<T>?, _ name: @autoclosure () -> String, columns: Int,
                             allowMinusInfinity: Bool = false) throws {
    guard let buffer, let base = buffer.baseAddress else { return }
    if buffer.count >= parallelFiniteCheckValues && allFiniteOnEveryThread(base, buffer.count) { return }
    // Blocks with nothing to report are passed over by one branch-free test each; the scan that
    // names the culprit (or lets −∞ through) runs only in a block that fails it.
    let block = 1024
    var start = 0
    while start < buffer.count {
        let end = min(start &+ block, buffer.count)
        if !allFinite(base + start, end &- start) {
            for index in start ..< end where !buffer[index].isFinite {
                if allowMinusInfinity && buffer[index] == -T.infinity { continue }
                throw nonFiniteError(name(), index, columns, buffer[index])
            }
        }
        start = end
    }
}

/// Whether v[0..<count] are all finite: v·0 is ±0 for a finite v and NaN for ±∞ or NaN, so
/// one sum of those products answers for every value, in vector lanes without a branch. Four
/// sums, so that each vector's product waits on no other's (the rows of an in-cache pass are
/// checked at the rate of the loads, not of one chain of additions).
@inline(__always)
func allFinite<T: IEFloat>(_ v: UnsafePointer<T>, _ count: Int) -> Bool {
    var j = 0
    var sum: T = 0
    @inline(__always) func sums<V: FloatVector>(_ x: UnsafePointer<V.Scalar>, _: V.Type) -> V.Scalar {
        let lanes = V.scalarCount
        var a = V(), b = V(), c = V(), d = V()
        while j &+ 4 &* lanes <= count {
            a = a.addingProduct(V(loading: x + j), 0)
            b = b.addingProduct(V(loading: x + (j &+ lanes)), 0)
            c = c.addingProduct(V(loading: x + (j &+ 2 &* lanes)), 0)
            d = d.addingProduct(V(loading: x + (j &+ 3 &* lanes)), 0)
            j &+= 4 &* lanes
        }
        while j &+ lanes <= count {
            a = a.addingProduct(V(loading: x + j), 0)
            j &+= lanes
        }
        return ((a + b) + (c + d)).total
    }
    if T.self == Double.self {
        sum = unsafeBitCast(sums(UnsafeRawPointer(v).assumingMemoryBound(to: Double.self), SIMD8<Double>.self), to: T.self)
    } else if T.self == Float.self {
        sum = unsafeBitCast(sums(UnsafeRawPointer(v).assumingMemoryBound(to: Float.self), SIMD16<Float>.self), to: T.self)
    }
    while j < count {
        sum += v[j] * 0
        j &+= 1
    }
    return sum == 0
}

/// Values from which `checkFinite` first scans on every thread: a large input comes from memory, and
/// two threads read it faster than one (a W4-sized input of 12.8M values took ~6 ms on one).
let parallelFiniteCheckValues = 1 << 20

/// `allFinite` over the pass's partitions of v[0..<count], on the pass's threads.
@inline(never)
func allFiniteOnEveryThread<T: IEFloat>(_ v: UnsafePointer<T>, _ count: Int) -> Bool {
    let parts = Partitions(rows: count, costPerRow: 1)
    return withUnsafeTemporaryAllocation(of: Bool.self, capacity: parts.count) { finite in
        guard let flags = finite.baseAddress else { return false }
        runPartitions(parts.count) { p in
            let range = parts.range(p)
            (flags + p).initialize(to: allFinite(v + range.lowerBound, range.count))
        }
        for p in 0 ..< parts.count where !flags[p] { return false }
        return true
    }
}

@inline(never)
func nonFiniteError<T: IEFloat>(_ name: String, _ index: Int, _ columns: Int, _ v: T) -> ImplicitEMError {
    ImplicitEMError(.nonFiniteInput, "\(name)\(position(index, columns: columns)) is \(describeNonFinite(v))")
}

/// "[i]" or "[row, col]".
func position(_ index: Int, columns: Int) -> String {
    columns > 0 ? "[\(index / columns), \(index % columns)]" : "[\(index)]"
}

/// A scalar parameter is positive and finite.
@inline(__always)
func checkPositive<T: IEFloat>(_ v: T, _ name: @autoclosure () -> String) throws {
    if !(v > 0 && v.isFinite) { throw positiveError(name(), v) }
}

@inline(never)
func positiveError<T: IEFloat>(_ name: String, _ v: T) -> ImplicitEMError {
    v.isFinite ? ImplicitEMError(.badParameter, "\(name) = \(formatValue(v)) must be > 0")
        : ImplicitEMError(.badParameter, "\(name) = \(formatValue(v)) must be finite and > 0")
}

/// The buffers of one call as byte ranges [start, end), collected on the stack (no
/// allocation on the hot path). Names are kept only by the second collection that runs when
/// something overlaps, to name the culprits.
struct Regions {
    /// Room for the most buffers a call has (22, gradients), in two vectors of 16.
    fileprivate static let capacity = 32
    fileprivate let starts: UnsafeMutablePointer<UInt>
    fileprivate let ends: UnsafeMutablePointer<UInt>
    fileprivate let names: UnsafeMutablePointer<StaticString>?
    fileprivate var count = 0
    /// Bit i set: region i is an output.
    fileprivate var outputs: UInt32 = 0
    /// Every start and end or-ed together: whether all are below 2^(bits − 1).
    fileprivate var spread: UInt = 0

    @inline(__always)
    private mutating func add<T>(_ name: StaticString, _ start: UnsafePointer<T>?, _ n: Int, output: Bool) {
        guard let start, n > 0, count < Regions.capacity else { return }
        let from = UInt(bitPattern: start)
        let to = from &+ UInt(n) &* UInt(MemoryLayout<T>.stride)
        starts[count] = from
        ends[count] = to
        spread |= from | to
        outputs |= (output ? 1 : 0) << UInt32(count)
        (names.map { $0 + count })?.initialize(to: name)
        count += 1
    }

    @inline(__always)
    mutating func input<T>(_ name: StaticString, _ b: UnsafeBufferPointer<T>?) {
        add(name, b?.baseAddress, b?.count ?? 0, output: false)
    }

    @inline(__always)
    mutating func output<T>(_ name: StaticString, _ b: UnsafeMutableBufferPointer<T>?) {
        add(name, b?.baseAddress.map { UnsafePointer($0) }, b?.count ?? 0, output: true)
    }

    /// Whether some output may overlap another region (the exact search then decides): each
    /// output against every region at once, 16 lanes a vector. a < b is read from the sign of
    /// a − b, exact while both are below 2^(bits − 1), as user-space addresses are (a larger one
    /// sends the call to the exact search); unused lanes are [0, 0), which meets nothing. Every
    /// output meets itself, so there is an overlap exactly when the meetings outnumber the
    /// outputs. Inputs may share memory, so pairs of inputs are not looked at.
    fileprivate func mayOverlap() -> Bool {
        func lanes(_ p: UnsafeMutablePointer<UInt>) -> SIMD16<UInt> {
            UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt>.self)
        }
        let signBit = UInt.bitWidth &- 1
        if spread >> signBit != 0 { return true }
        let starts0 = lanes(starts), ends0 = lanes(ends)
        let starts1 = lanes(starts + 16), ends1 = lanes(ends + 16)
        let second = count > 16
        var meetings = SIMD16<UInt>()
        var pending = outputs
        while pending != 0 {
            let i = pending.trailingZeroBitCount
            pending &= pending &- 1
            let start = SIMD16<UInt>(repeating: starts[i]), end = SIMD16<UInt>(repeating: ends[i])
            meetings &+= ((starts0 &- end) & (start &- ends0)) &>> UInt(signBit)
            if second { meetings &+= ((starts1 &- end) & (start &- ends1)) &>> UInt(signBit) }
        }
        return meetings.wrappedSum() > UInt(outputs.nonzeroBitCount)
    }

    /// The error naming the first output (in the order added) that overlaps another buffer;
    /// nil when none does.
    fileprivate func overlapError() -> ImplicitEMError? {
        guard let names else { return nil }
        func isOutput(_ j: Int) -> Bool { outputs & (1 << UInt32(j)) != 0 }
        for i in 0 ..< count where isOutput(i) {
            for j in 0 ..< count where j != i && starts[j] < ends[i] && starts[i] < ends[j] {
                if isOutput(j) && j < i { continue }  // reported from the other side
                return ImplicitEMError(.overlap, "output \(names[i]) overlaps \(isOutput(j) ? "output" : "input") \(names[j])")
            }
        }
        return nil
    }
}

/// Collects the call's buffers with `body`, then checks that no output overlaps anything else.
@inline(__always)
func checkNoOverlap(_ body: (inout Regions) -> Void) throws {
    try withUnsafeTemporaryAllocation(of: UInt.self, capacity: 2 * Regions.capacity) { buffer in
        guard let base = buffer.baseAddress else { return }
        base.initialize(repeating: 0, count: 2 * Regions.capacity)
        var regions = Regions(starts: base, ends: base + Regions.capacity, names: nil)
        body(&regions)
        if regions.mayOverlap(), let error = namedOverlap(body) { throw error }
    }
}

/// The overlap error, from a second collection that keeps the names; nil when no output
/// overlaps another buffer.
@inline(never)
private func namedOverlap(_ body: (inout Regions) -> Void) -> ImplicitEMError? {
    withUnsafeTemporaryAllocation(of: UInt.self, capacity: 2 * Regions.capacity) { buffer in
        withUnsafeTemporaryAllocation(of: StaticString.self, capacity: Regions.capacity) { names in
            guard let base = buffer.baseAddress, let nameBase = names.baseAddress else { return nil }
            base.initialize(repeating: 0, count: 2 * Regions.capacity)
            var regions = Regions(starts: base, ends: base + Regions.capacity, names: nameBase)
            body(&regions)
            return regions.overlapError()
        }
    }
}

extension Problem {
    /// Whether the kernel reads x and mu.
    var usesCentres: Bool { kernel != .learned }
    /// Whether the kernel has a dimension (learned only when x is given: for the callback,
    /// or for the statistics of x, which are K×D and K×D×D whatever gives the energies).
    var usesDimension: Bool { kernel != .learned || x != nil }

    /// Adds every input buffer of the problem.
    @inline(__always)
    func addInputs(_ r: inout Regions) {
        r.input("x", x); r.input("mu", mu); r.input("scale", scale); r.input("chol", chol)
        r.input("logw", logw); r.input("logprior", logprior); r.input("energies", energies)
    }

    /// Checks everything about the problem itself (not the outputs): presence, sizes,
    /// parameters, finiteness. Normalisation support is checked when the normalisers are built.
    func validate() throws {
        if n <= 0 { throw ImplicitEMError(.badSize, "n = \(n) must be > 0") }
        if k <= 0 { throw ImplicitEMError(.badSize, "k = \(k) must be > 0") }
        if kernel != .learned && d <= 0 { throw ImplicitEMError(.badSize, "d = \(d) must be > 0") }

        if usesCentres {
            if x == nil { throw ImplicitEMError(.nullPointer, "x is required by the \(kernel.name) kernel") }
            if mu == nil { throw ImplicitEMError(.nullPointer, "mu is required by the \(kernel.name) kernel") }
        }
        if kernel == .mahalanobis && chol == nil {
            throw ImplicitEMError(.nullPointer, "chol is required by the mahalanobis kernel")
        }
        if kernel == .learned && energies == nil && energyFunction == nil {
            throw ImplicitEMError(.nullPointer, "the learned kernel needs energies or an energy function")
        }
        if kernel == .learned && x != nil && d <= 0 {
            throw ImplicitEMError(.badSize, "d = \(d) must be > 0 when x is given")
        }

        let nk = try checkedProduct(n, k, "N*K")
        if usesDimension {
            let nd = try checkedProduct(n, d, "N*D")
            let kd = try checkedProduct(k, d, "K*D")
            if usesCentres || x != nil { try checkCount(x, "x", nd, "N*D") }
            if usesCentres { try checkCount(mu, "mu", kd, "K*D") }
            if kernel.isSeparable {
                try checkCount(scale, "scale", scaleShape.count(k: k, d: d),
                               scaleShape == .shared ? "1" : (scaleShape == .perComponent ? "K" : "K*D"))
            }
            if kernel == .mahalanobis {
                let kdd = try checkedProduct(kd, d, "K*D*D")
                try checkCount(chol, "chol", kdd, "K*D*D")
            }
        }
        try checkCount(logw, "logw", k, "K")
        try checkCount(logprior, "logprior", nk, "N*K")
        if kernel == .learned { try checkCount(energies, "energies", nk, "N*K") }

        try checkPositive(tau, "tau")
        if kernel == .studentT { try checkPositive(nu, "nu") }
        if kernel == .huber || kernel == .pseudoHuber { try checkPositive(delta, "delta") }
        if kernel.isSeparable, let scale {
            for (i, s) in scale.enumerated() where !(s > 0 && s.isFinite) {
                throw ImplicitEMError(.badParameter, s.isFinite
                    ? "scale[\(i)] = \(formatValue(s)) must be > 0" : "scale[\(i)] = \(s) must be finite and > 0")
            }
        }

        if usesCentres || x != nil { try checkFinite(x, "x", columns: d) }
        if usesCentres { try checkFinite(mu, "mu", columns: d) }
        if kernel == .mahalanobis, let chol {
            for kk in 0 ..< k {
                for i in 0 ..< d {
                    for j in 0 ... i {
                        let v = chol[(kk * d + i) * d + j]
                        if !v.isFinite {
                            throw ImplicitEMError(.nonFiniteInput, "chol[\(kk), \(i), \(j)] is \(describeNonFinite(v))")
                        }
                    }
                    let diag = chol[(kk * d + i) * d + i]
                    if diag <= 0 {
                        throw ImplicitEMError(.badParameter, "chol[\(kk), \(i), \(i)] = \(formatValue(diag)) must be > 0 (diagonal)")
                    }
                }
            }
        }
        try checkFinite(logw, "logw", columns: 0, allowMinusInfinity: true)
        try checkFinite(logprior, "logprior", columns: k, allowMinusInfinity: true)
        if kernel == .learned { try checkFinite(energies, "energies", columns: k) }
    }
}
