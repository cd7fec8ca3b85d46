// The energy models: how each kernel computes the energies of one row and adds that row's
// contribution to the parameter gradients. The row loops (Rows.swift) are generic over the
// model, so each kernel and precision gets its own specialised loop.

/// Per-partition gradient accumulators (nil = not requested).
struct ParameterGradients<T: IEFloat> {
    var mu: UnsafeMutablePointer<T>?     // K×D
    var scale: UnsafeMutablePointer<T>?  // like the scale (1, K or K×D)
    var shape: UnsafeMutablePointer<T>?  // 1 (ν or δ)
    var chol: UnsafeMutablePointer<T>?   // K×D×D
}

/// coefficient·derivative, exactly 0 where the derivative is 0: at a tiny τ the coefficient
/// −δ/τ overflows, and a term with a zero derivative must still contribute nothing.
@inline(__always) func times<T: IEFloat>(_ coefficient: T, _ derivative: T) -> T {
    derivative == 0 ? 0 : coefficient * derivative
}

/// Per-partition row scratch (each partition has its own).
struct RowScratch<T: IEFloat> {
    let energies: UnsafeMutablePointer<T>   // K
    let logits: UnsafeMutablePointer<T>     // K (then responsibilities)
    let coefficient: UnsafeMutablePointer<T>  // K: −δ_nk/τ
    let vector: UnsafeMutablePointer<T>     // D (mahalanobis e, cosine x/‖x‖)
    let vector2: UnsafeMutablePointer<T>    // D (mahalanobis y)
    let vector3: UnsafeMutablePointer<T>    // D (mahalanobis L y)
    /// 2 × `logZRunCapacity` values: the tops and rests of a run of rows' logZ (`LogZRun`).
    let logZRun: UnsafeMutablePointer<T>
    /// `vectorScratchSize` values for the vector model's lanes (SimdSeparable.swift).
    var lanes: UnsafeMutablePointer<T>? = nil
    /// Blocked row pass (`blockRows` > 1): the block's energies and coefficients (blockRows × K
    /// each), the model's own working space (`blockScratchSize` values) and the pass's shared
    /// values (`sharedScratchSize`, filled once by `prepare`).
    var blockEnergies: UnsafeMutablePointer<T>? = nil
    var blockCoefficients: UnsafeMutablePointer<T>? = nil
    var block: UnsafeMutablePointer<T>? = nil
    var shared: UnsafePointer<T>? = nil
    /// K and D: the row strides of the block buffers.
    var components = 0, dimensions = 0
}

protocol EnergyModel {
    associatedtype T: IEFloat
    /// d_nk for k in 0..<K into `out`.
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>)
    /// log d_nk, finite where d_nk overflowed to +∞ (for the limit of an overflowing row).
    func logEnergy(row n: Int, component k: Int, scratch: RowScratch<T>) -> T
    /// Adds Σ_k coefficient_k·∂d_nk/∂θ to the parameter gradients and to `gx` (the row's
    /// D gradient values, already zeroed; nil when not requested). Components whose
    /// coefficient is exactly 0 are skipped, so that 0·∞ never appears.
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>)

    /// Row n's K energies where they already lie in memory (given energies), else nil: the
    /// row pass then reads them there instead of copying them with `energies(row:)`.
    func givenEnergies(row n: Int) -> UnsafePointer<T>?

    /// Rows per block of the row pass; 1 = row at a time (the per-row methods only).
    var blockRows: Int { get }
    /// Values of T the blocked methods need as working space, per partition.
    func blockScratchSize() throws -> Int
    /// Values of T computed once per pass and shared, read-only, by every partition.
    func sharedScratchSize() throws -> Int
    /// Fills the shared values (before the workers start).
    func prepare(shared: UnsafeMutablePointer<T>)
    /// d_nk for the rows (at most `blockRows`) into `out`, rows.count × K.
    func energies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>)
    /// For each row n of the block (b = n − rows.lowerBound), adds Σ_k coefficients[b·K + k]·∂d_nk/∂θ
    /// to the parameter gradients and to gx[b·D ..< (b + 1)·D] (already zeroed; nil when not
    /// requested). Called right after `energies(rows:)` of the same rows with the same scratch.
    /// Every coefficient is finite and so is every energy of a row with a nonzero coefficient;
    /// a row that must contribute nothing has an all-zero coefficient row.
    func backward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>)
    /// Blocked backward pass: called before a partition's first block and after its last, with the
    /// partition's scratch and accumulators. `backward(rows:)` may leave terms of the parameter
    /// gradients in the block scratch; `finishBlocks` adds them.
    func startBlocks(scratch: RowScratch<T>)
    func finishBlocks(scratch: RowScratch<T>, grads: ParameterGradients<T>)
}

