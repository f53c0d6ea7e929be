namespace Emulator.Ir;

/// <summary>
/// A function the IR may call (Call op). The target registers its helpers here so IR passes
/// and printers know their names, arity and effects; the target keeps the code pointers.
/// </summary>
/// <param name="Effects">Pure, or any of ReadsState, WritesState, Memory, MayFault.</param>
/// <param name="Fold">For a pure helper: evaluates it on constants, so constant folding can.</param>
public sealed record HelperInfo(int Id, string Name, int Args, OpFlags Effects, Func<ulong, ulong, ulong, ulong, ulong>? Fold = null);

public static class HelperRegistry
{
    private static readonly object Gate = new();
    private static HelperInfo[] infos = [];

    public static HelperInfo Register(string name, int args, OpFlags effects, Func<ulong, ulong, ulong, ulong, ulong>? fold = null)
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

            var info = new HelperInfo(infos.Length, name, args, effects, fold);
            infos = [.. infos, info];
            return info;
        }
    }

    public static HelperInfo Get(int id) => Volatile.Read(ref infos)[id];

    public static int Count => Volatile.Read(ref infos).Length;
}
