using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// The parts of Wasmtime's C API that the .NET wrapper does not expose: creating shared linear
/// memories (wasmtime/sharedmemory.h), defining one into a linker (wasmtime/linker.h, an extern of
/// kind WASMTIME_EXTERN_SHAREDMEMORY) and allowing shared memories in a config (wasmtime/config.h).
/// Signatures are those of Wasmtime 50's headers.
/// </summary>
/// <remarks>
/// The library is opened with the wrapper assembly's own DllImport search rules, so the process
/// holds one copy of libwasmtime: objects of one copy must never reach another. Entry points are
/// unmanaged function pointers, so nothing here registers a process-wide DllImport resolver.
/// </remarks>
internal static unsafe class WasmtimeNative
{
    /// <summary>wasmtime_extern_kind_t of a shared memory (wasmtime/extern.h).</summary>
    public const byte ExternSharedMemory = 4;

    /// <summary>log2 of the Wasm page size (64 KiB); custom page sizes are not used.</summary>
    public const byte PageSizeLog2 = 16;

    private static readonly IntPtr Library =
        NativeLibrary.Load("wasmtime", typeof(Wasmtime.Engine).Assembly, searchPath: null);

    // void wasmtime_config_shared_memory_set(wasm_config_t*, bool)
    public static readonly delegate* unmanaged<IntPtr, byte, void> ConfigSharedMemorySet =
        (delegate* unmanaged<IntPtr, byte, void>)Export("wasmtime_config_shared_memory_set");

    // wasmtime_error_t* wasmtime_memorytype_new(uint64_t min, bool max_present, uint64_t max,
    //     bool is_64, bool shared, uint8_t page_size_log2, wasm_memorytype_t** ret)
    public static readonly delegate* unmanaged<ulong, byte, ulong, byte, byte, byte, IntPtr*, IntPtr> MemoryTypeNew =
        (delegate* unmanaged<ulong, byte, ulong, byte, byte, byte, IntPtr*, IntPtr>)Export("wasmtime_memorytype_new");

    // void wasm_memorytype_delete(wasm_memorytype_t*)
    public static readonly delegate* unmanaged<IntPtr, void> MemoryTypeDelete =
        (delegate* unmanaged<IntPtr, void>)Export("wasm_memorytype_delete");

    // wasmtime_error_t* wasmtime_sharedmemory_new(const wasm_engine_t*, const wasm_memorytype_t*, wasmtime_sharedmemory_t**)
    public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr*, IntPtr> SharedMemoryNew =
        (delegate* unmanaged<IntPtr, IntPtr, IntPtr*, IntPtr>)Export("wasmtime_sharedmemory_new");

    // void wasmtime_sharedmemory_delete(wasmtime_sharedmemory_t*)
    public static readonly delegate* unmanaged<IntPtr, void> SharedMemoryDelete =
        (delegate* unmanaged<IntPtr, void>)Export("wasmtime_sharedmemory_delete");

    // uint8_t* wasmtime_sharedmemory_data(const wasmtime_sharedmemory_t*)
    public static readonly delegate* unmanaged<IntPtr, byte*> SharedMemoryData =
        (delegate* unmanaged<IntPtr, byte*>)Export("wasmtime_sharedmemory_data");

    // size_t wasmtime_sharedmemory_data_size(const wasmtime_sharedmemory_t*)
    public static readonly delegate* unmanaged<IntPtr, nuint> SharedMemoryDataSize =
        (delegate* unmanaged<IntPtr, nuint>)Export("wasmtime_sharedmemory_data_size");

    // wasmtime_error_t* wasmtime_linker_define(wasmtime_linker_t*, wasmtime_context_t*,
    //     const char* module, size_t module_len, const char* name, size_t name_len, const wasmtime_extern_t*)
    public static readonly delegate* unmanaged<IntPtr, IntPtr, byte*, nuint, byte*, nuint, Extern*, IntPtr> LinkerDefine =
        (delegate* unmanaged<IntPtr, IntPtr, byte*, nuint, byte*, nuint, Extern*, IntPtr>)Export("wasmtime_linker_define");

