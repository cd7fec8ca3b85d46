// A libFuzzer target over the C ABI. Each input decodes into one call of an ie_* entry
// point (forward, gradients, stats, log_normalizer, activation; f32 or f64) with small
// sizes, special values (NaN, ±inf, 1e300, subnormals, the float limits), NULLs, bad enums,
// overflowing sizes, overlapping outputs and failing callbacks. After the call it checks:
//   - the status is a known one; on error the message is non-empty and every caller buffer,
//     inputs and outputs, is byte for byte what it was (outputs are poisoned beforehand);
//   - on success the inputs are unchanged, nothing is NaN, responsibilities are in [0, 1]
//     and each row sums to 1 (or is all zeros with logZ = -inf, when every logit is -inf),
//     and with moderate inputs every output is finite;
//   - the same call with another thread count gives bitwise the same outputs.
// A violated invariant aborts, so libFuzzer records the input as a crash.

import CImplicitEM

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Decoding bytes

/// Reads the fuzz input front to back; past its end every read is 0.
struct ByteReader {
    let data: UnsafePointer<UInt8>
    let size: Int
    var at = 0

    mutating func byte() -> UInt8 {
        guard at < size else { return 0 }
        defer { at += 1 }
        return data[at]
    }

    mutating func bit(_ mask: UInt8, of value: UInt8) -> Bool { value & mask != 0 }
}

/// Values the decoder can produce besides the moderate ones; each is an edge of some formula.
let specialValues: [Double] = [
    .nan, .infinity, -.infinity, 0, -0.0, 1, -1, 0.5,
    1e300, -1e300, 1e-300, -1e-300, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
    .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
    Double(Float.greatestFiniteMagnitude), -Double(Float.greatestFiniteMagnitude),
    Double(Float.leastNormalMagnitude), Double(Float.leastNonzeroMagnitude),
    1e10, -1e10, 709.5, 710, -745.2, 88.7, 89, -103.9, 1000, -1000, 1e38, 1e-38,
    2, 3, 1e-10, 1e15, 4.5e15, 1e-5, 0.999999, 1.000001,
    .pi, -.pi, 37, 50, -50, 1e5, -1e5, 1e20, 1e-20, 1e150, 1e-150, 30, 100, 1e200,
    .ulpOfOne, 1 + .ulpOfOne, 1 - .ulpOfOne / 2, 1e-200, 3.4e38, 1.2e-38, 65504, 6e-8,
]

enum Size {
    /// Sizes that must be rejected whatever the rest of the call (non-positive, or too
    /// large for their bytes to fit in 64 bits, for any element type).
    static let rejected: [Int64] = [0, -1, -8, Int64.min, 1 << 61, Int64.max, (1 << 62) + 3]
    /// Each is accepted alone, but the product of two of them overflows 64 bits.
    static let overflowingPair: Int64 = 1 << 32
}

/// Moderate values are multiples of 1/16 in [-6, 6); the rest come from `specialValues`.
func decodeValue(_ r: inout ByteReader) -> Double {
    let b = r.byte()
    if b < 192 { return Double(Int(b) - 96) / 16 }
    return specialValues[Int(b - 192) % specialValues.count]
}

func isModerate(_ v: Double) -> Bool { v.isFinite && abs(v) <= 6 }

// MARK: - Buffers

/// A caller buffer of exactly `count` elements (at least one, so the pointer is never NULL),
/// allocated alone so that AddressSanitizer sees any access past its end.
final class Buffer<T: FuzzScalar> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(count: Int, fill: T) {
        self.count = max(count, 1)
        pointer = .allocate(capacity: self.count)
        pointer.initialize(repeating: fill, count: self.count)
    }

    deinit { pointer.deallocate() }

    var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<T>.stride))
    }

    subscript(i: Int) -> T { pointer[i] }
}

// MARK: - The two precisions

protocol FuzzScalar: BinaryFloatingPoint {
    /// A NaN with a payload the library never produces: outputs are poisoned with it.
    static var poison: Self { get }
    /// Tolerance of a sum of at most 8 responsibilities to 1.
    static var sumTolerance: Double { get }
    init(fromDouble: Double)
    var asDouble: Double { get }

    static func callForward(_ c: Call<Self>, _ e: UnsafeMutablePointer<Self>?, _ l: UnsafeMutablePointer<Self>?,
                            _ r: UnsafeMutablePointer<Self>?) -> Int32
    static func callGradients(_ c: Call<Self>, _ gL: UnsafePointer<Self>?, _ gR: UnsafePointer<Self>?,
                              _ e: UnsafeMutablePointer<Self>?, _ l: UnsafeMutablePointer<Self>?,
                              _ r: UnsafeMutablePointer<Self>?, _ g: [UnsafeMutablePointer<Self>?]?) -> Int32
    static func callStats(_ c: Call<Self>, _ w: UnsafePointer<Self>?, _ sr: UnsafeMutablePointer<Self>?,
                          _ srx: UnsafeMutablePointer<Self>?, _ srxx: UnsafeMutablePointer<Self>?) -> Int32
    static func callLogNormalizer(_ c: Call<Self>, _ out: UnsafeMutablePointer<Self>?) -> Int32
    static func callActivation(_ kernel: Int32, _ n: Int64, _ z: UnsafePointer<Self>?, _ m: Self, _ s: Self,
                               _ nu: Self, _ delta: Self, _ tau: Self,
                               _ act: UnsafeMutablePointer<Self>?, _ dact: UnsafeMutablePointer<Self>?) -> Int32
}

