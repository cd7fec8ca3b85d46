import XCTest
@testable import ImplicitEM

/// KERNELS.md's closed forms evaluated by scripts/reference/special_values.py with mpmath at
/// 50 digits (derivatives by mpmath's numerical differentiation at that precision).
private enum Reference {
    /// [kernel raw value, τ, ν or δ, log Z_ρ, ∂/∂τ, ∂/∂shape]
    static let separable: [[Double]] = [
        [4.0, 1e-06, 1e-06, -13.24314524003945, 500000.37500025, 500000.0],
        [4.0, 1e-06, 1.0, -6.335389961057312, 500000.37500025, 0.5],
        [4.0, 1e-06, 1000000.0, 0.572365317924825, 500000.37500025, 5e-07],
        [4.0, 0.01, 1e-06, -8.634212882019762, 50.377514125235955, 500000.0],
        [4.0, 0.01, 1.0, -1.7264576030376242, 50.377514125235955, 0.5],
        [4.0, 0.01, 1000000.0, 5.181297675944513, 50.377514125235955, 5e-07],
        [4.0, 0.5, 1e-06, -6.456172573692682, 1.5451774444795625, 500000.0],
        [4.0, 0.5, 1.0, 0.4515827052894549, 1.5451774444795625, 0.5],
        [4.0, 0.5, 1000000.0, 7.359337984271592, 1.5451774444795625, 5e-07],
        [4.0, 1.0, 1e-06, -5.763025393132737, 1.3862943611198906, 500000.0],
        [4.0, 1.0, 1.0, 1.1447298858494002, 1.3862943611198906, 0.5],
        [4.0, 1.0, 1000000.0, 8.052485164831538, 1.3862943611198906, 5e-07],
        [4.0, 1.9, 1e-06, -3.23478476814119, 10.164971855969592, 500000.0],
        [4.0, 1.9, 1.0, 3.6729705108409467, 10.164971855969592, 0.5],
        [4.0, 1.9, 1000000.0, 10.580725789823084, 10.164971855969592, 5e-07],
        [4.0, 1.999999, 1e-06, 8.29404948675783, 1000000.1535087854, 500000.0],
        [4.0, 1.999999, 1.0, 15.201804765739967, 1000000.1535087854, 0.5],
        [4.0, 1.999999, 1000000.0, 22.109560044722105, 1000000.1535087854, 5e-07],
        [5.0, 1e-06, 1e-06, 0.6931476805597786, 999999.5000003334, -999999.0000006667],
        [5.0, 1e-06, 0.05, -5.988816745777465, 500000.0, -0.0],
        [5.0, 1e-06, 1.0, -5.988816745777465, 500000.0, .nan],
        [5.0, 1e-06, 30.0, -5.988816745777465, 500000.0, .nan],
        [5.0, 1e-06, 1000000.0, -5.988816745777465, 500000.0, .nan],
        [5.0, 0.01, 1e-06, 9.903487552586128, 99.999999995, -999999.9999],
        [5.0, 0.01, 0.05, -0.8007684613206565, 89.31085678811793, -15.724342715247174],
        [5.0, 0.01, 1.0, -1.383646559789373, 50.0, -1.5389197253412856e-23],
        [5.0, 0.01, 30.0, -1.383646559789373, 50.0, .nan],
        [5.0, 0.01, 1000000.0, -1.383646559789373, 50.0, .nan],
        [5.0, 1.0, 1e-06, 14.50865773852472, 0.9999999999995, -999999.999999],
        [5.0, 1.0, 0.05, 3.6901284134877903, 0.998752080212915, -19.950083208516595],
        [5.0, 1.0, 1.0, 1.073058590713392, 0.7074098294318849, -0.41481965886376976],
        [5.0, 1.0, 30.0, 0.9189385332046728, 0.5, -3.2747691886189943e-199],
        [5.0, 1.0, 1000000.0, 0.9189385332046728, 0.5, .nan],
        [5.0, 1000.0, 1e-06, 21.416413017506358, 0.0009999999999999996, -999999.9999999991],
        [5.0, 1000.0, 0.05, 10.596635983095032, 0.0009999987500020834, -19.99995000008333],
        [5.0, 1000.0, 1.0, 7.601402292942053, 0.0009995003331334507, -0.9990006662669014],
        [5.0, 1000.0, 30.0, 4.549699411069874, 0.0007246657551931636, -0.014977717012877574],
        [5.0, 1000.0, 1000000.0, 4.3728161726957415, 0.0005, .nan],
        [5.0, 1000000.0, 1e-06, 28.324168296488494, 1e-06, -1000000.0],
        [5.0, 1000000.0, 0.05, 17.50439001332821, 9.9999999875e-07, -19.99999995],
        [5.0, 1000000.0, 1.0, 14.508658238524053, 9.999995000003334e-07, -0.9999990000006667],
        [5.0, 1000000.0, 30.0, 11.107910221910645, 9.99550269854277e-07, -0.03330335132361847],
        [5.0, 1000000.0, 1000000.0, 7.82669381218681, 5e-07, .nan],
        [6.0, 1e-06, 1e-06, 0.6931481805527296, 999999.0000139315, -999998.000027863],
        [6.0, 1e-06, 0.05, -5.98866677576697, 500149.9400314784, -0.005997601259136757],
        [6.0, 1e-06, 1.0, -5.988816370777652, 500000.374999625, -7.499992500009843e-07],
        [6.0, 1e-06, 30.0, -5.988816745360798, 500000.0004166667, -2.777777774691358e-11],
        [6.0, 1e-06, 1000000.0, -5.988816745777465, 500000.0, -7.5e-25],
        [6.0, 0.01, 1e-06, 9.903487552636127, 99.99999998999999, -999999.9998],
        [6.0, 0.01, 0.05, -0.7316226411433484, 85.28486833133303, -14.113947332533211],
        [6.0, 0.01, 1.0, -1.379915147799979, 50.37129839305465, -0.007425967861093012],
        [6.0, 0.01, 30.0, -1.3836423931458541, 50.000416662037104, -2.777746914030341e-07],
        [6.0, 0.01, 1000000.0, -1.3836465597893692, 50.00000000000038, -7.499999999999925e-21],
        [6.0, 1.0, 1e-06, 14.50865773852522, 0.999999999999, -999999.9999980001],
        [6.0, 1.0, 0.05, 3.6913588057701023, 0.9975381720829827, -19.901526883319306],
        [6.0, 1.0, 1.0, 1.185495232349193, 0.6994839355937723, -0.3989678711875447],
        [6.0, 1.0, 30.0, 0.9193549686145885, 0.5004162043775752, -2.7746958505009838e-05],
        [6.0, 1.0, 1000000.0, 0.9189385332050477, 0.500000000000375, -7.4999999999925e-19],
        [6.0, 1000.0, 1e-06, 21.416413017506358, 0.000999999999999999, -999999.999999998],
        [6.0, 1000.0, 0.05, 10.596637233053839, 0.0009999975000813447, -19.999900003253785],
        [6.0, 1000.0, 1.0, 7.601898697691092, 0.0009990070237152226, -0.9980140474304454],
        [6.0, 1000.0, 30.0, 4.661014394414972, 0.0007113562438970395, -0.014090416259802632],
        [6.0, 1000.0, 1000000.0, 4.372816173070741, 0.000500000000375, -7.4999999925e-16],
        [6.0, 1000000.0, 1e-06, 28.324168296488494, 1e-06, -1000000.0],
        [6.0, 1000000.0, 0.05, 17.50439001457821, 9.999999975000002e-07, -19.999999900000002],
        [6.0, 1000000.0, 1.0, 14.508658738517004, 9.999990000139315e-07, -0.9999980000278629],
        [6.0, 1000000.0, 30.0, 11.108357267092787, 9.991057745474968e-07, -0.033273718303166444],
        [6.0, 1000000.0, 1000000.0, 7.8266941871866225, 5.00000374999625e-07, -7.499992500009844e-13],
        [7.0, 1e-06, 0.0, -1000013.1223643775, 1000000999999.0001, 0.0],
        [7.0, 0.001, 0.0, -1006.2156066027378, 1000999.0029870705, 0.0],
        [7.0, 0.1, 0.0, -11.697577191377462, 109.21402235720234, 0.0],
        [7.0, 0.9, 0.0, -1.0069601112068964, 2.0024204950255715, 0.0],
        [7.0, 1.0, 0.0, -0.8237847784421003, 1.6768750281787008, 0.0],
        [7.0, 1.1, 0.0, -0.6689766006592671, 1.4300689963790496, 0.0],
        [7.0, 10.0, 0.0, 1.2935889630548316, 0.049636596954955835, 0.0],
        [7.0, 1000.0, 0.0, 2.538690572638776, 0.00015778161397716822, 0.0],
        [7.0, 1000000.0, 0.0, 3.2762610138019, 7.553834784162423e-08, 0.0],
        [7.0, 1e+100, 0.0, 6.129839848691023, 4.353859141839049e-103, 0.0],
    ]

