// Vectorised separable kernels: the energies and gradients of one row computed across D in
// SIMD chunks (8 doubles or 16 floats), with a scalar tail. The row pass (Rows.swift) is
// unchanged; only the model differs. Generic SIMD comparisons compile lane by lane, so every
// operation that needs a mask lives in `FloatVector`, written for the two concrete vector types.

/// The vector operations the kernels need beyond +, −, ×, ÷ (which compile to vector
/// instructions even in generic code).
protocol FloatVector: SIMD where Scalar: IEFloat & SIMDScalar {
    init(loading p: UnsafePointer<Scalar>)
    func store(to p: UnsafeMutablePointer<Scalar>)
    /// |v| per lane.
    var absolute: Self { get }
    /// −|v| per lane (the sign bit set: −0 at ±0).
    var negativeAbsolute: Self { get }
    /// |v| with the sign bit of `other`, per lane.
    func withSign(of other: Self) -> Self
    /// sign(v) per lane, 0 at 0.
    var sign: Self { get }
    /// v·sign(u) without the product: v with its sign flipped where u < 0, 0 where u = 0 (the
    /// product's ±0 there is +0 here, which the sums, started at +0, cannot tell apart).
    func timesSign(of u: Self) -> Self
    /// v clipped to [−bound, bound].
    func clipped(_ bound: Scalar) -> Self
    /// Lanes of `other` where key > bound, else lanes of self.
    func replacing(with other: Self, whereAbove key: Self, _ bound: Scalar) -> Self
    /// √v per lane.
    var root: Self { get }
    /// The sum of the lanes, by halves (the standard library's sum() is a generic call for
    /// some vector types): `quarters`, then their halves, then the two.
    var total: Scalar { get }
    /// The lanes summed by halves down to four: the first steps of `total`.
    var quarters: SIMD4<Scalar> { get }
}

extension SIMD4 where Scalar: IEFloat {
    /// The last steps of `total` from its `quarters`.
    @inline(__always) var quarterTotal: Scalar {
        let two = lowHalf + highHalf
        return two[0] + two[1]
    }
}

/// The quarterTotal of each of four vectors, in their order, as two vector additions: the same
/// additions, and so the same bits.
@inline(__always)
func quarterTotals<S: IEFloat & SIMDScalar>(_ a: SIMD4<S>, _ b: SIMD4<S>, _ c: SIMD4<S>, _ d: SIMD4<S>) -> SIMD4<S> {
    // [a's two, c's two] and [b's two, d's two], then the pairs of each interleaved (the
    // lane order of x86's unpack instructions).
    let ac = SIMD4(lowHalf: a.lowHalf, highHalf: c.lowHalf) + SIMD4(lowHalf: a.highHalf, highHalf: c.highHalf)
    let bd = SIMD4(lowHalf: b.lowHalf, highHalf: d.lowHalf) + SIMD4(lowHalf: b.highHalf, highHalf: d.highHalf)
    return SIMD4(ac[0], bd[0], ac[2], bd[2]) + SIMD4(ac[1], bd[1], ac[3], bd[3])
}

extension SIMD8: FloatVector where Scalar == Double {
    @inline(__always) init(loading p: UnsafePointer<Double>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Double>.self)
    }
    @inline(__always) func store(to p: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Double>.self)
    }
    /// The sign bit cleared (+0 at −0).
    @inline(__always) var absolute: Self {
        unsafeBitCast(unsafeBitCast(self, to: SIMD8<UInt64>.self) & ~(1 << 63), to: Self.self)
    }
    @inline(__always) var negativeAbsolute: Self {
        unsafeBitCast(unsafeBitCast(self, to: SIMD8<UInt64>.self) | (1 << 63), to: Self.self)
    }
    @inline(__always) func withSign(of other: Self) -> Self {
        let sign = unsafeBitCast(other, to: SIMD8<UInt64>.self) & (1 << 63)
        return unsafeBitCast(unsafeBitCast(absolute, to: SIMD8<UInt64>.self) | sign, to: Self.self)
    }
    @inline(__always) var sign: Self {
        Self(repeating: 0).replacing(with: 1, where: self .> 0).replacing(with: -1, where: self .< 0)
    }
    @inline(__always) func timesSign(of u: Self) -> Self {
        let sign = unsafeBitCast(u, to: SIMD8<UInt64>.self) & (1 << 63)
        return Self().replacing(with: unsafeBitCast(unsafeBitCast(self, to: SIMD8<UInt64>.self) ^ sign, to: Self.self),
                                where: u .!= 0)
    }
    @inline(__always) func clipped(_ bound: Double) -> Self {
        replacing(with: bound, where: self .> bound).replacing(with: -bound, where: self .< -bound)
    }
    @inline(__always) func replacing(with other: Self, whereAbove key: Self, _ bound: Double) -> Self {
        replacing(with: other, where: key .> bound)
    }
    @inline(__always) var root: Self { squareRoot() }
    @inline(__always) var total: Double { quarters.quarterTotal }
    @inline(__always) var quarters: SIMD4<Double> { lowHalf + highHalf }
}

extension SIMD16: FloatVector where Scalar == Float {
    @inline(__always) init(loading p: UnsafePointer<Float>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) func store(to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD16<Float>.self)
    }
    /// The sign bit cleared (+0 at −0).
    @inline(__always) var absolute: Self {
        unsafeBitCast(unsafeBitCast(self, to: SIMD16<UInt32>.self) & ~(1 << 31), to: Self.self)
    }
    @inline(__always) var negativeAbsolute: Self {
        unsafeBitCast(unsafeBitCast(self, to: SIMD16<UInt32>.self) | (1 << 31), to: Self.self)
    }
    @inline(__always) func withSign(of other: Self) -> Self {
        let sign = unsafeBitCast(other, to: SIMD16<UInt32>.self) & (1 << 31)
        return unsafeBitCast(unsafeBitCast(absolute, to: SIMD16<UInt32>.self) | sign, to: Self.self)
    }
    @inline(__always) var sign: Self {
        Self(repeating: 0).replacing(with: 1, where: self .> 0).replacing(with: -1, where: self .< 0)
    }
    @inline(__always) func timesSign(of u: Self) -> Self {
        let sign = unsafeBitCast(u, to: SIMD16<UInt32>.self) & (1 << 31)
        return Self().replacing(with: unsafeBitCast(unsafeBitCast(self, to: SIMD16<UInt32>.self) ^ sign, to: Self.self),
                                where: u .!= 0)
    }
    @inline(__always) func clipped(_ bound: Float) -> Self {
        replacing(with: bound, where: self .> bound).replacing(with: -bound, where: self .< -bound)
    }
    @inline(__always) func replacing(with other: Self, whereAbove key: Self, _ bound: Float) -> Self {
        replacing(with: other, where: key .> bound)
    }
    @inline(__always) var root: Self { squareRoot() }
    @inline(__always) var total: Float { quarters.quarterTotal }
    @inline(__always) var quarters: SIMD4<Float> {
        let eight = lowHalf + highHalf
        return eight.lowHalf + eight.highHalf
    }
}

