#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Starting parameters: seeded centres (k-means++ or random rows), then scales, Cholesky
// factors and weights from the hard assignment of every row to its nearest centre.

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator, so that a fit depends
/// on its seed and nothing else (not the thread count, not the platform's generator).
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform on [0, 1), 53 random bits.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}

extension FitModel {
    /// The rows the centres are seeded on: x, or for cosine the unit directions x̂.
    func seedingPoints() -> [Double] {
        var points = Array(x)
        if kernel == .cosine {
            for row in 0..<n {
                var v = Array(points[(row * d)..<((row + 1) * d)])
                if normalizeDirection(&v) { for i in 0..<d { points[row * d + i] = v[i] } }
            }
        }
        return points
    }

    /// An index drawn with probability proportional to `mass` (which has a positive sum).
    private func draw(_ mass: [Double], _ sum: Double, _ rng: inout SplitMix64) -> Int {
        let target = rng.uniform() * sum
        var running = 0.0
        var last = 0
        for (index, value) in mass.enumerated() where value > 0 {
            running += value
            last = index
            if running > target { return index }
        }
        return last
    }

    /// k-means++ (Arthur and Vassilvitskii, 2007), weighted by the sample weights.
    func kmeansPlusPlus(_ points: [Double], _ rng: inout SplitMix64) -> [Double] {
        var centres = [Double](repeating: 0, count: k * d)
        var mass = (0..<n).map { weight($0) }
        var nearest = [Double](repeating: .infinity, count: n)
        var chosen = draw(mass, totalWeight, &rng)
        for c in 0..<k {
            for i in 0..<d { centres[c * d + i] = points[chosen * d + i] }
            if c == k - 1 { break }
            var sum = 0.0
            for row in 0..<n {
                var distance = 0.0
                for i in 0..<d {
                    let e = points[row * d + i] - points[chosen * d + i]
                    distance += e * e
                }
                nearest[row] = min(nearest[row], distance)
                mass[row] = weight(row) * nearest[row]
                sum += mass[row]
            }
            // Every remaining row coincides with a centre: fall back to the sample weights.
            if !(sum > 0 && sum.isFinite) {
                mass = (0..<n).map { weight($0) }
                sum = totalWeight
            }
            chosen = draw(mass, sum, &rng)
        }
        return centres
    }

    /// K distinct rows of positive weight, uniformly (a partial Fisher–Yates shuffle).
    func randomRows(_ points: [Double], _ rng: inout SplitMix64) throws -> [Double] {
        var eligible = (0..<n).filter { weight($0) > 0 }
        guard eligible.count >= k else {
            throw ImplicitEMError(.badSize, "x: \(eligible.count) rows of positive sample_weight, fewer than k = \(k) components")
        }
        var centres = [Double](repeating: 0, count: k * d)
        for c in 0..<k {
            let pick = c + Int(rng.next() % UInt64(eligible.count - c))
            eligible.swapAt(c, pick)
            for i in 0..<d { centres[c * d + i] = points[eligible[c] * d + i] }
        }
        return centres
    }

    /// The weighted per-dimension variance of the data (1 for a constant dimension).
    func dataVariance() -> [Double] {
        var mean = [Double](repeating: 0, count: d), variance = [Double](repeating: 0, count: d)
        for row in 0..<n { for i in 0..<d { mean[i] += weight(row) * x[row * d + i] } }
        for i in 0..<d { mean[i] /= totalWeight }
        for row in 0..<n {
            for i in 0..<d {
                let e = x[row * d + i] - mean[i]
                variance[i] += weight(row) * e * e
            }
        }
        return variance.map { $0 / totalWeight > 0 ? $0 / totalWeight : 1 }
    }

    /// Fills whatever `start` lacks (scales, Cholesky factors, log-weights) from the hard
    /// assignment of each row to its nearest centre: a component's covariance, or the data's
    /// where fewer than D + 1 rows' worth of weight fall to it.
    func completeStart(_ start: MixtureParameters) -> MixtureParameters {
        var p = start
        if p.logw.count != k { p.logw = [Double](repeating: -log(Double(k)), count: k) }
        let needScale = hasScale && p.scale.count != scaleCount
        let needChol = hasChol && p.chol.count != k * d * d
        if !hasScale { p.scale = [] }
        if !hasChol { p.chol = [] }
        guard needScale || needChol else { return p }
        let points = seedingPoints()
        var owner = [Int](repeating: 0, count: n)
        for row in 0..<n {
            var best = Double.infinity
            for c in 0..<k {
                var distance = 0.0
                for i in 0..<d {
                    let e = points[row * d + i] - p.mu[c * d + i]
                    distance += e * e
                }
                if distance < best { best = distance; owner[row] = c }
            }
        }
        var count = [Double](repeating: 0, count: k)
        var scatter = [Double](repeating: 0, count: k * d * d)   // about the centres
        for row in 0..<n {
            let c = owner[row], w = weight(row)
            count[c] += w
            for i in 0..<d {
                let ei = x[row * d + i] - p.mu[c * d + i]
                for j in 0..<d { scatter[c * d * d + i * d + j] += w * ei * (x[row * d + j] - p.mu[c * d + j]) }
            }
        }
        let global = dataVariance()
        let floorVariance = minScale * minScale
        func covariance(_ c: Int) -> [Double] {
            var cov = [Double](repeating: 0, count: d * d)
            if count[c] > Double(d) {
                for i in 0..<(d * d) { cov[i] = scatter[c * d * d + i] / count[c] }
            } else {
                for i in 0..<d { cov[i * d + i] = global[i] }
            }
            for i in 0..<d { cov[i * d + i] = max(cov[i * d + i], floorVariance) }
            return cov
        }
        if needScale {
            // The gaussian's variance is τ s²; the same start serves the other kernels.
            var sum = [Double](repeating: 0, count: scaleCount), terms = sum
            for c in 0..<k {
                let cov = covariance(c)
                for i in 0..<d {
                    sum[scaleIndex(c, i)] += cov[i * d + i]
                    terms[scaleIndex(c, i)] += 1
                }
            }
            p.scale = (0..<scaleCount).map { max((sum[$0] / terms[$0] / tau).squareRoot(), minScale) }
        }
        if needChol {
            p.chol = []
            for c in 0..<k {
                p.chol += SmallMatrix.precisionCholesky(covariance: covariance(c), d, tau: tau, floor: minScale).factor
            }
        }
        return p
    }
}