    /// [D, τ, c, dc/dτ]
    static let vonMisesFisher: [[Double]] = [
        [2.0, 1e-06, -5.988816620777402, 500000.12500012503],
        [2.0, 0.001, -2.5348140437211897, 500.1251251957198],
        [2.0, 0.05, -0.5725125053463802, 10.131796844077149],
        [2.0, 0.5, 0.6618706078923018, 1.208901368143968],
        [2.0, 1.0, 1.0737914249165241, 0.5536100341034655],
        [2.0, 10.0, 1.7403755056432217, 0.009500623960120611],
        [2.0, 1000000.0, 1.8378760664095954, 9.999995e-13],
        [3.0, 1e-06, -11.97763349155493, 1000000.0],
        [3.0, 0.001, -5.0698782125727915, 1000.0],
        [3.0, 0.05, -1.1578552071446455, 19.999999999999996],
        [3.0, 0.5, 1.1262444390235136, 1.8507411170898076],
        [3.0, 1.0, 1.6924636085404865, 0.6869647145006686],
        [3.0, 10.0, 2.4326903584328714, 0.009666888677460104],
        [3.0, 1000000.0, 2.5310232469694576, 9.999996666666667e-13],
        [4.0, 1e-06, -17.96645061233258, 1499999.6249996251],
        [4.0, 0.001, -7.605192506523461, 1499.624624506967],
        [4.0, 0.05, -1.7560235182159556, 29.60490056684611],
        [4.0, 0.5, 1.4467414258049054, 2.267490293110753],
        [4.0, 1.0, 2.1051061453278597, 0.7598062761299103],
        [4.0, 10.0, 2.8838566919505317, 0.009750104101605874],
        [4.0, 1000000.0, 2.982605952258871, 9.9999975e-13],
        [5.0, 1e-06, -23.955267983110357, 1999998.999999],
        [5.0, 0.001, -10.140756925479167, 1998.998998998999],
        [5.0, 0.05, -2.3670037086768416, 38.94736842105263],
        [5.0, 0.5, 1.6498030408447886, 2.555573399173167],
        [5.0, 1.0, 2.368901313378636, 0.8054719505346749],
        [5.0, 10.0, 3.1712888818956966, 0.009800057117472515],
        [5.0, 1000000.0, 3.2702880247106267, 9.999998e-13],
        [10.0, 1e-06, -53.89935858700112, 4499992.124992126],
        [10.0, 0.001, -22.822330887653997, 4492.117144295849],
        [10.0, 0.05, -5.612979184551477, 81.79237285383009],
        [10.0, 0.5, 1.4355305931470412, 3.225235063620811],
        [10.0, 1.0, 2.2885364065453557, 0.9008216176002874],
        [10.0, 10.0, 3.1392427586276512, 0.00990000833214305],
        [10.0, 1000000.0, 3.2387417794590507, 9.999999e-13],
        [51.0, 1e-06, -299.4411372890232, 24999699.999700047],
        [51.0, 0.001, -127.04709042213622, 24699.744716126526],
        [51.0, 0.05, -42.829894439880825, 261.4004304998779],
        [51.0, 0.5, -28.46622164911396, 3.843368726466077],
        [51.0, 1.0, -27.49560626509619, 0.9803994057989652],
        [51.0, 10.0, -26.605310334965964, 0.009980392229403268],
        [51.0, 1000000.0, -26.505409374000287, 9.99999980392157e-13],
        [52.0, 1e-06, -305.42996640980687, 25499687.624687675],
        [52.0, 0.001, -129.59440945564657, 25187.361125053052],
        [52.0, 0.05, -43.93487044006677, 263.52692855215855],
        [52.0, 0.5, -29.509046816085483, 3.8463724001512642],
        [52.0, 1.0, -28.537867337078463, 0.9807760746340114],
        [52.0, 10.0, -27.64738485666123, 0.009980769299254406],
        [52.0, 1000000.0, -27.54748201033616, 9.999999807692307e-13],
        [100.0, 1e-06, -592.894058207569, 49498799.623800345],
        [100.0, 0.001, -252.15970661237967, 48299.145292363246],
        [100.0, 0.05, -104.67343898675533, 322.91662793437564],
        [100.0, 0.5, -88.61610639287393, 3.920031348439122],
        [100.0, 1.0, -87.63110271838156, 0.9900009802036646],
        [100.0, 10.0, -86.73605247333944, 0.009990000009803903],
        [100.0, 1000000.0, -86.63610347331493, 9.9999999e-13],
        [1000.0, 1e-06, -5982.952429466353, 499375499.50824964],
        [1000.0, 0.001, -2654.550837731332, 381813.187089895],
        [1000.0, 0.05, -2051.8578001554433, 392.0031910705908],
        [1000.0, 0.5, -2034.0557602604658, 3.9920000319358735],
        [1000.0, 1.0, -2033.0572602567233, 0.999000000998002],
        [1000.0, 10.0, -2032.1577552564738, 0.00999900000000998],
        [1000.0, 1000000.0, -2032.057761256474, 9.99999999e-13],
        [4096.0, 1e-06, -24526.29967864969, 2045404895.724628],
        [4096.0, 0.001, -12100.532070160243, 768893.283211693],
        [4096.0, 0.05, -11239.17757244132, 398.0469215411853],
        [4096.0, 0.5, -11221.225911703354, 3.998046875465434],
        [4096.0, 1.0, -11220.226277914237, 0.9997558593895448],
        [4096.0, 10.0, -11219.326398763842, 0.009999755859375145],
        [4096.0, 1000000.0, -11219.226400984546, 9.999999997558593e-13],
    ]
}

