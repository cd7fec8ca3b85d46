// The mahalanobis kernel a block of rows at a time, one component after the other, as matrix
// products (BlockedMatrix.swift). With E = X − 1·mu_kᵀ (B×D) and L̃_k the lower triangle of L_k
// (zeros above; the upper triangle of the input is ignored):
//   energies  Y = E·L̃_k (row n: y = L_kᵀe), d_nk = ‖Y_n‖²
//   x, mu     W_n = 2·coef_nk·Y_n, Z = W·L̃_kᵀ (row n: 2·coef·L_k y), gx_n += Z_n, gmu_k −= Σ_n Z_n
//   chol      gL_k += the lower triangle of Eᵀ·W (Σ_n 2·coef·e yᵀ)
// A pair whose plain e, y or 2·coef·y is not finite (the energy came from the scaled form, or the
// coefficient is huge) takes the per-row term, so that no ∞ meets the zeros of L̃ in a product.

extension MahalanobisModel {
    var blockRows: Int { 64 }

    /// E, Y, W, Z (B×D each), Eᵀ·W (D×D) and the products' panel buffer.
    func blockScratchSize() throws -> Int {
        let d = max(setup.d, 1)
        return try scratchTotal([(4 * blockRows, d), (d, d), (productPackSize, 1)])
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
    func blockParts(_ work: UnsafeMutablePointer<T>) -> (e: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>,
                                                         w: UnsafeMutablePointer<T>, z: UnsafeMutablePointer<T>,
                                                         outer: UnsafeMutablePointer<T>, pack: UnsafeMutablePointer<T>) {
        let rowsD = blockRows * max(setup.d, 1)
        let e = work, y = e + rowsD, w = y + rowsD, z = w + rowsD, outer = z + rowsD
        return (e, y, w, z, outer, outer + max(setup.d, 1) * max(setup.d, 1))
    }

    /// E = X_rows − mu_k and Y = E·L̃_k.
    @inline(__always)
    func project(rows: Range<Int>, component k: Int, shared: UnsafePointer<T>, e: UnsafeMutablePointer<T>,
                 y: UnsafeMutablePointer<T>, pack: UnsafeMutablePointer<T>) {
        let d = setup.d, mr = mu + k * d
        for n in rows {
            let xr = x + n * d, er = e + (n - rows.lowerBound) * d
            for i in 0 ..< d { er[i] = xr[i] - mr[i] }
        }
        matrixProduct(rows: rows.count, columns: d, depth: d, StridedMatrix(base: UnsafePointer(e), row: d, column: 1),
                      shared + k * d * d, ldb: d, y, ldc: d, accumulate: false, pack: pack)
    }

    @inline(__always)
    func energies(rows: Range<Int>, scratch: RowScratch<T>, into out: UnsafeMutablePointer<T>) {
        let d = setup.d, k = setup.k
        guard let work = scratch.block, let shared = scratch.shared else {
            for n in rows { energies(row: n, scratch: scratch, into: out + (n - rows.lowerBound) * k) }
            return
        }
        let (e, y, _, _, _, pack) = blockParts(work)
        for kk in 0 ..< k {
            project(rows: rows, component: kk, shared: shared, e: e, y: y, pack: pack)
            for n in rows {
                let b = n - rows.lowerBound, yr = y + b * d
                var sum: T = 0
                for j in 0 ..< d { sum += yr[j] * yr[j] }
                out[b * k + kk] = sum.isFinite ? sum : scaledEnergy(row: n, component: kk, scratch: scratch)
            }
        }
    }

    @inline(__always)
    func backward(rows: Range<Int>, coefficients: UnsafePointer<T>, scratch: RowScratch<T>,
                  gx: UnsafeMutablePointer<T>?, grads: ParameterGradients<T>) {
        let d = setup.d, k = setup.k, count = rows.count
        guard let work = scratch.block, let shared = scratch.shared else {
            for n in rows {
                let b = n - rows.lowerBound
                backward(row: n, coefficient: coefficients + b * k, scratch: scratch, gx: gx.map { $0 + b * d },
                         grads: grads)
            }
            return
        }
        let (e, y, w, z, outer, pack) = blockParts(work)
        let transposed = shared + k * d * d
        for kk in 0 ..< k {
            var active = false
            for b in 0 ..< count where coefficients[b * k + kk] != 0 { active = true }
            if !active { continue }
            project(rows: rows, component: kk, shared: shared, e: e, y: y, pack: pack)
            for n in rows {
                let b = n - rows.lowerBound, coef = coefficients[b * k + kk]
                let er = e + b * d, yr = y + b * d, wr = w + b * d
                let twoCoef = 2 * coef
                var nonFinite = twoCoef.isFinite ? 0 : 1
                for j in 0 ..< d {
                    wr[j] = times(twoCoef, yr[j])
                    nonFinite &+= (er[j].isFinite ? 0 : 1) &+ (wr[j].isFinite ? 0 : 1)
                }
                if coef != 0 && nonFinite != 0 {
                    backward(row: n, component: kk, coefficient: coef, scratch: scratch, gx: gx.map { $0 + b * d },
                             grads: grads)
                }
                if coef == 0 || nonFinite != 0 {
                    for j in 0 ..< d {
                        er[j] = 0
                        wr[j] = 0
                    }
                }
            }
            if gx != nil || grads.mu != nil {
                matrixProduct(rows: count, columns: d, depth: d, StridedMatrix(base: UnsafePointer(w), row: d, column: 1),
                              transposed + kk * d * d, ldb: d, z, ldc: d, accumulate: false, pack: pack)
                if let gx { for j in 0 ..< count * d { gx[j] += z[j] } }
                if let gMu = grads.mu {
                    let gm = gMu + kk * d
                    for b in 0 ..< count {
                        let zr = z + b * d
                        for i in 0 ..< d { gm[i] -= zr[i] }
                    }
                }
            }
            if let gChol = grads.chol {
                matrixProduct(rows: d, columns: d, depth: count, StridedMatrix(base: UnsafePointer(e), row: 1, column: d),
                              UnsafePointer(w), ldb: d, outer, ldc: d, accumulate: false, pack: pack)
                let g = gChol + kk * d * d
                for i in 0 ..< d {
                    for j in 0 ... i { g[i * d + j] += outer[i * d + j] }
                }
            }
        }
    }
}
