// Records x87 results on the host CPU for X87VectorTests: one line per case,
// "op fcw a.mantissa a.signexp b.mantissa b.signexp r.mantissa r.signexp fsw" (hex), where
// ST(0) = a and ST(1) = b before the operation and r is ST(0) after it (or what a store op
// wrote, zero-extended). x87-vectors.txt was recorded on an AMD EPYC host with
//   gcc -O1 -o x87-vectors x87-vectors.c && ./x87-vectors > x87-vectors.txt
// The random generator is seeded, so the cases are the same on every run.
#include <stdio.h>
#include <stdint.h>
#include <string.h>

typedef struct __attribute__((packed)) { uint64_t m; uint16_t se; } f80;

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

#define OP(name, body) \
static void name(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) { \
    asm volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n fnclex\n" body "\n fnstsw %[sw]\n fstpt %[r]\n fninit" \
        : [r] "=m"(*r), [sw] "=m"(*sw) : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw) : "memory"); }

OP(op_add, "fadd %%st(1), %%st")
OP(op_sub, "fsub %%st(1), %%st")
OP(op_mul, "fmul %%st(1), %%st")
OP(op_div, "fdiv %%st(1), %%st")
OP(op_sqrt, "fsqrt")
OP(op_rndint, "frndint")
OP(op_scale, "fscale")
OP(op_prem, "fprem")
OP(op_prem1, "fprem1")

#define OPS(name, body) \
static void name(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) { \
    memset(r, 0, sizeof *r); \
    asm volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n fnclex\n" body "\n fnstsw %[sw]\n fninit" \
        : [r] "+m"(*r), [sw] "=m"(*sw) : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw) : "memory"); }

OPS(op_st32, "fstps %[r]")
OPS(op_st64, "fstpl %[r]")
OPS(op_ist16, "fistps %[r]")
OPS(op_ist32, "fistpl %[r]")
OPS(op_ist64, "fistpll %[r]")
OPS(op_istt64, "fisttpll %[r]")
OP(op_com, "fcom %%st(1)")
OP(op_ucom, "fucom %%st(1)")
OP(op_sin, "fsin")
OP(op_cos, "fcos")
OP(op_tan, "fptan\n fstp %%st(0)")
OP(op_atan, "fpatan")
OP(op_yl2x, "fyl2x")
OP(op_yl2xp1, "fyl2xp1")
OP(op_f2xm1, "f2xm1")

OP(op_xtract, "fxtract")
OP(op_xtractexp, "fxtract\n fstp %%st(0)")
OP(op_xam, "fxam")
OP(op_tst, "ftst")
OPS(op_ld32, "fstp %%st(0)\n fstp %%st(0)\n flds %[a]\n fstpt %[r]")
OPS(op_ld64, "fstp %%st(0)\n fstp %%st(0)\n fldl %[a]\n fstpt %[r]")

#define OPF(name, insn) \
static void name(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) { \
    uint64_t flags; \
    asm volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n fnclex\n" insn "\n pushfq\n popq %[f]\n fnstsw %[sw]\n fninit" \
        : [f] "=r"(flags), [sw] "=m"(*sw) : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw) : "memory", "cc"); \
    r->m = flags & 0x8D5; r->se = 0; }

OPF(op_comi, "fcomi %%st(1), %%st")
OPF(op_ucomi, "fucomi %%st(1), %%st")

// Unmasked exceptions: FNSAVE (which does not wait) reads the state back without a fault.
#define OPU(name, body) \
static void name(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) { \
    unsigned char img[108]; \
    asm volatile("fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n fnclex\n" body "\n fnstsw %[sw]\n fnsave %[img]\n fninit" \
        : [img] "=m"(img), [sw] "=m"(*sw) : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw) : "memory"); \
    memcpy(r, img + 28, 10); }

OPU(op_uadd, "fadd %%st(1), %%st")
OPU(op_umul, "fmul %%st(1), %%st")
OPU(op_udiv, "fdivp %%st, %%st(1)")
OPU(op_usqrt, "fsqrt")

typedef void (*opfn)(uint16_t, f80 *, f80 *, f80 *, uint16_t *);

static f80 value(int kind, int near) {
    f80 v;
    v.m = rnd() | 0x8000000000000000ull;
    int e;
    switch (kind % 8) {
    case 0: e = 16383 + (int)(rnd() % 64) - 32; break;
    case 1: e = near + (int)(rnd() % 5) - 2; break;            // close exponents: cancellation
    case 2: e = 16383 + (int)(rnd() % 4000) - 2000; break;
    case 3: e = near + (int)(rnd() % 140) - 70; break;
    case 4: v.m &= 0xFFFFFFFFFFFFF800ull | (rnd() & 0x7FF); e = 16383 + (int)(rnd() % 16) - 8; break;
    case 5: v.m = 0x8000000000000000ull | ((rnd() % 1000) << 40); e = 16383 + (int)(rnd() % 20); break; // short mantissas
    case 6: e = (int)(rnd() % 3) == 0 ? 1 : 32760 + (int)(rnd() % 6); break;                       // extremes
    default: e = 16383 + (int)(rnd() % 200) - 100; break;
    }
    if (e < 1) e = 1;
    if (e > 32766) e = 32766;
    v.se = (uint16_t)e | ((rnd() & 1) ? 0x8000 : 0);
    return v;
}

static f80 special(void) {
    f80 v;
    uint16_t sign = (rnd() & 1) ? 0x8000 : 0;
    switch (rnd() % 9) {
    case 0: v.m = 0; v.se = sign; break;                                          // zero
    case 1: v.m = 0x8000000000000000ull; v.se = sign | 0x7FFF; break;             // infinity
    case 2: v.m = 0xC000000000000000ull | (rnd() >> 20); v.se = sign | 0x7FFF; break; // QNaN
    case 3: v.m = 0x8000000000000000ull | ((rnd() >> 4) | 1); v.m &= ~0x4000000000000000ull; v.se = sign | 0x7FFF; break; // SNaN
    case 4: v.m = rnd() >> (1 + rnd() % 40); v.se = sign; break;                  // denormal
    case 5: v.m = rnd() | 0x8000000000000000ull; v.se = sign; break;              // pseudo-denormal
    case 6: v.m = rnd() >> 1; v.se = sign | (uint16_t)(16383 + rnd() % 10); break; // unnormal
    case 7: v.m = 0xC000000000000000ull; v.se = 0xFFFF; break;                     // indefinite
    default: v.m = 0x8000000000000000ull; v.se = sign | 1; break;                  // smallest normal
    }
    return v;
}

int main(void) {
    static const uint16_t cws[] = { 0x037F, 0x077F, 0x0B7F, 0x0F7F, 0x027F, 0x007F };
    struct { const char *name; opfn fn; int count; } ops[] = {
        { "add", op_add, 160 }, { "sub", op_sub, 160 }, { "mul", op_mul, 120 }, { "div", op_div, 120 },
        { "sqrt", op_sqrt, 60 }, { "rndint", op_rndint, 60 }, { "scale", op_scale, 40 },
        { "prem", op_prem, 60 }, { "prem1", op_prem1, 60 },
        { "st32", op_st32, 80 }, { "st64", op_st64, 80 }, { "ist16", op_ist16, 40 }, { "ist32", op_ist32, 40 },
        { "ist64", op_ist64, 60 }, { "istt64", op_istt64, 30 }, { "com", op_com, 60 }, { "ucom", op_ucom, 20 },
        { "sin", op_sin, 40 }, { "cos", op_cos, 40 }, { "tan", op_tan, 30 }, { "atan", op_atan, 40 },
        { "yl2x", op_yl2x, 40 }, { "yl2xp1", op_yl2xp1, 30 }, { "f2xm1", op_f2xm1, 40 },
        { "xtract", op_xtract, 30 }, { "xtractexp", op_xtractexp, 30 }, { "xam", op_xam, 40 }, { "tst", op_tst, 30 },
        { "ld32", op_ld32, 50 }, { "ld64", op_ld64, 50 }, { "comi", op_comi, 40 }, { "ucomi", op_ucomi, 40 },
        { "scale", op_scale, 60 }, { "prem", op_prem, 40 }, { "div", op_div, 40 }, { "mul", op_mul, 40 },
        { "uadd", op_uadd, 60 }, { "umul", op_umul, 60 }, { "udiv", op_udiv, 60 }, { "usqrt", op_usqrt, 30 },
    };
    unsigned nops = sizeof ops / sizeof ops[0];
    for (unsigned k = 0; k < nops; k++) {
        int extreme = k >= nops - 8;
        int unmasked = k >= nops - 4;
        for (int i = 0; i < ops[k].count; i++) {
            uint16_t cw = cws[rnd() % 6];
            if (!strcmp(ops[k].name, "prem") || !strcmp(ops[k].name, "prem1")) cw = 0x037F;
            f80 a = value((int)(rnd() % 8), 16383);
            f80 b = value((int)(rnd() % 8), a.se & 0x7FFF);
            if (!strcmp(ops[k].name, "sqrt")) a.se &= 0x7FFF;
            if (extreme) {
                // results near the ends of the exponent range: overflow, underflow, denormals
                a.se = (uint16_t)((rnd() & 1) ? 1 + rnd() % 80 : 32766 - rnd() % 80) | (a.se & 0x8000);
                b.se = (uint16_t)(16383 + (int)(rnd() % 160) - 80) | (b.se & 0x8000);
            }
            if (unmasked) {
                static const uint16_t ucws[] = { 0x037E, 0x037D, 0x037B, 0x0377, 0x036F, 0x035F, 0x0340 };
                cw = ucws[rnd() % 7];
            }
            if (!strcmp(ops[k].name, "scale") && extreme) { b.m = 0x8000000000000000ull | (rnd() >> 1); b.se = (uint16_t)(16383 + 6 + rnd() % 9) | ((rnd() & 1) ? 0x8000 : 0); cw = cws[rnd() % 6]; }
            else if (!strcmp(ops[k].name, "scale")) { b.m = 0x8000000000000000ull | (rnd() << 50 >> 1); b.se = (uint16_t)(16383 + rnd() % 8) | ((rnd() & 1) ? 0x8000 : 0); }
            const char *n = ops[k].name;
            if (!strcmp(n, "rndint") || !strncmp(n, "ist", 3)) a.se = (uint16_t)(16383 + (rnd() % 70) - 3) | (a.se & 0x8000);
            if (!strcmp(n, "st32")) a.se = (uint16_t)(16383 + (rnd() % 300) - 150) | (a.se & 0x8000);
            if (!strcmp(n, "st64")) a.se = (uint16_t)(16383 + (int)(rnd() % 2200) - 1100) | (a.se & 0x8000);
            if (!strcmp(n, "com") || !strcmp(n, "ucom")) { if (rnd() % 3 == 0) b = a; else if (rnd() % 2) b.se = a.se; }
            if (!strcmp(n, "sin") || !strcmp(n, "cos") || !strcmp(n, "tan")) { cw = 0x037F; a.se = (uint16_t)(16383 + (rnd() % 8) - 5) | (a.se & 0x8000); }
            if (!strcmp(n, "atan")) { cw = 0x037F; a.se = (uint16_t)(16383 + (rnd() % 20) - 10) | (a.se & 0x8000); b.se = (uint16_t)(16383 + (rnd() % 20) - 10) | (b.se & 0x8000); }
            if (!strcmp(n, "yl2x")) { cw = 0x037F; a.se = (uint16_t)(16383 + (rnd() % 200) - 100); b.se = (uint16_t)(16383 + (rnd() % 10)) | (b.se & 0x8000); }
            if (!strcmp(n, "yl2xp1")) { cw = 0x037F; a.se = (uint16_t)(16383 + (rnd() % 30) - 32) | (a.se & 0x8000); b.se = (uint16_t)(16383 + (rnd() % 10)) | (b.se & 0x8000); }
            if (!strcmp(n, "ld32")) { uint32_t e8 = (uint32_t)(rnd() % 8); a.m = (rnd() & 0x807FFFFFull) | ((uint64_t)(e8 == 0 ? 0 : e8 == 1 ? 0xFF : rnd() & 0xFF) << 23); a.se = 0; }
            if (!strcmp(n, "ld64")) { uint64_t e11 = rnd() % 8; a.m = (rnd() & 0x800FFFFFFFFFFFFFull) | ((e11 == 0 ? 0 : e11 == 1 ? 0x7FF : rnd() & 0x7FF) << 52); a.se = 0; }
            if (!strcmp(n, "comi") || !strcmp(n, "ucomi")) { if (rnd() % 3 == 0) b = a; else if (rnd() % 2) b.se = a.se; }
            if (!strcmp(n, "f2xm1")) { cw = 0x037F; a.se = (uint16_t)(16383 + (rnd() % 40) - 40) | (a.se & 0x8000); }
            f80 r; uint16_t sw;
            ops[k].fn(cw, &a, &b, &r, &sw);
            if (rnd() % 4 == 0 && strncmp(n, "ld", 2)) {
                // and once more with special operands
                printf("%s %04x %016llx %04x %016llx %04x %016llx %04x %04x\n", ops[k].name, cw,
                    (unsigned long long)a.m, a.se, (unsigned long long)b.m, b.se, (unsigned long long)r.m, r.se, sw);
                if (rnd() & 1) a = special(); else b = special();
                if (rnd() % 3 == 0) { a = special(); b = special(); }
                ops[k].fn(cw, &a, &b, &r, &sw);
            }
            printf("%s %04x %016llx %04x %016llx %04x %016llx %04x %04x\n", ops[k].name, cw,
                (unsigned long long)a.m, a.se, (unsigned long long)b.m, b.se, (unsigned long long)r.m, r.se, sw);
        }
    }
    return 0;
}
