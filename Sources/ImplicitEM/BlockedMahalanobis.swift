// The mahalanobis kernel a block of rows at a time, one component after the other, with the
// block's rows in the vector lanes (products in BlockedTriangular.swift). With E = X − 1·mu_kᵀ
// (B×D) and L̃_k the lower triangle of L_k (zeros above; the upper triangle of the input is
// ignored), all held transposed (D×B, a row of lanes per dimension):
//   energies  Yᵀ = L̃_kᵀ·Eᵀ (y_j = Σ_{p≥j} L_pj·e_p), d_nk = ‖Y_n‖², summed j ascending
//   x, mu     Wᵀ = 2·coef_nk·Yᵀ, Zᵀ = L̃_k·Wᵀ (z_i = Σ_{p≤i} L_ip·w_p), gx_n += Σ_k Z_n (k ascending,
//             added to gx at the block's end), gmu_k −= Σ_n Z_n (summed a vector of rows at a time)
//   chol      gL_k += the lower triangle of Eᵀ·W (Σ_n 2·coef·e yᵀ), from E row by row
// so each product costs only the nonzero half of L_k. The energies' Yᵀ of every component is
// kept for the backward (when it fits: `keptProjectionLimit`; else recomputed the same way).
// A pair whose plain e, y or 2·coef·y is not finite (the energy came from the scaled form, or the
// coefficient is huge) takes the per-row term, so that no ∞ meets a zero in a product.

/// The most values of Yᵀ kept from the energies for the backward (blockRows × K × D).
let keptProjectionLimit = 1 << 18

extension MahalanobisModel {
    var blockRows: Int { 64 }

    /// D rounded up to a whole number of vectors of either precision (E's rows, held row by row).
    var paddedDimensions: Int { (max(setup.d, 1) + 7) / 8 * 8 }

    /// Whether every component's Yᵀ is kept from the energies for the backward.
    var keepsProjections: Bool {
        let (kd, overflow) = max(setup.k, 1).multipliedReportingOverflow(by: max(setup.d, 1) * blockRows)
        return !overflow && kd <= keptProjectionLimit
    }

    /// Xᵀ, Eᵀ, Wᵀ, Zᵀ and the block's gx transposed (D×B each), Yᵀ (K or 1 of D×B), E (B×D
    /// padded), Eᵀ·W transposed (D×D padded) and a flag per row.
    func blockScratchSize() throws -> Int {
        let d = max(setup.d, 1), b = blockRows, dv = paddedDimensions
        let slots = try scratchTotal([(keepsProjections ? max(setup.k, 1) : 1, d)])
        return try scratchTotal([(5 * b, d), (slots, b), (b, dv), (d, dv), (b, 1)])
    }

    /// L̃_k and L̃_kᵀ for every k (K×D×D each).
    func sharedScratchSize() throws -> Int {
        let d = max(setup.d, 1)
        let factor = try scratchTotal([(try scratchTotal([(max(setup.k, 1), d)]), d)])
        return try scratchTotal([(factor, 2)])
    }

    func prepare(shared: UnsafeMutablePointer<T>) {
        let d = setup.d, k = setup.k, transposed = shared + k * d * d
        for kk in 0 ..< k {
            let l = chol + kk * d * d, lower = shared + kk * d * d, upper = transposed + kk * d * d
            for i in 0 ..< d {
                for j in 0 ..< d {
                    let value = j <= i ? l[i * d + j] : 0
                    lower[i * d + j] = value
                    upper[j * d + i] = value
                }
            }
        }
    }

    @inline(__always)
    func energies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        if scratch.block != nil && scratch.shared != nil && setup.d > 0 {
            // The casts are identities: T is the precision named.
            if T.self == Double.self {
                unsafeBitCast(self, to: MahalanobisModel<Double>.self)
                    .laneEnergies(rows: rows, scratch: unsafeBitCast(scratch, to: RowScratch<Double>.self),
                                  into: reboundMutable(out, Double.self))
                return
            }
            if T.self == Float.self {
                unsafeBitCast(self, to: MahalanobisModel<Float>.self)
                    .laneEnergies(rows: rows, scratch: unsafeBitCast(scratch, to: RowScratch<Float>.self),
                                  into: reboundMutable(out, Float.self))
                return
            }
        }
        for n in rows { energies(row: n, scratch: scratch, into: out + (n - rows.lowerBound) * setup.k) }
    }

    @inline(__always)
    func backward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        if scratch.block != nil && scratch.shared != nil && setup.d > 0 {
            if T.self == Double.self {
                unsafeBitCast(self, to: MahalanobisModel<Double>.self)
                    .laneBackward(rows: rows, coefficients: rebound(coefficients, Double.self),
                                  scratch: unsafeBitCast(scratch, to: RowScratch<Double>.self),
                                  gx: gx.map { reboundMutable($0, Double.self) },
                                  grads: unsafeBitCast(grads, to: ParameterGradients<Double>.self))
                return
            }
            if T.self == Float.self {
                unsafeBitCast(self, to: MahalanobisModel<Float>.self)
                    .laneBackward(rows: rows, coefficients: rebound(coefficients, Float.self),
                                  scratch: unsafeBitCast(scratch, to: RowScratch<Float>.self),
                                  gx: gx.map { reboundMutable($0, Float.self) },
                                  grads: unsafeBitCast(grads, to: ParameterGradients<Float>.self))
                return
            }
        }
        let d = setup.d, k = setup.k
        for n in rows {
            let b = n - rows.lowerBound
            backward(row: n, coefficient: coefficients + b * k, scratch: scratch, gx: gx.map { $0 + b * d },
                     grads: grads)
        }
    }
}