extension EnergyModel {
    @inline(__always) func logEnergy(row n: Int, component k: Int, scratch: RowScratch<T>) -> T {
        energies(row: n, scratch: scratch, into: scratch.energies)
        return T.log(scratch.energies[k])
    }

    @inline(__always) func givenEnergies(row n: Int) -> UnsafePointer<T>? { nil }
    var blockRows: Int { 1 }
    func blockScratchSize() throws -> Int { 0 }
    func sharedScratchSize() throws -> Int { 0 }
    func prepare(shared: UnsafeMutablePointer<T>) {}
    func startBlocks(scratch: RowScratch<T>) {}
    func finishBlocks(scratch: RowScratch<T>, grads: ParameterGradients<T>) {}

    /// Row at a time, with the per-row methods.
    @inline(__always)
    func energies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let k = scratch.components
        for n in rows { energies(row: n, scratch: scratch, into: out + (n - rows.lowerBound) * k) }
    }

    @inline(__always)
    func backward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        let k = scratch.components, d = scratch.dimensions
        for n in rows {
            let b = n - rows.lowerBound
            backward(row: n, coefficient: coefficients + b * k, scratch: scratch, gx: gx.map { $0 + b * d },
                     grads: grads)
        }
    }
}

/// Kernels 1–7: d_nk = Σ_i ρ((x_ni − mu_ki)/s_ki).
struct SeparableModel<R: Rho>: EnergyModel {
    typealias T = R.T
    let rho: R
    let setup: Setup<T>
    let x: UnsafePointer<T>
    let mu: UnsafePointer<T>
    /// 1/s where that is finite (multiply), else s itself (divide); see `Setup.inverseScale`.
    let factor: UnsafePointer<T>
    let multiply: Bool
    let d: Int, k: Int, scaleK: Int, scaleI: Int

    init?(_ rho: R, _ setup: Setup<T>) {
        guard let x = setup.x, let mu = setup.mu else { return nil }
        self.rho = rho
        self.setup = setup
        self.x = x
        self.mu = mu
        factor = setup.inverseScale ?? setup.scale
        multiply = setup.inverseScale != nil
        d = setup.d; k = setup.k; scaleK = setup.scaleK; scaleI = setup.scaleI
    }

    /// u = (x − mu)/s.
    @inline(__always) func standardized(_ difference: T, _ f: T) -> T {
        multiply ? difference * f : difference / f
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let xr = x + n * d, si = scaleI
        for kk in 0 ..< k {
            let mr = mu + kk * d, fr = factor + kk * scaleK
            var sum: T = 0
            for i in 0 ..< d { sum += rho.value(standardized(xr[i] - mr[i], fr[i * si])) }
            out[kk] = sum
        }
    }

    /// log d_nk, finite where d_nk overflows: exponential by log-sum-exp of |u_i|, gaussian as
    /// 2·log m + log Σ (u_i/m)²/2 with m = max |u_i|. The other kernels grow at most linearly.
    func logEnergy(row n: Int, component kk: Int, scratch: RowScratch<T>) -> T {
        let xr = x + n * d, mr = mu + kk * d, fr = factor + kk * scaleK, si = scaleI
        if R.self == GaussianRho<T>.self {
            var top: T = 0
            for i in 0 ..< d { top = max(top, abs(standardized(xr[i] - mr[i], fr[i * si]))) }
            if top == 0 || !top.isFinite { return T.log(top) }
            var sum: T = 0
            for i in 0 ..< d {
                let v = standardized(xr[i] - mr[i], fr[i * si]) / top
                sum += v * v / 2
            }
            return 2 * T.log(top) + T.log(sum)
        }
        if R.self != ExponentialRho<T>.self {
            var sum: T = 0
            for i in 0 ..< d { sum += rho.value(standardized(xr[i] - mr[i], fr[i * si])) }
            return T.log(sum)
        }
        var top = -T.infinity
        for i in 0 ..< d { top = max(top, abs(standardized(xr[i] - mr[i], fr[i * si]))) }
        if !top.isFinite { return top }
        var sum: T = 0
        for i in 0 ..< d { sum += T.exp(abs(standardized(xr[i] - mr[i], fr[i * si])) - top) }
        return top + T.log(sum)
    }

