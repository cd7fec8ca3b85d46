#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Vector arithmetic for the row loops: dot products for the cosine kernel, e^x across the
// lanes of a vector for the softmax over K, and e^x, log x, log(1 + x) for the vector ρ of
// the logistic, student_t and exponential kernels. Every function is branch-free across the
// lanes: special lanes (0, subnormal, ±∞, NaN, beyond the range) are handled by selections,
// so that one lane never sends the whole vector to a slower path.
//
// The exponential: Cody–Waite reduction x = n·ln2 + r (|r| ≤ ln2/2, ln2 split so that
// n·ln2hi is exact), e^r ≈ 1 + r(1 + r·q(r)) with q of degree 9 (float32: 4), and 2^n built in
// the exponent bits. q's coefficients come from a Remez exchange (50 digits) that minimises
// the relative error of e^r on |r| ≤ ln2/2 with the terms 1 and r held exact: 0.05 ulp in
// float64 and 0.03 ulp in float32 with the coefficients rounded, against 13 and 7 Taylor terms
// for the same bound (scripts/reference/exp_polynomial.py prints them). The shift by a magic constant 1.5·2^52 + bias leaves n + bias in the low
// bits, the exponent field the result needs, with no integer addition: 2^⌊n/2⌋·2^(n−⌊n/2⌋)
// for any x (two normal factors, so that results in the subnormal range round once and
// results beyond the range overflow to +∞ or round to 0), 2^(n+54)·2^−54 for x ≤ 0 (the
// softmax, logistic), 2^(n−1)·2 for x ≥ 0 (exponential). Within 1 ulp of libm; the three give
// the same bits where their domains meet.
//
// The logarithms follow fdlibm's log and log1p: x = 2^k·m with m in [√2/2, √2), f = m − 1,
// s = f/(2 + f), log(1 + f) = f − f²/2 + s(f²/2 + R(s²)) with R a minimax polynomial, and
// k·ln2 split in two. log(1 + x) takes u = 1 + x apart in the same way and adds the rounding
// error of 1 + x, which is exact, as c/u. fdlibm bounds the error below 1 ulp (float32 uses
// its shorter polynomial); the tests measure it against libm in both precisions.
//
// They are @_transparent rather than @inline(__always): the optimiser outlined the latter
// inside a vector ρ, and the outlined call passes each vector in 128-bit halves (about twice
// the instructions per element).

extension SIMD8 where Scalar == Double {
    @_transparent var exponential: Self {
        // Beyond [−746, 710] e^x is 0 or +∞ in every rounding; −∞ clamps to 0, NaN passes through.
        let x = replacing(with: -746, where: self .< -746).replacing(with: 710, where: self .> 710)
        // n in [−1077, 1025]: biased = n + 2046 > 0, half = ⌊n/2⌋ + 1023 is the exponent field of
        // 2^⌊n/2⌋ and biased − half that of 2^(n−⌊n/2⌋).
        let (biased, p) = x.exponentialParts(bias: 2046)
        let half = biased &>> 1
        return p * unsafeBitCast(half &<< 52, to: Self.self) * unsafeBitCast((biased &- half) &<< 52, to: Self.self)
    }

    /// e^x for x ≤ 0 (the softmax's x − max), the same bits as `exponential`: n is in
    /// [−1076, 0], so 2^(n+54) is normal, p·2^(n+54) is exact, and the product by 2^−54 rounds
    /// once, as the second factor there does.
    @_transparent var exponentialOfNonPositive: Self {
        let (biased, p) = replacing(with: -746, where: self .< -746).exponentialParts(bias: 54 + 1023)
        return p * unsafeBitCast(biased &<< 52, to: Self.self) * 0x1p-54
    }

    /// e^x for x ≥ 0 (NaN passes through), the same bits as `exponential`: n is in [0, 1024],
    /// 2^(n−1) is normal, p·2^(n−1) is exact, and the product by 2 overflows where it must.
    @_transparent var exponentialOfNonNegative: Self {
        let (biased, p) = replacing(with: 710, where: self .> 710).exponentialParts(bias: 1023 - 1)
        return p * unsafeBitCast(biased &<< 52, to: Self.self) * 2
    }

