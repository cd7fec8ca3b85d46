// The cosine kernel a block of rows at a time, as matrix products (BlockedMatrix.swift):
//   energies  d = 1 − C,  C = X̂·M̂ᵀ                                   (B×K)
//   x         gx_n  −= (G_n − s_n·x̂_n)/‖x_n‖,  G = Coef·M̂,  s_n = Σ_k coef_nk·c_nk
//   mu        gmu_k −= (H_k − t_k·m̂_k)/‖mu_k‖, H = Coefᵀ·X̂, t_k = Σ_n coef_nk·c_nk
// the per-row chain rule (Models.swift, ∂d/∂x = −(m̂ − c·x̂)/‖x‖) summed over the block before the
// division. mu's is linear in H and t: they are summed over a partition's blocks and divided once,
// at its end (`finishBlocks`), so that the K×D update does not run for every block.
// Zero vectors have zero unit vectors, so their cosines and pulls are exactly 0.

extension CosineModel {
    var blockRows: Int { 64 }

    /// Components per piece of H (its product reads Coef's columns a piece at a time).
    var componentPiece: Int { min(setup.k, 96) }

    /// x̂ (B×D), ‖x‖ (B), C (B×K), G (B×D), Coef's columns of a piece (B×piece), the products' panel
    /// buffer, x̂'s panels (packed once for all of mu's pieces); the partition's sums ΣH (K×D) and
    /// Σt (K), and whether they hold a block yet (1).
    func blockScratchSize() throws -> Int {
        let b = blockRows, d = max(setup.d, 1), k = max(setup.k, 1)
        return try scratchTotal([(2 * b, d), (b, k), (b, 1), (componentPiece, max(d, b)),
                                (productPackSize, 1), (b, d), (k, d), (k, 1), (1, 1)])
    }

    /// M̂ᵀ (D×K), so that the energies' product reads whole vectors of centres; then the panels
    /// of M̂ᵀ (the energies' B) and of M̂ (x's B), packed once for every block.
    func sharedScratchSize() throws -> Int {
        let (forward, gx) = try panelSizes()
        return try scratchTotal([(max(setup.d, 1), max(setup.k, 1)), (forward, 1), (gx, 1)])
    }

    func panelSizes() throws -> (forward: Int, gx: Int) {
        (try packedPanelsSize(T.self, depth: setup.d, columns: setup.k),
         try packedPanelsSize(T.self, depth: setup.k, columns: setup.d))
    }

    /// The panels' places in the shared scratch (layout of `sharedScratchSize`).
    @inline(__always)
    func sharedParts(_ shared: UnsafePointer<T>) -> (unitTransposed: UnsafePointer<T>, forwardPanels: UnsafePointer<T>,
                                                     gxPanels: UnsafePointer<T>) {
        let forwardPanels = shared + max(setup.d, 1) * max(setup.k, 1)
        // packedPanelsSize's value; it did not overflow: sharedScratchSize computed it first.
        let width = 2 * blockLanes(T.self)
        let forward = width == 0 ? 0 : setup.d &* (setup.k / width &* width)
        return (shared, forwardPanels, forwardPanels + forward)
    }

    func prepare(shared: UnsafeMutablePointer<T>) {
        let d = setup.d, k = setup.k
        for kk in 0 ..< k {
            for i in 0 ..< d { shared[i * k + kk] = muUnit[kk * d + i] }
        }
        let (_, forwardPanels, gxPanels) = sharedParts(UnsafePointer(shared))
        packPanels(depth: d, columns: k, UnsafePointer(shared), ldb: k, into: UnsafeMutablePointer(mutating: forwardPanels))
        packPanels(depth: k, columns: d, muUnit, ldb: d, into: UnsafeMutablePointer(mutating: gxPanels))
    }

