/*
 * ffi_example.c - calling libimplicitem the way an interpreter does.
 *
 * No link-time dependency on the library: it is found at run time with
 * dlopen("libimplicitem.so") (the loader path decides which), every function is looked up
 * with dlsym, and every call goes through libffi (ffi_prep_cif / ffi_call) from a
 * description of its signature, as ctypes or cffi would. The header is used only for
 * the struct layout and the constants.
 *
 * Build: cc ffi_example.c $(pkg-config --cflags implicitem libffi) $(pkg-config --libs libffi) -ldl -lm
 * Run:   LD_LIBRARY_PATH=<prefix>/lib ./ffi_example
 */
#include <implicitem.h>

#include <dlfcn.h>
#include <ffi.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void *library;
static int failures;

/* One foreign function: its address and its call interface. */
typedef struct {
    void (*fn)(void);
    ffi_cif cif;
    ffi_type *args[10];
} Foreign;

static int bind(Foreign *f, const char *name, ffi_type *result, unsigned count, ffi_type **args)
{
    void *symbol = dlsym(library, name);
    if (!symbol) {
        printf("dlsym(%s): %s\n", name, dlerror());
        return 1;
    }
    memcpy(&f->fn, &symbol, sizeof symbol);
    memcpy(f->args, args, count * sizeof *args);
    if (ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, count, result, f->args) != FFI_OK) {
        printf("ffi_prep_cif(%s) failed\n", name);
        return 1;
    }
    return 0;
}

static void expect(int ok, const char *what)
{
    printf("%-60s %s\n", what, ok ? "ok" : "FAILED");
    failures += !ok;
}

int main(void)
{
    library = dlopen("libimplicitem.so", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }

    ffi_type *p = &ffi_type_pointer, *d = &ffi_type_double, *status_type = &ffi_type_sint;
    Foreign version, version_string, init, forward, activation, status_string, last_error;
    int bad = 0;
    bad |= bind(&version, "ie_version", &ffi_type_uint, 0, NULL);
    bad |= bind(&version_string, "ie_version_string", p, 0, NULL);
    bad |= bind(&init, "ie_problem_init_f64", status_type, 1, (ffi_type *[]){p});
    bad |= bind(&forward, "ie_forward_f64", status_type, 4, (ffi_type *[]){p, p, p, p});
    bad |= bind(&activation, "ie_activation_f64", status_type, 10,
                (ffi_type *[]){&ffi_type_sint32, &ffi_type_sint64, p, d, d, d, d, d, p, p});
    bad |= bind(&status_string, "ie_status_string", p, 1, (ffi_type *[]){&ffi_type_sint});
    bad |= bind(&last_error, "ie_last_error_message", p, 0, NULL);
    if (bad) return 1;

    /* ie_version() and ie_version_string(). */
    ffi_arg version_value;
    const char *text;
    ffi_call(&version.cif, version.fn, &version_value, NULL);
    ffi_call(&version_string.cif, version_string.fn, &text, NULL);
    printf("loaded libimplicitem %s (%u)\n", text, (unsigned)version_value);
    expect((unsigned)version_value == IE_VERSION_NUMBER, "ie_version() matches the header");

    /* ie_forward_f64 on two 1-D points and two gaussian components. */
    ie_problem_f64 problem;
    void *problem_pointer = &problem;
    ffi_arg status;
    ffi_call(&init.cif, init.fn, &status, (void *[]){&problem_pointer});
    double x[2] = {0.0, 1.0}, mu[2] = {-1.0, 1.0}, logZ[2], resp[4];
    problem.kernel = IE_KERNEL_GAUSSIAN;
    problem.n = 2;
    problem.k = 2;
    problem.d = 1;
    problem.x = x;
    problem.mu = mu;
    void *energies_pointer = NULL, *logZ_pointer = logZ, *resp_pointer = resp;
    ffi_call(&forward.cif, forward.fn, &status,
             (void *[]){&problem_pointer, &energies_pointer, &logZ_pointer, &resp_pointer});
    /* Row 0 is halfway: logZ = log(2 e^(-1/2)), r = (1/2, 1/2). */
    expect((int)status == IE_OK && fabs(logZ[0] - (log(2.0) - 0.5)) < 1e-15 && fabs(resp[0] - 0.5) < 1e-15,
           "ie_forward_f64 through libffi: logZ and responsibilities");

    /* ie_activation_f64 with mixed argument types: gaussian gives tanh(m z / (s^2 tau)). */
    int32_t kernel = IE_KERNEL_GAUSSIAN;
    int64_t n = 3;
    double z[3] = {-1.0, 0.2, 2.0}, m = 1.5, s = 2.0, nu = 0, delta = 0, tau = 0.5, act[3], dact[3];
    const double *z_pointer = z;
    double *act_pointer = act, *dact_pointer = dact;
    ffi_call(&activation.cif, activation.fn, &status,
             (void *[]){&kernel, &n, &z_pointer, &m, &s, &nu, &delta, &tau, &act_pointer, &dact_pointer});
    int ok = (int)status == IE_OK;
    for (int i = 0; i < 3; i++) ok = ok && fabs(act[i] - tanh(m * z[i] / (s * s * tau))) < 1e-15;
    expect(ok, "ie_activation_f64 through libffi: tanh(m z / (s^2 tau))");

    /* An error: n = 0 gives IE_ERR_BAD_SIZE, a static name and a message naming n. */
    problem.n = 0;
    ffi_call(&forward.cif, forward.fn, &status,
             (void *[]){&problem_pointer, &energies_pointer, &logZ_pointer, &resp_pointer});
    int code = (int)status;
    const char *name, *message;
    ffi_call(&status_string.cif, status_string.fn, &name, (void *[]){&code});
    ffi_call(&last_error.cif, last_error.fn, &message, NULL);
    printf("n = 0: %s: %s\n", name, message);
    expect(code == IE_ERR_BAD_SIZE && strncmp(name, "IE_ERR_BAD_SIZE", 15) == 0 && strstr(message, "n") != NULL,
           "an error through libffi: status, its name and the message");

    dlclose(library);
    printf("ffi_example: %s\n", failures == 0 ? "all checks passed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