/// What the learned kernel's callback sees through its `user` pointer.
final class CallbackState {
    /// N×K energies (as Doubles) the callback hands out, row by row.
    var table: [Double] = []
    var k = 1
    /// The callback returns non-zero on this call (counting from 0); -1 never.
    var failOnCall = -1
    var calls = 0
    var nextRow = 0
    var xBase: UnsafeRawPointer?
    var d = 0
    var stride = 8
    var broken: String?

    /// Checks that blocks come in order and point into x, and returns the first row.
    func enter(_ xRows: UnsafeRawPointer?, rows: Int64, d reportedD: Int64) -> Int? {
        calls += 1
        if rows < 1 { broken = "callback got rows = \(rows)"; return nil }
        if let base = xBase, d > 0 {
            guard let xRows else { broken = "callback got x_rows = NULL with x given"; return nil }
            let offset = (Int(bitPattern: xRows) - Int(bitPattern: base)) / stride
            if offset % d != 0 || reportedD != Int64(d) {
                broken = "callback block offset \(offset), d \(reportedD), expected d \(d)"; return nil
            }
            let first = offset / d
            if first != nextRow && first != 0 { broken = "callback blocks out of order"; return nil }
            nextRow = first + Int(rows)
            return first
        }
        let first = nextRow
        nextRow += Int(rows)
        if nextRow > table.count / max(k, 1) { nextRow = Int(rows); return 0 }
        return first
    }
}

func energyCallback<T: FuzzScalar>(_ user: UnsafeMutableRawPointer?, _ xRows: UnsafeRawPointer?, _ rows: Int64,
                                   _ d: Int64, _ out: UnsafeMutablePointer<T>?, _: T.Type) -> Int32 {
    guard let user else { fuzzFailure("callback got user = NULL") }
    let state = Unmanaged<CallbackState>.fromOpaque(user).takeUnretainedValue()
    if state.calls == state.failOnCall { state.calls += 1; return 7 }
    guard let first = state.enter(xRows, rows: rows, d: d) else { return 0 }
    guard let out else { state.broken = "callback got energies_out = NULL"; return 0 }
    if let x = xRows?.assumingMemoryBound(to: T.self), state.d > 0 {
        // Reads every value it was given: AddressSanitizer checks the block is in bounds.
        var sum = T.zero
        for i in 0 ..< Int(rows) * state.d { sum += x[i] }
        _ = sum
    }
    let rowCount = state.table.count / state.k
    for i in 0 ..< Int(rows) * state.k {
        let row = first + i / state.k
        if row >= rowCount { state.broken = "callback asked for row \(row) of \(rowCount)"; return 0 }
        out[i] = T(fromDouble: state.table[row * state.k + i % state.k])
    }
    return 0
}

let energyF64: ie_energy_fn_f64 = { user, x, rows, d, out in
    energyCallback(user, UnsafeRawPointer(x), rows, d, out, Double.self)
}
let energyF32: ie_energy_fn_f32 = { user, x, rows, d, out in
    energyCallback(user, UnsafeRawPointer(x), rows, d, out, Float.self)
}

extension Double: FuzzScalar {
    static var poison: Double { Double(bitPattern: 0x7FF4_DEAD_BEEF_0001) }
    static var sumTolerance: Double { 64 * Double.ulpOfOne }
    init(fromDouble v: Double) { self = v }
    var asDouble: Double { self }

    static func problem(_ c: Call<Double>) -> ie_problem_f64 {
        var p = ie_problem_f64()
        ie_problem_init_f64(&p)
        c.fill(&p.struct_size, &p.kernel, &p.scale_shape, &p.n, &p.k, &p.d)
        p.x = c.x.map { UnsafePointer($0.pointer) }
        p.mu = c.mu.map { UnsafePointer($0.pointer) }
        p.scale = c.scale.map { UnsafePointer($0.pointer) }
        p.chol = c.chol.map { UnsafePointer($0.pointer) }
        p.logw = c.logw.map { UnsafePointer($0.pointer) }
        p.logprior = c.logprior.map { UnsafePointer($0.pointer) }
        p.energies = c.energies.map { UnsafePointer($0.pointer) }
        if c.useCallback {
            p.energy_fn = energyF64
            p.energy_user = Unmanaged.passUnretained(c.callback).toOpaque()
        }
        p.nu = c.nu; p.delta = c.delta; p.tau = c.tau
        p.normalized = c.normalized ? 1 : 0
        return p
    }

