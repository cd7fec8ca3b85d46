#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Special functions behind the exact normalisers (Normalizers.swift), all in Double.
// Each is accurate to a few ulps in relative terms over its whole domain, never NaN for a
// valid argument, and over/underflows only where the true value is outside Double's range.

/// Euler–Mascheroni constant γ.
let eulerGamma = 0.57721566490153286060651209008240243

/// Cephes' Clenshaw evaluation of a Chebyshev series, Σ' c_i T_i(x/2), coefficients highest order first.
@inline(__always)
private func chebyshevSeries(_ x: Double, _ coefficients: [Double]) -> Double {
    var b0 = coefficients[0]
    var b1 = 0.0
    var b2 = 0.0
    for c in coefficients.dropFirst() {
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + c
    }
    return 0.5 * (b0 - b2)
}

// MARK: - Gamma-function differences (student_t)

/// Stirling's remainder lgamma(x) − [(x − ½)log x − x + ½log 2π] = Σ B₂ₖ/(2k(2k−1)x^(2k−1)), x ≥ 20,
/// and its derivative. Seven terms leave an error below 1e-19 there.
private func stirlingRemainder(_ x: Double) -> (value: Double, derivative: Double) {
    // B₂ₖ/(2k(2k−1)), k = 1...7
    let c: [Double] = [1.0 / 12, -1.0 / 360, 1.0 / 1260, -1.0 / 1680, 1.0 / 1188, -691.0 / 360360, 1.0 / 156]
    let r = 1 / x
    let r2 = r * r
    var value = 0.0
    var derivative = 0.0
    var power = r  // r^(2k−1)
    for (i, ck) in c.enumerated() {
        value += ck * power
        derivative -= Double(2 * i + 1) * ck * power * r
        power *= r2
    }
    return (value, derivative)
}

/// Below this the gamma differences are shifted up by the recurrence Γ(a + 1) = aΓ(a).
private let gammaAsymptoticThreshold = 20.0

/// log Γ(a) − log Γ(a + ½) for a > 0, without the cancellation of subtracting two lgamma values.
///
/// Method: for a ≥ 20, Stirling's series for both terms, combined analytically:
/// `−½log a − a·log1p(1/(2a)) + ½ + S(a) − S(a + ½)` (S: Stirling's remainder);
/// below, the recurrence `f(a) = f(a + 1) + log((a + ½)/a)` (all terms positive).
/// Returns −∞ only for a = +∞ (not reached by the normalisers).
func logGammaHalfRatio(_ a: Double) -> Double {
    var x = a
    var shift = 0.0
    while x < gammaAsymptoticThreshold {
        shift += x < 0.5 ? log(x + 0.5) - log(x) : log1p(0.5 / x)
        x += 1
    }
    let h = 0.5 / x
    let sa = stirlingRemainder(x).value
    let sb = stirlingRemainder(x + 0.5).value
    // −x·log1p(h) + ½ = ½(1 − log1p(h)/h): exact near h = 0.
    let core = -0.5 * log(x) + 0.5 * (1 - log1p(h) / h) + (sa - sb)
    return core + shift
}

/// ψ(a) − ψ(a + ½) = d/da [log Γ(a) − log Γ(a + ½)] for a > 0 (ψ: digamma), always negative.
///
/// Method: the derivative of `logGammaHalfRatio`'s asymptotic form for a ≥ 20,
/// `−h − log1p(h) + h/(1 + h) + S′(a) − S′(a + ½)` with h = 1/(2a), and below the recurrence
/// `g(a) = g(a + 1) − 1/(2a(a + ½))` (all terms negative, so nothing cancels).
func digammaHalfDifference(_ a: Double) -> Double {
    var x = a
    var shift = 0.0
    while x < gammaAsymptoticThreshold {
        shift -= 0.5 / (x * (x + 0.5))
        x += 1
    }
    let h = 0.5 / x
    let core = -h - log1p(h) + h / (1 + h) + (stirlingRemainder(x).derivative - stirlingRemainder(x + 0.5).derivative)
    return core + shift
}