// MARK: - Quadrature (independent of the closed forms)

/// Tanh-sinh quadrature of f over [a, b], halving the step until two levels agree to ~1e-15.
private func tanhSinh(_ a: Double, _ b: Double, _ f: (Double) -> Double) -> Double {
    let half = 0.5 * (b - a)
    let middle = 0.5 * (a + b)
    func level(_ h: Double, odd: Bool) -> Double {
        var sum = 0.0
        var k = odd ? 1.0 : 0.0
        while k * h <= 4.5 {
            let t = k * h
            for s in (t == 0 ? [1.0] : [1.0, -1.0]) {
                let u = 0.5 * Double.pi * sinh(s * t)
                let w = 0.5 * Double.pi * cosh(t) / (cosh(u) * cosh(u))
                let fx = f(middle + half * tanh(u))
                if fx.isFinite && w.isFinite { sum += w * fx }
            }
            k += odd ? 2 : 1
        }
        return sum
    }
    var h = 0.5
    var sum = level(h, odd: false)
    var estimate = half * h * sum
    for _ in 0..<10 {
        h *= 0.5
        sum += level(h, odd: true)
        let next = half * h * sum
        if abs(next - estimate) <= 1e-15 * abs(next) { return next }
        estimate = next
    }
    return estimate
}

