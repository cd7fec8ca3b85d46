// Argument checks shared by every entry point. They run before any output is written, and
// each failure names the argument (and the row, column and value where they apply).

/// `a * b`, or a badSize error naming the product when it overflows.
func checkedProduct(_ a: Int, _ b: Int, _ what: String) throws -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    if overflow { throw ImplicitEMError(.badSize, "\(what) overflows (\(a) * \(b))") }
    return p
}

/// The buffer has exactly `expected` values.
func checkCount<B: Collection>(_ buffer: B?, _ name: String, _ expected: Int, _ formula: String) throws {
    guard let buffer else { return }
    if buffer.count != expected {
        throw ImplicitEMError(.badSize, "\(name) has \(buffer.count) values, expected \(formula) = \(expected)")
    }
}

/// "NaN", "inf" or "-inf".
func describeNonFinite<T: IEFloat>(_ v: T) -> String {
    v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf")
}

/// Every value is finite (or −∞ where `allowMinusInfinity`); `columns` > 0 names entries as [row, col].
func checkFinite<T: IEFloat>(_ buffer: UnsafeBufferPointer<T>?, _ name: String, columns: Int,
                             allowMinusInfinity: Bool = false) throws {
    guard let buffer else { return }
    for (index, v) in buffer.enumerated() where !v.isFinite {
        if allowMinusInfinity && v == -T.infinity { continue }
        throw ImplicitEMError(.nonFiniteInput, "\(name)\(position(index, columns: columns)) is \(describeNonFinite(v))")
    }
}

/// "[i]" or "[row, col]".
func position(_ index: Int, columns: Int) -> String {
    columns > 0 ? "[\(index / columns), \(index % columns)]" : "[\(index)]"
}

/// A scalar parameter is positive and finite.
func checkPositive<T: IEFloat>(_ v: T, _ name: String) throws {
    if v.isNaN || v.isInfinite {
        throw ImplicitEMError(.badParameter, "\(name) = \(v) must be finite and > 0")
    }
    if v <= 0 { throw ImplicitEMError(.badParameter, "\(name) = \(v) must be > 0") }
}

/// A byte range of a caller buffer, for the overlap check.
struct Region {
    let name: String
    let start: UInt
    let end: UInt

    init?<T>(_ name: String, _ buffer: UnsafeBufferPointer<T>?) {
        guard let buffer, let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        self.name = name
        start = UInt(bitPattern: base)
        end = start &+ UInt(buffer.count) &* UInt(MemoryLayout<T>.stride)
    }

    init?<T>(_ name: String, _ buffer: UnsafeMutableBufferPointer<T>?) {
        self.init(name, buffer.map { UnsafeBufferPointer($0) })
    }

    func overlaps(_ other: Region) -> Bool { start < other.end && other.start < end }
}

/// No output overlaps an input or another output.
func checkNoOverlap(inputs: [Region?], outputs: [Region?]) throws {
    let ins = inputs.compactMap { $0 }, outs = outputs.compactMap { $0 }
    for (i, out) in outs.enumerated() {
        for input in ins where out.overlaps(input) {
            throw ImplicitEMError(.overlap, "output \(out.name) overlaps input \(input.name)")
        }
        for other in outs[(i + 1)...] where out.overlaps(other) {
            throw ImplicitEMError(.overlap, "output \(out.name) overlaps output \(other.name)")
        }
    }
}

extension Problem {
    /// Whether the kernel reads x and mu.
    var usesCentres: Bool { kernel != .learned }
    /// Whether the kernel has a dimension (learned only when x is given: for the callback,
    /// or for the statistics of x, which are K×D and K×D×D whatever gives the energies).
    var usesDimension: Bool { kernel != .learned || x != nil }

    /// The regions of every input buffer the kernel reads.
    var inputRegions: [Region?] {
        [Region("x", x), Region("mu", mu), Region("scale", scale), Region("chol", chol),
         Region("logw", logw), Region("logprior", logprior), Region("energies", energies)]
    }

