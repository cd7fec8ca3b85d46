import ImplicitEM

// The C entry points of the fitting section of include/implicitem.h: check the structs and
// pointers, build the core's FitOptions, run Fit.fit, and only then write the result.

typealias FitProgressFn = @convention(c) (UnsafeMutableRawPointer?, Int64, Int64, Double) -> Int32

/// ie_fit_options_f64, field for field.
struct CFitOptions {
    var structSize: UInt
    var kernel: Int32
    var scaleShape: Int32
    var k: Int64
    var nu: Double
    var delta: Double
    var tau: Double
    var normalized: Int32
    var learn: UInt32
    var maxIter: Int64
    var tol: Double
    var nInit: Int64
    var initMethod: Int32
    var seed: UInt64
    var minScale: Double
    var initMu: UnsafePointer<Double>?
    var initScale: UnsafePointer<Double>?
    var initChol: UnsafePointer<Double>?
    var initLogw: UnsafePointer<Double>?
    var progress: FitProgressFn?
    var progressUser: UnsafeMutableRawPointer?

    static var defaults: CFitOptions {
        CFitOptions(structSize: UInt(MemoryLayout<CFitOptions>.stride), kernel: Kernel.gaussian.rawValue,
                    scaleShape: ScaleShape.perComponent.rawValue, k: 0, nu: 0, delta: 0, tau: 1,
                    normalized: -1, learn: 0, maxIter: 200, tol: 1e-6, nInit: 1,
                    initMethod: FitInitialization.kmeansPlusPlus.rawValue, seed: 0, minScale: 0,
                    initMu: nil, initScale: nil, initChol: nil, initLogw: nil, progress: nil,
                    progressUser: nil)
    }
}

/// ie_fit_result_f64, field for field.
struct CFitResult {
    var structSize: UInt
    var mu: UnsafeMutablePointer<Double>?
    var scale: UnsafeMutablePointer<Double>?
    var chol: UnsafeMutablePointer<Double>?
    var logw: UnsafeMutablePointer<Double>?
    var nu: UnsafeMutablePointer<Double>?
    var delta: UnsafeMutablePointer<Double>?
    var history: UnsafeMutablePointer<Double>?
    var componentStatus: UnsafeMutablePointer<Int32>?
    var nIter: Int64
    var nHistory: Int64
    var converged: Int32
    var bestRestart: Int32
    var meanLogLikelihood: Double
    var minScale: Double

    static var defaults: CFitResult {
        CFitResult(structSize: UInt(MemoryLayout<CFitResult>.stride), mu: nil, scale: nil, chol: nil,
                   logw: nil, nu: nil, delta: nil, history: nil, componentStatus: nil, nIter: 0,
                   nHistory: 0, converged: 0, bestRestart: 0, meanLogLikelihood: 0, minScale: 0)
    }
}

@_cdecl("ie_fit_options_init_f64")
public func ie_fit_options_init_f64(_ options: UnsafeMutableRawPointer?) -> Int32 {
    exportedCall {
        guard let options else { throw ImplicitEMError(.nullPointer, "options is NULL") }
        options.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<CFitOptions>.stride)
        options.storeBytes(of: CFitOptions.defaults, as: CFitOptions.self)
    }
}

@_cdecl("ie_fit_result_init_f64")
public func ie_fit_result_init_f64(_ result: UnsafeMutableRawPointer?) -> Int32 {
    exportedCall {
        guard let result else { throw ImplicitEMError(.nullPointer, "result is NULL") }
        result.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<CFitResult>.stride)
        result.storeBytes(of: CFitResult.defaults, as: CFitResult.self)
    }
}

/// Loads a struct after checking that it starts with the expected struct_size.
private func loadStruct<S>(_ pointer: UnsafeRawPointer?, _ type: S.Type, _ name: String,
                           _ cName: String) throws -> S {
    guard let pointer else { throw ImplicitEMError(.nullPointer, "\(name) is NULL") }
    let expected = UInt(MemoryLayout<S>.stride)
    let size = pointer.loadUnaligned(as: UInt.self)
    guard size == expected else {
        throw ImplicitEMError(.badStruct, "\(name)->struct_size = \(size), expected \(expected) "
            + "(sizeof(\(cName))): fill the struct with \(cName.dropLast(4))_init_f64")
    }
    return pointer.loadUnaligned(as: S.self)
}

