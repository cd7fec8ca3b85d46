#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// e^x across the lanes of a vector, for the softmax over K. Cody–Waite reduction
// x = n·ln2 + r (|r| ≤ ln2/2, ln2 split so that n·ln2hi is exact), a Taylor polynomial whose
// truncation is far below half an ulp, and 2^n built in the exponent bits. Lanes whose result
// would be subnormal or overflow (and −∞) take libm, so every lane is within about 1 ulp.

extension SIMD8 where Scalar == Double {
    @inline(__always) var exponential: Self {
        if any(self .< -708) || any(self .> 709) {
            var out = self
            for i in 0 ..< 8 { out[i] = Double.exp(self[i]) }
            return out
        }
        let magic = Self(repeating: 0x1.8p52)  // adding it rounds to an integer in the low bits
        let shifted = self * 1.4426950408889634 + magic
        let n = shifted - magic
        let r = (self - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
        var p = Self(repeating: 1.0 / 6227020800.0)  // 1/13!
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        // The low bits of `shifted` hold n; (n + 1023) << 52 is the double 2^n.
        let bits = unsafeBitCast(shifted, to: SIMD8<UInt64>.self) &+ SIMD8<UInt64>(repeating: 1023)
        return p * unsafeBitCast(bits &<< 52, to: Self.self)
    }
}

extension SIMD16 where Scalar == Float {
    @inline(__always) var exponential: Self {
        if any(self .< -87) || any(self .> 88) {
            var out = self
            for i in 0 ..< 16 { out[i] = Float.exp(self[i]) }
            return out
        }
        let magic = Self(repeating: 0x1.8p23)
        let shifted = self * 1.44269504 + magic
        let n = shifted - magic
        let r = (self - n * 0.693359375) - n * -2.12194440e-4
        var p = Self(repeating: 1.0 / 5040.0)  // 1/7!
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        // (n + 127) << 23 is the float 2^n.
        let bits = unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &+ SIMD16<UInt32>(repeating: 127)
        return p * unsafeBitCast(bits &<< 23, to: Self.self)
    }
}

/// values[j] = e^(values[j] − shift) for j in 0..<count.
@inline(__always)
func exponentialShifted<T: IEFloat>(_ values: UnsafeMutablePointer<T>, _ count: Int, minus shift: T) {
    var j = 0
    if T.self == Double.self {
        let v = UnsafeMutableRawPointer(values).assumingMemoryBound(to: Double.self)
        let s = SIMD8<Double>(repeating: unsafeBitCast(shift, to: Double.self))
        while j &+ 8 <= count {
            (SIMD8<Double>(loading: v + j) - s).exponential.store(to: v + j)
            j &+= 8
        }
    } else if T.self == Float.self {
        let v = UnsafeMutableRawPointer(values).assumingMemoryBound(to: Float.self)
        let s = SIMD16<Float>(repeating: unsafeBitCast(shift, to: Float.self))
        while j &+ 16 <= count {
            (SIMD16<Float>(loading: v + j) - s).exponential.store(to: v + j)
            j &+= 16
        }
    }
    while j < count {
        values[j] = T.exp(values[j] - shift)
        j &+= 1
    }
}