/// The two precisions and their vector types.
protocol VectorScalar: IEFloat {
    associatedtype Vector: FloatVector where Vector.Scalar == Self
}
extension Double: VectorScalar { typealias Vector = SIMD8<Double> }
extension Float: VectorScalar { typealias Vector = SIMD16<Float> }

/// ρ, ρ′ and ∂ρ/∂shape across the lanes of a vector, the same formulas as the scalar `Rho`
/// (which the overflow limit and the rows that might overflow use).
protocol VectorRho {
    associatedtype V: FloatVector
    associatedtype ScalarRho: Rho where ScalarRho.T == V.Scalar
    var scalar: ScalarRho { get }
    func value(_ u: V) -> V
    func derivative(_ u: V) -> V
    /// c·ρ′(u); a kernel may form it without the product, to the same bits.
    func scaledDerivative(_ c: V, _ u: V) -> V
    /// Whether ρ′ selects a far-out form where |u|·`nearScale` is above 1/ulp (student_t). Rows
    /// whose bound on |u| keeps every lane below it take `nearDerivative`, without the selection:
    /// the same bits, since no lane would select.
    static var hasFarBranch: Bool { get }
    var nearScale: V.Scalar { get }
    func nearDerivative(_ u: V) -> V
    func shapeDerivative(_ u: V) -> V
    func adding(_ sum: V, _ u: V) -> V
    /// Whether `adding` sums 2ρ (one product fewer per element), the total then halved, which
    /// is exact; a total that overflowed is summed again from ρ.
    static var sumsTwice: Bool { get }
    /// ρ′(u), and ∂ρ/∂shape(u) when asked (0 otherwise); a kernel may share work between them.
    func derivatives(_ u: V, wantShape: Bool) -> (derivative: V, shape: V)
    /// Whether ρ(u) = base(u) + log(1 + t(u)) with t ≥ 0 (logistic, student_t), so that the
    /// sum over dimensions is Σ base + one logarithm of a product.
    static var hasLogForm: Bool { get }
    /// t(u) of the log form.
    func logTerm(_ u: V) -> V
    /// sum + base(u) (sum itself where base = 0).
    func addingBase(_ sum: V, _ u: V) -> V
    /// The t above which the product would lose digits (every t at most 1: infinity).
    var logTermLimit: V.Scalar { get }
    /// Whether the forward keeps a term t = `keptTerm(u)` from which the backward gets ρ′
    /// without its costly part (logistic, exponential: e^(∓|u|); pseudo_huber: 1/√(1 + w²)).
    /// ρ′ from a kept t and from a recomputed one are the same bits.
    static var keepsTerm: Bool { get }
    func keptTerm(_ u: V) -> V
    /// ρ(u) and t(u), sharing their work.
    func valueKeeping(_ u: V) -> (value: V, term: V)
    func derivative(_ u: V, kept t: V) -> V
}

extension VectorRho {
    @inline(__always) func shapeDerivative(_ u: V) -> V { V() }
    @inline(__always) func scaledDerivative(_ c: V, _ u: V) -> V { c * derivative(u) }
    static var hasFarBranch: Bool { false }
    @inline(__always) var nearScale: V.Scalar { 0 }
    @inline(__always) func nearDerivative(_ u: V) -> V { derivative(u) }
    /// sum + ρ(u); a kernel may fuse the last product into the addition.
    @inline(__always) func adding(_ sum: V, _ u: V) -> V { sum + value(u) }
    static var sumsTwice: Bool { false }
    @inline(__always) func derivatives(_ u: V, wantShape: Bool) -> (derivative: V, shape: V) {
        (derivative(u), wantShape ? shapeDerivative(u) : V())
    }
    static var hasLogForm: Bool { false }
    @inline(__always) func logTerm(_ u: V) -> V { V() }
    @inline(__always) func addingBase(_ sum: V, _ u: V) -> V { sum }
    @inline(__always) var logTermLimit: V.Scalar { .infinity }
    static var keepsTerm: Bool { false }
    @inline(__always) func keptTerm(_ u: V) -> V { V() }
    @inline(__always) func valueKeeping(_ u: V) -> (value: V, term: V) { (value(u), V()) }
    @inline(__always) func derivative(_ u: V, kept t: V) -> V { derivative(u) }
}

struct GaussianVectorRho<V: FloatVector>: VectorRho {
    var scalar: GaussianRho<V.Scalar> { GaussianRho() }
    @inline(__always) func value(_ u: V) -> V { u * u * 0.5 }
    @inline(__always) func derivative(_ u: V) -> V { u }
    @inline(__always) func adding(_ sum: V, _ u: V) -> V { sum.addingProduct(u, u) }
    static var sumsTwice: Bool { true }
}

struct LaplaceVectorRho<V: FloatVector>: VectorRho {
    var scalar: LaplaceRho<V.Scalar> { LaplaceRho() }
    @inline(__always) func value(_ u: V) -> V { u.absolute }
    @inline(__always) func derivative(_ u: V) -> V { u.sign }
    @inline(__always) func scaledDerivative(_ c: V, _ u: V) -> V { c.timesSign(of: u) }
}

struct HuberVectorRho<V: FloatVector>: VectorRho {
    let scalar: HuberRho<V.Scalar>
    @inline(__always) func value(_ u: V) -> V {
        let a = u.absolute, delta = scalar.delta
        return (u * u * 0.5).replacing(with: (a - delta / 2) * delta, whereAbove: a, delta)
    }
    @inline(__always) func derivative(_ u: V) -> V { u.clipped(scalar.delta) }
    @inline(__always) func shapeDerivative(_ u: V) -> V {
        let a = u.absolute
        return V().replacing(with: a - scalar.delta, whereAbove: a, scalar.delta)
    }
}

