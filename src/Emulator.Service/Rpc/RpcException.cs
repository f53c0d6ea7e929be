namespace Emulator.Service.Rpc;

/// <summary>
/// A call's failure with its gRPC status. A handler throws it to end the call with that
/// status; the client throws it when the server's status is not OK.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(StatusCode status, string? detail = null)
        : base(detail is null or "" ? status.ToString() : $"{status}: {detail}")
    {
        Status = status;
        Detail = detail ?? "";
    }

    public StatusCode Status { get; }

    /// <summary>The status message (grpc-message), decoded.</summary>
    public string Detail { get; }
}
