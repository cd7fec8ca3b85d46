/*
 * floor.c - this machine's arithmetic floor, measured at bench time (bench/README.md).
 *
 *   peak FLOP/s   independent FMA chains on the widest vectors, float64 and float32,
 *                 on 1 thread and on every thread (an FMA counts as 2 FLOPs)
 *   bandwidth     a STREAM-like triad a = b + s*c on arrays far larger than the caches,
 *                 counting 24 bytes per element (reads + writes, no write-allocate)
 *   functions     vectorised exp, log, log1p, sqrt and division on cache-resident arrays,
 *                 in ns per element on one thread
 *
 * Rates are per thread CPU time (CLOCK_THREAD_CPUTIME_ID), summed over the threads: on a
 * shared machine other processes take the cores away for a while, and wall time would
 * charge that to the hardware. Prints one JSON object on stdout.
 * Build: cc -O3 -march=native -ffast-math -fopenmp-simd.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef double vf64 __attribute__((vector_size(64)));
typedef float vf32 __attribute__((vector_size(64)));

/* CPU time of the calling thread, in seconds. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Enough independent chains to cover FMA latency x throughput (4 cycles x 2 ports). */
#define CHAINS 12
static volatile double sink;

static double fma_chains_f64(long iterations) {
    vf64 acc[CHAINS];
    volatile double seed_a = 0.999999, seed_b = 1e-7;
    vf64 a = (vf64){0} + seed_a, b = (vf64){0} + seed_b;
    for (int j = 0; j < CHAINS; j++) acc[j] = (vf64){0} + (double)j;
    for (long it = 0; it < iterations; it++)
        for (int j = 0; j < CHAINS; j++) acc[j] = acc[j] * a + b;
    double s = 0;
    for (int j = 0; j < CHAINS; j++)
        for (int l = 0; l < 8; l++) s += acc[j][l];
    return s;
}

static double fma_chains_f32(long iterations) {
    vf32 acc[CHAINS];
    volatile float seed_a = 0.999999f, seed_b = 1e-7f;
    vf32 a = (vf32){0} + seed_a, b = (vf32){0} + seed_b;
    for (int j = 0; j < CHAINS; j++) acc[j] = (vf32){0} + (float)j;
    for (long it = 0; it < iterations; it++)
        for (int j = 0; j < CHAINS; j++) acc[j] = acc[j] * a + b;
    double s = 0;
    for (int j = 0; j < CHAINS; j++)
        for (int l = 0; l < 16; l++) s += acc[j][l];
    return s;
}

typedef struct {
    int f32;
    long iterations;
    double seconds;
    pthread_barrier_t *barrier;
} peak_job;

static void *peak_thread(void *arg) {
    peak_job *job = arg;
    pthread_barrier_wait(job->barrier);
    double t0 = now();
    sink = job->f32 ? fma_chains_f32(job->iterations) : fma_chains_f64(job->iterations);
    job->seconds = now() - t0;
    return NULL;
}

/* FLOP/s of `threads` threads running FMA chains together; best of a few runs. */
static double peak_flops(int f32, int threads) {
    const long iterations = 20000000;
    const double lanes = f32 ? 16.0 : 8.0;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t tid[64];
        peak_job jobs[64];
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads);
        for (int t = 0; t < threads; t++) {
            jobs[t] = (peak_job){f32, iterations, 0, &barrier};
            pthread_create(&tid[t], NULL, peak_thread, &jobs[t]);
        }
        double flops = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            flops += 2.0 * lanes * CHAINS * (double)iterations / jobs[t].seconds;
        }
        pthread_barrier_destroy(&barrier);
        if (flops > best) best = flops;
    }
    return best;
}

typedef struct {
    double *a, *b, *c;
    long begin, end;
    double seconds; /* CPU time of the last sweep */
    pthread_barrier_t *barrier;
} triad_job;

static void *triad_thread(void *arg) {
    triad_job *job = arg;
    const double s = 3.0;
    for (long i = job->begin; i < job->end; i++) { /* first touch on the owning thread */
        job->a[i] = 0;
        job->b[i] = 1;
        job->c[i] = 2;
    }
    for (int rep = 0; rep < 2; rep++) {
        pthread_barrier_wait(job->barrier);
        double t0 = now();
        for (long i = job->begin; i < job->end; i++) job->a[i] = job->b[i] + s * job->c[i];
        job->seconds = now() - t0;
        pthread_barrier_wait(job->barrier);
    }
    return NULL;
}

