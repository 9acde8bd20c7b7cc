/* CPU feature detection for kbd-sim's kernel-path choice (Sources/KernelPaths, docs/kernels.md).
 *
 * On x86 (x86-64 or i386) ccpu_detect() reads cpuid and, when the OS has enabled XSAVE,
 * the XCR0 register (xgetbv): a CPU can report AVX/AVX-512 in cpuid while the OS does not
 * save those registers, and then the instructions fault. Elsewhere (arm64, ...) it reports
 * is_x86 = 0 and no features. */
#ifndef CCPUFEATURES_H
#define CCPUFEATURES_H

#include <stdint.h>

/* Bits of ccpu_features.flags. */
#define CCPU_SSE3 (1ull << 0)
#define CCPU_SSSE3 (1ull << 1)
#define CCPU_SSE4_1 (1ull << 2)
#define CCPU_SSE4_2 (1ull << 3)
#define CCPU_POPCNT (1ull << 4)
#define CCPU_AVX (1ull << 5)
#define CCPU_AVX2 (1ull << 6)
#define CCPU_FMA (1ull << 7)
#define CCPU_F16C (1ull << 8)
#define CCPU_BMI1 (1ull << 9)
#define CCPU_BMI2 (1ull << 10)
#define CCPU_LZCNT (1ull << 11)
#define CCPU_MOVBE (1ull << 12)
#define CCPU_AVX512F (1ull << 13)
#define CCPU_AVX512CD (1ull << 14)
#define CCPU_AVX512BW (1ull << 15)
#define CCPU_AVX512DQ (1ull << 16)
#define CCPU_AVX512VL (1ull << 17)
/* cpuid leaf 1 ECX bit 27: the OS has enabled XSAVE, so xgetbv may be executed. */
#define CCPU_OSXSAVE (1ull << 18)
/* XCR0 bits 1 and 2 (SSE and AVX state) are set: the OS saves YMM registers. */
#define CCPU_OS_AVX (1ull << 19)
/* XCR0 bits 1, 2, 5, 6 and 7 are set: the OS also saves opmask and ZMM registers. */
#define CCPU_OS_AVX512 (1ull << 20)

struct ccpu_features {
    int is_x86;
    /* cpuid leaf 0 vendor ("GenuineIntel", "AuthenticAMD", ...), NUL-terminated. */
    char vendor[16];
    /* cpuid leaves 0x80000002-4, NUL-terminated, leading spaces removed. */
    char brand[64];
    /* Display family and model (base + extended, as Intel and AMD document them). */
    int family;
    int model;
    int stepping;
    uint64_t flags;
    /* XCR0 as read by xgetbv(0); 0 when OSXSAVE is off or not on x86. */
    uint64_t xcr0;
};

/* Fills *out; never fails (fields stay zero where the CPU says nothing). */
void ccpu_detect(struct ccpu_features *out);

#endif
