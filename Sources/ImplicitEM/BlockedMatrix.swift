// Register- and cache-blocked matrix products for the blocked row pass (the cosine and
// mahalanobis kernels): C = (C or 0) + A·B, with A read through two strides (so one kernel
// serves A and Aᵀ) and B, C row-major. Tiles of 6 rows × 2 vectors keep 12 accumulators in
// registers; the depth is cut into chunks, and each chunk's panel of B (chunk × 2 vectors) is
// copied into a contiguous buffer, so that it stays in the first-level cache whatever B's row
// stride (strides of a few KiB would map every row of the panel to the same cache set).
// Every element of C is accumulated the same way wherever it falls in a tile (p ascending,
// one fused multiply-add per term, from 0 or from C), so a row's result never depends on
// which block or tile computes it.

/// The vector type of each precision (256 bits: AVX2 + FMA), and the matrix product's, 512 bits in
/// the library's AVX-512 copy and in a NATIVE=1 build for an AVX-512 machine (mk/core.mk).
protocol BlockScalar: IEFloat {
    associatedtype Lanes: SIMD where Lanes.Scalar == Self
    associatedtype ProductLanes: SIMD where ProductLanes.Scalar == Self
}
#if arch(x86_64) && IE_WIDE_VECTORS
extension Float: BlockScalar { typealias Lanes = SIMD8<Float>; typealias ProductLanes = SIMD16<Float> }
extension Double: BlockScalar { typealias Lanes = SIMD4<Double>; typealias ProductLanes = SIMD8<Double> }
#else
extension Float: BlockScalar { typealias Lanes = SIMD8<Float>; typealias ProductLanes = Lanes }
extension Double: BlockScalar { typealias Lanes = SIMD4<Double>; typealias ProductLanes = Lanes }
#endif

/// A matrix operand: element (m, p) at base[m·row + p·column].
struct StridedMatrix<T> {
    let base: UnsafePointer<T>
    let row: Int
    let column: Int
}

/// C[m, n] = (accumulate ? C[m, n] : 0) + Σ_p A[m, p]·B[p, n] for m < rows, n < columns,
/// p < depth; B[p, n] = b[p·ldb + n], C[m, n] = c[m·ldc + n]. `pack` holds `productPackSize` values.
/// `packed`, when given, is B's panels as `packPanels` laid them out (for a B that many products
/// share): the product reads them instead of copying each panel again. `complement`, when given,
/// also receives 1 − C[m, n] (at the same offsets as C), stored from the registers that hold C.
@inline(__always)
func matrixProduct<T: IEFloat>(rows: Int, columns: Int, depth: Int, _ a: StridedMatrix<T>,
                               _ b: UnsafePointer<T>, ldb: Int, _ c: UnsafeMutablePointer<T>, ldc: Int,
                               accumulate: Bool, pack: UnsafeMutablePointer<T>, packed: UnsafePointer<T>? = nil,
                               complement: UnsafeMutablePointer<T>? = nil) {
    // The casts are identities: T is the precision named.
    if T.self == Float.self {
        lanesProduct(Float.ProductLanes.self, rows, columns, depth,
                     StridedMatrix(base: rebound(a.base, Float.self), row: a.row, column: a.column),
                     rebound(b, Float.self), ldb, reboundMutable(c, Float.self), ldc, accumulate,
                     reboundMutable(pack, Float.self), packed.map { rebound($0, Float.self) },
                     complement.map { reboundMutable($0, Float.self) })
    } else if T.self == Double.self {
        lanesProduct(Double.ProductLanes.self, rows, columns, depth,
                     StridedMatrix(base: rebound(a.base, Double.self), row: a.row, column: a.column),
                     rebound(b, Double.self), ldb, reboundMutable(c, Double.self), ldc, accumulate,
                     reboundMutable(pack, Double.self), packed.map { rebound($0, Double.self) },
                     complement.map { reboundMutable($0, Double.self) })
    } else {
        for m in 0 ..< rows {
            for n in 0 ..< columns {
                var sum: T = accumulate ? c[m * ldc + n] : 0
                for p in 0 ..< depth { sum = sum.addingProduct(a.base[m * a.row + p * a.column], b[p * ldb + n]) }
                c[m * ldc + n] = sum
                if let complement { complement[m * ldc + n] = 1 - sum }
            }
        }
    }
}

@inline(__always) func rebound<T, U>(_ p: UnsafePointer<T>, _: U.Type) -> UnsafePointer<U> {
    UnsafeRawPointer(p).assumingMemoryBound(to: U.self)
}
@inline(__always) func reboundMutable<T, U>(_ p: UnsafeMutablePointer<T>, _: U.Type) -> UnsafeMutablePointer<U> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: U.self)
}

