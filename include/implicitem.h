/*
 * implicitem.h - the C interface of libimplicitem.
 *
 * Energies, log-sum-exp objectives, responsibilities and their exact gradients for the
 * kernels of implicit EM (gaussian, laplace, logistic, student_t, huber, pseudo_huber,
 * exponential, cosine, mahalanobis, learned), in float32 and float64.
 * The mathematics is docs/KERNELS.md; every formula named below is defined there.
 *
 * Conventions
 *   - Every function returns an ie_status: IE_OK (0) on success. On failure,
 *     ie_status_string() names the status and ie_last_error_message() gives the detail
 *     (argument, row, column, value) of the last failure on the calling thread.
 *   - Every argument is validated before any output is written: on any error status,
 *     no caller buffer has been modified.
 *   - All arrays are C-contiguous (row-major) and owned by the caller. Output pointers may
 *     be NULL, meaning "do not compute this"; the work for it is skipped.
 *   - Output buffers must not overlap input buffers (IE_ERR_OVERLAP).
 *   - _f32 and _f64 functions take float and double throughout; nothing is converted.
 *   - Thread-safe: concurrent calls on distinct buffers are safe. Results are bitwise
 *     identical for any thread count.
 *   - Structs begin with their own size so the ABI can grow: always fill them with the
 *     matching _init function before setting fields.
 */
#ifndef IMPLICITEM_H
#define IMPLICITEM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define IE_API __attribute__((visibility("default")))
#else
#define IE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define IE_VERSION_MAJOR 0
#define IE_VERSION_MINOR 1
#define IE_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, the value ie_version() returns. */
#define IE_VERSION_NUMBER (IE_VERSION_MAJOR * 10000 + IE_VERSION_MINOR * 100 + IE_VERSION_PATCH)

/* The version of the loaded library, as IE_VERSION_NUMBER: compare it with the header's
 * to detect a header/library mismatch at run time. */
IE_API unsigned ie_version(void);

/* The version of the loaded library as "MAJOR.MINOR.PATCH" (static storage). */
IE_API const char *ie_version_string(void);

/* ------------------------------------------------------------------ status */

/* Stable numbers: a value is never reused for another meaning. */
typedef enum ie_status {
    IE_OK = 0,                  /* success */
    IE_ERR_NULL_POINTER = 1,    /* a required pointer argument is NULL */
    IE_ERR_BAD_SIZE = 2,        /* N, K or D <= 0, or a product of sizes overflows */
    IE_ERR_BAD_PARAMETER = 3,   /* scale, nu, delta, tau <= 0 or non-finite; chol diagonal <= 0 */
    IE_ERR_NONFINITE_INPUT = 4, /* NaN or infinity in an input array where it is not allowed */
    IE_ERR_UNSUPPORTED = 5,     /* a valid but unsupported combination (normalised logistic) */
    IE_ERR_CALLBACK = 6,        /* the energy callback returned non-zero or produced NaN */
    IE_ERR_OUT_OF_MEMORY = 7,   /* an internal allocation failed */
    IE_ERR_OVERLAP = 8,         /* an output buffer overlaps an input or another output */
    IE_ERR_BAD_ENUM = 9,        /* an unknown kernel, scale shape or option value */
    IE_ERR_BAD_STRUCT = 10,     /* struct_size does not match any known layout */
    IE_ERR_DID_NOT_CONVERGE = 11 /* a fit reached max_iter before the tolerance (results valid) */
} ie_status;

/* A static, never-NULL name for a status ("IE_ERR_BAD_SIZE: ..."); unknown values give
 * "unknown status". */
IE_API const char *ie_status_string(ie_status status);

/* The detail of the last failure on the calling thread (which argument, row, column and
 * value), or "" if the last call on this thread succeeded. Valid until the next call
 * into the library on this thread. */
IE_API const char *ie_last_error_message(void);

/* ----------------------------------------------------------------- kernels */

