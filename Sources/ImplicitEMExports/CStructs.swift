import ImplicitEM

// Swift mirrors of the header's structs. Swift lays out a struct's stored properties in
// declaration order at their natural alignment, as C does, so these match
// ie_problem_f32/f64 and ie_grads_f32/f64 field for field; C's sizeof is the stride.
// The C tests check struct_size against sizeof and every field end to end.

/// ie_problem_f32 (T = Float) and ie_problem_f64 (T = Double).
struct CProblem<T> {
    var structSize: UInt
    var kernel: Int32
    var scaleShape: Int32
    var n: Int64
    var k: Int64
    var d: Int64
    var x: UnsafePointer<T>?
    var mu: UnsafePointer<T>?
    var scale: UnsafePointer<T>?
    var chol: UnsafePointer<T>?
    var logw: UnsafePointer<T>?
    var logprior: UnsafePointer<T>?
    var energies: UnsafePointer<T>?
    /// ie_energy_fn_f32/f64; a C function pointer cannot be generic, so it is kept raw.
    var energyFn: UnsafeRawPointer?
    var energyUser: UnsafeMutableRawPointer?
    var nu: T
    var delta: T
    var tau: T
    var normalized: Int32
}

extension CProblem where T: IEFloat {
    /// The header's defaults (ie_problem_init_*).
    static var defaults: CProblem<T> {
        CProblem(structSize: UInt(MemoryLayout<CProblem<T>>.stride),
                 kernel: Kernel.gaussian.rawValue, scaleShape: ScaleShape.shared.rawValue,
                 n: 0, k: 0, d: 0, x: nil, mu: nil, scale: nil, chol: nil, logw: nil,
                 logprior: nil, energies: nil, energyFn: nil, energyUser: nil,
                 nu: 0, delta: 0, tau: 1, normalized: 0)
    }
}

/// ie_grads_f32 (T = Float) and ie_grads_f64 (T = Double).
struct CGrads<T> {
    var structSize: UInt
    var x: UnsafeMutablePointer<T>?
    var mu: UnsafeMutablePointer<T>?
    var scale: UnsafeMutablePointer<T>?
    var nu: UnsafeMutablePointer<T>?
    var delta: UnsafeMutablePointer<T>?
    var chol: UnsafeMutablePointer<T>?
    var logw: UnsafeMutablePointer<T>?
    var logprior: UnsafeMutablePointer<T>?
    var tau: UnsafeMutablePointer<T>?
    var energies: UnsafeMutablePointer<T>?

    static var defaults: CGrads<T> {
        CGrads(structSize: UInt(MemoryLayout<CGrads<T>>.stride), x: nil, mu: nil, scale: nil,
               nu: nil, delta: nil, chol: nil, logw: nil, logprior: nil, tau: nil, energies: nil)
    }
}

typealias EnergyFnF64 = @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<Double>?, Int64, Int64, UnsafeMutablePointer<Double>?
) -> Int32
typealias EnergyFnF32 = @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<Float>?, Int64, Int64, UnsafeMutablePointer<Float>?
) -> Int32

/// The two precisions of the C ABI, each knowing how to call its energy callback type.
protocol CScalar: IEFloat {
    static var suffix: StaticString { get }
    static func callEnergy(_ function: UnsafeRawPointer, _ user: UnsafeMutableRawPointer?,
                           _ x: UnsafePointer<Self>?, _ rows: Int64, _ d: Int64,
                           _ out: UnsafeMutablePointer<Self>?) -> Int32
}

extension Double: CScalar {
    static var suffix: StaticString { "f64" }
    static func callEnergy(_ function: UnsafeRawPointer, _ user: UnsafeMutableRawPointer?,
                           _ x: UnsafePointer<Double>?, _ rows: Int64, _ d: Int64,
                           _ out: UnsafeMutablePointer<Double>?) -> Int32 {
        unsafeBitCast(function, to: EnergyFnF64.self)(user, x, rows, d, out)
    }
}

extension Float: CScalar {
    static var suffix: StaticString { "f32" }
    static func callEnergy(_ function: UnsafeRawPointer, _ user: UnsafeMutableRawPointer?,
                           _ x: UnsafePointer<Float>?, _ rows: Int64, _ d: Int64,
                           _ out: UnsafeMutablePointer<Float>?) -> Int32 {
        unsafeBitCast(function, to: EnergyFnF32.self)(user, x, rows, d, out)
    }
}
