/* NonlinHRU (examples/nonlin_hru.ham) in hand-written C: the forward pass and the RHEL gradient,
 * the native CPU baseline hsc's kernels are compared with (benches/cpu/run.sh runs it).
 *
 *   H = sum_i p_i^2/2 + alpha q_i^2/2 + s_i logcosh(W_i q_i + d_i)/W_i,  s = sigmoid(c),  d = B u_t + b
 *   dV/dq_i = alpha q_i + s_i tanh(W_i q_i + d_i);  leapfrog (kick h/2, drift h, kick h/2)
 *   loss L = sum_{t=1..T} g_t . q_t with given per-step cotangents g_t (as hsc bench drives it).
 *
 * RHEL follows ../../../shared/spec/rhel.md (as rhel_reference.py): after the forward pass, the
 * two echoes (+eps, -eps) start from the momentum-flipped final state, run fused in one loop
 * (each input row and each drive B u_t is read/computed once for both), are nudged with +-eps g_t
 * after echo step t >= 1, and accumulate at every kick the difference of their h/2 dV/dtheta
 * directly. Besides dL/dtheta (summed over the batch) it returns, as hsc's RHEL does, the per-step
 * input gradients dL/du_t ([batch, T, N]) and the initial-state gradients dL/dq_0, dL/dp_0.
 *
 * Expert choices: P and N are compile-time constants (hsc specialises dims too); every inner loop
 * runs over i (P floats, contiguous: B is stored transposed) and vectorises; tanh and logcosh
 * come from one branch-free exponential (Cephes polynomial, exponent by bit manipulation) and one
 * division, no libm in the hot loops; logcosh's constant -log 2 is dropped (it cancels between
 * the echoes). Sequences run one after another on one thread.
 *
 * Build: gcc -O3 -march=native -fopenmp-simd nonlin_hru.c -o nonlin_hru -lm
 * Run:   taskset -c 0 ./nonlin_hru --pass rhel [--steps 1000] [--batch 16] [--dt 0.05] [--eps 1e-3]
 * Before timing it checks the f32 RHEL gradients (all params, and dL/du_t for three steps) against
 * central finite differences of an f64 libm forward pass, and refuses to time if the worst
 * relative error (max |diff| / max |fd| per array) exceeds 1e-2.
 * Prints one JSON line; ns_per_element is the median seconds of a whole batch / (batch*steps*P),
 * hsc bench's unit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef P
#define P 64
#endif
#ifndef N
#define N 16
#endif

typedef struct {
    float W[P], b[P], c[P], alpha;
    float Bt[N][P]; /* Bt[j][i] = B[i][j] */
} Params;

typedef struct { /* what the steps read, derived from the params once per call */
    const Params *th;
    float h, ha, hs[P]; /* h, h/2 alpha, h/2 s_i */
    float eps;
} Model;

static Model prepare(const Params *th, float h, float eps) {
    Model m = {.th = th, .h = h, .ha = 0.5f * h * th->alpha, .eps = eps};
    for (int i = 0; i < P; i++) m.hs[i] = 0.5f * h / (1.0f + expf(-th->c[i]));
    return m;
}

