/* The public header compiles on its own (C99, C11, C++) and its declarations can be used. */
#include <implicitem.h>

static int uses_every_type(void)
{
    ie_problem_f64 p64;
    ie_problem_f32 p32;
    ie_grads_f64 g64;
    ie_grads_f32 g32;
    ie_energy_fn_f64 fn64 = 0;
    ie_energy_fn_f32 fn32 = 0;
    ie_status status = IE_OK;
    ie_kernel kernel = IE_KERNEL_LEARNED;
    ie_scale_shape shape = IE_SCALE_PER_DIMENSION;
    (void)p64;
    (void)p32;
    (void)g64;
    (void)g32;
    (void)fn64;
    (void)fn32;
    return (int)status + (int)kernel + (int)shape + IE_VERSION_NUMBER;
}

int main(void)
{
    return uses_every_type() > 0 ? 0 : 1;
}