/// Exp-sinh quadrature of f over [a, ∞), x = a + L·exp((π/2)·sinh t), same refinement.
private func expSinh(_ a: Double, scale: Double, _ f: (Double) -> Double) -> Double {
    func level(_ h: Double, odd: Bool) -> Double {
        var sum = 0.0
        var k = odd ? 1.0 : 0.0
        while k * h <= 6.5 {
            let t = k * h
            for s in (t == 0 ? [1.0] : [1.0, -1.0]) {
                let e = scale * exp(0.5 * Double.pi * sinh(s * t))
                let w = 0.5 * Double.pi * cosh(t) * e
                let fx = f(a + e)
                if fx > 0 && w.isFinite && (w * fx).isFinite { sum += w * fx }
            }
            k += odd ? 2 : 1
        }
        return sum
    }
    var h = 0.5
    var sum = level(h, odd: false)
    var estimate = h * sum
    for _ in 0..<10 {
        h *= 0.5
        sum += level(h, odd: true)
        let next = h * sum
        if abs(next - estimate) <= 1e-15 * abs(next) { return next }
        estimate = next
    }
    return estimate
}

/// ρ(u) of KERNELS.md's energy table, written out plainly.
private func rho(_ kernel: Kernel, _ u: Double, nu: Double, delta: Double) -> Double {
    let a = abs(u)
    switch kernel {
    case .gaussian: return 0.5 * u * u
    case .laplace: return a
    case .studentT: return log1p(u * u / nu)
    case .huber: return a <= delta ? 0.5 * u * u : delta * (a - delta / 2)
    case .pseudoHuber: return delta * delta * ((1 + (u / delta) * (u / delta)).squareRoot() - 1)
    case .exponential: return exp(a)
    default: return .nan
    }
}

