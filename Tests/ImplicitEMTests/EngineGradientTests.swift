import XCTest
@testable import ImplicitEM

/// Every gradient of objective = Σ gL·logZ + Σ gR·R against central differences in float64,
/// for every kernel, scale shape and (where supported) with normalisation.
final class EngineGradientTests: XCTestCase {
    static let normalizable: [Kernel] = [.gaussian, .laplace, .studentT, .huber, .pseudoHuber, .exponential, .cosine, .mahalanobis]

    /// The parameters a kernel has.
    static func parameters(_ kernel: Kernel) -> [String] {
        switch kernel {
        case .gaussian, .laplace, .logistic, .exponential: return ["x", "mu", "scale", "logw", "logprior", "tau"]
        case .studentT: return ["x", "mu", "scale", "nu", "logw", "logprior", "tau"]
        case .huber, .pseudoHuber: return ["x", "mu", "scale", "delta", "logw", "logprior", "tau"]
        case .cosine: return ["x", "mu", "logw", "logprior", "tau"]
        case .mahalanobis: return ["x", "mu", "chol", "logw", "logprior", "tau"]
        case .learned: return ["energies", "logw", "logprior", "tau"]
        }
    }

    /// The problems to check for a kernel: each scale shape (and no scale) for kernels 1–7.
    static func problems(_ kernel: Kernel, normalized: Bool) -> [ProblemData] {
        if kernel.isSeparable {
            var list = ScaleShape.allCases.map { ProblemData.random(kernel, shape: $0, normalized: normalized) }
            var unscaled = ProblemData.random(kernel, shape: .shared, normalized: normalized, seed: 7)
            unscaled.scale = nil
            list.append(unscaled)
            return list
        }
        return [ProblemData.random(kernel, normalized: normalized)]
    }

    func checkGradients(_ data: ProblemData, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededRNG(seed: 99)
        let gL = rng.array(data.n, 0.2, 1.5)
        let gR = rng.array(data.n * data.k, -1, 1)
        let g = try analyticGradients(data, gL: gL, gR: gR, Double.self)
        let label = "\(data.kernel.name) shape=\(data.scale == nil ? "none" : "\(data.scaleShape)") normalized=\(data.normalized)"
        let params = Self.parameters(data.kernel)
        for name in params {
            guard let analytic = g[name], let values = data.values(name) ?? (name == "scale" ? [1] : nil) else {
                XCTFail("\(label): no gradient for \(name)", file: file, line: line)
                continue
            }
            let norm = analytic.map(abs).max() ?? 0
            for i in 0 ..< values.count {
                if name == "chol" {
                    let dd = data.d, row = (i / dd) % dd, col = i % dd
                    if col > row {
                        XCTAssertEqual(analytic[i], 0, "\(label): chol gradient above the diagonal", file: file, line: line)
                        continue
                    }
                }
                let fd = try centralDifference(data, name, i, gL: gL, gR: gR)
                assertClose(analytic[i], fd, rel: 1e-6, floor: 1e-3 * norm, "\(label) d/d\(name)[\(i)]", file: file, line: line)
            }
        }
        // ∂/∂E = −δ/τ, and δ = ∂/∂logprior (checked above), for every kernel.
        let gE = g["energies"]!, gLP = g["logprior"]!
        for i in 0 ..< data.n * data.k {
            assertClose(gE[i], -gLP[i] / data.tau, rel: 1e-15, floor: 1e-300, "\(label) dE[\(i)]", file: file, line: line)
        }
        // Parameters the kernel does not have get zero gradients.
        for name in ["x", "mu", "scale", "nu", "delta", "chol"] where !params.contains(name) {
            XCTAssertTrue(g[name]!.allSatisfy { $0 == 0 }, "\(label): \(name) gradient should be zero", file: file, line: line)
        }
    }

    func testGradientsUnnormalized() throws {
        for kernel in Kernel.allCases {
            for data in Self.problems(kernel, normalized: false) { try checkGradients(data) }
        }
    }

    func testGradientsNormalized() throws {
        for kernel in Self.normalizable {
            for data in Self.problems(kernel, normalized: true) { try checkGradients(data) }
        }
    }

    /// Without gL/gR (ones/zeros) the x, mu and logw gradients are the same as with explicit ones and zeros.
    func testDefaultUpstreamGradients() throws {
        let data = ProblemData.random(.studentT)
        let implicit = try analyticGradients(data, gL: nil, gR: nil, Double.self)
        let explicit = try analyticGradients(data, gL: [Double](repeating: 1, count: data.n),
                                             gR: [Double](repeating: 0, count: data.n * data.k), Double.self)
        for name in ["x", "mu", "scale", "nu", "logw", "tau"] { XCTAssertEqual(implicit[name], explicit[name], name) }
    }

    /// Float32 gradients agree with float64 ones at the same (float32-representable) point.
    func testFloat32AgreesWithFloat64() throws {
        for kernel in Kernel.allCases {
            for normalized in [false, true] where !normalized || Self.normalizable.contains(kernel) {
                for data0 in Self.problems(kernel, normalized: normalized) {
                    let data = data0.roundedToFloat()
                    var rng = SeededRNG(seed: 5)
                    let gL = rng.array(data.n, 0.2, 1.5).map { Double(Float($0)) }
                    let gR = rng.array(data.n * data.k, -1, 1).map { Double(Float($0)) }
                    let g64 = try analyticGradients(data, gL: gL, gR: gR, Double.self)
                    let g32 = try analyticGradients(data, gL: gL, gR: gR, Float.self)
                    for name in Self.parameters(kernel) + ["energies"] {
                        let a = g64[name]!, b = g32[name]!
                        let norm = a.map(abs).max() ?? 0
                        for i in 0 ..< a.count {
                            assertClose(b[i], a[i], rel: 2e-4, floor: 1e-2 * norm,
                                        "\(kernel.name) normalized=\(normalized) float32 d/d\(name)[\(i)]")
                        }
                    }
                    let f64 = try forward(data, Double.self), f32 = try forward(data, Float.self)
                    for i in 0 ..< data.n { assertClose(f32.logZ[i], f64.logZ[i], rel: 1e-5, floor: 1, "\(kernel.name) logZ[\(i)]") }
                    for i in 0 ..< data.n * data.k {
                        assertClose(f32.resp[i], f64.resp[i], rel: 1e-5, floor: 1, "\(kernel.name) resp[\(i)]")
                        assertClose(f32.energies[i], f64.energies[i], rel: 1e-5, floor: 1, "\(kernel.name) energies[\(i)]")
                    }
                }
            }
        }
    }
}

extension ProblemData {
    /// The same problem with every value rounded to float32.
    func roundedToFloat() -> ProblemData {
        func r(_ v: [Double]?) -> [Double]? { v?.map { Double(Float($0)) } }
        var p = self
        p.x = r(x); p.mu = r(mu); p.scale = r(scale); p.chol = r(chol); p.logw = r(logw)
        p.logprior = r(logprior); p.energies = r(energies)
        p.nu = Double(Float(nu)); p.delta = Double(Float(delta)); p.tau = Double(Float(tau))
        return p
    }
}
