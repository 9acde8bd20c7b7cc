#include "ccpufeatures.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* Inline asm rather than the _xgetbv intrinsic, which needs -mxsave or a target attribute;
   the assembler accepts the mnemonic for any x86 target. Only called when OSXSAVE is set
   (otherwise xgetbv itself faults). */
static uint64_t ccpu_xgetbv(unsigned int index) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(index));
    return ((uint64_t)edx << 32) | eax;
}

static void ccpu_copy_registers(char *dst, unsigned int a, unsigned int b, unsigned int c, unsigned int d) {
    unsigned int regs[4] = {a, b, c, d};
    for (int i = 0; i < 16; i++) dst[i] = (char)((regs[i / 4] >> (8 * (i % 4))) & 0xff);
}
#endif

void ccpu_detect(struct ccpu_features *out) {
    unsigned char *bytes = (unsigned char *)out;
    for (unsigned long i = 0; i < sizeof(*out); i++) bytes[i] = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    out->is_x86 = 1;
    unsigned int max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf == 0) return;
    __cpuid(0, eax, ebx, ecx, edx);
    /* The vendor string is EBX, EDX, ECX. */
    char vendor[16];
    ccpu_copy_registers(vendor, ebx, edx, ecx, 0);
    for (int i = 0; i < 12; i++) out->vendor[i] = vendor[i];
    out->vendor[12] = 0;

    __cpuid(1, eax, ebx, ecx, edx);
    unsigned int base_family = (eax >> 8) & 0xf;
    unsigned int base_model = (eax >> 4) & 0xf;
    out->stepping = (int)(eax & 0xf);
    out->family = (int)(base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family);
    out->model = (int)((base_family == 0x6 || base_family == 0xf) ? (base_model | (((eax >> 16) & 0xf) << 4))
                                                                   : base_model);
    uint64_t f = 0;
    if (ecx & (1u << 0)) f |= CCPU_SSE3;
    if (ecx & (1u << 9)) f |= CCPU_SSSE3;
    if (ecx & (1u << 12)) f |= CCPU_FMA;
    if (ecx & (1u << 19)) f |= CCPU_SSE4_1;
    if (ecx & (1u << 20)) f |= CCPU_SSE4_2;
    if (ecx & (1u << 22)) f |= CCPU_MOVBE;
    if (ecx & (1u << 23)) f |= CCPU_POPCNT;
    if (ecx & (1u << 27)) f |= CCPU_OSXSAVE;
    if (ecx & (1u << 28)) f |= CCPU_AVX;
    if (ecx & (1u << 29)) f |= CCPU_F16C;

    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        if (ebx & (1u << 3)) f |= CCPU_BMI1;
        if (ebx & (1u << 5)) f |= CCPU_AVX2;
        if (ebx & (1u << 8)) f |= CCPU_BMI2;
        if (ebx & (1u << 16)) f |= CCPU_AVX512F;
        if (ebx & (1u << 17)) f |= CCPU_AVX512DQ;
        if (ebx & (1u << 28)) f |= CCPU_AVX512CD;
        if (ebx & (1u << 30)) f |= CCPU_AVX512BW;
        if (ebx & (1u << 31)) f |= CCPU_AVX512VL;
    }

    unsigned int max_extended = __get_cpuid_max(0x80000000u, 0);
    if (max_extended >= 0x80000001u) {
        __cpuid(0x80000001u, eax, ebx, ecx, edx);
        if (ecx & (1u << 5)) f |= CCPU_LZCNT; /* ABM / LZCNT */
    }
    if (max_extended >= 0x80000004u) {
        char brand[49];
        for (unsigned int leaf = 0; leaf < 3; leaf++) {
            __cpuid(0x80000002u + leaf, eax, ebx, ecx, edx);
            ccpu_copy_registers(brand + 16 * leaf, eax, ebx, ecx, edx);
        }
        brand[48] = 0;
        int start = 0;
        while (brand[start] == ' ') start++;
        int n = 0;
        while (brand[start + n] != 0 && n < 63) {
            out->brand[n] = brand[start + n];
            n++;
        }
        while (n > 0 && out->brand[n - 1] == ' ') out->brand[--n] = 0;
    }

    if (f & CCPU_OSXSAVE) {
        uint64_t xcr0 = ccpu_xgetbv(0);
        out->xcr0 = xcr0;
        if ((xcr0 & 0x6) == 0x6) f |= CCPU_OS_AVX;
        if ((xcr0 & 0xe6) == 0xe6) f |= CCPU_OS_AVX512;
    }
    out->flags = f;
#endif
}
