import ImplicitEM

// The C entry points of include/implicitem.h: each checks its arguments, builds views and
// calls Engine. The _f32/_f64 pairs share one generic body.

// MARK: - Struct initialisers

@_cdecl("ie_problem_init_f64")
public func ie_problem_init_f64(_ problem: UnsafeMutableRawPointer?) -> Int32 {
    initProblem(problem, Double.self)
}

@_cdecl("ie_problem_init_f32")
public func ie_problem_init_f32(_ problem: UnsafeMutableRawPointer?) -> Int32 {
    initProblem(problem, Float.self)
}

@_cdecl("ie_grads_init_f64")
public func ie_grads_init_f64(_ grads: UnsafeMutableRawPointer?) -> Int32 {
    initGrads(grads, Double.self)
}

@_cdecl("ie_grads_init_f32")
public func ie_grads_init_f32(_ grads: UnsafeMutableRawPointer?) -> Int32 {
    initGrads(grads, Float.self)
}

private func initProblem<T: CScalar>(_ pointer: UnsafeMutableRawPointer?, _: T.Type) -> Int32 {
    exportedCall {
        guard let pointer else { throw ImplicitEMError(.nullPointer, "problem is NULL") }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<CProblem<T>>.stride)
        pointer.storeBytes(of: CProblem<T>.defaults, as: CProblem<T>.self)
    }
}

private func initGrads<T: CScalar>(_ pointer: UnsafeMutableRawPointer?, _: T.Type) -> Int32 {
    exportedCall {
        guard let pointer else { throw ImplicitEMError(.nullPointer, "grads is NULL") }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<CGrads<T>>.stride)
        pointer.storeBytes(of: CGrads<T>.defaults, as: CGrads<T>.self)
    }
}

// MARK: - Forward

@_cdecl("ie_forward_f64")
public func ie_forward_f64(_ problem: UnsafeRawPointer?, _ energies: UnsafeMutablePointer<Double>?,
                           _ logZ: UnsafeMutablePointer<Double>?,
                           _ resp: UnsafeMutablePointer<Double>?) -> Int32 {
    forward(problem, energies, logZ, resp)
}

@_cdecl("ie_forward_f32")
public func ie_forward_f32(_ problem: UnsafeRawPointer?, _ energies: UnsafeMutablePointer<Float>?,
                           _ logZ: UnsafeMutablePointer<Float>?,
                           _ resp: UnsafeMutablePointer<Float>?) -> Int32 {
    forward(problem, energies, logZ, resp)
}

private func forward<T: CScalar>(_ pointer: UnsafeRawPointer?, _ energies: UnsafeMutablePointer<T>?,
                                 _ logZ: UnsafeMutablePointer<T>?,
                                 _ resp: UnsafeMutablePointer<T>?) -> Int32 {
    exportedCall {
        let args = try ProblemArguments<T>(pointer)
        let out = ForwardOutputs(energies: outputView(energies, args.nk), logZ: outputView(logZ, args.n),
                                 resp: outputView(resp, args.nk))
        try Engine.forward(args.problem, out)
    }
}

// MARK: - Gradients

@_cdecl("ie_gradients_f64")
public func ie_gradients_f64(_ problem: UnsafeRawPointer?, _ gL: UnsafePointer<Double>?,
                             _ gR: UnsafePointer<Double>?, _ energies: UnsafeMutablePointer<Double>?,
                             _ logZ: UnsafeMutablePointer<Double>?, _ resp: UnsafeMutablePointer<Double>?,
                             _ grads: UnsafeRawPointer?) -> Int32 {
    gradients(problem, gL, gR, energies, logZ, resp, grads)
}

@_cdecl("ie_gradients_f32")
public func ie_gradients_f32(_ problem: UnsafeRawPointer?, _ gL: UnsafePointer<Float>?,
                             _ gR: UnsafePointer<Float>?, _ energies: UnsafeMutablePointer<Float>?,
                             _ logZ: UnsafeMutablePointer<Float>?, _ resp: UnsafeMutablePointer<Float>?,
                             _ grads: UnsafeRawPointer?) -> Int32 {
    gradients(problem, gL, gR, energies, logZ, resp, grads)
}

private func gradients<T: CScalar>(_ pointer: UnsafeRawPointer?, _ gL: UnsafePointer<T>?,
                                   _ gR: UnsafePointer<T>?, _ energies: UnsafeMutablePointer<T>?,
                                   _ logZ: UnsafeMutablePointer<T>?, _ resp: UnsafeMutablePointer<T>?,
                                   _ gradsPointer: UnsafeRawPointer?) -> Int32 {
    exportedCall {
        let args = try ProblemArguments<T>(pointer)
        let g: CGrads<T>? = try loadGrads(gradsPointer)
        // Outputs whose shape involves D are left alone when the problem has no D (the
        // learned kernel without x); the core zero-fills the gradients of unused parameters.
        let hasD = args.d > 0
        let grads = GradientOutputs<T>(
            x: hasD ? outputView(g?.x, args.nd) : nil,
            mu: hasD ? outputView(g?.mu, args.kd) : nil,
            scale: outputView(g?.scale, args.problem.scale == nil ? 1 : args.scaleCount),
            nu: outputView(g?.nu, 1),
            delta: outputView(g?.delta, 1),
            chol: hasD && g?.chol != nil ? outputView(g?.chol, try args.kdd()) : nil,
            logw: outputView(g?.logw, args.k),
            logprior: outputView(g?.logprior, args.nk),
            tau: outputView(g?.tau, 1),
            energies: outputView(g?.energies, args.nk))
        let out = ForwardOutputs(energies: outputView(energies, args.nk), logZ: outputView(logZ, args.n),
                                 resp: outputView(resp, args.nk))
        try Engine.gradients(args.problem, gL: inputView(gL, args.n), gR: inputView(gR, args.nk), out, grads)
    }
}