/// Σ counts[i]·sizes[i], or a clear error when it overflows (scratch sizes of the blocked models).
func scratchTotal(_ terms: [(count: Int, size: Int)]) throws -> Int {
    var total = 0
    for (count, size) in terms {
        let (product, productOverflow) = count.multipliedReportingOverflow(by: size)
        let (sum, sumOverflow) = total.addingReportingOverflow(product)
        if productOverflow || sumOverflow { throw ImplicitEMError(.badSize, "the block scratch's size overflows") }
        total = sum
    }
    return total
}

/// Depth per chunk: a panel of B (this many rows × 2 vectors) stays in the L1 cache.
let productDepthChunk = 256
/// Values of the panel buffer (2 product vectors per row of the panel; float's are the widest).
let productPackSize = productDepthChunk * 2 * Float.ProductLanes.scalarCount

/// The lanes of one product vector of each precision (0 for any other type: no panels).
@inline(__always) func blockLanes<T>(_: T.Type) -> Int {
    T.self == Float.self ? Float.ProductLanes.scalarCount : T.self == Double.self ? Double.ProductLanes.scalarCount : 0
}

/// Values of B's panels (`packPanels`) for a product of this depth and width.
func packedPanelsSize<T>(_: T.Type, depth: Int, columns: Int) throws -> Int {
    let width = 2 * blockLanes(T.self)
    return width == 0 ? 0 : try scratchTotal([(depth, columns / width * width)])
}

/// B's panels in the order the product reads them: for each depth chunk, for each pair of
/// vectors of columns (n0 = 0, 2w, ...), the chunk's rows of those 2w columns, contiguous. The
/// columns past the last whole pair are read from B itself.
func packPanels<T>(depth: Int, columns: Int, _ b: UnsafePointer<T>, ldb: Int, into packed: UnsafeMutablePointer<T>) {
    let width = 2 * blockLanes(T.self)
    if width == 0 { return }
    var to = packed, p0 = 0
    while p0 < depth {
        let chunk = min(productDepthChunk, depth - p0)
        var n0 = 0
        while n0 + width <= columns {
            for p in p0 ..< p0 + chunk {
                UnsafeMutableRawPointer(to).copyMemory(from: b + p * ldb + n0, byteCount: width * MemoryLayout<T>.stride)
                to += width
            }
            n0 += width
        }
        p0 += chunk
    }
}

@inline(never)
func lanesProduct<V: SIMD>(_: V.Type, _ rows: Int, _ columns: Int, _ depth: Int, _ a: StridedMatrix<V.Scalar>,
                           _ b: UnsafePointer<V.Scalar>, _ ldb: Int, _ c: UnsafeMutablePointer<V.Scalar>, _ ldc: Int,
                           _ accumulate: Bool, _ pack: UnsafeMutablePointer<V.Scalar>,
                           _ packed: UnsafePointer<V.Scalar>?,
                           _ complement: UnsafeMutablePointer<V.Scalar>?) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount
    let pairedColumns = columns / (2 * w) * (2 * w)
    var p0 = 0
    repeat {
        let chunk = min(productDepthChunk, depth - p0)
        let add = accumulate || p0 > 0
        let e = p0 + chunk == depth ? complement : nil  // the last chunk's sums are final
        var n0 = 0
        while n0 + 2 * w <= columns {
            let panel: UnsafePointer<V.Scalar>
            if let packed {
                panel = packed + p0 * pairedColumns + n0 * chunk
            } else {
                // The chunk's panel, contiguous.
                var from = b + p0 * ldb + n0, to = pack
                for _ in 0 ..< chunk {
                    storeLanes(loadLanes(from, V.self), to)
                    storeLanes(loadLanes(from + w, V.self), to + w)
                    from += ldb
                    to += 2 * w
                }
                panel = UnsafePointer(pack)
            }
            var m0 = 0
            while m0 + 6 <= rows {
                tile6x2(V.self, a, panel, 2 * w, c, e, ldc, m0, n0, p0, chunk, add)
                m0 += 6
            }
            // A remainder of 4 or 5 rows (64 = 10·6 + 4): 8 accumulators keep both FMA units
            // busy, where single rows would wait on each sum's latency.
            if m0 + 4 <= rows {
                tile4x2(V.self, a, panel, 2 * w, c, e, ldc, m0, n0, p0, chunk, add)
                m0 += 4
            }
            while m0 < rows {
                tile1x2(V.self, a, panel, 2 * w, c, e, ldc, m0, n0, p0, chunk, add)
                m0 += 1
            }
            n0 += 2 * w
        }
        if n0 + w <= columns {
            for m in 0 ..< rows { tile1x1(V.self, a, b + p0 * ldb + n0, ldb, c, e, ldc, m, n0, p0, chunk, add) }
            n0 += w
        }
        if n0 < columns {
            for m in 0 ..< rows {
                for n in n0 ..< columns {
                    var sum: V.Scalar = add ? c[m * ldc + n] : 0
                    var ap = a.base + m * a.row + p0 * a.column, bp = b + p0 * ldb + n
                    for _ in 0 ..< chunk {
                        sum = sum.addingProduct(ap[0], bp[0])
                        ap += a.column
                        bp += ldb
                    }
                    c[m * ldc + n] = sum
                    if let e { e[m * ldc + n] = 1 - sum }
                }
            }
        }
        p0 += chunk
    } while p0 < depth
}

