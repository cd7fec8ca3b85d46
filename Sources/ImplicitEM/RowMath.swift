// Reductions over one row's K logits for the softmax (Rows.swift). A plain loop carries one
// dependency from element to element (4 cycles per compare-and-select or add); these keep
// several independent partial results and combine them at the end.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64)
import _Builtin_intrinsics.intel
import _Builtin_intrinsics.intel.cpuid
#endif

/// The largest of v[0..<count], as a plain scan with `>` gives: NaN is never the maximum, and
/// −∞ when nothing is above −∞.
@inline(__always)
func rowMaximum<T: IEFloat>(_ v: UnsafePointer<T>, _ count: Int) -> T {
    var m0 = -T.infinity, m1 = -T.infinity, m2 = -T.infinity, m3 = -T.infinity
    var j = 0
    while j &+ 4 <= count {
        if v[j] > m0 { m0 = v[j] }
        if v[j &+ 1] > m1 { m1 = v[j &+ 1] }
        if v[j &+ 2] > m2 { m2 = v[j &+ 2] }
        if v[j &+ 3] > m3 { m3 = v[j &+ 3] }
        j &+= 4
    }
    while j < count {
        if v[j] > m0 { m0 = v[j] }
        j &+= 1
    }
    if m1 > m0 { m0 = m1 }
    if m3 > m2 { m2 = m3 }
    if m2 > m0 { m0 = m2 }
    return m0
}

/// The vector operations of the per-row softmax, for the two concrete vector types (generic
/// SIMD comparisons compile lane by lane).
protocol RowVector: FloatVector {
    /// NaN lanes replaced by −∞.
    var maskingNaN: Self { get }
    /// Per lane, self becomes the larger of self and `value` (neither is NaN).
    mutating func keepLarger(_ value: Self)
    /// The largest lane.
    var largest: Scalar { get }
    /// e^v per lane, for v ≤ 0.
    var exponentialOfNonPositive: Self { get }
    /// 0 in the lanes where `key` is 0, self in the others.
    func zeroing(where key: Self) -> Self
}

extension SIMD8: RowVector where Scalar == Double {
    @inline(__always) var maskingNaN: Self { replacing(with: -.infinity, where: self .!= self) }
    @inline(__always) mutating func keepLarger(_ value: Self) { self.replace(with: value, where: value .> self) }
    @inline(__always) func zeroing(where key: Self) -> Self { replacing(with: 0, where: key .== 0) }
    @inline(__always) var largest: Double {
        let four = lowHalf.replacing(with: highHalf, where: highHalf .> lowHalf)
        let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
        return two[1] > two[0] ? two[1] : two[0]
    }
}

extension SIMD16: RowVector where Scalar == Float {
    @inline(__always) var maskingNaN: Self { replacing(with: -.infinity, where: self .!= self) }
    @inline(__always) mutating func keepLarger(_ value: Self) { self.replace(with: value, where: value .> self) }
    @inline(__always) func zeroing(where key: Self) -> Self { replacing(with: 0, where: key .== 0) }
    @inline(__always) var largest: Float {
        let eight = lowHalf.replacing(with: highHalf, where: highHalf .> lowHalf)
        let four = eight.lowHalf.replacing(with: eight.highHalf, where: eight.highHalf .> eight.lowHalf)
        let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
        return two[1] > two[0] ? two[1] : two[0]
    }
}

/// The running state of the vector logits: per lane the largest logit.
struct LogitScan<V: RowVector> {
    var top = V(repeating: -V.Scalar.infinity)

