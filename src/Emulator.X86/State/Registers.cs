namespace Emulator.X86.State;

/// <summary>General-purpose register numbers in encoding order.</summary>
public enum Gpr
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>Segment register numbers in encoding order (SDM Vol. 2 Table 3-? "Sreg").</summary>
public enum Seg
{
    Es, Cs, Ss, Ds, Fs, Gs,
}

/// <summary>RFLAGS bits (SDM Vol. 1 3.4.3).</summary>
[Flags]
public enum RFlags : ulong
{
    CF = 1 << 0,
    Fixed1 = 1 << 1,
    PF = 1 << 2,
    AF = 1 << 4,
    ZF = 1 << 6,
    SF = 1 << 7,
    TF = 1 << 8,
    IF = 1 << 9,
    DF = 1 << 10,
    OF = 1 << 11,
    IOPL = 3 << 12,
    NT = 1 << 14,
    RF = 1 << 16,
    VM = 1 << 17,
    AC = 1 << 18,
    VIF = 1 << 19,
    VIP = 1 << 20,
    ID = 1 << 21,

    /// <summary>The six arithmetic flags, kept lazily.</summary>
    Arith = CF | PF | AF | ZF | SF | OF,
}

/// <summary>Exception vectors (SDM Vol. 3A 6.3.1).</summary>
public static class Vector
{
    public const int DE = 0;
    public const int DB = 1;
    public const int NMI = 2;
    public const int BP = 3;
    public const int OF = 4;
    public const int BR = 5;
    public const int UD = 6;
    public const int NM = 7;
    public const int DF = 8;
    public const int TS = 10;
    public const int NP = 11;
    public const int SS = 12;
    public const int GP = 13;
    public const int PF = 14;
    public const int MF = 16;
    public const int AC = 17;
    public const int MC = 18;
    public const int XM = 19;
}
