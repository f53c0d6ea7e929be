using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>
/// The code of the IR helpers (Call op) for x86. Every helper has one shape, taking the vCPU and
/// four i64 arguments and returning an i64, so the interpreter and the Wasm backend call them
/// all the same way. A helper that faults records the exception with Cpu.RaiseException and
/// must be registered with OpFlags.MayFault; the caller then checks for it.
/// </summary>
public static unsafe class HelperTable
{
    private static readonly object Gate = new();
    private static nint[] functions = new nint[64];

    /// <param name="generalState">False for a helper that reads and writes none of the general registers, RFLAGS and lazy flags (<see cref="HelperInfo.GeneralState"/>).</param>
    public static HelperInfo Define(string name, int args, OpFlags effects, delegate*<Cpu, ulong, ulong, ulong, ulong, ulong> fn, bool generalState = true)
    {
        lock (Gate)
        {
            nint code = (nint)fn;
            Func<ulong, ulong, ulong, ulong, ulong>? fold = effects == OpFlags.Pure
                ? (a, b, c, d) => ((delegate*<Cpu, ulong, ulong, ulong, ulong, ulong>)code)(null!, a, b, c, d)
                : null;
            var info = HelperRegistry.Register(name, args, effects, fold, generalState);
            if (info.Id >= functions.Length)
            {
                Array.Resize(ref functions, Math.Max(functions.Length * 2, info.Id + 1));
            }

            functions[info.Id] = (nint)fn;
            return info;
        }
    }

    public static delegate*<Cpu, ulong, ulong, ulong, ulong, ulong> Get(int id) =>
        (delegate*<Cpu, ulong, ulong, ulong, ulong, ulong>)Volatile.Read(ref functions)[id];

    /// <summary>A helper that reads and writes CPU state and guest memory and may fault.</summary>
    public const OpFlags Effects = OpFlags.ReadsState | OpFlags.WritesState | OpFlags.Memory | OpFlags.MayFault;
}
