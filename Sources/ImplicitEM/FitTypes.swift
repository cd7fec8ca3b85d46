// The public vocabulary of fitting: which parameters are learned, how a fit starts, the
// parameters of a mixture, the options and the result. The fitting itself is Fit.swift.

/// Which parameters a fit learns (the C header's `IE_LEARN_*` bits).
public struct FitParameters: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Centres (kernels 1–9; cosine centres are unit directions).
    public static let means = FitParameters(rawValue: 1)
    /// Mixing proportions, kept as log-weights with log Σ exp = 0.
    public static let weights = FitParameters(rawValue: 2)
    /// Scales of kernels 1–7 except logistic (normalisation on).
    public static let scales = FitParameters(rawValue: 4)
    /// ν of student_t, δ of huber and pseudo_huber (normalisation on).
    public static let shape = FitParameters(rawValue: 8)
    /// The precision Cholesky factors of mahalanobis (normalisation on).
    public static let chol = FitParameters(rawValue: 16)
}

/// How a fit chooses its starting centres (the C header's `IE_INIT_*`).
public enum FitInitialization: Int32, Sendable {
    /// k-means++ seeding on the rows, weighted by the sample weights.
    case kmeansPlusPlus = 1
    /// K distinct rows of positive weight, uniformly at random.
    case randomPoints = 2
    /// The centres (and any other parameters) of `FitOptions.initial`.
    case given = 3
}

/// What became of one component at the end of a fit (the C header's `IE_COMPONENT_*`).
public enum ComponentStatus: Int32, Sendable {
    case ok = 0
    /// A scale (or a conditional standard deviation of mahalanobis) sits on the floor.
    case collapsed = 1
    /// Its total responsibility fell below 1e-9 of the total sample weight; its centre
    /// and scales are left where they were.
    case emptied = 2
}

/// The parameters of a mixture, in the layout of the problem arrays.
public struct MixtureParameters: Sendable, Equatable {
    /// K×D centres.
    public var mu: [Double]
    /// Scales of kernels 1–7 (`scaleShape.count(k:d:)` values); empty for kernels 8–9.
    public var scale: [Double]
    /// K×D×D lower Cholesky factors of the precisions (mahalanobis); empty otherwise.
    public var chol: [Double]
    /// K log mixing proportions.
    public var logw: [Double]
    /// ν of student_t (0 for the other kernels).
    public var nu: Double
    /// δ of huber and pseudo_huber (0 for the other kernels).
    public var delta: Double

    public init(mu: [Double], scale: [Double] = [], chol: [Double] = [], logw: [Double],
                nu: Double = 0, delta: Double = 0) {
        self.mu = mu
        self.scale = scale
        self.chol = chol
        self.logw = logw
        self.nu = nu
        self.delta = delta
    }
}

/// Everything that defines a fit besides the data.
public struct FitOptions {
    public var kernel: Kernel
    /// K, the number of components.
    public var components: Int
    /// The shape of the scales of kernels 1–7.
    public var scaleShape: ScaleShape
    /// Fixed or starting ν (student_t) and δ (huber, pseudo_huber).
    public var nu: Double
    public var delta: Double
    public var tau: Double
    /// nil: on for every kernel that has a normaliser (all but logistic).
    public var normalized: Bool?
    /// nil: means and weights, plus the scales and Cholesky factors when normalised.
    public var learn: FitParameters?
    public var maxIterations: Int
    /// Stop when an iteration raises the mean log-likelihood by less than this.
    public var tolerance: Double
    /// Independent starts (seeded one after the other); the best final objective is kept.
    /// A given start runs once.
    public var restarts: Int
    public var initialization: FitInitialization
    public var seed: UInt64
    /// Starting parameters: the centres for `.given`; scales, Cholesky factors, log-weights,
    /// ν and δ are used whenever present (empty arrays are derived from the data). A previous
    /// fit's parameters give a warm start.
    public var initial: MixtureParameters?
    /// The floor on scales and on the conditional standard deviations of mahalanobis;
    /// 0 means 1e-3 times the root-mean-square standard deviation of the data.
    public var minScale: Double
    /// Called after every iteration with (restart, iteration, mean log-likelihood);
    /// returning false stops the fit with `Status.callbackFailed`.
    public var progress: ((Int, Int, Double) -> Bool)?

    public init(kernel: Kernel, components: Int, scaleShape: ScaleShape = .perComponent,
                nu: Double = 0, delta: Double = 0, tau: Double = 1, normalized: Bool? = nil,
                learn: FitParameters? = nil, maxIterations: Int = 200, tolerance: Double = 1e-6,
                restarts: Int = 1, initialization: FitInitialization = .kmeansPlusPlus,
                seed: UInt64 = 0, initial: MixtureParameters? = nil, minScale: Double = 0,
                progress: ((Int, Int, Double) -> Bool)? = nil) {
        self.kernel = kernel
        self.components = components
        self.scaleShape = scaleShape
        self.nu = nu
        self.delta = delta
        self.tau = tau
        self.normalized = normalized
        self.learn = learn
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.restarts = restarts
        self.initialization = initialization
        self.seed = seed
        self.initial = initial
        self.minScale = minScale
        self.progress = progress
    }
}

/// The outcome of a fit: the best restart's parameters and its history.
public struct FitResult: Sendable {
    public var parameters: MixtureParameters
    /// Mean log-likelihood (Σ_n w_n L_n / Σ_n w_n) before the first iteration and after each.
    public var history: [Double]
    public var iterations: Int
    /// True when an iteration gained less than the tolerance, or no step could gain at all.
    public var converged: Bool
    public var meanLogLikelihood: Double
    public var componentStatus: [ComponentStatus]
    /// Which restart (0-based) gave these parameters.
    public var restart: Int
    /// The floor on scales that the fit used.
    public var minScale: Double
}
