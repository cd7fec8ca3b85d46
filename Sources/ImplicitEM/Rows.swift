// The streaming pass over rows: energies → logits → row maximum → exp → normalise → δ_nk →
// gradients (and sufficient statistics), all for one row while it is in cache. A model may
// compute energies and gradients for a block of rows at once (`blockRows`; the cosine and
// mahalanobis kernels, as matrix products); the middle steps stay per row. Rows are split into
// partitions (Threads.swift); each partition has its own accumulators, reduced in partition
// order, so outputs are bitwise identical for any thread count.

/// Where a pass writes: per-row outputs go straight to the caller's buffers (rows are disjoint
/// between partitions); per-parameter sums are accumulated per partition and reduced.
struct PassTargets<T: IEFloat> {
    // Forward, N×K / N / N×K.
    var energies: UnsafeMutablePointer<T>?
    var logZ: UnsafeMutablePointer<T>?
    var resp: UnsafeMutablePointer<T>?
    // Backward: upstream gradients and per-row gradient outputs.
    var backward = false
    var gL: UnsafePointer<T>?
    var gR: UnsafePointer<T>?
    var gradX: UnsafeMutablePointer<T>?
    var gradLogprior: UnsafeMutablePointer<T>?
    var gradEnergies: UnsafeMutablePointer<T>?
    // Which per-parameter sums are needed.
    var needMu = false, needScale = false, needShape = false, needChol = false
    var needDeltaSums = false, needTau = false
    // Sufficient statistics.
    var weights: UnsafePointer<T>?
    var needSumR = false, needSumRX = false, needSumRXX = false
    /// R and ∂E (without gR) written with non-temporal stores (`streamingPays`), one stream per
    /// partition; set by the pass.
    var respStream: LineStream<T>? = nil
    var gradEnergiesStream: LineStream<T>? = nil

    var needsLogits: Bool {
        logZ != nil || resp != nil || backward || needSumR || needSumRX || needSumRXX
    }
}

/// Offsets of each sum inside one partition's accumulator block.
struct AccumulatorLayout {
    var mu = 0, scale = 0, shape = 0, chol = 0, deltaSums = 0, tau = 0, sumR = 0, sumRX = 0, sumRXX = 0
    var size = 0

    init<T>(_ s: Setup<T>, _ t: PassTargets<T>) throws {
        let kd = try checkedProduct(s.k, s.d, "K*D")
        let kdd = try checkedProduct(kd, s.d, "K*D*D")
        func take(_ count: Int, _ needed: Bool) throws -> Int {
            let at = size
            if needed {
                let (next, overflow) = size.addingReportingOverflow(count)
                if overflow { throw ImplicitEMError(.badSize, "the accumulators' size overflows") }
                size = next
            }
            return at
        }
        mu = try take(kd, t.needMu)
        scale = try take(s.scaleCount, t.needScale)
        shape = try take(1, t.needShape)
        chol = try take(kdd, t.needChol)
        deltaSums = try take(s.k, t.needDeltaSums)
        tau = try take(1, t.needTau)
        sumR = try take(s.k, t.needSumR)
        sumRX = try take(kd, t.needSumRX)
        sumRXX = try take(kdd, t.needSumRXX)
    }
}

/// The fewest blocks of rows in one partition of a blocked pass.
let minimumBlocksPerPartition = 8

/// The pass's partitions. A blocked model's partition holds at least `minimumBlocksPerPartition`
/// blocks: each partition zeroes and reduces its own accumulators and block scratch, which would
/// otherwise cost as much as its rows' work. (A smaller cost per row is what makes Partitions
/// give each partition more rows.)
func rowPartitions(rows: Int, costPerRow: Int, blockRows: Int) -> Partitions {
    if blockRows <= 1 { return Partitions(rows: rows, costPerRow: costPerRow) }
    let (blockCost, overflow) = minimumBlocksPerPartition.multipliedReportingOverflow(by: blockRows)
    let cost = overflow ? 1 : min(costPerRow, max(1, Partitions.minWorkPerPartition / blockCost))
    return Partitions(rows: rows, costPerRow: cost)
}

/// Runs the pass over every row with the given model; returns the reduced accumulator block
/// (laid out by `layout`), owned by `arena`.
struct RowPass<T: IEFloat>: ModelVisitor {
    let setup: Setup<T>
    let targets: PassTargets<T>
    let layout: AccumulatorLayout
    let arena: Arena
    let result: UnsafeMutablePointer<UnsafeMutablePointer<T>?>