    /// Checks everything about the problem itself (not the outputs): presence, sizes,
    /// parameters, finiteness. Normalisation support is checked when the normalisers are built.
    func validate() throws {
        if n <= 0 { throw ImplicitEMError(.badSize, "n = \(n) must be > 0") }
        if k <= 0 { throw ImplicitEMError(.badSize, "k = \(k) must be > 0") }
        if kernel != .learned && d <= 0 { throw ImplicitEMError(.badSize, "d = \(d) must be > 0") }

        if usesCentres {
            if x == nil { throw ImplicitEMError(.nullPointer, "x is required by the \(kernel.name) kernel") }
            if mu == nil { throw ImplicitEMError(.nullPointer, "mu is required by the \(kernel.name) kernel") }
        }
        if kernel == .mahalanobis && chol == nil {
            throw ImplicitEMError(.nullPointer, "chol is required by the mahalanobis kernel")
        }
        if kernel == .learned && energies == nil && energyFunction == nil {
            throw ImplicitEMError(.nullPointer, "the learned kernel needs energies or an energy function")
        }
        if kernel == .learned && x != nil && d <= 0 {
            throw ImplicitEMError(.badSize, "d = \(d) must be > 0 when x is given")
        }

        let nk = try checkedProduct(n, k, "N*K")
        if usesDimension {
            let nd = try checkedProduct(n, d, "N*D")
            let kd = try checkedProduct(k, d, "K*D")
            if usesCentres || x != nil { try checkCount(x, "x", nd, "N*D") }
            if usesCentres { try checkCount(mu, "mu", kd, "K*D") }
            if kernel.isSeparable {
                try checkCount(scale, "scale", scaleShape.count(k: k, d: d),
                               scaleShape == .shared ? "1" : (scaleShape == .perComponent ? "K" : "K*D"))
            }
            if kernel == .mahalanobis {
                let kdd = try checkedProduct(kd, d, "K*D*D")
                try checkCount(chol, "chol", kdd, "K*D*D")
            }
        }
        try checkCount(logw, "logw", k, "K")
        try checkCount(logprior, "logprior", nk, "N*K")
        if kernel == .learned { try checkCount(energies, "energies", nk, "N*K") }

        try checkPositive(tau, "tau")
        if kernel == .studentT { try checkPositive(nu, "nu") }
        if kernel == .huber || kernel == .pseudoHuber { try checkPositive(delta, "delta") }
        if kernel.isSeparable, let scale {
            for (i, s) in scale.enumerated() where !(s > 0 && s.isFinite) {
                throw ImplicitEMError(.badParameter, s.isFinite
                    ? "scale[\(i)] = \(s) must be > 0" : "scale[\(i)] = \(s) must be finite and > 0")
            }
        }

        if usesCentres || x != nil { try checkFinite(x, "x", columns: d) }
        if usesCentres { try checkFinite(mu, "mu", columns: d) }
        if kernel == .mahalanobis, let chol {
            for kk in 0 ..< k {
                for i in 0 ..< d {
                    for j in 0 ... i {
                        let v = chol[(kk * d + i) * d + j]
                        if !v.isFinite {
                            throw ImplicitEMError(.nonFiniteInput, "chol[\(kk), \(i), \(j)] is \(describeNonFinite(v))")
                        }
                    }
                    let diag = chol[(kk * d + i) * d + i]
                    if diag <= 0 {
                        throw ImplicitEMError(.badParameter, "chol[\(kk), \(i), \(i)] = \(diag) must be > 0 (diagonal)")
                    }
                }
            }
        }
        try checkFinite(logw, "logw", columns: 0, allowMinusInfinity: true)
        try checkFinite(logprior, "logprior", columns: k, allowMinusInfinity: true)
        if kernel == .learned { try checkFinite(energies, "energies", columns: k) }
    }
}
