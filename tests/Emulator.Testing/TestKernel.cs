using System.Buffers.Binary;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Testing;

/// <summary>
/// A bare-metal test kernel written by a test: 32-bit code assembled with Iced into a Multiboot
/// image (an ELF32 file whose one PT_LOAD segment is the whole file at 1 MiB, the header right
/// after the program header; or, with <see cref="Build"/>'s aout, a flat binary with the
/// header's address fields). The body starts with EAX and EBX saved at <see cref="SavedEax"/>
/// and <see cref="SavedEbx"/> and a stack; helpers print on COM1 by polling the line status
/// register and end the machine through isa-debug-exit at <see cref="DebugExitPort"/>.
/// </summary>
public sealed class TestKernel
{
    public const uint LoadAddress = 0x10_0000;

    /// <summary>The image's memory (file and zeroed bss) spans 1 MiB from <see cref="LoadAddress"/>; scratch words live near its end.</summary>
    public const uint ImageSpan = 0x10_0000;

    public const uint SavedEax = 0x1f_0000, SavedEbx = 0x1f_0004, Scratch = 0x1f_0010, StackTop = 0x1f_f000;

    /// <summary>Where the code starts in the image (after the ELF header, the program header and the Multiboot header).</summary>
    public const uint CodeOffset = 0x80;

    public const ushort DebugExitPort = 0xf4;

    public const ushort Com1 = 0x3f8;

    private Label putc, puts, putHex, putDec;

    public TestKernel()
    {
        A = new Assembler(32);
        putc = A.CreateLabel();
        puts = A.CreateLabel();
        putHex = A.CreateLabel();
        putDec = A.CreateLabel();
        A.mov(__dword_ptr[SavedEax], eax);
        A.mov(__dword_ptr[SavedEbx], ebx);
        A.mov(esp, StackTop);
    }

    /// <summary>The assembler, for the test's own code (32-bit protected mode, flat segments, paging off).</summary>
    public Assembler A { get; }

    /// <summary>Prints a constant string (each character a move and a call: no data labels needed).</summary>
    public void Print(string text)
    {
        foreach (char c in text)
        {
            A.mov(al, (byte)c);
            A.call(putc);
        }
    }

    /// <summary>Prints the character in AL (EAX and EDX are kept).</summary>
    public void PrintAl() => A.call(putc);

    /// <summary>Prints the NUL-terminated string at the address in <paramref name="address"/>.</summary>
    public void PrintString(AssemblerRegister32 address)
    {
        A.mov(esi, address);
        A.call(puts);
    }

    /// <summary>Prints a register as 8 hex digits.</summary>
    public void PrintHex(AssemblerRegister32 value)
    {
        A.mov(eax, value);
        A.call(putHex);
    }

    /// <summary>Prints a register in decimal.</summary>
    public void PrintDecimal(AssemblerRegister32 value)
    {
        A.mov(eax, value);
        A.call(putDec);
    }

    /// <summary>Writes <paramref name="value"/> to isa-debug-exit (exit status (value &lt;&lt; 1) | 1), then halts should it return.</summary>
    public void Exit(byte value)
    {
        A.mov(al, value);
        A.mov(dx, DebugExitPort);
        A.@out(dx, al);
        Halt();
    }

    /// <summary>Halts for good.</summary>
    public void Halt()
    {
        var again = A.CreateLabel();
        A.cli();
        A.Label(ref again);
        A.hlt();
        A.jmp(again);
    }

    /// <summary>Reads the fw_cfg item <paramref name="key"/>'s first two bytes into EAX (a little-endian u16).</summary>
    public void ReadFwCfgU16(ushort key)
    {
        A.mov(dx, 0x510);
        A.mov(ax, key);
        A.@out(dx, ax);
        A.mov(dx, 0x511);
        A.@in(al, dx);
        A.mov(cl, al);
        A.@in(al, dx);
        A.mov(ah, al);
        A.mov(al, cl);
        A.movzx(eax, ax);
    }