/// log ∫ exp(−ρ(u)/τ) du = log 2∫₀^∞ …, split at Huber's kink.
private func quadratureLogNormalizer(_ kernel: Kernel, tau: Double, nu: Double = 1, delta: Double = 1,
                                     scale: Double) -> Double {
    let f = { (u: Double) in exp(-rho(kernel, u, nu: nu, delta: delta) / tau) }
    if kernel == .huber {
        return log(2 * (tanhSinh(0, delta, f) + expSinh(delta, scale: scale, f)))
    }
    return log(2 * expSinh(0, scale: scale, f))
}

final class NormalizersTests: XCTestCase {
    func testGaussianAndLaplaceClosedForms() throws {
        for tau in [1e-6, 0.3, 1, 7, 1e6] {
            let g = try separableLogNormalizer(.gaussian, tau: tau, nu: 0, delta: 0)
            assertClose(g.value, 0.5 * log(2 * Double.pi * tau), rel: 1e-15, floor: 1, "gaussian value τ = \(tau)")
            assertClose(g.dTau, 0.5 / tau, rel: 1e-15, "gaussian dτ")
            XCTAssertEqual(g.dShape, 0)
            let l = try separableLogNormalizer(.laplace, tau: tau, nu: 0, delta: 0)
            assertClose(l.value, log(2 * tau), rel: 1e-15, floor: 1, "laplace value τ = \(tau)")
            assertClose(l.dTau, 1 / tau, rel: 1e-15, "laplace dτ")
            XCTAssertEqual(l.dShape, 0)
        }
    }

    func testSeparableAgainstHighPrecisionClosedForms() throws {
        for row in Reference.separable {
            guard let kernel = Kernel(rawValue: Int32(row[0])) else { return XCTFail("kernel \(row[0])") }
            let (tau, shape) = (row[1], row[2])
            let term = try separableLogNormalizer(kernel, tau: tau, nu: shape, delta: shape)
            let at = "\(kernel.name) τ = \(tau), shape = \(shape)"
            assertClose(term.value, row[3], rel: 1e-14, floor: 1, "value, \(at)")
            assertClose(term.dTau, row[4], rel: 1e-13, "∂/∂τ, \(at)")
            if row[5].isNaN {
                // Huber with t² = δ²/(2τ) > 1300: ∂/∂δ = −e^(−t²)/(δ·t·g) is below Double's smallest subnormal.
                XCTAssertEqual(term.dShape, 0, "∂/∂shape, \(at)")
            } else {
                assertClose(term.dShape, row[5], rel: 1e-13, "∂/∂shape, \(at)")
            }
        }
    }

    func testVonMisesFisherAgainstHighPrecisionClosedForm() throws {
        for row in Reference.vonMisesFisher {
            let (dimension, tau) = (Int(row[0]), row[1])
            let term = try vonMisesFisherLogNormalizer(dimension: dimension, tau: tau)
            assertClose(term.value, row[2], rel: 5e-14, floor: 1, "vMF c, D = \(dimension), τ = \(tau)")
            assertClose(term.dTau, row[3], rel: 1e-13, "vMF dc/dτ, D = \(dimension), τ = \(tau)")
            XCTAssertEqual(term.dShape, 0)
        }
    }