/* Triad bandwidth in bytes/s with `threads` threads: time the second sweep (the first warms). */
static double triad_bandwidth(int threads) {
    const long n = 1L << 25; /* 3 arrays x 256 MiB */
    double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n),
           *c = malloc(sizeof(double) * n);
    if (!a || !b || !c) return 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t tid[64];
        triad_job jobs[64];
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
        for (int t = 0; t < threads; t++) {
            jobs[t] = (triad_job){a, b, c, n * t / threads, n * (t + 1) / threads, 0, &barrier};
            pthread_create(&tid[t], NULL, triad_thread, &jobs[t]);
        }
        for (int sweep = 0; sweep < 2; sweep++) {
            pthread_barrier_wait(&barrier);
            pthread_barrier_wait(&barrier);
        }
        double bw = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            bw += 24.0 * (double)(jobs[t].end - jobs[t].begin) / jobs[t].seconds;
        }
        pthread_barrier_destroy(&barrier);
        if (bw > best) best = bw;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* ns per element of one vectorised function over a cache-resident array, one thread. */
#define FN_LEN 4096
#define DEFINE_FN_BENCH(name, T, expr)                                                   \
    static double name(void) {                                                           \
        static T in[FN_LEN], out[FN_LEN];                                                \
        for (int i = 0; i < FN_LEN; i++) in[i] = (T)(0.25 + 3.0 * i / FN_LEN);           \
        double best = 1e30;                                                              \
        for (int rep = 0; rep < 7; rep++) {                                              \
            const int sweeps = 2000;                                                     \
            double t0 = now();                                                           \
            for (int s = 0; s < sweeps; s++) {                                           \
                _Pragma("omp simd") for (int i = 0; i < FN_LEN; i++) {                  \
                    T v = in[i];                                                         \
                    out[i] = (expr);                                                     \
                }                                                                        \
                __asm__ volatile("" ::"g"(out) : "memory");                             \
            }                                                                            \
            double ns = 1e9 * (now() - t0) / ((double)sweeps * FN_LEN);                  \
            if (ns < best) best = ns;                                                    \
        }                                                                                \
        return best;                                                                     \
    }

DEFINE_FN_BENCH(exp_f64, double, exp(-v))
DEFINE_FN_BENCH(log_f64, double, log(v))
DEFINE_FN_BENCH(log1p_f64, double, log1p(v))
DEFINE_FN_BENCH(sqrt_f64, double, sqrt(v))
DEFINE_FN_BENCH(div_f64, double, 1.0 / v)
DEFINE_FN_BENCH(fma_f64, double, v * 1.0001 + 0.5)
DEFINE_FN_BENCH(exp_f32, float, expf(-v))
DEFINE_FN_BENCH(log_f32, float, logf(v))
DEFINE_FN_BENCH(log1p_f32, float, log1pf(v))
DEFINE_FN_BENCH(sqrt_f32, float, sqrtf(v))
DEFINE_FN_BENCH(div_f32, float, 1.0f / v)
DEFINE_FN_BENCH(fma_f32, float, v * 1.0001f + 0.5f)

int main(int argc, char **argv) {
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (argc > 1) threads = atoi(argv[1]);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    printf("{\n  \"threads\": %d,\n", threads);
    printf("  \"peak_flops_f64_1t\": %.4e,\n", peak_flops(0, 1));
    printf("  \"peak_flops_f64\": %.4e,\n", peak_flops(0, threads));
    printf("  \"peak_flops_f32_1t\": %.4e,\n", peak_flops(1, 1));
    printf("  \"peak_flops_f32\": %.4e,\n", peak_flops(1, threads));
    printf("  \"bandwidth_1t\": %.4e,\n", triad_bandwidth(1));
    printf("  \"bandwidth\": %.4e,\n", triad_bandwidth(threads));
    printf("  \"ns_per_element_1t\": {\n");
    printf("    \"f64\": {\"exp\": %.4f, \"log\": %.4f, \"log1p\": %.4f, \"sqrt\": %.4f, "
           "\"div\": %.4f, \"fma_stream\": %.4f},\n",
           exp_f64(), log_f64(), log1p_f64(), sqrt_f64(), div_f64(), fma_f64());
    printf("    \"f32\": {\"exp\": %.4f, \"log\": %.4f, \"log1p\": %.4f, \"sqrt\": %.4f, "
           "\"div\": %.4f, \"fma_stream\": %.4f}\n",
           exp_f32(), log_f32(), log1p_f32(), sqrt_f32(), div_f32(), fma_f32());
    printf("  }\n}\n");
    return 0;
}