/// Digamma ψ(x) = Γ′(x)/Γ(x) for x > 0.
///
/// Method: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 20, then
/// ψ(x) = log x − 1/(2x) + S′(x) (S: Stirling's remainder).
func digamma(_ x: Double) -> Double {
    var y = x
    var shift = 0.0
    while y < gammaAsymptoticThreshold {
        shift -= 1 / y
        y += 1
    }
    return log(y) - 0.5 / y + stirlingRemainder(y).derivative + shift
}

// MARK: - Exponential integral (exponential kernel)

/// The scaled exponential integral e^x·E₁(x), x > 0, where E₁(x) = ∫₁^∞ e^(−xt)/t dt.
/// So log E₁(x) = −x + log(e^x E₁(x)) never underflows; dE₁/dx = −e^(−x)/x.
///
/// Method: for x ≤ 1 the convergent series E₁(x) = −γ − log x − Σ_{k≥1} (−x)^k/(k·k!);
/// for x > 1 the continued fraction e^x E₁(x) = 1/(x + 1 − 1²/(x + 3 − 2²/(x + 5 − …)))
/// by the modified Lentz method; for x ≥ 1e16 its first terms (1 − 1/x)/x.
func exponentialIntegralE1Scaled(_ x: Double) -> Double {
    if x <= 1 {
        var term = 1.0
        var sum = 0.0
        var k = 1.0
        while true {
            term *= -x / k
            let contribution = term / k
            sum += contribution
            if abs(contribution) <= 1e-17 * abs(sum) { break }
            k += 1
        }
        return exp(x) * (-eulerGamma - log(x) - sum)
    }
    if x >= 1e16 { return (1 - 1 / x) / x }
    let tiny = 1e-300
    var b = x + 1
    var c = 1 / tiny
    var d = 1 / b
    var h = d
    var i = 1.0
    while i < 1000 {
        let an = -i * i
        b += 2
        d = 1 / (an * d + b)
        c = b + an / c
        let step = c * d
        h *= step
        if step == 1 { break }  // the last factor no longer changes h
        i += 1
    }
    return h
}

// MARK: - Modified Bessel functions of the second kind, orders 0 and 1 (pseudo_huber)

// Chebyshev coefficients from the Cephes library (S. L. Moshier, k0.c and k1.c).
/// K₀(x) + log(x/2)·I₀(x) on [0, 2], in the variable x² − 2.
private let besselK0Small: [Double] = [
    1.37446543561352307156E-16, 4.25981614279661018399E-14, 1.03496952576338420167E-11,
    1.90451637722020886025E-9, 2.53479107902614945675E-7, 2.28621210311945178607E-5,
    1.26461541144692592338E-3, 3.59799365153615016266E-2, 3.44289899924628486886E-1,
    -5.35327393233902768720E-1,
]
/// e^x·√x·K₀(x) on [2, ∞), in the variable 8/x − 2.
private let besselK0Large: [Double] = [
    5.30043377268626276149E-18, -1.64758043015242134646E-17, 5.21039150503902756861E-17,
    -1.67823109680541210385E-16, 5.51205597852431940784E-16, -1.84859337734377901440E-15,
    6.34007647740507060557E-15, -2.22751332699166985548E-14, 8.03289077536357521100E-14,
    -2.98009692317273043925E-13, 1.14034058820847496303E-12, -4.51459788337394416547E-12,
    1.85594911495471785253E-11, -7.95748924447710747776E-11, 3.57739728140030116597E-10,
    -1.69753450938905987466E-9, 8.57403401741422608519E-9, -4.66048989768794782956E-8,
    2.76681363944501510342E-7, -1.83175552271911948767E-6, 1.39498137188764993662E-5,
    -1.28495495816278026384E-4, 1.56988388573005337491E-3, -3.14481013119645005427E-2,
    2.44030308206595545468E0,
]
/// x·(K₁(x) − log(x/2)·I₁(x)) on [0, 2], in the variable x² − 2.
private let besselK1Small: [Double] = [
    -7.02386347938628759343E-18, -2.42744985051936593393E-15, -6.66690169419932900609E-13,
    -1.41148839263352776110E-10, -2.21338763073472585583E-8, -2.43340614156596823496E-6,
    -1.73028895751305206302E-4, -6.97572385963986435018E-3, -1.22611180822657148235E-1,
    -3.53155960776544875667E-1, 1.52530022733894777053E0,
]
/// e^x·√x·K₁(x) on [2, ∞), in the variable 8/x − 2.
private let besselK1Large: [Double] = [
    -5.75674448366501715755E-18, 1.79405087314755922667E-17, -5.68946255844285935196E-17,
    1.83809354436663880070E-16, -6.05704724837331885336E-16, 2.03870316562433424052E-15,
    -7.01983709041831346144E-15, 2.47715442448130437068E-14, -8.97670518232499435011E-14,
    3.34841966607842919884E-13, -1.28917396095102890680E-12, 5.13963967348173025100E-12,
    -2.12996783842756842877E-11, 9.21831518760500529508E-11, -4.19035475934189648750E-10,
    2.01504975519703286596E-9, -1.03457624656780970260E-8, 5.74108412545004946722E-8,
    -3.50196060308781257119E-7, 2.40648494783721712015E-6, -1.93619797416608296024E-5,
    1.95215518471351631108E-4, -2.85781685962277938680E-3, 1.03923736576817238437E-1,
    2.72062619048444266945E0,
]