// MARK: - Sufficient statistics

@_cdecl("ie_stats_f64")
public func ie_stats_f64(_ problem: UnsafeRawPointer?, _ weights: UnsafePointer<Double>?,
                         _ sumR: UnsafeMutablePointer<Double>?, _ sumRX: UnsafeMutablePointer<Double>?,
                         _ sumRXX: UnsafeMutablePointer<Double>?) -> Int32 {
    stats(problem, weights, sumR, sumRX, sumRXX)
}

@_cdecl("ie_stats_f32")
public func ie_stats_f32(_ problem: UnsafeRawPointer?, _ weights: UnsafePointer<Float>?,
                         _ sumR: UnsafeMutablePointer<Float>?, _ sumRX: UnsafeMutablePointer<Float>?,
                         _ sumRXX: UnsafeMutablePointer<Float>?) -> Int32 {
    stats(problem, weights, sumR, sumRX, sumRXX)
}

private func stats<T: CScalar>(_ pointer: UnsafeRawPointer?, _ weights: UnsafePointer<T>?,
                               _ sumR: UnsafeMutablePointer<T>?, _ sumRX: UnsafeMutablePointer<T>?,
                               _ sumRXX: UnsafeMutablePointer<T>?) -> Int32 {
    exportedCall {
        let args = try ProblemArguments<T>(pointer, xRequired: sumRX != nil || sumRXX != nil)
        try Engine.stats(args.problem, weights: inputView(weights, args.n), sumR: outputView(sumR, args.k),
                         sumRX: outputView(sumRX, args.kd),
                         sumRXX: sumRXX == nil ? nil : outputView(sumRXX, try args.kdd()))
    }
}

// MARK: - Normalisers

@_cdecl("ie_log_normalizer_f64")
public func ie_log_normalizer_f64(_ problem: UnsafeRawPointer?, _ c: UnsafeMutablePointer<Double>?) -> Int32 {
    logNormalizer(problem, c)
}

@_cdecl("ie_log_normalizer_f32")
public func ie_log_normalizer_f32(_ problem: UnsafeRawPointer?, _ c: UnsafeMutablePointer<Float>?) -> Int32 {
    logNormalizer(problem, c)
}

private func logNormalizer<T: CScalar>(_ pointer: UnsafeRawPointer?, _ c: UnsafeMutablePointer<T>?) -> Int32 {
    exportedCall {
        let args = try ProblemArguments<T>(pointer)
        guard let c else { throw ImplicitEMError(.nullPointer, "c is NULL") }
        try Engine.logNormalizer(args.problem, UnsafeMutableBufferPointer(start: c, count: args.k))
    }
}

// MARK: - Activations

@_cdecl("ie_activation_f64")
public func ie_activation_f64(_ kernel: Int32, _ n: Int64, _ z: UnsafePointer<Double>?, _ m: Double,
                              _ scale: Double, _ nu: Double, _ delta: Double, _ tau: Double,
                              _ act: UnsafeMutablePointer<Double>?,
                              _ dact: UnsafeMutablePointer<Double>?) -> Int32 {
    activation(kernel, n, z, m, scale, nu, delta, tau, act, dact)
}

@_cdecl("ie_activation_f32")
public func ie_activation_f32(_ kernel: Int32, _ n: Int64, _ z: UnsafePointer<Float>?, _ m: Float,
                              _ scale: Float, _ nu: Float, _ delta: Float, _ tau: Float,
                              _ act: UnsafeMutablePointer<Float>?,
                              _ dact: UnsafeMutablePointer<Float>?) -> Int32 {
    activation(kernel, n, z, m, scale, nu, delta, tau, act, dact)
}

private func activation<T: CScalar>(_ kernelValue: Int32, _ n: Int64, _ z: UnsafePointer<T>?, _ m: T,
                                    _ scale: T, _ nu: T, _ delta: T, _ tau: T,
                                    _ act: UnsafeMutablePointer<T>?,
                                    _ dact: UnsafeMutablePointer<T>?) -> Int32 {
    exportedCall {
        guard let kernel = Kernel(rawValue: kernelValue) else {
            throw ImplicitEMError(.badEnum, "kernel = \(kernelValue) is not an ie_kernel (1-10)")
        }
        let count = try positiveSize(n, "n", of: T.self)
        guard let z else { throw ImplicitEMError(.nullPointer, "z is NULL") }
        try Engine.activation(kernel: kernel, z: UnsafeBufferPointer(start: z, count: count), m: m,
                              scale: scale, nu: nu, delta: delta, tau: tau,
                              act: outputView(act, count), dact: outputView(dact, count))
    }
}

// MARK: - Threads

@_cdecl("ie_set_num_threads")
public func ie_set_num_threads(_ n: Int32) -> Int32 {
    exportedCall {
        guard n >= 0 else {
            throw ImplicitEMError(.badSize, "n = \(n) must be >= 0 (0 restores the default)")
        }
        Threads.count = Int(n)
    }
}

@_cdecl("ie_get_num_threads")
public func ie_get_num_threads() -> Int32 {
    Int32(clamping: Threads.count)
}
