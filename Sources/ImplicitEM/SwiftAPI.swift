// A Swift-shaped convenience layer over `Engine`: arrays in, owned results out. Every call
// allocates its outputs and runs the same validated engine entry point.

/// A dense row-major matrix.
public struct Matrix<T: IEFloat>: Equatable {
    public let rows: Int
    public let cols: Int
    public var storage: [T]

    /// A matrix over `storage` (row-major, `rows * cols` values).
    public init(rows: Int, cols: Int, storage: [T]) throws {
        guard rows >= 0, cols >= 0, rows.multipliedReportingOverflow(by: cols) == (storage.count, false) else {
            throw ImplicitEMError(.badSize, "matrix storage has \(storage.count) values, expected \(rows)*\(cols)")
        }
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    /// A matrix of `rows` equal-length rows.
    public init(_ rowArrays: [[T]]) throws {
        let cols = rowArrays.first?.count ?? 0
        for (i, row) in rowArrays.enumerated() where row.count != cols {
            throw ImplicitEMError(.badSize, "row \(i) has \(row.count) values, expected \(cols)")
        }
        try self.init(rows: rowArrays.count, cols: cols, storage: rowArrays.flatMap { $0 })
    }

    init(zeros rows: Int, _ cols: Int) {
        self.rows = rows
        self.cols = cols
        storage = [T](repeating: 0, count: rows * cols)
    }

    public subscript(row: Int, col: Int) -> T {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }
}

/// The kernel and its parameters, everything but the data.
public struct KernelParameters<T: IEFloat> {
    public var kernel: Kernel
    public var scaleShape: ScaleShape
    public var scale: [T]?
    public var nu: T
    public var delta: T
    /// K×D×D lower Cholesky factors (mahalanobis).
    public var chol: [T]?
    public var logw: [T]?
    public var tau: T
    public var normalized: Bool

    public init(kernel: Kernel, scaleShape: ScaleShape = .shared, scale: [T]? = nil, nu: T = 0, delta: T = 0,
                chol: [T]? = nil, logw: [T]? = nil, tau: T = 1, normalized: Bool = false) {
        self.kernel = kernel
        self.scaleShape = scaleShape
        self.scale = scale
        self.nu = nu
        self.delta = delta
        self.chol = chol
        self.logw = logw
        self.tau = tau
        self.normalized = normalized
    }
}

public struct ForwardResult<T: IEFloat> {
    public var energies: Matrix<T>
    public var logZ: [T]
    public var resp: Matrix<T>
}

/// The forward outputs and every gradient; nil where the kernel has no such parameter.
public struct GradientResult<T: IEFloat> {
    public var forward: ForwardResult<T>
    public var x: Matrix<T>?
    public var mu: Matrix<T>?
    public var scale: [T]?
    public var nu: T?
    public var delta: T?
    public var chol: [T]?
    public var logw: [T]
    public var logprior: Matrix<T>
    public var tau: T
    /// ∂objective/∂E.
    public var energies: Matrix<T>
}

public enum ImplicitEM {
    /// Energies, logZ and responsibilities. `x` (N×D) and `mu` (K×D) for kernels 1–9; `energies`
    /// (N×K) for the learned kernel.
    public static func forward<T: IEFloat>(x: Matrix<T>?, mu: Matrix<T>?, _ parameters: KernelParameters<T>,
                                           logprior: Matrix<T>? = nil, energies: Matrix<T>? = nil) throws -> ForwardResult<T> {
        let (n, k) = try sizes(x: x, mu: mu, energies: energies)
        var e = Matrix<T>(zeros: n, k), r = Matrix<T>(zeros: n, k)
        var l = [T](repeating: 0, count: n)
        try withProblem(x: x, mu: mu, parameters, logprior: logprior, energies: energies) { problem in
            try e.storage.withUnsafeMutableBufferPointer { eb in
                try l.withUnsafeMutableBufferPointer { lb in
                    try r.storage.withUnsafeMutableBufferPointer { rb in
                        try Engine.forward(problem, ForwardOutputs(energies: eb, logZ: lb, resp: rb))
                    }
                }
            }
        }
        return ForwardResult(energies: e, logZ: l, resp: r)
    }

