/*
 * w5.c - W5 from C: calls per second of one tiny forward + backward
 * (N=1, D=4, K=3, gaussian, float64, shared scale 1; every output the Python call returns:
 * energies, logZ, R and the gradients of x, mu, scale, logw, tau and the energies).
 * Prints "<calls per second> <checksum>" on stdout; exits non-zero on a library error.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include "implicitem.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    enum { N = 1, D = 4, K = 3 };
    double x[N * D] = {0.3, -1.2, 0.7, 2.0};
    double mu[K * D] = {0.0, -1.0, 0.5, 1.5, 1.0, 1.0, -0.5, 0.0, -2.0, 0.3, 0.9, 1.1};
    double scale[1] = {1.0};
    double logw[K] = {-1.0, -1.2, -1.1};
    double energies[N * K], logZ[N], resp[N * K], gx[N * D], gmu[K * D], gscale[1], glogw[K], gtau[1],
        genergies[N * K];

    ie_problem_f64 p;
    ie_grads_f64 g;
    if (ie_problem_init_f64(&p) != IE_OK || ie_grads_init_f64(&g) != IE_OK) return 1;
    p.kernel = IE_KERNEL_GAUSSIAN;
    p.scale_shape = IE_SCALE_SHARED;
    p.n = N;
    p.k = K;
    p.d = D;
    p.x = x;
    p.mu = mu;
    p.scale = scale;
    p.logw = logw;
    g.x = gx;
    g.mu = gmu;
    g.scale = gscale;
    g.logw = glogw;
    g.tau = gtau;
    g.energies = genergies;

    double checksum = 0;
    long calls = 0;
    double t0 = now(), elapsed = 0;
    for (int warm = 0; warm < 1000; warm++)
        if (ie_gradients_f64(&p, NULL, NULL, energies, logZ, resp, &g) != IE_OK) {
            fprintf(stderr, "ie_gradients_f64: %s\n", ie_last_error_message());
            return 1;
        }
    t0 = now();
    do {
        for (int i = 0; i < 10000; i++) {
            ie_gradients_f64(&p, NULL, NULL, energies, logZ, resp, &g);
            checksum += logZ[0];
        }
        calls += 10000;
        elapsed = now() - t0;
    } while (elapsed < 1.5);
    printf("%.0f %.17g\n", (double)calls / elapsed, checksum / (double)calls);
    return 0;
}
