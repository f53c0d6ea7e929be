namespace Emulator.Ir;

/// <summary>
/// A function the IR may call (Call op). The target registers its helpers here so IR passes
/// and printers know their names, arity and effects; the target keeps the code pointers.
/// </summary>
/// <param name="Effects">Pure, or any of ReadsState, WritesState, Memory, MayFault.</param>
/// <param name="Fold">For a pure helper: evaluates it on constants, so constant folding can.</param>
/// <param name="GeneralState">
/// Whether the helper may read or write the state a backend keeps in host registers between
/// ops (for x86: the general registers, RFLAGS and the lazy flags), so that it must be stored
/// before the call and read again after it. Pure helpers, and helpers that reach only vector,
/// x87 or exception state, say false.
/// </param>
public sealed record HelperInfo(int Id, string Name, int Args, OpFlags Effects, Func<ulong, ulong, ulong, ulong, ulong>? Fold = null, bool GeneralState = true);

public static class HelperRegistry
{
    private static readonly object Gate = new();
    private static HelperInfo[] infos = [];

    public static HelperInfo Register(string name, int args, OpFlags effects, Func<ulong, ulong, ulong, ulong, ulong>? fold = null, bool generalState = true)
    {
        if (args is < 0 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(args), "a helper takes at most 4 arguments");
        }

        lock (Gate)
        {
            foreach (var h in infos)
            {
                if (h.Name == name)
                {
                    // Two groups choosing one name would make one helper silently run the other's code.
                    throw new InvalidOperationException($"helper '{name}' is registered twice");
                }
            }

            var info = new HelperInfo(infos.Length, name, args, effects, fold, generalState && effects != OpFlags.Pure);
            infos = [.. infos, info];
            return info;
        }
    }

    public static HelperInfo Get(int id) => Volatile.Read(ref infos)[id];

    public static int Count => Volatile.Read(ref infos).Length;
}