    /// ∂d/∂x = ρ′/s, ∂d/∂mu = −ρ′/s, ∂d/∂s = −ρ′·u/s. The x row and the mu and scale sums always
    /// exist here (unrequested ones point at scratch), so the inner loop has no branches.
    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        guard let gMu = grads.mu, let gScale = grads.scale else { return }
        let xr = x + n * d, si = scaleI, gxr = gx ?? scratch.vector3
        let wantShape = grads.shape != nil
        var shapeSum: T = 0
        for kk in 0 ..< k {
            let coef = coefficient[kk]
            if coef == 0 { continue }
            let mr = mu + kk * d, fr = factor + kk * scaleK, gm = gMu + kk * d
            if si == 0 {
                // One scale for the whole component: accumulate its gradient in a register.
                let f = fr[0]
                var scaleSum: T = 0
                for i in 0 ..< d {
                    let u = standardized(xr[i] - mr[i], f)
                    let pull = times(coef, rho.derivative(u))
                    let g = standardized(pull, f)
                    gxr[i] += g
                    gm[i] -= g
                    // (ρ′·u)/s rather than (ρ′/s)·u: u = 0 with a tiny s gives 0, not ∞·0.
                    scaleSum -= standardized(pull * u, f)
                    if wantShape { shapeSum += times(coef, rho.shapeDerivative(u)) }
                }
                gScale[kk * scaleK] += scaleSum
            } else {
                let gs = gScale + kk * scaleK
                for i in 0 ..< d {
                    let u = standardized(xr[i] - mr[i], fr[i])
                    let pull = times(coef, rho.derivative(u))
                    let g = standardized(pull, fr[i])
                    gxr[i] += g
                    gm[i] -= g
                    gs[i] -= standardized(pull * u, fr[i])
                    if wantShape { shapeSum += times(coef, rho.shapeDerivative(u)) }
                }
            }
        }
        if let gShape = grads.shape { gShape[0] += shapeSum }
    }
}

/// Kernel 8: d = 1 − xᵀmu/(‖x‖‖mu‖); a zero vector has d = 1 and no gradient.
struct CosineModel<T: IEFloat>: EnergyModel {
    let setup: Setup<T>
    let x: UnsafePointer<T>
    let muUnit: UnsafePointer<T>
    let muNorm: UnsafePointer<T>

    init?(_ setup: Setup<T>) {
        guard let x = setup.x, let muUnit = setup.muUnit, let muNorm = setup.muNorm else { return nil }
        self.setup = setup
        self.x = x
        self.muUnit = muUnit
        self.muNorm = muNorm
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let d = setup.d, xUnit = scratch.vector
        let xNorm = safeNorm(x + n * d, d, unit: xUnit)
        for k in 0 ..< setup.k {
            if xNorm == 0 || muNorm[k] == 0 { out[k] = 1; continue }
            out[k] = 1 - dotProduct(xUnit, muUnit + k * d, d)
        }
    }

    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        let d = setup.d, xUnit = scratch.vector
        let xNorm = safeNorm(x + n * d, d, unit: xUnit)
        if xNorm == 0 { return }
        for k in 0 ..< setup.k {
            let coef = coefficient[k]
            if coef == 0 || muNorm[k] == 0 { continue }
            let mr = muUnit + k * d
            let c = dotProduct(xUnit, mr, d)
            // ∂d/∂x = −(mû − c·x̂)/‖x‖, ∂d/∂mu = −(x̂ − c·mû)/‖mu‖.
            if let gx { subtractCosinePull(gx, coef, mr, c, xUnit, xNorm, d) }
            if let gMu = grads.mu { subtractCosinePull(gMu + k * d, coef, xUnit, c, mr, muNorm[k], d) }
        }
    }
}

