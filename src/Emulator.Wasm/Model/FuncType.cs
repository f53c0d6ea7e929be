using System.Collections.Concurrent;

namespace Emulator.Wasm.Model;

/// <summary>
/// A function type (spec 2.3.3). Instances are interned process-wide so that the indirect-call
/// signature check is one integer comparison of <see cref="Id"/>.
/// </summary>
public sealed class FuncType : IEquatable<FuncType>
{
    private static readonly ConcurrentDictionary<string, int> s_ids = new();
    private static int s_nextId;

    public ValType[] Params { get; }
    public ValType[] Results { get; }

    /// <summary>Process-wide canonical id: two structurally equal types have the same id.</summary>
    public int Id { get; }

    public FuncType(ValType[] parameters, ValType[] results)
    {
        Params = parameters;
        Results = results;
        Id = s_ids.GetOrAdd(Key(), _ => Interlocked.Increment(ref s_nextId));
    }

    private string Key()
    {
        var chars = new char[Params.Length + Results.Length + 1];
        for (int i = 0; i < Params.Length; i++) chars[i] = (char)Params[i];
        chars[Params.Length] = '>';
        for (int i = 0; i < Results.Length; i++) chars[Params.Length + 1 + i] = (char)Results[i];
        return new string(chars);
    }

    public bool Equals(FuncType? other) => other is not null && other.Id == Id;

    public override bool Equals(object? obj) => obj is FuncType f && Equals(f);

    public override int GetHashCode() => Id;

    public override string ToString() =>
        "(" + string.Join(" ", Params.Select(p => p.Name())) + ") -> (" + string.Join(" ", Results.Select(p => p.Name())) + ")";
}