/// Far out (w = |u|/δ above 1/ulp) the lanes take the linear forms; the overflowing
/// intermediate values of the other branch are discarded by the selection. w = u·(1/δ) (u/δ
/// where 1/δ overflows, for a subnormal δ), and the backward shares one √(1 + w²) and one
/// division between ρ′ and ∂ρ/∂δ: the divider, not the adder, bounds this kernel.
struct PseudoHuberVectorRho<V: FloatVector>: VectorRho {
    let scalar: PseudoHuberRho<V.Scalar>
    let inverseDelta: V.Scalar
    let divides: Bool

    init(scalar: PseudoHuberRho<V.Scalar>) {
        self.scalar = scalar
        inverseDelta = 1 / scalar.delta
        divides = !inverseDelta.isFinite
    }

    /// w = u/δ.
    @inline(__always) func scaled(_ u: V) -> V { divides ? u / scalar.delta : u * inverseDelta }

    /// q = √(1 + w²) and r = 1/(q(q + 1)), for |u|: 1/q = (q + 1)·r and 1/(q + 1) = q·r with
    /// one division.
    @inline(__always) private func roots(_ a: V) -> (w: V, w2: V, q: V, r: V) {
        let w = scaled(a)
        let w2 = w * w
        let q = (1 + w2).root
        return (w, w2, q, 1 / (q * (q + 1)))
    }
    @inline(__always) func value(_ u: V) -> V { valueKeeping(u).value }
    /// ρ = |u|·(|u|·q·r) = u²/(q + 1) (no u² that could overflow before the division), and
    /// t = 1/q = (q + 1)·r, the backward's ρ′/u.
    static var keepsTerm: Bool { true }
    @inline(__always) func valueKeeping(_ u: V) -> (value: V, term: V) {
        let a = u.absolute, delta = scalar.delta
        let (w, _, q, r) = roots(a)
        let value = (a * ((a * q) * r)).replacing(with: (a - delta) * delta, whereAbove: w, largeArgument(V.Scalar.self))
        return (value, (q + 1) * r)
    }
    @inline(__always) func keptTerm(_ u: V) -> V {
        let (_, _, q, r) = roots(u.absolute)
        return (q + 1) * r
    }
    @inline(__always) func derivative(_ u: V) -> V { derivative(u, kept: keptTerm(u)) }
    @inline(__always) func derivative(_ u: V, kept t: V) -> V {
        // ±δ by u's sign bit: only selected far out, where u ≠ 0, so the same as sign(u)·δ.
        (u * t).replacing(with: V(repeating: scalar.delta).withSign(of: u), whereAbove: scaled(u.absolute),
                          largeArgument(V.Scalar.self))
    }
    @inline(__always) func shapeDerivative(_ u: V) -> V { derivatives(u, wantShape: true).shape }
    @inline(__always) func derivatives(_ u: V, wantShape: Bool) -> (derivative: V, shape: V) {
        if !wantShape { return (derivative(u), V()) }
        let a = u.absolute, delta = scalar.delta, large = largeArgument(V.Scalar.self)
        let (w, w2, q, r) = roots(a)
        let derivative = (u * ((q + 1) * r)).replacing(with: V(repeating: delta).withSign(of: u), whereAbove: w, large)
        let shape = (delta * (w2 * r) * (w2 * (q * r))).replacing(with: a - 2 * delta, whereAbove: w, large)
        return (derivative, shape)
    }
}

/// Which backward loop: ρ′ from the forward's kept terms, ρ′ and ∂ρ/∂shape, ρ′ alone, or ρ′
/// alone without a far-out branch no lane takes.
protocol BackwardVariant {
    static var usesKept: Bool { get }
    static var wantShape: Bool { get }
    static var near: Bool { get }
}
extension BackwardVariant {
    static var usesKept: Bool { false }
    static var wantShape: Bool { false }
    static var near: Bool { false }
}
enum KeptBackward: BackwardVariant { static var usesKept: Bool { true } }
enum ShapeBackward: BackwardVariant { static var wantShape: Bool { true } }
enum PlainBackward: BackwardVariant {}
enum NearBackward: BackwardVariant { static var near: Bool { true } }

#if arch(x86_64) && IE_WIDE_VECTORS
/// Whether the backward may take rows four at a time: with 32 vector registers (the AVX-512
/// copy) a group's values stay in registers; with 16 they spill, and pairs run faster.
let fourRowGroups = true
#else
let fourRowGroups = false
#endif

/// Kernels 1–7 vectorised across components: lane j of a vector is component j, so a row's
/// energies come out whole, with no sums across lanes. Each partition keeps the centres and
/// 1/s transposed to D×Kp (Kp: K rounded up to whole vectors; the padding lanes have centre 0
/// and 1/s = 0, so u = 0 there, and their energies and coefficients are never used) and sums
/// Σ_n c·ρ′(u) and Σ_n c·ρ′(u)·u in the same layout, folded into the K×D gradients by
/// `finish` (∂d/∂mu = −ρ′/s, ∂d/∂s = −ρ′·u/s: the 1/s factor is applied once per partition).
/// Rows go through the loops in groups, so that each load of the parameters and of the sums
/// serves several rows: the energies of the next row are computed with this row's, and a row's
/// backward waits for the group's other rows (or for `finish`): four rows, or two where the
/// backward reads the terms kept by the energies' pair. Only built when every 1/s is finite.
struct VectorSeparableModel<VR: VectorRho>: EnergyModel {
    typealias V = VR.V
    typealias T = V.Scalar
    let rho: VR
    let scalar: SeparableModel<VR.ScalarRho>
    let x: UnsafePointer<T>
    let d: Int, k: Int
    /// The partition's rows: a pair never reaches past its end.
    let rows: Range<Int>
    /// Components rounded up to whole vectors, and the number of vectors.
    let padded: Int, chunks: Int
    let muT: UnsafeMutablePointer<T>, inverseT: UnsafeMutablePointer<T>
    let pullSums: UnsafeMutablePointer<T>, pullUSums: UnsafeMutablePointer<T>
    /// A backward group's rows of coefficients (`groupRows` used of four) and two rows of
    /// energies (Kp each).
    let coefficientRows: UnsafeMutablePointer<T>, energyPair: UnsafeMutablePointer<T>
    let shapeSum: UnsafeMutablePointer<T>
    /// Per dimension, max_k |mu_ki| and max_k 1/s_ki: a bound on |u| that each row checks.
    let muReach: UnsafeMutablePointer<T>, inverseReach: UnsafeMutablePointer<T>
    /// Where the gx of a row that wants none goes.
    let unusedGx: UnsafeMutablePointer<T>
    /// The pairing state, as Ints (see `State`).
    let state: UnsafeMutableRawPointer
    /// The backward's Σ_k c·ρ′/s per dimension of each row of the group, as quarters (D×4 each).
    let quarterSums: UnsafeMutablePointer<T>
    /// The e of both rows of the energy pair (D×Kp each), where the kernel shares one.
    let shared: UnsafeMutablePointer<T>
    /// The largest |u| at which ρ′ is finite: e^|u| overflows beyond log(greatest finite).
    let derivativeLimit: T

