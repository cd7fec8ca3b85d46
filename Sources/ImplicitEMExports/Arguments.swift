import ImplicitEM

// Turning the C arguments into the core's views: struct sizes, enums, sizes and the
// overflow of their products, and the NULL inputs a kernel needs, all checked before
// any buffer view exists. Parameter values, array contents and overlaps are the core's
// to check (Engine validates everything before it writes).

/// `a * b` as an element count whose byte size also fits in an Int.
@inline(__always)
func elementCount<T>(_ a: Int, _ b: Int, _ name: @autoclosure () -> String, of _: T.Type) throws -> Int {
    let (count, overflow) = a.multipliedReportingOverflow(by: b)
    let (_, byteOverflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    if overflow || byteOverflow { throw elementCountError(name(), a, b) }
    return count
}

@inline(never)
private func elementCountError(_ name: String, _ a: Int, _ b: Int) -> ImplicitEMError {
    ImplicitEMError(.badSize, "\(name) = \(a) * \(b) elements overflows")
}

/// A size argument: at least 1, and a count of elements whose bytes fit in an Int.
@inline(__always)
func positiveSize<T>(_ value: Int64, _ name: @autoclosure () -> String, of type: T.Type) throws -> Int {
    if value < 1 || Int(value) > Int.max / MemoryLayout<T>.stride { throw sizeError(name(), value) }
    return Int(value)
}

@inline(never)
private func sizeError(_ name: String, _ value: Int64) -> ImplicitEMError {
    value < 1 ? ImplicitEMError(.badSize, "\(name) = \(value) must be >= 1")
        : ImplicitEMError(.badSize, "\(name) = \(value) is too large (its byte size overflows)")
}

/// One checked ie_problem_f32/f64 and the core's Problem built over it.
struct ProblemArguments<T: CScalar> {
    let problem: Problem<T>
    let n: Int
    let k: Int
    /// 0 when the call does not use D (learned without x).
    let d: Int
    let nk: Int
    let nd: Int
    let kd: Int
    let scaleCount: Int

    /// `xRequired`: the call needs x even for the learned kernel (its statistics of x).
    init(_ pointer: UnsafeRawPointer?, xRequired: Bool = false) throws {
        guard let pointer else { throw ImplicitEMError(.nullPointer, "problem is NULL") }
        let expected = UInt(MemoryLayout<CProblem<T>>.stride)
        // Unaligned loads: a misaligned struct from a foreign caller must not trap.
        let size = pointer.loadUnaligned(as: UInt.self)
        guard size == expected else {
            throw ImplicitEMError(
                .badStruct, "problem->struct_size = \(size), expected \(expected) "
                    + "(sizeof(ie_problem_\(T.suffix))): fill the struct with ie_problem_init_\(T.suffix)")
        }
        let raw = pointer.loadUnaligned(as: CProblem<T>.self)

        guard let kernel = Kernel(rawValue: raw.kernel) else {
            throw ImplicitEMError(.badEnum, "kernel = \(raw.kernel) is not an ie_kernel (1-10)")
        }
        var scaleShape = ScaleShape.shared
        if kernel.isSeparable {
            guard let shape = ScaleShape(rawValue: raw.scaleShape) else {
                throw ImplicitEMError(
                    .badEnum, "scale_shape = \(raw.scaleShape) is not an ie_scale_shape (1-3)")
            }
            scaleShape = shape
        }

        // The learned kernel reads x (and so D) only for its callback or its statistics of x.
        let isLearned = kernel == .learned
        let usesX = !isLearned || (raw.x != nil && (raw.energies == nil || xRequired))

        n = try positiveSize(raw.n, "n", of: T.self)
        k = try positiveSize(raw.k, "k", of: T.self)
        d = usesX ? try positiveSize(raw.d, "d", of: T.self) : 0
        nk = try elementCount(n, k, "n * k", of: T.self)
        nd = try elementCount(n, d, "n * d", of: T.self)
        kd = try elementCount(k, d, "k * d", of: T.self)
        switch scaleShape {
        case .shared: scaleCount = 1
        case .perComponent: scaleCount = k
        case .perDimension: scaleCount = kd
        }

        if raw.x == nil && !isLearned {
            throw ImplicitEMError(.nullPointer, "x is NULL (the \(kernel.name) kernel needs it)")
        }
        if !isLearned && raw.mu == nil {
            throw ImplicitEMError(.nullPointer, "mu is NULL (the \(kernel.name) kernel needs it)")
        }
        if kernel == .mahalanobis && raw.chol == nil {
            throw ImplicitEMError(.nullPointer, "chol is NULL (the mahalanobis kernel needs it)")
        }
        if isLearned && raw.energies == nil && raw.energyFn == nil {
            throw ImplicitEMError(
                .nullPointer, "energies and energy_fn are both NULL (the learned kernel needs one)")
        }
        if raw.x == nil && xRequired {
            throw ImplicitEMError(.nullPointer, "x is NULL (sum_rx and sum_rxx need it)")
        }

        var problem = Problem<T>(
            kernel: kernel, n: n, k: k, d: d,
            x: usesX ? inputView(raw.x, nd) : nil,
            mu: isLearned ? nil : inputView(raw.mu, kd),
            scaleShape: scaleShape,
            scale: kernel.isSeparable ? inputView(raw.scale, scaleCount) : nil,
            chol: kernel == .mahalanobis ? inputView(raw.chol, try elementCount(kd, d, "k * d * d", of: T.self)) : nil,
            logw: inputView(raw.logw, k),
            logprior: inputView(raw.logprior, nk),
            energies: isLearned ? inputView(raw.energies, nk) : nil,
            nu: raw.nu, delta: raw.delta, tau: raw.tau, normalized: raw.normalized != 0)

        if isLearned && raw.energies == nil, let function = raw.energyFn {
            let user = raw.energyUser
            let d64 = Int64(d)
            problem.energyFunction = { xRows, firstRow, rows, energies in
                let code = T.callEnergy(function, user, xRows.baseAddress, Int64(rows), d64,
                                        energies.baseAddress)
                if code != 0 {
                    throw ImplicitEMError(
                        .callbackFailed,
                        "energy_fn returned \(code) for rows \(firstRow)..<\(firstRow + rows)")
                }
            }
        }
        self.problem = problem
    }

    /// K×D×D, for the outputs shaped like chol; checked here as only some calls need it.
    func kdd() throws -> Int { try elementCount(kd, d, "k * d * d", of: T.self) }
}

/// A checked ie_grads_f32/f64.
func loadGrads<T: CScalar>(_ pointer: UnsafeRawPointer?) throws -> CGrads<T>? {
    guard let pointer else { return nil }
    let expected = UInt(MemoryLayout<CGrads<T>>.stride)
    let size = pointer.loadUnaligned(as: UInt.self)
    guard size == expected else {
        throw ImplicitEMError(
            .badStruct, "grads->struct_size = \(size), expected \(expected) "
                + "(sizeof(ie_grads_\(T.suffix))): fill the struct with ie_grads_init_\(T.suffix)")
    }
    return pointer.loadUnaligned(as: CGrads<T>.self)
}

/// A mutable view of `count` elements, or nil for a NULL pointer.
@inline(__always)
func outputView<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> UnsafeMutableBufferPointer<T>? {
    pointer.map { UnsafeMutableBufferPointer(start: $0, count: count) }
}

/// A view of `count` elements, or nil for a NULL pointer.
@inline(__always)
func inputView<T>(_ pointer: UnsafePointer<T>?, _ count: Int) -> UnsafeBufferPointer<T>? {
    pointer.map { UnsafeBufferPointer(start: $0, count: count) }
}