    static func callForward(_ c: Call<Double>, _ e: UnsafeMutablePointer<Double>?, _ l: UnsafeMutablePointer<Double>?,
                            _ r: UnsafeMutablePointer<Double>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_forward_f64($0, e, l, r).rawValue) }
    }

    static func callGradients(_ c: Call<Double>, _ gL: UnsafePointer<Double>?, _ gR: UnsafePointer<Double>?,
                              _ e: UnsafeMutablePointer<Double>?, _ l: UnsafeMutablePointer<Double>?,
                              _ r: UnsafeMutablePointer<Double>?, _ g: [UnsafeMutablePointer<Double>?]?) -> Int32 {
        let p = problem(c)
        guard let g else { return passProblem(p, c.nullProblem) { Int32(ie_gradients_f64($0, gL, gR, e, l, r, nil).rawValue) } }
        var grads = ie_grads_f64()
        ie_grads_init_f64(&grads)
        if c.badGradsSize { grads.struct_size -= 8 }
        (grads.x, grads.mu, grads.scale, grads.nu, grads.delta) = (g[0], g[1], g[2], g[3], g[4])
        (grads.chol, grads.logw, grads.logprior, grads.tau, grads.energies) = (g[5], g[6], g[7], g[8], g[9])
        return passProblem(p, c.nullProblem) { Int32(ie_gradients_f64($0, gL, gR, e, l, r, &grads).rawValue) }
    }

    static func callStats(_ c: Call<Double>, _ w: UnsafePointer<Double>?, _ sr: UnsafeMutablePointer<Double>?,
                          _ srx: UnsafeMutablePointer<Double>?, _ srxx: UnsafeMutablePointer<Double>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_stats_f64($0, w, sr, srx, srxx).rawValue) }
    }

    static func callLogNormalizer(_ c: Call<Double>, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_log_normalizer_f64($0, out).rawValue) }
    }

    static func callActivation(_ kernel: Int32, _ n: Int64, _ z: UnsafePointer<Double>?, _ m: Double, _ s: Double,
                               _ nu: Double, _ delta: Double, _ tau: Double,
                               _ act: UnsafeMutablePointer<Double>?, _ dact: UnsafeMutablePointer<Double>?) -> Int32 {
        Int32(ie_activation_f64(kernel, n, z, m, s, nu, delta, tau, act, dact).rawValue)
    }
}

extension Float: FuzzScalar {
    static var poison: Float { Float(bitPattern: 0x7FA5_A5A5) }
    static var sumTolerance: Double { 64 * Double(Float.ulpOfOne) }
    init(fromDouble v: Double) { self = Float(v) }
    var asDouble: Double { Double(self) }

    static func problem(_ c: Call<Float>) -> ie_problem_f32 {
        var p = ie_problem_f32()
        ie_problem_init_f32(&p)
        c.fill(&p.struct_size, &p.kernel, &p.scale_shape, &p.n, &p.k, &p.d)
        p.x = c.x.map { UnsafePointer($0.pointer) }
        p.mu = c.mu.map { UnsafePointer($0.pointer) }
        p.scale = c.scale.map { UnsafePointer($0.pointer) }
        p.chol = c.chol.map { UnsafePointer($0.pointer) }
        p.logw = c.logw.map { UnsafePointer($0.pointer) }
        p.logprior = c.logprior.map { UnsafePointer($0.pointer) }
        p.energies = c.energies.map { UnsafePointer($0.pointer) }
        if c.useCallback {
            p.energy_fn = energyF32
            p.energy_user = Unmanaged.passUnretained(c.callback).toOpaque()
        }
        p.nu = c.nu; p.delta = c.delta; p.tau = c.tau
        p.normalized = c.normalized ? 1 : 0
        return p
    }

    static func callForward(_ c: Call<Float>, _ e: UnsafeMutablePointer<Float>?, _ l: UnsafeMutablePointer<Float>?,
                            _ r: UnsafeMutablePointer<Float>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_forward_f32($0, e, l, r).rawValue) }
    }

    static func callGradients(_ c: Call<Float>, _ gL: UnsafePointer<Float>?, _ gR: UnsafePointer<Float>?,
                              _ e: UnsafeMutablePointer<Float>?, _ l: UnsafeMutablePointer<Float>?,
                              _ r: UnsafeMutablePointer<Float>?, _ g: [UnsafeMutablePointer<Float>?]?) -> Int32 {
        let p = problem(c)
        guard let g else { return passProblem(p, c.nullProblem) { Int32(ie_gradients_f32($0, gL, gR, e, l, r, nil).rawValue) } }
        var grads = ie_grads_f32()
        ie_grads_init_f32(&grads)
        if c.badGradsSize { grads.struct_size -= 8 }
        (grads.x, grads.mu, grads.scale, grads.nu, grads.delta) = (g[0], g[1], g[2], g[3], g[4])
        (grads.chol, grads.logw, grads.logprior, grads.tau, grads.energies) = (g[5], g[6], g[7], g[8], g[9])
        return passProblem(p, c.nullProblem) { Int32(ie_gradients_f32($0, gL, gR, e, l, r, &grads).rawValue) }
    }

    static func callStats(_ c: Call<Float>, _ w: UnsafePointer<Float>?, _ sr: UnsafeMutablePointer<Float>?,
                          _ srx: UnsafeMutablePointer<Float>?, _ srxx: UnsafeMutablePointer<Float>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_stats_f32($0, w, sr, srx, srxx).rawValue) }
    }

    static func callLogNormalizer(_ c: Call<Float>, _ out: UnsafeMutablePointer<Float>?) -> Int32 {
        let p = problem(c)
        return passProblem(p, c.nullProblem) { Int32(ie_log_normalizer_f32($0, out).rawValue) }
    }

    static func callActivation(_ kernel: Int32, _ n: Int64, _ z: UnsafePointer<Float>?, _ m: Float, _ s: Float,
                               _ nu: Float, _ delta: Float, _ tau: Float,
                               _ act: UnsafeMutablePointer<Float>?, _ dact: UnsafeMutablePointer<Float>?) -> Int32 {
        Int32(ie_activation_f32(kernel, n, z, m, s, nu, delta, tau, act, dact).rawValue)
    }
}

