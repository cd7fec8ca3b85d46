// The core's public entry points. Each one validates everything first (nothing is written on
// error), builds the call's setup, and runs one streaming pass over the rows.

public enum Engine {
    /// Energies, logZ, responsibilities; any output may be nil (its work is skipped).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func forward<T: IEFloat>(_ problem: Problem<T>, _ out: ForwardOutputs<T>) throws {
        try problem.validate()
        try checkForwardOutputs(problem, out)
        try checkNoOverlap { r in
            problem.addInputs(&r)
            addForwardOutputs(&r, out)
        }
        if out.energies == nil && out.logZ == nil && out.resp == nil { return }

        try withArena { arena in
            let setup = try Setup(problem, arena: arena)
            var targets = PassTargets<T>()
            targets.energies = out.energies?.baseAddress
            targets.logZ = out.logZ?.baseAddress
            targets.resp = out.resp?.baseAddress
            _ = try runPass(setup, targets, arena)
        }
    }

    /// Fused forward + backward of objective = Σ_n gL_n·logZ_n + Σ_nk gR_nk·r_nk
    /// (gL nil = ones, gR nil = zeros), in one pass over the rows. Gradients of parameters the
    /// kernel does not use are written as zeros.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func gradients<T: IEFloat>(_ problem: Problem<T>, gL: UnsafeBufferPointer<T>?, gR: UnsafeBufferPointer<T>?,
                                             _ out: ForwardOutputs<T>, _ grads: GradientOutputs<T>) throws {
        try problem.validate()
        let nk = try checkedProduct(problem.n, problem.k, "N*K")
        try checkCount(gL, "gL", problem.n, "N")
        try checkCount(gR, "gR", nk, "N*K")
        try checkFinite(gL, "gL", columns: 0)
        try checkFinite(gR, "gR", columns: problem.k)
        try checkForwardOutputs(problem, out)
        let uses = ParameterUse(problem)
        try checkGradientOutputs(problem, grads, uses)
        try checkNoOverlap { r in
            problem.addInputs(&r)
            r.input("gL", gL); r.input("gR", gR)
            addForwardOutputs(&r, out)
            addGradientOutputs(&r, grads)
        }

        try withArena { arena in try gradientsPass(problem, gL: gL, gR: gR, out, grads, uses, arena) }
    }

    /// The pass of `gradients` and its per-parameter outputs, after validation.
    private static func gradientsPass<T: IEFloat>(_ problem: Problem<T>, gL: UnsafeBufferPointer<T>?,
                                                  gR: UnsafeBufferPointer<T>?, _ out: ForwardOutputs<T>,
                                                  _ grads: GradientOutputs<T>, _ uses: ParameterUse,
                                                  _ arena: Arena) throws {
        let setup = try Setup(problem, arena: arena)
        var t = PassTargets<T>()
        t.energies = out.energies?.baseAddress
        t.logZ = out.logZ?.baseAddress
        t.resp = out.resp?.baseAddress
        t.backward = true
        t.gL = gL?.baseAddress
        t.gR = gR?.baseAddress
        t.gradX = uses.x ? grads.x?.baseAddress : nil
        t.gradLogprior = grads.logprior?.baseAddress
        t.gradEnergies = grads.energies?.baseAddress
        // The separable kernels always accumulate mu and scale sums (their loop has no branches).
        t.needMu = uses.mu && (grads.mu != nil || problem.kernel.isSeparable)
        t.needScale = uses.scale
        t.needShape = (uses.nu && grads.nu != nil) || (uses.delta && grads.delta != nil)
        t.needChol = uses.chol && grads.chol != nil
        let normalized = setup.c != nil
        t.needDeltaSums = grads.logw != nil
            || (normalized && (grads.scale != nil || t.needShape || t.needChol || grads.tau != nil))
        t.needTau = grads.tau != nil
        let layout = try AccumulatorLayout(setup, t)
        guard let acc = try runPass(setup, t, arena, layout: layout) else { return }

        // Per-parameter outputs: the reduced sums plus the normaliser terms −(Σ_n δ_nk)·∂c_k/∂θ.
        let k = problem.k, d = problem.d
        let deltaSums: UnsafeMutablePointer<T>? = t.needDeltaSums ? acc + layout.deltaSums : nil
        if let g = grads.x, !uses.x { zero(g) }
        if let g = grads.mu {
            if uses.mu { g.baseAddress?.update(from: acc + layout.mu, count: g.count) } else { zero(g) }
        }
        if let g = grads.scale {
            if uses.scale {
                g.baseAddress?.update(from: acc + layout.scale, count: g.count)
                if normalized, let sums = deltaSums {
                    // ∂c_k/∂s_ki = 1/s_ki; shared scales sum over the components and dimensions.
                    for kk in 0 ..< k {
                        for i in 0 ..< d {
                            let at = kk * setup.scaleK + i * setup.scaleI
                            g[at] -= sums[kk] / setup.scale[at]
                        }
                    }
                }
            } else { zero(g) }
        }
        func writeShape(_ buffer: UnsafeMutableBufferPointer<T>?, _ used: Bool) {
            guard let g = buffer else { return }
            if used && t.needShape {
                var value = acc[layout.shape]
                if normalized, let sums = deltaSums, let dShape = setup.dcdShape {
                    for kk in 0 ..< k { value -= sums[kk] * dShape[kk] }
                }
                g[0] = value
            } else { zero(g) }
        }
        writeShape(grads.nu, uses.nu)
        writeShape(grads.delta, uses.delta)
        if let g = grads.chol {
            if t.needChol, let chol = setup.chol {
                for kk in 0 ..< k {
                    for i in 0 ..< d {
                        for j in 0 ..< d {
                            let at = (kk * d + i) * d + j
                            g[at] = j <= i ? acc[layout.chol + at] : 0
                        }
                        if normalized, let sums = deltaSums {
                            // ∂c_k/∂L_k,ii = −1/L_k,ii.
                            let at = (kk * d + i) * d + i
                            g[at] += sums[kk] / chol[at]
                        }
                    }
                }
            } else { zero(g) }
        }
        if let g = grads.logw, let sums = deltaSums {
            for j in 0 ..< k { g[j] = sums[j] }
        }
        if let g = grads.tau {
            // Σ δ·(d/τ²) − Σ_k (Σ_n δ_nk)·∂c_k/∂τ.
            var value = acc[layout.tau] / setup.tau
            if normalized, let sums = deltaSums, let dTau = setup.dcdTau {
                for kk in 0 ..< k { value -= sums[kk] * dTau[kk] }
            }
            g[0] = value
        }
        // A normaliser term may meet an overflowed sum of the other sign: the same rule as the sums.
        // (One call per buffer: an array of them would be a heap allocation per call.)
        func zeroUndefined(_ g: UnsafeMutableBufferPointer<T>?) {
            if let g, let base = g.baseAddress { zeroUndefinedSums(base, g.count) }
        }
        zeroUndefined(grads.scale); zeroUndefined(grads.nu); zeroUndefined(grads.delta)
        zeroUndefined(grads.chol); zeroUndefined(grads.tau)
    }

    /// Σ_n w_n r_nk (K), Σ_n w_n r_nk x_n (K×D), Σ_n w_n r_nk x_n x_nᵀ (K×D×D); weights nil = ones.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func stats<T: IEFloat>(_ problem: Problem<T>, weights: UnsafeBufferPointer<T>?,
                                         sumR: UnsafeMutableBufferPointer<T>?, sumRX: UnsafeMutableBufferPointer<T>?,
                                         sumRXX: UnsafeMutableBufferPointer<T>?) throws {
        try problem.validate()
        try checkCount(weights, "weights", problem.n, "N")
        try checkFinite(weights, "weights", columns: 0)
        if let weights {
            for (i, w) in weights.enumerated() where w < 0 {
                throw ImplicitEMError(.badParameter, "weights[\(i)] = \(formatValue(w)) must be >= 0")
            }
        }
        if (sumRX != nil || sumRXX != nil) && problem.x == nil {
            throw ImplicitEMError(.nullPointer, "x is required for sumRX and sumRXX")
        }
        try checkCount(sumR, "sumR", problem.k, "K")
        if sumRX != nil || sumRXX != nil {
            let kd = try checkedProduct(problem.k, problem.d, "K*D")
            try checkCount(sumRX, "sumRX", kd, "K*D")
            try checkCount(sumRXX, "sumRXX", try checkedProduct(kd, problem.d, "K*D*D"), "K*D*D")
        }
        try checkNoOverlap { r in
            problem.addInputs(&r)
            r.input("weights", weights)
            r.output("sumR", sumR); r.output("sumRX", sumRX); r.output("sumRXX", sumRXX)
        }
        if sumR == nil && sumRX == nil && sumRXX == nil { return }

        try withArena { arena in
            let setup = try Setup(problem, arena: arena)
            var t = PassTargets<T>()
            t.weights = weights?.baseAddress
            t.needSumR = sumR != nil
            t.needSumRX = sumRX != nil
            t.needSumRXX = sumRXX != nil
            let layout = try AccumulatorLayout(setup, t)
            guard let acc = try runPass(setup, t, arena, layout: layout) else { return }
            if let out = sumR { for j in 0 ..< out.count { out[j] = acc[layout.sumR + j] } }
            if let out = sumRX { for j in 0 ..< out.count { out[j] = acc[layout.sumRX + j] } }
            if let out = sumRXX { for j in 0 ..< out.count { out[j] = acc[layout.sumRXX + j] } }
        }
    }

    /// The K log-normalisers c_k of KERNELS.md, whatever `problem.normalized` says.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func logNormalizer<T: IEFloat>(_ problem: Problem<T>, _ c: UnsafeMutableBufferPointer<T>) throws {
        try problem.validate()
        try checkCount(c, "c", problem.k, "K")
        try checkNoOverlap { r in
            problem.addInputs(&r)
            r.output("c", c)
        }
        if problem.kernel == .learned {
            throw ImplicitEMError(.unsupported, "the learned kernel has no log-normaliser (its energies have no known integral)")
        }
        try withArena { arena in
            let setup = try Setup(problem, arena: arena, normalizers: true)
            guard let values = setup.c else { return }
            for j in 0 ..< problem.k { c[j] = values[j] }
        }
    }

    /// act(z) = tanh((d(z; −m) − d(z; +m))/(2τ)) and act′(z) of the two-component signed
    /// model (components at ±m, equal weights, shared scale), kernels 1–7.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func activation<T: IEFloat>(kernel: Kernel, z: UnsafeBufferPointer<T>, m: T, scale: T, nu: T, delta: T,
                                              tau: T, act: UnsafeMutableBufferPointer<T>?, dact: UnsafeMutableBufferPointer<T>?) throws {
        try activationShape(kernel: kernel, z: z, m: m, scale: scale, nu: nu, delta: delta, tau: tau, act: act, dact: dact)
    }
}

