/*
 * The host side of the differential test for code that faults, runs in 32- or 16-bit mode, or
 * uses the x87 (tests/Emulator.X86.DiffTests/HostRunner.cs compiles it with the system gcc and
 * starts it as a child process). A .NET process cannot take a fault in generated code and carry
 * on, nor leave 64-bit mode while its runtime may interrupt the thread; a small C process can.
 *
 * Protocol (stdin -> stdout, little-endian, fixed-size records; see struct request/response):
 * for each request the runner maps the case's code at CODE_ADDR and its data region at
 * REGION_ADDR with the protection asked for each page, loads the whole register state (FXRSTOR
 * for x87/MXCSR/XMM, then RFLAGS and the general registers), and jumps to the code in 64-bit
 * mode, or far-jumps to it through a 32-bit (0x23) or 16-bit (LDT) code segment. Every case ends
 * in a fault (the emulator side's cases end with HLT, a #GP at CPL 3): the handler, on an
 * alternate stack, copies trapno, the error code, CR2, RIP, RFLAGS, the registers and the
 * FXSAVE image from the ucontext, and siglongjmps back to read the next request. The data
 * region is sent back after each case. A case running longer than ALARM_SECONDS ends the
 * runner (SIGALRM's default action), which the parent reports.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x10000UL
#define CODE_SIZE 0x1000
#define REGION_ADDR 0xff000UL
#define REGION_PAGES 6
#define PAGE 4096
#define REQUEST_MAGIC 0x31464452u  /* "RDF1" */
#define RESPONSE_MAGIC 0x31534552u /* "RES1" */
#define ALARM_SECONDS 10
#define LDT_CODE16_ENTRY 0
#define LDT_DATA16_ENTRY 1

struct request {
    uint32_t magic;
    uint32_t bits;         /* 64, 32 or 16 */
    uint32_t prot[REGION_PAGES]; /* per page: 0 none, 1 read, 3 read and write */
    uint64_t gpr[16];      /* encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8-r15 */
    uint64_t rflags;
    uint64_t data16_base;  /* 16-bit cases: base of the LDT data segment loaded in DS/ES/SS */
    uint8_t fx[512];       /* FXSAVE image: x87, MXCSR, XMM0-15 */
    uint8_t code[CODE_SIZE];
    uint8_t region[REGION_PAGES * PAGE];
};

struct response {
    uint32_t magic;
    uint32_t signo;
    uint64_t trapno, err, cr2, rip, rflags, cs;
    uint64_t gpr[16];
    uint8_t fx[512];
    uint8_t region[REGION_PAGES * PAGE];
};

static struct request req;
static struct response resp;
static sigjmp_buf back;

/* Read by the entry thunks RIP-relative, so no register is needed to reach them. */
uint8_t g_fx[512] __attribute__((aligned(16)));
uint64_t g_gpr[16];
uint64_t g_rflags;
uint64_t g_target;
struct { uint32_t offset; uint16_t selector; } __attribute__((packed)) g_far;
uint16_t g_data_selector;

void enter64(void);
void enter_far(void);

/* enter64: the whole state, then jump. enter_far: the same, with DS/ES (and SS for 16-bit code)
 * loaded with g_data_selector first, then a far jump through g_far (m16:32). */
__asm__(
    ".text\n"
    ".globl enter64\n"
    "enter64:\n"
    "  fxrstor64 g_fx(%rip)\n"
    "  pushq g_rflags(%rip)\n"
    "  popfq\n"
    "  movq g_gpr+8(%rip), %rcx\n"
    "  movq g_gpr+16(%rip), %rdx\n"
    "  movq g_gpr+24(%rip), %rbx\n"
    "  movq g_gpr+32(%rip), %rsp\n"
    "  movq g_gpr+40(%rip), %rbp\n"
    "  movq g_gpr+48(%rip), %rsi\n"
    "  movq g_gpr+56(%rip), %rdi\n"
    "  movq g_gpr+64(%rip), %r8\n"
    "  movq g_gpr+72(%rip), %r9\n"
    "  movq g_gpr+80(%rip), %r10\n"
    "  movq g_gpr+88(%rip), %r11\n"
    "  movq g_gpr+96(%rip), %r12\n"
    "  movq g_gpr+104(%rip), %r13\n"
    "  movq g_gpr+112(%rip), %r14\n"
    "  movq g_gpr+120(%rip), %r15\n"
    "  movq g_gpr+0(%rip), %rax\n"
    "  jmp *g_target(%rip)\n"
    ".globl enter_far\n"
    "enter_far:\n"
    "  movzwl g_data_selector(%rip), %eax\n"
    "  movl %eax, %ds\n"
    "  movl %eax, %es\n"
    "  fxrstor64 g_fx(%rip)\n"
    "  pushq g_rflags(%rip)\n"
    "  popfq\n"
    "  movl %eax, %ss\n"
    "  movq g_gpr+32(%rip), %rsp\n"
    "  movq g_gpr+8(%rip), %rcx\n"
    "  movq g_gpr+16(%rip), %rdx\n"
    "  movq g_gpr+24(%rip), %rbx\n"
    "  movq g_gpr+40(%rip), %rbp\n"
    "  movq g_gpr+48(%rip), %rsi\n"
    "  movq g_gpr+56(%rip), %rdi\n"
    "  movq g_gpr+64(%rip), %r8\n"
    "  movq g_gpr+72(%rip), %r9\n"
    "  movq g_gpr+80(%rip), %r10\n"
    "  movq g_gpr+88(%rip), %r11\n"
    "  movq g_gpr+96(%rip), %r12\n"
    "  movq g_gpr+104(%rip), %r13\n"
    "  movq g_gpr+112(%rip), %r14\n"
    "  movq g_gpr+120(%rip), %r15\n"
    "  movq g_gpr+0(%rip), %rax\n"
    "  ljmpl *g_far(%rip)\n");