@inline(__always) func loadLanes<V: SIMD>(_ p: UnsafePointer<V.Scalar>, _: V.Type) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}
@inline(__always) func storeLanes<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<V.Scalar>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

// The tiles: C[m0 ..< m0 + rows, n0 ..< n0 + width] over the chunk p0 ..< p0 + chunk; `b` points
// at the chunk's first row of B at column n0 (in the panel buffer or in B itself).

@inline(__always)
func tile6x2<V: SIMD>(_: V.Type, _ a: StridedMatrix<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ ldb: Int,
                      _ c: UnsafeMutablePointer<V.Scalar>, _ e: UnsafeMutablePointer<V.Scalar>?, _ ldc: Int, _ m0: Int, _ n0: Int, _ p0: Int,
                      _ chunk: Int, _ add: Bool) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount
    let c0 = c + m0 * ldc + n0, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc
    var s00 = V(), s01 = V(), s10 = V(), s11 = V(), s20 = V(), s21 = V()
    var s30 = V(), s31 = V(), s40 = V(), s41 = V(), s50 = V(), s51 = V()
    if add {
        s00 = loadLanes(c0, V.self); s01 = loadLanes(c0 + w, V.self)
        s10 = loadLanes(c1, V.self); s11 = loadLanes(c1 + w, V.self)
        s20 = loadLanes(c2, V.self); s21 = loadLanes(c2 + w, V.self)
        s30 = loadLanes(c3, V.self); s31 = loadLanes(c3 + w, V.self)
        s40 = loadLanes(c4, V.self); s41 = loadLanes(c4 + w, V.self)
        s50 = loadLanes(c5, V.self); s51 = loadLanes(c5 + w, V.self)
    }
    let ar = a.row, ac = a.column
    var ap = a.base + m0 * ar + p0 * ac, bp = b
    for _ in 0 ..< chunk {
        let b0 = loadLanes(bp, V.self), b1 = loadLanes(bp + w, V.self)
        let a0 = V(repeating: ap[0])
        s00 = s00.addingProduct(a0, b0); s01 = s01.addingProduct(a0, b1)
        let a1 = V(repeating: ap[ar])
        s10 = s10.addingProduct(a1, b0); s11 = s11.addingProduct(a1, b1)
        let a2 = V(repeating: ap[2 * ar])
        s20 = s20.addingProduct(a2, b0); s21 = s21.addingProduct(a2, b1)
        let a3 = V(repeating: ap[3 * ar])
        s30 = s30.addingProduct(a3, b0); s31 = s31.addingProduct(a3, b1)
        let a4 = V(repeating: ap[4 * ar])
        s40 = s40.addingProduct(a4, b0); s41 = s41.addingProduct(a4, b1)
        let a5 = V(repeating: ap[5 * ar])
        s50 = s50.addingProduct(a5, b0); s51 = s51.addingProduct(a5, b1)
        ap += ac
        bp += ldb
    }
    storeLanes(s00, c0); storeLanes(s01, c0 + w)
    storeLanes(s10, c1); storeLanes(s11, c1 + w)
    storeLanes(s20, c2); storeLanes(s21, c2 + w)
    storeLanes(s30, c3); storeLanes(s31, c3 + w)
    storeLanes(s40, c4); storeLanes(s41, c4 + w)
    storeLanes(s50, c5); storeLanes(s51, c5 + w)
    if let e {
        let one = V(repeating: 1), e0 = e + m0 * ldc + n0, e1 = e0 + ldc, e2 = e1 + ldc, e3 = e2 + ldc, e4 = e3 + ldc
        let e5 = e4 + ldc
        storeLanes(one - s00, e0); storeLanes(one - s01, e0 + w)
        storeLanes(one - s10, e1); storeLanes(one - s11, e1 + w)
        storeLanes(one - s20, e2); storeLanes(one - s21, e2 + w)
        storeLanes(one - s30, e3); storeLanes(one - s31, e3 + w)
        storeLanes(one - s40, e4); storeLanes(one - s41, e4 + w)
        storeLanes(one - s50, e5); storeLanes(one - s51, e5 + w)
    }
}