    func testSeparableAgainstQuadrature() throws {
        // (kernel, τ, ν or δ, natural width of exp(−ρ/τ))
        let cases: [(Kernel, Double, Double, Double)] = [
            (.gaussian, 0.3, 0, 0.5), (.gaussian, 7, 0, 3),
            (.laplace, 0.3, 0, 0.3), (.laplace, 7, 0, 7),
            (.studentT, 0.5, 1, 1), (.studentT, 1, 3, 2), (.studentT, 1.5, 0.7, 1), (.studentT, 0.1, 10, 1),
            (.huber, 1, 0.5, 1), (.huber, 0.2, 1.3, 0.5), (.huber, 3, 2, 3), (.huber, 0.05, 0.01, 0.05),
            (.pseudoHuber, 1, 0.5, 1), (.pseudoHuber, 0.2, 1.3, 0.5), (.pseudoHuber, 3, 2, 3),
            (.pseudoHuber, 0.01, 0.05, 0.05), (.pseudoHuber, 1e-3, 5, 0.1),
            (.exponential, 0.2, 0, 0.2), (.exponential, 1, 0, 1), (.exponential, 5, 0, 1), (.exponential, 100, 0, 3),
        ]
        for (kernel, tau, shape, width) in cases {
            let term = try separableLogNormalizer(kernel, tau: tau, nu: shape, delta: shape)
            let quadrature = quadratureLogNormalizer(kernel, tau: tau, nu: shape, delta: shape, scale: width)
            assertClose(term.value, quadrature, rel: 1e-13, floor: 1, "\(kernel.name) τ = \(tau), shape = \(shape)")
        }
    }

    func testVonMisesFisherAgainstQuadrature() throws {
        // c = log ∫_{S^(D−1)} e^(κ(cos θ − 1)) dσ = log(|S^(D−2)|·∫₀^π e^(κ(cos θ − 1)) sin^(D−2)θ dθ),
        // |S^(n)| = 2π^((n+1)/2)/Γ((n+1)/2); S⁰ is two points.
        for dimension in [1, 2, 3, 5, 10] {
            for tau in [0.05, 0.5, 2] {
                let kappa = 1 / tau
                let want: Double
                if dimension == 1 {
                    want = log(1 + exp(-2 * kappa))
                } else {
                    let n = Double(dimension - 1)
                    let logSphere = log(2.0) + 0.5 * n * log(Double.pi) - lgamma(0.5 * n)
                    let integral = tanhSinh(0, Double.pi) { theta in
                        exp(kappa * (cos(theta) - 1)) * pow(sin(theta), Double(dimension - 2))
                    }
                    want = logSphere + log(integral)
                }
                let term = try vonMisesFisherLogNormalizer(dimension: dimension, tau: tau)
                assertClose(term.value, want, rel: 1e-13, floor: 1, "vMF D = \(dimension), τ = \(tau)")
            }
        }
    }

    /// Rounding alone makes the extrapolated difference quotient wrong by ~3ε·|value|/step; as a
    /// floor for `rel: 1e-9` this allows ten times that, and no more.
    private func roundoffFloor(_ value: Double, _ step: Double) -> Double {
        3e10 * Double.ulpOfOne * max(1, abs(value)) / step
    }

    /// Richardson-extrapolated central difference: error O(h⁴) + O(ε/h).
    private func derivative(_ f: (Double) throws -> Double, at x: Double, step: Double) rethrows -> Double {
        let d1 = (try f(x + step) - f(x - step)) / (2 * step)
        let d2 = (try f(x + step / 2) - f(x - step / 2)) / step
        return (4 * d2 - d1) / 3
    }

