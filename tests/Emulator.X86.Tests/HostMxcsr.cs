using System.Runtime.InteropServices;

namespace Emulator.X86.Tests;

/// <summary>
/// The host thread's MXCSR, reached through the C library's fegetenv/fesetenv (x86-64 glibc's libm keeps
/// MXCSR in the last field of fenv_t). .NET has no intrinsic for LDMXCSR/STMXCSR; this lets tests
/// run the host's SSE unit in any rounding mode with DAZ/FTZ and read its exception flags, as a
/// reference for the emulator's. Only masked configurations are used (an unmasked exception would
/// be a host SIGFPE).
/// </summary>
internal static unsafe partial class HostMxcsr
{
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    private struct FEnv
    {
        public fixed byte X87[28];
        public uint Mxcsr;
    }

    [LibraryImport("libm.so.6", EntryPoint = "fegetenv")]
    private static partial int FeGetEnv(FEnv* env);

    [LibraryImport("libm.so.6", EntryPoint = "fesetenv")]
    private static partial int FeSetEnv(FEnv* env);

    /// <summary>True on an x86-64 Linux host where MXCSR round-trips through fenv_t.</summary>
    public static bool Available { get; } = Probe();

    public static uint Get()
    {
        FEnv env;
        FeGetEnv(&env);
        return env.Mxcsr;
    }

    public static void Set(uint mxcsr)
    {
        FEnv env;
        FeGetEnv(&env);
        env.Mxcsr = mxcsr;
        FeSetEnv(&env);
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return false;
        }

        try
        {
            uint saved = Get();
            Set(0xff80); // all masked, round toward zero, FTZ, no DAZ
            bool ok = Get() == 0xff80;
            Set(saved);
            return ok;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }
}