typedef enum ie_kernel {
    IE_KERNEL_GAUSSIAN = 1,     /* rho(u) = u^2/2 */
    IE_KERNEL_LAPLACE = 2,      /* rho(u) = |u| */
    IE_KERNEL_LOGISTIC = 3,     /* rho(u) = log(1 + exp(-u)) */
    IE_KERNEL_STUDENT_T = 4,    /* rho(u) = log(1 + u^2/nu) */
    IE_KERNEL_HUBER = 5,        /* u^2/2 if |u| <= delta, else delta(|u| - delta/2) */
    IE_KERNEL_PSEUDO_HUBER = 6, /* delta^2 (sqrt(1 + (u/delta)^2) - 1) */
    IE_KERNEL_EXPONENTIAL = 7,  /* rho(u) = exp(|u|) */
    IE_KERNEL_COSINE = 8,       /* d = 1 - x.mu / (|x||mu|) */
    IE_KERNEL_MAHALANOBIS = 9,  /* d = |L^T (x - mu)|^2, precision P = L L^T */
    IE_KERNEL_LEARNED = 10      /* d given by the caller (matrix or callback) */
} ie_kernel;

/* The shape of the scale array of the separable kernels 1-7 (u = (x - mu)/s). */
typedef enum ie_scale_shape {
    IE_SCALE_SHARED = 1,        /* one scale for every component and dimension: 1 value */
    IE_SCALE_PER_COMPONENT = 2, /* one scale per component: K values */
    IE_SCALE_PER_DIMENSION = 3  /* one scale per component and dimension: K*D values */
} ie_scale_shape;

/* The learned kernel's callback: fill energies_out (rows*K, row-major) with the energies of
 * the rows x_rows (rows*d; x_rows is NULL and d is 0 when the problem has no x). Return 0 on
 * success; any other value aborts the call with IE_ERR_CALLBACK, and no output is written.
 * Every energy must be finite (else IE_ERR_CALLBACK). Called from one thread at a time, on
 * blocks of consecutive rows, in order. */
typedef int (*ie_energy_fn_f64)(void *user, const double *x_rows, int64_t rows, int64_t d,
                                double *energies_out);
typedef int (*ie_energy_fn_f32)(void *user, const float *x_rows, int64_t rows, int64_t d,
                                float *energies_out);

/* ---------------------------------------------------------------- problems */

/* Everything that defines the logits a_nk = logw_k + logprior_nk - d_nk/tau - c_k.
 * Sizes: n samples (N), k components (K), d dimensions (D). Which fields are read depends
 * on the kernel; fields a kernel does not use are ignored. */
typedef struct ie_problem_f64 {
    size_t struct_size;          /* sizeof(ie_problem_f64), set by ie_problem_init_f64 */
    int32_t kernel;              /* ie_kernel */
    int32_t scale_shape;         /* ie_scale_shape of `scale` (default IE_SCALE_SHARED) */
    int64_t n, k, d;             /* N, K, D (the learned kernel reads D only when it reads x) */
    const double *x;             /* N*D inputs: kernels 1-9; learned: passed to energy_fn, and
                                    read by ie_stats for sum_rx and sum_rxx (else ignored) */
    const double *mu;            /* K*D centres: kernels 1-9 */
    const double *scale;         /* 1, K or K*D scales (> 0), kernels 1-7; NULL means 1 */
    const double *chol;          /* K*D*D lower Cholesky factors of the precisions (mahalanobis);
                                    the upper triangle is ignored, the diagonal must be > 0 */
    const double *logw;          /* K log-weights; NULL means 0; -inf masks a component */
    const double *logprior;      /* N*K log-priors added to the logits; NULL means 0; -inf masks */
    const double *energies;      /* N*K given energies (learned kernel) */
    ie_energy_fn_f64 energy_fn;  /* learned kernel, when energies is NULL */
    void *energy_user;           /* passed to energy_fn */
    double nu;                   /* student_t shape (> 0) */
    double delta;                /* huber / pseudo_huber shape (> 0) */
    double tau;                  /* temperature (> 0), default 1 */
    int32_t normalized;          /* non-zero: subtract the exact log-normaliser c_k */
} ie_problem_f64;

typedef struct ie_problem_f32 {
    size_t struct_size;
    int32_t kernel;
    int32_t scale_shape;
    int64_t n, k, d;
    const float *x;
    const float *mu;
    const float *scale;
    const float *chol;
    const float *logw;
    const float *logprior;
    const float *energies;
    ie_energy_fn_f32 energy_fn;
    void *energy_user;
    float nu;
    float delta;
    float tau;
    int32_t normalized;
} ie_problem_f32;

