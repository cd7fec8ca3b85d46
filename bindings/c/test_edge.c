/*
 * test_edge.c - bad inputs, numerical edge cases and determinism of the C ABI.
 *
 *  1. A sweep of bad inputs: every input array, every entry (row, column), every forbidden
 *     value (NaN, +inf, and -inf outside logw/logprior), through forward, gradients and stats,
 *     in both precisions; every bad scalar parameter; sizes whose products overflow. Each must
 *     give its status, a message naming the argument (with row, column and value), and leave
 *     every output, poisoned beforehand, byte for byte untouched.
 *  2. The numerical edge cases of docs/KERNELS.md, against values worked out here by hand.
 *  3. Determinism: every kernel and entry point gives bitwise the same outputs on 1, 2 and 8
 *     threads, on problems large enough to be split.
 *  4. A callback that fails on its second block of rows: a callback error naming the block.
 *
 * Prints one line per failure and a final count; exits non-zero on failure.
 */
#include <implicitem.h>

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int bad_cases;


/* Case-insensitive substring. */
static int contains(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* ------------------------------------------------------------ poisoned outputs */

#define N 3
#define K 2
#define D 2
#define POISON 0xA5

/* Every output of every entry point, as raw bytes large enough for float64. */
typedef struct {
    double E[N * K], L[N], R[N * K];
    double gx[N * D], gmu[K * D], gscale[K * D], gnu[1], gdelta[1], gchol[K * D * D], glogw[K],
        glogprior[N * K], gtau[1], gE[N * K];
    double sr[K], srx[K * D], srxx[K * D * D];
} Outputs;

static void poison(Outputs *o) { memset(o, POISON, sizeof *o); }

static int untouched(const Outputs *o)
{
    const unsigned char *b = (const unsigned char *)o;
    for (size_t i = 0; i < sizeof *o; i++)
        if (b[i] != POISON) return 0;
    return 1;
}

/* ------------------------------------------------------------ base problems */

typedef struct {
    double x[N * D], mu[K * D], scale[K * D], chol[K * D * D], logw[K], logprior[N * K], energies[N * K];
    double gL[N], gR[N * K], weights[N];
} Arrays64;

typedef struct {
    float x[N * D], mu[K * D], scale[K * D], chol[K * D * D], logw[K], logprior[N * K], energies[N * K];
    float gL[N], gR[N * K], weights[N];
} Arrays32;

static void fill_arrays(Arrays64 *a)
{
    for (int i = 0; i < N * D; i++) a->x[i] = 0.25 * i - 0.5;
    for (int i = 0; i < K * D; i++) a->mu[i] = 0.5 * i - 1.0;
    for (int i = 0; i < K * D; i++) a->scale[i] = 0.5 + 0.125 * i;
    for (int i = 0; i < K * D * D; i++) a->chol[i] = 0.1;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < D; i++) a->chol[(k * D + i) * D + i] = 1.0 + 0.25 * k;
    for (int k = 0; k < K; k++) a->logw[k] = -0.5 * k;
    for (int i = 0; i < N * K; i++) a->logprior[i] = 0.1 * i;
    for (int i = 0; i < N * K; i++) a->energies[i] = 0.3 * i;
    for (int i = 0; i < N; i++) a->gL[i] = 1.0 + i;
    for (int i = 0; i < N * K; i++) a->gR[i] = 0.2 * i - 0.3;
    for (int i = 0; i < N; i++) a->weights[i] = 1.0 + 0.5 * i;
}

static void to_f32(const Arrays64 *a, Arrays32 *b)
{
#define COPY(field) for (size_t i = 0; i < sizeof b->field / sizeof b->field[0]; i++) b->field[i] = (float)a->field[i]
    COPY(x); COPY(mu); COPY(scale); COPY(chol); COPY(logw); COPY(logprior); COPY(energies);
    COPY(gL); COPY(gR); COPY(weights);
#undef COPY
}

static void problem64(ie_problem_f64 *p, int kernel, Arrays64 *a)
{
    ie_problem_init_f64(p);
    p->kernel = kernel;
    p->scale_shape = IE_SCALE_PER_DIMENSION;
    p->n = N; p->k = K; p->d = D;
    p->x = a->x; p->mu = a->mu; p->scale = a->scale; p->chol = a->chol;
    p->logw = a->logw; p->logprior = a->logprior;
    p->energies = kernel == IE_KERNEL_LEARNED ? a->energies : NULL;
    p->nu = 3; p->delta = 1.5; p->tau = 0.75;
}

static void problem32(ie_problem_f32 *p, int kernel, Arrays32 *a)
{
    ie_problem_init_f32(p);
    p->kernel = kernel;
    p->scale_shape = IE_SCALE_PER_DIMENSION;
    p->n = N; p->k = K; p->d = D;
    p->x = a->x; p->mu = a->mu; p->scale = a->scale; p->chol = a->chol;
    p->logw = a->logw; p->logprior = a->logprior;
    p->energies = kernel == IE_KERNEL_LEARNED ? a->energies : NULL;
    p->nu = 3; p->delta = 1.5f; p->tau = 0.75f;
}

/* The three entry points with every output requested. */
enum { FORWARD, GRADIENTS, STATS, ENTRY_COUNT };
static const char *entry_names[] = {"forward", "gradients", "stats"};

static int call64(int entry, const ie_problem_f64 *p, const Arrays64 *a, Outputs *o)
{
    ie_grads_f64 g;
    switch (entry) {
    case FORWARD: return ie_forward_f64(p, o->E, o->L, o->R);
    case GRADIENTS:
        ie_grads_init_f64(&g);
        g.x = o->gx; g.mu = o->gmu; g.scale = o->gscale; g.nu = o->gnu; g.delta = o->gdelta;
        g.chol = o->gchol; g.logw = o->glogw; g.logprior = o->glogprior; g.tau = o->gtau; g.energies = o->gE;
        return ie_gradients_f64(p, a->gL, a->gR, o->E, o->L, o->R, &g);
    default: return ie_stats_f64(p, a->weights, o->sr, o->srx, p->kernel == IE_KERNEL_LEARNED ? NULL : o->srxx);
    }
}

