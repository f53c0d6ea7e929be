namespace Emulator.Ir.Passes;

/// <summary>The pass order, in one place.</summary>
public static class Optimizer
{
    public static void Run(IrBlock block)
    {
        ConstantFolding.Run(block);
        DeadStoreElimination.Run(block);
        DeadCodeElimination.Run(block);
    }
}
