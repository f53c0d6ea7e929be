using System.Runtime.ExceptionServices;
using System.Text;
using Wasmtime;

namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// One vCPU's Wasmtime context: a Store and a Linker of its own. A Store is single-threaded and
/// touching an object of another Store aborts the process, so nothing here is shared with other
/// vCPUs except the engine-wide module code and the shared memory.
/// </summary>
/// <remarks>
/// Wasmtime frees an instance only with its Store: every <see cref="Instantiate"/> adds one
/// instance (its function table, its references to the host functions) that lives until this
/// context is disposed, even once the caller has dropped the block entries. Recycle a context
/// whose <see cref="InstanceCount"/> grows large: dispose it and create a new one.
/// </remarks>
public sealed class WasmtimeVcpu : IWasmVcpu
{
    /// <summary>The import module name of everything the host provides.</summary>
    public const string ImportModule = "emu";

    private readonly WasmtimeEngine owner;
    private readonly Store store;
    private readonly Linker linker;
    private readonly Tier1Imports imports;
    private readonly HashSet<int> definedHelpers = [];
    private readonly Table modules;
    private bool disposed;

    internal WasmtimeVcpu(WasmtimeEngine owner, Engine engine, WasmtimeSharedMemory memory, Tier1Imports imports)
    {
        this.owner = owner;
        this.imports = imports;
        store = new Store(engine);
        linker = new Linker(engine);
        try
        {
            DefineSharedMemory(memory);
            modules = new Table(store, TableKind.FuncRef, null, Tier1ModuleEmitter.ModuleTableSize, Tier1ModuleEmitter.ModuleTableSize);
            linker.Define(ImportModule, "modules", modules);

            // Host functions are created once in this store and defined into its linker, so an
            // instantiation reuses them; a function defined into a linker by callback alone
            // would be added to the store again at every instantiation.
            linker.Define(ImportModule, "read", Function.FromCallback(store, imports.Read));
            linker.Define(ImportModule, "write", Function.FromCallback(store, imports.Write));
            linker.Define(ImportModule, "atomic", Function.FromCallback(store, imports.Atomic));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// How many instances this context's store holds. They are freed only with the store, so
    /// this grows by one per <see cref="Instantiate"/> until the context is disposed.
    /// </summary>
    public int InstanceCount { get; private set; }

    public ModuleEntry Instantiate(IWasmModule module, int moduleIndex)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (module is not WasmtimeModule compiled || compiled.Owner != owner)
        {
            throw new ArgumentException("the module was not compiled by this vCPU's engine", nameof(module));
        }

        foreach (int id in compiled.HelperIds)
        {
            if (!definedHelpers.Contains(id))
            {
                linker.Define(ImportModule, "h" + id, Function.FromCallback(store, imports.Helper(id)));
                definedHelpers.Add(id);
            }
        }

        Instance instance = linker.Instantiate(store, compiled.Module);
        InstanceCount++;

        Function function = instance.GetFunction("run")
            ?? throw new ArgumentException("the module exports no function \"run\"", nameof(module));
        Func<long, int, int, int> call = function.WrapFunc<long, int, int, int>()
            ?? throw new ArgumentException("\"run\" is not (param i64 i32 i32) (result i32)", nameof(module));
        modules.SetElement((uint)moduleIndex, function);
        return new RunCall(call).Invoke;
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        linker.Dispose();
        store.Dispose();
    }

    private unsafe void DefineSharedMemory(WasmtimeSharedMemory memory)
    {
        byte[] module = Encoding.UTF8.GetBytes(ImportModule);
        byte[] name = "mem"u8.ToArray();
        var item = new WasmtimeNative.Extern { Kind = WasmtimeNative.ExternSharedMemory, SharedMemory = memory.Handle };
        IntPtr error;
        // Safe: the names are pinned and the extern is a local for the duration of the call, and
        // the native objects are kept alive below; the linker takes its own reference to the
        // shared memory (the C API clones it), ours stays with the caller.
        fixed (byte* modulePtr = module)
        fixed (byte* namePtr = name)
        {
            error = WasmtimeNative.LinkerDefine(
                WasmtimeHandles.Of(linker), WasmtimeHandles.ContextOf(store),
                modulePtr, (nuint)module.Length, namePtr, (nuint)name.Length, &item);
        }

        GC.KeepAlive(linker);
        GC.KeepAlive(store);
        GC.KeepAlive(memory);
        WasmtimeNative.Check(error, "wasmtime_linker_define(emu.mem)");
    }

    /// <summary>
    /// A block entry point. A .NET exception thrown by a host import cannot unwind through
    /// Wasmtime's native frames: the wrapper turns it into a Wasm error and throws a
    /// <see cref="WasmtimeException"/> whose InnerException is the original exception; this
    /// rethrows the original with its stack, so callers see what the helper threw. A Wasm trap
    /// (unreachable, out of bounds) stays a <see cref="TrapException"/>.
    /// </summary>
    private sealed class RunCall(Func<long, int, int, int> call)
    {
        public int Invoke(long state, int block)
        {
            try
            {
                return call(state, block, 0);
            }
            catch (WasmtimeException e) when (e is not TrapException && e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }
}
