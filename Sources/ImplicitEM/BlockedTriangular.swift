// Register-blocked products for the mahalanobis kernel with the block's rows in the vector
// lanes (BlockedMahalanobis.swift). A product here is
//   C[t, ·] = Σ_{p ∈ p0 ..< p1} S(t, p)·A[p, ·]   for t < J,
// with S(t, p) a scalar broadcast to every lane (an entry of L_k, or of W) and A[p, ·] a row of
// vectors. Each tile's range of p is its own, so a triangular S costs only its nonzero half
// (up to the few zeros inside a tile of J outputs). Every element of C is accumulated the same
// way whatever tile computes it: from 0, p ascending, one fused multiply-add per term; the terms
// a tile skips are exact zeros.

/// Tiles of up to `triangleTileOutputs` outputs × `triangleTileVectors` vectors: 8 accumulators,
/// 4 vectors of A and a broadcast stay in the 16 vector registers of AVX2 (12 accumulators would not).
let triangleTileOutputs = 2
let triangleTileVectors = 4

/// The operands of one tile: S(t, p) = s[p·sp + t·st], A[p, r] = a[p·la + r·w ...], C[t, r] at
/// c[t·lc + r·w ...], for t < J outputs, r < R vectors.
struct TriangleOperands<Scalar> {
    let s: UnsafePointer<Scalar>
    let sp: Int
    let st: Int
    let a: UnsafePointer<Scalar>
    let la: Int
    let c: UnsafeMutablePointer<Scalar>
    let lc: Int
}

/// C = Σ_{p ∈ p0 ..< p1} S(t, p)·A[p, ·] for J ≤ 2 outputs and R ≤ 4 vectors (C overwritten).
@inline(__always)
func triangleTile<V: SIMD>(_: V.Type, outputs: Int, vectors: Int, _ o: TriangleOperands<V.Scalar>,
                           p0: Int, p1: Int) where V.Scalar: BinaryFloatingPoint {
    // Literal J and R at every call, so that the branches below fold away.
    switch (outputs, vectors) {
    case (2, 4): triangleKernel(V.self, 2, 4, o, p0, p1)
    case (2, 3): triangleKernel(V.self, 2, 3, o, p0, p1)
    case (2, 2): triangleKernel(V.self, 2, 2, o, p0, p1)
    case (2, 1): triangleKernel(V.self, 2, 1, o, p0, p1)
    case (1, 4): triangleKernel(V.self, 1, 4, o, p0, p1)
    case (1, 3): triangleKernel(V.self, 1, 3, o, p0, p1)
    case (1, 2): triangleKernel(V.self, 1, 2, o, p0, p1)
    case (1, 1): triangleKernel(V.self, 1, 1, o, p0, p1)
    default: break
    }
}

@inline(__always)
func triangleKernel<V: SIMD>(_: V.Type, _ outputs: Int, _ vectors: Int, _ o: TriangleOperands<V.Scalar>,
                             _ p0: Int, _ p1: Int) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount, st = o.st, sp = o.sp, la = o.la
    var c00 = V(), c01 = V(), c02 = V(), c03 = V()
    var c10 = V(), c11 = V(), c12 = V(), c13 = V()
    if p1 > p0 {
        var sPointer = o.s + p0 * sp, aPointer = o.a + p0 * la
        for _ in p0 ..< p1 {
            let a0 = loadLanes(aPointer, V.self)
            let a1 = vectors > 1 ? loadLanes(aPointer + w, V.self) : V()
            let a2 = vectors > 2 ? loadLanes(aPointer + 2 * w, V.self) : V()
            let a3 = vectors > 3 ? loadLanes(aPointer + 3 * w, V.self) : V()
            let s0 = V(repeating: sPointer[0])
            c00 = c00.addingProduct(s0, a0)
            if vectors > 1 { c01 = c01.addingProduct(s0, a1) }
            if vectors > 2 { c02 = c02.addingProduct(s0, a2) }
            if vectors > 3 { c03 = c03.addingProduct(s0, a3) }
            if outputs > 1 {
                let s1 = V(repeating: sPointer[st])
                c10 = c10.addingProduct(s1, a0)
                if vectors > 1 { c11 = c11.addingProduct(s1, a1) }
                if vectors > 2 { c12 = c12.addingProduct(s1, a2) }
                if vectors > 3 { c13 = c13.addingProduct(s1, a3) }
            }
            sPointer += sp
            aPointer += la
        }
    }
    let c0 = o.c, c1 = c0 + o.lc
    storeLanes(c00, c0)
    if vectors > 1 { storeLanes(c01, c0 + w) }
    if vectors > 2 { storeLanes(c02, c0 + 2 * w) }
    if vectors > 3 { storeLanes(c03, c0 + 3 * w) }
    if outputs > 1 {
        storeLanes(c10, c1)
        if vectors > 1 { storeLanes(c11, c1 + w) }
        if vectors > 2 { storeLanes(c12, c1 + 2 * w) }
        if vectors > 3 { storeLanes(c13, c1 + 3 * w) }
    }
}

/// The tiles of a whole product: C[t, ·] for t < outputs, `lanes` values wide (a multiple of the
/// vector width), with output t's terms p ∈ first(t0) ..< end(t0 + J) for the tile starting at t0.
/// `leadingRemainder` puts the short tile (outputs mod 2) first instead of last.
@inline(__always)
func triangleProduct<V: SIMD>(_: V.Type, outputs: Int, lanes: Int, leadingRemainder: Bool,
                              s: UnsafePointer<V.Scalar>, sp: Int, st: Int,
                              a: UnsafePointer<V.Scalar>, la: Int, c: UnsafeMutablePointer<V.Scalar>, lc: Int,
                              first: (Int) -> Int, end: (Int) -> Int,
                              lanesFrom: (Int) -> Int = { _ in 0 }) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount, group = triangleTileVectors * w
    var t0 = 0
    while t0 < outputs {
        let remainder = outputs % triangleTileOutputs
        let size = leadingRemainder && t0 == 0 && remainder != 0 ? remainder : min(triangleTileOutputs, outputs - t0)
        let p0 = first(t0), p1 = end(t0 + size)
        var r0 = lanesFrom(t0)
        while r0 < lanes {
            let vectors = min(triangleTileVectors, (lanes - r0) / w)
            triangleTile(V.self, outputs: size, vectors: vectors,
                         TriangleOperands(s: s + t0 * st, sp: sp, st: st, a: a + r0, la: la,
                                          c: c + t0 * lc + r0, lc: lc), p0: p0, p1: p1)
            r0 += group
        }
        t0 += size
    }
}