/* Fill *problem with defaults: struct_size set, kernel gaussian, scale shape shared, every
 * pointer NULL, sizes 0, nu = delta = 0 (must be set for the kernels that use them),
 * tau = 1, normalized = 0. */
IE_API ie_status ie_problem_init_f64(ie_problem_f64 *problem);
IE_API ie_status ie_problem_init_f32(ie_problem_f32 *problem);

/* Where the gradients go. Each pointer may be NULL (not computed). Shapes follow the inputs:
 * x N*D, mu K*D, scale like `scale` (1, K or K*D; with scale NULL, 1 value), nu/delta/tau one
 * value, chol K*D*D (lower triangle; the upper triangle is set to 0), logw K, logprior N*K,
 * energies N*K (d objective / d E, for every kernel). The gradient of a parameter the kernel
 * does not have (nu for gaussian, mu for learned, ...) is written as zeros, except that x, mu
 * and chol are left alone for the learned kernel without x, where D has no meaning. */
typedef struct ie_grads_f64 {
    size_t struct_size;          /* sizeof(ie_grads_f64), set by ie_grads_init_f64 */
    double *x, *mu, *scale, *nu, *delta, *chol, *logw, *logprior, *tau, *energies;
} ie_grads_f64;

typedef struct ie_grads_f32 {
    size_t struct_size;
    float *x, *mu, *scale, *nu, *delta, *chol, *logw, *logprior, *tau, *energies;
} ie_grads_f32;

/* Fill *grads with struct_size and every pointer NULL. */
IE_API ie_status ie_grads_init_f64(ie_grads_f64 *grads);
IE_API ie_status ie_grads_init_f32(ie_grads_f32 *grads);

/* ----------------------------------------------------------------- forward */

/* Forward pass, streaming over rows.
 *   energies  N*K  d_nk (kernels 1-9; for learned, a copy of the given or called-back energies)
 *   logZ      N    L_n = log sum_k exp(a_nk); -inf for a row whose logits are all -inf
 *   resp      N*K  r_nk = exp(a_nk - L_n); a zero row where every logit is -inf
 * Any output may be NULL. Errors: IE_ERR_NULL_POINTER (problem, or an input the kernel
 * needs), IE_ERR_BAD_SIZE, IE_ERR_BAD_PARAMETER, IE_ERR_NONFINITE_INPUT, IE_ERR_UNSUPPORTED
 * (normalised logistic or learned; normalised student_t with tau >= 2), IE_ERR_CALLBACK,
 * IE_ERR_OVERLAP, IE_ERR_BAD_ENUM, IE_ERR_BAD_STRUCT. */
IE_API ie_status ie_forward_f64(const ie_problem_f64 *problem,
                                double *energies, double *logZ, double *resp);
IE_API ie_status ie_forward_f32(const ie_problem_f32 *problem,
                                float *energies, float *logZ, float *resp);

/* ---------------------------------------------------------------- gradients */

/* Fused forward and backward pass in one sweep over the rows: the forward outputs of
 * ie_forward_f64 (each may be NULL) and the gradient of
 *     objective = sum_n gL_n * logZ_n + sum_nk gR_nk * r_nk
 * with respect to every parameter named in *grads (KERNELS.md, "Gradients").
 *   gL  N    upstream gradient of logZ; NULL means all ones (per-sample weights)
 *   gR  N*K  upstream gradient of resp; NULL means zeros
 * Rows whose logZ is -inf contribute nothing. grads may be NULL (forward only).
 * A gradient that overflows is its signed infinity; a sum (over rows, components or
 * dimensions, here and in ie_stats) whose terms overflow to both +inf and -inf has no
 * floating-point value and is written as 0, never NaN. */
IE_API ie_status ie_gradients_f64(const ie_problem_f64 *problem,
                                  const double *gL, const double *gR,
                                  double *energies, double *logZ, double *resp,
                                  const ie_grads_f64 *grads);
IE_API ie_status ie_gradients_f32(const ie_problem_f32 *problem,
                                  const float *gL, const float *gR,
                                  float *energies, float *logZ, float *resp,
                                  const ie_grads_f32 *grads);

/* ------------------------------------------------------ sufficient statistics */