static int call32(int entry, const ie_problem_f32 *p, const Arrays32 *a, Outputs *o)
{
    float *f = (float *)o; /* float views into the same poisoned storage */
    size_t at = 0;
#define TAKE(count) (at += (count), f + at - (count))
    float *E = TAKE(N * K), *L = TAKE(N), *R = TAKE(N * K);
    ie_grads_f32 g;
    ie_grads_init_f32(&g);
    g.x = TAKE(N * D); g.mu = TAKE(K * D); g.scale = TAKE(K * D); g.nu = TAKE(1); g.delta = TAKE(1);
    g.chol = TAKE(K * D * D); g.logw = TAKE(K); g.logprior = TAKE(N * K); g.tau = TAKE(1); g.energies = TAKE(N * K);
    float *sr = TAKE(K), *srx = TAKE(K * D), *srxx = TAKE(K * D * D);
#undef TAKE
    switch (entry) {
    case FORWARD: return ie_forward_f32(p, E, L, R);
    case GRADIENTS: return ie_gradients_f32(p, a->gL, a->gR, E, L, R, &g);
    default: return ie_stats_f32(p, a->weights, sr, srx, p->kernel == IE_KERNEL_LEARNED ? NULL : srxx);
    }
}

/* One bad call: the status, a message with every needle, nothing written. */
static void expect_rejected(const char *what, int status, int want, const Outputs *o, const char **needles)
{
    const char *message = ie_last_error_message();
    bad_cases++;
    int named = 1;
    for (int i = 0; needles[i]; i++) named = named && contains(message, needles[i]);
    check(status == want, "%s: status %d (%s), expected %d", what, status, message, want);
    check(named, "%s: message \"%s\" does not name the argument, row, column and value", what, message);
    check(untouched(o), "%s: an output was written although the call failed", what);
}

/* ------------------------------------------------------------ 1. bad inputs */

typedef struct {
    const char *name;
    int count, columns;  /* columns 0: a vector */
    int minus_inf_allowed;
    int kernel;          /* a kernel that reads it */
} ArraySpec;

static const ArraySpec array_specs[] = {
    {"x", N * D, D, 0, IE_KERNEL_GAUSSIAN},
    {"mu", K * D, D, 0, IE_KERNEL_LAPLACE},
    {"logw", K, 0, 1, IE_KERNEL_HUBER},
    {"logprior", N * K, K, 1, IE_KERNEL_STUDENT_T},
    {"energies", N * K, K, 0, IE_KERNEL_LEARNED},
    {"chol", K * D * D, 0, 0, IE_KERNEL_MAHALANOBIS},
    {"gL", N, 0, 0, IE_KERNEL_COSINE},
    {"gR", N * K, K, 0, IE_KERNEL_EXPONENTIAL},
};

static double *array64(Arrays64 *a, const char *name)
{
    if (!strcmp(name, "x")) return a->x;
    if (!strcmp(name, "mu")) return a->mu;
    if (!strcmp(name, "logw")) return a->logw;
    if (!strcmp(name, "logprior")) return a->logprior;
    if (!strcmp(name, "energies")) return a->energies;
    if (!strcmp(name, "chol")) return a->chol;
    if (!strcmp(name, "gL")) return a->gL;
    return a->gR;
}

static float *array32(Arrays32 *a, const char *name)
{
    if (!strcmp(name, "x")) return a->x;
    if (!strcmp(name, "mu")) return a->mu;
    if (!strcmp(name, "logw")) return a->logw;
    if (!strcmp(name, "logprior")) return a->logprior;
    if (!strcmp(name, "energies")) return a->energies;
    if (!strcmp(name, "chol")) return a->chol;
    if (!strcmp(name, "gL")) return a->gL;
    return a->gR;
}

static void test_nonfinite_sweep(void)
{
    const double values[] = {NAN, INFINITY, -INFINITY};
    const char *value_names[] = {"nan", "inf", "-inf"};
    for (size_t s = 0; s < sizeof array_specs / sizeof array_specs[0]; s++) {
        const ArraySpec *spec = &array_specs[s];
        int is_upstream = spec->name[0] == 'g';
        for (int v = 0; v < 3; v++) {
            if (values[v] == -INFINITY && spec->minus_inf_allowed) continue;
            for (int at = 0; at < spec->count; at++) {
                /* chol: only its lower triangle is read. */
                if (!strcmp(spec->name, "chol") && (at % D) > (at / D) % D) continue;
                for (int entry = 0; entry < ENTRY_COUNT; entry++) {
                    if (is_upstream && entry != GRADIENTS) continue;
                    for (int f32 = 0; f32 < 2; f32++) {
                        Arrays64 a;
                        Arrays32 b;
                        Outputs o;
                        fill_arrays(&a);
                        to_f32(&a, &b);
                        array64(&a, spec->name)[at] = values[v];
                        array32(&b, spec->name)[at] = (float)values[v];
                        poison(&o);
                        int status;
                        if (f32) {
                            ie_problem_f32 p;
                            problem32(&p, spec->kernel, &b);
                            status = call32(entry, &p, &b, &o);
                        } else {
                            ie_problem_f64 p;
                            problem64(&p, spec->kernel, &a);
                            status = call64(entry, &p, &a, &o);
                        }
                        char what[160], row[16], col[16];
                        int r = spec->columns ? at / spec->columns : at;
                        int c = spec->columns ? at % spec->columns : 0;
                        if (!strcmp(spec->name, "chol")) {
                            r = (at / D) % D;
                            c = at % D;
                        }
                        snprintf(row, sizeof row, "%d", r);
                        snprintf(col, sizeof col, "%d", c);
                        snprintf(what, sizeof what, "%s %s[%d] = %s (%s)", entry_names[entry], spec->name, at,
                                 value_names[v], f32 ? "f32" : "f64");
                        const char *needles[] = {spec->name, row, spec->columns || !strcmp(spec->name, "chol") ? col : "",
                                                 v == 0 ? "nan" : "inf", NULL};
                        expect_rejected(what, status, IE_ERR_NONFINITE_INPUT, &o, needles);
                    }
                }
            }
        }
    }
}