    /// Pointers into the block scratch (layout of `blockScratchSize`).
    @inline(__always)
    func blockParts(_ work: UnsafeMutablePointer<T>) -> (xHat: UnsafeMutablePointer<T>, xNorm: UnsafeMutablePointer<T>,
                                                         cosines: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>,
                                                         pieceT: UnsafeMutablePointer<T>, pack: UnsafeMutablePointer<T>,
                                                         xPanels: UnsafeMutablePointer<T>) {
        let b = blockRows, d = max(setup.d, 1), k = max(setup.k, 1), piece = componentPiece * max(d, b)
        let xHat = work, xNorm = work + b * d, cosines = xNorm + b, g = cosines + b * k, pieceT = g + b * d
        let pack = pieceT + piece
        return (xHat, xNorm, cosines, g, pieceT, pack, pack + productPackSize)
    }

    /// The partition's sums of mu's terms in the block scratch (after `blockParts`' parts): ΣH, Σt,
    /// and a flag, 1 once a block has written them (until then they are not initialised).
    @inline(__always)
    func muSums(_ work: UnsafeMutablePointer<T>) -> (h: UnsafeMutablePointer<T>, t: UnsafeMutablePointer<T>,
                                                     written: UnsafeMutablePointer<T>) {
        let b = blockRows, d = max(setup.d, 1), k = max(setup.k, 1)
        let h = blockParts(work).xPanels + b * d, t = h + k * d
        return (h, t, t + k)
    }

    @inline(__always)
    func energies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        guard let work = scratch.block, let shared = scratch.shared else {
            for n in rows { energies(row: n, scratch: scratch, into: out + (n - rows.lowerBound) * setup.k) }
            return
        }
        let d = setup.d, k = setup.k, b = rows.count
        let (xHat, xNorm, cosines, _, _, pack, _) = blockParts(work)
        let (unitTransposed, forwardPanels, _) = sharedParts(shared)
        for n in rows {
            let i = n - rows.lowerBound
            xNorm[i] = unitVector(x + n * d, d, unit: xHat + i * d)
        }
        matrixProduct(rows: b, columns: k, depth: d, StridedMatrix(base: UnsafePointer(xHat), row: d, column: 1),
                      unitTransposed, ldb: k, cosines, ldc: k, accumulate: false, pack: pack, packed: forwardPanels,
                      complement: out)
        // A zero x or mu has a zero unit vector: c = 0 exactly, d = 1.
    }

    @inline(__always)
    func backward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        guard let work = scratch.block else {
            for n in rows {
                let i = n - rows.lowerBound
                backward(row: n, coefficient: coefficients + i * setup.k, scratch: scratch,
                         gx: gx.map { $0 + i * setup.d }, grads: grads)
            }
            return
        }
        let d = setup.d, k = setup.k, b = rows.count
        let (xHat, xNorm, cosines, g, pieceT, pack, xPanels) = blockParts(work)
        if let gx {
            matrixProduct(rows: b, columns: d, depth: k, StridedMatrix(base: coefficients, row: k, column: 1),
                          muUnit, ldb: d, g, ldc: d, accumulate: false, pack: pack,
                          packed: scratch.shared.map { sharedParts($0).gxPanels })
            for i in 0 ..< b where xNorm[i] != 0 {
                let s = dotProduct(coefficients + i * k, cosines + i * k, k)
                let gi = g + i * d, xi = xHat + i * d, out = gx + i * d, norm = xNorm[i]
                for m in 0 ..< d { out[m] -= (gi[m] - s * xi[m]) / norm }
            }
        }
        if grads.mu != nil {
            let (h, t, written) = muSums(work)
            let first = written[0] == 0
            written[0] = 1
            // t_k across k (whole vectors), row by row.
            if first { for kk in 0 ..< k { t[kk] = 0 } }
            for i in 0 ..< b {
                let ci = coefficients + i * k, cosi = cosines + i * k
                for kk in 0 ..< k { t[kk] += ci[kk] * cosi[kk] }
            }
            let piece = componentPiece
            packPanels(depth: b, columns: d, UnsafePointer(xHat), ldb: d, into: xPanels)
            var k0 = 0
            while k0 < k {
                let count = min(piece, k - k0)
                // The piece's columns of Coef, rows `count` apart, read as Coefᵀ: in place,
                // Coef's rows K apart would share a few cache sets. A copy of whole row segments
                // (a transposition would cost a store per value).
                for i in 0 ..< b {
                    (pieceT + i &* count).update(from: coefficients + i &* k + k0, count: count)
                }
                matrixProduct(rows: count, columns: d, depth: b, StridedMatrix(base: UnsafePointer(pieceT), row: 1, column: count),
                              UnsafePointer(xHat), ldb: d, h + k0 * d, ldc: d, accumulate: !first, pack: pack,
                              packed: UnsafePointer(xPanels))
                k0 += count
            }
        }
    }

    func startBlocks(scratch: RowScratch<T>) {
        if let work = scratch.block { muSums(work).written[0] = 0 }
    }

    /// gmu_k −= (ΣH_k − Σt_k·m̂_k)/‖mu_k‖ over the partition's blocks (zero centres have no gradient).
    func finishBlocks(scratch: RowScratch<T>, grads: ParameterGradients<T>) {
        guard let gMu = grads.mu, let work = scratch.block else { return }
        let (h, t, written) = muSums(work)
        if written[0] == 0 { return }
        let d = setup.d
        for kk in 0 ..< setup.k where muNorm[kk] != 0 {
            let hk = h + kk * d, mk = muUnit + kk * d, out = gMu + kk * d
            let tk = t[kk], norm = muNorm[kk], inverse = 1 / norm
            // A multiplication (a division costs several times more across K×D);
            // the division where 1/‖mu‖ overflows.
            if inverse.isFinite {
                for m in 0 ..< d { out[m] -= (hk[m] - tk * mk[m]) * inverse }
            } else {
                for m in 0 ..< d { out[m] -= (hk[m] - tk * mk[m]) / norm }
            }
        }
    }
}