/// Kernel 9: e = x − mu_k, y = L_kᵀe, d = ‖y‖².
struct MahalanobisModel<T: IEFloat>: EnergyModel {
    let setup: Setup<T>
    let x: UnsafePointer<T>
    let mu: UnsafePointer<T>
    let chol: UnsafePointer<T>

    init?(_ setup: Setup<T>) {
        guard let x = setup.x, let mu = setup.mu, let chol = setup.chol else { return nil }
        self.setup = setup
        self.x = x
        self.mu = mu
        self.chol = chol
    }

    /// Fills e = x_n − mu_k and y = L_kᵀe; returns ‖y‖².
    @inline(__always)
    func project(row n: Int, component k: Int, e: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>) -> T {
        let d = setup.d, xr = x + n * d, mr = mu + k * d, l = chol + k * d * d
        for i in 0 ..< d {
            e[i] = xr[i] - mr[i]
            y[i] = 0
        }
        for i in 0 ..< d {
            let ei = e[i], li = l + i * d
            for j in 0 ... i { y[j] += li[j] * ei }
        }
        var sum: T = 0
        for j in 0 ..< d { sum += y[j] * y[j] }
        return sum
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        for k in 0 ..< setup.k {
            let plain = project(row: n, component: k, e: scratch.vector, y: scratch.vector2)
            out[k] = plain.isFinite ? plain : scaledEnergy(row: n, component: k, scratch: scratch)
        }
    }

    /// Near the range limit (e or L_kᵀe overflowing, even ∞ − ∞ inside y): the energy from the scaled form.
    func scaledEnergy(row n: Int, component k: Int, scratch: RowScratch<T>) -> T {
        let (scale, sum) = scaledProjection(row: n, component: k, scratch: scratch)
        let norm = sum.squareRoot() * scale.top * scale.e * scale.factor
        return norm * norm
    }

    /// ‖L_kᵀe‖² = (factor·e·top)²·sum without overflow: ê = (x/2 − mu/2)/m_e with m_e = max |·| (so
    /// |ê_i| ≤ 1 and every L_ij·ê_i is finite), ŷ = L_kᵀê/D, top = max |ŷ_j|, sum = Σ (ŷ_j/top)²,
    /// e = m_e and factor = 2D. Only a term below the smallest subnormal after scaling is lost.
    func scaledProjection(row n: Int, component k: Int,
                          scratch: RowScratch<T>) -> (scale: (e: T, top: T, factor: T), sum: T) {
        let d = setup.d, xr = x + n * d, mr = mu + k * d, l = chol + k * d * d
        let e = scratch.vector, y = scratch.vector2
        var eTop: T = 0
        for i in 0 ..< d {
            e[i] = xr[i] / 2 - mr[i] / 2
            eTop = max(eTop, abs(e[i]))
            y[i] = 0
        }
        let factor = 2 * T(fromDouble: Double(d))
        if eTop == 0 { return ((0, 0, factor), 0) }
        for i in 0 ..< d { e[i] /= eTop }
        let inverseD = 1 / T(fromDouble: Double(d))
        for i in 0 ..< d {
            let ei = e[i], li = l + i * d
            for j in 0 ... i { y[j] += (li[j] * ei) * inverseD }
        }
        var top: T = 0
        for j in 0 ..< d { top = max(top, abs(y[j])) }
        if top == 0 { return ((eTop, 0, factor), 0) }
        var sum: T = 0
        for j in 0 ..< d {
            let v = y[j] / top
            sum += v * v
        }
        return ((eTop, top, factor), sum)
    }

