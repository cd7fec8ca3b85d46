/*
 * test_implicitem.c - the C ABI of libimplicitem checked against docs/KERNELS.md.
 *
 * Every formula is evaluated here plainly, in double, independently of the library:
 * energies, log-normalisers (closed forms, or quadrature where KERNELS.md names a special
 * function), logZ, responsibilities, statistics and activations; gradients are checked
 * against central differences of that reference objective. Every kernel (1-10) runs in
 * both precisions and, for kernels 1-7, every scale shape. Then every status code: each
 * kind of bad input must give its status and a message naming the argument, and must
 * leave outputs poisoned with a sentinel byte pattern untouched, byte for byte.
 *
 * Prints one line per failure and a final "N passed, M failed"; exits non-zero on failure.
 */
#include <implicitem.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

#define MAXN 8
#define MAXK 3
#define MAXD 3

/* Tolerances, relative to 1 + |expected|: float64 values against closed forms and
 * quadrature; gradients against central differences (their own error is ~1e-9); float32
 * results (about a thousand ulps of a float, for sums of a few dozen terms). */
#define TOL_F64 1e-9
#define TOL_F64_GRAD 1e-6
#define TOL_F32 1e-4

#include "check.h"


/* Compares count values; one check for the whole array, reporting the worst entry. */
static void check_close(const char *what, const double *got, const double *want, int count, double tol)
{
    int worst = -1;
    double worst_excess = 0;
    for (int i = 0; i < count; i++) {
        double g = got[i], w = want[i];
        int ok;
        if (isinf(w) || isnan(w))
            ok = (isnan(w) && isnan(g)) || g == w;
        else
            ok = isfinite(g) && fabs(g - w) <= tol * (1 + fabs(w));
        double excess = ok ? 0 : (isfinite(g) ? fabs(g - w) / (1 + fabs(w)) : INFINITY);
        if (!ok && (worst < 0 || excess > worst_excess)) {
            worst = i;
            worst_excess = excess;
        }
    }
    if (worst < 0)
        check(1, "");
    else
        check(0, "%s[%d] = %.17g, expected %.17g (tolerance %g)", what, worst, got[worst], want[worst], tol);
}

/* A deterministic generator, so that a failure can be replayed. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------ the reference */

typedef struct {
    int kernel;
    int shape;        /* ie_scale_shape of scale, when has_scale */
    int n, k, d;
    double x[MAXN * MAXD], mu[MAXK * MAXD], scale[MAXK * MAXD], chol[MAXK * MAXD * MAXD];
    double logw[MAXK], logprior[MAXN * MAXK], energies[MAXN * MAXK];
    int has_scale, has_logw, has_logprior;
    int callback;     /* learned: energies through energy_fn, squared distances of x to mu */
    double nu, delta, tau;
    int normalized;
} Case;

static const char *kernel_names[] = {"?", "gaussian", "laplace", "logistic", "student_t", "huber",
                                     "pseudo_huber", "exponential", "cosine", "mahalanobis", "learned"};

static double rho(int kernel, double u, double nu, double delta)
{
    switch (kernel) {
    case IE_KERNEL_GAUSSIAN: return 0.5 * u * u;
    case IE_KERNEL_LAPLACE: return fabs(u);
    case IE_KERNEL_LOGISTIC: return fmax(-u, 0) + log1p(exp(-fabs(u)));
    case IE_KERNEL_STUDENT_T: return log1p(u * u / nu);
    case IE_KERNEL_HUBER: return fabs(u) <= delta ? 0.5 * u * u : delta * (fabs(u) - 0.5 * delta);
    case IE_KERNEL_PSEUDO_HUBER: return delta * delta * (sqrt(1 + (u / delta) * (u / delta)) - 1);
    case IE_KERNEL_EXPONENTIAL: return exp(fabs(u));
    }
    return NAN;
}

static int scale_count(const Case *c)
{
    if (!c->has_scale) return 1;
    return c->shape == IE_SCALE_SHARED ? 1 : c->shape == IE_SCALE_PER_COMPONENT ? c->k : c->k * c->d;
}

static double scale_of(const Case *c, int k, int i)
{
    if (!c->has_scale) return 1;
    switch (c->shape) {
    case IE_SCALE_SHARED: return c->scale[0];
    case IE_SCALE_PER_COMPONENT: return c->scale[k];
    default: return c->scale[k * c->d + i];
    }
}