/// Pointers into the block scratch (layout of `blockScratchSize`).
struct MahalanobisBlock<T> {
    let xT, eT, wT, zT, gxT, yT, eRows, outer, dropped: UnsafeMutablePointer<T>
}

extension MahalanobisModel where T: BlockScalar {
    typealias Lanes = T.Lanes

    @inline(__always)
    func blockParts(_ work: UnsafeMutablePointer<T>) -> MahalanobisBlock<T> {
        let b = blockRows, d = setup.d, dv = paddedDimensions, slots = keepsProjections ? setup.k : 1
        let xT = work, eT = xT + d * b, wT = eT + d * b, zT = wT + d * b, gxT = zT + d * b, yT = gxT + d * b
        let eRows = yT + slots * d * b, outer = eRows + b * dv, dropped = outer + d * dv
        return MahalanobisBlock(xT: xT, eT: eT, wT: wT, zT: zT, gxT: gxT, yT: yT, eRows: eRows, outer: outer,
                                dropped: dropped)
    }

    /// Eᵀ = Xᵀ − mu_k (every lane; the lanes past the block's rows hold −mu_k).
    @inline(__always)
    func differences(component k: Int, _ p: MahalanobisBlock<T>) {
        let d = setup.d, b = blockRows, w = Lanes.scalarCount, mr = mu + k * d
        for i in 0 ..< d {
            let m = Lanes(repeating: mr[i]), from = p.xT + i * b, to = p.eT + i * b
            var v = 0
            while v < b {
                storeLanes(loadLanes(from + v, Lanes.self) - m, to + v)
                v += w
            }
        }
    }

    /// Yᵀ = L̃_kᵀ·Eᵀ into `y` (D×B): y_j = Σ_{p ≥ j} L_pj·e_p.
    @inline(__always)
    func projections(component k: Int, _ p: MahalanobisBlock<T>, shared: UnsafePointer<T>,
                     into y: UnsafeMutablePointer<T>) {
        let d = setup.d, b = blockRows
        triangleProduct(Lanes.self, outputs: d, lanes: b, leadingRemainder: false,
                        s: shared + k * d * d, sp: d, st: 1, a: p.eT, la: b, c: y, lc: b,
                        first: { $0 }, end: { _ in d })
    }

    @inline(__always)
    func projectionSlot(_ k: Int, _ p: MahalanobisBlock<T>) -> UnsafeMutablePointer<T> {
        keepsProjections ? p.yT + k * setup.d * blockRows : p.yT
    }