    /// Logits of the first `whole` values (a multiple of the lane count), stored to `out`.
    /// Transparent: inlined with literal flags, each copy loses the tests of absent terms.
    @_transparent
    mutating func run(_ e: UnsafePointer<V.Scalar>, _ out: UnsafeMutablePointer<V.Scalar>, _ whole: Int,
                      negate: Bool, _ tau: V.Scalar, _ logw: UnsafePointer<V.Scalar>?,
                      _ logprior: UnsafePointer<V.Scalar>?, _ c: UnsafePointer<V.Scalar>?) {
        let lanes = V.scalarCount
        var j = 0
        while j < whole {
            // −d/τ as d/(−τ) and −d as d·(−1): the same values; unary minus on a vector
            // compiled lane by lane.
            let d = V(loading: e + j)
            var a: V
            if let logw {
                // logw − d is (−d) + logw exactly, one operation fewer.
                a = negate ? V(loading: logw + j) - d : d / V(repeating: -tau) + V(loading: logw + j)
            } else {
                a = negate ? d * V(repeating: -1) : d / V(repeating: -tau)
            }
            if let logprior { a += V(loading: logprior + j) }
            if let c { a -= V(loading: c + j) }
            a = a.maskingNaN
            a.store(to: out + j)
            top.keepLarger(a)
            j &+= lanes
        }
    }
}

/// The additive terms of a row's logits a_j = −d_j/τ + logw_j + logprior_j − c_j (each optional).
struct LogitTerms<T: IEFloat> {
    let tau: T
    let logw: UnsafePointer<T>?
    let logprior: UnsafePointer<T>?
    let c: UnsafePointer<T>?
}

/// The per-row softmax steps, each in one pass over the K values, in vector chunks where T has a
/// vector type, with a scalar tail.
enum RowSoftmax {
    /// logits[j] = a_j (NaN, from +∞ − ∞ on a masked component, becomes −∞: masked stays masked);
    /// returns their maximum, −∞ when nothing is above −∞.
    @inline(__always)
    static func logits<T: IEFloat>(_ energy: UnsafePointer<T>, _ terms: LogitTerms<T>,
                                   into logits: UnsafeMutablePointer<T>, _ count: Int) -> T {
        if T.self == Double.self {
            return vectorLogits(energy, terms, logits, count, SIMD8<Double>.self)
        }
        if T.self == Float.self {
            return vectorLogits(energy, terms, logits, count, SIMD16<Float>.self)
        }
        for j in 0 ..< count { logits[j] = logit(energy, terms, j) }
        return rowMaximum(logits, count)
    }

    @inline(__always)
    private static func logit<T: IEFloat>(_ energy: UnsafePointer<T>, _ terms: LogitTerms<T>, _ j: Int) -> T {
        var a = terms.tau == 1 ? -energy[j] : -(energy[j] / terms.tau)
        if let logw = terms.logw { a += logw[j] }
        if let logprior = terms.logprior { a += logprior[j] }
        if let c = terms.c { a -= c[j] }
        return a.isNaN ? -T.infinity : a
    }

    @inline(__always)
    private static func vectorLogits<T: IEFloat, V: RowVector>(_ energy: UnsafePointer<T>, _ terms: LogitTerms<T>,
                                                             _ logits: UnsafeMutablePointer<T>, _ count: Int,
                                                             _: V.Type) -> T {
        typealias S = V.Scalar
        let e = UnsafeRawPointer(energy).assumingMemoryBound(to: S.self)
        let out = UnsafeMutableRawPointer(logits).assumingMemoryBound(to: S.self)
        let tau = unsafeBitCast(terms.tau, to: S.self)
        let logw = terms.logw.map { UnsafeRawPointer($0).assumingMemoryBound(to: S.self) }
        let logprior = terms.logprior.map { UnsafeRawPointer($0).assumingMemoryBound(to: S.self) }
        let c = terms.c.map { UnsafeRawPointer($0).assumingMemoryBound(to: S.self) }
        let lanes = V.scalarCount, whole = count - count % lanes
        var scan = LogitScan<V>()
        // The common terms get loops of their own, without the tests of the others.
        if tau == 1 && logprior == nil {
            switch (logw, c) {
            case let (logw?, c?): scan.run(e, out, whole, negate: true, tau, logw, nil, c)
            case let (logw?, nil): scan.run(e, out, whole, negate: true, tau, logw, nil, nil)
            case let (nil, c?): scan.run(e, out, whole, negate: true, tau, nil, nil, c)
            case (nil, nil): scan.run(e, out, whole, negate: true, tau, nil, nil, nil)
            }
        } else {
            scan.run(e, out, whole, negate: tau == 1, tau, logw, logprior, c)
        }
        var value = unsafeBitCast(scan.top.largest, to: T.self)
        var j = whole
        while j < count {
            let a = logit(energy, terms, j)
            logits[j] = a
            if a > value { value = a }
            j &+= 1
        }
        return value
    }

