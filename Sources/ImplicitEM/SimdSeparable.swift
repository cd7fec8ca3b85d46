// Vectorised separable kernels: the energies and gradients of one row computed across D in
// SIMD chunks (8 doubles or 16 floats), with a scalar tail. The row pass (Rows.swift) is
// unchanged; only the model differs. Generic SIMD comparisons compile lane by lane, so every
// operation that needs a mask lives in `FloatVector`, written for the two concrete vector types.

/// The vector operations the kernels need beyond +, −, ×, ÷ (which compile to vector
/// instructions even in generic code).
protocol FloatVector: SIMD where Scalar: IEFloat {
    init(loading p: UnsafePointer<Scalar>)
    func store(to p: UnsafeMutablePointer<Scalar>)
    /// |v| per lane.
    var absolute: Self { get }
    /// sign(v) per lane, 0 at 0.
    var sign: Self { get }
    /// v clipped to [−bound, bound].
    func clipped(_ bound: Scalar) -> Self
    /// Lanes of `other` where key > bound, else lanes of self.
    func replacing(with other: Self, whereAbove key: Self, _ bound: Scalar) -> Self
    /// √v per lane.
    var root: Self { get }
}

extension SIMD8: FloatVector where Scalar == Double {
    @inline(__always) init(loading p: UnsafePointer<Double>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Double>.self)
    }
    @inline(__always) func store(to p: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Double>.self)
    }
    @inline(__always) var absolute: Self { replacing(with: -self, where: self .< 0) }
    @inline(__always) var sign: Self {
        Self(repeating: 0).replacing(with: 1, where: self .> 0).replacing(with: -1, where: self .< 0)
    }
    @inline(__always) func clipped(_ bound: Double) -> Self {
        replacing(with: bound, where: self .> bound).replacing(with: -bound, where: self .< -bound)
    }
    @inline(__always) func replacing(with other: Self, whereAbove key: Self, _ bound: Double) -> Self {
        replacing(with: other, where: key .> bound)
    }
    @inline(__always) var root: Self { squareRoot() }
}

extension SIMD16: FloatVector where Scalar == Float {
    @inline(__always) init(loading p: UnsafePointer<Float>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) func store(to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD16<Float>.self)
    }
    @inline(__always) var absolute: Self { replacing(with: -self, where: self .< 0) }
    @inline(__always) var sign: Self {
        Self(repeating: 0).replacing(with: 1, where: self .> 0).replacing(with: -1, where: self .< 0)
    }
    @inline(__always) func clipped(_ bound: Float) -> Self {
        replacing(with: bound, where: self .> bound).replacing(with: -bound, where: self .< -bound)
    }
    @inline(__always) func replacing(with other: Self, whereAbove key: Self, _ bound: Float) -> Self {
        replacing(with: other, where: key .> bound)
    }
    @inline(__always) var root: Self { squareRoot() }
}

/// The two precisions and their vector types.
protocol VectorScalar: IEFloat {
    associatedtype Vector: FloatVector where Vector.Scalar == Self
}
extension Double: VectorScalar { typealias Vector = SIMD8<Double> }
extension Float: VectorScalar { typealias Vector = SIMD16<Float> }

/// ρ, ρ′ and ∂ρ/∂shape across the lanes of a vector, the same formulas as the scalar `Rho`
/// (which the tail and the overflow limit use). Every vector ρ here has ρ(0) = ρ′(0) = 0.
protocol VectorRho {
    associatedtype V: FloatVector
    associatedtype ScalarRho: Rho where ScalarRho.T == V.Scalar
    var scalar: ScalarRho { get }
    func value(_ u: V) -> V
    func derivative(_ u: V) -> V
    func shapeDerivative(_ u: V) -> V
}

extension VectorRho {
    @inline(__always) func shapeDerivative(_ u: V) -> V { V() }
}