    /// e^x = 2^n·p for x in [−746, 710]: n + bias in the low bits (above them, bits that the
    /// shift into the exponent field discards) and p = e^r.
    @_transparent func exponentialParts(bias: UInt64) -> (biased: SIMD8<UInt64>, p: Self) {
        let x = self
        // Adding 1.5·2^52 rounds to an integer in the low bits; n + bias stays far inside them.
        let magic = Self(repeating: 0x1.8p52 + Double(bias))
        let shifted = magic.addingProduct(x, 1.4426950408889634)
        let n = shifted - magic
        // n·ln2hi is exact, so the first fused step rounds as x − n·ln2hi does.
        let r = x.addingProduct(n, -6.93147180369123816490e-01).addingProduct(n, -1.90821492927058770002e-10)
        // q by Horner's scheme, then 1 + r(1 + r·q): each step overwrites the one value it
        // updates, so that the constants stay in registers without copies, and the loops around
        // run enough vectors at once to hide the chain's latency.
        var q = Self(repeating: 0x1.28ad9b8551757p-22).addingProduct(r, 0x1.ad7f3ee016e7dp-26)
        q = Self(repeating: 0x1.71df25b3100a2p-19).addingProduct(q, r)
        q = Self(repeating: 0x1.a01999e2633fdp-16).addingProduct(q, r)
        q = Self(repeating: 0x1.a01a012a0f351p-13).addingProduct(q, r)
        q = Self(repeating: 0x1.6c16c18438b08p-10).addingProduct(q, r)
        q = Self(repeating: 0x1.1111111127d0ep-7).addingProduct(q, r)
        q = Self(repeating: 0x1.555555555083ep-5).addingProduct(q, r)
        q = Self(repeating: 0x1.55555555554f9p-3).addingProduct(q, r)
        q = Self(repeating: 0x1.000000000000ap-1).addingProduct(q, r)
        let p = Self(repeating: 1.0).addingProduct(Self(repeating: 1.0).addingProduct(q, r), r)
        return (unsafeBitCast(shifted, to: SIMD8<UInt64>.self), p)
    }

    /// log x per lane, as libm gives it at 0 (−∞), below 0 (NaN), +∞ and NaN.
    @_transparent var logarithm: Self { logarithm(onePlus: SIMDMask(repeating: false)) }

    /// log(1 + x) per lane, as libm gives it at −1 (−∞), below −1 (NaN), ±0, +∞ and NaN.
    @_transparent var logarithmOnePlus: Self { logarithm(onePlus: SIMDMask(repeating: true)) }

    /// log(1 + x) in the lanes of `onePlus`, log x in the others: one pass for a ρ whose
    /// branches take one each.
    @_transparent func logarithm(onePlus: SIMDMask<SIMD8<Int64>>) -> Self {
        let plain = .!onePlus
        // Subnormal arguments of log x are scaled by 2^54 into the normal range.
        let subnormal = plain .& (self .< 0x1p-1022)
        let x = replacing(with: self * 0x1p54, where: subnormal)
        let u = (x + 1).replacing(with: x, where: plain)
        var (f, k) = u.logReduced
        k -= Self(repeating: 0).replacing(with: 54, where: subnormal)
        // The rounding error of 1 + x, exactly: u − x is exact when x ≥ 1, u − 1 when x < 1.
        var c = (x - (u - 1)).replacing(with: 1 - (u - x), where: x .>= 1) / u
        // Where k = 0, f = x itself is exact and needs no correction.
        let direct = onePlus .& (k .== 0)
        f = f.replacing(with: x, where: direct)
        c = c.replacing(with: 0, where: direct .| plain)
        let result = logOnePlusReduced(f, k, c)
        // The pole is at −1 for log(1 + x), at 0 for log x; log(1 + x) of a tiny x rounds to x
        // (and keeps −0).
        let pole = Self(repeating: 0).replacing(with: -1, where: onePlus)
        let tiny = onePlus .& (self .> -0x1p-54) .& (self .< 0x1p-54)
        return result.replacing(with: self, where: tiny).replacing(with: .nan, where: self .< pole)
            .replacing(with: -.infinity, where: self .== pole).replacing(with: self, where: .!(self .< .infinity))
    }

    /// f = m − 1 and k (as a double) with x = 2^k·m, m in [√2/2, √2), for positive normal x.
    @_transparent var logReduced: (f: Self, k: Self) {
        // Adding 1 − √2/2's high word makes the exponent field carry exactly when m ≥ √2.
        let bits = unsafeBitCast(self, to: SIMD8<UInt64>.self) &+ ((0x3ff00000 - 0x3fe6a09e) << 32)
        let m = unsafeBitCast((bits & 0x000f_ffff_ffff_ffff) &+ 0x3fe6_a09e_0000_0000, to: Self.self)
        // k + 1023 from the exponent field, through the mantissa of 2^52 (no int64 conversion in AVX2).
        let field = unsafeBitCast((bits &>> 52) | 0x4330_0000_0000_0000, to: Self.self)
        return (m - 1, field - (0x1p52 + 1023))
    }