    /// v[j] = e^(v[j] − shift), for `shift` the largest v[j] (finite); returns Σ_j e^(v[j] − shift) − 1
    /// as the sum over the j where v[j] < shift (in vector lanes, then across them), plus 1 for each
    /// maximum after the first. Where v[j] = shift, e^0 is written as exactly 1 and left out of the
    /// sum, so that logZ = shift + log1p(rest) stays exact when one term dominates. Found by value,
    /// not by the maximum's index, which would make the row's logits wait for a search across lanes.
    @inline(__always)
    static func exponentials<T: IEFloat>(_ v: UnsafeMutablePointer<T>, _ count: Int, minus shift: T) -> T {
        var sum: T = 0, maxima: T = 0
        var j = 0
        if T.self == Double.self {
            let (vectorSum, vectorMaxima) = vectorExponentials(v, count, shift, &j, SIMD8<Double>.self)
            sum = unsafeBitCast(vectorSum, to: T.self)
            maxima = unsafeBitCast(vectorMaxima, to: T.self)
        } else if T.self == Float.self {
            let (vectorSum, vectorMaxima) = vectorExponentials(v, count, shift, &j, SIMD16<Float>.self)
            sum = unsafeBitCast(vectorSum, to: T.self)
            maxima = unsafeBitCast(vectorMaxima, to: T.self)
        }
        while j < count {
            let x = v[j] - shift
            if x == 0 {
                v[j] = 1
                maxima += 1
            } else {
                v[j] = T.exp(x)
                sum += v[j]
            }
            j &+= 1
        }
        // Without ties this adds nothing, and the sum keeps its bits.
        return maxima > 1 ? sum + (maxima - 1) : sum
    }

    /// The whole vectors of `exponentials`: the sum and the count of the maxima, across lanes.
    @inline(__always)
    private static func vectorExponentials<T: IEFloat, V: RowVector>(_ values: UnsafeMutablePointer<T>, _ count: Int,
                                                                   _ shift: T, _ j: inout Int,
                                                                   _: V.Type) -> (V.Scalar, V.Scalar) {
        typealias S = V.Scalar
        let v = UnsafeMutableRawPointer(values).assumingMemoryBound(to: S.self)
        let s = V(repeating: unsafeBitCast(shift, to: S.self)), lanes = V.scalarCount
        let whole = count - count % lanes
        let one = V(repeating: 1)
        var acc = V(), maxima = V()
        while j < whole {
            // x is 0 exactly where v is the maximum (with gradual underflow a − b = 0 only for
            // a = b): there 1 is written and +0 summed (which leaves a sum of non-negative terms
            // its bits).
            let x = V(loading: v + j) - s
            let e = x.exponentialOfNonPositive.zeroing(where: x)
            let maximum = one - one.zeroing(where: x)
            (e + maximum).store(to: v + j)
            acc += e
            maxima += maximum
            j &+= lanes
        }
        return (acc.total, maxima.total)
    }

