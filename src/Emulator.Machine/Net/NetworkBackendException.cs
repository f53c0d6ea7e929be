namespace Emulator.Machine.Net;

/// <summary>A network backend cannot be opened (a TAP that is missing, busy or not permitted): bad input at machine creation.</summary>
public sealed class NetworkBackendException(string message) : IOException(message);