/// e^x·√x·(K₁(x) − K₀(x)) on [2, ∞): the difference of the two series above, summed as one so that
/// 1 − K₀/K₁ keeps its relative accuracy where K₀/K₁ is close to 1.
private let besselK1MinusK0Large: [Double] = zip(besselK1Large, besselK0Large).map { $0 - $1 }

/// I₀(x) and I₁(x) for 0 ≤ x ≤ 2 by their power series (positive terms).
private func besselI01Small(_ x: Double) -> (i0: Double, i1: Double) {
    let y = 0.25 * x * x
    var t0 = 1.0, s0 = 1.0
    var t1 = 1.0, s1 = 1.0
    var k = 1.0
    while t0 > 1e-18 * s0 {
        t0 *= y / (k * k)
        t1 *= y / (k * (k + 1))
        s0 += t0
        s1 += t1
        k += 1
    }
    return (s0, 0.5 * x * s1)
}

/// K₀(x) and x·K₁(x) for 0 < x ≤ 2 (unscaled; x·K₁ stays finite as x → 0).
/// Method: Cephes' Chebyshev expansions plus the logarithmic terms.
func besselK0AndXK1Small(_ x: Double) -> (k0: Double, xk1: Double) {
    let i = besselI01Small(x)
    let logHalfX = log(0.5 * x)
    let y = x * x - 2
    let k0 = chebyshevSeries(y, besselK0Small) - logHalfX * i.i0
    let xk1 = x * logHalfX * i.i1 + chebyshevSeries(y, besselK1Small)
    return (k0, xk1)
}

/// The scaled modified Bessel function of the second kind e^x·K₀(x), x > 0 (scipy's kve(0, x)).
/// Method: Cephes' Chebyshev expansions (relative error ≲ 1.4e-15); +∞ at x = 0.
func besselK0Scaled(_ x: Double) -> Double {
    if x <= 2 { return exp(x) * besselK0AndXK1Small(x).k0 }
    return chebyshevSeries(8 / x - 2, besselK0Large) / x.squareRoot()
}

/// The scaled modified Bessel function of the second kind e^x·K₁(x), x > 0 (scipy's kve(1, x)).
/// Method: Cephes' Chebyshev expansions (relative error ≲ 8e-16); +∞ at x = 0.
func besselK1Scaled(_ x: Double) -> Double {
    if x <= 2 { return exp(x) * besselK0AndXK1Small(x).xk1 / x }
    return chebyshevSeries(8 / x - 2, besselK1Large) / x.squareRoot()
}