    /// out[i] = tops[i] + log(1 + rests[i]) for a run of rows, the logarithms in vector lanes (each
    /// lane's value depends on its own row only). A rest is in [0, K − 1] for a regular row and 0
    /// for a limit row, whose top is already its logZ.
    @inline(__always)
    static func logPartitions<T: IEFloat>(tops: UnsafePointer<T>, rests: UnsafePointer<T>, _ count: Int,
                                          into out: UnsafeMutablePointer<T>) {
        if T.self == Double.self {
            vectorLogPartitions(tops, rests, count, out, SIMD8<Double>.self)
        } else if T.self == Float.self {
            vectorLogPartitions(tops, rests, count, out, SIMD16<Float>.self)
        } else {
            for i in 0 ..< count { out[i] = tops[i] + T.log1p(rests[i]) }
        }
    }

    @inline(__always)
    private static func vectorLogPartitions<T: IEFloat, V: RowVector>(_ tops: UnsafePointer<T>, _ rests: UnsafePointer<T>,
                                                                    _ count: Int, _ out: UnsafeMutablePointer<T>,
                                                                    _: V.Type) {
        typealias S = V.Scalar
        let top = UnsafeRawPointer(tops).assumingMemoryBound(to: S.self)
        let rest = UnsafeRawPointer(rests).assumingMemoryBound(to: S.self)
        let logZ = UnsafeMutableRawPointer(out).assumingMemoryBound(to: S.self)
        let lanes = V.scalarCount
        var i = 0
        while i &+ lanes <= count {
            (V(loading: top + i) + VectorMath.log1p(V(loading: rest + i))).store(to: logZ + i)
            i &+= lanes
        }
        if i == count { return }
        var t = V(), r = V()
        for lane in 0 ..< count &- i {
            t[lane] = top[i &+ lane]
            r[lane] = rest[i &+ lane]
        }
        let tail = t + VectorMath.log1p(r)
        for lane in 0 ..< count &- i { logZ[i &+ lane] = tail[lane] }
    }

    /// The backward's per-row values: δ_j = r_j·gL (no gR), the coefficient −δ_j/τ, and where
    /// each goes (`coefficient` nil when the model's backward does not read it).
    struct Deltas<T: IEFloat> {
        let gL: T, tau: T
        let coefficient: UnsafeMutablePointer<T>?
        let sums: UnsafeMutablePointer<T>?
        let gradLogprior: UnsafeMutablePointer<T>?
        let gradEnergies: UnsafeMutablePointer<T>?
    }

    /// r[j] = e_j·inverse (kept in r only when `keep`, copied to `resp`), and, for the backward
    /// without gR, δ_j = r_j·gL (+0 where the product is ±0) and the coefficient −δ_j/τ (+0
    /// where δ_j is 0).
    @inline(__always)
    static func normalise<T: IEFloat>(_ r: UnsafeMutablePointer<T>, _ count: Int, times inverse: T, keep: Bool,
                                      resp: UnsafeMutablePointer<T>?, _ deltas: Deltas<T>?) {
        var j = 0
        if T.self == Double.self {
            vectorNormalise(r, count, inverse, keep, resp, deltas, &j, SIMD8<Double>.self)
        } else if T.self == Float.self {
            vectorNormalise(r, count, inverse, keep, resp, deltas, &j, SIMD16<Float>.self)
        }
        while j < count {
            let rj = r[j] * inverse
            r[j] = rj
            resp?[j] = rj
            if let deltas {
                let product = rj * deltas.gL
                let delta = product == 0 ? 0 : product
                let coefficient = delta == 0 ? 0 : deltas.tau == 1 ? -delta : -(delta / deltas.tau)
                deltas.coefficient?[j] = coefficient
                deltas.sums?[j] += delta
                deltas.gradLogprior?[j] = delta
                deltas.gradEnergies?[j] = coefficient
            }
            j &+= 1
        }
    }

