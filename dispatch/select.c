/* Chooses, when the library is loaded, which compiled copy of the library the public ie_*
 * functions run: the AVX-512 copy (x86-64-v4) where the CPU has AVX-512 F/CD/BW/DQ/VL and the
 * operating system saves the zmm registers, else the AVX2 copy (Haswell). IMPLICITEM_CPU=avx2 in
 * the environment forces the AVX2 copy; IMPLICITEM_CPU=avx512 asks for the AVX-512 copy, which it
 * gets only where it can run. The table (dispatch/trampolines.sh) starts on the AVX2 copy, so a
 * call made before this constructor runs is still correct. */
#include <cpuid.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

extern void *implicitem_dispatch_table[];
extern void *const implicitem_table_avx512[];
extern const size_t implicitem_dispatch_count;

/* XCR0 bits the OS sets when it saves the state: SSE, AVX (ymm), opmask, ZMM_Hi256, Hi16_ZMM. */
#define ZMM_STATE 0xe6u

static int can_run_avx512(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE))
        return 0;
    unsigned xcr0_low, xcr0_high;
    __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & ZMM_STATE) != ZMM_STATE)
        return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    const unsigned needed = bit_AVX512F | bit_AVX512CD | bit_AVX512BW | bit_AVX512DQ | bit_AVX512VL;
    return (ebx & needed) == needed;
}

__attribute__((constructor)) static void implicitem_select_copy(void) {
    const char *request = getenv("IMPLICITEM_CPU");
    if (request && strcmp(request, "avx2") == 0)
        return;
    if (can_run_avx512())
        memcpy(implicitem_dispatch_table, implicitem_table_avx512,
               implicitem_dispatch_count * sizeof implicitem_dispatch_table[0]);
}