static inline float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* e^x for x <= 0 (clamped at -87, above the smallest normal), about 1 ulp: x = n ln2 + r with
 * n rounded by the 1.5*2^23 trick (n lands in k's low mantissa bits), Cephes' expf polynomial
 * for e^r, and 2^n built from the exponent bits. */
static inline float exp_nonpos(float x) {
    x = x > -87.0f ? x : -87.0f;
    float k = x * 1.44269504f + 12582912.0f;
    float n = k - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    return y * from_bits((to_bits(k) - 0x4B400000u + 127u) << 23);
}

/* tanh z = sign(z) (1 - e)/(1 + e) with e = exp(-2|z|). */
static inline float tanh_fast(float z) {
    float e = exp_nonpos(-2.0f * fabsf(z));
    return copysignf((1.0f - e) / (1.0f + e), z);
}

/* tanh z and logcosh z + log 2 = |z| + log1p(e), from one exponential and one division:
 * log1p(e) = 2 atanh(s), s = e/(2 + e) in [0, 1/3], by its odd series (error < 1e-8). */
static inline float tanh_logcosh(float z, float *lc) {
    float a = fabsf(z), e = exp_nonpos(-2.0f * a);
    float r = 1.0f / ((1.0f + e) * (2.0f + e));
    float s = e * (1.0f + e) * r, s2 = s * s;
    float series = 1.0f / 11 + s2 * (1.0f / 13);
    series = 1.0f / 9 + s2 * series;
    series = 1.0f / 7 + s2 * series;
    series = 1.0f / 5 + s2 * series;
    series = 1.0f / 3 + s2 * series;
    *lc = a + 2.0f * s * (1.0f + s2 * series);
    return copysignf((1.0f - e) * (2.0f + e) * r, z);
}

/* d = B u + b, vectorised over i. */
static inline void drive(const Params *restrict th, const float *restrict u, float *restrict d) {
    for (int i = 0; i < P; i++) d[i] = th->b[i];
    for (int j = 0; j < N; j++)
        for (int i = 0; i < P; i++) d[i] += u[j] * th->Bt[j][i];
}

/* One sequence forward from (q, p) (updated in place); u is [T, N], g is [T, P] with row t the
 * cotangent of q_{t+1}. Returns the loss. */
static double forward_seq(const Model *m, int T, const float *restrict u, const float *restrict g,
                          float *restrict q, float *restrict p) {
    const Params *restrict th = m->th;
    const float h = m->h, ha = m->ha;
    float d[P], loss[P] = {0};
    for (int t = 0; t < T; t++, u += N, g += P) {
        drive(th, u, d);
        for (int i = 0; i < P; i++) {
            float pi = p[i] - ha * q[i] - m->hs[i] * tanh_fast(th->W[i] * q[i] + d[i]);
            float qi = q[i] + h * pi;
            p[i] = pi - ha * qi - m->hs[i] * tanh_fast(th->W[i] * qi + d[i]);
            q[i] = qi;
            loss[i] += g[i] * qi;
        }
    }
    double sum = 0;
    for (int i = 0; i < P; i++) sum += loss[i];
    return sum;
}

/* Sums over the echo steps of (+eps echo) - (-eps echo), per kick, before the constant factors. */
typedef struct {
    float tq[P], lc[P], qq[P], t[P]; /* tanh*q, logcosh, q^2, tanh */
    float tu[N][P];                  /* (tanh at both kicks) u_t[j], B transposed */
} Acc;

/* The fused +-eps echo of one sequence from its final state (qT, pT). Adds the sums to acc,
 * writes dL/du_t to du ([T, N]) and dL/dq_0, dL/dp_0 to dq0, dp0. */
static void echo_seq(const Model *m, int T, const float *restrict u, const float *restrict g,
                     const float *restrict qT, const float *restrict pT, Acc *restrict acc,
                     float *restrict du, float *restrict dq0, float *restrict dp0) {
    const Params *restrict th = m->th;
    const float h = m->h, ha = m->ha, eps = m->eps, scale = -0.5f * h / (2.0f * eps);
    static const float zero[P];
    float qa[P], pa[P], qb[P], pb[P], d[P], v[P], Bsw[P][N];
    for (int i = 0; i < P; i++) /* dL/du_t[j] = sum_i Bsw[i][j] v_t[i] */
        for (int j = 0; j < N; j++) Bsw[i][j] = scale * th->Bt[j][i] * 2.0f * m->hs[i] / (h * th->W[i]);
    const float *gT = g + (size_t)(T - 1) * P;
    for (int i = 0; i < P; i++) {
        qa[i] = qb[i] = qT[i];
        pa[i] = -pT[i] + eps * gT[i];
        pb[i] = -pT[i] - eps * gT[i];
    }
    for (int t = T - 1; t >= 0; t--) {
        const float *ut = u + (size_t)t * N, *gt = t >= 1 ? g + (size_t)(t - 1) * P : zero;
        drive(th, ut, d);
        for (int i = 0; i < P; i++) {
            float la, lb;
            float ta = tanh_logcosh(th->W[i] * qa[i] + d[i], &la);
            float tb = tanh_logcosh(th->W[i] * qb[i] + d[i], &lb);
            float tq = ta * qa[i] - tb * qb[i], lc = la - lb, qq = (qa[i] - qb[i]) * (qa[i] + qb[i]);
            float vi = ta - tb;
            float pa_ = pa[i] - ha * qa[i] - m->hs[i] * ta, pb_ = pb[i] - ha * qb[i] - m->hs[i] * tb;
            float qa_ = qa[i] + h * pa_, qb_ = qb[i] + h * pb_;
            ta = tanh_logcosh(th->W[i] * qa_ + d[i], &la);
            tb = tanh_logcosh(th->W[i] * qb_ + d[i], &lb);
            tq += ta * qa_ - tb * qb_, lc += la - lb, qq += (qa_ - qb_) * (qa_ + qb_);
            vi += ta - tb;
            pa[i] = pa_ - ha * qa_ - m->hs[i] * ta + eps * gt[i];
            pb[i] = pb_ - ha * qb_ - m->hs[i] * tb - eps * gt[i];
            qa[i] = qa_, qb[i] = qb_;
            acc->tq[i] += tq, acc->lc[i] += lc, acc->qq[i] += qq, acc->t[i] += vi;
            v[i] = vi;
        }
        for (int j = 0; j < N; j++)
            for (int i = 0; i < P; i++) acc->tu[j][i] += ut[j] * v[i];
        float part[4][N] = {{0}}; /* dL/du_t = Bsw v, over j (one vector), 4 chains */
        for (int i = 0; i < P; i += 4)
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < N; j++) part[r][j] += v[i + r] * Bsw[i + r][j];
        for (int j = 0; j < N; j++) du[(size_t)t * N + j] = part[0][j] + part[1][j] + part[2][j] + part[3][j];
    }
    for (int i = 0; i < P; i++) {
        dq0[i] = (pa[i] - pb[i]) / (2.0f * eps);
        dp0[i] = (qa[i] - qb[i]) / (2.0f * eps);
    }
}