    @inline(__always)
    private static func vectorNormalise<T: IEFloat, V: RowVector>(_ r: UnsafeMutablePointer<T>, _ count: Int, _ inverse: T,
                                                                _ keep: Bool, _ resp: UnsafeMutablePointer<T>?,
                                                                _ deltas: Deltas<T>?, _ j: inout Int, _: V.Type) {
        typealias S = V.Scalar
        func cast(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<S> {
            UnsafeMutableRawPointer(p).assumingMemoryBound(to: S.self)
        }
        let values = cast(r), copy = resp.map(cast), lanes = V.scalarCount
        let scale = V(repeating: unsafeBitCast(inverse, to: S.self))
        guard let deltas else {
            while j &+ lanes <= count {
                let rj = V(loading: values + j) * scale
                if keep { rj.store(to: values + j) }
                if let copy { rj.store(to: copy + j) }
                j &+= lanes
            }
            return
        }
        let gL = V(repeating: unsafeBitCast(deltas.gL, to: S.self))
        let tau = unsafeBitCast(deltas.tau, to: S.self)
        let coefficients = deltas.coefficient.map(cast), sums = deltas.sums.map(cast)
        let gradLogprior = deltas.gradLogprior.map(cast), gradEnergies = deltas.gradEnergies.map(cast)
        if deltas.gL == 1 && deltas.tau == 1 && gradLogprior == nil {
            // The common case, a loop per set of outputs: δ = r (r ≥ +0, never −0) and the
            // coefficient 0 − r, which is +0 where r is.
            let whole = count - count % lanes
            @inline(__always) func plain(_ copy: UnsafeMutablePointer<S>?, _ sums: UnsafeMutablePointer<S>?,
                                         _ gradEnergies: UnsafeMutablePointer<S>?) {
                while j < whole {
                    let rj = V(loading: values + j) * scale
                    if keep { rj.store(to: values + j) }
                    if let copy { rj.store(to: copy + j) }
                    let coefficient = V() - rj
                    if let coefficients { coefficient.store(to: coefficients + j) }
                    if let sums { (V(loading: sums + j) + rj).store(to: sums + j) }
                    if let gradEnergies { coefficient.store(to: gradEnergies + j) }
                    j &+= lanes
                }
            }
            switch (copy, sums, gradEnergies) {
            case let (copy?, sums?, gradEnergies?): plain(copy, sums, gradEnergies)
            case let (copy?, sums?, nil): plain(copy, sums, nil)
            case let (copy?, nil, gradEnergies?): plain(copy, nil, gradEnergies)
            case let (copy?, nil, nil): plain(copy, nil, nil)
            case let (nil, sums?, gradEnergies?): plain(nil, sums, gradEnergies)
            case let (nil, sums?, nil): plain(nil, sums, nil)
            case let (nil, nil, gradEnergies?): plain(nil, nil, gradEnergies)
            case (nil, nil, nil): plain(nil, nil, nil)
            }
            return
        }
        while j &+ lanes <= count {
            let rj = V(loading: values + j) * scale
            if keep { rj.store(to: values + j) }
            if let copy { rj.store(to: copy + j) }
            let delta = (rj * gL).zeroing(where: rj * gL)
            let coefficient = (tau == 1 ? delta * V(repeating: -1) : delta / V(repeating: -tau)).zeroing(where: delta)
            if let coefficients { coefficient.store(to: coefficients + j) }
            if let sums { (V(loading: sums + j) + delta).store(to: sums + j) }
            if let gradLogprior { delta.store(to: gradLogprior + j) }
            if let gradEnergies { coefficient.store(to: gradEnergies + j) }
            j &+= lanes
        }
    }
}

/// Whether a per-row output of `bytes` in all goes out with non-temporal stores: when it is far
/// larger than the caches, these skip reading every written line first (the read for ownership)
/// and leave the caches to the inputs; when it fits, the caller reads it from the cache right
/// after, and non-temporal stores would send it to memory instead. Only on CPUs where that pays
/// (`streamsLargeOutputs`).
func streamingPays(bytes: Int) -> Bool {
    #if arch(x86_64)
    return bytes >= streamingThresholdBytes && streamsLargeOutputs()
    #else
    return false
    #endif
}

/// See `streamingPays`: measured on the W4 shape (N×64 float64, two N×K outputs).
let streamingThresholdBytes = 8 << 20

/// Whether large outputs stream on this machine: IMPLICITEM_STREAMING=1 or 0 in the environment
/// decides (read at each large call, so that a test can set it), else `cpuStreamsByDefault`.
func streamsLargeOutputs() -> Bool {
    if let value = getenv("IMPLICITEM_STREAMING"), value[0] != 0, value[1] == 0 {
        if value[0] == 0x31 { return true }   // "1"
        if value[0] == 0x30 { return false }  // "0"
    }
    return cpuStreamsByDefault
}

/// Measured on the W4 shape on one thread: streaming took an earlier AVX-512 machine (two 512-bit
/// FMA pipes a core, 8.8e10 FLOP/s float64 each) from 485 to 373 ns/row (10 MB outputs), and an
/// AMD Zen 4 from about 145 to 185 (200000 rows; about 20% slower in both copies and on 2 threads
/// too), though a bare loop with the same reads and writes gains there as well (68 → 39 ns/row).
/// Zen 3 shares Zen 4's family and is taken to behave alike; other CPUs keep streaming.
let cpuStreamsByDefault: Bool = !cpuIsAMDFamily19h()

/// Whether the CPU is AMD's family 19h (Zen 3, Zen 4): vendor "AuthenticAMD" (cpuid leaf 0) and
/// base family 0xF plus extended family 0xA (leaf 1).
func cpuIsAMDFamily19h() -> Bool {
    #if arch(x86_64)
    var eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0
    guard __get_cpuid(0, &eax, &ebx, &ecx, &edx) != 0 else { return false }
    // "Auth" "enti" "cAMD", little-endian, in ebx, edx, ecx.
    guard ebx == 0x6874_7541 && edx == 0x6974_6E65 && ecx == 0x444D_4163 else { return false }
    guard __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 else { return false }
    let base = (eax >> 8) & 0xF, extended = (eax >> 20) & 0xFF
    return (base == 0xF ? base + extended : base) == 0x19
    #else
    return false
    #endif
}

/// An N×K output written row after row in order with non-temporal stores of whole 64-byte lines.
/// A line written only in part that way goes to memory as a slow partial write, and one written
/// in part with ordinary stores is read first; so the values of the line a row shares with the
/// next wait in `pending` until the next row completes it. Whoever streams calls
/// `finish` after the last row, then `finishStreaming` before the outputs are read.
struct LineStream<T: IEFloat> {
    let out: UnsafeMutablePointer<T>
    let k: Int
    /// `lineValues` values, then a flag: nonzero while values wait.
    let pending: UnsafeMutablePointer<T>