/// 1 − K₀(x)/K₁(x) for x > 2, keeping its relative accuracy as K₀/K₁ → 1.
/// Method: for x ≤ 20 the difference of Cephes' expansions summed as one series; above, Hankel's
/// expansions e^x√(2x/π)·K_ν(x) = Σ aₖ(ν)/x^k of both orders, their difference summed termwise.
func besselKRatioComplement(_ x: Double) -> Double {
    if x <= 20 {
        let y = 8 / x - 2
        return chebyshevSeries(y, besselK1MinusK0Large) / chebyshevSeries(y, besselK1Large)
    }
    let inverseX = 1 / x
    var term0 = 1.0, term1 = 1.0
    var sum1 = 1.0, difference = 0.0
    var k = 1.0
    while k < 60 {
        let odd2 = (2 * k - 1) * (2 * k - 1)
        let next0 = term0 * -odd2 / (8 * k) * inverseX
        let next1 = term1 * (4 - odd2) / (8 * k) * inverseX
        if abs(next1) >= abs(term1) && k > 1 { break }  // the divergent tail has begun
        term0 = next0
        term1 = next1
        sum1 += term1
        difference += term1 - term0
        if abs(term1 - term0) <= 1e-18 * abs(difference) { break }
        k += 1
    }
    return difference / sum1
}

/// Hankel's large-argument expansion of K₁: e^x·K₁(x) = √(π/(2x))·Σ aₖ/x^k, aₖ = ∏ⱼ(4 − (2j−1)²)/(k!·8^k),
/// given `inverseX` = 1/x ≤ 1/20 (so the divergent series has reached terms below 1e-18).
/// Returns the sum Σ and x·dΣ/dx/Σ = −Σₖ k·aₖ/x^k / Σ, which log(e^x K₁) and its derivative need
/// without the cancellation of 1 − K₀/K₁ at large x.
func besselK1ScaledAsymptoticSum(inverseX: Double) -> (sum: Double, logDerivativeTimesX: Double) {
    var term = 1.0
    var sum = 1.0
    var weighted = 0.0
    var k = 1.0
    while k < 60 {
        let next = term * (4 - (2 * k - 1) * (2 * k - 1)) / (8 * k) * inverseX
        if abs(next) >= abs(term) { break }  // the series starts to diverge
        term = next
        sum += term
        weighted += k * term
        if abs(term) <= 1e-18 * abs(sum) { break }
        k += 1
    }
    return (sum, -weighted / sum)
}

// MARK: - Modified Bessel function of the first kind, real order (cosine / von Mises–Fisher)

