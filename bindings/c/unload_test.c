/*
 * unload_test.c - dlclose while a thread that used the library is still running.
 *
 * An interpreter may dlclose libimplicitem while its worker threads live on. The thread's
 * error buffer (allocated by a failing call) is freed by a destructor when the thread
 * exits, so the library must stay mapped after dlclose (it is linked with -z nodelete);
 * otherwise the thread's exit jumps into unmapped code. Exits non-zero (or crashes) on failure.
 */
#include <implicitem.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static void *library;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int stage;

static void advance_to(int next)
{
    pthread_mutex_lock(&lock);
    stage = next;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void wait_for(int wanted)
{
    pthread_mutex_lock(&lock);
    while (stage != wanted) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

static void *worker(void *result)
{
    ie_status (*init)(ie_problem_f64 *);
    ie_status (*forward)(const ie_problem_f64 *, double *, double *, double *);
    void *symbol = dlsym(library, "ie_problem_init_f64");
    *(void **)&init = symbol;
    symbol = dlsym(library, "ie_forward_f64");
    *(void **)&forward = symbol;
    ie_problem_f64 problem;
    init(&problem);
    *(int *)result = forward(&problem, NULL, NULL, NULL); /* n = 0: an error on this thread */
    advance_to(1);
    wait_for(2);
    return NULL;
}

int main(void)
{
    library = dlopen("libimplicitem.so", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    int status = -1;
    pthread_t thread;
    pthread_create(&thread, NULL, worker, &status);
    wait_for(1);
    dlclose(library);
    advance_to(2);
    pthread_join(thread, NULL); /* the thread's error buffer is freed here */
    int ok = status == IE_ERR_BAD_SIZE;
    printf("unload_test: a thread outlived dlclose and exited cleanly%s\n", ok ? "" : " (but the call failed)");
    return ok ? 0 : 1;
}