/* RHEL over a batch (u [B, T, N], g [B, T, P], x_0 = 0): the gradients summed over the batch
 * into grad (Params-shaped), du [B, T, N], dq0 and dp0 [B, P]. Returns the loss. */
static double rhel(const Model *m, int batch, int T, const float *u, const float *g, Params *grad,
                   float *du, float *dq0, float *dp0) {
    const Params *th = m->th;
    static Acc acc;
    memset(&acc, 0, sizeof acc);
    double loss = 0;
    for (int s = 0; s < batch; s++) {
        float q[P] = {0}, p[P] = {0};
        const float *us = u + (size_t)s * T * N, *gs = g + (size_t)s * T * P;
        loss += forward_seq(m, T, us, gs, q, p);
        echo_seq(m, T, us, gs, q, p, &acc, du + (size_t)s * T * N, dq0 + s * P, dp0 + s * P);
    }
    const float k = -0.5f * m->h / (2.0f * m->eps); /* -(A(+eps) - A(-eps)) / (2 eps), tau = h/2 */
    float qq = 0;
    for (int i = 0; i < P; i++) {
        float s = 2.0f * m->hs[i] / m->h, w = th->W[i];
        grad->W[i] = k * s * (acc.tq[i] / w - acc.lc[i] / (w * w));
        grad->b[i] = k * s / w * acc.t[i];
        grad->c[i] = k * s * (1.0f - s) / w * acc.lc[i];
        for (int j = 0; j < N; j++) grad->Bt[j][i] = k * s / w * acc.tu[j][i];
        qq += acc.qq[i];
    }
    grad->alpha = k * 0.5f * qq;
    return loss;
}

/* ---- The check: an f64 libm forward pass and central finite differences. ---- */

