/*
 * callback_example.c - the learned kernel with energies computed by a C callback.
 *
 * The callback returns d_nk = |x_n - p_k|^2 / 2 for K prototypes p_k, a block of rows at
 * a time. The same energies given as a matrix must give the same logZ and
 * responsibilities, and, since these energies are the gaussian kernel's, the gaussian
 * kernel with mu = p must agree too, including the gradient with respect to the
 * prototypes obtained by the chain rule from d objective / d E:
 *     d objective / d p_k = sum_n (d objective / d E_nk) (p_k - x_n).
 * Exits non-zero on any disagreement.
 *
 * Build: cc callback_example.c $(pkg-config --cflags --libs implicitem) -lm
 */
#include <implicitem.h>

#include <math.h>
#include <stdio.h>

#define N 2500 /* more than one callback block */
#define K 4
#define D 3

typedef struct {
    const double *prototypes;
    int64_t calls, rows;
} Prototypes;

static double half_squared_distance(const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < D; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return 0.5 * s;
}

static int prototype_energies(void *user, const double *x_rows, int64_t rows, int64_t d, double *energies_out)
{
    Prototypes *p = user;
    if (d != D) return 1; /* a non-zero return aborts the call with IE_ERR_CALLBACK */
    for (int64_t n = 0; n < rows; n++)
        for (int k = 0; k < K; k++)
            energies_out[n * K + k] = half_squared_distance(x_rows + n * D, p->prototypes + k * D);
    p->calls++;
    p->rows += rows;
    return 0;
}

static int report(const char *what, double error, double tolerance)
{
    int ok = error <= tolerance;
    printf("%-58s max |difference| %.3g %s\n", what, error, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

static double max_difference(const double *a, const double *b, int count)
{
    double m = 0;
    for (int i = 0; i < count; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

int main(void)
{
    static double x[N * D], energies[N * K], logZ[3][N], resp[3][N * K], dE[N * K];
    double prototypes[K * D], grad_chain[K * D] = {0}, grad_mu[K * D];
    unsigned long long state = 7;
    for (int i = 0; i < N * D; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = 4.0 * (double)(state >> 11) / 9007199254740992.0 - 2.0;
    }
    for (int i = 0; i < K * D; i++) prototypes[i] = (i % 3) - 1.0 + 0.25 * i / (K * D);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) energies[n * K + k] = half_squared_distance(x + n * D, prototypes + k * D);

    Prototypes user = {prototypes, 0, 0};
    ie_problem_f64 p;
    ie_status status;

    /* 1. Energies by callback, with d objective / d E. */
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_LEARNED;
    p.n = N;
    p.k = K;
    p.d = D;
    p.x = x;
    p.energy_fn = prototype_energies;
    p.energy_user = &user;
    ie_grads_f64 g;
    ie_grads_init_f64(&g);
    g.energies = dE;
    status = ie_gradients_f64(&p, NULL, NULL, NULL, logZ[0], resp[0], &g);
    if (status != IE_OK) {
        printf("callback: %s (%s)\n", ie_status_string(status), ie_last_error_message());
        return 1;
    }
    printf("the callback filled %lld rows in %lld blocks\n", (long long)user.rows, (long long)user.calls);

    /* 2. The same energies as a matrix. */
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_LEARNED;
    p.n = N;
    p.k = K;
    p.energies = energies;
    status = ie_forward_f64(&p, NULL, logZ[1], resp[1]);
    if (status != IE_OK) {
        printf("matrix: %s (%s)\n", ie_status_string(status), ie_last_error_message());
        return 1;
    }

    /* 3. The gaussian kernel with mu = prototypes (scale 1, tau 1): the same energies. */
    ie_problem_init_f64(&p);
    p.kernel = IE_KERNEL_GAUSSIAN;
    p.n = N;
    p.k = K;
    p.d = D;
    p.x = x;
    p.mu = prototypes;
    ie_grads_init_f64(&g);
    g.mu = grad_mu;
    status = ie_gradients_f64(&p, NULL, NULL, NULL, logZ[2], resp[2], &g);
    if (status != IE_OK) {
        printf("gaussian: %s (%s)\n", ie_status_string(status), ie_last_error_message());
        return 1;
    }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < D; i++)
                grad_chain[k * D + i] += dE[n * K + k] * (prototypes[k * D + i] - x[n * D + i]);

    int failures = 0;
    failures += user.rows == N ? 0 : 1;
    failures += report("callback vs matrix energies: logZ", max_difference(logZ[0], logZ[1], N), 0);
    failures += report("callback vs matrix energies: responsibilities", max_difference(resp[0], resp[1], N * K), 0);
    failures += report("callback vs gaussian kernel: logZ", max_difference(logZ[0], logZ[2], N), 1e-12);
    failures += report("callback vs gaussian kernel: responsibilities", max_difference(resp[0], resp[2], N * K),
                       1e-12);
    failures += report("chain rule through dE vs gaussian d/dmu", max_difference(grad_chain, grad_mu, K * D),
                       1e-9);
    return failures == 0 ? 0 : 1;
}