    // void wasmtime_error_message(const wasmtime_error_t*, wasm_name_t* message)
    private static readonly delegate* unmanaged<IntPtr, ByteVec*, void> ErrorMessage =
        (delegate* unmanaged<IntPtr, ByteVec*, void>)Export("wasmtime_error_message");

    // void wasmtime_error_delete(wasmtime_error_t*)
    private static readonly delegate* unmanaged<IntPtr, void> ErrorDelete =
        (delegate* unmanaged<IntPtr, void>)Export("wasmtime_error_delete");

    // void wasm_byte_vec_delete(wasm_byte_vec_t*)
    private static readonly delegate* unmanaged<ByteVec*, void> ByteVecDelete =
        (delegate* unmanaged<ByteVec*, void>)Export("wasm_byte_vec_delete");

    /// <summary>wasmtime_extern_t: a one-byte kind, then a 24-byte union aligned to 8.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct Extern
    {
        [FieldOffset(0)] public byte Kind;
        [FieldOffset(8)] public IntPtr SharedMemory;
    }

    /// <summary>wasm_byte_vec_t (and wasm_name_t).</summary>
    private struct ByteVec
    {
        public nuint Size;
        public byte* Data;
    }

    /// <summary>Throws for a non-null owned wasmtime_error_t, deleting it; returns for null.</summary>
    public static void Check(IntPtr error, string what)
    {
        if (error != IntPtr.Zero)
        {
            throw new InvalidOperationException($"{what}: {TakeMessage(error)}");
        }
    }

    /// <summary>The message of an owned wasmtime_error_t, which this deletes.</summary>
    public static string TakeMessage(IntPtr error)
    {
        ByteVec message = default;
        ErrorMessage(error, &message);
        string text = Encoding.UTF8.GetString(message.Data, checked((int)message.Size));
        ByteVecDelete(&message);
        ErrorDelete(error);
        return text;
    }

    private static IntPtr Export(string name) => NativeLibrary.GetExport(Library, name);
}

/// <summary>
/// The native pointers behind the wrapper's objects. The wrapper keeps them in private fields
/// (a SafeHandle named "handle"; a Store's context in "contextHandle"), found here by reflection
/// once per object created, never on a hot path. A pointer is valid while its owner lives, so
/// callers keep the owner reachable (GC.KeepAlive) across the native call.
/// </summary>
internal static class WasmtimeHandles
{
    private const BindingFlags Private = BindingFlags.Instance | BindingFlags.NonPublic;

    private static readonly FieldInfo ConfigHandle = Field(typeof(Wasmtime.Config), "handle");
    private static readonly FieldInfo EngineHandle = Field(typeof(Wasmtime.Engine), "handle");
    private static readonly FieldInfo LinkerHandle = Field(typeof(Wasmtime.Linker), "handle");
    private static readonly FieldInfo StoreContextHandle = Field(typeof(Wasmtime.Store), "contextHandle");

    /// <summary>wasm_config_t*</summary>
    public static IntPtr Of(Wasmtime.Config config) => Pointer(ConfigHandle, config);

    /// <summary>wasm_engine_t*</summary>
    public static IntPtr Of(Wasmtime.Engine engine) => Pointer(EngineHandle, engine);

    /// <summary>wasmtime_linker_t*</summary>
    public static IntPtr Of(Wasmtime.Linker linker) => Pointer(LinkerHandle, linker);

    /// <summary>wasmtime_context_t* of the store.</summary>
    public static IntPtr ContextOf(Wasmtime.Store store) => (IntPtr)StoreContextHandle.GetValue(store)!;

    private static IntPtr Pointer(FieldInfo field, object owner)
    {
        var handle = (SafeHandle)field.GetValue(owner)!;
        if (handle.IsInvalid || handle.IsClosed)
        {
            throw new ObjectDisposedException(owner.GetType().Name);
        }

        return handle.DangerousGetHandle();
    }

    private static FieldInfo Field(Type type, string name) =>
        type.GetField(name, Private)
        ?? throw new MissingFieldException(
            $"{type.FullName}.{name} is gone: this Wasmtime wrapper version hides its native handle elsewhere");
}