    /// `pending` rows wait for their backward group: their rows at `pendingRow` + j and their gx
    /// at `pendingGx` + j; `pendingNear`: whether all of them may take the near loop.
    private enum State: Int {
        case energyRow = 0, energyCount, pending, pendingNear, pendingRow, pendingGx = 7
        static var slots: Int { 10 }
    }
    @inline(__always) private func get(_ slot: State, at j: Int = 0) -> Int {
        state.loadUnaligned(fromByteOffset: (slot.rawValue &+ j) * MemoryLayout<Int>.size, as: Int.self)
    }
    @inline(__always) private func set(_ slot: State, _ value: Int, at j: Int = 0) {
        state.storeBytes(of: value, toByteOffset: (slot.rawValue &+ j) * MemoryLayout<Int>.size, as: Int.self)
    }

    /// Rows per backward group: each step of its loop loads the parameters and the sums once for
    /// all of them. Two where the backward reads the kept terms, which the energies keep for a
    /// pair of rows, and where four rows' values would not fit in the registers.
    static var groupRows: Int { !VR.keepsTerm && fourRowGroups ? 4 : 2 }

    static func padded(_ k: Int) -> Int {
        let lanes = V.scalarCount
        return (k + lanes - 1) / lanes * lanes
    }

    /// One D×Kp plane, plus a gap that keeps the planes from lying a multiple of 4 KiB apart
    /// (loads from one plane would then wait on stores to another: 4K aliasing).
    static func planeSize(d: Int, k: Int) throws -> Int {
        let (size, overflow) = try checkedProduct(max(d, 1), padded(k), "the component lanes")
            .addingReportingOverflow(3 * V.scalarCount)
        if overflow { throw ImplicitEMError(.badSize, "the component lanes' size overflows") }
        return size
    }

    static var stateValues: Int {
        (State.slots * MemoryLayout<Int>.size + MemoryLayout<T>.size - 1) / MemoryLayout<T>.size
    }

    /// The per-partition scratch this model needs, in values of T (with the kept e of a
    /// kernel that shares them).
    static func scratchSize(d: Int, k: Int, sharing: Bool) throws -> Int {
        let plane = try planeSize(d: d, k: k)
        let (size, overflow) = try checkedProduct(sharing ? 6 : 4, plane, "the component lanes")
            .addingReportingOverflow(6 * padded(k) + V.scalarCount + 19 * max(d, 1) + stateValues)
        if overflow { throw ImplicitEMError(.badSize, "the component lanes' size overflows") }
        return size
    }

    init?(_ rho: VR, _ setup: Setup<T>, rows: Range<Int>, lanes: UnsafeMutablePointer<T>?) {
        guard let lanes, let inverse = setup.inverseScale, let scalar = SeparableModel(rho.scalar, setup),
              let x = setup.x, let mu = setup.mu else { return nil }
        self.rho = rho
        self.scalar = scalar
        self.x = x
        self.rows = rows
        d = setup.d; k = setup.k
        padded = Self.padded(k)
        chunks = padded / V.scalarCount
        let plane = max(d, 1) * padded + 3 * V.scalarCount
        muT = lanes; inverseT = lanes + plane; pullSums = lanes + 2 * plane; pullUSums = lanes + 3 * plane
        coefficientRows = lanes + 4 * plane; energyPair = coefficientRows + 4 * padded
        shapeSum = energyPair + 2 * padded
        muReach = shapeSum + V.scalarCount; inverseReach = muReach + max(d, 1); unusedGx = inverseReach + max(d, 1)
        state = UnsafeMutableRawPointer(unusedGx + max(d, 1))
        quarterSums = unusedGx + max(d, 1) + Self.stateValues
        shared = quarterSums + 16 * max(d, 1)
        derivativeLimit = VR.ScalarRho.self == ExponentialRho<T>.self
            ? T.log(T.greatestFiniteMagnitude) : T.greatestFiniteMagnitude
        // Transpose the parameters; zero the padding lanes, the sums and the sinks (the pass
        // hands over the lanes uninitialised). The padding lanes lie in each row's last vector,
        // zeroed before the transpose fills its other lanes; the gaps after the planes are never
        // read, and the kept terms (`shared`) are written before read: zeroing only the rest
        // keeps a small problem's set-up short.
        let scaleK = setup.scaleK, scaleI = setup.scaleI, padded = self.padded
        let lastVector = padded &- V.scalarCount
        for i in 0 ..< d {
            V().store(to: muT + (i &* padded &+ lastVector))
            V().store(to: inverseT + (i &* padded &+ lastVector))
        }
        pullSums.initialize(repeating: 0, count: shared - pullSums)
        for kk in 0 ..< k {
            let mr = mu + kk &* d, fr = inverse + kk &* scaleK
            for i in 0 ..< d {
                muT[i &* padded &+ kk] = mr[i]
                inverseT[i &* padded &+ kk] = fr[i &* scaleI]
            }
        }
        for i in 0 ..< d {
            var muMax: T = 0, inverseMax: T = 0
            for kk in 0 ..< k {
                muMax = max(muMax, abs(muT[i &* padded &+ kk]))
                inverseMax = max(inverseMax, inverseT[i &* padded &+ kk])
            }
            muReach[i] = muMax
            inverseReach[i] = inverseMax
        }
        set(.energyRow, -1)
        set(.energyCount, 0)
        set(.pending, 0)
    }

    /// The distance between the two rows' kept terms.
    @inline(__always) private var sharedPlane: Int { d &* padded }