static double squared_distance(const double *a, const double *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

static double energy(const Case *c, int n, int k)
{
    const double *x = c->x + n * c->d, *mu = c->mu + k * c->d;
    int d = c->d;
    if (c->kernel <= IE_KERNEL_EXPONENTIAL) {
        double s = 0;
        for (int i = 0; i < d; i++) s += rho(c->kernel, (x[i] - mu[i]) / scale_of(c, k, i), c->nu, c->delta);
        return s;
    }
    if (c->kernel == IE_KERNEL_COSINE) {
        double dot = 0, xx = 0, mm = 0;
        for (int i = 0; i < d; i++) {
            dot += x[i] * mu[i];
            xx += x[i] * x[i];
            mm += mu[i] * mu[i];
        }
        if (xx == 0 || mm == 0) return 1;
        return 1 - dot / (sqrt(xx) * sqrt(mm));
    }
    if (c->kernel == IE_KERNEL_MAHALANOBIS) {
        const double *L = c->chol + k * d * d;
        double s = 0;
        for (int j = 0; j < d; j++) {
            double y = 0; /* y = L^T e, lower triangle only */
            for (int i = j; i < d; i++) y += L[i * d + j] * (x[i] - mu[i]);
            s += y * y;
        }
        return s;
    }
    return c->callback ? squared_distance(x, mu, d) : c->energies[n * c->k + k];
}

/* Composite Simpson on [a, b] with m (even) intervals. */
static double simpson(double (*f)(double, const double *), const double *p, double a, double b, int m)
{
    double h = (b - a) / m, s = f(a, p) + f(b, p);
    for (int i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * f(a + i * h, p);
    return s * h / 3;
}

/* pseudo_huber with u = delta sinh(t): exp(-delta^2 (cosh t - 1)/tau) delta cosh t. */
static double pseudo_huber_integrand(double t, const double *p)
{
    return exp(-p[0] * p[0] * (cosh(t) - 1) / p[1]) * p[0] * cosh(t);
}

static double exponential_integrand(double u, const double *p) { return exp(-exp(u) / p[0]); }

static double cosine_integrand(double theta, const double *p) { return exp((cos(theta) - 1) / p[0]); }

/* log Z_rho = log of the integral of exp(-rho(u)/tau) over the real line. */
static double log_z_rho_uncached(int kernel, double tau, double nu, double delta)
{
    switch (kernel) {
    case IE_KERNEL_GAUSSIAN: return 0.5 * log(2 * PI * tau);
    case IE_KERNEL_LAPLACE: return log(2 * tau);
    case IE_KERNEL_STUDENT_T: /* sqrt(nu) B(1/2, 1/tau - 1/2) */
        return 0.5 * log(nu) + lgamma(0.5) + lgamma(1 / tau - 0.5) - lgamma(1 / tau);
    case IE_KERNEL_HUBER:
        return log(sqrt(2 * PI * tau) * erf(delta / sqrt(2 * tau))
                   + (2 * tau / delta) * exp(-delta * delta / (2 * tau)));
    case IE_KERNEL_PSEUDO_HUBER: { /* the integrand is below exp(-800) beyond t_max */
        double p[2] = {delta, tau};
        double t_max = acosh(1 + 800 * tau / (delta * delta));
        return log(2 * simpson(pseudo_huber_integrand, p, 0, t_max, 1000)); /* ~1e-15 */
    }
    case IE_KERNEL_EXPONENTIAL: { /* the integrand is not small at u = 0: ~1e-13 */
        double p[1] = {tau};
        return log(2 * simpson(exponential_integrand, p, 0, log(800 * tau), 4000));
    }
    }
    return NAN;
}

/* The quadratures dominate the run time (central differences call them again and again):
 * remember the last value. */
static double log_z_rho(int kernel, double tau, double nu, double delta)
{
    static int last_kernel;
    static double last_tau, last_nu, last_delta, last_value;
    if (kernel != last_kernel || tau != last_tau || nu != last_nu || delta != last_delta) {
        last_value = log_z_rho_uncached(kernel, tau, nu, delta);
        last_kernel = kernel;
        last_tau = tau;
        last_nu = nu;
        last_delta = delta;
    }
    return last_value;
}

/* The log-normaliser c_k of KERNELS.md. */
static double log_normalizer(const Case *c, int k)
{
    int d = c->d;
    if (c->kernel <= IE_KERNEL_EXPONENTIAL) {
        double s = 0, z = log_z_rho(c->kernel, c->tau, c->nu, c->delta);
        for (int i = 0; i < d; i++) s += log(scale_of(c, k, i)) + z;
        return s;
    }
    if (c->kernel == IE_KERNEL_MAHALANOBIS) {
        double s = 0.5 * d * log(PI * c->tau);
        for (int i = 0; i < d; i++) s -= log(c->chol[(k * d + i) * d + i]);
        return s;
    }
    if (c->kernel == IE_KERNEL_COSINE) { /* log of the integral of exp(-(1 - cos)/tau) over the sphere */
        if (d == 3) return log(2 * PI * c->tau * (1 - exp(-2 / c->tau)));
        if (d == 2) {
            double p[1] = {c->tau};
            return log(simpson(cosine_integrand, p, 0, 2 * PI, 1000)); /* periodic: ~1e-15 */
        }
    }
    return NAN;
}

/* E (N*K), L (N), R (N*K) of the reference. */
static void reference(const Case *c, double *E, double *L, double *R)
{
    double a[MAXK], ck[MAXK];
    for (int k = 0; k < c->k; k++) ck[k] = c->normalized ? log_normalizer(c, k) : 0;
    for (int n = 0; n < c->n; n++) {
        double m = -INFINITY;
        for (int k = 0; k < c->k; k++) {
            double e = energy(c, n, k);
            if (E) E[n * c->k + k] = e;
            a[k] = (c->has_logw ? c->logw[k] : 0) + (c->has_logprior ? c->logprior[n * c->k + k] : 0)
                   - e / c->tau - ck[k];
            if (a[k] > m) m = a[k];
        }
        double s = 0;
        if (m > -INFINITY)
            for (int k = 0; k < c->k; k++) s += exp(a[k] - m);
        double l = m > -INFINITY ? m + log(s) : -INFINITY;
        if (L) L[n] = l;
        if (R)
            for (int k = 0; k < c->k; k++) R[n * c->k + k] = l > -INFINITY ? exp(a[k] - l) : 0;
    }
}

/* sum_n gL_n logZ_n + sum_nk gR_nk r_nk over the rows with a finite logZ. */
static double objective(const Case *c, const double *gL, const double *gR)
{
    double L[MAXN], R[MAXN * MAXK], s = 0;
    reference(c, NULL, L, R);
    for (int n = 0; n < c->n; n++) {
        if (!(L[n] > -INFINITY)) continue;
        s += (gL ? gL[n] : 1) * L[n];
        if (gR)
            for (int k = 0; k < c->k; k++) s += gR[n * c->k + k] * R[n * c->k + k];
    }
    return s;
}

/* Central difference of the objective in *value (a field of the case). */
static double central_difference(Case *c, double *value, const double *gL, const double *gR)
{
    double saved = *value, h = 1e-6 * fmax(1, fabs(saved));
    *value = saved + h;
    double up = objective(c, gL, gR);
    *value = saved - h;
    double down = objective(c, gL, gR);
    *value = saved;
    return (up - down) / (2 * h);
}

/* --------------------------------------------------------------- library calls */

typedef struct {
    double x[MAXN * MAXD], mu[MAXK * MAXD], scale[MAXK * MAXD], nu, delta, chol[MAXK * MAXD * MAXD];
    double logw[MAXK], logprior[MAXN * MAXK], tau, energies[MAXN * MAXK];
} GradSet;

static int energy_callback_f64(void *user, const double *x_rows, int64_t rows, int64_t d, double *out)
{
    const Case *c = user;
    if (d != c->d || x_rows == NULL) return -1;
    for (int64_t r = 0; r < rows; r++)
        for (int k = 0; k < c->k; k++) out[r * c->k + k] = squared_distance(x_rows + r * d, c->mu + k * d, c->d);
    return 0;
}

static int energy_callback_f32(void *user, const float *x_rows, int64_t rows, int64_t d, float *out)
{
    const Case *c = user;
    if (d != c->d || x_rows == NULL) return -1;
    for (int64_t r = 0; r < rows; r++)
        for (int k = 0; k < c->k; k++) {
            double row[MAXD];
            for (int i = 0; i < c->d; i++) row[i] = x_rows[r * d + i];
            out[r * c->k + k] = (float)squared_distance(row, c->mu + k * d, c->d);
        }
    return 0;
}

static void fill_problem_f64(ie_problem_f64 *p, const Case *c)
{
    ie_problem_init_f64(p);
    p->kernel = c->kernel;
    p->scale_shape = c->shape;
    p->n = c->n;
    p->k = c->k;
    p->d = c->d;
    p->x = c->x;
    if (c->kernel != IE_KERNEL_LEARNED) p->mu = c->mu;
    p->scale = c->has_scale ? c->scale : NULL;
    p->chol = c->kernel == IE_KERNEL_MAHALANOBIS ? c->chol : NULL;
    p->logw = c->has_logw ? c->logw : NULL;
    p->logprior = c->has_logprior ? c->logprior : NULL;
    if (c->kernel == IE_KERNEL_LEARNED) {
        if (c->callback) {
            p->energy_fn = energy_callback_f64;
            p->energy_user = (void *)c;
        } else {
            p->energies = c->energies;
            p->x = NULL;
        }
    }
    p->nu = c->nu;
    p->delta = c->delta;
    p->tau = c->tau;
    p->normalized = c->normalized;
}

/* Float copies of a case's arrays, for the _f32 calls. */
typedef struct {
    float x[MAXN * MAXD], mu[MAXK * MAXD], scale[MAXK * MAXD], chol[MAXK * MAXD * MAXD];
    float logw[MAXK], logprior[MAXN * MAXK], energies[MAXN * MAXK];
} CaseF32;

static void to_f32(float *dst, const double *src, int count)
{
    for (int i = 0; i < count; i++) dst[i] = (float)src[i];
}

static void to_f64(double *dst, const float *src, int count)
{
    for (int i = 0; i < count; i++) dst[i] = src[i];
}

static void fill_problem_f32(ie_problem_f32 *p, CaseF32 *f, const Case *c)
{
    to_f32(f->x, c->x, MAXN * MAXD);
    to_f32(f->mu, c->mu, MAXK * MAXD);
    to_f32(f->scale, c->scale, MAXK * MAXD);
    to_f32(f->chol, c->chol, MAXK * MAXD * MAXD);
    to_f32(f->logw, c->logw, MAXK);
    to_f32(f->logprior, c->logprior, MAXN * MAXK);
    to_f32(f->energies, c->energies, MAXN * MAXK);
    ie_problem_init_f32(p);
    p->kernel = c->kernel;
    p->scale_shape = c->shape;
    p->n = c->n;
    p->k = c->k;
    p->d = c->d;
    p->x = f->x;
    if (c->kernel != IE_KERNEL_LEARNED) p->mu = f->mu;
    p->scale = c->has_scale ? f->scale : NULL;
    p->chol = c->kernel == IE_KERNEL_MAHALANOBIS ? f->chol : NULL;
    p->logw = c->has_logw ? f->logw : NULL;
    p->logprior = c->has_logprior ? f->logprior : NULL;
    if (c->kernel == IE_KERNEL_LEARNED) {
        if (c->callback) {
            p->energy_fn = energy_callback_f32;
            p->energy_user = (void *)c;
        } else {
            p->energies = f->energies;
            p->x = NULL;
        }
    }
    p->nu = (float)c->nu;
    p->delta = (float)c->delta;
    p->tau = (float)c->tau;
    p->normalized = c->normalized;
}

/* Rounds every value of the case to float, so that the reference sees what _f32 sees. */
static void round_to_f32(Case *c)
{
    double *arrays[] = {c->x, c->mu, c->scale, c->chol, c->logw, c->logprior, c->energies};
    int counts[] = {MAXN * MAXD, MAXK * MAXD, MAXK * MAXD, MAXK * MAXD * MAXD, MAXK, MAXN * MAXK, MAXN * MAXK};
    for (int a = 0; a < 7; a++)
        for (int i = 0; i < counts[a]; i++) arrays[a][i] = (float)arrays[a][i];
    c->nu = (float)c->nu;
    c->delta = (float)c->delta;
    c->tau = (float)c->tau;
}

/* ie_gradients_* in either precision; outputs as doubles. gL/gR may be NULL. */
static int call_gradients(const Case *c, int f32, const double *gL, const double *gR, double *E, double *L,
                          double *R, GradSet *g)
{
    int nk = c->n * c->k;
    if (!f32) {
        ie_problem_f64 p;
        ie_grads_f64 gr;
        fill_problem_f64(&p, c);
        ie_grads_init_f64(&gr);
        gr.x = c->kernel == IE_KERNEL_LEARNED && !c->callback ? NULL : g->x;
        gr.mu = c->kernel == IE_KERNEL_LEARNED && !c->callback ? NULL : g->mu;
        gr.scale = g->scale;
        gr.nu = &g->nu;
        gr.delta = &g->delta;
        gr.chol = c->kernel == IE_KERNEL_LEARNED && !c->callback ? NULL : g->chol;
        gr.logw = g->logw;
        gr.logprior = g->logprior;
        gr.tau = &g->tau;
        gr.energies = g->energies;
        return ie_gradients_f64(&p, gL, gR, E, L, R, &gr);
    }
    static CaseF32 f;
    static float gl[MAXN], grr[MAXN * MAXK], e[MAXN * MAXK], l[MAXN], r[MAXN * MAXK];
    static float x[MAXN * MAXD], mu[MAXK * MAXD], scale[MAXK * MAXD], chol[MAXK * MAXD * MAXD];
    static float logw[MAXK], logprior[MAXN * MAXK], energies[MAXN * MAXK], nu, delta, tau;
    ie_problem_f32 p;
    ie_grads_f32 gr;
    fill_problem_f32(&p, &f, c);
    if (gL) to_f32(gl, gL, c->n);
    if (gR) to_f32(grr, gR, nk);
    ie_grads_init_f32(&gr);
    int no_d = c->kernel == IE_KERNEL_LEARNED && !c->callback;
    gr.x = no_d ? NULL : x;
    gr.mu = no_d ? NULL : mu;
    gr.scale = scale;
    gr.nu = &nu;
    gr.delta = &delta;
    gr.chol = no_d ? NULL : chol;
    gr.logw = logw;
    gr.logprior = logprior;
    gr.tau = &tau;
    gr.energies = energies;
    int status = ie_gradients_f32(&p, gL ? gl : NULL, gR ? grr : NULL, E ? e : NULL, L ? l : NULL,
                                  R ? r : NULL, &gr);
    if (status != IE_OK) return status;
    if (E) to_f64(E, e, nk);
    if (L) to_f64(L, l, c->n);
    if (R) to_f64(R, r, nk);
    to_f64(g->x, x, c->n * c->d);
    to_f64(g->mu, mu, c->k * c->d);
    to_f64(g->scale, scale, scale_count(c));
    to_f64(g->chol, chol, c->k * c->d * c->d);
    to_f64(g->logw, logw, c->k);
    to_f64(g->logprior, logprior, nk);
    to_f64(g->energies, energies, nk);
    g->nu = nu;
    g->delta = delta;
    g->tau = tau;
    return status;
}

static int call_forward(const Case *c, int f32, double *E, double *L, double *R)
{
    int nk = c->n * c->k;
    if (!f32) {
        ie_problem_f64 p;
        fill_problem_f64(&p, c);
        return ie_forward_f64(&p, E, L, R);
    }
    static CaseF32 f;
    static float e[MAXN * MAXK], l[MAXN], r[MAXN * MAXK];
    ie_problem_f32 p;
    fill_problem_f32(&p, &f, c);
    int status = ie_forward_f32(&p, e, l, r);
    to_f64(E, e, nk);
    to_f64(L, l, c->n);
    to_f64(R, r, nk);
    return status;
}

static int call_log_normalizer(const Case *c, int f32, double *out)
{
    if (!f32) {
        ie_problem_f64 p;
        fill_problem_f64(&p, c);
        return ie_log_normalizer_f64(&p, out);
    }
    static CaseF32 f;
    float o[MAXK];
    ie_problem_f32 p;
    fill_problem_f32(&p, &f, c);
    int status = ie_log_normalizer_f32(&p, o);
    to_f64(out, o, c->k);
    return status;
}

static int call_stats(const Case *c, int f32, const double *w, double *sr, double *srx, double *srxx)
{
    int k = c->k, d = c->d;
    if (!f32) {
        ie_problem_f64 p;
        fill_problem_f64(&p, c);
        p.x = c->x; /* the statistics of x, for every kernel */
        return ie_stats_f64(&p, w, sr, srx, srxx);
    }
    static CaseF32 f;
    float wf[MAXN], a[MAXK], b[MAXK * MAXD], cc[MAXK * MAXD * MAXD];
    ie_problem_f32 p;
    fill_problem_f32(&p, &f, c);
    p.x = f.x;
    to_f32(wf, w, c->n);
    int status = ie_stats_f32(&p, wf, a, b, cc);
    to_f64(sr, a, k);
    to_f64(srx, b, k * d);
    to_f64(srxx, cc, k * d * d);
    return status;
}

/* ------------------------------------------------------------------ value tests */

static const char *describe(const Case *c, int f32)
{
    static char text[160];
    static const char *shapes[] = {"", "shared", "per_component", "per_dimension"};
    snprintf(text, sizeof text, "%s %s%s%s%s%s d=%d", kernel_names[c->kernel], f32 ? "f32" : "f64",
             c->kernel <= IE_KERNEL_EXPONENTIAL ? " scale " : "",
             c->kernel <= IE_KERNEL_EXPONENTIAL ? (c->has_scale ? shapes[c->shape] : "NULL") : "",
             c->normalized ? " normalized" : "", c->callback ? " callback" : "", c->d);
    return text;
}

static int has_x(const Case *c) { return c->kernel != IE_KERNEL_LEARNED || c->callback; }

/* Forward, gradients (with and without upstream gradients), normalisers and statistics of
 * one case in one precision. */
static void test_case(const Case *given, int f32)
{
    Case c = *given;
    if (f32) round_to_f32(&c);
    const char *name = describe(&c, f32);
    double tol = f32 ? TOL_F32 : TOL_F64, gtol = f32 ? TOL_F32 : TOL_F64_GRAD;
    int n = c.n, k = c.k, d = c.d, nk = n * k;
    char what[256];

    double E[MAXN * MAXK], L[MAXN], R[MAXN * MAXK], E0[MAXN * MAXK], L0[MAXN], R0[MAXN * MAXK];
    reference(&c, E0, L0, R0);

    int status = call_forward(&c, f32, E, L, R);
    check(status == IE_OK, "%s: ie_forward returned %d (%s)", name, status, ie_last_error_message());
    if (status == IE_OK) {
        snprintf(what, sizeof what, "%s: energies", name);
        check_close(what, E, E0, nk, tol);
        snprintf(what, sizeof what, "%s: logZ", name);
        check_close(what, L, L0, n, tol);
        snprintf(what, sizeof what, "%s: resp", name);
        check_close(what, R, R0, nk, tol);
    }

    double gL[MAXN], gR[MAXN * MAXK];
    for (int i = 0; i < n; i++) gL[i] = f32 ? (float)uniform(0.2, 1.5) : uniform(0.2, 1.5);
    for (int i = 0; i < nk; i++) gR[i] = f32 ? (float)uniform(-1, 1) : uniform(-1, 1);

    for (int upstream = 0; upstream < 2; upstream++) {
        const double *pL = upstream ? gL : NULL, *pR = upstream ? gR : NULL;
        GradSet g;
        memset(&g, 0, sizeof g);
        status = call_gradients(&c, f32, pL, pR, E, L, R, &g);
        check(status == IE_OK, "%s: ie_gradients returned %d (%s)", name, status, ie_last_error_message());
        if (status != IE_OK) continue;
        snprintf(what, sizeof what, "%s: gradients' logZ", name);
        check_close(what, L, L0, n, tol);
        snprintf(what, sizeof what, "%s: gradients' resp", name);
        check_close(what, R, R0, nk, tol);

        const char *tag = upstream ? "gL,gR" : "NULL gL,gR";
        double fd[MAXK * MAXD * MAXD];
        if (has_x(&c) && c.kernel != IE_KERNEL_LEARNED) {
            for (int i = 0; i < n * d; i++) fd[i] = central_difference(&c, &c.x[i], pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/dx", name, tag);
            check_close(what, g.x, fd, n * d, gtol);
            for (int i = 0; i < k * d; i++) fd[i] = central_difference(&c, &c.mu[i], pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/dmu", name, tag);
            check_close(what, g.mu, fd, k * d, gtol);
        }
        if (c.kernel == IE_KERNEL_LEARNED && c.callback) {
            /* x and mu enter only through the caller's energies: their gradients are zero. */
            double zeros[MAXN * MAXD] = {0};
            snprintf(what, sizeof what, "%s (%s): d/dx (zero)", name, tag);
            check_close(what, g.x, zeros, n * d, 0);
        }
        if (c.kernel <= IE_KERNEL_EXPONENTIAL && c.has_scale) {
            for (int i = 0; i < scale_count(&c); i++) fd[i] = central_difference(&c, &c.scale[i], pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/dscale", name, tag);
            check_close(what, g.scale, fd, scale_count(&c), gtol);
        }
        if (c.kernel == IE_KERNEL_STUDENT_T) {
            fd[0] = central_difference(&c, &c.nu, pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/dnu", name, tag);
            check_close(what, &g.nu, fd, 1, gtol);
        }
        if (c.kernel == IE_KERNEL_HUBER || c.kernel == IE_KERNEL_PSEUDO_HUBER) {
            fd[0] = central_difference(&c, &c.delta, pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/ddelta", name, tag);
            check_close(what, &g.delta, fd, 1, gtol);
        }
        if (c.kernel == IE_KERNEL_MAHALANOBIS) {
            for (int i = 0; i < k * d * d; i++) {
                int row = (i / d) % d, col = i % d;
                fd[i] = col <= row ? central_difference(&c, &c.chol[i], pL, pR) : 0;
            }
            snprintf(what, sizeof what, "%s (%s): d/dchol (upper triangle 0)", name, tag);
            check_close(what, g.chol, fd, k * d * d, gtol);
        }
        if (c.has_logw) {
            for (int i = 0; i < k; i++) fd[i] = central_difference(&c, &c.logw[i], pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/dlogw", name, tag);
            check_close(what, g.logw, fd, k, gtol);
        }
        if (c.has_logprior) {
            double fdp[MAXN * MAXK];
            for (int i = 0; i < nk; i++)
                fdp[i] = isfinite(c.logprior[i]) ? central_difference(&c, &c.logprior[i], pL, pR) : 0;
            snprintf(what, sizeof what, "%s (%s): d/dlogprior", name, tag);
            check_close(what, g.logprior, fdp, nk, gtol);
        }
        fd[0] = central_difference(&c, &c.tau, pL, pR);
        snprintf(what, sizeof what, "%s (%s): d/dtau", name, tag);
        check_close(what, &g.tau, fd, 1, gtol);
        if (c.kernel == IE_KERNEL_LEARNED && !c.callback) {
            double fde[MAXN * MAXK];
            for (int i = 0; i < nk; i++) fde[i] = central_difference(&c, &c.energies[i], pL, pR);
            snprintf(what, sizeof what, "%s (%s): d/denergies", name, tag);
            check_close(what, g.energies, fde, nk, gtol);
        }
    }

    int normalizable = c.kernel != IE_KERNEL_LOGISTIC && c.kernel != IE_KERNEL_LEARNED
                       && !(c.kernel == IE_KERNEL_STUDENT_T && c.tau >= 2);
    if (normalizable) {
        double got[MAXK], want[MAXK];
        status = call_log_normalizer(&c, f32, got);
        check(status == IE_OK, "%s: ie_log_normalizer returned %d (%s)", name, status, ie_last_error_message());
        for (int i = 0; i < k; i++) want[i] = log_normalizer(&c, i);
        snprintf(what, sizeof what, "%s: log-normaliser c_k", name);
        if (status == IE_OK) check_close(what, got, want, k, tol);
    }

    if (has_x(&c) || c.kernel == IE_KERNEL_LEARNED) {
        double w[MAXN], sr[MAXK], srx[MAXK * MAXD], srxx[MAXK * MAXD * MAXD];
        double wr[MAXK] = {0}, wrx[MAXK * MAXD] = {0}, wrxx[MAXK * MAXD * MAXD] = {0};
        for (int i = 0; i < n; i++) w[i] = f32 ? (float)uniform(0, 2) : uniform(0, 2);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) {
                double r = w[i] * R0[i * k + j];
                wr[j] += r;
                for (int a = 0; a < d; a++) {
                    wrx[j * d + a] += r * c.x[i * d + a];
                    for (int b = 0; b < d; b++) wrxx[(j * d + a) * d + b] += r * c.x[i * d + a] * c.x[i * d + b];
                }
            }
        status = call_stats(&c, f32, w, sr, srx, srxx);
        check(status == IE_OK, "%s: ie_stats returned %d (%s)", name, status, ie_last_error_message());
        if (status == IE_OK) {
            snprintf(what, sizeof what, "%s: sum_r", name);
            check_close(what, sr, wr, k, tol);
            snprintf(what, sizeof what, "%s: sum_rx", name);
            check_close(what, srx, wrx, k * d, tol);
            snprintf(what, sizeof what, "%s: sum_rxx", name);
            check_close(what, srxx, wrxx, k * d * d, tol);
        }
    }
}

static Case random_case(int kernel, int d)
{
    Case c;
    memset(&c, 0, sizeof c);
    c.kernel = kernel;
    c.shape = IE_SCALE_SHARED;
    c.n = 6;
    c.k = 3;
    c.d = d;
    for (int i = 0; i < MAXN * MAXD; i++) c.x[i] = uniform(-2, 2);
    for (int i = 0; i < MAXK * MAXD; i++) c.mu[i] = uniform(-1.5, 1.5);
    for (int i = 0; i < MAXK * MAXD; i++) c.scale[i] = uniform(0.6, 1.6);
    for (int j = 0; j < MAXK; j++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                c.chol[(j * d + a) * d + b] = a == b ? uniform(0.5, 1.5) : a > b ? uniform(-0.5, 0.5) : 99.0;
    for (int i = 0; i < MAXK; i++) c.logw[i] = uniform(-1, 0.5);
    for (int i = 0; i < MAXN * MAXK; i++) c.logprior[i] = uniform(-1, 0.3);
    for (int i = 0; i < MAXN * MAXK; i++) c.energies[i] = uniform(0, 4);
    c.has_logw = 1;
    c.has_logprior = 1;
    c.nu = 3.5;
    c.delta = 0.9;
    c.tau = 0.8;
    return c;
}

static void test_kernels(void)
{
    for (int kernel = IE_KERNEL_GAUSSIAN; kernel <= IE_KERNEL_LEARNED; kernel++) {
        for (int f32 = 0; f32 < 2; f32++) {
            if (kernel <= IE_KERNEL_EXPONENTIAL) {
                /* Scale NULL and every shape, plain and (where defined) normalised. */
                for (int shape = 0; shape <= IE_SCALE_PER_DIMENSION; shape++) {
                    for (int normalized = 0; normalized < 2; normalized++) {
                        if (normalized && kernel == IE_KERNEL_LOGISTIC) continue;
                        Case c = random_case(kernel, 2);
                        c.has_scale = shape != 0;
                        c.shape = shape ? shape : IE_SCALE_SHARED;
                        c.normalized = normalized;
                        test_case(&c, f32);
                    }
                }
            } else if (kernel == IE_KERNEL_COSINE) {
                for (int d = 2; d <= 3; d++)
                    for (int normalized = 0; normalized < 2; normalized++) {
                        Case c = random_case(kernel, d);
                        c.normalized = normalized;
                        test_case(&c, f32);
                    }
            } else if (kernel == IE_KERNEL_MAHALANOBIS) {
                for (int normalized = 0; normalized < 2; normalized++) {
                    Case c = random_case(kernel, 3);
                    c.normalized = normalized;
                    test_case(&c, f32);
                }
            } else {
                for (int callback = 0; callback < 2; callback++) {
                    Case c = random_case(kernel, 2);
                    c.callback = callback;
                    test_case(&c, f32);
                }
            }
        }
    }
}

/* Hand-picked points: values worked out from KERNELS.md on paper. */
static void test_hand_values(void)
{
    /* Gaussian, one component per side of x = 0, s = 1, tau = 1: d = (x - mu)^2/2. */
    double x[2] = {0.0, 1.0}, mu[2] = {-1.0, 1.0}, E[4], L[2], R[4];
    ie_problem_f64 p;
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_GAUSSIAN;
    p.n = 2;
    p.k = 2;
    p.d = 1;
    p.x = x;
    p.mu = mu;
    int status = ie_forward_f64(&p, E, L, R);
    double wantE[4] = {0.5, 0.5, 2.0, 0.0};
    double wantL[2] = {-0.5 + log(2.0), log(exp(-2.0) + 1.0)};
    double wantR[4] = {0.5, 0.5, exp(-2.0) / (exp(-2.0) + 1), 1 / (exp(-2.0) + 1)};
    check(status == IE_OK, "hand values: status %d", status);
    check_close("hand gaussian energies", E, wantE, 4, 1e-15);
    check_close("hand gaussian logZ", L, wantL, 2, 1e-15);
    check_close("hand gaussian resp", R, wantR, 4, 1e-15);

    /* Normalised gaussian with s = 2, tau = 1: logZ is the log-density of the mixture. */
    double s = 2.0, w[2] = {log(0.25), log(0.75)};
    p.scale = &s;
    p.logw = w;
    p.normalized = 1;
    status = ie_forward_f64(&p, NULL, L, NULL);
    double pdf0 = 0.25 * exp(-0.125) / sqrt(8 * PI) + 0.75 * exp(-0.125) / sqrt(8 * PI);
    double pdf1 = 0.25 * exp(-0.5) / sqrt(8 * PI) + 0.75 / sqrt(8 * PI);
    double wantN[2] = {log(pdf0), log(pdf1)};
    check(status == IE_OK, "hand normalised: status %d", status);
    check_close("hand normalised gaussian logZ (mixture log-density)", L, wantN, 2, 1e-14);

    /* A masked component (logw = -inf) and a fully masked row (logprior = -inf). */
    double lw[2] = {-INFINITY, 0.0}, lp[4] = {-INFINITY, -INFINITY, 0.0, 0.0};
    double gx[2], gmu[2], gtau, glogw[2];
    ie_grads_f64 g;
    ie_grads_init_f64(&g);
    g.x = gx;
    g.mu = gmu;
    g.tau = &gtau;
    g.logw = glogw;
    p.scale = NULL;
    p.normalized = 0;
    p.logw = lw;
    p.logprior = lp;
    status = ie_gradients_f64(&p, NULL, NULL, E, L, R, &g);
    check(status == IE_OK, "masking: status %d (%s)", status, ie_last_error_message());
    check(isinf(L[0]) && L[0] < 0, "masked row: logZ = %g, expected -inf", L[0]);
    check(R[0] == 0 && R[1] == 0 && R[2] == 0 && R[3] == 1, "masked: resp %g %g %g %g", R[0], R[1], R[2], R[3]);
    check(fabs(L[1] - 0.0) < 1e-15, "masked component: logZ[1] = %g, expected 0", L[1]);
    check(gx[0] == 0 && gmu[0] == 0 && glogw[0] == 0, "masked row and component: zero gradients");
    /* Row 1 only, component 1: d/dx = -(x - mu)/tau = 0, d/dtau = d/tau^2 = 0, d/dlogw = r = 1. */
    check(gx[1] == 0 && gtau == 0 && glogw[1] == 1, "masked: gx[1]=%g gtau=%g glogw[1]=%g", gx[1], gtau, glogw[1]);
}

/* Activations against tanh((d(z; -m) - d(z; +m)) / (2 tau)) and its central difference. */
static double reference_activation(int kernel, double z, double m, double s, double nu, double delta, double tau)
{
    double t = (rho(kernel, (z + m) / s, nu, delta) - rho(kernel, (z - m) / s, nu, delta)) / (2 * tau);
    return tanh(t);
}

static void test_activations(void)
{
    const double z[6] = {-3.0, -1.2, -0.3, 0.25, 0.9, 2.7};
    const double m = 0.8, s = 1.3, nu = 2.5, delta = 0.7, tau = 0.9;
    for (int kernel = IE_KERNEL_GAUSSIAN; kernel <= IE_KERNEL_EXPONENTIAL; kernel++) {
        for (int f32 = 0; f32 < 2; f32++) {
            double act[6], dact[6], want[6], dwant[6];
            int status;
            if (!f32) {
                status = ie_activation_f64(kernel, 6, z, m, s, nu, delta, tau, act, dact);
            } else {
                float zf[6], a[6], da[6];
                to_f32(zf, z, 6);
                status = ie_activation_f32(kernel, 6, zf, (float)m, (float)s, (float)nu, (float)delta, (float)tau,
                                           a, da);
                to_f64(act, a, 6);
                to_f64(dact, da, 6);
            }
            for (int i = 0; i < 6; i++) {
                double zi = f32 ? (float)z[i] : z[i], mm = f32 ? (float)m : m, ss = f32 ? (float)s : s;
                double nn = f32 ? (float)nu : nu, dd = f32 ? (float)delta : delta, tt = f32 ? (float)tau : tau;
                want[i] = reference_activation(kernel, zi, mm, ss, nn, dd, tt);
                double h = 1e-6;
                dwant[i] = (reference_activation(kernel, zi + h, mm, ss, nn, dd, tt)
                            - reference_activation(kernel, zi - h, mm, ss, nn, dd, tt)) / (2 * h);
            }
            char what[96];
            check(status == IE_OK, "activation %s: status %d (%s)", kernel_names[kernel], status,
                  ie_last_error_message());
            snprintf(what, sizeof what, "activation %s %s: act", kernel_names[kernel], f32 ? "f32" : "f64");
            check_close(what, act, want, 6, f32 ? TOL_F32 : TOL_F64);
            snprintf(what, sizeof what, "activation %s %s: dact", kernel_names[kernel], f32 ? "f32" : "f64");
            check_close(what, dact, dwant, 6, f32 ? TOL_F32 : TOL_F64_GRAD);
        }
    }
    /* Saturation: gaussian t = m z/(s^2 tau) = 300; act' = 4 e^(-2t)/(1 + e^(-2t))^2 t' keeps its
     * relative accuracy where 1 - act^2 would be 0. */
    double zz = 3.0, a, da;
    int status = ie_activation_f64(IE_KERNEL_GAUSSIAN, 1, &zz, 1.0, 1.0, 0, 0, 0.01, &a, &da);
    double t = 300.0, want = 4 * exp(-2 * t) / ((1 + exp(-2 * t)) * (1 + exp(-2 * t))) * 100.0;
    check(status == IE_OK && a == 1.0 && fabs(da - want) <= 1e-12 * want,
          "saturated activation: act %.17g dact %.17g, expected 1 and %.17g", a, da, want);
}

/* ------------------------------------------------------------------ status tests */

#define POISON 0xA5
#define BIG (MAXN * MAXK * MAXD * 4)

/* Every output a call may write, poisoned before the call and compared after it. */
typedef struct {
    double E[BIG], L[BIG], R[BIG];
    double gx[BIG], gmu[BIG], gscale[BIG], gnu[BIG], gdelta[BIG], gchol[BIG], glogw[BIG], glogprior[BIG],
        gtau[BIG], genergies[BIG], c[BIG], sr[BIG], srx[BIG], srxx[BIG], act[BIG], dact[BIG];
} Outputs;

static Outputs outputs, pristine;

static void poison(void)
{
    memset(&outputs, POISON, sizeof outputs);
    memset(&pristine, POISON, sizeof pristine);
}

static void bind_grads(ie_grads_f64 *g)
{
    ie_grads_init_f64(g);
    g->x = outputs.gx;
    g->mu = outputs.gmu;
    g->scale = outputs.gscale;
    g->nu = outputs.gnu;
    g->delta = outputs.gdelta;
    g->chol = outputs.gchol;
    g->logw = outputs.glogw;
    g->logprior = outputs.glogprior;
    g->tau = outputs.gtau;
    g->energies = outputs.genergies;
}

/* One expected failure: the status, a message naming `needle`, and every output untouched. */
static void expect_error(const char *what, int status, int want, const char *needle)
{
    const char *message = ie_last_error_message();
    check(status == want, "%s: status %d (%s), expected %d (%s); message \"%s\"", what, status,
          ie_status_string((ie_status)status), want, ie_status_string((ie_status)want), message);
    check(message != NULL && strstr(message, needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what,
          message ? message : "(null)", needle);
    check(memcmp(&outputs, &pristine, sizeof outputs) == 0, "%s: an output was written on error", what);
}

/* A valid gaussian problem (per-dimension scales) that each test then breaks in one way. */
static Case base;

static int run_gradients(const ie_problem_f64 *p, const double *gL, const double *gR)
{
    ie_grads_f64 g;
    bind_grads(&g);
    return ie_gradients_f64(p, gL, gR, outputs.E, outputs.L, outputs.R, &g);
}

/* The same broken problem through forward, gradients and stats. */
static void expect_problem_error(const char *what, const ie_problem_f64 *p, int want, const char *needle)
{
    char name[160];
    poison();
    snprintf(name, sizeof name, "%s (ie_forward_f64)", what);
    expect_error(name, ie_forward_f64(p, outputs.E, outputs.L, outputs.R), want, needle);
    snprintf(name, sizeof name, "%s (ie_gradients_f64)", what);
    expect_error(name, run_gradients(p, NULL, NULL), want, needle);
    snprintf(name, sizeof name, "%s (ie_stats_f64)", what);
    expect_error(name, ie_stats_f64(p, NULL, outputs.sr, outputs.srx, outputs.srxx), want, needle);
}

static int failing_callback(void *user, const double *x, int64_t rows, int64_t d, double *out)
{
    (void)user;
    (void)x;
    (void)d;
    for (int64_t i = 0; i < rows; i++) out[i] = 1.0;
    return 3;
}

static int nan_callback(void *user, const double *x, int64_t rows, int64_t d, double *out)
{
    const int64_t *k = user;
    (void)x;
    (void)d;
    for (int64_t i = 0; i < rows * *k; i++) out[i] = i == 1 ? NAN : 0.5;
    return 0;
}

/* Succeeds on the first rows, fails on the block holding the last row. */
typedef struct {
    int64_t n, k, seen;
} LateFailure;

static int late_failing_callback(void *user, const double *x, int64_t rows, int64_t d, double *out)
{
    LateFailure *state = user;
    (void)x;
    (void)d;
    for (int64_t i = 0; i < rows * state->k; i++) out[i] = 0.25;
    state->seen += rows;
    return state->seen >= state->n ? 42 : 0;
}

static void test_statuses(void)
{
    ie_problem_f64 p;
    char name[128];

    /* Status names: static, never NULL, stable. */
    static const char *names[] = {"IE_OK", "IE_ERR_NULL_POINTER", "IE_ERR_BAD_SIZE", "IE_ERR_BAD_PARAMETER",
                                  "IE_ERR_NONFINITE_INPUT", "IE_ERR_UNSUPPORTED", "IE_ERR_CALLBACK",
                                  "IE_ERR_OUT_OF_MEMORY", "IE_ERR_OVERLAP", "IE_ERR_BAD_ENUM",
                                  "IE_ERR_BAD_STRUCT", "IE_ERR_DID_NOT_CONVERGE"};
    for (int s = 0; s <= IE_ERR_DID_NOT_CONVERGE; s++) {
        const char *text = ie_status_string((ie_status)s);
        size_t len = strlen(names[s]);
        check(text != NULL && strncmp(text, names[s], len) == 0 && text[len] == ':',
              "ie_status_string(%d) = \"%s\", expected \"%s: ...\"", s, text ? text : "(null)", names[s]);
        check(ie_status_string((ie_status)s) == text, "ie_status_string(%d) is not static storage", s);
    }
    check(strcmp(ie_status_string((ie_status)12), "unknown status") == 0
              && strcmp(ie_status_string((ie_status)-1), "unknown status") == 0,
          "ie_status_string of unknown values");

    /* Initialisers: every field of the header's defaults, whatever the memory held before. */
    memset(&p, 0xFF, sizeof p);
    check(ie_problem_init_f64(&p) == IE_OK && p.struct_size == sizeof p && p.kernel == IE_KERNEL_GAUSSIAN
              && p.scale_shape == IE_SCALE_SHARED && p.n == 0 && p.k == 0 && p.d == 0 && !p.x && !p.mu
              && !p.scale && !p.chol && !p.logw && !p.logprior && !p.energies && !p.energy_fn
              && !p.energy_user && p.nu == 0 && p.delta == 0 && p.tau == 1 && p.normalized == 0,
          "ie_problem_init_f64 defaults");
    ie_problem_f32 p32;
    memset(&p32, 0xFF, sizeof p32);
    check(ie_problem_init_f32(&p32) == IE_OK && p32.struct_size == sizeof p32 && p32.kernel == 1
              && p32.scale_shape == 1 && p32.n == 0 && !p32.x && !p32.energies && !p32.energy_fn
              && !p32.energy_user && p32.nu == 0 && p32.delta == 0 && p32.tau == 1 && p32.normalized == 0,
          "ie_problem_init_f32 defaults");
    ie_grads_f64 g64;
    ie_grads_f32 g32;
    memset(&g64, 0xFF, sizeof g64);
    memset(&g32, 0xFF, sizeof g32);
    check(ie_grads_init_f64(&g64) == IE_OK && g64.struct_size == sizeof g64 && !g64.x && !g64.mu && !g64.scale
              && !g64.nu && !g64.delta && !g64.chol && !g64.logw && !g64.logprior && !g64.tau && !g64.energies,
          "ie_grads_init_f64 defaults");
    check(ie_grads_init_f32(&g32) == IE_OK && g32.struct_size == sizeof g32 && !g32.x && !g32.energies,
          "ie_grads_init_f32 defaults");
    poison();
    expect_error("ie_problem_init_f64(NULL)", ie_problem_init_f64(NULL), IE_ERR_NULL_POINTER, "problem");
    expect_error("ie_problem_init_f32(NULL)", ie_problem_init_f32(NULL), IE_ERR_NULL_POINTER, "problem");
    expect_error("ie_grads_init_f64(NULL)", ie_grads_init_f64(NULL), IE_ERR_NULL_POINTER, "grads");
    expect_error("ie_grads_init_f32(NULL)", ie_grads_init_f32(NULL), IE_ERR_NULL_POINTER, "grads");

    base = random_case(IE_KERNEL_GAUSSIAN, 2);
    base.has_scale = 1;
    base.shape = IE_SCALE_PER_DIMENSION;

    /* A valid call succeeds and clears the last error. */
    fill_problem_f64(&p, &base);
    ie_forward_f64(NULL, NULL, NULL, NULL);
    check(ie_forward_f64(&p, outputs.E, outputs.L, outputs.R) == IE_OK && strcmp(ie_last_error_message(), "") == 0,
          "a successful call leaves ie_last_error_message() = \"\"");

    /* IE_ERR_NULL_POINTER */
    poison();
    expect_error("problem NULL (forward)", ie_forward_f64(NULL, outputs.E, outputs.L, outputs.R),
                 IE_ERR_NULL_POINTER, "problem");
    expect_error("problem NULL (gradients)", run_gradients(NULL, NULL, NULL), IE_ERR_NULL_POINTER, "problem");
    expect_error("problem NULL (stats)", ie_stats_f64(NULL, NULL, outputs.sr, NULL, NULL), IE_ERR_NULL_POINTER,
                 "problem");
    expect_error("problem NULL (log_normalizer)", ie_log_normalizer_f64(NULL, outputs.c), IE_ERR_NULL_POINTER,
                 "problem");
    fill_problem_f64(&p, &base);
    p.x = NULL;
    expect_problem_error("x NULL", &p, IE_ERR_NULL_POINTER, "x");
    fill_problem_f64(&p, &base);
    p.mu = NULL;
    expect_problem_error("mu NULL", &p, IE_ERR_NULL_POINTER, "mu");
    Case maha = random_case(IE_KERNEL_MAHALANOBIS, 2);
    fill_problem_f64(&p, &maha);
    p.chol = NULL;
    expect_problem_error("chol NULL", &p, IE_ERR_NULL_POINTER, "chol");
    Case learned = random_case(IE_KERNEL_LEARNED, 2);
    fill_problem_f64(&p, &learned);
    p.energies = NULL;
    expect_problem_error("learned energies and energy_fn NULL", &p, IE_ERR_NULL_POINTER, "energies");
    fill_problem_f64(&p, &learned);
    poison();
    expect_error("learned stats of x with x NULL", ie_stats_f64(&p, NULL, outputs.sr, outputs.srx, NULL),
                 IE_ERR_NULL_POINTER, "x");
    fill_problem_f64(&p, &base);
    expect_error("log_normalizer c NULL", ie_log_normalizer_f64(&p, NULL), IE_ERR_NULL_POINTER, "c");
    expect_error("activation z NULL", ie_activation_f64(1, 4, NULL, 1, 1, 0, 0, 1, outputs.act, outputs.dact),
                 IE_ERR_NULL_POINTER, "z");

    /* IE_ERR_BAD_SIZE, including products that overflow (checked before anything is read). */
    fill_problem_f64(&p, &base);
    p.n = 0;
    expect_problem_error("n = 0", &p, IE_ERR_BAD_SIZE, "n");
    fill_problem_f64(&p, &base);
    p.k = -3;
    expect_problem_error("k = -3", &p, IE_ERR_BAD_SIZE, "k");
    fill_problem_f64(&p, &base);
    p.d = 0;
    expect_problem_error("d = 0", &p, IE_ERR_BAD_SIZE, "d");
    fill_problem_f64(&p, &base);
    p.n = (int64_t)1 << 40;
    p.k = (int64_t)1 << 30;
    expect_problem_error("n * k overflows", &p, IE_ERR_BAD_SIZE, "n * k");
    fill_problem_f64(&p, &base);
    p.k = (int64_t)1 << 32;
    p.d = (int64_t)1 << 31;
    expect_problem_error("k * d overflows", &p, IE_ERR_BAD_SIZE, "k * d");
    fill_problem_f64(&p, &base);
    p.d = INT64_MAX;
    expect_problem_error("d = INT64_MAX", &p, IE_ERR_BAD_SIZE, "d");
    fill_problem_f64(&p, &maha);
    p.k = 1;
    p.d = (int64_t)1 << 31;
    p.n = 1;
    expect_problem_error("mahalanobis k * d * d overflows", &p, IE_ERR_BAD_SIZE, "k * d * d");
    poison();
    expect_error("activation n = 0", ie_activation_f64(1, 0, base.x, 1, 1, 0, 0, 1, outputs.act, outputs.dact),
                 IE_ERR_BAD_SIZE, "n");
    expect_error("activation n = -5", ie_activation_f64(1, -5, base.x, 1, 1, 0, 0, 1, outputs.act, NULL),
                 IE_ERR_BAD_SIZE, "n");
    int threads = ie_get_num_threads();
    expect_error("ie_set_num_threads(-1)", ie_set_num_threads(-1), IE_ERR_BAD_SIZE, "n");
    check(ie_get_num_threads() == threads, "a rejected thread count changes nothing");

    /* IE_ERR_BAD_PARAMETER */
    fill_problem_f64(&p, &base);
    double bad_scale[MAXK * MAXD];
    memcpy(bad_scale, base.scale, sizeof bad_scale);
    bad_scale[3] = -1.0;
    p.scale = bad_scale;
    expect_problem_error("scale[3] < 0", &p, IE_ERR_BAD_PARAMETER, "scale[3]");
    bad_scale[3] = NAN;
    expect_problem_error("scale[3] NaN", &p, IE_ERR_BAD_PARAMETER, "scale[3]");
    fill_problem_f64(&p, &base);
    p.tau = 0;
    expect_problem_error("tau = 0", &p, IE_ERR_BAD_PARAMETER, "tau");
    p.tau = INFINITY;
    expect_problem_error("tau = inf", &p, IE_ERR_BAD_PARAMETER, "tau");
    Case student = random_case(IE_KERNEL_STUDENT_T, 2);
    fill_problem_f64(&p, &student);
    p.nu = -1;
    expect_problem_error("student_t nu < 0", &p, IE_ERR_BAD_PARAMETER, "nu");
    Case huber = random_case(IE_KERNEL_HUBER, 2);
    fill_problem_f64(&p, &huber);
    p.delta = 0;
    expect_problem_error("huber delta = 0", &p, IE_ERR_BAD_PARAMETER, "delta");
    Case bad_maha = maha;
    bad_maha.chol[(1 * 2 + 1) * 2 + 1] = 0; /* component 1, diagonal entry 1 */
    fill_problem_f64(&p, &bad_maha);
    expect_problem_error("chol diagonal 0", &p, IE_ERR_BAD_PARAMETER, "chol[1, 1, 1]");
    fill_problem_f64(&p, &base);
    double weights[MAXN] = {1, 1, -0.5, 1, 1, 1};
    poison();
    expect_error("stats weights[2] < 0", ie_stats_f64(&p, weights, outputs.sr, outputs.srx, outputs.srxx),
                 IE_ERR_BAD_PARAMETER, "weights[2]");
    expect_error("activation scale = 0", ie_activation_f64(1, 2, base.x, 1, 0, 0, 0, 1, outputs.act, outputs.dact),
                 IE_ERR_BAD_PARAMETER, "scale");
    expect_error("activation tau < 0", ie_activation_f64(1, 2, base.x, 1, 1, 0, 0, -1, outputs.act, outputs.dact),
                 IE_ERR_BAD_PARAMETER, "tau");

    /* IE_ERR_NONFINITE_INPUT */
    Case nonfinite = base;
    nonfinite.x[2 * 2 + 1] = NAN;
    fill_problem_f64(&p, &nonfinite);
    expect_problem_error("x[2, 1] NaN", &p, IE_ERR_NONFINITE_INPUT, "x[2, 1]");
    nonfinite = base;
    nonfinite.mu[1] = INFINITY;
    fill_problem_f64(&p, &nonfinite);
    expect_problem_error("mu[0, 1] inf", &p, IE_ERR_NONFINITE_INPUT, "mu[0, 1]");
    nonfinite = base;
    nonfinite.logprior[4] = NAN;
    fill_problem_f64(&p, &nonfinite);
    expect_problem_error("logprior NaN", &p, IE_ERR_NONFINITE_INPUT, "logprior[1, 1]");
    nonfinite = learned;
    nonfinite.energies[5] = INFINITY;
    fill_problem_f64(&p, &nonfinite);
    poison();
    expect_error("learned energies[1, 2] inf", ie_forward_f64(&p, outputs.E, outputs.L, outputs.R),
                 IE_ERR_NONFINITE_INPUT, "energies[1, 2]");
    fill_problem_f64(&p, &base);
    double gL[MAXN] = {1, 1, 1, NAN, 1, 1};
    expect_error("gL[3] NaN", run_gradients(&p, gL, NULL), IE_ERR_NONFINITE_INPUT, "gL[3]");
    double z[2] = {0.5, NAN};
    expect_error("activation z[1] NaN", ie_activation_f64(1, 2, z, 1, 1, 0, 0, 1, outputs.act, outputs.dact),
                 IE_ERR_NONFINITE_INPUT, "z[1]");

    /* IE_ERR_UNSUPPORTED */
    Case logistic = random_case(IE_KERNEL_LOGISTIC, 2);
    logistic.normalized = 1;
    fill_problem_f64(&p, &logistic);
    expect_problem_error("normalised logistic", &p, IE_ERR_UNSUPPORTED, "logistic");
    expect_error("log_normalizer of logistic", ie_log_normalizer_f64(&p, outputs.c), IE_ERR_UNSUPPORTED,
                 "logistic");
    Case heavy = student;
    heavy.normalized = 1;
    heavy.tau = 2.5;
    fill_problem_f64(&p, &heavy);
    expect_problem_error("normalised student_t with tau >= 2", &p, IE_ERR_UNSUPPORTED, "tau");
    Case learned_normalized = learned;
    learned_normalized.normalized = 1;
    fill_problem_f64(&p, &learned_normalized);
    poison();
    expect_error("normalised learned", ie_forward_f64(&p, outputs.E, outputs.L, outputs.R), IE_ERR_UNSUPPORTED,
                 "learned");
    expect_error("log_normalizer of learned", ie_log_normalizer_f64(&p, outputs.c), IE_ERR_UNSUPPORTED, "learned");
    expect_error("activation of cosine", ie_activation_f64(8, 2, base.x, 1, 1, 0, 0, 1, outputs.act, outputs.dact),
                 IE_ERR_UNSUPPORTED, "cosine");

    /* IE_ERR_CALLBACK: a non-zero return, a NaN, and a failure after earlier blocks succeeded. */
    fill_problem_f64(&p, &learned);
    p.energies = NULL;
    p.energy_fn = failing_callback;
    poison();
    expect_error("energy_fn returns 3", run_gradients(&p, NULL, NULL), IE_ERR_CALLBACK, "energy_fn returned 3");
    int64_t k = p.k;
    p.energy_fn = nan_callback;
    p.energy_user = &k;
    expect_error("energy_fn produces NaN", ie_forward_f64(&p, outputs.E, outputs.L, outputs.R), IE_ERR_CALLBACK,
                 "NaN");
    {
        int64_t n = 3000;
        double *big = malloc(sizeof(double) * (size_t)(n * 3) * 2), *keep = big + n * 3;
        LateFailure state = {n, 3, 0};
        memset(big, POISON, sizeof(double) * (size_t)(n * 3) * 2);
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_LEARNED;
        p.n = n;
        p.k = 3;
        p.energy_fn = late_failing_callback;
        p.energy_user = &state;
        int status = ie_forward_f64(&p, big, NULL, NULL);
        check(status == IE_ERR_CALLBACK && strstr(ie_last_error_message(), "returned 42") != NULL,
              "energy_fn failing on its last block: status %d (%s)", status, ie_last_error_message());
        check(state.seen == n && state.seen > 1024, "the late failure came after earlier blocks (%lld rows)",
              (long long)state.seen);
        check(memcmp(big, keep, sizeof(double) * (size_t)(n * 3)) == 0,
              "energy_fn failing late: energies output untouched");
        free(big);
    }

    /* IE_ERR_OUT_OF_MEMORY: 2^40 x 2^19 callback energies are valid sizes that cannot be allocated. */
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_LEARNED;
    p.n = (int64_t)1 << 40;
    p.k = (int64_t)1 << 19;
    p.energy_fn = failing_callback;
    poison();
    expect_error("callback energies too large to allocate", ie_forward_f64(&p, NULL, outputs.L, NULL),
                 IE_ERR_OUT_OF_MEMORY, "bytes");

    /* IE_ERR_OVERLAP */
    fill_problem_f64(&p, &base);
    poison();
    expect_error("resp overlaps energies", ie_forward_f64(&p, outputs.E, NULL, outputs.E + 3), IE_ERR_OVERLAP,
                 "resp");
    {
        double xs[MAXN * MAXD + MAXN];
        memcpy(xs, base.x, sizeof base.x);
        memset(xs + MAXN * MAXD, POISON, sizeof(double) * MAXN);
        double before[MAXN * MAXD + MAXN];
        memcpy(before, xs, sizeof xs);
        p.x = xs;
        int status = ie_forward_f64(&p, NULL, xs + 4, NULL); /* logZ over the end of x */
        check(status == IE_ERR_OVERLAP && strstr(ie_last_error_message(), "x") != NULL
                  && memcmp(xs, before, sizeof xs) == 0,
              "logZ overlapping input x: status %d (%s)", status, ie_last_error_message());
    }
    fill_problem_f64(&p, &base);
    {
        ie_grads_f64 g;
        bind_grads(&g);
        g.logw = outputs.gx + 1;
        int status = ie_gradients_f64(&p, NULL, NULL, NULL, NULL, NULL, &g);
        check(status == IE_ERR_OVERLAP, "grads->logw overlapping grads->x: status %d (%s)", status,
              ie_last_error_message());
    }

    /* IE_ERR_BAD_ENUM */
    fill_problem_f64(&p, &base);
    p.kernel = 0;
    expect_problem_error("kernel = 0", &p, IE_ERR_BAD_ENUM, "kernel = 0");
    p.kernel = 11;
    expect_problem_error("kernel = 11", &p, IE_ERR_BAD_ENUM, "kernel = 11");
    fill_problem_f64(&p, &base);
    p.scale_shape = 4;
    expect_problem_error("scale_shape = 4", &p, IE_ERR_BAD_ENUM, "scale_shape = 4");
    poison();
    expect_error("activation kernel = 77", ie_activation_f64(77, 2, base.x, 1, 1, 0, 0, 1, outputs.act, NULL),
                 IE_ERR_BAD_ENUM, "kernel = 77");

    /* IE_ERR_BAD_STRUCT */
    fill_problem_f64(&p, &base);
    p.struct_size = 0;
    expect_problem_error("problem struct_size = 0", &p, IE_ERR_BAD_STRUCT, "struct_size");
    p.struct_size = sizeof p + 8;
    expect_problem_error("problem struct_size too large", &p, IE_ERR_BAD_STRUCT, "struct_size");
    fill_problem_f64(&p, &base);
    p.struct_size = sizeof(ie_problem_f32); /* the other precision's struct */
    expect_problem_error("ie_problem_f32 size passed to _f64", &p, IE_ERR_BAD_STRUCT, "ie_problem_init_f64");
    fill_problem_f64(&p, &base);
    {
        ie_grads_f64 g;
        bind_grads(&g);
        g.struct_size = sizeof g - 8;
        poison();
        expect_error("grads struct_size", ie_gradients_f64(&p, NULL, NULL, outputs.E, outputs.L, outputs.R, &g),
                     IE_ERR_BAD_STRUCT, "grads->struct_size");
    }

    /* IE_ERR_DID_NOT_CONVERGE: a fit stopped by max_iter; its result is still written. */
    {
        double data[40], fit_mu[4];
        for (int i = 0; i < 20; i++) {
            data[2 * i] = (i % 2 ? 3.0 : -3.0) + uniform(-1, 1);
            data[2 * i + 1] = uniform(-1, 1);
        }
        ie_fit_options_f64 options;
        ie_fit_result_f64 result;
        ie_fit_options_init_f64(&options);
        ie_fit_result_init_f64(&result);
        options.k = 2;
        options.max_iter = 1;
        options.tol = 0;
        options.init = IE_INIT_RANDOM;
        memset(fit_mu, POISON, sizeof fit_mu);
        result.mu = fit_mu;
        double poisoned;
        memset(&poisoned, POISON, sizeof poisoned);
        int status = ie_fit_f64(&options, 20, 2, data, NULL, &result);
        int written = 1;
        for (int i = 0; i < 4; i++)
            written = written && memcmp(&fit_mu[i], &poisoned, sizeof poisoned) != 0 && fabs(fit_mu[i]) < 5;
        check(status == IE_ERR_DID_NOT_CONVERGE && strstr(ie_last_error_message(), "max_iter") != NULL
                  && result.n_iter == 1 && result.converged == 0 && written,
              "fit stopped by max_iter: status %d (%s), n_iter %lld", status, ie_last_error_message(),
              (long long)result.n_iter);
    }

    /* The _f32 entry points check the same way. */
    {
        ie_problem_f32 q;
        static CaseF32 f;
        float out[MAXN * MAXK];
        fill_problem_f32(&q, &f, &base);
        q.tau = -1;
        memset(out, POISON, sizeof out);
        unsigned char before[sizeof out];
        memcpy(before, out, sizeof out);
        int status = ie_forward_f32(&q, out, NULL, NULL);
        check(status == IE_ERR_BAD_PARAMETER && strstr(ie_last_error_message(), "tau") != NULL
                  && memcmp(out, before, sizeof out) == 0,
              "ie_forward_f32 tau < 0: status %d (%s)", status, ie_last_error_message());
        fill_problem_f32(&q, &f, &base);
        q.struct_size = sizeof(ie_problem_f64);
        status = ie_forward_f32(&q, out, NULL, NULL);
        check(status == IE_ERR_BAD_STRUCT && strstr(ie_last_error_message(), "ie_problem_init_f32") != NULL,
              "ie_forward_f32 with the f64 struct size: status %d (%s)", status, ie_last_error_message());
    }
    snprintf(name, sizeof name, "status checks");
    (void)name;
}

/* ---------------------------------------------------- threads and determinism */

static void *error_on_other_thread(void *arg)
{
    char *seen = arg;
    ie_problem_f64 p;
    ie_problem_init_f64(&p); /* n = 0: a size error on this thread only */
    int status = ie_forward_f64(&p, NULL, NULL, NULL);
    snprintf(seen, 256, "%d|%s", status, ie_last_error_message());
    return NULL;
}

static void test_threads(void)
{
    /* The last error is per thread. */
    char seen[256] = "";
    ie_problem_f64 p;
    fill_problem_f64(&p, &base);
    double L[MAXN];
    check(ie_forward_f64(&p, NULL, L, NULL) == IE_OK, "forward before the thread test");
    pthread_t thread;
    pthread_create(&thread, NULL, error_on_other_thread, seen);
    pthread_join(thread, NULL);
    check(strncmp(seen, "2|n = 0", 7) == 0, "the other thread saw its own error: \"%s\"", seen);
    check(strcmp(ie_last_error_message(), "") == 0, "another thread's error leaves this thread's message \"\"");

    /* Bitwise identical results for 1, 2 and the default number of threads. */
    int64_t n = 20000, k = 4, d = 3;
    double *x = malloc(sizeof(double) * (size_t)(n * d)), mu[12], scale[12], logw[4];
    for (int64_t i = 0; i < n * d; i++) x[i] = uniform(-3, 3);
    for (int i = 0; i < 12; i++) mu[i] = uniform(-2, 2);
    for (int i = 0; i < 12; i++) scale[i] = uniform(0.5, 2);
    for (int i = 0; i < 4; i++) logw[i] = uniform(-1, 0);
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_STUDENT_T;
    p.scale_shape = IE_SCALE_PER_DIMENSION;
    p.n = n;
    p.k = k;
    p.d = d;
    p.x = x;
    p.mu = mu;
    p.scale = scale;
    p.logw = logw;
    p.nu = 4;
    p.normalized = 1;
    size_t per_run = (size_t)(n + 2 * n * k + n * d + 2 * k * d + k + 2);
    double *runs[3];
    int counts[3] = {1, 2, 0};
    for (int r = 0; r < 3; r++) {
        runs[r] = calloc(per_run, sizeof(double));
        double *o = runs[r];
        ie_grads_f64 g;
        ie_grads_init_f64(&g);
        g.x = o + n + 2 * n * k;
        g.mu = g.x + n * d;
        g.scale = g.mu + k * d;
        g.logw = g.scale + k * d;
        g.nu = g.logw + k;
        g.tau = g.nu + 1;
        check(ie_set_num_threads(counts[r]) == IE_OK, "ie_set_num_threads(%d)", counts[r]);
        check(counts[r] == 0 ? ie_get_num_threads() >= 1 : ie_get_num_threads() == counts[r],
              "ie_get_num_threads() = %d after setting %d", ie_get_num_threads(), counts[r]);
        int status = ie_gradients_f64(&p, NULL, NULL, o + n, o, o + n + n * k, &g);
        check(status == IE_OK, "threads=%d: status %d (%s)", counts[r], status, ie_last_error_message());
    }
    check(ie_set_num_threads(100000) == IE_OK && ie_get_num_threads() >= 1 && ie_get_num_threads() <= 256,
          "a huge thread count is clamped: %d", ie_get_num_threads());
    check(ie_set_num_threads(0) == IE_OK, "ie_set_num_threads(0) restores the default");
    check(memcmp(runs[0], runs[1], per_run * sizeof(double)) == 0, "1 and 2 threads give bitwise identical results");
    check(memcmp(runs[0], runs[2], per_run * sizeof(double)) == 0,
          "1 and the default thread count give bitwise identical results");
    for (int r = 0; r < 3; r++) free(runs[r]);
    free(x);
}

int main(void)
{
    check(ie_version() == IE_VERSION_NUMBER, "ie_version() = %u, header %d", ie_version(), IE_VERSION_NUMBER);
    test_hand_values();
    test_kernels();
    test_activations();
    test_statuses();
    test_threads();
    printf("test_implicitem: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