/// Which parameters a kernel has (a gradient of any other parameter is zero).
struct ParameterUse {
    let x: Bool, mu: Bool, scale: Bool, nu: Bool, delta: Bool, chol: Bool

    init<T>(_ p: __shared Problem<T>) {
        x = p.kernel != .learned
        mu = p.kernel != .learned
        scale = p.kernel.isSeparable
        nu = p.kernel == .studentT
        delta = p.kernel == .huber || p.kernel == .pseudoHuber
        chol = p.kernel == .mahalanobis
    }
}

/// Runs the row pass with the setup's kernel; returns the reduced accumulators (nil if none).
@discardableResult
func runPass<T: IEFloat>(_ setup: Setup<T>, _ targets: PassTargets<T>, _ arena: Arena,
                         layout: AccumulatorLayout? = nil) throws -> UnsafeMutablePointer<T>? {
    let layout = try layout ?? AccumulatorLayout(setup, targets)
    var result: UnsafeMutablePointer<T>? = nil
    try withUnsafeMutablePointer(to: &result) { slot in
        try withModel(setup, RowPass(setup: setup, targets: targets, layout: layout, arena: arena, result: slot))
    }
    return result
}

func zero<T: IEFloat>(_ buffer: UnsafeMutableBufferPointer<T>) {
    for j in 0 ..< buffer.count { buffer[j] = 0 }
}