/* Scalar parameters and scales: <= 0 and non-finite are IE_ERR_BAD_PARAMETER naming them. */
static void test_bad_parameters(void)
{
    const double bad[] = {0.0, -0.0, -1.0, -1e-300, NAN, INFINITY, -INFINITY};
    const char *fields[] = {"tau", "nu", "delta", "delta", "scale", "chol"};
    const int kernels[] = {IE_KERNEL_GAUSSIAN, IE_KERNEL_STUDENT_T, IE_KERNEL_HUBER, IE_KERNEL_PSEUDO_HUBER,
                           IE_KERNEL_LOGISTIC, IE_KERNEL_MAHALANOBIS};
    for (int f = 0; f < 6; f++) {
        for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
            for (int entry = 0; entry < ENTRY_COUNT; entry++) {
                Arrays64 a;
                Outputs o;
                ie_problem_f64 p;
                fill_arrays(&a);
                problem64(&p, kernels[f], &a);
                int want = IE_ERR_BAD_PARAMETER;
                if (!strcmp(fields[f], "tau")) p.tau = bad[v];
                if (!strcmp(fields[f], "nu")) p.nu = bad[v];
                if (!strcmp(fields[f], "delta")) p.delta = bad[v];
                if (!strcmp(fields[f], "scale")) a.scale[3] = bad[v];
                if (!strcmp(fields[f], "chol")) {
                    a.chol[(1 * D + 1) * D + 1] = bad[v];
                    /* A non-finite diagonal is a non-finite input; a finite one <= 0 a bad parameter. */
                    if (!isfinite(bad[v])) want = IE_ERR_NONFINITE_INPUT;
                }
                poison(&o);
                int status = call64(entry, &p, &a, &o);
                char what[128];
                snprintf(what, sizeof what, "%s %s = %g (kernel %d)", entry_names[entry], fields[f], bad[v], kernels[f]);
                const char *needles[] = {fields[f], NULL};
                expect_rejected(what, status, want, &o, needles);
            }
        }
    }
    /* Activation scalars. */
    double z[N] = {0.5, -1, 2}, act[N], dact[N];
    for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
        const char *names[] = {"scale", "tau", "nu", "delta"};
        for (int which = 0; which < 4; which++) {
            memset(act, POISON, sizeof act);
            memset(dact, POISON, sizeof dact);
            double s = which == 0 ? bad[v] : 1, t = which == 1 ? bad[v] : 1;
            double nu = which == 2 ? bad[v] : 2, delta = which == 3 ? bad[v] : 1;
            int kernel = which == 2 ? IE_KERNEL_STUDENT_T : which == 3 ? IE_KERNEL_HUBER : IE_KERNEL_GAUSSIAN;
            int status = ie_activation_f64(kernel, N, z, 1.0, s, nu, delta, t, act, dact);
            Outputs o;
            poison(&o);
            memcpy(o.E, act, sizeof act);
            memcpy(o.R, dact, sizeof dact);
            char what[96];
            snprintf(what, sizeof what, "activation %s = %g", names[which], bad[v]);
            const char *needles[] = {names[which], NULL};
            expect_rejected(what, status, IE_ERR_BAD_PARAMETER, &o, needles);
        }
    }
}

/* Sizes: <= 0, too large for their bytes, and products that overflow 64 bits. */
static void test_bad_sizes(void)
{
    const int64_t big = (int64_t)1 << 32;
    /* The message names the size and its value, or says which product overflows. */
    struct { int64_t n, k, d; int kernel; const char *name, *value; } cases[] = {
        {0, K, D, IE_KERNEL_GAUSSIAN, "n", "0"},
        {-1, K, D, IE_KERNEL_GAUSSIAN, "n", "-1"},
        {INT64_MIN, K, D, IE_KERNEL_GAUSSIAN, "n", "-9223372036854775808"},
        {INT64_MAX, K, D, IE_KERNEL_GAUSSIAN, "n", "9223372036854775807"},
        {N, 0, D, IE_KERNEL_LAPLACE, "k", "0"},
        {N, -7, D, IE_KERNEL_LAPLACE, "k", "-7"},
        {N, INT64_MAX, D, IE_KERNEL_LAPLACE, "k", "9223372036854775807"},
        {N, K, 0, IE_KERNEL_COSINE, "d", "0"},
        {N, K, -3, IE_KERNEL_COSINE, "d", "-3"},
        {N, K, INT64_MAX, IE_KERNEL_COSINE, "d", "9223372036854775807"},
        {big, big, D, IE_KERNEL_GAUSSIAN, "overflow", "4294967296"},
        {big, K, big, IE_KERNEL_GAUSSIAN, "overflow", "4294967296"},
        {N, big, big, IE_KERNEL_STUDENT_T, "overflow", "4294967296"},
        {N, (int64_t)1 << 22, (int64_t)1 << 21, IE_KERNEL_MAHALANOBIS, "overflow", "2097152"},
        {big, big, D, IE_KERNEL_LEARNED, "overflow", "4294967296"},
        {(int64_t)1 << 61, 1, 1, IE_KERNEL_LEARNED, "n", "2305843009213693952"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int entry = 0; entry < ENTRY_COUNT; entry++) {
            for (int f32 = 0; f32 < 2; f32++) {
                Arrays64 a;
                Arrays32 b;
                Outputs o;
                fill_arrays(&a);
                to_f32(&a, &b);
                poison(&o);
                int status;
                if (f32) {
                    ie_problem_f32 p;
                    problem32(&p, cases[c].kernel, &b);
                    p.n = cases[c].n; p.k = cases[c].k; p.d = cases[c].d;
                    status = call32(entry, &p, &b, &o);
                } else {
                    ie_problem_f64 p;
                    problem64(&p, cases[c].kernel, &a);
                    p.n = cases[c].n; p.k = cases[c].k; p.d = cases[c].d;
                    status = call64(entry, &p, &a, &o);
                }
                char what[128];
                snprintf(what, sizeof what, "%s n=%lld k=%lld d=%lld kernel %d (%s)", entry_names[entry],
                         (long long)cases[c].n, (long long)cases[c].k, (long long)cases[c].d, cases[c].kernel,
                         f32 ? "f32" : "f64");
                const char *needles[] = {cases[c].name, cases[c].value, NULL};
                expect_rejected(what, status, IE_ERR_BAD_SIZE, &o, needles);
            }
        }
    }
}