    func visit<M: EnergyModel>(_ model: M) throws where M.T == T {
        let s = setup
        let blockRows = model.blockRows
        let partitions = rowPartitions(rows: s.n, costPerRow: s.costPerRow, blockRows: blockRows)
        let parts = partitions.count
        // Everything a partition needs, allocated up front so that workers cannot fail.
        // Large R and ∂E outputs are streamed (`streamingPays`), each partition's through the
        // lines waiting at the end of the row scratch.
        let (outputBytes, bytesOverflow) = s.n.multipliedReportingOverflow(by: s.k &* MemoryLayout<T>.stride)
        let streaming = (targets.resp != nil || targets.gradEnergies != nil)
            && (bytesOverflow || streamingPays(bytes: outputBytes))
            && (targets.resp.map { LineStream.fits($0, k: s.k) } ?? true)
            && (targets.gradEnergies.map { LineStream.fits($0, k: s.k) } ?? true)
        let pendingSize = LineStream<T>.pendingSize
        let (softmaxScratch, softmaxOverflow) = try checkedProduct(3, max(s.k, 1), "scratch")
            .addingReportingOverflow(try checkedProduct(3, max(s.d, 1), "scratch"))
        let (rowScratch, streamOverflow) = softmaxScratch.addingReportingOverflow(streaming ? 2 * pendingSize : 0)
        let scratchOverflow = softmaxOverflow || streamOverflow
        // The logZ of a run of rows (`LogZRun`), written before they are read: not zeroed.
        let runScratch = 2 * logZRunCapacity(blockRows: blockRows)
        let (laneScratch, vectorOverflow) = (rowScratch + runScratch).addingReportingOverflow(try vectorScratchSize(s))
        if scratchOverflow || vectorOverflow { throw ImplicitEMError(.badSize, "the row scratch's size overflows") }
        // The blocked pass's region, after the vector model's: the block's energies and
        // coefficients, then the model's own working space.
        let blocked = blockRows > 1
        let blockBuffer = blocked ? try checkedProduct(blockRows, max(s.k, 1), "the block scratch") : 0
        let blockScratch = blocked ? try scratchTotal([(2, blockBuffer), (try model.blockScratchSize(), 1)]) : 0
        let (scratchSize, sizeOverflow) = laneScratch.addingReportingOverflow(blockScratch)
        if sizeOverflow { throw ImplicitEMError(.badSize, "the row scratch's size overflows") }
        let stride = max(layout.size, 1)
        // Accumulators for each partition; a row scratch for each thread, reused from one of its
        // partitions to the next (each partition initialises what it reads), so it stays in cache.
        let workers = partitionWorkers(parts)
        let (total, overflow) = try checkedProduct(parts, stride, "the accumulators")
            .addingReportingOverflow(try checkedProduct(workers, scratchSize, "the row scratch"))
        if overflow { throw ImplicitEMError(.badSize, "the accumulators' size overflows") }
        // Not zeroed here: each partition's worker zeroes its own part (below), in parallel and
        // on the thread that then uses it.
        let accumulators: UnsafeMutablePointer<T> = try arena.uninitialized(total, "the accumulators")
        let scratchBlock = accumulators + parts * stride
        var shared: UnsafePointer<T>? = nil
        if blocked {
            let values: UnsafeMutablePointer<T> = try arena.zeros(try model.sharedScratchSize(), "the shared scratch")
            model.prepare(shared: values)
            shared = UnsafePointer(values)
        }
        let layout = self.layout, targets = self.targets

        runPartitions(parts, workers: workers) { p, worker in
            let base = scratchBlock + worker * scratchSize
            // Zero what is read before it is written: the sums and the row scratch (the scalar
            // models' sink for an absent gx). The vector model zeroes its own lanes; the blocked
            // models write their block scratch before they read it.
            (accumulators + p * stride).initialize(repeating: 0, count: stride)
            base.initialize(repeating: 0, count: rowScratch)
            var scratch = RowScratch<T>(
                energies: base, logits: base + s.k, coefficient: base + 2 * s.k,
                vector: base + 3 * s.k, vector2: base + 3 * s.k + max(s.d, 1),
                vector3: base + 3 * s.k + 2 * max(s.d, 1), logZRun: base + rowScratch,
                lanes: base + rowScratch + runScratch)
            scratch.components = s.k
            scratch.dimensions = s.d
            if blocked {
                let region = base + laneScratch
                scratch.blockEnergies = region
                scratch.blockCoefficients = region + blockBuffer
                scratch.block = region + 2 * blockBuffer
                scratch.shared = shared
            }
            let rows = partitions.range(p), acc = accumulators + p * stride
            // This partition's streams, through the lines waiting at the end of its row scratch.
            let pending = base + rowScratch - 2 * pendingSize
            let respStream = streaming ? targets.resp.map { LineStream(out: $0, k: s.k, pending: pending) } : nil
            let gradEnergiesStream = streaming
                ? targets.gradEnergies.map { LineStream(out: $0, k: s.k, pending: pending + pendingSize) } : nil
            var partTargets = targets
            partTargets.respStream = respStream
            partTargets.gradEnergiesStream = gradEnergiesStream
            if !passRowsVectorized(s, partTargets, layout, rows, scratch, acc) {
                passRows(model, s, partTargets, layout, rows, scratch, acc)
            }
            if streaming {
                // Through the locals: in the debug build, `partTargets.gradEnergiesStream?.finish`
                // ran on a nil stream (where `== nil` held) and crashed.
                if let last = rows.last {
                    respStream?.finish(afterRow: last)
                    gradEnergiesStream?.finish(afterRow: last)
                }
                finishStreaming()
            }
            if let gx = targets.gradX, s.d > 0 {
                zeroUndefinedSums(gx + rows.lowerBound * s.d, rows.count * s.d)
            }
        }
        // Reduce in partition order.
        for p in 1 ..< max(parts, 1) {
            let from = accumulators + p * stride
            for j in 0 ..< layout.size { accumulators[j] += from[j] }
        }
        zeroUndefinedSums(accumulators, layout.size)
        result.pointee = accumulators
    }
}