/// The problem's address, or NULL when the call passes none.
func passProblem<P>(_ problem: P, _ null: Bool, _ body: (UnsafePointer<P>?) -> Int32) -> Int32 {
    withUnsafePointer(to: problem) { body(null ? nil : $0) }
}

// MARK: - One decoded call

enum EntryPoint: Int, CaseIterable { case forward, gradients, stats, logNormalizer, activation }

/// One call of an entry point, decoded from bytes: the problem, its buffers and flags.
final class Call<T: FuzzScalar> {
    var entry = EntryPoint.forward
    var kernel: Int32 = 1
    var scaleShape: Int32 = 1
    var n: Int64 = 1, k: Int64 = 1, d: Int64 = 1
    /// The sizes the buffers are allocated with (1 for a size that must be rejected).
    var an = 1, ak = 1, ad = 1
    /// Some size must be rejected, so the call must fail.
    var sizesRejected = false
    var x: Buffer<T>?, mu: Buffer<T>?, scale: Buffer<T>?, chol: Buffer<T>?
    var logw: Buffer<T>?, logprior: Buffer<T>?, energies: Buffer<T>?
    var gL: Buffer<T>?, gR: Buffer<T>?, weights: Buffer<T>?, z: Buffer<T>?
    var nu: T = 0, delta: T = 0, tau: T = 1, m: T = 1, activationScale: T = 1
    var normalized = false
    var useCallback = false
    let callback = CallbackState()
    var nullProblem = false
    var badStructSize = false
    var badGradsSize = false
    /// Every value the call reads is moderate (the outputs must then be finite).
    var moderate = true
    /// Which outputs to request (bit i: output i of the entry point).
    var outputMask: UInt16 = 0
    /// 0: none; 1: the first output aliases x (or z); 2: the second output aliases the first.
    var alias = 0
    var threads: Int32 = 1
    var otherThreads: Int32 = 2
    var checkDeterminism = false

    var kernelKnown: Bool { (1 ... 10).contains(kernel) }
    var isLearned: Bool { kernel == 10 }
    var isSeparable: Bool { (1 ... 7).contains(kernel) }

    func fill(_ structSize: inout Int, _ kernel: inout Int32, _ scaleShape: inout Int32,
              _ n: inout Int64, _ k: inout Int64, _ d: inout Int64) {
        if badStructSize { structSize += 8 }
        kernel = self.kernel
        scaleShape = self.scaleShape
        n = self.n; k = self.k; d = self.d
    }

    var scaleCount: Int {
        switch scaleShape {
        case 2: return ak
        case 3: return ak * ad
        default: return 1
        }
    }

    /// The inputs the call passes, by name, for the "inputs are never written" check.
    var inputs: [(String, Buffer<T>)] {
        [("x", x), ("mu", mu), ("scale", scale), ("chol", chol), ("logw", logw), ("logprior", logprior),
         ("energies", energies), ("gL", gL), ("gR", gR), ("weights", weights), ("z", z)]
            .compactMap { name, b in b.map { (name, $0) } }
    }
}

func decodeSize(_ r: inout ByteReader) -> (Int64, Bool) {
    let b = r.byte()
    if b < 0xF0 { return (Int64(1 + b % 8), false) }
    return (Size.rejected[Int(b - 0xF0) % Size.rejected.count], true)
}

/// `count` values into a new buffer; `positive` maps them to (0, ∞) unless raw parameters
/// were asked for, so that most calls get past validation.
func decodeArray<T: FuzzScalar>(_ r: inout ByteReader, _ count: Int, _ call: Call<T>,
                                positive: Bool = false, raw: Bool = false) -> Buffer<T> {
    let b = Buffer<T>(count: count, fill: 0)
    for i in 0 ..< b.count {
        var v = decodeValue(&r)
        if positive && !raw && !(v > 0 && v.isFinite) { v = v.isFinite ? abs(v) + 0.25 : 1 }
        if !isModerate(v) && !(v == -.infinity) { call.moderate = false }
        if positive && isModerate(v) && v < 0.25 { call.moderate = false }
        b.pointer[i] = T(fromDouble: v)
    }
    return b
}

