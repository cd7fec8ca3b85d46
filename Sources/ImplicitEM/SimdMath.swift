#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Vector arithmetic for the row loops: dot products for the cosine kernel, and e^x across
// the lanes of a vector for the softmax over K. The exponential: Cody–Waite reduction
// x = n·ln2 + r (|r| ≤ ln2/2, ln2 split so that n·ln2hi is exact), a Taylor polynomial whose
// truncation is far below half an ulp, and 2^n built in the exponent bits. Lanes whose result
// would be subnormal or overflow take libm, lanes whose result rounds to 0 (and −∞) give 0,
// so every lane is within about 1 ulp.

// Whether any lane of a mask is set, by OR-ing halves: the standard library's any() (and
// min(), pointwiseMin) on vectors are calls into generic code, and dominated the
// exponential's cost.
extension SIMDMask where Storage == SIMD8<Int64> {
    @inline(__always) var anyLane: Bool {
        let bits = unsafeBitCast(self, to: SIMD8<Int64>.self)
        let four = bits.lowHalf | bits.highHalf, two = four.lowHalf | four.highHalf
        return (two[0] | two[1]) != 0
    }
}

extension SIMDMask where Storage == SIMD16<Int32> {
    @inline(__always) var anyLane: Bool {
        let bits = unsafeBitCast(self, to: SIMD16<Int32>.self)
        let eight = bits.lowHalf | bits.highHalf, four = eight.lowHalf | eight.highHalf
        let two = four.lowHalf | four.highHalf
        return (two[0] | two[1]) != 0
    }
}

extension SIMD8 where Scalar == Double {
    @inline(__always) var exponential: Self {
        // Lanes below −745.2 round to 0; lanes in (−745.2, −708) (subnormal results) and
        // above 709 (overflow) take libm; the rest take the polynomial.
        let low = -708.0, high = 709.0, zero = -745.2
        let inside = replacing(with: low, where: self .< low).replacing(with: high, where: self .> high)
        var out = inside.polynomialExponential.replacing(with: 0, where: self .< low)
        if ((self .>= zero) .& (self .< low) .| (self .> high)).anyLane {
            for i in 0 ..< 8 where (self[i] >= zero && self[i] < low) || self[i] > high { out[i] = Double.exp(self[i]) }
        }
        return out
    }

    /// e^x for x in [−708, 709].
    @inline(__always) var polynomialExponential: Self {
        let magic = Self(repeating: 0x1.8p52)  // adding it rounds to an integer in the low bits
        let shifted = self * 1.4426950408889634 + magic
        let n = shifted - magic
        let r = (self - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
        var p = Self(repeating: 1.0 / 6227020800.0)  // 1/13!
        p = Self(repeating: 1.0 / 479001600.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 39916800.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 3628800.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 362880.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 40320.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 5040.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 720.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 120.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 24.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 6.0).addingProduct(p, r)
        p = Self(repeating: 0.5).addingProduct(p, r)
        p = Self(repeating: 1.0).addingProduct(p, r)
        p = Self(repeating: 1.0).addingProduct(p, r)
        // The low bits of `shifted` hold n; (n + 1023) << 52 is the double 2^n.
        let bits = unsafeBitCast(shifted, to: SIMD8<UInt64>.self) &+ SIMD8<UInt64>(repeating: 1023)
        return p * unsafeBitCast(bits &<< 52, to: Self.self)
    }
}

extension SIMD16 where Scalar == Float {
    @inline(__always) var exponential: Self {
        // As for doubles: below −104 is 0, (−104, −87) and above 88 take libm.
        let low: Float = -87, high: Float = 88, zero: Float = -104
        let inside = replacing(with: low, where: self .< low).replacing(with: high, where: self .> high)
        var out = inside.polynomialExponential.replacing(with: 0, where: self .< low)
        if ((self .>= zero) .& (self .< low) .| (self .> high)).anyLane {
            for i in 0 ..< 16 where (self[i] >= zero && self[i] < low) || self[i] > high { out[i] = Float.exp(self[i]) }
        }
        return out
    }