/// Debye's polynomials uₖ(p) of the uniform asymptotic expansion of I_ν(νz), k = 1...15, as
/// coefficients of p^k, p^(k+2), …, p^(3k), generated in exact rational arithmetic from
/// u_{k+1} = ½p²(1 − p²)uₖ′ + ⅛∫₀ᵖ(1 − 5t²)uₖ(t)dt, u₀ = 1
/// (`python3 scripts/reference/special_values.py --debye`).
private let debyePolynomials: [[Double]] = [
    [0.125, -0.20833333333333334],
    [0.0703125, -0.4010416666666667, 0.3342013888888889],
    [0.0732421875, -0.8912109375, 1.8464626736111112, -1.0258125964506173],
    [0.112152099609375, -2.3640869140625, 8.78912353515625, -11.207002616222994, 4.669584423426247],
    [0.22710800170898438, -7.368794359479632, 42.53499874538846, -91.81824154324002, 84.63621767460073, -28.212072558200244],
    [0.5725014209747314, -26.491430486951554, 218.1905117442116, -699.5796273761325, 1059.9904525279999, -765.2524681411817, 212.57013003921713],
    [1.7277275025844574, -108.09091978839466, 1200.9029132163525, -5305.646978613403, 11655.393336864534, -13586.550006434138, 8061.722181737309, -1919.457662318407],
    [6.074042001273483, -493.915304773088, 7109.514302489364, -41192.65496889755, 122200.46498301746, -203400.17728041555, 192547.00123253153, -96980.59838863752, 20204.29133096615],
    [24.380529699556064, -2499.8304818112097, 45218.76898136273, -331645.1724845636, 1268365.2733216248, -2813563.226586534, 3763271.297656404, -2998015.9185381066, 1311763.6146629772, -242919.18790055133],
    [110.01714026924674, -13886.08975371704, 308186.4046126624, -2785618.1280864547, 13288767.166421818, -37567176.66076335, 66344512.27472903, -74105148.21153265, 50952602.49266464, -19706819.118432228, 3284469.853072038],
    [551.3358961220206, -84005.43360302408, 2243768.1779224495, -24474062.72573873, 142062907.7975331, -495889784.2750303, 1106842816.8230145, -1621080552.1083372, 1553596899.57058, -939462359.6815784, 325573074.18576574, -49329253.66450996],
    [3038.090510922384, -549842.3275722887, 17395107.553978164, -225105661.88941526, 1559279864.8792574, -6563293792.619285, 17954213731.1556, -33026599749.800724, 41280185579.753975, -34632043388.158775, 18688207509.295826, -5866481492.051847, 814789096.1183121],
    [18257.755474293175, -3871833.442572613, 143157876.71888897, -2167164983.223795, 17634730606.83497, -87867072178.02327, 287900649906.1506, -645364869245.3765, 1008158106865.3821, -1098375156081.2233, 819218669548.5773, -399096175224.4665, 114498237732.0258, -14679261247.695616],
    [118838.42625678325, -29188388.122220814, 1247009293.5127103, -21822927757.529224, 205914503232.41, -1196552880196.1816, 4612725780849.132, -12320491305598.287, 23348364044581.84, -31667088584785.16, 30565125519935.32, -20516899410934.438, 9109341185239.898, -2406297900028.504, 286464035717.679],
    [832859.3040162893, -234557963.52225152, 11465754899.448236, -229619372968.24646, 2485000928034.0854, -16634824724892.48, 74373122908679.14, -232604831188939.94, 523054882578444.6, -857461032982895.0, 1026955196082762.5, -889496939881026.5, 542739664987659.75, -221349638702525.2, 54177510755106.05, -6019723417234.006]
]

/// Below order 25, arguments up to this use the power series: its terms are positive, and the
/// ratio I_{ν+1}/I_ν stays below 0.9, so its complement loses at most a digit.
private let seriesMaximumArgument = 5.0

/// Orders at or above this use Debye's expansion directly: with 15 terms its truncation error
/// is below max|u₁₆|/ν¹⁶ ≈ 1e-18 there.
private let debyeMinimumOrder = 25.0

/// Σₖ uₖ(p)/ν^k and its derivative in p.
private func debyeSum(p: Double, order nu: Double) -> (sum: Double, derivative: Double) {
    let p2 = p * p
    var sum = 1.0
    var derivative = 0.0
    var pk = 1.0     // p^k
    var inverseNuK = 1.0  // ν^(−k)
    for (index, coefficients) in debyePolynomials.enumerated() {
        let k = index + 1
        pk *= p
        inverseNuK /= nu
        // uₖ(p) = p^k·Σⱼ cⱼ p^(2j); p·uₖ′(p) = p^k·Σⱼ (k + 2j)cⱼ p^(2j).
        var value = 0.0
        var pDerivative = 0.0
        var power = 1.0
        for (j, c) in coefficients.enumerated() {
            value += c * power
            pDerivative += Double(k + 2 * j) * c * power
            power *= p2
        }
        sum += pk * value * inverseNuK
        derivative += pk * pDerivative * inverseNuK
    }
    return (sum, p > 0 ? derivative / p : 0)
}