func decodeParameter<T: FuzzScalar>(_ r: inout ByteReader, _ call: Call<T>, raw: Bool) -> T {
    var v = decodeValue(&r)
    if !raw && !(v > 0 && v.isFinite) { v = v.isFinite ? abs(v) + 0.25 : 1 }
    if !(isModerate(v) && v >= 0.25) { call.moderate = false }
    return T(fromDouble: v)
}

func decodeCall<T: FuzzScalar>(_ r: inout ByteReader, _: T.Type, entry: EntryPoint) -> Call<T> {
    let c = Call<T>()
    c.entry = entry
    let kb = r.byte()
    c.kernel = kb < 250 ? Int32(1 + kb % 10) : [0, 11, -1, Int32.min, Int32.max, 255][Int(kb - 250)]
    let sb = r.byte()
    c.scaleShape = sb < 252 ? Int32(1 + sb % 3) : [0, 4, -3, Int32.max][Int(sb - 252)]
    let (nValue, nRejected) = decodeSize(&r), (kValue, kRejected) = decodeSize(&r)
    let (dValue, dRejected) = decodeSize(&r)
    (c.n, c.k, c.d) = (nValue, kValue, dValue)
    // Activation reads only n; D is read only when the kernel has one (the learned kernel
    // may have none), so only the sizes that are read must be rejected.
    let isActivation = entry == .activation
    let dRead = !c.isLearned && !isActivation
    c.sizesRejected = nRejected || (!isActivation && kRejected) || (dRead && dRejected)
    c.an = c.n >= 1 && c.n <= 8 ? Int(c.n) : 1
    c.ak = c.k >= 1 && c.k <= 8 ? Int(c.k) : 1
    c.ad = c.d >= 1 && c.d <= 8 ? Int(c.d) : 1

    let flags1 = r.byte(), flags2 = r.byte(), flags3 = r.byte()
    let hasScale = flags1 & 1 != 0, hasLogw = flags1 & 2 != 0, hasLogprior = flags1 & 4 != 0
    c.useCallback = flags1 & 8 != 0
    c.normalized = flags1 & 16 != 0
    let hasWeights = flags1 & 32 != 0, hasGL = flags1 & 64 != 0, hasGR = flags1 & 128 != 0
    let dropX = flags2 & 1 != 0, dropMu = flags2 & 2 != 0, dropChol = flags2 & 4 != 0
    c.alias = Int(flags2 >> 3) % 4 == 3 ? 0 : Int(flags2 >> 3) % 4
    c.threads = [1, 2, 8, 0][Int(flags2 >> 5) & 3]
    c.badStructSize = flags2 & 0x80 != 0 && flags3 & 0x80 != 0
    c.nullProblem = flags3 & 0x40 != 0 && flags3 & 0x20 != 0 && flags3 & 0x10 != 0
    let rawParameters = flags3 & 1 != 0
    c.checkDeterminism = flags3 & 2 != 0
    c.otherThreads = flags3 & 4 != 0 ? 8 : 3
    c.badGradsSize = flags3 & 0x08 != 0 && flags3 & 0x04 != 0 && flags2 & 0x80 != 0
    c.outputMask = UInt16(r.byte()) | UInt16(r.byte()) << 8
    let pairOverflow = r.byte()
    let callbackFail = r.byte()

    // Two sizes of 2^32: each is fine alone, their product overflows.
    if pairOverflow >= 0xF8 && !isActivation {
        switch pairOverflow & 3 {
        case 0: c.n = Size.overflowingPair; c.k = Size.overflowingPair; c.sizesRejected = true
        case 1 where dRead: c.n = Size.overflowingPair; c.d = Size.overflowingPair; c.sizesRejected = true
        case 2 where dRead: c.k = Size.overflowingPair; c.d = Size.overflowingPair; c.sizesRejected = true
        case 3 where c.kernel == 9:
            // K·D fits, K·D·D does not.
            c.k = 1 << 22; c.d = 1 << 21; c.sizesRejected = true
        default: break
        }
    }

    c.nu = decodeParameter(&r, c, raw: rawParameters)
    c.delta = decodeParameter(&r, c, raw: rawParameters)
    c.tau = decodeParameter(&r, c, raw: rawParameters)
    if entry == .activation {
        c.m = T(fromDouble: decodeValue(&r))
        if !isModerate(c.m.asDouble) { c.moderate = false }
        c.activationScale = decodeParameter(&r, c, raw: rawParameters)
        c.z = decodeArray(&r, c.an, c)
        return c
    }

    let n = c.an, k = c.ak, d = c.ad
    // The learned kernel reads x only through its callback or for the statistics of x.
    let wantX = c.isLearned ? !dropX && (c.useCallback || entry == .stats) : !dropX
    if wantX { c.x = decodeArray(&r, n * d, c) }
    if !dropMu { c.mu = decodeArray(&r, k * d, c) }
    if hasScale { c.scale = decodeArray(&r, c.scaleCount, c, positive: true, raw: rawParameters) }
    if !dropChol {
        let chol = decodeArray(&r, k * d * d, c)
        if !rawParameters {
            for kk in 0 ..< k { for i in 0 ..< d {
                let at = (kk * d + i) * d + i
                let v = chol[at].asDouble
                chol.pointer[at] = T(fromDouble: v > 0 && v.isFinite ? v : (v.isFinite ? abs(v) + 0.25 : 1))
            } }
        }
        c.chol = chol
    }
    if hasLogw { c.logw = decodeArray(&r, k, c) }
    if hasLogprior { c.logprior = decodeArray(&r, n * k, c) }
    if c.isLearned {
        let table = decodeArray(&r, n * k, c)
        if c.useCallback {
            c.callback.table = (0 ..< n * k).map { table[$0].asDouble }
            c.callback.k = k
            c.callback.xBase = c.x.map { UnsafeRawPointer($0.pointer) }
            c.callback.d = c.x == nil ? 0 : d
            c.callback.stride = MemoryLayout<T>.stride
            c.callback.failOnCall = callbackFail >= 0xF0 ? Int(callbackFail & 3) : -1
        } else {
            c.energies = table
        }
    }
    if entry == .gradients {
        if hasGL { c.gL = decodeArray(&r, n, c) }
        if hasGR { c.gR = decodeArray(&r, n * k, c) }
    }
    if entry == .stats && hasWeights {
        let w = decodeArray(&r, n, c)
        if r.byte() & 1 == 0 { for i in 0 ..< w.count { w.pointer[i] = abs(w[i]) } }
        c.weights = w
    }
    return c
}