@_cdecl("ie_fit_f64")
public func ie_fit_f64(_ optionsPointer: UnsafeRawPointer?, _ n: Int64, _ d: Int64,
                       _ x: UnsafePointer<Double>?, _ sampleWeight: UnsafePointer<Double>?,
                       _ resultPointer: UnsafeMutableRawPointer?) -> Int32 {
    var converged = true
    var iterations = 0
    let status = exportedCall {
        let raw = try loadStruct(optionsPointer, CFitOptions.self, "options", "ie_fit_options_f64")
        var out = try loadStruct(resultPointer.map { UnsafeRawPointer($0) }, CFitResult.self,
                                 "result", "ie_fit_result_f64")
        guard let x else { throw ImplicitEMError(.nullPointer, "x is NULL") }
        guard n >= 1 else { throw ImplicitEMError(.badSize, "n = \(n) must be >= 1") }
        guard d >= 1 else { throw ImplicitEMError(.badSize, "d = \(d) must be >= 1") }
        guard raw.k >= 1 else { throw ImplicitEMError(.badSize, "options->k = \(raw.k) must be >= 1") }
        let rows = Int(n), dims = Int(d), k = Int(raw.k)
        let (nd, overflowND) = rows.multipliedReportingOverflow(by: dims)
        let (kd, overflowKD) = k.multipliedReportingOverflow(by: dims)
        let (kdd, overflowKDD) = kd.multipliedReportingOverflow(by: dims)
        let (_, overflowBytes) = nd.multipliedReportingOverflow(by: 8)
        let (_, overflowKDDBytes) = kdd.multipliedReportingOverflow(by: 8)
        guard !overflowND && !overflowKD && !overflowKDD && !overflowBytes && !overflowKDDBytes else {
            throw ImplicitEMError(.badSize, "n * d or k * d * d overflows")
        }
        guard let kernel = Kernel(rawValue: raw.kernel) else {
            throw ImplicitEMError(.badEnum, "options->kernel = \(raw.kernel) is not an ie_kernel (1-10)")
        }
        guard let scaleShape = ScaleShape(rawValue: raw.scaleShape) else {
            throw ImplicitEMError(.badEnum, "options->scale_shape = \(raw.scaleShape) is not an ie_scale_shape (1-3)")
        }
        guard let initialization = FitInitialization(rawValue: raw.initMethod) else {
            throw ImplicitEMError(.badEnum, "options->init = \(raw.initMethod) is not an ie_init (1-3)")
        }
        guard raw.normalized >= -1 && raw.normalized <= 1 else {
            throw ImplicitEMError(.badEnum, "options->normalized = \(raw.normalized), must be -1, 0 or 1")
        }
        guard raw.learn & ~UInt32(31) == 0 else {
            throw ImplicitEMError(.badEnum, "options->learn = \(raw.learn) has bits outside IE_LEARN_*")
        }
        guard raw.maxIter >= 0 && raw.maxIter < Int64(Int32.max) else {
            throw ImplicitEMError(.badParameter, "options->max_iter = \(raw.maxIter), must be in [0, 2^31)")
        }
        guard raw.nInit >= 1 && raw.nInit < Int64(Int32.max) else {
            throw ImplicitEMError(.badParameter, "options->n_init = \(raw.nInit), must be in [1, 2^31)")
        }
        let scaleCount = kernel.isSeparable ? scaleShape.count(k: k, d: dims) : 0
        var initial: MixtureParameters?
        if raw.initMu != nil || raw.initScale != nil || raw.initChol != nil || raw.initLogw != nil {
            func copy(_ p: UnsafePointer<Double>?, _ count: Int) -> [Double] {
                guard let p, count > 0 else { return [] }
                return Array(UnsafeBufferPointer(start: p, count: count))
            }
            initial = MixtureParameters(mu: copy(raw.initMu, kd), scale: copy(raw.initScale, scaleCount),
                                        chol: copy(raw.initChol, kernel == .mahalanobis ? kdd : 0),
                                        logw: copy(raw.initLogw, k), nu: raw.nu, delta: raw.delta)
        }
        if initialization == .given && raw.initMu == nil {
            throw ImplicitEMError(.nullPointer, "options->init_mu is NULL, and init is IE_INIT_GIVEN")
        }
        var options = FitOptions(kernel: kernel, components: k, scaleShape: scaleShape, nu: raw.nu,
                                 delta: raw.delta, tau: raw.tau,
                                 normalized: raw.normalized == -1 ? nil : raw.normalized == 1,
                                 learn: raw.learn == 0 ? nil : FitParameters(rawValue: raw.learn),
                                 maxIterations: Int(raw.maxIter), tolerance: raw.tol,
                                 restarts: Int(raw.nInit), initialization: initialization,
                                 seed: raw.seed, initial: initial, minScale: raw.minScale)
        if let progress = raw.progress {
            let user = raw.progressUser
            options.progress = { restart, iteration, value in
                progress(user, Int64(restart), Int64(iteration), value) == 0
            }
        }
        try checkFitOverlap(inputs: [("x", UnsafeRawPointer(x), nd * 8),
                                     ("sample_weight", UnsafeRawPointer(sampleWeight), rows * 8),
                                     ("init_mu", UnsafeRawPointer(raw.initMu), kd * 8),
                                     ("init_scale", UnsafeRawPointer(raw.initScale), scaleCount * 8),
                                     ("init_chol", UnsafeRawPointer(raw.initChol), kdd * 8),
                                     ("init_logw", UnsafeRawPointer(raw.initLogw), k * 8)],
                            outputs: [("result->mu", UnsafeRawPointer(out.mu), kd * 8),
                                      ("result->scale", UnsafeRawPointer(out.scale), scaleCount * 8),
                                      ("result->chol", UnsafeRawPointer(out.chol), kernel == .mahalanobis ? kdd * 8 : 0),
                                      ("result->logw", UnsafeRawPointer(out.logw), k * 8),
                                      ("result->nu", UnsafeRawPointer(out.nu), 8),
                                      ("result->delta", UnsafeRawPointer(out.delta), 8),
                                      ("result->history", UnsafeRawPointer(out.history), (Int(raw.maxIter) + 1) * 8),
                                      ("result->component_status", UnsafeRawPointer(out.componentStatus), k * 4)])
        let xs = UnsafeBufferPointer(start: x, count: nd)
        let ws = sampleWeight.map { UnsafeBufferPointer(start: $0, count: rows) }
        let result = try Fit.fit(x: xs, n: rows, d: dims, sampleWeights: ws, options: options)

        // Everything succeeded: now write.
        let p = result.parameters
        func write(_ values: [Double], _ destination: UnsafeMutablePointer<Double>?) {
            guard let destination else { return }
            for (i, value) in values.enumerated() { destination[i] = value }
        }
        write(p.mu, out.mu)
        write(p.scale, out.scale)
        write(p.chol, out.chol)
        write(p.logw, out.logw)
        out.nu?.pointee = p.nu
        out.delta?.pointee = p.delta
        write(result.history, out.history)
        if let statuses = out.componentStatus {
            for (i, value) in result.componentStatus.enumerated() { statuses[i] = value.rawValue }
        }
        out.nIter = Int64(result.iterations)
        out.nHistory = Int64(result.history.count)
        out.converged = result.converged ? 1 : 0
        out.bestRestart = Int32(clamping: result.restart)
        out.meanLogLikelihood = result.meanLogLikelihood
        out.minScale = result.minScale
        resultPointer?.storeBytes(of: out, as: CFitResult.self)
        converged = result.converged
        iterations = result.iterations
    }
    if status == Status.ok.rawValue && !converged {
        LastError.set("the fit stopped at max_iter = \(iterations) before the tolerance; the result is valid")
        return Status.didNotConverge.rawValue
    }
    return status
}

/// IE_ERR_OVERLAP when an output buffer shares bytes with an input or another output.
private func checkFitOverlap(inputs: [(String, UnsafeRawPointer?, Int)],
                             outputs: [(String, UnsafeRawPointer?, Int)]) throws {
    func range(_ region: (String, UnsafeRawPointer?, Int)) -> (String, UInt, UInt)? {
        guard let start = region.1, region.2 > 0 else { return nil }
        let from = UInt(bitPattern: start)
        let (end, overflow) = from.addingReportingOverflow(UInt(region.2))
        return (region.0, from, overflow ? UInt.max : end)
    }
    let ins = inputs.compactMap(range), outs = outputs.compactMap(range)
    for (i, a) in outs.enumerated() {
        for b in ins + outs[(i + 1)...] where a.1 < b.2 && b.1 < a.2 {
            throw ImplicitEMError(.overlap, "\(a.0) overlaps \(b.0)")
        }
    }
}