    func testSeparableDerivativesAgainstFiniteDifferences() throws {
        let cases: [(Kernel, Double, Double)] = [
            (.gaussian, 0.7, 0), (.laplace, 0.7, 0),
            (.studentT, 1e-3, 2), (.studentT, 0.3, 0.5), (.studentT, 1, 4), (.studentT, 1.9, 30),
            (.huber, 1e-3, 0.2), (.huber, 0.5, 0.1), (.huber, 1, 1), (.huber, 4, 9),
            (.pseudoHuber, 1e-3, 0.2), (.pseudoHuber, 0.5, 0.1), (.pseudoHuber, 1, 1), (.pseudoHuber, 4, 9),
            (.pseudoHuber, 0.01, 0.45), (.pseudoHuber, 0.01, 0.44),  // β either side of 20
            (.exponential, 0.05, 0), (.exponential, 1, 0), (.exponential, 30, 0),
        ]
        for (kernel, tau, shape) in cases {
            let term = try separableLogNormalizer(kernel, tau: tau, nu: shape, delta: shape)
            // student_t is singular at τ = 2: keep the step well inside.
            let tauStep = 1e-3 * (kernel == .studentT ? min(tau, 2 - tau) : tau)
            let byTau = try derivative({ try separableLogNormalizer(kernel, tau: $0, nu: shape, delta: shape).value },
                                       at: tau, step: tauStep)
            assertClose(term.dTau, byTau, rel: 1e-9, floor: roundoffFloor(term.value, tauStep),
                        "\(kernel.name) ∂/∂τ at τ = \(tau), shape = \(shape)")
            if shape > 0 {
                let byShape = try derivative({ try separableLogNormalizer(kernel, tau: tau, nu: $0, delta: $0).value },
                                             at: shape, step: 1e-3 * shape)
                assertClose(term.dShape, byShape, rel: 1e-9, floor: roundoffFloor(term.value, 1e-3 * shape),
                            "\(kernel.name) ∂/∂shape at τ = \(tau), shape = \(shape)")
            }
        }
    }

    func testVonMisesFisherDerivativeAgainstFiniteDifferences() throws {
        for dimension in [1, 2, 3, 4, 7, 24, 26, 51, 52, 300, 4096] {
            for tau in [0.002, 0.05, 0.3, 1, 10, 1e3] {
                let term = try vonMisesFisherLogNormalizer(dimension: dimension, tau: tau)
                let byTau = try derivative({ try vonMisesFisherLogNormalizer(dimension: dimension, tau: $0).value },
                                           at: tau, step: 1e-3 * tau)
                assertClose(term.dTau, byTau, rel: 1e-9, floor: roundoffFloor(term.value, 1e-3 * tau),
                            "vMF dc/dτ, D = \(dimension), τ = \(tau)")
            }
        }
    }

    func testFiniteAcrossExtremeParameters() throws {
        // Never NaN; finite over the documented range (τ, ν, δ in [1e-6, 1e6], D up to 4096) and
        // well beyond it; ±∞ only for values truly outside Double's range (subnormal τ or shape).
        let wide = [1e-300, 1e-100, 1e-6, 1e-3, 1, 1e3, 1e6, 1e100, 1e300]
        for kernel in [Kernel.gaussian, .laplace, .studentT, .huber, .pseudoHuber, .exponential] {
            for tau in wide + [1.999999999] {
                for shape in wide {
                    if kernel == .studentT && tau >= 2 { continue }
                    let term = try separableLogNormalizer(kernel, tau: tau, nu: shape, delta: shape)
                    let at = "\(kernel.name) τ = \(tau), shape = \(shape)"
                    XCTAssert(term.value.isFinite, "value \(term.value), \(at)")
                    XCTAssert(!term.dShape.isNaN && (term.dShape.isFinite), "∂/∂shape \(term.dShape), \(at)")
                    // dτ of the exponential kernel is ≈ 1/τ², beyond Double's range for τ ≲ 1e-154.
                    if kernel == .exponential && tau < 1e-154 {
                        XCTAssertEqual(term.dTau, .infinity, at)
                    } else {
                        XCTAssert(term.dTau.isFinite, "∂/∂τ \(term.dTau), \(at)")
                    }
                }
            }
            for tau in [Double.leastNonzeroMagnitude, 1e-310, Double.greatestFiniteMagnitude] {
                for shape in [Double.leastNonzeroMagnitude, 1, Double.greatestFiniteMagnitude] {
                    if kernel == .studentT && tau >= 2 { continue }
                    let term = try separableLogNormalizer(kernel, tau: tau, nu: shape, delta: shape)
                    XCTAssert(!term.value.isNaN && !term.dTau.isNaN && !term.dShape.isNaN,
                              "\(kernel.name) τ = \(tau), shape = \(shape): \(term)")
                }
            }
        }
        for dimension in [1, 2, 3, 4, 51, 4096, 1_000_000] {
            for tau in wide + [Double.greatestFiniteMagnitude] {
                let term = try vonMisesFisherLogNormalizer(dimension: dimension, tau: tau)
                XCTAssert(term.value.isFinite && term.dTau.isFinite && term.dTau >= 0,
                          "vMF D = \(dimension), τ = \(tau): \(term)")
            }
            let term = try vonMisesFisherLogNormalizer(dimension: dimension, tau: .leastNonzeroMagnitude)
            XCTAssert(!term.value.isNaN && !term.dTau.isNaN, "vMF D = \(dimension), subnormal τ: \(term)")
        }
    }