/* Responsibility-weighted sufficient statistics, summed over rows, so that batches can be
 * reduced across processes:
 *   sum_r    K      sum_n w_n r_nk
 *   sum_rx   K*D    sum_n w_n r_nk x_n
 *   sum_rxx  K*D*D  sum_n w_n r_nk x_n x_n^T
 * weights (N) may be NULL (all ones; each must be finite and >= 0; else
 * IE_ERR_BAD_PARAMETER). Any output may be NULL. Every kernel; sum_rx and sum_rxx need x,
 * also for the learned kernel (IE_ERR_NULL_POINTER naming x). The problem is checked as by
 * ie_forward_f64. */
IE_API ie_status ie_stats_f64(const ie_problem_f64 *problem, const double *weights,
                              double *sum_r, double *sum_rx, double *sum_rxx);
IE_API ie_status ie_stats_f32(const ie_problem_f32 *problem, const float *weights,
                              float *sum_r, float *sum_rx, float *sum_rxx);

/* ------------------------------------------------------------ normalisers */

/* The log-normalisers c_k (K values) that a normalised problem subtracts from its logits
 * (KERNELS.md, "Normalised kernels"), whatever problem->normalized says. The problem is
 * checked as by ie_forward_f64 (x and mu included); c must not be NULL.
 * IE_ERR_UNSUPPORTED for logistic and learned, and student_t with tau >= 2. */
IE_API ie_status ie_log_normalizer_f64(const ie_problem_f64 *problem, double *c);
IE_API ie_status ie_log_normalizer_f32(const ie_problem_f32 *problem, float *c);

/* ------------------------------------------------------------- activations */

/* The activation of the two-component signed model (components at +m and -m, equal weights,
 * shared scale) for kernels 1-7, at n points z:
 *     act(z) = tanh((d(z; -m) - d(z; +m)) / (2 tau)),  dact = d act / dz.
 * act and dact may be NULL. nu is read for student_t, delta for huber and pseudo_huber.
 * Errors: IE_ERR_BAD_ENUM (unknown kernel), IE_ERR_UNSUPPORTED (kernels 8-10),
 * IE_ERR_BAD_SIZE (n <= 0), IE_ERR_NULL_POINTER (z), IE_ERR_BAD_PARAMETER,
 * IE_ERR_NONFINITE_INPUT (z), IE_ERR_OVERLAP. */
IE_API ie_status ie_activation_f64(int32_t kernel, int64_t n, const double *z, double m,
                                   double scale, double nu, double delta, double tau,
                                   double *act, double *dact);
IE_API ie_status ie_activation_f32(int32_t kernel, int64_t n, const float *z, float m,
                                   float scale, float nu, float delta, float tau,
                                   float *act, float *dact);

/* ----------------------------------------------------------------- threads */

/* The number of threads the library uses (>= 1); 0 restores the default (the number of
 * online processors). Values above the library's limit (256) are clamped to it. Results do
 * not depend on it. Process-wide. Returns IE_ERR_BAD_SIZE for n < 0. */
IE_API ie_status ie_set_num_threads(int32_t n);
IE_API int32_t ie_get_num_threads(void);

/* ---------------------------------------------------------------- fitting */

/* Fitting a mixture by implicit EM (KERNELS.md, "Implicit EM"): gradient ascent on
 *     objective = sum_n w_n logZ_n      (w = sample weights; the history reports it / sum_n w_n)
 * where each iteration is the library's fused gradient preconditioned per component by the
 * responsibility-weighted curvature of its energy. For gaussian this is exactly the EM M-step
 * (the centre moves by tau s^2 / sum_n w_n r_nk times its gradient), for mahalanobis exactly
 * EM with a full covariance, for laplace, huber, pseudo_huber and student_t the iteratively
 * reweighted (MM) update, for cosine the von Mises-Fisher mean direction. A step that would
 * lower the objective is halved until it does not, so the history never decreases.
 *
 * What each kernel learns (IE_LEARN_* bits; bits a kernel has no parameter for are ignored):
 *   1 gaussian, 2 laplace, 4 student_t, 5 huber, 6 pseudo_huber, 7 exponential:
 *       centres, weights; with normalisation on, scales (any ie_scale_shape) and, with
 *       IE_LEARN_SHAPE, nu (student_t) or delta (huber, pseudo_huber).
 *   3 logistic: centres and weights only (it has no normaliser; its scale stays fixed).
 *   8 cosine: centres (unit directions) and weights.
 *   9 mahalanobis: centres, weights and, with normalisation on, the Cholesky factors of the
 *       precisions. Its energy has no 1/2: tau = 2 makes exp(-d/tau) the usual Gaussian.
 *   10 learned: not fittable (IE_ERR_UNSUPPORTED).
 * Scales, nu, delta and chol are learnable only with normalisation on: without the normaliser
 * the objective grows without bound with the scale.
 *
 * Float64 only: between iterations the objective changes by 1e-6 of its mean and less, which
 * a float32 accumulation over n rows cannot resolve. Convert float32 data to double first.
 * Deterministic: the same inputs and seed give bitwise the same fit for any thread count. */

