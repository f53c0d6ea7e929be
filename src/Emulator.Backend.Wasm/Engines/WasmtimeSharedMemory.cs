namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// A Wasmtime shared linear memory (threads proposal), created through the C API because the
/// .NET wrapper only makes store-bound, unshared memories. It belongs to the engine, not to a
/// store, so every vCPU's store imports the same one. Its size is fixed (minimum = maximum), so
/// Wasmtime maps it whole at creation and the data pointer never moves; fresh anonymous pages
/// read as zero.
/// </summary>
internal sealed unsafe class WasmtimeSharedMemory : IWasmMemory
{
    private IntPtr handle;

    private WasmtimeSharedMemory(WasmtimeEngine owner, IntPtr handle, bool is64)
    {
        Owner = owner;
        this.handle = handle;
        Is64 = is64;
        Pointer = WasmtimeNative.SharedMemoryData(handle);
        Length = WasmtimeNative.SharedMemoryDataSize(handle);
    }

    public byte* Pointer { get; }

    public ulong Length { get; }

    public bool Is64 { get; }

    internal WasmtimeEngine Owner { get; }

    /// <summary>wasmtime_sharedmemory_t*; valid until Dispose.</summary>
    internal IntPtr Handle =>
        handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(nameof(WasmtimeSharedMemory));

    public static WasmtimeSharedMemory Create(WasmtimeEngine owner, Wasmtime.Engine engine, ulong bytes, bool is64)
    {
        const ulong PageBytes = 1UL << WasmtimeNative.PageSizeLog2;
        if (bytes == 0 || bytes % PageBytes != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a memory is a non-zero multiple of 64 KiB");
        }

        ulong pages = bytes / PageBytes;
        if (!is64 && pages > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a 32-bit memory holds at most 4 GiB");
        }

        // Safe: the out-pointers are locals; the memory type is deleted once the memory exists,
        // which keeps its own copy of the type.
        IntPtr type;
        WasmtimeNative.Check(
            WasmtimeNative.MemoryTypeNew(pages, 1, pages, is64 ? (byte)1 : (byte)0, 1, WasmtimeNative.PageSizeLog2, &type),
            "wasmtime_memorytype_new");
        try
        {
            // Fails when the host refuses the mapping (address space, overcommit policy).
            IntPtr memory;
            IntPtr error = WasmtimeNative.SharedMemoryNew(WasmtimeHandles.Of(engine), type, &memory);
            GC.KeepAlive(engine);
            WasmtimeNative.Check(error, $"wasmtime_sharedmemory_new({bytes} bytes)");
            return new WasmtimeSharedMemory(owner, memory, is64);
        }
        finally
        {
            WasmtimeNative.MemoryTypeDelete(type);
        }
    }

    /// <summary>
    /// Drops this handle. The memory itself is reference-counted: a linker that defined it holds
    /// its own reference, so it is unmapped when the last vCPU context using it is gone too.
    /// </summary>
    public void Dispose()
    {
        IntPtr old = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (old != IntPtr.Zero)
        {
            WasmtimeNative.SharedMemoryDelete(old);
        }
    }
}