    /// log ‖L_kᵀe‖², finite where the energy overflows (the scaled form).
    func logEnergy(row n: Int, component k: Int, scratch: RowScratch<T>) -> T {
        let (scale, sum) = scaledProjection(row: n, component: k, scratch: scratch)
        if sum == 0 { return -T.infinity }
        return 2 * (T.log(scale.factor) + T.log(scale.e) + T.log(scale.top)) + T.log(sum)
    }

    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        for k in 0 ..< setup.k where coefficient[k] != 0 {
            backward(row: n, component: k, coefficient: coefficient[k], scratch: scratch, gx: gx, grads: grads)
        }
    }

    /// One component's term of `backward(row:)` (coef ≠ 0).
    @inline(__always)
    func backward(row n: Int, component k: Int, coefficient coef: T, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        let d = setup.d, e = scratch.vector, y = scratch.vector2, ly = scratch.vector3
        if !project(row: n, component: k, e: e, y: y).isFinite {
            // The energy was finite only in the scaled form (r > 0): e and y from it.
            let (scale, _) = scaledProjection(row: n, component: k, scratch: scratch)
            for i in 0 ..< d {
                e[i] = (e[i] * scale.e) * 2
                y[i] = (y[i] * scale.e) * scale.factor
            }
        }
        let l = chol + k * d * d
        if gx != nil || grads.mu != nil {
            // ∂d/∂x = 2·L·y.
            for i in 0 ..< d {
                let li = l + i * d
                var sum: T = 0
                for j in 0 ... i { sum += li[j] * y[j] }
                ly[i] = times(2 * coef, sum)
            }
            if let gx { for i in 0 ..< d { gx[i] += ly[i] } }
            if let gMu = grads.mu { for i in 0 ..< d { gMu[k * d + i] -= ly[i] } }
        }
        if let gChol = grads.chol {
            // ∂d/∂L_ij = 2·e_i·y_j (lower triangle).
            let g = gChol + k * d * d
            for i in 0 ..< d {
                let twoCoefE = times(2 * coef, e[i]), gi = g + i * d
                for j in 0 ... i { gi[j] += times(twoCoefE, y[j]) }
            }
        }
    }
}

/// Kernel 10: energies given by the caller (or called back into the setup's buffer).
struct LearnedModel<T: IEFloat>: EnergyModel {
    let setup: Setup<T>
    let given: UnsafePointer<T>

    init?(_ setup: Setup<T>) {
        guard let given = setup.energies else { return nil }
        self.setup = setup
        self.given = given
    }

    @inline(__always)
    func energies(row n: Int, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let k = setup.k, row = given + n * k
        for j in 0 ..< k { out[j] = row[j] }
    }

    @inline(__always) func givenEnergies(row n: Int) -> UnsafePointer<T>? { given + n &* setup.k }

    @inline(__always)
    func backward(row n: Int, coefficient: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {}
}

/// Something to run once per kernel with that kernel's model (the one dynamic dispatch per call).
protocol ModelVisitor {
    associatedtype T: IEFloat
    func visit<M: EnergyModel>(_ model: M) throws where M.T == T
}

/// Builds the model of the setup's kernel and runs the visitor with it.
func withModel<V: ModelVisitor>(_ setup: Setup<V.T>, _ visitor: V) throws {
    typealias T = V.T
    var missing: ImplicitEMError { ImplicitEMError(.nullPointer, "the \(setup.kernel.name) kernel is missing an input") }
    switch setup.kernel {
    case .gaussian:
        guard let m = SeparableModel(GaussianRho<T>(), setup) else { throw missing }
        try visitor.visit(m)
    case .laplace:
        guard let m = SeparableModel(LaplaceRho<T>(), setup) else { throw missing }
        try visitor.visit(m)
    case .logistic:
        guard let m = SeparableModel(LogisticRho<T>(), setup) else { throw missing }
        try visitor.visit(m)
    case .studentT:
        guard let m = SeparableModel(StudentTRho<T>(nu: setup.nu), setup) else { throw missing }
        try visitor.visit(m)
    case .huber:
        guard let m = SeparableModel(HuberRho<T>(delta: setup.delta), setup) else { throw missing }
        try visitor.visit(m)
    case .pseudoHuber:
        guard let m = SeparableModel(PseudoHuberRho<T>(delta: setup.delta), setup) else { throw missing }
        try visitor.visit(m)
    case .exponential:
        guard let m = SeparableModel(ExponentialRho<T>(), setup) else { throw missing }
        try visitor.visit(m)
    case .cosine:
        guard let m = CosineModel(setup) else { throw missing }
        try visitor.visit(m)
    case .mahalanobis:
        guard let m = MahalanobisModel(setup) else { throw missing }
        try visitor.visit(m)
    case .learned:
        guard let m = LearnedModel(setup) else { throw missing }
        try visitor.visit(m)
    }
}