// MARK: - Running and checking

/// FUZZ_VERBOSE=1 prints each call's status and message (to read what a corpus covers).
let verbose = getenv("FUZZ_VERBOSE") != nil

@inline(never)
func fuzzFailure(_ message: String) -> Never {
    fputs("fuzz invariant violated: \(message)\n", stderr)
    abort()
}

/// The outputs of one entry point: name, element count, buffer.
struct Outputs<T: FuzzScalar> {
    var buffers: [(name: String, buffer: Buffer<T>?)] = []
    /// Pointer passed for each output (NULL, the buffer, or an alias).
    var pointers: [UnsafeMutablePointer<T>?] = []

    func buffer(_ name: String) -> Buffer<T>? { buffers.first { $0.name == name }?.buffer ?? nil }
}

/// The shape of every output of the call's entry point, in a fixed order.
func outputShapes<T>(_ c: Call<T>) -> [(String, Int)] {
    let n = c.an, k = c.ak, d = c.ad
    switch c.entry {
    case .forward: return [("energies", n * k), ("logZ", n), ("resp", n * k)]
    case .gradients:
        return [("energies", n * k), ("logZ", n), ("resp", n * k),
                ("g.x", n * d), ("g.mu", k * d), ("g.scale", c.scale == nil || !c.isSeparable ? 1 : c.scaleCount), ("g.nu", 1),
                ("g.delta", 1), ("g.chol", k * d * d), ("g.logw", k), ("g.logprior", n * k), ("g.tau", 1),
                ("g.energies", n * k)]
    case .stats: return [("sum_r", k), ("sum_rx", k * d), ("sum_rxx", k * d * d)]
    case .logNormalizer: return [("c", k)]
    case .activation: return [("act", n), ("dact", n)]
    }
}

func makeOutputs<T: FuzzScalar>(_ c: Call<T>) -> Outputs<T> {
    var o = Outputs<T>()
    var first: UnsafeMutablePointer<T>?
    for (i, (name, count)) in outputShapes(c).enumerated() {
        // log_normalizer's one output is required; NULL only sometimes.
        let gradsPassed = !(c.entry == .gradients && i >= 3 && c.outputMask & 0x8000 != 0)
        let wanted = gradsPassed && (c.outputMask & (1 << UInt16(i)) != 0
            || (c.entry == .logNormalizer && c.outputMask & 0x100 == 0))
        guard wanted else { o.buffers.append((name, nil)); o.pointers.append(nil); continue }
        let b = Buffer<T>(count: count, fill: T.poison)
        o.buffers.append((name, b))
        var pointer: UnsafeMutablePointer<T>? = b.pointer
        // A learned problem without D leaves its D-shaped outputs alone: aliasing them is harmless.
        let written = !(c.isLearned && c.x == nil && ["g.x", "g.mu", "g.chol", "sum_rx", "sum_rxx"].contains(name))
        if c.alias == 1 && first == nil && written {
            // Written into an input that the call reads.
            if c.entry == .activation, let z = c.z { pointer = z.pointer }
            else if !c.isLearned, let x = c.x { pointer = x.pointer }
            else if c.isLearned, let e = c.energies { pointer = e.pointer }
        } else if c.alias == 2 && written, let f = first {
            pointer = f
        }
        if first == nil && written { first = pointer }
        o.pointers.append(pointer)
    }
    return o
}