    /// The energies of rows a and b (b may be a) into `energyPair`.
    @inline(__always)
    private func energyPairs(_ a: Int, _ b: Int) {
        let xa = x + a * d, xb = x + b * d, lanes = V.scalarCount
        // With sumsTwice, the sums of each row's energies: not finite where a total overflowed.
        var reachA = V(), reachB = V()
        let tracksFar = VR.hasLogForm && (logTermsMayPassLimit(xa) || logTermsMayPassLimit(xb))
        for c in 0 ..< chunks {
            // Which rows' energies this chunk sums from ρ: each row decides for itself, so that
            // its energies never depend on its pair.
            var plainA = true, plainB = true
            if VR.hasLogForm {
                // Literal flags, so that each copy of the loop is compiled without the test.
                let product = tracksFar ? productEnergies(xa, xb, chunk: c, tracksFar: true)
                    : productEnergies(xa, xb, chunk: c, tracksFar: false)
                if product.a && product.b { continue }
                plainA = !product.a
                plainB = !product.b
            }
            var accA = V(), accB = V()
            var at = c &* lanes
            for i in 0 ..< d {
                let m = V(loading: muT + at), f = V(loading: inverseT + at)
                let ua = (V(repeating: xa[i]) - m) * f, ub = (V(repeating: xb[i]) - m) * f
                if VR.keepsTerm {
                    let a = rho.valueKeeping(ua), b = rho.valueKeeping(ub)
                    a.term.store(to: shared + at)
                    b.term.store(to: shared + sharedPlane + at)
                    accA += a.value
                    accB += b.value
                } else {
                    accA = rho.adding(accA, ua)
                    accB = rho.adding(accB, ub)
                }
                at &+= padded
            }
            if VR.sumsTwice {
                accA *= 0.5
                accB *= 0.5
                reachA += accA
                reachB += accB
            }
            if plainA { accA.store(to: energyPair + c &* lanes) }
            if plainB { accB.store(to: energyPair + padded + c &* lanes) }
        }
        if VR.sumsTwice {
            // Each row on its own, so that a row's energies never depend on its pair.
            if !reachA.total.isFinite { energiesOfValues(xa, into: energyPair) }
            if !reachB.total.isFinite { energiesOfValues(xb, into: energyPair + padded) }
        }
    }

    /// One row's energies as plain sums of ρ, for the rows whose doubled sums overflowed.
    private func energiesOfValues(_ xr: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
        let lanes = V.scalarCount
        for c in 0 ..< chunks {
            var acc = V()
            var at = c &* lanes
            for i in 0 ..< d {
                acc += rho.value((V(repeating: xr[i]) - V(loading: muT + at)) * V(loading: inverseT + at))
                at &+= padded
            }
            acc.store(to: out + c &* lanes)
        }
    }

    /// d = Σ_i base(u_i) + Σ_i log(1 + t_i) with the second sum as one log1p of
    /// q = Π_i (1 + t_i) − 1, carried as q ← (q + t) + q·t so that small t keep their digits;
    /// one product per block of dimensions short enough that a product of t ≤ 1 stays finite.
    /// Per row, false (that row's energies not stored) when one of its t is above the limit or
    /// its product is not finite: the caller then sums ρ for that row. Without `tracksFar` no t
    /// is compared with the limit: the caller has shown that none can pass it.
    @inline(__always)
    private func productEnergies(_ xa: UnsafePointer<T>, _ xb: UnsafePointer<T>,
                                 chunk c: Int, tracksFar: Bool) -> (a: Bool, b: Bool) {
        let lanes = V.scalarCount
        let limit = rho.logTermLimit
        let block = T.self == Double.self ? 1000 : 100  // 2^block below the greatest finite
        var baseA = V(), baseB = V(), logA = V(), logB = V()
        var productA = true, productB = true
        var start = 0
        while start < d {
            let end = min(start &+ block, d)
            var qa = V(), qb = V(), farA = V(), farB = V()
            var at = start &* padded &+ c &* lanes
            for i in start ..< end {
                let m = V(loading: muT + at), f = V(loading: inverseT + at)
                let ua = (V(repeating: xa[i]) - m) * f, ub = (V(repeating: xb[i]) - m) * f
                let ta = rho.logTerm(ua), tb = rho.logTerm(ub)
                if VR.keepsTerm {
                    ta.store(to: shared + at)
                    tb.store(to: shared + sharedPlane + at)
                }
                qa = (qa + ta).addingProduct(qa, ta)
                qb = (qb + tb).addingProduct(qb, tb)
                baseA = rho.addingBase(baseA, ua)
                baseB = rho.addingBase(baseB, ub)
                if tracksFar {
                    farA = farA.replacing(with: V(repeating: 1), whereAbove: ta, limit)
                    farB = farB.replacing(with: V(repeating: 1), whereAbove: tb, limit)
                }
                at &+= padded
            }
            productA = productA && farA.total == 0 && qa.total.isFinite
            productB = productB && farB.total == 0 && qb.total.isFinite
            if !productA && !productB { return (false, false) }
            logA += VectorMath.log1p(qa)
            logB += VectorMath.log1p(qb)
            start = end
        }
        if productA { (baseA + logA).store(to: energyPair + c &* lanes) }
        if productB { (baseB + logB).store(to: energyPair + padded + c &* lanes) }
        return (productA, productB)
    }

    /// Whether some t of the row's log form may be above its limit: t of the bound on |u| (the
    /// one `backward` checks) is at least every lane's t, rounding being monotonic. True for a
    /// bound that is not a number.
    private func logTermsMayPassLimit(_ xr: UnsafePointer<T>) -> Bool {
        let limit = rho.logTermLimit, lanes = V.scalarCount
        guard limit < .infinity else { return false }
        var far = V()
        var i = 0
        while i &+ lanes <= d {
            let b = (V(loading: xr + i).absolute + V(loading: muReach + i)) * V(loading: inverseReach + i)
            far = far.replacing(with: V(repeating: 1), whereAbove: rho.logTerm(b), limit) + (b - b)
            i &+= lanes
        }
        if far.total != 0 { return true }
        while i < d {
            let b = (abs(xr[i]) + muReach[i]) * inverseReach[i]
            if !(rho.logTerm(V(repeating: b))[0] <= limit) { return true }
            i &+= 1
        }
        return false
    }

    /// Row n's energies in `energyPair`, computed with the next row's when n is not the second
    /// row of the last pair.
    @inline(__always)
    private func pairedEnergies(row n: Int) -> UnsafePointer<T> {
        let first = get(.energyRow)
        if first >= 0 && n == first + 1 && get(.energyCount) == 2 { return UnsafePointer(energyPair + padded) }
        let next = n + 1 < rows.upperBound ? n + 1 : n
        energyPairs(n, next)
        set(.energyRow, n)
        set(.energyCount, next == n ? 1 : 2)
        return UnsafePointer(energyPair)
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        out.update(from: pairedEnergies(row: n), count: k)
    }