    /// Values in a 64-byte line.
    static var lineValues: Int { 64 / MemoryLayout<T>.stride }
    /// The values of `pending` (the flag's included).
    static var pendingSize: Int { lineValues + 1 }

    /// Whether an N×K output at `out` can be streamed: float32 or float64 on x86-64, values
    /// aligned, and rows of at least two lines (so that a line holds values of at most two rows).
    static func fits(_ out: UnsafeMutablePointer<T>, k: Int) -> Bool {
        #if arch(x86_64)
        return (T.self == Double.self || T.self == Float.self)
            && Int(bitPattern: out) % MemoryLayout<T>.stride == 0 && k >= 2 * lineValues
        #else
        return false
        #endif
    }

    /// Row n's K values from `src`, right after row n − 1 or first of the stream.
    @inline(__always)
    func write(row n: Int, from src: UnsafePointer<T>) {
        let line = Self.lineValues, dst = out + n &* k
        // Values before dst's first line boundary.
        let head = ((64 &- Int(bitPattern: dst) & 63) & 63) / MemoryLayout<T>.stride
        if pending[line] != 0 {
            // The previous row's last line-values − head values wait: complete their line.
            storeJoinedLine(waiting: line &- head, src, dst - (line &- head))
        } else {
            for i in 0 ..< head { dst[i] = src[i] }
        }
        var j = head
        while j &+ line <= k {
            storeLine(src + j, dst + j)
            j &+= line
        }
        let tail = k &- j
        for i in 0 ..< tail { pending[i] = src[j &+ i] }
        pending[line] = tail > 0 ? 1 : 0
    }