func invoke<T: FuzzScalar>(_ c: Call<T>, _ o: Outputs<T>) -> Int32 {
    ie_set_num_threads(c.threads)
    let p = o.pointers
    switch c.entry {
    case .forward: return T.callForward(c, p[0], p[1], p[2])
    case .gradients:
        let grads: [UnsafeMutablePointer<T>?]? = c.outputMask & 0x8000 != 0 ? nil : Array(p[3...])
        return T.callGradients(c, c.gL.map { UnsafePointer($0.pointer) }, c.gR.map { UnsafePointer($0.pointer) },
                               p[0], p[1], p[2], grads)
    case .stats: return T.callStats(c, c.weights.map { UnsafePointer($0.pointer) }, p[0], p[1], p[2])
    case .logNormalizer: return T.callLogNormalizer(c, p[0])
    case .activation:
        let kernelArg = c.kernel
        let nArg = c.n
        return T.callActivation(kernelArg, nArg, c.z.map { UnsafePointer($0.pointer) }, c.m, c.activationScale,
                                c.nu, c.delta, c.tau, p[0], p[1])
    }
}

/// Whether this output is really written by the call (not aliased to another buffer).
func ownsPointer<T>(_ o: Outputs<T>, _ i: Int) -> Bool {
    guard let b = o.buffers[i].buffer, let p = o.pointers[i] else { return false }
    return b.pointer == p
}

func checkCall<T: FuzzScalar>(_ c: Call<T>) {
    let inputsBefore = c.inputs.map { ($0.0, $0.1.bytes) }
    let o = makeOutputs(c)
    let status = invoke(c, o)
    let message = String(cString: ie_last_error_message())
    if verbose {
        fputs("m \(c.m) s \(c.activationScale) nu \(c.nu) delta \(c.delta) tau \(c.tau) normalized \(c.normalized) scale_shape \(c.scaleShape)\n", stderr)
        for (name, b) in c.inputs { fputs("  \(name) = \((0 ..< b.count).map { b[$0] })\n", stderr) }
        for (name, b) in o.buffers { if let b { fputs("  out \(name) = \((0 ..< b.count).map { b[$0] })\n", stderr) } }
    }
    if verbose { fputs("\(c.entry) \(T.self) kernel \(c.kernel) n \(c.n) k \(c.k) d \(c.d): status \(status) \(message)\n", stderr) }

    guard (0 ... 11).contains(status) else { fuzzFailure("unknown status \(status)") }
    if String(cString: ie_status_string(ie_status(rawValue: UInt32(status)))) == "unknown status" {
        fuzzFailure("status \(status) has no name")
    }
    for (name, bytes) in inputsBefore where c.inputs.first(where: { $0.0 == name })!.1.bytes != bytes {
        fuzzFailure("input \(name) was written (status \(status))")
    }
    if c.callback.broken != nil { fuzzFailure(c.callback.broken!) }

    if status != 0 {
        if message.isEmpty { fuzzFailure("status \(status) with an empty message") }
        for (i, (name, buffer)) in o.buffers.enumerated() where ownsPointer(o, i) {
            if buffer!.bytes != Buffer<T>(count: buffer!.count, fill: T.poison).bytes {
                fuzzFailure("output \(name) was written although the call failed with \(status): \(message)")
            }
        }
        return
    }

    // Success: everything below must hold.
    if !message.isEmpty { fuzzFailure("success with a message: \(message)") }
    if c.sizesRejected { fuzzFailure("sizes n=\(c.n) k=\(c.k) d=\(c.d) were accepted") }
    if c.alias != 0 && o.pointers.compactMap({ $0 }).count >= (c.alias == 2 ? 2 : 1) {
        let aliased = (0 ..< o.pointers.count).contains { o.pointers[$0] != nil && !ownsPointer(o, $0) }
        if aliased { fuzzFailure("overlapping buffers were accepted (alias mode \(c.alias))") }
    }
    if c.entry != .activation && (c.nullProblem || c.badStructSize)
        || c.badGradsSize && c.entry == .gradients && c.outputMask & 0x8000 == 0 {
        fuzzFailure("a NULL problem or a bad struct_size was accepted")
    }
    if !c.kernelKnown { fuzzFailure("kernel \(c.kernel) was accepted") }
    if c.callback.failOnCall >= 0 && c.callback.calls > c.callback.failOnCall && c.useCallback && c.isLearned && c.energies == nil {
        fuzzFailure("a failing callback was ignored")
    }
    checkValues(c, o)

    if c.checkDeterminism {
        let saved = c.threads
        c.threads = c.otherThreads
        c.callback.calls = 0; c.callback.nextRow = 0
        let failOnCall = c.callback.failOnCall
        c.callback.failOnCall = -1
        let again = makeOutputs(c)
        let status2 = invoke(c, again)
        if status2 != 0 { fuzzFailure("the same call failed with \(status2) on \(c.threads) threads") }
        for i in 0 ..< o.buffers.count where ownsPointer(o, i) {
            if o.buffers[i].buffer!.bytes != again.buffers[i].buffer!.bytes {
                fuzzFailure("output \(o.buffers[i].name) differs between \(saved) and \(c.threads) threads")
            }
        }
        c.threads = saved
        c.callback.failOnCall = failOnCall
    }
}