/// The inputs are finite, so a NaN left in a sum (over rows, components or dimensions) can only
/// be +∞ + (−∞): terms that overflowed with both signs. Such a sum has no floating-point value;
/// the documented answer is 0 (include/implicitem.h, gradients).
@inline(__always)
func zeroUndefinedSums<T: IEFloat>(_ sums: UnsafeMutablePointer<T>, _ count: Int) {
    for j in 0 ..< count where sums[j].isNaN { sums[j] = 0 }
}

/// The most bytes of gx zeroed at once: they stay in the L1 cache until the backward adds to
/// them, and glibc's memset fills them with vector stores (from 2 KiB it may take `rep stosb`).
let gradXZeroingBytes = 1024

/// What the row pass did with a row.
enum RowOutcome { case forwardOnly, irregular, regular }

/// One partition's rows, row at a time or in blocks of `model.blockRows`.
@inline(__always)
func passRows<M: EnergyModel>(_ model: M, _ s: Setup<M.T>, _ t: PassTargets<M.T>, _ layout: AccumulatorLayout,
                              _ rows: Range<Int>, _ scratch: RowScratch<M.T>, _ acc: UnsafeMutablePointer<M.T>) {
    typealias T = M.T
    let k = s.k, d = s.d, tau = s.tau
    let grads = ParameterGradients<T>(
        mu: t.needMu ? acc + layout.mu : nil, scale: t.needScale ? acc + layout.scale : nil,
        shape: t.needShape ? acc + layout.shape : nil, chol: t.needChol ? acc + layout.chol : nil)
    let deltaSums: UnsafeMutablePointer<T>? = t.needDeltaSums ? acc + layout.deltaSums : nil
    let needsLogits = t.needsLogits
    // The learned model's backward reads no coefficients; the other models' do.
    let keepCoefficients = M.self != LearnedModel<T>.self
    // The responsibilities stay in `r` for what reads them after the softmax, or to be copied.
    let keepResponsibilities = t.respStream != nil || t.needSumR || t.needSumRX || t.needSumRXX || t.needTau
        || (t.backward && t.gR != nil)
    let energy = scratch.energies, r = scratch.logits, coef = scratch.coefficient
    // Σ δ·E/τ accumulates in place (from 0, the same additions in the same order as a local
    // would): a local changed by `middle` would be boxed on the heap.
    let tauSum: UnsafeMutablePointer<T>? = t.needTau ? acc + layout.tau : nil

    /// Everything of row n after its energies (in `energy`): logits, logZ, R, statistics, and
    /// δ with its per-row outputs, leaving −δ/τ in `coef`.
    @inline(__always) func middle(_ n: Int, _ energy: UnsafePointer<T>,
                                  _ coef: UnsafeMutablePointer<T>, _ run: LogZRun<T>) -> RowOutcome {
        if let out = t.energies { (out + n &* k).update(from: energy, count: k) }
        if !needsLogits { return .forwardOnly }

        let top = RowSoftmax.logits(energy, LogitTerms(tau: tau, logw: s.logw,
                                                       logprior: s.logprior.map { $0 + n &* k }, c: s.c),
                                    into: r, k)
        let plainDeltas = t.backward && t.gR == nil
        var logZ: T
        var regular = true
        if top.isFinite {
            // Σ_k e^(a_k − max) = 1 + rest; log1p(rest) keeps logZ exact when one term dominates.
            let rest = RowSoftmax.exponentials(r, k, minus: top)
            logZ = top
            if t.logZ != nil { run.rests[n &- run.first] = rest }
            // Without gR, δ and its outputs come in the same pass; streamed outputs are copied
            // from the row scratch after it.
            let streamEnergies = plainDeltas ? t.gradEnergiesStream : nil
            let deltas = plainDeltas ? RowSoftmax.Deltas(
                gL: t.gL.map { $0[n] } ?? 1, tau: tau,
                coefficient: keepCoefficients || streamEnergies != nil ? coef : nil, sums: deltaSums,
                gradLogprior: t.gradLogprior.map { $0 + n &* k },
                gradEnergies: streamEnergies != nil ? nil : t.gradEnergies.map { $0 + n &* k })
                : nil
            RowSoftmax.normalise(r, k, times: 1 / (1 + rest), keep: keepResponsibilities,
                                 resp: t.respStream != nil ? nil : t.resp.map { $0 + n &* k }, deltas)
            t.respStream?.write(row: n, from: r)
            streamEnergies?.write(row: n, from: coef)
        } else {
            // limitRow works on the row's energies in the row scratch.
            if energy != UnsafePointer(scratch.energies) { for j in 0 ..< k { scratch.energies[j] = energy[j] } }
            logZ = limitRow(model, s, n, top, scratch)
            if t.logZ != nil { run.rests[n &- run.first] = 0 }
            regular = false
            if let stream = t.respStream {
                stream.write(row: n, from: r)
            } else if let out = t.resp {
                (out + n &* k).update(from: r, count: k)
            }
        }
        if t.logZ != nil { run.tops[n &- run.first] = logZ }

        if t.needSumR || t.needSumRX || t.needSumRXX {
            let w = t.weights.map { $0[n] } ?? 1
            let xr = s.x.map { $0 + n * d }
            for j in 0 ..< k {
                let wr = w * r[j]
                if wr == 0 { continue }
                if t.needSumR { acc[layout.sumR + j] += wr }
                if let xr, t.needSumRX {
                    let sx = acc + layout.sumRX + j * d
                    for i in 0 ..< d { sx[i] += wr * xr[i] }
                }
                if let xr, t.needSumRXX {
                    let sxx = acc + layout.sumRXX + j * d * d
                    for i in 0 ..< d {
                        let wx = wr * xr[i], row = sxx + i * d
                        // wx may overflow; a zero x_m still contributes exactly 0.
                        for m in 0 ..< d { row[m] += xr[m] == 0 ? 0 : wx * xr[m] }
                    }
                }
            }
        }

        if !t.backward { return .forwardOnly }
        // gx of this row is already zero (`zeroGradX`).
        if !regular {
            // Fully masked or overflowed rows contribute nothing.
            if let g = t.gradLogprior { for j in 0 ..< k { g[n * k + j] = 0 } }
            if let stream = plainDeltas ? t.gradEnergiesStream : nil {
                for j in 0 ..< k { coef[j] = 0 }
                stream.write(row: n, from: coef)
            } else if let g = t.gradEnergies {
                for j in 0 ..< k { g[n * k + j] = 0 }
            }
            return .irregular
        }
        // δ_nk = r_nk·(gL_n + gR_nk − Σ_j r_nj·gR_nj).
        if plainDeltas {
            // No gR: δ = r·gL, already written with the responsibilities.
            if let tauSum {
                let gLn = t.gL.map { $0[n] } ?? 1
                var sum = tauSum[0]
                for j in 0 ..< k {
                    let d = r[j] * gLn
                    if d != 0 { sum += d * (energy[j] / tau) }
                }
                tauSum[0] = sum
            }
            return .regular
        }
        let gLn = t.gL.map { $0[n] } ?? 1
        let gRow = t.gR.map { $0 + n * k }
        var dot: T = 0
        if let gRow { for j in 0 ..< k { dot += r[j] * gRow[j] } }
        for j in 0 ..< k {
            let rj = r[j]
            var delta: T = 0
            if rj != 0 { delta = rj * ((gLn + (gRow.map { $0[j] } ?? 0)) - dot) }
            coef[j] = delta == 0 ? 0 : -(delta / tau)
            if let deltaSums { deltaSums[j] += delta }
            if let tauSum, delta != 0 { tauSum[0] += delta * (energy[j] / tau) }
            if let g = t.gradLogprior { g[n * k + j] = delta }
            if let g = t.gradEnergies { g[n * k + j] = coef[j] }
        }
        return .regular
    }

    // gx is zeroed before the backward adds to it, a run of rows at a time: a memset per row
    // cost more than the row's D stores. Runs of at most `gradXZeroingBytes`.
    let zeroingRows = max(1, gradXZeroingBytes / max(1, d &* MemoryLayout<T>.stride))
    @inline(__always) func zeroGradX(_ range: Range<Int>) {
        guard t.backward, let gx = t.gradX, d > 0 else { return }
        var first = range.lowerBound
        while first < range.upperBound {
            let last = min(first &+ zeroingRows, range.upperBound)
            (gx + first &* d).initialize(repeating: 0, count: (last &- first) &* d)
            first = last
        }
    }

    // Runs of rows end together: gx is zeroed a run at a time, and logZ is finished a run at a time.
    let block = model.blockRows
    let runRows = block <= 1 ? min(zeroingRows, logZRunRows) : block
    let logZTops = scratch.logZRun, logZRests = scratch.logZRun + logZRunCapacity(blockRows: block)
    @inline(__always) func run(from first: Int) -> LogZRun<T> {
        LogZRun(tops: logZTops, rests: logZRests, first: first)
    }
    @inline(__always) func finish(_ run: LogZRun<T>, to last: Int) {
        if let out = t.logZ {
            RowSoftmax.logPartitions(tops: run.tops, rests: run.rests, last &- run.first, into: out + run.first)
        }
    }
    if block <= 1 {
        var first = rows.lowerBound
        while first < rows.upperBound {
            let last = min(first &+ runRows, rows.upperBound)
            zeroGradX(first ..< last)
            let logZ = run(from: first)
            for n in first ..< last {
                var rowEnergies = UnsafePointer(energy)
                if let given = model.givenEnergies(row: n) {
                    rowEnergies = given
                } else {
                    model.energies(row: n, scratch: scratch, into: energy)
                }
                if middle(n, rowEnergies, coef, logZ) == .regular {
                    model.backward(row: n, coefficient: coef, scratch: scratch, gx: t.gradX.map { $0 + n * d },
                                   grads: grads)
                }
            }
            finish(logZ, to: last)
            first = last
        }
    } else if let blockEnergies = scratch.blockEnergies, let blockCoefficients = scratch.blockCoefficients {
        if t.backward { model.startBlocks(scratch: scratch) }
        var first = rows.lowerBound
        while first < rows.upperBound {
            let last = min(first + block, rows.upperBound)
            zeroGradX(first ..< last)
            model.energies(rows: first ..< last, scratch: scratch, into: blockEnergies)
            let logZ = run(from: first)
            var blockedRows = 0
            for n in first ..< last {
                let e = blockEnergies + (n - first) * k, c = blockCoefficients + (n - first) * k
                let outcome = middle(n, e, c, logZ)
                if !t.backward { continue }
                if outcome == .regular {
                    // Rows with an infinite energy or coefficient take the per-row backward, which
                    // skips zero coefficients, so that 0·∞ never appears in the block products.
                    if allFinite(e, k) && allFinite(c, k) {
                        blockedRows += 1
                        continue
                    }
                    model.backward(row: n, coefficient: c, scratch: scratch, gx: t.gradX.map { $0 + n * d },
                                   grads: grads)
                }
                for j in 0 ..< k { c[j] = 0 }
            }
            finish(logZ, to: last)
            if blockedRows > 0 {
                model.backward(rows: first ..< last, coefficients: blockCoefficients, scratch: scratch,
                               gx: t.gradX.map { $0 + first * d }, grads: grads)
            }
            first = last
        }
        if t.backward { model.finishBlocks(scratch: scratch, grads: grads) }
    }
}