func checkForwardOutputs<T>(_ p: Problem<T>, _ out: ForwardOutputs<T>) throws {
    let nk = try checkedProduct(p.n, p.k, "N*K")
    try checkCount(out.energies, "energies output", nk, "N*K")
    try checkCount(out.logZ, "logZ", p.n, "N")
    try checkCount(out.resp, "resp", nk, "N*K")
}

func checkGradientOutputs<T>(_ p: Problem<T>, _ g: GradientOutputs<T>, _ uses: ParameterUse) throws {
    let nk = try checkedProduct(p.n, p.k, "N*K")
    if uses.x { try checkCount(g.x, "x gradient", try checkedProduct(p.n, p.d, "N*D"), "N*D") }
    if uses.mu { try checkCount(g.mu, "mu gradient", try checkedProduct(p.k, p.d, "K*D"), "K*D") }
    if uses.scale {
        if p.scale == nil {
            try checkCount(g.scale, "scale gradient", 1, "1 (scale is absent)")
        } else {
            try checkCount(g.scale, "scale gradient", p.scaleShape.count(k: p.k, d: p.d), "the scale's count")
        }
    }
    try checkCount(g.nu, "nu gradient", 1, "1")
    try checkCount(g.delta, "delta gradient", 1, "1")
    if uses.chol {
        let kdd = try checkedProduct(try checkedProduct(p.k, p.d, "K*D"), p.d, "K*D*D")
        try checkCount(g.chol, "chol gradient", kdd, "K*D*D")
    }
    try checkCount(g.logw, "logw gradient", p.k, "K")
    try checkCount(g.logprior, "logprior gradient", nk, "N*K")
    try checkCount(g.tau, "tau gradient", 1, "1")
    try checkCount(g.energies, "energies gradient", nk, "N*K")
}

func addForwardOutputs<T>(_ r: inout Regions, _ out: ForwardOutputs<T>) {
    r.output("energies", out.energies); r.output("logZ", out.logZ); r.output("resp", out.resp)
}

func addGradientOutputs<T>(_ r: inout Regions, _ g: GradientOutputs<T>) {
    r.output("x gradient", g.x); r.output("mu gradient", g.mu); r.output("scale gradient", g.scale)
    r.output("nu gradient", g.nu); r.output("delta gradient", g.delta); r.output("chol gradient", g.chol)
    r.output("logw gradient", g.logw); r.output("logprior gradient", g.logprior); r.output("tau gradient", g.tau)
    r.output("energies gradient", g.energies)
}