/// I_ν at κ = 1/τ in the forms the von Mises–Fisher normaliser needs.
/// Each region computes one of the two logarithms directly and derives the other with ±ν·log τ,
/// so each keeps the accuracy its magnitude allows.
struct BesselIScaled {
    /// log(e^(−κ)·I_ν(κ))
    var logScaled: Double
    /// log I_ν(κ) − κ + ν·log τ = log(e^(−κ)·I_ν(κ)/κ^ν)
    var logScaledPlusPower: Double
    /// I_{ν+1}(κ)/I_ν(κ), accurate where it is small
    var ratio: Double
    /// 1 − I_{ν+1}(κ)/I_ν(κ), accurate where it is small
    var ratioComplement: Double
}

/// log I_ν(κ) − κ + ν·log τ, I_{ν+1}(κ)/I_ν(κ) and its complement to 1 at κ = 1/τ, for real ν ≥ 0 and τ > 0.
/// Taking τ rather than κ keeps both finite for τ → 0 (κ beyond Double's range).
///
/// Method, by region (each accurate to ~1e-15 relative, none cancels badly):
/// - ν ≥ 25: Debye's uniform expansion I_ν(νz) ~ e^(νη)/(√(2πν)(1 + z²)^¼)·Σ uₖ(p)/ν^k,
///   p = (1 + z²)^(−½), η = √(1 + z²) + log(z/(1 + √(1 + z²))), with the log z terms cancelled
///   analytically; 1 − I_{ν+1}/I_ν from its derivative, I_ν′ = I_{ν+1} + (ν/κ)I_ν.
/// - κ ≤ 5: the power series I_ν(κ) = (κ/2)^ν Σ (κ²/4)^k/(k!Γ(ν + k + 1)) (positive terms).
/// - κ ≥ 20 + ν²/2: Hankel's expansion e^(−κ)I_ν(κ) ~ (2πκ)^(−½) Σ (−1)^k aₖ(ν)/κ^k, where its terms
///   never exceed the first and fall below 1e-17.
/// - otherwise: Debye at order μ = ν + n ≥ 25, then down to ν by the backward recurrence
///   r_{m−1} = 1/(2m/κ + r_m) of r_m = I_{m+1}/I_m (stable: I is the minimal solution), carried as
///   q_m = 1 − r_m, and log I_ν = log I_μ − Σ log r_m.
func besselIScaledCore(order nu: Double, tau: Double) -> BesselIScaled {
    if nu >= debyeMinimumOrder { return debyeCore(order: nu, tau: tau) }
    let kappa = 1 / tau
    if kappa <= seriesMaximumArgument { return seriesCore(order: nu, kappa: kappa) }
    if kappa >= 20 + 0.5 * nu * nu { return hankelCore(order: nu, tau: tau) }
    let steps = (debyeMinimumOrder - nu).rounded(.up)
    let top = nu + steps
    let debye = debyeCore(order: top, tau: tau)
    var r = debye.ratio
    var q = debye.ratioComplement
    var logRatioSum = 0.0  // Σ log r_m, m = ν ... μ − 1
    var m = top
    while m > nu + 0.5 {
        let twoMTau = 2 * m * tau
        r = 1 / (twoMTau + r)
        q = (twoMTau - q) / (twoMTau + 1 - q)
        logRatioSum += log(r)
        m -= 1
    }
    return BesselIScaled(logScaled: debye.logScaled - logRatioSum,
                         logScaledPlusPower: debye.logScaledPlusPower - steps * log(tau) - logRatioSum,
                         ratio: r, ratioComplement: q)
}