typedef struct {
    double W[P], b[P], c[P], alpha, B[P][N];
} ParamsD;
#define N_THETA ((int)(sizeof(ParamsD) / sizeof(double)))

static double forward_f64(const ParamsD *th, double h, int T, const double *u, const float *g) {
    double q[P] = {0}, p[P] = {0}, loss = 0;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < P; i++) {
            double d = th->b[i], s = 1 / (1 + exp(-th->c[i]));
            for (int j = 0; j < N; j++) d += th->B[i][j] * u[t * N + j];
            p[i] -= h / 2 * (th->alpha * q[i] + s * tanh(th->W[i] * q[i] + d));
            q[i] += h * p[i];
            p[i] -= h / 2 * (th->alpha * q[i] + s * tanh(th->W[i] * q[i] + d));
            loss += g[t * P + i] * q[i];
        }
    }
    return loss;
}

static double rel_err(const float *x, const double *ref, int n) {
    double diff = 0, scale = 1e-30;
    for (int k = 0; k < n; k++) {
        diff = fmax(diff, fabs(x[k] - ref[k]));
        scale = fmax(scale, fabs(ref[k]));
    }
    return diff / scale;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static double uniform(double lo, double hi) { /* xorshift64* */
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return lo + (hi - lo) * ((rng_state * 0x2545F4914F6CDD1Du) >> 11) * 0x1.0p-53;
}
static double normal(void) { return sqrt(-2 * log(uniform(1e-300, 1))) * cos(6.283185307179586 * uniform(0, 1)); }

/* The draws of the .ham file's inits; inputs N(0, 1), cotangents N(0, 1)/P. */
static void draw(ParamsD *thd, Params *th, int batch, int T, float *u, float *g) {
    for (int i = 0; i < P; i++) {
        thd->W[i] = uniform(0.5, 1.0), thd->b[i] = 0, thd->c[i] = uniform(-1, 1);
        for (int j = 0; j < N; j++) thd->B[i][j] = uniform(-0.25, 0.25);
    }
    thd->alpha = uniform(0.1, 1.0);
    for (size_t k = 0; k < (size_t)batch * T * N; k++) u[k] = normal();
    for (size_t k = 0; k < (size_t)batch * T * P; k++) g[k] = normal() / P;
    for (int i = 0; i < P; i++) {
        th->W[i] = thd->W[i], th->b[i] = thd->b[i], th->c[i] = thd->c[i];
        for (int j = 0; j < N; j++) th->Bt[j][i] = thd->B[i][j];
    }
    th->alpha = thd->alpha;
}

/* RHEL (f32) against finite differences of forward_f64 on one sequence; returns the worst error. */
static double check(float h, float eps, int T) {
    ParamsD thd;
    Params th, grad;
    float *u = malloc(sizeof(float) * T * N), *g = malloc(sizeof(float) * T * P);
    float *du = malloc(sizeof(float) * T * N), dq0[P], dp0[P];
    double *ud = malloc(sizeof(double) * T * N), fd[N_THETA], delta = 1e-5, worst = 0;
    draw(&thd, &th, 1, T, u, g);
    for (int k = 0; k < T * N; k++) ud[k] = u[k];
    Model m = prepare(&th, h, eps);
    rhel(&m, 1, T, u, g, &grad, du, dq0, dp0);
    double *x = (double *)&thd;
    for (int k = 0; k < N_THETA; k++) {
        double x0 = x[k];
        x[k] = x0 + delta;
        fd[k] = forward_f64(&thd, h, T, ud, g);
        x[k] = x0 - delta;
        fd[k] = (fd[k] - forward_f64(&thd, h, T, ud, g)) / (2 * delta);
        x[k] = x0;
    }
    struct { const char *name; const float *x; const double *ref; int n; } arrays[] = {
        {"W", grad.W, fd, P},         {"b", grad.b, fd + P, P},
        {"c", grad.c, fd + 2 * P, P}, {"alpha", &grad.alpha, fd + 3 * P, 1},
    };
    fprintf(stderr, "check (P %d, N %d, %d steps, dt %g, eps %g), RHEL f32 vs finite differences f64:", P, N, T, h, eps);
    for (int a = 0; a < 4; a++) {
        double e = rel_err(arrays[a].x, arrays[a].ref, arrays[a].n);
        fprintf(stderr, " %s %.1e", arrays[a].name, e);
        worst = fmax(worst, e);
    }
    double fdB[P], eB = 0; /* B: gradient rows j of Bt against columns of B */
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < P; i++) fdB[i] = fd[3 * P + 1 + i * N + j];
        eB = fmax(eB, rel_err(grad.Bt[j], fdB, P));
    }
    fprintf(stderr, " B %.1e", eB);
    worst = fmax(worst, eB);
    int rows[3] = {0, T / 2, T - 1}; /* dL/du_t at three steps, as one array */
    double fdu[3 * N];
    float rhel_du[3 * N];
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < N; j++) {
            double *x = &ud[rows[r] * N + j], x0 = *x;
            *x = x0 + delta, fdu[r * N + j] = forward_f64(&thd, h, T, ud, g);
            *x = x0 - delta, fdu[r * N + j] = (fdu[r * N + j] - forward_f64(&thd, h, T, ud, g)) / (2 * delta);
            *x = x0;
            rhel_du[r * N + j] = du[rows[r] * N + j];
        }
    double eu = rel_err(rhel_du, fdu, 3 * N);
    fprintf(stderr, " u_t %.1e\n", eu);
    free(u), free(g), free(du), free(ud);
    return fmax(worst, eu);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int T = 1000, batch = 16, is_rhel = 0;
    double h = 0.05, eps = 1e-3, min_time = 1.0;
    for (int a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--steps")) T = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--batch")) batch = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--pass")) is_rhel = !strcmp(argv[a + 1], "rhel");
        else if (!strcmp(argv[a], "--dt")) h = atof(argv[a + 1]);
        else if (!strcmp(argv[a], "--eps")) eps = atof(argv[a + 1]);
        else if (!strcmp(argv[a], "--min-time")) min_time = atof(argv[a + 1]);
        else return fprintf(stderr, "unknown option %s\n", argv[a]), 2;
    }
    double err = check(h, eps, 100);
    if (!(err <= 1e-2)) return fprintf(stderr, "RHEL gradient off by %.1e: not timing\n", err), 1;

    ParamsD thd;
    static Params th, grad;
    float *u = malloc(sizeof(float) * batch * T * N), *g = malloc(sizeof(float) * batch * T * P);
    float *du = malloc(sizeof(float) * batch * T * N), *dq0 = malloc(sizeof(float) * batch * P);
    float *dp0 = malloc(sizeof(float) * batch * P), q[P], p[P];
    draw(&thd, &th, batch, T, u, g);
    Model m = prepare(&th, h, eps);
    static double times[100000];
    int runs = 0;
    volatile double sink = 0;
    for (double start = now(); runs < 3 || (now() - start < min_time && runs < 100000); runs++) {
        double t0 = now();
        if (is_rhel) sink += rhel(&m, batch, T, u, g, &grad, du, dq0, dp0);
        else
            for (int s = 0; s < batch; s++) {
                memset(q, 0, sizeof q), memset(p, 0, sizeof p);
                sink += forward_seq(&m, T, u + (size_t)s * T * N, g + (size_t)s * T * P, q, p);
            }
        times[runs] = now() - t0;
    }
    qsort(times, runs, sizeof(double), cmp);
    double median = times[runs / 2];
    printf("{\"baseline\":\"c\",\"pass\":\"%s\",\"P\":%d,\"N\":%d,\"batch\":%d,\"steps\":%d,\"dt\":%g,"
           "\"eps\":%g,\"runs\":%d,\"seconds\":%.6g,\"ns_per_element\":%.4g,\"check_rel_err\":%.2g}\n",
           is_rhel ? "rhel" : "forward", P, N, batch, T, h, eps, runs, median,
           median * 1e9 / ((double)batch * T * P), err);
    free(u), free(g), free(du), free(dq0), free(dp0);
    return 0;
}