/* Bits of ie_fit_options_f64.learn. */
typedef enum ie_learn {
    IE_LEARN_AUTO = 0,          /* centres and weights, plus scales and chol when normalised */
    IE_LEARN_MEANS = 1,         /* centres */
    IE_LEARN_WEIGHTS = 2,       /* mixing proportions (log-weights with log sum exp = 0) */
    IE_LEARN_SCALES = 4,        /* scales of kernels 1-7 except logistic */
    IE_LEARN_SHAPE = 8,         /* nu of student_t, delta of huber and pseudo_huber */
    IE_LEARN_CHOL = 16          /* Cholesky factors of the mahalanobis precisions */
} ie_learn;

/* How the starting centres are chosen. */
typedef enum ie_init {
    IE_INIT_KMEANS_PP = 1,      /* k-means++ seeding, weighted by the sample weights */
    IE_INIT_RANDOM = 2,         /* k distinct rows of positive weight, uniformly */
    IE_INIT_GIVEN = 3           /* init_mu (and any other init_* given): also a warm start */
} ie_init;

/* What became of a component (ie_fit_result_f64.component_status). */
typedef enum ie_component_status {
    IE_COMPONENT_OK = 0,
    IE_COMPONENT_COLLAPSED = 1, /* a scale (mahalanobis: a conditional standard deviation of
                                   the covariance, a diagonal of its Cholesky factor) sits on
                                   the floor min_scale */
    IE_COMPONENT_EMPTIED = 2    /* its total responsibility fell below 1e-9 of the total
                                   sample weight; its centre and scales were left in place */
} ie_component_status;

/* Progress callback: called after every iteration of every restart, on the calling thread.
 * Return 0 to continue; any other value stops the fit with IE_ERR_CALLBACK. */
typedef int (*ie_fit_progress_fn)(void *user, int64_t restart, int64_t iteration,
                                  double mean_log_likelihood);

typedef struct ie_fit_options_f64 {
    size_t struct_size;          /* sizeof(ie_fit_options_f64), set by ie_fit_options_init_f64 */
    int32_t kernel;              /* ie_kernel 1-9 (default gaussian) */
    int32_t scale_shape;         /* ie_scale_shape (default IE_SCALE_PER_COMPONENT) */
    int64_t k;                   /* number of components (required, 1 <= k <= n) */
    double nu;                   /* student_t: fixed, or the start when IE_LEARN_SHAPE (> 0) */
    double delta;                /* huber, pseudo_huber: fixed, or the start (> 0) */
    double tau;                  /* temperature (> 0), default 1 */
    int32_t normalized;          /* -1 (default): on for every kernel but logistic; 0 off; 1 on */
    uint32_t learn;              /* IE_LEARN_* bits; IE_LEARN_AUTO (0) by default */
    int64_t max_iter;            /* iterations per restart (>= 0), default 200 */
    double tol;                  /* stop when an iteration raises the mean log-likelihood
                                    by less than this (>= 0), default 1e-6 */
    int64_t n_init;              /* restarts (>= 1), the best final objective kept; default 1.
                                    A given start (IE_INIT_GIVEN) runs once. */
    int32_t init;                /* ie_init, default IE_INIT_KMEANS_PP */
    uint64_t seed;               /* seeds k-means++ / random starts; restart r uses its own
                                    stream derived from seed and r. Default 0 */
    double min_scale;            /* floor on scales and on mahalanobis conditional standard
                                    deviations (>= 0); 0 (default): 1e-3 times the root mean
                                    square standard deviation of the data */
    const double *init_mu;       /* k*d starting centres (required for IE_INIT_GIVEN) or NULL */
    const double *init_scale;    /* starting scales (1, k or k*d values by scale_shape) or NULL
                                    (derived from the rows nearest each centre) */
    const double *init_chol;     /* k*d*d starting precision Cholesky factors or NULL (derived) */
    const double *init_logw;     /* k starting log-weights or NULL (uniform) */
    ie_fit_progress_fn progress; /* or NULL */
    void *progress_user;         /* passed to progress */
} ie_fit_options_f64;