    /// k·ln2 + log(1 + f) + c for |f| ≤ √2 − 1 and a small correction c.
    @_transparent func logOnePlusReduced(_ f: Self, _ k: Self, _ c: Self) -> Self {
        let hfsq = 0.5 * f * f
        let s = f / (2 + f)
        let z = s * s
        let w = z * z
        let t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01))
        let t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
            + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)))
        let r = t2 + t1
        return s * (hfsq + r) + (k * 1.90821492927058770002e-10 + c) - hfsq + f + k * 6.93147180369123816490e-01
    }
}

extension SIMD16 where Scalar == Float {
    @_transparent var exponential: Self {
        // Beyond [−104, 89] e^x is 0 or +∞ in every rounding.
        let x = replacing(with: -104, where: self .< -104).replacing(with: 89, where: self .> 89)
        // n in [−150, 129]; biased = n + 254, half = ⌊n/2⌋ + 127 (as for float64).
        let (biased, p) = x.exponentialParts(bias: 254)
        let half = biased &>> 1
        return p * unsafeBitCast(half &<< 23, to: Self.self) * unsafeBitCast((biased &- half) &<< 23, to: Self.self)
    }

    /// e^x for x ≤ 0, the same bits as `exponential` (as for float64: n in [−150, 0], 2^(n+24)
    /// normal, one rounding by 2^−24).
    @_transparent var exponentialOfNonPositive: Self {
        let (biased, p) = replacing(with: -104, where: self .< -104).exponentialParts(bias: 24 + 127)
        return p * unsafeBitCast(biased &<< 23, to: Self.self) * 0x1p-24
    }

    /// e^x for x ≥ 0, the same bits as `exponential` (n in [0, 128], 2^(n−1) normal).
    @_transparent var exponentialOfNonNegative: Self {
        let (biased, p) = replacing(with: 89, where: self .> 89).exponentialParts(bias: 127 - 1)
        return p * unsafeBitCast(biased &<< 23, to: Self.self) * 2
    }

    /// e^x = 2^n·p for x in [−104, 89]: n + bias in the low bits, p = e^r.
    @_transparent func exponentialParts(bias: UInt32) -> (biased: SIMD16<UInt32>, p: Self) {
        let x = self
        let magic = Self(repeating: 0x1.8p23 + Float(bias))
        let shifted = magic.addingProduct(x, 1.44269504)
        let n = shifted - magic
        let r = x.addingProduct(n, -0.693359375).addingProduct(n, 2.12194440e-4)
        var q = Self(repeating: 0x1.123a2p-7).addingProduct(r, 0x1.6a23dp-10)
        q = Self(repeating: 0x1.5558f2p-5).addingProduct(q, r)
        q = Self(repeating: 0x1.555492p-3).addingProduct(q, r)
        q = Self(repeating: 0x1.fffffcp-2).addingProduct(q, r)
        let p = Self(repeating: 1.0).addingProduct(Self(repeating: 1.0).addingProduct(q, r), r)
        return (unsafeBitCast(shifted, to: SIMD16<UInt32>.self), p)
    }

    /// log x per lane, as libm gives it at 0 (−∞), below 0 (NaN), +∞ and NaN.
    @_transparent var logarithm: Self { logarithm(onePlus: SIMDMask(repeating: false)) }

    /// log(1 + x) per lane, as libm gives it at −1 (−∞), below −1 (NaN), ±0, +∞ and NaN.
    @_transparent var logarithmOnePlus: Self { logarithm(onePlus: SIMDMask(repeating: true)) }

    /// log(1 + x) in the lanes of `onePlus`, log x in the others: one pass for a ρ whose
    /// branches take one each.
    @_transparent func logarithm(onePlus: SIMDMask<SIMD16<Int32>>) -> Self {
        let plain = .!onePlus
        // Subnormal arguments of log x are scaled by 2^25 into the normal range.
        let subnormal = plain .& (self .< 0x1p-126)
        let x = replacing(with: self * 0x1p25, where: subnormal)
        let u = (x + 1).replacing(with: x, where: plain)
        var (f, k) = u.logReduced
        k -= Self(repeating: 0).replacing(with: 25, where: subnormal)
        // The rounding error of 1 + x, exactly: u − x is exact when x ≥ 1, u − 1 when x < 1.
        var c = (x - (u - 1)).replacing(with: 1 - (u - x), where: x .>= 1) / u
        // Where k = 0, f = x itself is exact and needs no correction.
        let direct = onePlus .& (k .== 0)
        f = f.replacing(with: x, where: direct)
        c = c.replacing(with: 0, where: direct .| plain)
        let result = logOnePlusReduced(f, k, c)
        // The pole is at −1 for log(1 + x), at 0 for log x; log(1 + x) of a tiny x rounds to x
        // (and keeps −0).
        let pole = Self(repeating: 0).replacing(with: -1, where: onePlus)
        let tiny = onePlus .& (self .> -0x1p-25) .& (self .< 0x1p-25)
        return result.replacing(with: self, where: tiny).replacing(with: .nan, where: self .< pole)
            .replacing(with: -.infinity, where: self .== pole).replacing(with: self, where: .!(self .< .infinity))
    }