@inline(__always)
func tile4x2<V: SIMD>(_: V.Type, _ a: StridedMatrix<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ ldb: Int,
                      _ c: UnsafeMutablePointer<V.Scalar>, _ e: UnsafeMutablePointer<V.Scalar>?, _ ldc: Int, _ m0: Int, _ n0: Int, _ p0: Int,
                      _ chunk: Int, _ add: Bool) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount
    let c0 = c + m0 * ldc + n0, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
    var s00 = V(), s01 = V(), s10 = V(), s11 = V(), s20 = V(), s21 = V(), s30 = V(), s31 = V()
    if add {
        s00 = loadLanes(c0, V.self); s01 = loadLanes(c0 + w, V.self)
        s10 = loadLanes(c1, V.self); s11 = loadLanes(c1 + w, V.self)
        s20 = loadLanes(c2, V.self); s21 = loadLanes(c2 + w, V.self)
        s30 = loadLanes(c3, V.self); s31 = loadLanes(c3 + w, V.self)
    }
    let ar = a.row, ac = a.column
    var ap = a.base + m0 * ar + p0 * ac, bp = b
    for _ in 0 ..< chunk {
        let b0 = loadLanes(bp, V.self), b1 = loadLanes(bp + w, V.self)
        let a0 = V(repeating: ap[0])
        s00 = s00.addingProduct(a0, b0); s01 = s01.addingProduct(a0, b1)
        let a1 = V(repeating: ap[ar])
        s10 = s10.addingProduct(a1, b0); s11 = s11.addingProduct(a1, b1)
        let a2 = V(repeating: ap[2 * ar])
        s20 = s20.addingProduct(a2, b0); s21 = s21.addingProduct(a2, b1)
        let a3 = V(repeating: ap[3 * ar])
        s30 = s30.addingProduct(a3, b0); s31 = s31.addingProduct(a3, b1)
        ap += ac
        bp += ldb
    }
    storeLanes(s00, c0); storeLanes(s01, c0 + w)
    storeLanes(s10, c1); storeLanes(s11, c1 + w)
    storeLanes(s20, c2); storeLanes(s21, c2 + w)
    storeLanes(s30, c3); storeLanes(s31, c3 + w)
    if let e {
        let one = V(repeating: 1), e0 = e + m0 * ldc + n0, e1 = e0 + ldc, e2 = e1 + ldc, e3 = e2 + ldc
        storeLanes(one - s00, e0); storeLanes(one - s01, e0 + w)
        storeLanes(one - s10, e1); storeLanes(one - s11, e1 + w)
        storeLanes(one - s20, e2); storeLanes(one - s21, e2 + w)
        storeLanes(one - s30, e3); storeLanes(one - s31, e3 + w)
    }
}

@inline(__always)
func tile1x2<V: SIMD>(_: V.Type, _ a: StridedMatrix<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ ldb: Int,
                      _ c: UnsafeMutablePointer<V.Scalar>, _ e: UnsafeMutablePointer<V.Scalar>?, _ ldc: Int, _ m: Int, _ n0: Int, _ p0: Int,
                      _ chunk: Int, _ add: Bool) where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount
    let c0 = c + m * ldc + n0
    var s0 = add ? loadLanes(c0, V.self) : V(), s1 = add ? loadLanes(c0 + w, V.self) : V()
    var ap = a.base + m * a.row + p0 * a.column, bp = b
    for _ in 0 ..< chunk {
        let a0 = V(repeating: ap[0])
        s0 = s0.addingProduct(a0, loadLanes(bp, V.self))
        s1 = s1.addingProduct(a0, loadLanes(bp + w, V.self))
        ap += a.column
        bp += ldb
    }
    storeLanes(s0, c0)
    storeLanes(s1, c0 + w)
    if let e {
        let one = V(repeating: 1), e0 = e + m * ldc + n0
        storeLanes(one - s0, e0)
        storeLanes(one - s1, e0 + w)
    }
}

@inline(__always)
func tile1x1<V: SIMD>(_: V.Type, _ a: StridedMatrix<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ ldb: Int,
                      _ c: UnsafeMutablePointer<V.Scalar>, _ e: UnsafeMutablePointer<V.Scalar>?, _ ldc: Int, _ m: Int, _ n0: Int, _ p0: Int,
                      _ chunk: Int, _ add: Bool) where V.Scalar: BinaryFloatingPoint {
    let c0 = c + m * ldc + n0
    var s0 = add ? loadLanes(c0, V.self) : V()
    var ap = a.base + m * a.row + p0 * a.column, bp = b
    for _ in 0 ..< chunk {
        s0 = s0.addingProduct(V(repeating: ap[0]), loadLanes(bp, V.self))
        ap += a.column
        bp += ldb
    }
    storeLanes(s0, c0)
    if let e { storeLanes(V(repeating: 1) - s0, e + m * ldc + n0) }
}
