using Emulator.Devices.State;
using static Emulator.Devices.Keyboard.I8042Registers;

namespace Emulator.Devices.Keyboard;

public sealed partial class I8042
{
    /// <summary>
    /// Saved state (section "i8042"). Version 1: every field. PendingCommand is a controller
    /// command waiting for its data byte on port 0x60, or 0: only the commands that take one.
    /// </summary>
    public static StateDescription<I8042> SavedState { get; } = new StateDescription<I8042>("i8042", version: 1)
        .Int("CommandByte", d => d.commandByte, (d, v) => d.commandByte = v)
        .Int("OutputPort", d => d.outputPort, (d, v) => d.outputPort = v)
        .Flag("SystemFlag", d => d.systemFlag, (d, v) => d.systemFlag = v)
        .Flag("LastWriteWasCommand", d => d.lastWriteWasCommand, (d, v) => d.lastWriteWasCommand = v)
        .Int("OutputBuffer", d => d.outputBuffer, (d, v) => d.outputBuffer = v)
        .Flag("OutputFull", d => d.outputFull, (d, v) => d.outputFull = v)
        .Flag("OutputFromAux", d => d.outputFromAux, (d, v) => d.outputFromAux = v)
        .Int("PendingCommand", d => d.pendingCommand, (d, v) => d.pendingCommand = v, StateRule.OneOf(0, WriteCommandByte, WriteOutputPort, WriteKeyboardOutput, WriteAuxOutput, WriteAux))
        .AfterLoad(d => d.UpdateIrqs());
}