    @_transparent var logReduced: (f: Self, k: Self) {
        let bits = unsafeBitCast(self, to: SIMD16<UInt32>.self) &+ (0x3f80_0000 - 0x3f35_04f3)
        let m = unsafeBitCast((bits & 0x007f_ffff) &+ 0x3f35_04f3, to: Self.self)
        let field = unsafeBitCast((bits &>> 23) | 0x4b00_0000, to: Self.self)
        return (m - 1, field - (0x1p23 + 127))
    }

    @_transparent func logOnePlusReduced(_ f: Self, _ k: Self, _ c: Self) -> Self {
        let hfsq = 0.5 * f * f
        let s = f / (2 + f)
        let z = s * s
        let w = z * z
        let t1 = w * (0xccce13.0p-25 + w * 0xf89e26.0p-26)
        let t2 = z * (0xaaaaaa.0p-24 + w * 0x91e9ee.0p-25)
        let r = t2 + t1
        return s * (hfsq + r) + (k * 9.0580006145e-06 + c) - hfsq + f + k * 6.9313812256e-01
    }
}

/// e^x, log x and log(1 + x) across the lanes of either vector type, for code generic over
/// `FloatVector`; the type tests fold away once specialised.
enum VectorMath {
    @_transparent static func exp<V: FloatVector>(_ v: V) -> V {
        if V.self == SIMD8<Double>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).exponential, to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).exponential, to: V.self)
        }
        return lanes(v, V.Scalar.exp)
    }

    /// e^x for x ≤ 0 (and NaN): the same bits as `exp`, fewer instructions.
    @_transparent static func expOfNonPositive<V: FloatVector>(_ v: V) -> V {
        if V.self == SIMD8<Double>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).exponentialOfNonPositive, to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).exponentialOfNonPositive, to: V.self)
        }
        return lanes(v, V.Scalar.exp)
    }

    /// e^x for x ≥ 0 (and NaN): the same bits as `exp`, fewer instructions.
    @_transparent static func expOfNonNegative<V: FloatVector>(_ v: V) -> V {
        if V.self == SIMD8<Double>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).exponentialOfNonNegative, to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).exponentialOfNonNegative, to: V.self)
        }
        return lanes(v, V.Scalar.exp)
    }

    @_transparent static func log<V: FloatVector>(_ v: V) -> V {
        if V.self == SIMD8<Double>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).logarithm, to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).logarithm, to: V.self)
        }
        return lanes(v, V.Scalar.log)
    }

    @_transparent static func log1p<V: FloatVector>(_ v: V) -> V {
        if V.self == SIMD8<Double>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).logarithmOnePlus, to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).logarithmOnePlus, to: V.self)
        }
        return lanes(v, V.Scalar.log1p)
    }

    /// log x in the lanes where key > bound, log(1 + x) in the others.
    @_transparent static func log1p<V: FloatVector>(_ v: V, logWhereAbove key: V, _ bound: V.Scalar) -> V {
        if V.self == SIMD8<Double>.self {
            let plain = unsafeBitCast(key, to: SIMD8<Double>.self) .> unsafeBitCast(bound, to: Double.self)
            return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Double>.self).logarithm(onePlus: .!plain), to: V.self)
        }
        if V.self == SIMD16<Float>.self {
            let plain = unsafeBitCast(key, to: SIMD16<Float>.self) .> unsafeBitCast(bound, to: Float.self)
            return unsafeBitCast(unsafeBitCast(v, to: SIMD16<Float>.self).logarithm(onePlus: .!plain), to: V.self)
        }
        var out = v
        for i in v.indices { out[i] = key[i] > bound ? V.Scalar.log(v[i]) : V.Scalar.log1p(v[i]) }
        return out
    }

    /// Any other vector type: libm lane by lane.
    @inline(__always) private static func lanes<V: FloatVector>(_ v: V, _ function: (V.Scalar) -> V.Scalar) -> V {
        var out = v
        for i in v.indices { out[i] = function(v[i]) }
        return out
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