/// The value invariants of a successful call.
func checkValues<T: FuzzScalar>(_ c: Call<T>, _ o: Outputs<T>) {
    let n = c.an, k = c.ak
    func values(_ name: String) -> Buffer<T>? {
        guard let i = o.buffers.firstIndex(where: { $0.name == name }), ownsPointer(o, i) else { return nil }
        return o.buffers[i].buffer
    }
    // Gradient outputs that a learned problem without D leaves alone.
    let untouchedAllowed: Set<String> = c.isLearned ? ["g.x", "g.mu", "g.chol", "sum_rx", "sum_rxx"] : []
    for (name, buffer) in o.buffers {
        guard let b = buffer, let v = values(name) else { continue }
        if untouchedAllowed.contains(name) && c.x == nil { continue }
        for i in 0 ..< b.count where v[i].isNaN {
            fuzzFailure("\(name)[\(i)] is NaN (moderate inputs: \(c.moderate))")
        }
    }

    // A row is masked when every logit is −∞ (through logw and logprior).
    func masked(_ row: Int) -> Bool {
        (0 ..< k).allSatisfy { j in
            (c.logw.map { $0[j] == -.infinity } ?? false) || (c.logprior.map { $0[row * k + j] == -.infinity } ?? false)
        }
    }

    if let logZ = values("logZ") {
        for row in 0 ..< n {
            let l = logZ[row]
            if masked(row) && l != -.infinity { fuzzFailure("logZ[\(row)] = \(l) for a fully masked row") }
            if c.moderate && !masked(row) && !l.isFinite { fuzzFailure("logZ[\(row)] = \(l) with moderate inputs") }
        }
    }
    if let resp = values("resp") {
        for row in 0 ..< n {
            var sum = 0.0
            for j in 0 ..< k {
                let r = resp[row * k + j].asDouble
                if !(r >= 0 && r <= 1) { fuzzFailure("resp[\(row), \(j)] = \(r) is outside [0, 1]") }
                sum += r
            }
            // Energies or logits that overflow are taken to their limit (KERNELS.md): the
            // responsibility still goes somewhere, even when logZ is -inf. Only a row that
            // every logw/logprior masks has no responsibility at all.
            if masked(row) {
                if sum != 0 { fuzzFailure("resp row \(row) sums to \(sum) for a fully masked row") }
            } else if abs(sum - 1) > T.sumTolerance {
                fuzzFailure("resp row \(row) sums to \(sum) (moderate inputs: \(c.moderate))")
            }
        }
    }
    if c.isLearned, let e = values("energies") {
        // The learned kernel's energies are a copy of what was given or called back.
        for i in 0 ..< n * k {
            let given = c.energies.map { $0[i].asDouble } ?? c.callback.table[i]
            if e[i].asDouble != T(fromDouble: given).asDouble {
                fuzzFailure("learned energies[\(i)] = \(e[i]) differs from the given \(given)")
            }
        }
    }
    if c.entry == .activation, let act = values("act") {
        for i in 0 ..< n where !(act[i] >= -1 && act[i] <= 1) { fuzzFailure("act[\(i)] = \(act[i]) is outside [-1, 1]") }
    }
    if let sumR = values("sum_r") {
        var total = 0.0
        for j in 0 ..< k {
            if sumR[j] < 0 { fuzzFailure("sum_r[\(j)] = \(sumR[j]) < 0") }
            total += sumR[j].asDouble
        }
        if c.moderate {
            var expected = 0.0
            for row in 0 ..< n where !masked(row) { expected += c.weights.map { $0[row].asDouble } ?? 1 }
            if abs(total - expected) > T.sumTolerance * max(expected, 1) * 4 {
                fuzzFailure("sum of sum_r = \(total), expected the weight of the unmasked rows \(expected)")
            }
        }
    }
    // Fully masked rows contribute nothing to per-row gradients.
    for row in 0 ..< n where masked(row) {
        for name in ["g.logprior", "g.energies"] {
            guard let g = values(name) else { continue }
            for j in 0 ..< k where g[row * k + j] != 0 { fuzzFailure("\(name)[\(row), \(j)] = \(g[row * k + j]) in a masked row") }
        }
        if let g = values("g.x"), !c.isLearned {
            for i in 0 ..< c.ad where g[row * c.ad + i] != 0 { fuzzFailure("g.x[\(row), \(i)] != 0 in a masked row") }
        }
    }
    if c.moderate {
        for (name, buffer) in o.buffers {
            guard let b = buffer, let v = values(name), name != "logZ" else { continue }
            if untouchedAllowed.contains(name) && c.x == nil { continue }
            for i in 0 ..< b.count where !v[i].isFinite {
                fuzzFailure("\(name)[\(i)] = \(v[i]) is not finite with moderate inputs")
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var r = ByteReader(data: data, size: size)
    let selector = r.byte()
    let entry = EntryPoint(rawValue: Int(selector >> 1) % EntryPoint.allCases.count)!
    if selector & 1 == 0 {
        checkCall(decodeCall(&r, Double.self, entry: entry))
    } else {
        checkCall(decodeCall(&r, Float.self, entry: entry))
    }
    return 0
}
