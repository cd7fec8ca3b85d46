// Reductions over one row's K logits for the softmax (Rows.swift). A plain loop carries one
// dependency from element to element (4 cycles per compare-and-select or add); these keep
// several independent partial results and combine them at the end.

/// The largest of v[0..<count] and the first index holding it, as a plain scan with `>` gives:
/// NaN is never the maximum, and (−∞, 0) when nothing is above −∞.
@inline(__always)
func rowMaximum<T: IEFloat>(_ v: UnsafePointer<T>, _ count: Int) -> (value: T, index: Int) {
    var m0 = -T.infinity, m1 = -T.infinity, m2 = -T.infinity, m3 = -T.infinity
    var j = 0
    while j &+ 4 <= count {
        if v[j] > m0 { m0 = v[j] }
        if v[j &+ 1] > m1 { m1 = v[j &+ 1] }
        if v[j &+ 2] > m2 { m2 = v[j &+ 2] }
        if v[j &+ 3] > m3 { m3 = v[j &+ 3] }
        j &+= 4
    }
    while j < count {
        if v[j] > m0 { m0 = v[j] }
        j &+= 1
    }
    if m1 > m0 { m0 = m1 }
    if m3 > m2 { m2 = m3 }
    if m2 > m0 { m0 = m2 }
    if m0 == -T.infinity { return (m0, 0) }
    var index = 0
    while v[index] != m0 { index &+= 1 }
    return (m0, index)
}

/// Σ v[0..<count], in vector lanes (8 doubles, 16 floats) and then across them.
@inline(__always)
func rowSum<T: IEFloat>(_ v: UnsafePointer<T>, _ count: Int) -> T {
    var j = 0
    var sum: T = 0
    if T.self == Double.self {
        let x = UnsafeRawPointer(v).assumingMemoryBound(to: Double.self)
        var acc = SIMD8<Double>()
        while j &+ 8 <= count {
            acc += SIMD8<Double>(loading: x + j)
            j &+= 8
        }
        sum = unsafeBitCast(acc.total, to: T.self)
    } else if T.self == Float.self {
        let x = UnsafeRawPointer(v).assumingMemoryBound(to: Float.self)
        var acc = SIMD16<Float>()
        while j &+ 16 <= count {
            acc += SIMD16<Float>(loading: x + j)
            j &+= 16
        }
        sum = unsafeBitCast(acc.total, to: T.self)
    }
    while j < count {
        sum += v[j]
        j &+= 1
    }
    return sum
}
