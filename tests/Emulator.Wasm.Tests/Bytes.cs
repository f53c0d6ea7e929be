namespace Emulator.Wasm.Tests;

/// <summary>Hand assembly of small test modules (spec 5.5): sections from raw content.</summary>
internal static class Bytes
{
    public static readonly byte[] Header = { 0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00 };

    public static byte[] Module(params byte[][] sections) => Header.Concat(sections.SelectMany(s => s)).ToArray();

    public static byte[] Section(byte id, params byte[] content) => new[] { id }.Concat(Leb((uint)content.Length)).Concat(content).ToArray();

    public static byte[] Leb(uint value)
    {
        var output = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            if (value != 0) b |= 0x80;
            output.Add(b);
        } while (value != 0);
        return output.ToArray();
    }

    public static byte[] Name(string s)
    {
        var utf8 = System.Text.Encoding.UTF8.GetBytes(s);
        return Leb((uint)utf8.Length).Concat(utf8).ToArray();
    }

    /// <summary>A code section of bodies without locals; each body excludes the final end.</summary>
    public static byte[] Code(params byte[][] bodies)
    {
        var content = new List<byte>(Leb((uint)bodies.Length));
        foreach (var body in bodies)
        {
            var fn = new byte[] { 0x00 }.Concat(body).Append((byte)0x0B).ToArray();
            content.AddRange(Leb((uint)fn.Length));
            content.AddRange(fn);
        }
        return Section(10, content.ToArray());
    }

    public static byte[] Export(string name, byte kind, uint index) => Name(name).Append(kind).Concat(Leb(index)).ToArray();
}