    /// The forward outputs and the gradients of Σ gL·logZ + Σ gR·R (gL nil = ones, gR nil = zeros).
    public static func gradients<T: IEFloat>(x: Matrix<T>?, mu: Matrix<T>?, _ parameters: KernelParameters<T>,
                                             logprior: Matrix<T>? = nil, energies: Matrix<T>? = nil,
                                             gL: [T]? = nil, gR: Matrix<T>? = nil) throws -> GradientResult<T> {
        let (n, k) = try sizes(x: x, mu: mu, energies: energies)
        let d = x?.cols ?? mu?.cols ?? 0
        let kernel = parameters.kernel
        var e = Matrix<T>(zeros: n, k), r = Matrix<T>(zeros: n, k)
        var l = [T](repeating: 0, count: n)
        var gx = Matrix<T>(zeros: n, d), gmu = Matrix<T>(zeros: k, d)
        var gscale = [T](repeating: 0, count: parameters.scale?.count ?? 1)
        var gshape: [T] = [0], gtau: [T] = [0]
        var gchol = [T](repeating: 0, count: kernel == .mahalanobis ? k * d * d : 0)
        var glogw = [T](repeating: 0, count: k)
        var glogprior = Matrix<T>(zeros: n, k), genergies = Matrix<T>(zeros: n, k)
        let hasShape = kernel == .studentT || kernel == .huber || kernel == .pseudoHuber
        try withProblem(x: x, mu: mu, parameters, logprior: logprior, energies: energies) { problem in
            try withBuffers([gL, gR?.storage]) { upstream in
                try withMutableBuffers(&e.storage, &l, &r.storage, &gx.storage, &gmu.storage, &gscale) { eb, lb, rb, xb, mb, sb in
                    try withMutableBuffers(&gshape, &gtau, &gchol, &glogw, &glogprior.storage, &genergies.storage) { hb, tb, cb, wb, pb, db in
                        var g = GradientOutputs<T>(logw: wb, logprior: pb, tau: tb, energies: db)
                        if kernel != .learned { g.x = xb; g.mu = mb }
                        if kernel.isSeparable { g.scale = sb }
                        if kernel == .studentT { g.nu = hb } else if hasShape { g.delta = hb }
                        if kernel == .mahalanobis { g.chol = cb }
                        try Engine.gradients(problem, gL: upstream[0], gR: upstream[1],
                                             ForwardOutputs(energies: eb, logZ: lb, resp: rb), g)
                    }
                }
            }
        }
        return GradientResult(
            forward: ForwardResult(energies: e, logZ: l, resp: r),
            x: kernel == .learned ? nil : gx, mu: kernel == .learned ? nil : gmu,
            scale: kernel.isSeparable ? gscale : nil,
            nu: kernel == .studentT ? gshape[0] : nil,
            delta: kernel == .huber || kernel == .pseudoHuber ? gshape[0] : nil,
            chol: kernel == .mahalanobis ? gchol : nil,
            logw: glogw, logprior: glogprior, tau: gtau[0], energies: genergies)
    }

    /// Σ_n w_n r_nk (K), Σ_n w_n r_nk x_n (K×D), Σ_n w_n r_nk x_n x_nᵀ (K×D×D).
    public static func stats<T: IEFloat>(x: Matrix<T>, mu: Matrix<T>?, _ parameters: KernelParameters<T>,
                                         logprior: Matrix<T>? = nil, energies: Matrix<T>? = nil,
                                         weights: [T]? = nil) throws -> (sumR: [T], sumRX: Matrix<T>, sumRXX: [T]) {
        let (_, k) = try sizes(x: x, mu: mu, energies: energies)
        let d = x.cols
        var sumR = [T](repeating: 0, count: k), sumRX = Matrix<T>(zeros: k, d)
        var sumRXX = [T](repeating: 0, count: k * d * d)
        try withProblem(x: x, mu: mu, parameters, logprior: logprior, energies: energies) { problem in
            try withBuffers([weights]) { w in
                try sumR.withUnsafeMutableBufferPointer { a in
                    try sumRX.storage.withUnsafeMutableBufferPointer { b in
                        try sumRXX.withUnsafeMutableBufferPointer { c in
                            try Engine.stats(problem, weights: w[0], sumR: a, sumRX: b, sumRXX: c)
                        }
                    }
                }
            }
        }
        return (sumR, sumRX, sumRXX)
    }

