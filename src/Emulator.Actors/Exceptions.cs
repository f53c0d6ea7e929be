namespace Emulator.Actors;

/// <summary>An Ask or Call got no reply within its timeout.</summary>
public sealed class AskTimeoutException : TimeoutException
{
    public AskTimeoutException(string path, TimeSpan timeout)
        : base($"No reply from {path} within {timeout.TotalMilliseconds} ms.")
    {
        Path = path;
        Timeout = timeout;
    }

    public string Path { get; }

    public TimeSpan Timeout { get; }
}

/// <summary>The request went to dead letters: the target was stopped (or stopping) before it handled it.</summary>
public sealed class ActorStoppedException : InvalidOperationException
{
    public ActorStoppedException(string path)
        : base($"{path} is stopped; the request went to dead letters.")
    {
        Path = path;
    }

    public string Path { get; }
}

/// <summary>The target's handler threw while handling the request; the target is now supervised by its parent.</summary>
public sealed class ActorFailedException : Exception
{
    public ActorFailedException(string path, Exception reason)
        : base($"{path} failed while handling the request: {reason.Message}", reason)
    {
        Path = path;
    }

    public string Path { get; }
}