    func testLimits() throws {
        // Huber and pseudo-Huber tend to the Gaussian as δ → ∞ and to log(2τ/δ) as δ → 0;
        // student_t to the Gaussian with scale √ν... as τ → 0: Z ≈ √(πντ).
        let gaussian = try separableLogNormalizer(.gaussian, tau: 0.8, nu: 0, delta: 0)
        for kernel in [Kernel.huber, .pseudoHuber] {
            let big = try separableLogNormalizer(kernel, tau: 0.8, nu: 0, delta: 1e8)
            assertClose(big.value, gaussian.value, rel: 1e-14, floor: 1, "\(kernel.name) δ → ∞")
            assertClose(big.dTau, gaussian.dTau, rel: 1e-14, "\(kernel.name) δ → ∞, ∂/∂τ")
            let small = try separableLogNormalizer(kernel, tau: 0.8, nu: 0, delta: 1e-9)
            assertClose(small.value, log(2 * 0.8 / 1e-9), rel: 1e-14, floor: 1, "\(kernel.name) δ → 0")
            assertClose(small.dShape, -1 / 1e-9, rel: 1e-12, "\(kernel.name) δ → 0, ∂/∂δ")
        }
        let t = try separableLogNormalizer(.studentT, tau: 1e-12, nu: 3, delta: 0)
        assertClose(t.value, 0.5 * log(Double.pi * 3 * 1e-12), rel: 1e-12, floor: 1, "student_t τ → 0")
    }

    func testErrors() {
        func status(_ body: () throws -> NormalizerTerm) -> Status? {
            do { _ = try body(); return nil } catch let error as ImplicitEMError { return error.status } catch { return nil }
        }
        XCTAssertEqual(status { try separableLogNormalizer(.logistic, tau: 1, nu: 1, delta: 1) }, .unsupported)
        XCTAssertEqual(status { try separableLogNormalizer(.studentT, tau: 2, nu: 1, delta: 1) }, .unsupported)
        XCTAssertEqual(status { try separableLogNormalizer(.studentT, tau: 5, nu: 1, delta: 1) }, .unsupported)
        for kernel in [Kernel.cosine, .mahalanobis, .learned] {
            XCTAssertEqual(status { try separableLogNormalizer(kernel, tau: 1, nu: 1, delta: 1) }, .unsupported, kernel.name)
        }
        for bad in [0, -1, Double.nan, .infinity, -.infinity] {
            for kernel in [Kernel.gaussian, .laplace, .studentT, .huber, .pseudoHuber, .exponential] {
                XCTAssertEqual(status { try separableLogNormalizer(kernel, tau: bad, nu: 1, delta: 1) }, .badParameter,
                               "\(kernel.name) tau = \(bad)")
            }
            XCTAssertEqual(status { try separableLogNormalizer(.studentT, tau: 1, nu: bad, delta: 1) }, .badParameter)
            XCTAssertEqual(status { try separableLogNormalizer(.huber, tau: 1, nu: 1, delta: bad) }, .badParameter)
            XCTAssertEqual(status { try separableLogNormalizer(.pseudoHuber, tau: 1, nu: 1, delta: bad) }, .badParameter)
            XCTAssertEqual(status { try vonMisesFisherLogNormalizer(dimension: 3, tau: bad) }, .badParameter)
        }
        XCTAssertEqual(status { try vonMisesFisherLogNormalizer(dimension: 0, tau: 1) }, .badParameter)
        do {
            _ = try separableLogNormalizer(.huber, tau: 1, nu: 1, delta: -2)
        } catch let error as ImplicitEMError {
            XCTAssert(error.message.contains("delta") && error.message.contains("-2"), error.message)
        } catch { XCTFail("\(error)") }
    }
}