struct GaussianVectorRho<V: FloatVector>: VectorRho {
    var scalar: GaussianRho<V.Scalar> { GaussianRho() }
    @inline(__always) func value(_ u: V) -> V { u * u * 0.5 }
    @inline(__always) func derivative(_ u: V) -> V { u }
}

struct LaplaceVectorRho<V: FloatVector>: VectorRho {
    var scalar: LaplaceRho<V.Scalar> { LaplaceRho() }
    @inline(__always) func value(_ u: V) -> V { u.absolute }
    @inline(__always) func derivative(_ u: V) -> V { u.sign }
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
/// intermediate values of the other branch are discarded by the selection.
struct PseudoHuberVectorRho<V: FloatVector>: VectorRho {
    let scalar: PseudoHuberRho<V.Scalar>
    @inline(__always) func value(_ u: V) -> V {
        let a = u.absolute, delta = scalar.delta
        let w = a / delta
        let q = (1 + w * w).root
        return (a * (a / (q + 1))).replacing(with: (a - delta) * delta, whereAbove: w, largeArgument(V.Scalar.self))
    }
    @inline(__always) func derivative(_ u: V) -> V {
        let delta = scalar.delta
        let w = u / delta
        return (u / (1 + w * w).root).replacing(with: u.sign * delta, whereAbove: w.absolute, largeArgument(V.Scalar.self))
    }
    @inline(__always) func shapeDerivative(_ u: V) -> V {
        let a = u.absolute, delta = scalar.delta
        let w = a / delta
        let w2 = w * w
        let q = (1 + w2).root
        let near = delta * (w2 / (q * (q + 1))) * (w2 / (q + 1))
        return near.replacing(with: a - 2 * delta, whereAbove: w, largeArgument(V.Scalar.self))
    }
}

/// Kernels 1–7 with a vector ρ: the same energies and gradients as `SeparableModel`, which
/// this model uses for the scalar tail of D and for the overflow limit (`logEnergy`).
/// Only built when every 1/s is finite (the loops multiply).
struct VectorSeparableModel<VR: VectorRho>: EnergyModel {
    typealias V = VR.V
    typealias T = V.Scalar
    let rho: VR
    let scalar: SeparableModel<VR.ScalarRho>
    let x: UnsafePointer<T>
    let mu: UnsafePointer<T>
    let inverse: UnsafePointer<T>
    let d: Int, k: Int, scaleK: Int, scaleI: Int
    /// The dimensions covered by whole vectors.
    let body: Int

    init?(_ rho: VR, _ setup: Setup<T>) {
        guard let inverse = setup.inverseScale, let scalar = SeparableModel(rho.scalar, setup),
              let x = setup.x, let mu = setup.mu else { return nil }
        self.rho = rho
        self.scalar = scalar
        self.x = x
        self.mu = mu
        self.inverse = inverse
        d = setup.d; k = setup.k; scaleK = setup.scaleK; scaleI = setup.scaleI
        body = d - d % V.scalarCount
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let xr = x + n * d, lanes = V.scalarCount
        for kk in 0 ..< k {
            let mr = mu + kk * d, fr = inverse + kk * scaleK
            var acc = V()
            var i = 0
            if scaleI == 0 {
                let f = V(repeating: fr[0])
                while i < body {
                    acc += rho.value((V(loading: xr + i) - V(loading: mr + i)) * f)
                    i += lanes
                }
            } else {
                while i < body {
                    acc += rho.value((V(loading: xr + i) - V(loading: mr + i)) * V(loading: fr + i))
                    i += lanes
                }
            }
            var sum = acc.sum()
            while i < d {
                sum += rho.scalar.value((xr[i] - mr[i]) * fr[i * scaleI])
                i += 1
            }
            out[kk] = sum
        }
    }

    func logEnergy(row n: Int, component kk: Int, scratch: RowScratch<T>) -> T {
        scalar.logEnergy(row: n, component: kk, scratch: scratch)
    }

