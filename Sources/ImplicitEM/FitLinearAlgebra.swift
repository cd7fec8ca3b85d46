// Small dense D×D algebra for the mahalanobis fit, row-major, one component at a time.

enum SmallMatrix {
    /// The lower Cholesky factor of the symmetric matrix `a` (lower triangle read), with every
    /// pivot (a conditional standard deviation when `a` is a covariance) raised to at least
    /// `floor`. Returns the factor and whether any pivot was raised.
    static func cholesky(_ a: [Double], _ d: Int, floor: Double) -> (factor: [Double], floored: Bool) {
        var l = [Double](repeating: 0, count: d * d)
        var floored = false
        for j in 0..<d {
            var pivot = a[j * d + j]
            for m in 0..<j { pivot -= l[j * d + m] * l[j * d + m] }
            var root = pivot > 0 ? pivot.squareRoot() : 0
            if !(root >= floor) {
                root = floor
                floored = true
            }
            l[j * d + j] = root
            for i in (j + 1)..<max(d, j + 1) {
                var sum = a[i * d + j]
                for m in 0..<j { sum -= l[i * d + m] * l[j * d + m] }
                l[i * d + j] = sum / root
            }
        }
        return (l, floored)
    }

    /// The inverse of a lower-triangular matrix with a non-zero diagonal (lower-triangular).
    static func lowerInverse(_ l: [Double], _ d: Int) -> [Double] {
        var inv = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            inv[j * d + j] = 1 / l[j * d + j]
            for i in (j + 1)..<max(d, j + 1) {
                var sum = 0.0
                for m in j..<i { sum -= l[i * d + m] * inv[m * d + j] }
                inv[i * d + j] = sum / l[i * d + i]
            }
        }
        return inv
    }

    /// v with L Lᵀ v = g (L lower-triangular): a forward then a backward substitution.
    static func solveCholesky(_ l: [Double], _ d: Int, _ g: [Double]) -> [Double] {
        var y = g
        for i in 0..<d {
            var sum = y[i]
            for m in 0..<i { sum -= l[i * d + m] * y[m] }
            y[i] = sum / l[i * d + i]
        }
        for i in stride(from: d - 1, through: 0, by: -1) {
            var sum = y[i]
            for m in (i + 1)..<max(d, i + 1) { sum -= l[m * d + i] * y[m] }
            y[i] = sum / l[i * d + i]
        }
        return y
    }

    /// The symmetric S whose product with the lower-triangular L has the given lower triangle
    /// M = lower(S L). Column j of M involves S's entries in columns ≥ j only, so the columns are
    /// solved from the last to the first, and within a column the off-diagonal rows first.
    static func symmetricFromLowerProduct(_ m: [Double], _ l: [Double], _ d: Int) -> [Double] {
        var s = [Double](repeating: 0, count: d * d)
        @inline(__always) func entry(_ i: Int, _ j: Int) -> Double { i >= j ? s[i * d + j] : s[j * d + i] }
        for j in stride(from: d - 1, through: 0, by: -1) {
            let rows = Array(stride(from: d - 1, through: j + 1, by: -1)) + [j]
            for i in rows {
                var sum = m[i * d + j]
                for k in (j + 1)..<max(d, j + 1) { sum -= entry(i, k) * l[k * d + j] }
                s[i * d + j] = sum / l[j * d + j]
            }
        }
        for i in 0..<d { for j in (i + 1)..<max(d, i + 1) { s[i * d + j] = s[j * d + i] } }
        return s
    }

    /// The lower Cholesky factor of the precision (τ/2)·Σ⁻¹ of a mahalanobis component whose
    /// covariance is Σ (d = eᵀ P e has no ½, so exp(−d/τ) is the normal with covariance Σ when
    /// P = (τ/2)Σ⁻¹). Σ's conditional standard deviations are floored at `floor` first.
    static func precisionCholesky(covariance: [Double], _ d: Int, tau: Double,
                                  floor: Double) -> (factor: [Double], floored: Bool) {
        let (c, floored) = cholesky(covariance, d, floor: floor)
        let ci = lowerInverse(c, d)
        // P = (τ/2) C⁻ᵀ C⁻¹.
        var p = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var sum = 0.0
                for m in i..<d { sum += ci[m * d + i] * ci[m * d + j] }
                p[i * d + j] = tau / 2 * sum
                p[j * d + i] = p[i * d + j]
            }
        }
        // P is positive definite by construction; the tiny floor only guards rounding.
        let (l, _) = cholesky(p, d, floor: Double.leastNormalMagnitude.squareRoot())
        return (l, floored)
    }
}
