#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floating-point types the library computes in: Float and Double, nothing else.
/// Elementary functions come from the C math library, one thin conformance per type.
public protocol IEFloat: BinaryFloatingPoint, Sendable
where Self.RawSignificand: FixedWidthInteger {
    static func exp(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func erfc(_ x: Self) -> Self
    static func lgamma(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// The value as a Double (exact for both conforming types).
    var double: Double { get }
    /// The nearest value of this type to a Double.
    init(fromDouble value: Double)
}

extension Double: IEFloat {
    @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) public static func expm1(_ x: Double) -> Double { Glibc.expm1(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Glibc.log1p(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    @inline(__always) public static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    @inline(__always) public static func erfc(_ x: Double) -> Double { Glibc.erfc(x) }
    @inline(__always) public static func lgamma(_ x: Double) -> Double {
        var sign: Int32 = 0
        return Glibc.lgamma_r(x, &sign)
    }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    @inline(__always) public var double: Double { self }
    @inline(__always) public init(fromDouble value: Double) { self = value }
}

extension Float: IEFloat {
    @inline(__always) public static func exp(_ x: Float) -> Float { Glibc.expf(x) }
    @inline(__always) public static func expm1(_ x: Float) -> Float { Glibc.expm1f(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Glibc.logf(x) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Glibc.log1pf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Glibc.tanhf(x) }
    @inline(__always) public static func erf(_ x: Float) -> Float { Glibc.erff(x) }
    @inline(__always) public static func erfc(_ x: Float) -> Float { Glibc.erfcf(x) }
    @inline(__always) public static func lgamma(_ x: Float) -> Float {
        var sign: Int32 = 0
        return Glibc.lgammaf_r(x, &sign)
    }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Glibc.powf(x, y) }
    @inline(__always) public var double: Double { Double(self) }
    @inline(__always) public init(fromDouble value: Double) { self = Float(value) }
}