/// ‖v‖ and v/‖v‖ (0 and a zero vector for v = 0). The squares are summed in vector lanes,
/// unscaled; where that sum overflows or is so small that underflowed squares could matter,
/// `safeNorm` scales by max|v_i| first.
@inline(__always)
func unitVector<T: IEFloat>(_ v: UnsafePointer<T>, _ d: Int, unit: UnsafeMutablePointer<T>) -> T {
    if T.self == Float.self {
        if let norm = lanesUnitVector(Float.Lanes.self, rebound(v, Float.self), d, reboundMutable(unit, Float.self)) {
            return T(fromDouble: Double(norm))
        }
    } else if T.self == Double.self {
        if let norm = lanesUnitVector(Double.Lanes.self, rebound(v, Double.self), d, reboundMutable(unit, Double.self)) {
            return T(fromDouble: norm)
        }
    }
    return safeNorm(v, d, unit: unit)
}

@inline(__always)
func lanesUnitVector<V: SIMD>(_: V.Type, _ v: UnsafePointer<V.Scalar>, _ d: Int,
                              _ unit: UnsafeMutablePointer<V.Scalar>) -> V.Scalar? where V.Scalar: BinaryFloatingPoint {
    let w = V.scalarCount, whole = d / w * w
    var sums = V()
    var i = 0
    while i < whole {
        let t = loadLanes(v + i, V.self)
        sums = sums.addingProduct(t, t)
        i += w
    }
    var sum = sums.sum()
    for j in whole ..< d { sum = sum.addingProduct(v[j], v[j]) }
    // Each square that underflowed is off by at most half the least subnormal: relative to a sum
    // above this bound, far below rounding.
    if !sum.isFinite || sum < V.Scalar.leastNormalMagnitude / V.Scalar.ulpOfOne { return nil }
    let norm = sum.squareRoot(), lanes = V(repeating: norm)
    i = 0
    while i < whole {
        storeLanes(loadLanes(v + i, V.self) / lanes, unit + i)
        i += w
    }
    for j in whole ..< d { unit[j] = v[j] / norm }
    return norm
}