/* NULL inputs a kernel needs, unknown enums, unsupported normalisation, bad struct sizes. */
static void test_bad_structure(void)
{
    struct { const char *what; int kernel; int want; const char *needle; } cases[] = {
        {"x NULL", IE_KERNEL_GAUSSIAN, IE_ERR_NULL_POINTER, "x"},
        {"mu NULL", IE_KERNEL_COSINE, IE_ERR_NULL_POINTER, "mu"},
        {"chol NULL", IE_KERNEL_MAHALANOBIS, IE_ERR_NULL_POINTER, "chol"},
        {"energies NULL", IE_KERNEL_LEARNED, IE_ERR_NULL_POINTER, "energ"},
        {"kernel 0", 0, IE_ERR_BAD_ENUM, "kernel"},
        {"kernel 11", 11, IE_ERR_BAD_ENUM, "kernel"},
        {"kernel -1", -1, IE_ERR_BAD_ENUM, "kernel"},
        {"scale_shape 0", IE_KERNEL_LAPLACE, IE_ERR_BAD_ENUM, "scale_shape"},
        {"scale_shape 4", IE_KERNEL_HUBER, IE_ERR_BAD_ENUM, "scale_shape"},
        {"normalised logistic", IE_KERNEL_LOGISTIC, IE_ERR_UNSUPPORTED, "logistic"},
        {"normalised learned", IE_KERNEL_LEARNED, IE_ERR_UNSUPPORTED, "learned"},
        {"normalised student_t, tau = 2", IE_KERNEL_STUDENT_T, IE_ERR_UNSUPPORTED, "tau"},
        {"struct_size + 8", IE_KERNEL_GAUSSIAN, IE_ERR_BAD_STRUCT, "struct_size"},
        {"struct_size 0", IE_KERNEL_GAUSSIAN, IE_ERR_BAD_STRUCT, "struct_size"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int entry = 0; entry < ENTRY_COUNT; entry++) {
            /* Statistics do not normalise: the unsupported combinations are forward/gradients only. */
            if (cases[c].want == IE_ERR_UNSUPPORTED && entry == STATS) continue;
            for (int f32 = 0; f32 < 2; f32++) {
                Arrays64 a;
                Arrays32 b;
                Outputs o;
                fill_arrays(&a);
                to_f32(&a, &b);
                poison(&o);
                ie_problem_f64 p;
                ie_problem_f32 q;
                problem64(&p, cases[c].kernel, &a);
                problem32(&q, cases[c].kernel, &b);
                const char *w = cases[c].what;
                if (!strcmp(w, "x NULL")) { p.x = NULL; q.x = NULL; }
                if (!strcmp(w, "mu NULL")) { p.mu = NULL; q.mu = NULL; }
                if (!strcmp(w, "chol NULL")) { p.chol = NULL; q.chol = NULL; }
                if (!strcmp(w, "energies NULL")) { p.energies = NULL; q.energies = NULL; }
                if (!strcmp(w, "scale_shape 0")) { p.scale_shape = 0; q.scale_shape = 0; }
                if (!strcmp(w, "scale_shape 4")) { p.scale_shape = 4; q.scale_shape = 4; }
                if (!strncmp(w, "normalised", 10)) { p.normalized = 1; q.normalized = 1; }
                if (cases[c].kernel == IE_KERNEL_STUDENT_T) { p.tau = 2; q.tau = 2; }
                if (!strcmp(w, "struct_size + 8")) { p.struct_size += 8; q.struct_size += 8; }
                if (!strcmp(w, "struct_size 0")) { p.struct_size = 0; q.struct_size = 0; }
                int status = f32 ? call32(entry, &q, &b, &o) : call64(entry, &p, &a, &o);
                char what[128];
                snprintf(what, sizeof what, "%s %s (%s)", entry_names[entry], w, f32 ? "f32" : "f64");
                const char *needles[] = {cases[c].needle, NULL};
                expect_rejected(what, status, cases[c].want, &o, needles);
            }
        }
    }
    /* Statistics with a negative or non-finite weight. */
    const double weights[] = {-1.0, -1e-300, NAN, INFINITY};
    for (size_t v = 0; v < sizeof weights / sizeof weights[0]; v++) {
        Arrays64 a;
        Outputs o;
        ie_problem_f64 p;
        fill_arrays(&a);
        a.weights[2] = weights[v];
        problem64(&p, IE_KERNEL_GAUSSIAN, &a);
        poison(&o);
        int status = call64(STATS, &p, &a, &o);
        char what[64];
        snprintf(what, sizeof what, "stats weights[2] = %g", weights[v]);
        const char *needles[] = {"weights", "2", NULL};
        expect_rejected(what, status, isfinite(weights[v]) ? IE_ERR_BAD_PARAMETER : IE_ERR_NONFINITE_INPUT, &o, needles);
    }
}

