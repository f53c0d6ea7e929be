namespace Emulator.X86;

/// <summary>
/// CPUID (SDM Vol. 2A CPUID): describes exactly what this CPU implements and its model offers
/// (<see cref="Features"/>; the translator raises #UD for an instruction of a feature not
/// offered). Features the core does not implement (AVX, XSAVE, x2APIC, PCID, SMEP/SMAP ...) are
/// reported absent, so guests never use them. The TSC is invariant and its frequency is given in leaf
/// 0x15, so Linux takes it from there instead of calibrating against the PIT.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>Number of vCPUs in the machine (for the topology leaves).</summary>
    public int CpuCount { get; init; } = 1;

    /// <summary>
    /// Optional features offered to the guest: reported by CPUID, and their instructions raise
    /// #UD when absent. Set by the machine from its <see cref="CpuModel"/>; CX16 only where the
    /// host has a 16-byte compare-and-swap (<see cref="Helpers.HostCas16"/>).
    /// </summary>
    public CpuFeatures Features
    {
        get => features;
        set => features = Helpers.HostCas16.IsAvailable ? value : value & ~CpuFeatures.Cx16;
    }

    private CpuFeatures features = Helpers.HostCas16.IsAvailable ? CpuFeatures.Default : CpuFeatures.Default & ~CpuFeatures.Cx16;

    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Cpuid(uint leaf, uint subleaf)
    {
        const uint MaxBasic = 0x16, MaxExtended = 0x80000008;
        var f = Features;
        switch (leaf)
        {
            case 0:
                // "GenuineIntel" in EBX, EDX, ECX.
                return (MaxBasic, 0x756e6547, 0x6c65746e, 0x49656e69);
            case 1:
            {
                uint eax = 0x000306a9; // family 6, model 0x3a (Ivy Bridge), stepping 9
                uint ebx = ((uint)Index << 24) | ((uint)CpuCount << 16) | (8 << 8); // APIC ID, logical count, CLFLUSH 64 bytes
                uint ecx = (1u << 31); // running under a hypervisor
                if (f.HasFlag(CpuFeatures.Sse3)) ecx |= 1 << 0;
                if (f.HasFlag(CpuFeatures.Ssse3)) ecx |= 1 << 9;
                if (f.HasFlag(CpuFeatures.Cx16)) ecx |= 1 << 13;
                if (f.HasFlag(CpuFeatures.Sse41)) ecx |= 1 << 19;
                if (f.HasFlag(CpuFeatures.Sse42)) ecx |= 1 << 20;
                if (f.HasFlag(CpuFeatures.Movbe)) ecx |= 1 << 22;
                if (f.HasFlag(CpuFeatures.Popcnt)) ecx |= 1 << 23;
                if (f.HasFlag(CpuFeatures.TscDeadline)) ecx |= 1 << 24;
                uint edx = (1u << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 11) | (1 << 12)
                    | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
                // FPU, PSE, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE, CMOV, PAT, CLFSH, MMX, FXSR, SSE, SSE2
                if (CpuCount > 1) edx |= 1 << 28; // HTT: the logical-processor count in EBX is valid
                return (eax, ebx, ecx, edx);
            }

            case 4:
                return CacheLeaf(subleaf);
            case 6:
                return (0, 0, 0, 0);
            case 7 when subleaf == 0:
            {
                // EBX bit 1: IA32_TSC_ADJUST. Every vCPU's TSC comes from the one machine clock, so it
                // is constant, never stops and agrees across vCPUs; with invariant TSC (0x80000007)
                // and TSC_ADJUST, Linux trusts it (check_system_tsc_reliable) and does not run its
                // clocksource watchdog on it. That watchdog, comparing the TSC with timer ticks a
                // loaded host delivered late, marked the TSC unstable in the middle of bringing up a
                // CPU, and the boot hung (check_tsc_sync_source gave up while the new CPU waited).
                uint ebx = 1 << 1;
                if (f.HasFlag(CpuFeatures.Bmi1)) ebx |= 1 << 3;
                if (f.HasFlag(CpuFeatures.Bmi2)) ebx |= 1 << 8;
                if (f.HasFlag(CpuFeatures.Adx)) ebx |= 1 << 19;

                // EDX bit 29: IA32_ARCH_CAPABILITIES exists (it says which speculation flaws are absent).
                return (0, ebx, 0, 1u << 29);
            }

            case 0xb:
                // Extended topology: one thread per core, CpuCount cores in one package.
                return subleaf switch
                {
                    0 => (0, 1, 0x100, (uint)Index),
                    1 => ((uint)BitsFor(CpuCount), (uint)CpuCount, 0x201, (uint)Index),
                    _ => (0, 0, subleaf, (uint)Index),
                };
            case 0x15:
            {
                // TSC/crystal ratio: TSC Hz = ECX * EBX / EAX, with a 1 MHz "crystal".
                ulong hz = Clock.TscHz;
                return (1, (uint)(hz / 1_000_000), 1_000_000, 0);
            }

            case 0x16:
            {
                uint mhz = (uint)(Clock.TscHz / 1_000_000);
                return (mhz, mhz, 100, 0);
            }

            case 0x80000000:
                return (MaxExtended, 0, 0, 0);
            case 0x80000001:
            {
                uint ecx = 1; // LAHF/SAHF in 64-bit mode
                if (f.HasFlag(CpuFeatures.Lzcnt)) ecx |= 1 << 5;
                uint edx = (1u << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1u << 29); // SYSCALL, NX, 1 GiB pages, RDTSCP, LM
                return (0, 0, ecx, edx);
            }

            case 0x80000002: return Brand(0);
            case 0x80000003: return Brand(1);
            case 0x80000004: return Brand(2);
            case 0x80000006:
                return (0, 0, 0x01006040, 0); // L2: 256 KiB, 8-way (field 6), 64-byte lines
            case 0x80000007:
                return (0, 0, 0, 1 << 8); // invariant TSC
            case 0x80000008:
                return (0x3028, 0, (uint)Math.Max(0, CpuCount - 1), 0); // 40 physical, 48 linear address bits
            default:
                return (0, 0, 0, 0);
        }
    }

    private static int BitsFor(int count) => count <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(count - 1));

    private (uint, uint, uint, uint) CacheLeaf(uint subleaf)
    {
        // Deterministic cache parameters (leaf 4): L1d 32 KiB, L1i 32 KiB, L2 256 KiB, L3 8 MiB; 64-byte lines.
        uint cores = (uint)Math.Max(0, CpuCount - 1) << 26;
        (uint type, uint level, uint ways, uint sets, bool shared) = subleaf switch
        {
            0 => (1u, 1u, 8u, 64u, false),
            1 => (2u, 1u, 8u, 64u, false),
            2 => (3u, 2u, 8u, 512u, false),
            3 => (3u, 3u, 16u, 8192u, true),
            _ => (0u, 0u, 0u, 0u, false),
        };
        if (type == 0)
        {
            return (0, 0, 0, 0);
        }

        uint sharing = shared ? (uint)Math.Max(0, CpuCount - 1) << 14 : 0;
        uint eax = type | (level << 5) | (1 << 8) | sharing | cores;
        uint ebx = 63 | ((ways - 1) << 22);
        return (eax, ebx, sets - 1, 0);
    }

    private static (uint, uint, uint, uint) Brand(int part)
    {
        var bytes = new byte[48];
        System.Text.Encoding.ASCII.GetBytes("emu x86-64 virtual CPU").CopyTo(bytes, 0);
        var span = bytes.AsSpan(part * 16, 16);
        return (BitConverter.ToUInt32(span), BitConverter.ToUInt32(span[4..]), BitConverter.ToUInt32(span[8..]), BitConverter.ToUInt32(span[12..]));
    }
}

/// <summary>CPUID feature bits that depend on what the frontend implements and on the CPU model (<see cref="CpuModel"/>).</summary>
[Flags]
public enum CpuFeatures
{
    None = 0,
    Cx16 = 1,
    Movbe = 2,
    Popcnt = 4,
    Lzcnt = 8,
    Bmi1 = 16,
    TscDeadline = 32,
    Bmi2 = 64,
    Adx = 128,
    Sse3 = 256,
    Ssse3 = 512,
    Sse41 = 1024,
    Sse42 = 2048,

    /// <summary>The x86-64-v2 level (with the baseline's SSE2 and LAHF/SAHF, which every model has).</summary>
    X86_64_V2 = Cx16 | Popcnt | Sse3 | Ssse3 | Sse41 | Sse42,

    /// <summary>Everything the frontend implements and tests: x86-64-v2 plus MOVBE, LZCNT, BMI1, BMI2 and ADX.</summary>
    All = X86_64_V2 | Movbe | Lzcnt | Bmi1 | Bmi2 | Adx,

    /// <summary>
    /// A CPU created without a model offers everything the frontend implements (instruction
    /// tests use it); a machine sets the features of its <see cref="CpuModel"/>.
    /// </summary>
    Default = All,
}