static const int greg_of_gpr[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void on_fault(int sig, siginfo_t *info, void *context)
{
    (void)info;
    ucontext_t *uc = context;
    greg_t *g = uc->uc_mcontext.gregs;
    resp.signo = (uint32_t)sig;
    resp.trapno = (uint64_t)g[REG_TRAPNO];
    resp.err = (uint64_t)g[REG_ERR];
    resp.cr2 = (uint64_t)g[REG_CR2];
    resp.rip = (uint64_t)g[REG_RIP];
    resp.rflags = (uint64_t)g[REG_EFL];
    resp.cs = (uint64_t)g[REG_CSGSFS] & 0xffff;
    for (int i = 0; i < 16; i++)
        resp.gpr[i] = (uint64_t)g[greg_of_gpr[i]];
    if (uc->uc_mcontext.fpregs)
        memcpy(resp.fx, uc->uc_mcontext.fpregs, sizeof resp.fx);
    else
        memset(resp.fx, 0, sizeof resp.fx);
    siglongjmp(back, 1);
}

static void die(const char *what)
{
    fprintf(stderr, "fault_runner: %s: %s\n", what, strerror(errno));
    exit(3);
}

static int read_full(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = read(0, p, n);
        if (got == 0)
            return 0;
        if (got < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        p += got;
        n -= (size_t)got;
    }
    return 1;
}

static void write_full(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t put = write(1, p, n);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += put;
        n -= (size_t)put;
    }
}

static void set_ldt(int entry, uint32_t base, int contents)
{
    struct user_desc d = {
        .entry_number = (unsigned)entry,
        .base_addr = base,
        .limit = 0xffff,
        .seg_32bit = 0,
        .contents = (unsigned)contents,
        .read_exec_only = 0,
        .limit_in_pages = 0,
        .seg_not_present = 0,
        .useable = 1,
    };
    if (syscall(SYS_modify_ldt, 1, &d, sizeof d) != 0)
        die("modify_ldt");
}

static int to_prot(uint32_t p)
{
    return (p & 1 ? PROT_READ : 0) | (p & 2 ? PROT_WRITE : 0);
}

int main(void)
{
    static uint8_t altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0)
        die("sigaltstack");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            die("sigaction");

    void *code = mmap((void *)CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code != (void *)CODE_ADDR)
        die("mmap of the code page");
    void *region = mmap((void *)REGION_ADDR, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (region != (void *)REGION_ADDR)
        die("mmap of the data region");
    set_ldt(LDT_CODE16_ENTRY, (uint32_t)CODE_ADDR, 2 /* MODIFY_LDT_CONTENTS_CODE */);
    uint64_t current_data16 = 0;
    set_ldt(LDT_DATA16_ENTRY, 0, 0 /* MODIFY_LDT_CONTENTS_DATA */);

    while (read_full(&req, sizeof req)) {
        if (req.magic != REQUEST_MAGIC) {
            fprintf(stderr, "fault_runner: bad request magic %08x\n", req.magic);
            return 2;
        }

        if (mprotect(region, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE) != 0)
            die("mprotect");
        memcpy(region, req.region, sizeof req.region);
        for (int p = 0; p < REGION_PAGES; p++)
            if (req.prot[p] != 3 && mprotect((uint8_t *)region + p * PAGE, PAGE, to_prot(req.prot[p])) != 0)
                die("mprotect");
        memcpy(code, req.code, CODE_SIZE);
        memcpy(g_fx, req.fx, sizeof g_fx);
        memcpy(g_gpr, req.gpr, sizeof g_gpr);
        g_rflags = req.rflags;
        if (req.bits == 16 && req.data16_base != current_data16) {
            set_ldt(LDT_DATA16_ENTRY, (uint32_t)req.data16_base, 0);
            current_data16 = req.data16_base;
        }

        memset(&resp, 0, sizeof resp);
        resp.magic = RESPONSE_MAGIC;
        alarm(ALARM_SECONDS);
        if (sigsetjmp(back, 1) == 0) {
            if (req.bits == 64) {
                g_target = CODE_ADDR;
                enter64();
            } else if (req.bits == 32) {
                g_far.offset = (uint32_t)CODE_ADDR;
                g_far.selector = 0x23; /* __USER32_CS */
                g_data_selector = 0x2b; /* __USER_DS */
                enter_far();
            } else {
                g_far.offset = 0; /* the LDT code segment's base is CODE_ADDR */
                g_far.selector = (LDT_CODE16_ENTRY << 3) | 4 | 3;
                g_data_selector = (LDT_DATA16_ENTRY << 3) | 4 | 3;
                enter_far();
            }
        }
        alarm(0);

        if (mprotect(region, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE) != 0)
            die("mprotect");
        memcpy(resp.region, region, sizeof resp.region);
        write_full(&resp, sizeof resp);
    }

    return 0;
}