    /// Writes, with ordinary stores, the values still waiting after the last row, `last`.
    func finish(afterRow last: Int) {
        let line = Self.lineValues
        if pending[line] == 0 { return }
        let end = (last &+ 1) &* k
        let tail = (Int(bitPattern: out + end) & 63) / MemoryLayout<T>.stride
        for i in 0 ..< tail { out[end &- tail &+ i] = pending[i] }
        pending[line] = 0
    }

    /// The line at the aligned `dst` of the `waiting` values in `pending` and then the first values
    /// of `src`, each 16-byte store's values loaded one by one where they lie: copying the head
    /// into `pending` first and loading 16 bytes over those narrower stores could not be
    /// forwarded, and waited for them to reach the cache.
    @inline(__always)
    private func storeJoinedLine(waiting: Int, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>) {
        #if arch(x86_64)
        @inline(__always) func value<S>(_ i: Int, _: S.Type) -> S {
            unsafeBitCast(i < waiting ? pending[i] : src[i &- waiting], to: S.self)
        }
        let to = UnsafeMutableRawPointer(dst)
        if T.self == Double.self {
            for i in stride(from: 0, to: 8, by: 2) {
                _mm_stream_pd((to + i &* 8).assumingMemoryBound(to: Double.self),
                              SIMD2(value(i, Double.self), value(i &+ 1, Double.self)))
            }
        } else {
            for i in stride(from: 0, to: 16, by: 4) {
                _mm_stream_ps((to + i &* 4).assumingMemoryBound(to: Float.self),
                              SIMD4(value(i, Float.self), value(i &+ 1, Float.self), value(i &+ 2, Float.self),
                                    value(i &+ 3, Float.self)))
            }
        }
        #else
        for i in 0 ..< Self.lineValues { dst[i] = i < waiting ? pending[i] : src[i &- waiting] }
        #endif
    }

    /// One 64-byte line at the aligned `dst` from `src`: in one store in the AVX-512 copy (a
    /// quarter of the store instructions), else in 16-byte stores: SSE2's are in every x86-64
    /// build, while the wider ones' vector arguments pass in registers only where the caller is
    /// also built for them.
    @inline(__always)
    private func storeLine(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>) {
        #if arch(x86_64)
        let raw = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
        #if IE_WIDE_VECTORS
        if T.self == Double.self {
            _mm512_stream_pd(to, raw.loadUnaligned(as: SIMD8<Double>.self))
        } else {
            _mm512_stream_ps(to, raw.loadUnaligned(as: SIMD16<Float>.self))
        }
        return
        #endif
        for offset in stride(from: 0, to: 64, by: 16) {
            if T.self == Double.self {
                _mm_stream_pd((to + offset).assumingMemoryBound(to: Double.self),
                              raw.loadUnaligned(fromByteOffset: offset, as: SIMD2<Double>.self))
            } else {
                _mm_stream_ps((to + offset).assumingMemoryBound(to: Float.self),
                              raw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float>.self))
            }
        }
        #else
        dst.update(from: src, count: Self.lineValues)
        #endif
    }
}

/// Makes non-temporal stores visible to every thread before the outputs are read: a locked
/// instruction orders them, as the plain release of the partition queue's lock does not promise.
@inline(__always)
func finishStreaming() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
}