/* Overlaps of every output with an input, and of two outputs. */
static void test_overlaps(void)
{
    Arrays64 a;
    fill_arrays(&a);
    for (int which = 0; which < 6; which++) {
        ie_problem_f64 p;
        Outputs o;
        problem64(&p, IE_KERNEL_GAUSSIAN, &a);
        poison(&o);
        Arrays64 before = a;
        int status;
        const char *what;
        switch (which) {
        case 0: what = "energies = x"; status = ie_forward_f64(&p, (double *)a.x, o.L, o.R); break;
        case 1: what = "resp inside mu"; status = ie_forward_f64(&p, NULL, NULL, a.mu + 1); break;
        case 2: what = "logZ = logprior"; status = ie_forward_f64(&p, NULL, a.logprior, NULL); break;
        case 3: what = "logZ inside resp"; status = ie_forward_f64(&p, NULL, o.R + 2, o.R); break;
        case 4: {
            ie_grads_f64 g;
            ie_grads_init_f64(&g);
            g.x = o.gx;
            g.mu = o.gx + 1;
            what = "grad mu inside grad x";
            status = ie_gradients_f64(&p, NULL, NULL, NULL, NULL, NULL, &g);
            break;
        }
        default: what = "sum_r = weights"; status = ie_stats_f64(&p, a.weights, a.weights, NULL, NULL); break;
        }
        const char *needles[] = {"overlap", NULL};
        /* Cases 3 and 4 wrote into o itself on failure only if the check is missing. */
        expect_rejected(what, status, IE_ERR_OVERLAP, &o, needles);
        check(!memcmp(&before, &a, sizeof a), "%s: an input was modified", what);
    }
}

/* ------------------------------------------------------------ 2. numerical edges */

static int close_to(double got, double want, double rel)
{
    if (isinf(want)) return got == want;
    return fabs(got - want) <= rel * (fabs(want) + 1e-300) || got == want;
}

/* Forward + gradients of a small f64 problem, all outputs. */
typedef struct {
    double E[16], L[4], R[16], gx[16], gmu[16], gscale[16], gnu[1], gdelta[1], glogw[8], glogprior[16], gtau[1], gE[16];
} Result;

static int run(const ie_problem_f64 *p, Result *r)
{
    ie_grads_f64 g;
    ie_grads_init_f64(&g);
    g.x = r->gx; g.mu = r->gmu; g.scale = r->gscale; g.nu = r->gnu; g.delta = r->gdelta; g.logw = r->glogw;
    g.logprior = r->glogprior; g.tau = r->gtau; g.energies = r->gE;
    if (p->kernel == IE_KERNEL_LEARNED) g.x = g.mu = NULL;
    return ie_gradients_f64(p, NULL, NULL, r->E, r->L, r->R, &g);
}