/* Where a fit writes its result; every pointer may be NULL (not written) and every array is
 * written only on success (IE_OK or IE_ERR_DID_NOT_CONVERGE). */
typedef struct ie_fit_result_f64 {
    size_t struct_size;          /* sizeof(ie_fit_result_f64), set by ie_fit_result_init_f64 */
    double *mu;                  /* k*d centres */
    double *scale;               /* 1, k or k*d scales (kernels 1-7) */
    double *chol;                /* k*d*d precision Cholesky factors (mahalanobis; upper
                                    triangle written as 0) */
    double *logw;                /* k log mixing proportions */
    double *nu;                  /* 1 value: the final nu (student_t) */
    double *delta;               /* 1 value: the final delta (huber, pseudo_huber) */
    double *history;             /* max_iter + 1 values: the mean log-likelihood before the
                                    first iteration and after each; n_history are written */
    int32_t *component_status;   /* k ie_component_status values */
    /* Scalars, always written on success: */
    int64_t n_iter;              /* iterations of the kept restart */
    int64_t n_history;           /* n_iter + 1 */
    int32_t converged;           /* 1 when a step gained less than tol (or nothing) */
    int32_t best_restart;        /* 0-based index of the kept restart */
    double mean_log_likelihood;  /* the final sum_n w_n logZ_n / sum_n w_n */
    double min_scale;            /* the floor the fit used */
} ie_fit_result_f64;

/* Fill *options with the defaults above (struct_size set, k = 0 must then be set). */
IE_API ie_status ie_fit_options_init_f64(ie_fit_options_f64 *options);

/* Fill *result with struct_size and every pointer NULL. */
IE_API ie_status ie_fit_result_init_f64(ie_fit_result_f64 *result);

/* Fit options->k components to the n rows x (n*d, row-major) by implicit EM.
 *   options        the fit (see ie_fit_options_f64)
 *   n, d           rows and dimensions (>= 1)
 *   x              n*d finite inputs
 *   sample_weight  n finite weights >= 0 with a positive sum, or NULL (all ones)
 *   result         where the fitted parameters go (see ie_fit_result_f64)
 * Returns IE_OK when the kept restart converged, IE_ERR_DID_NOT_CONVERGE when it stopped at
 * max_iter (the result is written and valid). Errors (nothing written): IE_ERR_NULL_POINTER
 * (options, x, result, or init_mu with IE_INIT_GIVEN), IE_ERR_BAD_STRUCT, IE_ERR_BAD_SIZE
 * (n, d, k < 1; k > n; fewer rows of positive weight than k for IE_INIT_RANDOM),
 * IE_ERR_BAD_ENUM (kernel, scale_shape, init), IE_ERR_BAD_PARAMETER (tau, nu, delta,
 * max_iter, tol, n_init, min_scale, sample_weight, an init_* scale or chol diagonal <= 0),
 * IE_ERR_NONFINITE_INPUT (x or an init_* array), IE_ERR_UNSUPPORTED (learned; normalised
 * logistic; scales, shape or chol asked for without normalisation; normalised student_t with
 * tau >= 2), IE_ERR_CALLBACK (progress returned non-zero), IE_ERR_OUT_OF_MEMORY. */
IE_API ie_status ie_fit_f64(const ie_fit_options_f64 *options, int64_t n, int64_t d,
                            const double *x, const double *sample_weight,
                            ie_fit_result_f64 *result);

#ifdef __cplusplus
}
#endif

#endif /* IMPLICITEM_H */