private func debyeCore(order nu: Double, tau: Double) -> BesselIScaled {
    let w = nu * tau  // = 1/z
    let logTwoPiNu = log(2 * Double.pi * nu)
    if w >= 1 {
        let z = 1 / w
        let s = (1 + z * z).squareRoot()
        let p = 1 / s
        let debye = debyeSum(p: p, order: nu)
        let value = nu / (s + z) - nu * log1p(s) - nu * log(nu) - 0.5 * logTwoPiNu
            - 0.25 * log1p(z * z) + log(debye.sum)
        // R = z/(s + 1) − z/(2ν(1 + z²)) − (Σ′/Σ)·z·p³/ν and 1 − R, each without cancellation.
        let correction = z / (2 * nu * (1 + z * z)) + debye.derivative / debye.sum * z * p * p * p / nu
        return BesselIScaled(logScaled: value - nu * log(tau), logScaledPlusPower: value, ratio: z / (s + 1) - correction,
                             ratioComplement: (1 - z / (s + 1)) + correction)
    }
    let sw = (1 + w * w).squareRoot()
    let p = w / sw
    let debye = debyeSum(p: p, order: nu)
    let logScaled = nu * w / (sw + 1) - nu * asinh(w) - 0.5 * logTwoPiNu
        + 0.5 * log(w) - 0.25 * log1p(w * w) + log(debye.sum)
    let complement = w * (1 - w / (sw + 1)) + w / (2 * nu * (1 + w * w))
        + debye.derivative / debye.sum * w * w / (sw * sw * sw) / nu
    return BesselIScaled(logScaled: logScaled, logScaledPlusPower: logScaled + nu * log(tau),
                         ratio: 1 - complement, ratioComplement: complement)
}

private func seriesCore(order nu: Double, kappa: Double) -> BesselIScaled {
    let y = 0.25 * kappa * kappa
    var t = 1.0, s = 1.0      // order ν
    var t1 = 1.0, s1 = 1.0    // order ν + 1
    var k = 1.0
    while t > 1e-18 * s || t1 > 1e-18 * s1 {
        t *= y / (k * (nu + k))
        t1 *= y / (k * (nu + 1 + k))
        s += t
        s1 += t1
        k += 1
    }
    var sign: Int32 = 0
    let value = -nu * log(2.0) - lgamma_r(nu + 1, &sign) - kappa + log(s)
    let ratio = kappa / (2 * (nu + 1)) * s1 / s
    return BesselIScaled(logScaled: value + nu * log(kappa), logScaledPlusPower: value,
                         ratio: ratio, ratioComplement: 1 - ratio)
}

private func hankelCore(order nu: Double, tau: Double) -> BesselIScaled {
    let fourNu2 = 4 * nu * nu
    var term = 1.0
    var sum = 1.0
    var weighted = 0.0
    var k = 1.0
    while k < 200 {
        let odd = 2 * k - 1
        let next = term * (odd * odd - fourNu2) * tau / (8 * k)
        if next == 0 { break }  // half-integer order: the series terminates
        if abs(next) > abs(term) { break }  // safety net: the divergent tail has begun
        term = next
        sum += term
        weighted += k * term
        if abs(term) <= 1e-18 * abs(sum) { break }
        k += 1
    }
    let logScaled = -0.5 * log(2 * Double.pi) + 0.5 * log(tau) + log(sum)
    let complement = tau * (nu + 0.5 + weighted / sum)
    return BesselIScaled(logScaled: logScaled, logScaledPlusPower: logScaled + nu * log(tau),
                         ratio: 1 - complement, ratioComplement: complement)
}

/// log(e^(−x)·I_ν(x)), real ν ≥ 0, x > 0 (log of scipy's ive(ν, x)), without overflow or underflow.
/// See `besselIScaledCore` for the method.
func logBesselIScaled(order nu: Double, _ x: Double) -> Double {
    besselIScaledCore(order: nu, tau: 1 / x).logScaled
}

/// The Bessel ratio I_{ν+1}(x)/I_ν(x), real ν ≥ 0, x > 0. See `besselIScaledCore`.
func besselIRatio(order nu: Double, _ x: Double) -> Double {
    besselIScaledCore(order: nu, tau: 1 / x).ratio
}