static int all_finite(const double *v, int count)
{
    for (int i = 0; i < count; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static void test_numerical_edges(void)
{
    ie_problem_f64 p;
    Result r;

    /* A row where every logit is -inf: logZ = -inf, R row 0, zero gradients (the other row normal). */
    {
        double x[2] = {0.5, -1}, mu[2] = {0, 1}, logprior[4] = {-INFINITY, -INFINITY, 0, 0};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_GAUSSIAN; p.n = 2; p.k = 2; p.d = 1; p.x = x; p.mu = mu; p.logprior = logprior;
        check(run(&p, &r) == IE_OK, "masked row: call failed: %s", ie_last_error_message());
        check(r.L[0] == -INFINITY && r.R[0] == 0 && r.R[1] == 0, "masked row: logZ %g, R %g %g", r.L[0], r.R[0], r.R[1]);
        check(r.gx[0] == 0 && r.glogprior[0] == 0 && r.glogprior[1] == 0 && r.gE[0] == 0 && r.gE[1] == 0,
              "masked row: gradients %g %g %g", r.gx[0], r.glogprior[0], r.gE[0]);
        /* Row 1 alone: a = -(x-mu)^2/2 over mu = 0, 1 at x = -1: -0.5, -2. */
        double want = log(exp(-0.5) + exp(-2.0));
        check(close_to(r.L[1], want, 1e-14), "masked row: logZ[1] = %.17g, want %.17g", r.L[1], want);
        check(all_finite(r.gmu, 2) && all_finite(r.glogw, 2) && isfinite(r.gtau[0]), "masked row: NaN in parameter gradients");
    }
    /* logw = -inf: that component's responsibility is exactly 0, everywhere. */
    {
        double x[3] = {0, 5, -5}, mu[3] = {0, 5, -5}, logw[3] = {0, -INFINITY, 0};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_LAPLACE; p.n = 3; p.k = 3; p.d = 1; p.x = x; p.mu = mu; p.logw = logw;
        check(run(&p, &r) == IE_OK, "logw -inf: call failed");
        check(r.R[1] == 0 && r.R[4] == 0 && r.R[7] == 0, "logw -inf: R = %g %g %g", r.R[1], r.R[4], r.R[7]);
        check(r.glogw[1] == 0 && r.gmu[1] == 0, "logw -inf: masked component gradients %g %g", r.glogw[1], r.gmu[1]);
    }
    /* Huge logits (logw = 1e300) stay finite: logZ = 1e300 + log(sum of the rest), R as without them. */
    {
        double x[1] = {0}, mu[2] = {0, 1}, logw[2] = {1e300, 1e300};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_GAUSSIAN; p.n = 1; p.k = 2; p.d = 1; p.x = x; p.mu = mu; p.logw = logw;
        check(run(&p, &r) == IE_OK, "huge logits: call failed");
        /* The logits as doubles: 1e300 - 0.5 rounds to 1e300, so both are 1e300 and R is even. */
        volatile double a0 = 1e300 - 0.0, a1 = 1e300 - 0.5;
        double r0 = 1 / (1 + exp(a1 - a0));
        check(r.L[0] == 1e300 && close_to(r.R[0], r0, 1e-15) && close_to(r.R[1], 1 - r0, 1e-15),
              "huge logits: logZ %g R %g %g, want R %g", r.L[0], r.R[0], r.R[1], r0);
        /* Logits 1e10 apart from 1e300 down: one-hot. */
        logw[1] = 1e300 - 1e290;
        check(run(&p, &r) == IE_OK && r.R[0] == 1 && r.R[1] == 0 && r.L[0] == 1e300, "huge distinct logits: R %g %g",
              r.R[0], r.R[1]);
        check(all_finite(r.gx, 1) && all_finite(r.gmu, 2) && all_finite(r.glogw, 2), "huge logits: gradients not finite");
    }
    /* Tiny temperature (1e-300): R is one-hot on the nearest centre; everything finite. */
    {
        double x[1] = {0.1}, mu[2] = {0, 1};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_GAUSSIAN; p.n = 1; p.k = 2; p.d = 1; p.x = x; p.mu = mu; p.tau = 1e-300;
        check(run(&p, &r) == IE_OK, "tiny tau: call failed");
        /* logZ = -d_min/tau = -0.005/1e-300 = -5e297. */
        check(r.R[0] == 1 && r.R[1] == 0 && close_to(r.L[0], -0.005 / 1e-300, 1e-14),
              "tiny tau: R %g %g logZ %g", r.R[0], r.R[1], r.L[0]);
        check(all_finite(r.gx, 1) && all_finite(r.gmu, 2), "tiny tau: gradients not finite (%g)", r.gx[0]);
    }
    /* Exponential energies that overflow to +inf: all responsibility on the smallest energy.
     * d(x; mu) = e^|x - mu| with x = 1000: e^1000 (mu = 0) > e^999 (mu = 1) > e^998 (mu = 2). */
    {
        double x[1] = {1000}, mu[3] = {0, 1, 2};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_EXPONENTIAL; p.n = 1; p.k = 3; p.d = 1; p.x = x; p.mu = mu;
        int status = run(&p, &r);
        check(status == IE_OK, "exponential overflow: status %d (%s)", status, ie_last_error_message());
        check(r.R[0] == 0 && r.R[1] == 0 && r.R[2] == 1, "exponential overflow: R = %g %g %g", r.R[0], r.R[1], r.R[2]);
        check(!isnan(r.L[0]) && !isnan(r.gx[0]) && !isnan(r.gmu[2]), "exponential overflow: NaN (logZ %g, gx %g)", r.L[0], r.gx[0]);
    }
    /* Cosine with a zero input and a zero centre: c = 0, d = 1, zero gradient, no NaN. */
    {
        double x[4] = {0, 0, 1, 0}, mu[4] = {0, 0, 0, 1};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_COSINE; p.n = 2; p.k = 2; p.d = 2; p.x = x; p.mu = mu;
        check(run(&p, &r) == IE_OK, "cosine zero: call failed");
        check(r.E[0] == 1 && r.E[1] == 1 && r.E[2] == 1 && r.E[3] == 1, "cosine zero: E = %g %g %g %g", r.E[0], r.E[1], r.E[2], r.E[3]);
        check(r.gx[0] == 0 && r.gx[1] == 0 && r.gmu[0] == 0 && r.gmu[1] == 0, "cosine zero: gradients %g %g %g %g",
              r.gx[0], r.gx[1], r.gmu[0], r.gmu[1]);
        check(all_finite(r.gx, 4) && all_finite(r.gmu, 4), "cosine zero: NaN");
    }
    /* Huber exactly at |u| = delta and one ulp either side: value and slope continuous. */
    {
        double delta = 1.25;
        double us[3] = {nextafter(delta, 0), delta, nextafter(delta, 10)};
        double E[3], slope[3];
        for (int i = 0; i < 3; i++) {
            double x[1] = {us[i]}, mu[1] = {0};
            ie_problem_init_f64(&p);
            p.kernel = IE_KERNEL_HUBER; p.n = 1; p.k = 1; p.d = 1; p.x = x; p.mu = mu; p.delta = delta;
            check(run(&p, &r) == IE_OK, "huber edge: call failed");
            E[i] = r.E[0];
            slope[i] = -r.gx[0]; /* objective = -d (K = 1, tau = 1): d/dx = -rho'(u) */
        }
        /* rho(delta) = delta^2/2 from both sides; rho' = clip(u) = delta. */
        check(close_to(E[1], delta * delta / 2, 1e-15), "huber at delta: %.17g", E[1]);
        check(fabs(E[0] - E[1]) <= 4 * DBL_EPSILON * delta * delta && fabs(E[2] - E[1]) <= 4 * DBL_EPSILON * delta * delta,
              "huber value jumps at delta: %.17g %.17g %.17g", E[0], E[1], E[2]);
        check(fabs(slope[0] - delta) <= 4 * DBL_EPSILON * delta && slope[1] == delta && slope[2] == delta,
              "huber slope jumps at delta: %.17g %.17g %.17g", slope[0], slope[1], slope[2]);
    }
    /* Softplus (logistic) at u = +-1000: rho = 0 and 1000; rho' = -0 and -1 (KERNELS.md). */
    {
        double x[2] = {1000, -1000}, mu[1] = {0};
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_LOGISTIC; p.n = 2; p.k = 1; p.d = 1; p.x = x; p.mu = mu;
        check(run(&p, &r) == IE_OK, "softplus: call failed");
        check(r.E[0] == 0 && r.E[1] == 1000, "softplus: E = %.17g %.17g", r.E[0], r.E[1]);
        /* d objective/dx = -rho'(u) = 1/(1 + e^u): 0 and 1. */
        check(fabs(r.gx[0]) <= 1e-300 && r.gx[1] == 1, "softplus: gx = %.17g %.17g", r.gx[0], r.gx[1]);
        check(all_finite(r.gmu, 1) && isfinite(r.gscale[0]), "softplus: gradients not finite");
    }
    /* Student-t with nu = 1e-300 and 1e300 at u = 1: rho = log(1 + 1/nu). */
    {
        double nus[2] = {1e-300, 1e300};
        for (int i = 0; i < 2; i++) {
            double x[1] = {1}, mu[1] = {0};
            ie_problem_init_f64(&p);
            p.kernel = IE_KERNEL_STUDENT_T; p.n = 1; p.k = 1; p.d = 1; p.x = x; p.mu = mu; p.nu = nus[i];
            check(run(&p, &r) == IE_OK, "student_t nu = %g: call failed", nus[i]);
            double want = i == 0 ? log(1e300) : 1e-300;   /* log(1 + 1e300) rounds to log(1e300); log1p(1e-300) = 1e-300 */
            double slope = 2.0 / (nus[i] + 1);             /* rho'(1) */
            check(close_to(r.E[0], want, 1e-14), "student_t nu = %g: E = %.17g, want %.17g", nus[i], r.E[0], want);
            check(close_to(-r.gx[0], slope, 1e-14), "student_t nu = %g: slope %.17g, want %.17g", nus[i], -r.gx[0], slope);
            check(isfinite(r.gnu[0]), "student_t nu = %g: d/dnu = %g", nus[i], r.gnu[0]);
        }
    }
    /* float32 near its limits: x = +-1e38 (u^2 overflows float): R on the centre it sits on. */
    {
        float x[2] = {1e38f, -1e38f}, mu[2] = {1e38f, -1e38f};
        float E[4], L[2], R[4], gx[2], gmu[2];
        ie_problem_f32 q;
        ie_problem_init_f32(&q);
        q.kernel = IE_KERNEL_GAUSSIAN; q.n = 2; q.k = 2; q.d = 1; q.x = x; q.mu = mu;
        ie_grads_f32 g;
        ie_grads_init_f32(&g);
        g.x = gx; g.mu = gmu;
        int status = ie_gradients_f32(&q, NULL, NULL, E, L, R, &g);
        check(status == IE_OK, "f32 limits: status %d (%s)", status, ie_last_error_message());
        check(R[0] == 1 && R[1] == 0 && R[2] == 0 && R[3] == 1, "f32 limits: R = %g %g %g %g", R[0], R[1], R[2], R[3]);
        check(L[0] == 0 && L[1] == 0, "f32 limits: logZ = %g %g (the own centre has energy 0)", L[0], L[1]);
        check(!isnan(gx[0]) && !isnan(gx[1]) && !isnan(gmu[0]) && !isnan(gmu[1]), "f32 limits: NaN gradient %g %g %g %g",
              gx[0], gx[1], gmu[0], gmu[1]);
    }
    /* float32 at FLT_MAX in logw: finite logZ, R unaffected. */
    {
        float x[1] = {0}, mu[2] = {0, 1}, logw[2] = {FLT_MAX, FLT_MAX};
        float L[1], R[2];
        ie_problem_f32 q;
        ie_problem_init_f32(&q);
        q.kernel = IE_KERNEL_GAUSSIAN; q.n = 1; q.k = 2; q.d = 1; q.x = x; q.mu = mu; q.logw = logw;
        check(ie_forward_f32(&q, NULL, L, R) == IE_OK, "f32 FLT_MAX logw: failed");
        /* In float, FLT_MAX - 0.5 is FLT_MAX: the two logits are equal. */
        volatile float a0 = FLT_MAX - 0.0f, a1 = FLT_MAX - 0.5f;
        float r0 = (float)(1 / (1 + exp((double)a1 - (double)a0)));
        check(L[0] == FLT_MAX && fabsf(R[0] - r0) <= 2e-7f && fabsf(R[1] - (1 - r0)) <= 2e-7f,
              "f32 FLT_MAX logw: logZ %g R %g %g", L[0], R[0], R[1]);
    }
}

/* ------------------------------------------------------------ 3. determinism */

/* Large enough for several row partitions of every kernel (the library gives a partition
 * at least 2^16 units of work; a row costs about 2*K*D, or K for the learned kernel). */
#define BIGN 9000
#define BIGK 16
#define BIGD 3

static void big_problem(ie_problem_f64 *p, int kernel, double *x, double *mu, double *scale, double *chol,
                        double *logw, double *energies)
{
    ie_problem_init_f64(p);
    p->kernel = kernel;
    p->scale_shape = IE_SCALE_PER_COMPONENT;
    p->n = BIGN; p->k = BIGK; p->d = BIGD;
    p->x = x; p->mu = mu; p->scale = scale; p->chol = chol; p->logw = logw;
    p->energies = kernel == IE_KERNEL_LEARNED ? energies : NULL;
    p->nu = 4; p->delta = 1; p->tau = 0.7;
    p->normalized = kernel != IE_KERNEL_LOGISTIC && kernel != IE_KERNEL_LEARNED;
}

static void test_determinism(void)
{
    static double x[BIGN * BIGD], energies[BIGN * BIGK];
    double mu[BIGK * BIGD], scale[BIGK], chol[BIGK * BIGD * BIGD], logw[BIGK];
    unsigned state = 12345;
    for (int i = 0; i < BIGN * BIGD; i++) {
        state = state * 1103515245u + 12345u;
        x[i] = ((state >> 8) % 20000) / 2000.0 - 5;
    }
    for (int i = 0; i < BIGN * BIGK; i++) energies[i] = fmod(0.37 * i, 5.0);
    for (int i = 0; i < BIGK * BIGD; i++) mu[i] = (i % 5) - 2.0 + 0.1 * (i % 3);
    for (int k = 0; k < BIGK; k++) scale[k] = 0.8 + 0.3 * k;
    for (int k = 0; k < BIGK; k++) logw[k] = -0.2 * k;
    memset(chol, 0, sizeof chol);
    for (int k = 0; k < BIGK; k++)
        for (int i = 0; i < BIGD; i++) {
            chol[(k * BIGD + i) * BIGD + i] = 1 + 0.1 * k;
            if (i > 0) chol[(k * BIGD + i) * BIGD] = 0.2;
        }

    enum { PER_RUN = 2 * BIGN * BIGK + BIGN + BIGN * BIGD + BIGK * BIGD + BIGK + 3 + BIGK + BIGK * BIGD + BIGK * BIGD * BIGD };
    static double runs[3][PER_RUN];
    const int threads[3] = {1, 2, 8};
    int saved = ie_get_num_threads();
    for (int kernel = 1; kernel <= 10; kernel++) {
        for (int t = 0; t < 3; t++) {
            ie_problem_f64 p;
            big_problem(&p, kernel, x, mu, scale, chol, logw, energies);
            double *o = runs[t];
            memset(o, 0, sizeof runs[t]);
            double *E = o, *R = E + BIGN * BIGK, *L = R + BIGN * BIGK, *gx = L + BIGN, *gmu = gx + BIGN * BIGD;
            double *gscale = gmu + BIGK * BIGD, *gtau = gscale + BIGK, *gnu = gtau + 1, *gdelta = gnu + 1;
            double *sr = gdelta + 1, *srx = sr + BIGK, *srxx = srx + BIGK * BIGD;
            ie_grads_f64 g;
            ie_grads_init_f64(&g);
            if (kernel != IE_KERNEL_LEARNED) { g.x = gx; g.mu = gmu; }
            g.scale = gscale; g.tau = gtau; g.nu = gnu; g.delta = gdelta;
            ie_set_num_threads(threads[t]);
            int s1 = ie_gradients_f64(&p, NULL, NULL, E, L, R, &g);
            int s2 = kernel == IE_KERNEL_LEARNED ? ie_stats_f64(&p, NULL, sr, NULL, NULL)
                                                 : ie_stats_f64(&p, NULL, sr, srx, srxx);
            check(s1 == IE_OK && s2 == IE_OK, "determinism kernel %d: status %d %d (%s)", kernel, s1, s2,
                  ie_last_error_message());
        }
        for (int t = 1; t < 3; t++)
            check(!memcmp(runs[0], runs[t], sizeof runs[0]), "kernel %d: %d threads differ from 1 thread", kernel, threads[t]);
    }
    /* Activation and float32 forward too. */
    static float xf[BIGN * BIGD], Lf[3][BIGN], Rf[3][BIGN * BIGK];
    float muf[BIGK * BIGD];
    for (int i = 0; i < BIGN * BIGD; i++) xf[i] = (float)x[i];
    for (int i = 0; i < BIGK * BIGD; i++) muf[i] = (float)mu[i];
    static double act[3][BIGN], dact[3][BIGN];
    for (int t = 0; t < 3; t++) {
        ie_set_num_threads(threads[t]);
        ie_problem_f32 q;
        ie_problem_init_f32(&q);
        q.kernel = IE_KERNEL_PSEUDO_HUBER; q.n = BIGN; q.k = BIGK; q.d = BIGD; q.x = xf; q.mu = muf; q.delta = 0.5f;
        check(ie_forward_f32(&q, NULL, Lf[t], Rf[t]) == IE_OK, "determinism f32: failed");
        check(ie_activation_f64(IE_KERNEL_STUDENT_T, BIGN, x, 1.5, 0.7, 3, 1, 0.5, act[t], dact[t]) == IE_OK,
              "determinism activation: failed");
    }
    for (int t = 1; t < 3; t++) {
        check(!memcmp(Lf[0], Lf[t], sizeof Lf[0]) && !memcmp(Rf[0], Rf[t], sizeof Rf[0]), "f32: %d threads differ", threads[t]);
        check(!memcmp(act[0], act[t], sizeof act[0]) && !memcmp(dact[0], dact[t], sizeof dact[0]),
              "activation: %d threads differ", threads[t]);
    }
    ie_set_num_threads(saved);
}

/* ------------------------------------------------------------ 4. callback blocks */

typedef struct { int calls, fail_on; } CallbackState;

static int energy_fn(void *user, const double *x_rows, int64_t rows, int64_t d, double *out)
{
    CallbackState *s = user;
    if (s->calls++ == s->fail_on) return 42;
    for (int64_t r = 0; r < rows; r++)
        for (int k = 0; k < 2; k++) out[r * 2 + k] = fabs(x_rows[r * d] - k);
    return 0;
}

static void test_callback_blocks(void)
{
    enum { ROWS = 2500 };
    static double x[ROWS], E[ROWS * 2], L[ROWS], R[ROWS * 2];
    for (int i = 0; i < ROWS; i++) x[i] = i % 7 * 0.25;
    for (int fail_on = -1; fail_on < 3; fail_on++) {
        CallbackState state = {0, fail_on};
        ie_problem_f64 p;
        ie_problem_init_f64(&p);
        p.kernel = IE_KERNEL_LEARNED; p.n = ROWS; p.k = 2; p.d = 1; p.x = x;
        p.energy_fn = energy_fn; p.energy_user = &state;
        memset(E, POISON, sizeof E);
        memset(L, POISON, sizeof L);
        memset(R, POISON, sizeof R);
        int status = ie_forward_f64(&p, E, L, R);
        if (fail_on < 0) {
            check(status == IE_OK, "callback: status %d (%s)", status, ie_last_error_message());
            check(E[2 * 2000 + 1] == fabs(x[2000] - 1), "callback: energies not copied");
            continue;
        }
        const char *message = ie_last_error_message();
        bad_cases++;
        check(status == IE_ERR_CALLBACK, "callback failing on call %d: status %d", fail_on, status);
        /* Block b covers rows [1024 b, min(1024 (b + 1), ROWS)); the message names its first row. */
        char first[16];
        snprintf(first, sizeof first, "%d", fail_on * 1024);
        check(contains(message, first) && contains(message, "42"), "callback failing on call %d: message \"%s\"", fail_on,
              message);
        int clean = 1;
        const unsigned char *bytes[3] = {(unsigned char *)E, (unsigned char *)L, (unsigned char *)R};
        size_t sizes[3] = {sizeof E, sizeof L, sizeof R};
        for (int b = 0; b < 3; b++)
            for (size_t i = 0; i < sizes[b]; i++) clean = clean && bytes[b][i] == POISON;
        check(clean, "callback failing on call %d: outputs written", fail_on);
    }
}

/* --memcheck: skip the large determinism problems (run natively by make test-edge), so that
 * a run under valgrind takes seconds. */
int main(int argc, char **argv)
{
    int memcheck = argc > 1 && !strcmp(argv[1], "--memcheck");
    test_nonfinite_sweep();
    test_bad_parameters();
    test_bad_sizes();
    test_bad_structure();
    test_overlaps();
    int bad = bad_cases;
    test_numerical_edges();
    if (!memcheck) test_determinism();
    test_callback_blocks();
    printf("test_edge: %d bad-input calls rejected as specified (+%d callback failures); %d passed, %d failed\n", bad,
           bad_cases - bad, passed, failed);
    return failed ? 1 : 0;
}
