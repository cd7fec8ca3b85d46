// The vocabulary shared by every part of the core: kernels, scale shapes, status codes,
// the problem description and the output views. The raw values are the C ABI's.

/// The energy kernels of KERNELS.md. Raw values are the C header's `IE_KERNEL_*`.
public enum Kernel: Int32, CaseIterable, Sendable {
    case gaussian = 1, laplace, logistic, studentT, huber, pseudoHuber, exponential
    case cosine, mahalanobis, learned

    /// Kernels 1–7: energies are sums over dimensions of ρ((x − μ)/s).
    public var isSeparable: Bool { rawValue <= Kernel.exponential.rawValue }

    /// The name used by the C header comments, the Python binding and error messages.
    public var name: String {
        switch self {
        case .gaussian: return "gaussian"
        case .laplace: return "laplace"
        case .logistic: return "logistic"
        case .studentT: return "student_t"
        case .huber: return "huber"
        case .pseudoHuber: return "pseudo_huber"
        case .exponential: return "exponential"
        case .cosine: return "cosine"
        case .mahalanobis: return "mahalanobis"
        case .learned: return "learned"
        }
    }
}

/// How many scales a separable kernel has. Raw values are the C header's `IE_SCALE_*`.
public enum ScaleShape: Int32, CaseIterable, Sendable {
    /// One scale for every component and dimension.
    case shared = 1
    /// One scale per component (K values).
    case perComponent = 2
    /// One scale per component and dimension (K×D values).
    case perDimension = 3

    /// The number of scale values for `k` components in `d` dimensions.
    public func count(k: Int, d: Int) -> Int {
        switch self {
        case .shared: return 1
        case .perComponent: return k
        case .perDimension: return k * d
        }
    }
}

/// Status codes. Raw values are the C header's `ie_status`; never reuse a number.
public enum Status: Int32, Sendable {
    case ok = 0
    case nullPointer = 1
    case badSize = 2
    case badParameter = 3
    case nonFiniteInput = 4
    case unsupported = 5
    case callbackFailed = 6
    case outOfMemory = 7
    case overlap = 8
    case badEnum = 9
    case badStruct = 10
    case didNotConverge = 11
}

/// The one error type the core throws: a status and a message naming the argument
/// (and where it applies the row, column and value).
public struct ImplicitEMError: Error, CustomStringConvertible, Sendable {
    public let status: Status
    public let message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

/// Fills energies for a block of consecutive rows (learned kernel).
/// - Parameters:
///   - xRows: the rows' inputs, `rows × d` (empty when the problem has no `x`).
///   - firstRow: the index of the block's first row.
///   - rows: the number of rows in the block.
///   - energies: `rows × k` energies to fill.
/// Throwing aborts the call with `Status.callbackFailed`; no output is written.
public typealias EnergyFunction<T> = (
    _ xRows: UnsafeBufferPointer<T>, _ firstRow: Int, _ rows: Int,
    _ energies: UnsafeMutableBufferPointer<T>
) throws -> Void

/// Everything that defines the logits `a_nk = logw_k + logprior_nk − d_nk/τ − c_k`.
/// Buffers are borrowed views; the caller keeps them alive for the call.
public struct Problem<T: IEFloat> {
    public var kernel: Kernel
    /// N samples, K components, D dimensions.
    public var n: Int
    public var k: Int
    public var d: Int
    /// N×D inputs (kernels 1–9; learned with an energy function).
    public var x: UnsafeBufferPointer<T>?
    /// K×D centres (kernels 1–9).
    public var mu: UnsafeBufferPointer<T>?
    public var scaleShape: ScaleShape
    /// Scales of kernels 1–7, `scaleShape.count(k:d:)` values; nil means 1.
    public var scale: UnsafeBufferPointer<T>?
    /// K×D×D lower Cholesky factors of the precisions (mahalanobis).
    public var chol: UnsafeBufferPointer<T>?
    /// K log-weights; nil means 0.
    public var logw: UnsafeBufferPointer<T>?
    /// N×K log-priors; nil means 0.
    public var logprior: UnsafeBufferPointer<T>?
    /// N×K given energies (learned).
    public var energies: UnsafeBufferPointer<T>?
    /// Learned energies by callback, used when `energies` is nil.
    public var energyFunction: EnergyFunction<T>?
    public var nu: T
    public var delta: T
    public var tau: T
    public var normalized: Bool