    /// The row pass reads the energies where the pair left them, without a copy; they stay
    /// there until the row after next.
    @inline(__always)
    func givenEnergies(row n: Int) -> UnsafePointer<T>? { pairedEnergies(row: n) }

    func logEnergy(row n: Int, component kk: Int, scratch: RowScratch<T>) -> T {
        scalar.logEnergy(row: n, component: kk, scratch: scratch)
    }

    /// The terms the forward kept for rows a and b, when both are rows of the last energy pair (a
    /// row whose backward took the scalar loop breaks the pairs); recomputed otherwise, to
    /// the same bits.
    @inline(__always)
    private func kept(_ a: Int, _ b: Int) -> (a: UnsafePointer<T>, b: UnsafePointer<T>)? {
        let first = get(.energyRow), count = get(.energyCount)
        guard first >= 0 else { return nil }
        func slot(_ row: Int) -> UnsafePointer<T>? {
            if row == first { return UnsafePointer(shared) }
            if count == 2 && row == first + 1 { return UnsafePointer(shared + sharedPlane) }
            return nil
        }
        guard let ka = slot(a), let kb = slot(b) else { return nil }
        return (ka, kb)
    }

    /// For rows a and b (coefficients in `coefficientRows`): adds c·ρ′(u) and c·ρ′(u)·u to the
    /// sums and Σ_k c·ρ′(u)/s to ga and gb. The variant is a type, so that each copy of the loop
    /// is compiled without its tests (as a runtime flag it stayed in the loop, and the shape
    /// branch's live values spilled the accumulators).
    @inline(__always)
    private func backwardPair<Variant: BackwardVariant>(_ a: Int, _ b: Int, _ ga: UnsafeMutablePointer<T>,
                                                        _ gb: UnsafeMutablePointer<T>, _: Variant.Type,
                                                        kept: (a: UnsafePointer<T>, b: UnsafePointer<T>)? = nil) {
        let xa = x + a * d, xb = x + b * d, lanes = V.scalarCount
        let coefA = coefficientRows, coefB = coefficientRows + padded
        let quarterSumsA = UnsafeMutableRawPointer(quarterSums), quarterSumsB = UnsafeMutableRawPointer(quarterSums + 4 * d)
        let quarter = MemoryLayout<SIMD4<T>>.size
        let useKept = VR.keepsTerm && Variant.usesKept
        // Only read with useKept, when the caller passed them.
        let keptA = kept?.a ?? UnsafePointer(shared), keptB = kept?.b ?? UnsafePointer(shared)
        var shapeAcc = V()
        var at = 0
        for i in 0 ..< d {
            let xai = V(repeating: xa[i]), xbi = V(repeating: xb[i])
            var gxa = V(), gxb = V()
            for c in 0 ..< chunks {
                let f = V(loading: inverseT + at), m = V(loading: muT + at)
                let ua = (xai - m) * f, ub = (xbi - m) * f
                let ca = V(loading: coefA + c &* lanes), cb = V(loading: coefB + c &* lanes)
                let pa: V, pb: V
                if useKept {
                    pa = ca * rho.derivative(ua, kept: V(loading: keptA + at))
                    pb = cb * rho.derivative(ub, kept: V(loading: keptB + at))
                } else if Variant.wantShape {
                    let da = rho.derivatives(ua, wantShape: true), db = rho.derivatives(ub, wantShape: true)
                    pa = ca * da.derivative
                    pb = cb * db.derivative
                    shapeAcc += ca * da.shape + cb * db.shape
                } else if VR.hasFarBranch && Variant.near {
                    pa = ca * rho.nearDerivative(ua)
                    pb = cb * rho.nearDerivative(ub)
                } else {
                    pa = rho.scaledDerivative(ca, ua)
                    pb = rho.scaledDerivative(cb, ub)
                }
                (V(loading: pullSums + at) + (pa + pb)).store(to: pullSums + at)
                V(loading: pullUSums + at).addingProduct(pa, ua).addingProduct(pb, ub).store(to: pullUSums + at)
                gxa = gxa.addingProduct(pa, f)
                gxb = gxb.addingProduct(pb, f)
                at &+= lanes
            }
            quarterSumsA.storeBytes(of: gxa.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
            quarterSumsB.storeBytes(of: gxb.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
        }
        addTotals(quarterSumsA, to: ga)
        addTotals(quarterSumsB, to: gb)
        if Variant.wantShape { shapeSum[0] += shapeAcc.total }
    }

    /// `backwardPair` for the four rows r (coefficients in `coefficientRows`), without kept terms.
    @inline(__always)
    private func backwardQuad<Variant: BackwardVariant>(_ r: SIMD4<Int>, _ g: UnsafePointer<UnsafeMutablePointer<T>>,
                                                        _: Variant.Type) {
        let xa = x + r[0] * d, xb = x + r[1] * d, xc = x + r[2] * d, xd = x + r[3] * d, lanes = V.scalarCount
        let coefA = coefficientRows, coefB = coefA + padded, coefC = coefB + padded, coefD = coefC + padded
        let quarterSumsA = UnsafeMutableRawPointer(quarterSums), quarterSumsB = quarterSumsA + 4 * d * MemoryLayout<T>.size
        let quarterSumsC = quarterSumsB + 4 * d * MemoryLayout<T>.size
        let quarterSumsD = quarterSumsC + 4 * d * MemoryLayout<T>.size
        let quarter = MemoryLayout<SIMD4<T>>.size
        var shapeAcc = V()
        var at = 0
        for i in 0 ..< d {
            let xai = V(repeating: xa[i]), xbi = V(repeating: xb[i])
            let xci = V(repeating: xc[i]), xdi = V(repeating: xd[i])
            var gxa = V(), gxb = V(), gxc = V(), gxd = V()
            for c in 0 ..< chunks {
                let f = V(loading: inverseT + at), m = V(loading: muT + at)
                let ua = (xai - m) * f, ub = (xbi - m) * f, uc = (xci - m) * f, ud = (xdi - m) * f
                let j = c &* lanes
                let ca = V(loading: coefA + j), cb = V(loading: coefB + j)
                let cc = V(loading: coefC + j), cd = V(loading: coefD + j)
                let pa: V, pb: V, pc: V, pd: V
                if Variant.wantShape {
                    let da = rho.derivatives(ua, wantShape: true), db = rho.derivatives(ub, wantShape: true)
                    let dc = rho.derivatives(uc, wantShape: true), dd = rho.derivatives(ud, wantShape: true)
                    pa = ca * da.derivative
                    pb = cb * db.derivative
                    pc = cc * dc.derivative
                    pd = cd * dd.derivative
                    shapeAcc += (ca * da.shape + cb * db.shape) + (cc * dc.shape + cd * dd.shape)
                } else if VR.hasFarBranch && Variant.near {
                    pa = ca * rho.nearDerivative(ua)
                    pb = cb * rho.nearDerivative(ub)
                    pc = cc * rho.nearDerivative(uc)
                    pd = cd * rho.nearDerivative(ud)
                } else {
                    pa = rho.scaledDerivative(ca, ua)
                    pb = rho.scaledDerivative(cb, ub)
                    pc = rho.scaledDerivative(cc, uc)
                    pd = rho.scaledDerivative(cd, ud)
                }
                (V(loading: pullSums + at) + ((pa + pb) + (pc + pd))).store(to: pullSums + at)
                V(loading: pullUSums + at).addingProduct(pa, ua).addingProduct(pb, ub)
                    .addingProduct(pc, uc).addingProduct(pd, ud).store(to: pullUSums + at)
                gxa = gxa.addingProduct(pa, f)
                gxb = gxb.addingProduct(pb, f)
                gxc = gxc.addingProduct(pc, f)
                gxd = gxd.addingProduct(pd, f)
                at &+= lanes
            }
            quarterSumsA.storeBytes(of: gxa.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
            quarterSumsB.storeBytes(of: gxb.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
            quarterSumsC.storeBytes(of: gxc.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
            quarterSumsD.storeBytes(of: gxd.quarters, toByteOffset: i &* quarter, as: SIMD4<T>.self)
        }
        addTotals(quarterSumsA, to: g[0])
        addTotals(quarterSumsB, to: g[1])
        addTotals(quarterSumsC, to: g[2])
        addTotals(quarterSumsD, to: g[3])
        if Variant.wantShape { shapeSum[0] += shapeAcc.total }
    }

    /// g[i] += the total of quarters[i], four dimensions at a time.
    @inline(__always)
    private func addTotals(_ quarters: UnsafeMutableRawPointer, to g: UnsafeMutablePointer<T>) {
        let raw = UnsafeMutableRawPointer(g), size = MemoryLayout<SIMD4<T>>.size
        func quarter(_ i: Int) -> SIMD4<T> { quarters.loadUnaligned(fromByteOffset: i &* size, as: SIMD4<T>.self) }
        var i = 0
        while i &+ 4 <= d {
            let sums = quarterTotals(quarter(i), quarter(i &+ 1), quarter(i &+ 2), quarter(i &+ 3))
            let at = i &* MemoryLayout<T>.stride
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: at, as: SIMD4<T>.self) + sums, toByteOffset: at,
                           as: SIMD4<T>.self)
            i &+= 4
        }
        while i < d {
            g[i] += quarter(i).quarterTotal
            i &+= 1
        }
    }

    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        // A coefficient that overflowed (tiny τ), or a row far enough out that some u or ρ′(u) may
        // overflow, needs the scalar loop, which skips zero terms so that 0·∞ never appears.
        // Counted without branches, so that the loops vectorise.
        let xr = x + n * d, lanes = V.scalarCount
        // The coefficients go to this row's slot of the group as they are checked; a row that
        // takes the scalar loop leaves the slot to the next.
        let pending = get(.pending)
        var outside = copyChecking(coefficient, to: coefficientRows + pending &* padded) ? 0 : 1
        // Lanes above the limit count 1, NaN or ∞ lanes make the total NaN (b − b). With a far-out
        // branch, whether some lane's |u|·nearScale (at most b·nearScale, rounding being
        // monotonic) may be above 1/ulp.
        var far = V(), farOut = V()
        let large = largeArgument(T.self), nearScale = rho.nearScale
        var i = 0
        while i &+ lanes <= d {
            let b = (V(loading: xr + i).absolute + V(loading: muReach + i)) * V(loading: inverseReach + i)
            far = far.replacing(with: V(repeating: 1), whereAbove: b, derivativeLimit) + (b - b)
            if VR.hasFarBranch { farOut = farOut.replacing(with: V(repeating: 1), whereAbove: b * nearScale, large) }
            i &+= lanes
        }
        if far.total != 0 { outside = 1 }
        var near = !VR.hasFarBranch || farOut.total == 0
        while i < d {
            let b = (abs(xr[i]) + muReach[i]) * inverseReach[i]
            outside |= b <= derivativeLimit ? 0 : 1
            if VR.hasFarBranch { near = near && b * nearScale <= large }
            i &+= 1
        }
        if outside != 0 || grads.mu == nil || grads.scale == nil {
            return scalar.backward(row: n, coefficient: coefficient, scratch: scratch, gx: gx, grads: grads)
        }
        let target = gx ?? unusedGx
        let allNear = near && (pending == 0 || get(.pendingNear) != 0)
        if pending &+ 1 < Self.groupRows {
            set(.pendingRow, n, at: pending)
            set(.pendingGx, Int(bitPattern: target), at: pending)
            set(.pending, pending &+ 1)
            set(.pendingNear, allNear ? 1 : 0)
            return
        }
        set(.pending, 0)
        if Self.groupRows == 4 {
            return backwardGroup(lastRow: n, lastGx: target, shape: grads.shape != nil, near: allNear)
        }
        let first = get(.pendingRow)
        let firstGx = UnsafeMutablePointer<T>(bitPattern: get(.pendingGx)) ?? unusedGx
        // Literal flags, so that each copy of the loop is compiled without the test. The kept
        // terms give ρ′ only: a shape gradient takes the loop that recomputes.
        if VR.keepsTerm, grads.shape == nil, let kept = kept(first, n) {
            backwardPair(first, n, firstGx, target, KeptBackward.self, kept: kept)
        } else if grads.shape != nil {
            backwardPair(first, n, firstGx, target, ShapeBackward.self)
        } else if VR.hasFarBranch && allNear {
            backwardPair(first, n, firstGx, target, NearBackward.self)
        } else {
            backwardPair(first, n, firstGx, target, PlainBackward.self)
        }
    }

    /// The four-row backward of the pending rows and the last one (its coefficients in the last
    /// slot), by literal flags as in `backward`.
    @inline(__always)
    private func backwardGroup(lastRow: Int, lastGx: UnsafeMutablePointer<T>, shape: Bool, near: Bool) {
        let r = SIMD4(get(.pendingRow), get(.pendingRow, at: 1), get(.pendingRow, at: 2), lastRow)
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<T>.self, capacity: 4) { g in
            for j in 0 ..< 3 { g[j] = UnsafeMutablePointer<T>(bitPattern: get(.pendingGx, at: j)) ?? unusedGx }
            g[3] = lastGx
            let targets = UnsafePointer(g.baseAddress!)
            if shape {
                backwardQuad(r, targets, ShapeBackward.self)
            } else if VR.hasFarBranch && near {
                backwardQuad(r, targets, NearBackward.self)
            } else {
                backwardQuad(r, targets, PlainBackward.self)
            }
        }
    }

    /// Copies the K coefficients; whether all are finite (c − c is NaN for ±∞ and NaN).
    @inline(__always)
    private func copyChecking(_ from: UnsafePointer<T>, to: UnsafeMutablePointer<T>) -> Bool {
        let lanes = V.scalarCount
        var check = V()
        var j = 0
        while j &+ lanes <= k {
            let c = V(loading: from + j)
            c.store(to: to + j)
            check += c - c
            j &+= lanes
        }
        var finite = check.total == 0
        while j < k {
            to[j] = from[j]
            finite = finite && from[j].isFinite
            j &+= 1
        }
        return finite
    }

    /// Runs the rows still waiting for their group (the group filled with the first of them at
    /// coefficient 0, which adds exact zeros), then adds this partition's sums to its K×D
    /// gradient accumulators.
    func finish(_ grads: ParameterGradients<T>, scaleK: Int, scaleI: Int) {
        let pending = get(.pending)
        if pending != 0 {
            let row = get(.pendingRow)
            let rowGx = UnsafeMutablePointer<T>(bitPattern: get(.pendingGx)) ?? unusedGx
            (coefficientRows + pending &* padded).initialize(repeating: 0, count: (Self.groupRows &- pending) &* padded)
            set(.pending, 0)
            if Self.groupRows == 4 {
                for j in pending ..< 3 {
                    set(.pendingRow, row, at: j)
                    set(.pendingGx, Int(bitPattern: unusedGx), at: j)
                }
                backwardGroup(lastRow: row, lastGx: unusedGx, shape: grads.shape != nil, near: false)
            } else if grads.shape != nil {
                backwardPair(row, row, rowGx, unusedGx, ShapeBackward.self)
            } else {
                backwardPair(row, row, rowGx, unusedGx, PlainBackward.self)
            }
        }
        if let gMu = grads.mu {
            for kk in 0 ..< k {
                let row = gMu + kk &* d
                for i in 0 ..< d { row[i] -= inverseT[i &* padded &+ kk] * pullSums[i &* padded &+ kk] }
            }
        }
        if let gScale = grads.scale {
            for kk in 0 ..< k {
                let row = gScale + kk &* scaleK
                for i in 0 ..< d { row[i &* scaleI] -= inverseT[i &* padded &+ kk] * pullUSums[i &* padded &+ kk] }
            }
        }
        if let gShape = grads.shape { gShape[0] += shapeSum[0] }
    }
}

/// Runs one partition's rows through the vectorised model of the setup's kernel; false when
/// the kernel or the scales have none (the caller then runs the scalar model).
func passRowsVectorized<T: IEFloat>(_ s: Setup<T>, _ t: PassTargets<T>, _ layout: AccumulatorLayout,
                                    _ rows: Range<Int>, _ scratch: RowScratch<T>,
                                    _ acc: UnsafeMutablePointer<T>) -> Bool {
    // The casts are identities: T is the precision named.
    if T.self == Double.self {
        return passRowsVectorized(s as! Setup<Double>, t as! PassTargets<Double>, layout, rows,
                                  scratch as! RowScratch<Double>,
                                  UnsafeMutableRawPointer(acc).assumingMemoryBound(to: Double.self))
    }
    if T.self == Float.self {
        return passRowsVectorized(s as! Setup<Float>, t as! PassTargets<Float>, layout, rows,
                                  scratch as! RowScratch<Float>,
                                  UnsafeMutableRawPointer(acc).assumingMemoryBound(to: Float.self))
    }
    return false
}

@inline(__always)
private func passRowsVectorized<F: VectorScalar>(_ s: Setup<F>, _ t: PassTargets<F>, _ layout: AccumulatorLayout,
                                                 _ rows: Range<Int>, _ scratch: RowScratch<F>,
                                                 _ acc: UnsafeMutablePointer<F>) -> Bool {
    typealias V = F.Vector
    func run<VR: VectorRho>(_ rho: VR) -> Bool where VR.V == V {
        guard let model = VectorSeparableModel(rho, s, rows: rows, lanes: scratch.lanes) else { return false }
        passRows(model, s, t, layout, rows, scratch, acc)
        if t.backward {
            model.finish(ParameterGradients(mu: t.needMu ? acc + layout.mu : nil,
                                            scale: t.needScale ? acc + layout.scale : nil,
                                            shape: t.needShape ? acc + layout.shape : nil, chol: nil),
                         scaleK: s.scaleK, scaleI: s.scaleI)
        }
        return true
    }
    switch s.kernel {
    case .gaussian: return run(GaussianVectorRho<V>())
    case .laplace: return run(LaplaceVectorRho<V>())
    case .logistic: return run(LogisticVectorRho<V>())
    case .studentT: return run(StudentTVectorRho<V>(scalar: StudentTRho(nu: s.nu)))
    case .huber: return run(HuberVectorRho<V>(scalar: HuberRho(delta: s.delta)))
    case .pseudoHuber: return run(PseudoHuberVectorRho<V>(scalar: PseudoHuberRho(delta: s.delta)))
    case .exponential: return run(ExponentialVectorRho<V>())
    default: return false
    }
}

/// The per-partition scratch, in values of T, the vector model needs beyond the row scratch.
func vectorScratchSize<T: IEFloat>(_ s: Setup<T>) throws -> Int {
    guard s.kernel.isSeparable, s.x != nil else { return 0 }
    let sharing = s.kernel == .logistic || s.kernel == .exponential || s.kernel == .pseudoHuber
    if T.self == Double.self {
        return try VectorSeparableModel<GaussianVectorRho<SIMD8<Double>>>.scratchSize(d: s.d, k: s.k, sharing: sharing)
    }
    if T.self == Float.self {
        return try VectorSeparableModel<GaussianVectorRho<SIMD16<Float>>>.scratchSize(d: s.d, k: s.k, sharing: sharing)
    }
    return 0
}