    /// act(z) and act′(z) of the two-component signed model, kernels 1–7.
    public static func activation<T: IEFloat>(_ z: [T], kernel: Kernel, m: T = 1, scale: T = 1, nu: T = 0, delta: T = 0,
                                              tau: T = 1) throws -> (act: [T], dact: [T]) {
        var act = [T](repeating: 0, count: z.count), dact = act
        try z.withUnsafeBufferPointer { zb in
            try act.withUnsafeMutableBufferPointer { a in
                try dact.withUnsafeMutableBufferPointer { da in
                    try Engine.activation(kernel: kernel, z: zb, m: m, scale: scale, nu: nu, delta: delta, tau: tau,
                                          act: a, dact: da)
                }
            }
        }
        return (act, dact)
    }

    private static func sizes<T>(x: Matrix<T>?, mu: Matrix<T>?, energies: Matrix<T>?) throws -> (n: Int, k: Int) {
        if let energies { return (energies.rows, energies.cols) }
        guard let x, let mu else { throw ImplicitEMError(.nullPointer, "x and mu (or energies) are required") }
        if x.cols != mu.cols {
            throw ImplicitEMError(.badSize, "x has \(x.cols) columns but mu has \(mu.cols)")
        }
        return (x.rows, mu.rows)
    }

    private static func withProblem<T: IEFloat>(x: Matrix<T>?, mu: Matrix<T>?, _ p: KernelParameters<T>,
                                                logprior: Matrix<T>?, energies: Matrix<T>?,
                                                _ body: (Problem<T>) throws -> Void) throws {
        let (n, k) = try sizes(x: x, mu: mu, energies: energies)
        let d = x?.cols ?? mu?.cols ?? 0
        try withBuffers([x?.storage, mu?.storage, p.scale, p.chol, p.logw, logprior?.storage, energies?.storage]) { b in
            try body(Problem(kernel: p.kernel, n: n, k: k, d: d, x: b[0], mu: b[1], scaleShape: p.scaleShape,
                             scale: b[2], chol: b[3], logw: b[4], logprior: b[5], energies: b[6],
                             nu: p.nu, delta: p.delta, tau: p.tau, normalized: p.normalized))
        }
    }
}

/// Borrows each optional array as an optional buffer for the duration of `body`.
private func withBuffers<T, R>(_ arrays: [[T]?], _ body: ([UnsafeBufferPointer<T>?]) throws -> R) throws -> R {
    var views: [UnsafeBufferPointer<T>?] = []
    func borrow(_ i: Int) throws -> R {
        if i == arrays.count { return try body(views) }
        guard let array = arrays[i] else {
            views.append(nil)
            return try borrow(i + 1)
        }
        return try array.withUnsafeBufferPointer { b in
            views.append(b)
            return try borrow(i + 1)
        }
    }
    return try borrow(0)
}

private typealias MBuf<T> = UnsafeMutableBufferPointer<T>

/// Borrows six arrays mutably for the duration of `body`.
private func withMutableBuffers<T>(_ a: inout [T], _ b: inout [T], _ c: inout [T], _ d: inout [T], _ e: inout [T], _ f: inout [T],
                                   _ body: (MBuf<T>, MBuf<T>, MBuf<T>, MBuf<T>, MBuf<T>, MBuf<T>) throws -> Void) throws {
    try a.withUnsafeMutableBufferPointer { a in
        try b.withUnsafeMutableBufferPointer { b in
            try c.withUnsafeMutableBufferPointer { c in
                try d.withUnsafeMutableBufferPointer { d in
                    try e.withUnsafeMutableBufferPointer { e in
                        try f.withUnsafeMutableBufferPointer { f in try body(a, b, c, d, e, f) }
                    }
                }
            }
        }
    }
}