    @inlinable
    public init(kernel: Kernel, n: Int, k: Int, d: Int,
                x: UnsafeBufferPointer<T>? = nil, mu: UnsafeBufferPointer<T>? = nil,
                scaleShape: ScaleShape = .shared, scale: UnsafeBufferPointer<T>? = nil,
                chol: UnsafeBufferPointer<T>? = nil, logw: UnsafeBufferPointer<T>? = nil,
                logprior: UnsafeBufferPointer<T>? = nil, energies: UnsafeBufferPointer<T>? = nil,
                energyFunction: EnergyFunction<T>? = nil,
                nu: T = 0, delta: T = 0, tau: T = 1, normalized: Bool = false) {
        self.kernel = kernel
        self.n = n
        self.k = k
        self.d = d
        self.x = x
        self.mu = mu
        self.scaleShape = scaleShape
        self.scale = scale
        self.chol = chol
        self.logw = logw
        self.logprior = logprior
        self.energies = energies
        self.energyFunction = energyFunction
        self.nu = nu
        self.delta = delta
        self.tau = tau
        self.normalized = normalized
    }
}

/// Forward outputs; nil means "not computed".
public struct ForwardOutputs<T> {
    /// N×K energies.
    public var energies: UnsafeMutableBufferPointer<T>?
    /// N log-partitions.
    public var logZ: UnsafeMutableBufferPointer<T>?
    /// N×K responsibilities.
    public var resp: UnsafeMutableBufferPointer<T>?

    @inlinable
    public init(energies: UnsafeMutableBufferPointer<T>? = nil,
                logZ: UnsafeMutableBufferPointer<T>? = nil,
                resp: UnsafeMutableBufferPointer<T>? = nil) {
        self.energies = energies
        self.logZ = logZ
        self.resp = resp
    }
}

/// Gradient outputs, shaped like the inputs they belong to; nil means "not computed".
/// `nu`, `delta` and `tau` hold one value; `energies` is ∂objective/∂E (N×K).
public struct GradientOutputs<T> {
    public var x: UnsafeMutableBufferPointer<T>?
    public var mu: UnsafeMutableBufferPointer<T>?
    public var scale: UnsafeMutableBufferPointer<T>?
    public var nu: UnsafeMutableBufferPointer<T>?
    public var delta: UnsafeMutableBufferPointer<T>?
    public var chol: UnsafeMutableBufferPointer<T>?
    public var logw: UnsafeMutableBufferPointer<T>?
    public var logprior: UnsafeMutableBufferPointer<T>?
    public var tau: UnsafeMutableBufferPointer<T>?
    public var energies: UnsafeMutableBufferPointer<T>?

    @inlinable
    public init(x: UnsafeMutableBufferPointer<T>? = nil, mu: UnsafeMutableBufferPointer<T>? = nil,
                scale: UnsafeMutableBufferPointer<T>? = nil, nu: UnsafeMutableBufferPointer<T>? = nil,
                delta: UnsafeMutableBufferPointer<T>? = nil, chol: UnsafeMutableBufferPointer<T>? = nil,
                logw: UnsafeMutableBufferPointer<T>? = nil, logprior: UnsafeMutableBufferPointer<T>? = nil,
                tau: UnsafeMutableBufferPointer<T>? = nil, energies: UnsafeMutableBufferPointer<T>? = nil) {
        self.x = x
        self.mu = mu
        self.scale = scale
        self.nu = nu
        self.delta = delta
        self.chol = chol
        self.logw = logw
        self.logprior = logprior
        self.tau = tau
        self.energies = energies
    }
}