    func laneEnergies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        guard let work = scratch.block, let shared = scratch.shared else { return }
        let d = setup.d, k = setup.k, b = blockRows, w = Lanes.scalarCount, count = rows.count
        let p = blockParts(work)
        // Xᵀ, zero past the block's rows.
        for row in 0 ..< count {
            let xr = x + (rows.lowerBound + row) * d
            for i in 0 ..< d { p.xT[i * b + row] = xr[i] }
        }
        for i in 0 ..< d { for row in count ..< b { p.xT[i * b + row] = 0 } }
        for kk in 0 ..< k {
            differences(component: kk, p)
            let y = projectionSlot(kk, p)
            projections(component: kk, p, shared: shared, into: y)
            // ‖y‖² as y_0² + y_1² + … (no fused multiply-add, as the per-row form).
            var v = 0
            while v < count {
                var sum = Lanes()
                for j in 0 ..< d {
                    let yj = loadLanes(y + j * b + v, Lanes.self)
                    sum = sum + yj * yj
                }
                for lane in 0 ..< min(w, count - v) { out[(v + lane) * k + kk] = sum[lane] }
                v += w
            }
        }
        for row in 0 ..< count {
            let o = out + row * k
            for kk in 0 ..< k where !o[kk].isFinite {
                o[kk] = scaledEnergy(row: rows.lowerBound + row, component: kk, scratch: scratch)
            }
        }
    }

    func laneBackward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                      gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        guard let work = scratch.block, let shared = scratch.shared else { return }
        let d = setup.d, k = setup.k, b = blockRows, w = Lanes.scalarCount, count = rows.count
        let dv = paddedDimensions
        let p = blockParts(work)
        let transposed = shared + k * d * d
        if gx != nil { p.gxT.update(repeating: 0, count: d * b) }
        for kk in 0 ..< k {
            var active = false
            for row in 0 ..< count where coefficients[row * k + kk] != 0 { active = true }
            if !active { continue }
            let y = projectionSlot(kk, p)
            if !keepsProjections {
                differences(component: kk, p)
                projections(component: kk, p, shared: shared, into: y)
            }
            // Wᵀ = 2·coef·Yᵀ (±0 where y is 0, the same to every sum below), and the pairs the
            // products must not see: a non-finite e makes y non-finite (L_pp > 0 multiplies e_p in
            // y_p), so w tells both; a lane whose 2·coef is not finite is dropped whatever its w.
            var anyDropped = false
            var v = 0
            while v < b {
                var coef = Lanes()
                for lane in 0 ..< max(0, min(w, count - v)) { coef[lane] = coefficients[(v + lane) * k + kk] }
                let twoCoef = 2 * coef
                var finite = (twoCoef - twoCoef) .== Lanes()
                for j in 0 ..< d {
                    let yj = loadLanes(y + j &* b + v, Lanes.self)
                    let wj = twoCoef * yj
                    storeLanes(wj, p.wT + j &* b + v)
                    finite = finite .& ((wj - wj) .== Lanes())
                }
                let keep = finite .& (coef .!= Lanes())
                for lane in 0 ..< w {
                    p.dropped[v + lane] = keep[lane] ? 0 : 1
                    if keep[lane] { continue }
                    anyDropped = true
                    let row = v + lane
                    if row < count && coef[lane] != 0 {
                        backward(row: rows.lowerBound + row, component: kk, coefficient: coef[lane], scratch: scratch,
                                 gx: gx.map { $0 + row * d }, grads: grads)
                    }
                    for j in 0 ..< d { p.wT[j * b + row] = 0 }
                }
                v += w
            }
            if gx != nil || grads.mu != nil {
                // Zᵀ = L̃_k·Wᵀ: z_i = Σ_{p ≤ i} L_ip·w_p.
                triangleProduct(Lanes.self, outputs: d, lanes: b, leadingRemainder: true,
                                s: transposed + kk * d * d, sp: d, st: 1, a: p.wT, la: b, c: p.zT, lc: b,
                                first: { _ in 0 }, end: { $0 })
                if gx != nil {
                    var j = 0
                    while j < d * b {
                        storeLanes(loadLanes(p.gxT + j, Lanes.self) + loadLanes(p.zT + j, Lanes.self), p.gxT + j)
                        j += w
                    }
                }
                if let gMu = grads.mu {
                    // Σ_n z_ni over the block's lanes (zero past its rows), a vector at a time, then
                    // across the lanes.
                    let gm = gMu + kk * d
                    for i in 0 ..< d {
                        var zi = p.zT + i &* b, sum = loadLanes(zi, Lanes.self)
                        for _ in 1 ..< b / w {
                            zi += w
                            sum += loadLanes(zi, Lanes.self)
                        }
                        var total = sum[0]
                        for lane in 1 ..< w { total += sum[lane] }
                        gm[i] -= total
                    }
                }
            }
            if let gChol = grads.chol {
                // E row by row (zero where dropped and past D), then (Eᵀ·W)ᵀ: outer[j, i] = Σ_n W_nj·E_ni
                // for i ≥ j (whole vectors from the one holding j).
                let mr = mu + kk * d, whole = d / w * w
                for row in 0 ..< count {
                    let xr = x + (rows.lowerBound + row) &* d, er = p.eRows + row &* dv
                    if anyDropped && p.dropped[row] != 0 {
                        er.update(repeating: 0, count: dv)
                        continue
                    }
                    var i = 0
                    while i < whole {
                        storeLanes(loadLanes(xr + i, Lanes.self) - loadLanes(mr + i, Lanes.self), er + i)
                        i += w
                    }
                    while i < d {
                        er[i] = xr[i] - mr[i]
                        i += 1
                    }
                    while i < dv {
                        er[i] = 0
                        i += 1
                    }
                }
                triangleProduct(Lanes.self, outputs: d, lanes: dv, leadingRemainder: false,
                                s: p.wT, sp: 1, st: b, a: p.eRows, la: dv, c: p.outer, lc: dv,
                                first: { _ in 0 }, end: { _ in count }, lanesFrom: { $0 / w * w })
                let g = gChol + kk &* d &* d
                for j in 0 ..< d {
                    var from = p.outer + j &* dv + j, to = g + j &* d + j
                    for _ in j ..< d {
                        to.pointee += from.pointee
                        from += 1
                        to += d
                    }
                }
            }
        }
        if let gx {
            for row in 0 ..< count {
                var from = p.gxT + row, to = gx + row &* d
                for _ in 0 ..< d {
                    to.pointee += from.pointee
                    from += b
                    to += 1
                }
            }
        }
    }
}