    /// <summary>The image: ELF32 with a Multiboot header (or, with <paramref name="aout"/>, a flat binary using the header's address fields).</summary>
    public byte[] Build(bool aout = false)
    {
        Routines();
        using var code = new MemoryStream();
        A.Assemble(new StreamCodeWriter(code), LoadAddress + CodeOffset);
        var image = new byte[CodeOffset + code.Length];
        code.ToArray().CopyTo(image, (int)CodeOffset);
        Span<byte> f = image;
        uint headerAt = aout ? 0u : 0x54;
        const uint magic = 0x1BADB002;
        uint flags = aout ? (1u << 16) | 2 : 2; // memory information wanted; bit 16: the address fields
        BinaryPrimitives.WriteUInt32LittleEndian(f[(int)headerAt..], magic);
        BinaryPrimitives.WriteUInt32LittleEndian(f[(int)(headerAt + 4)..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(f[(int)(headerAt + 8)..], unchecked(0u - magic - flags));
        if (aout)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f[12..], LoadAddress);                       // header_addr
            BinaryPrimitives.WriteUInt32LittleEndian(f[16..], LoadAddress);                       // load_addr
            BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 0);                                 // load_end_addr: the whole file
            BinaryPrimitives.WriteUInt32LittleEndian(f[24..], LoadAddress + ImageSpan);           // bss_end_addr
            BinaryPrimitives.WriteUInt32LittleEndian(f[28..], LoadAddress + CodeOffset);          // entry_addr
            return image;
        }

        // ELF32 header (System V ABI): ET_EXEC, EM_386, one program header at 52.
        f[0] = 0x7f;
        f[1] = (byte)'E';
        f[2] = (byte)'L';
        f[3] = (byte)'F';
        f[4] = 1; // ELFCLASS32
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], 3);
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(f[24..], LoadAddress + CodeOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(f[28..], 52);
        BinaryPrimitives.WriteUInt16LittleEndian(f[40..], 52);
        BinaryPrimitives.WriteUInt16LittleEndian(f[42..], 32);
        BinaryPrimitives.WriteUInt16LittleEndian(f[44..], 1);
        var ph = f[52..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1); // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[8..], LoadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[12..], LoadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[16..], (uint)image.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[20..], ImageSpan);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[24..], 7); // RWX
        return image;
    }

    /// <summary>Assembles 16-bit real-mode code at offset 0 (an AP's start-up code, copied by the kernel to a SIPI page).</summary>
    public static byte[] RealMode(Action<Assembler> body)
    {
        var a = new Assembler(16);
        body(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0);
        return ms.ToArray();
    }

    /// <summary>Emits stores that copy <paramref name="bytes"/> to <paramref name="address"/>.</summary>
    public void Store(uint address, byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i += 4)
        {
            var word = new byte[4];
            bytes.AsSpan(i, Math.Min(4, bytes.Length - i)).CopyTo(word);
            A.mov(__dword_ptr[address + (uint)i], BinaryPrimitives.ReadUInt32LittleEndian(word));
        }
    }

    private void Routines()
    {
        // putc: AL to COM1 once the transmitter holding register is empty (LSR bit 5).
        var wait = A.CreateLabel();
        A.Label(ref putc);
        A.push(edx);
        A.push(eax);
        A.mov(dx, (ushort)(Com1 + 5));
        A.Label(ref wait);
        A.@in(al, dx);
        A.test(al, 0x20);
        A.jz(wait);
        A.pop(eax);
        A.mov(dx, Com1);
        A.@out(dx, al);
        A.pop(edx);
        A.ret();

        // puts: the NUL-terminated string at ESI.
        var next = A.CreateLabel();
        var done = A.CreateLabel();
        A.Label(ref puts);
        A.jmp(next);
        A.Label(ref next);
        A.mov(al, __byte_ptr[esi]);
        A.test(al, al);
        A.jz(done);
        A.call(putc);
        A.inc(esi);
        A.jmp(next);
        A.Label(ref done);
        A.ret();

        // putHex: EAX as 8 hex digits.
        var digit = A.CreateLabel();
        var letter = A.CreateLabel();
        var emit = A.CreateLabel();
        A.Label(ref putHex);
        A.mov(ebx, eax);
        A.mov(ecx, 8);
        A.Label(ref digit);
        A.rol(ebx, 4);
        A.mov(eax, ebx);
        A.and(eax, 0xf);
        A.cmp(eax, 10);
        A.jae(letter);
        A.add(eax, '0');
        A.jmp(emit);
        A.Label(ref letter);
        A.add(eax, 'a' - 10);
        A.Label(ref emit);
        A.call(putc);
        A.dec(ecx);
        A.jnz(digit);
        A.ret();

        // putDec: EAX in decimal (digits pushed, then popped in order).
        var divide = A.CreateLabel();
        var print = A.CreateLabel();
        A.Label(ref putDec);
        A.mov(ecx, 0);
        A.mov(ebx, 10);
        A.Label(ref divide);
        A.xor(edx, edx);
        A.div(ebx);
        A.push(edx);
        A.inc(ecx);
        A.test(eax, eax);
        A.jnz(divide);
        A.Label(ref print);
        A.pop(eax);
        A.add(eax, '0');
        A.call(putc);
        A.dec(ecx);
        A.jnz(print);
        A.ret();
    }
}