/// Rows per run of the row-at-a-time pass, at most: the logZ of a run's rows wait for the run's end.
let logZRunRows = 64

/// The longest run of rows: a blocked pass's runs are its blocks.
func logZRunCapacity(blockRows: Int) -> Int { max(blockRows, logZRunRows) }

/// A run of rows' logZ = top + log1p(rest), waiting to be finished together (`logPartitions`):
/// one libm log1p per row cost about a tenth of a row of the learned kernel.
struct LogZRun<T: IEFloat> {
    let tops: UnsafeMutablePointer<T>, rests: UnsafeMutablePointer<T>
    /// The run's first row.
    let first: Int
}

/// A row whose logits have no finite maximum: fills the responsibilities into
/// `scratch.logits` and returns logZ.
/// - Every component masked (logw_k + logprior_nk = −∞ for all k): logZ = −∞, R = 0.
/// - Otherwise the −∞ came from energies (or d/τ) overflowing: in the limit the
///   responsibility goes to the smallest energy, compared in log space (for the exponential
///   kernel log d = logsumexp_i |u_i|, for the quadratic kernels 2·log m + log(d/m²), finite even
///   where d is not). R is one-hot on the smallest log-energy among the unmasked components
///   (ties, including log-energies equal after rounding, split equally), logZ = −∞, and the row
///   contributes zero gradients.
/// - A +∞ maximum (logw + logprior overflowing) splits R over the +∞ logits, logZ = +∞.
func limitRow<M: EnergyModel>(_ model: M, _ s: Setup<M.T>, _ n: Int, _ top: M.T,
                              _ scratch: RowScratch<M.T>) -> M.T {
    typealias T = M.T
    let k = s.k, r = scratch.logits
    if top == T.infinity {
        var ties: T = 0
        for j in 0 ..< k { ties += r[j] == T.infinity ? 1 : 0 }
        for j in 0 ..< k { r[j] = r[j] == T.infinity ? 1 / ties : 0 }
        return T.infinity
    }
    // Every logit overflowed to −∞ although some components are unmasked with finite energies
    // (logw + logprior − d/τ below the range): compare the logits at half scale, where the terms
    // cannot overflow together. logZ, below the range, stays −∞.
    var halfTop = -T.infinity
    for j in 0 ..< k {
        let w = s.logw.map { $0[j] } ?? 0, p = s.logprior.map { $0[n * k + j] } ?? 0
        var half = w / 2 + p / 2 - (scratch.energies[j] / s.tau) / 2
        if let c = s.c { half -= c[j] / 2 }
        if w == -T.infinity || p == -T.infinity || half.isNaN { half = -T.infinity }
        r[j] = half
        if half > halfTop { halfTop = half }
    }
    if halfTop > -T.infinity {
        var total: T = 0
        for j in 0 ..< k {
            r[j] = T.exp(2 * (r[j] - halfTop))
            total += r[j]
        }
        for j in 0 ..< k { r[j] /= total }
        return -T.infinity
    }
    // Otherwise the energies overflowed: unmasked components are compared by log-energy.
    var best = T.infinity
    var ties: T = 0
    for j in 0 ..< k {
        // Masked by an input −∞, not by logw + logprior overflowing together.
        let maskedByWeight = s.logw.map { $0[j] == -T.infinity } ?? false
        let maskedByPrior = s.logprior.map { $0[n * k + j] == -T.infinity } ?? false
        if maskedByWeight || maskedByPrior {
            r[j] = -T.infinity  // masked
            continue
        }
        var logEnergy = model.logEnergy(row: n, component: j, scratch: scratch)
        if logEnergy.isNaN { logEnergy = T.infinity }  // an infinite residual: as far as can be
        r[j] = logEnergy
        if logEnergy < best {
            best = logEnergy
            ties = 1
        } else if logEnergy == best {
            ties += 1
        }
    }
    if ties == 0 {
        for j in 0 ..< k { r[j] = 0 }
    } else {
        for j in 0 ..< k { r[j] = r[j] == best ? 1 / ties : 0 }
    }
    return -T.infinity
}
