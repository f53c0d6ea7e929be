using Emulator.Cli;

return CpuDemo.Run(args);