    /// e^x for x in [−87, 88].
    @inline(__always) var polynomialExponential: Self {
        let magic = Self(repeating: 0x1.8p23)
        let shifted = self * 1.44269504 + magic
        let n = shifted - magic
        let r = (self - n * 0.693359375) - n * -2.12194440e-4
        var p = Self(repeating: 1.0 / 5040.0)  // 1/7!
        p = Self(repeating: 1.0 / 720.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 120.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 24.0).addingProduct(p, r)
        p = Self(repeating: 1.0 / 6.0).addingProduct(p, r)
        p = Self(repeating: 0.5).addingProduct(p, r)
        p = Self(repeating: 1.0).addingProduct(p, r)
        p = Self(repeating: 1.0).addingProduct(p, r)
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

/// Σ a[i]·b[i], in vector lanes then across them.
@inline(__always)
func dotProduct<T: IEFloat>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ count: Int) -> T {
    var j = 0
    var sum: T = 0
    if T.self == Double.self {
        let x = UnsafeRawPointer(a).assumingMemoryBound(to: Double.self)
        let y = UnsafeRawPointer(b).assumingMemoryBound(to: Double.self)
        var acc = SIMD8<Double>()
        while j &+ 8 <= count {
            acc += SIMD8<Double>(loading: x + j) * SIMD8<Double>(loading: y + j)
            j &+= 8
        }
        sum = unsafeBitCast(acc.sum(), to: T.self)
    } else if T.self == Float.self {
        let x = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
        let y = UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
        var acc = SIMD16<Float>()
        while j &+ 16 <= count {
            acc += SIMD16<Float>(loading: x + j) * SIMD16<Float>(loading: y + j)
            j &+= 16
        }
        sum = unsafeBitCast(acc.sum(), to: T.self)
    }
    while j < count {
        sum += a[j] * b[j]
        j &+= 1
    }
    return sum
}

/// out[i] −= coefficient·((a[i] − c·b[i])/norm): the cosine kernel's gradient of one pair.
@inline(__always)
func subtractCosinePull<T: IEFloat>(_ out: UnsafeMutablePointer<T>, _ coefficient: T, _ a: UnsafePointer<T>, _ c: T,
                                    _ b: UnsafePointer<T>, _ norm: T, _ count: Int) {
    var j = 0
    if T.self == Double.self {
        let o = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Double.self)
        let x = UnsafeRawPointer(a).assumingMemoryBound(to: Double.self)
        let y = UnsafeRawPointer(b).assumingMemoryBound(to: Double.self)
        let k = SIMD8<Double>(repeating: unsafeBitCast(coefficient, to: Double.self))
        let cv = SIMD8<Double>(repeating: unsafeBitCast(c, to: Double.self))
        let nv = SIMD8<Double>(repeating: unsafeBitCast(norm, to: Double.self))
        while j &+ 8 <= count {
            let pull = k * ((SIMD8<Double>(loading: x + j) - cv * SIMD8<Double>(loading: y + j)) / nv)
            (SIMD8<Double>(loading: o + j) - pull).store(to: o + j)
            j &+= 8
        }
    } else if T.self == Float.self {
        let o = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
        let x = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
        let y = UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
        let k = SIMD16<Float>(repeating: unsafeBitCast(coefficient, to: Float.self))
        let cv = SIMD16<Float>(repeating: unsafeBitCast(c, to: Float.self))
        let nv = SIMD16<Float>(repeating: unsafeBitCast(norm, to: Float.self))
        while j &+ 16 <= count {
            let pull = k * ((SIMD16<Float>(loading: x + j) - cv * SIMD16<Float>(loading: y + j)) / nv)
            (SIMD16<Float>(loading: o + j) - pull).store(to: o + j)
            j &+= 16
        }
    }
    while j < count {
        out[j] -= coefficient * ((a[j] - c * b[j]) / norm)
        j &+= 1
    }
}