    /// ∂d/∂x = ρ′/s, ∂d/∂mu = −ρ′/s, ∂d/∂s = −(ρ′·u)/s, as in `SeparableModel.backward`.
    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        guard let gMu = grads.mu, let gScale = grads.scale else { return }
        // An overflowed −δ/τ (tiny τ) needs the scalar loop, where a zero ρ′ contributes 0.
        for kk in 0 ..< k where !coefficient[kk].isFinite {
            return scalar.backward(row: n, coefficient: coefficient, scratch: scratch, gx: gx, grads: grads)
        }
        let xr = x + n * d, gxr = gx ?? scratch.vector3, lanes = V.scalarCount
        let wantShape = grads.shape != nil
        var shapeAcc = V()
        var shapeSum: T = 0
        for kk in 0 ..< k {
            let coef = coefficient[kk]
            if coef == 0 { continue }
            let c = V(repeating: coef)
            let mr = mu + kk * d, fr = inverse + kk * scaleK, gm = gMu + kk * d
            var i = 0
            if scaleI == 0 {
                let fs = fr[0], f = V(repeating: fs)
                var scaleAcc = V()
                while i < body {
                    let u = (V(loading: xr + i) - V(loading: mr + i)) * f
                    let pull = c * rho.derivative(u)
                    let g = pull * f
                    (V(loading: gxr + i) + g).store(to: gxr + i)
                    (V(loading: gm + i) - g).store(to: gm + i)
                    scaleAcc -= (pull * u) * f
                    if wantShape { shapeAcc += c * rho.shapeDerivative(u) }
                    i += lanes
                }
                var scaleSum = scaleAcc.sum()
                while i < d {
                    let u = (xr[i] - mr[i]) * fs
                    let pull = coef * rho.scalar.derivative(u)
                    let g = pull * fs
                    gxr[i] += g
                    gm[i] -= g
                    scaleSum -= (pull * u) * fs
                    if wantShape { shapeSum += coef * rho.scalar.shapeDerivative(u) }
                    i += 1
                }
                gScale[kk * scaleK] += scaleSum
            } else {
                let gs = gScale + kk * scaleK
                while i < body {
                    let f = V(loading: fr + i)
                    let u = (V(loading: xr + i) - V(loading: mr + i)) * f
                    let pull = c * rho.derivative(u)
                    let g = pull * f
                    (V(loading: gxr + i) + g).store(to: gxr + i)
                    (V(loading: gm + i) - g).store(to: gm + i)
                    (V(loading: gs + i) - (pull * u) * f).store(to: gs + i)
                    if wantShape { shapeAcc += c * rho.shapeDerivative(u) }
                    i += lanes
                }
                while i < d {
                    let f = fr[i]
                    let u = (xr[i] - mr[i]) * f
                    let pull = coef * rho.scalar.derivative(u)
                    let g = pull * f
                    gxr[i] += g
                    gm[i] -= g
                    gs[i] -= (pull * u) * f
                    if wantShape { shapeSum += coef * rho.scalar.shapeDerivative(u) }
                    i += 1
                }
            }
        }
        if let gShape = grads.shape { gShape[0] += shapeAcc.sum() + shapeSum }
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
        guard let model = VectorSeparableModel(rho, s) else { return false }
        passRows(model, s, t, layout, rows, scratch, acc)
        return true
    }
    switch s.kernel {
    case .gaussian: return run(GaussianVectorRho<V>())
    case .laplace: return run(LaplaceVectorRho<V>())
    case .huber: return run(HuberVectorRho<V>(scalar: HuberRho(delta: s.delta)))
    case .pseudoHuber: return run(PseudoHuberVectorRho<V>(scalar: PseudoHuberRho(delta: s.delta)))
    default: return false
    }
}

/// The per-partition scratch, in values of T, the vector model needs beyond the row scratch.
func vectorScratchSize<T: IEFloat>(_ s: Setup<T>) throws -> Int { 0 }
