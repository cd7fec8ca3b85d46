/*
 * example.c - implicit EM for a 2-D gaussian mixture through the C ABI.
 *
 * For the gaussian kernel the gradient of the objective sum_n logZ_n with respect to a
 * centre is sum_n r_nk (x_n - mu_k) / (tau s^2), so a gradient step of size
 * tau s^2 / sum_n r_nk lands exactly on the EM M-step mu_k = sum_n r_nk x_n / sum_n r_nk
 * (docs/KERNELS.md, "Implicit EM"). The program takes a few such steps, prints the
 * objective, checks it never decreases and that each step equals the M-step computed from
 * ie_stats_f64, and exits non-zero otherwise.
 *
 * Build: cc example.c $(pkg-config --cflags --libs implicitem) -lm
 */
#include <implicitem.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 600
#define K 3
#define D 2
#define STEPS 12

static unsigned long long state = 12345;
static double uniform01(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(state >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) { return sqrt(-2 * log(uniform01())) * cos(6.283185307179586 * uniform01()); }

static int fail(const char *what, ie_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, ie_status_string(status), ie_last_error_message());
    return 1;
}

int main(void)
{
    static const double centres[K][D] = {{-3, 0}, {3, 1}, {0, 4}};
    static double x[N * D], resp[N * K], logZ[N];
    double mu[K * D], grad_mu[K * D], sum_r[K], sum_rx[K * D];
    const double s = 1.0, tau = 1.0;

    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++) x[n * D + i] = centres[n % K][i] + normal();
    for (int k = 0; k < K; k++) /* start from three data points of the same cluster */
        for (int i = 0; i < D; i++) mu[k * D + i] = x[(3 * k) * D + i];

    ie_problem_f64 problem;
    ie_problem_init_f64(&problem);
    problem.kernel = IE_KERNEL_GAUSSIAN;
    problem.n = N;
    problem.k = K;
    problem.d = D;
    problem.x = x;
    problem.mu = mu;
    problem.scale = &s;
    problem.tau = tau;
    problem.normalized = 1; /* logZ is the mixture's log-likelihood */

    ie_grads_f64 grads;
    ie_grads_init_f64(&grads);
    grads.mu = grad_mu;

    printf("step  objective sum_n logZ_n\n");
    double previous = -INFINITY;
    int failures = 0;
    for (int step = 0; step <= STEPS; step++) {
        ie_status status = ie_gradients_f64(&problem, NULL, NULL, NULL, logZ, resp, &grads);
        if (status != IE_OK) return fail("ie_gradients_f64", status);
        status = ie_stats_f64(&problem, NULL, sum_r, sum_rx, NULL);
        if (status != IE_OK) return fail("ie_stats_f64", status);

        double objective = 0;
        for (int n = 0; n < N; n++) objective += logZ[n];
        printf("%4d  %.10f\n", step, objective);
        /* EM never decreases the likelihood; allow only rounding (a few ulps of the sum). */
        if (objective < previous - 1e-12 * fabs(previous)) {
            printf("the objective decreased: %.17g < %.17g\n", objective, previous);
            failures++;
        }
        previous = objective;
        if (step == STEPS) break;

        for (int k = 0; k < K; k++) {
            double size = tau * s * s / sum_r[k];
            for (int i = 0; i < D; i++) {
                double next = mu[k * D + i] + size * grad_mu[k * D + i];
                double m_step = sum_rx[k * D + i] / sum_r[k];
                if (fabs(next - m_step) > 1e-12 * (1 + fabs(m_step))) {
                    printf("step %d: the gradient step %.17g differs from the M-step %.17g\n", step, next, m_step);
                    failures++;
                }
                mu[k * D + i] = next;
            }
        }
    }
    for (int k = 0; k < K; k++) printf("mu[%d] = (%.4f, %.4f)\n", k, mu[k * D], mu[k * D + 1]);
    return failures == 0 ? 0 : 1;
}
