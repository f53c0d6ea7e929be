namespace Emulator.Machine.Tests;

/// <summary>Waiting for a machine to get somewhere, without asserting how fast it does.</summary>
internal static class Poll
{
    /// <summary>
    /// Polls until <paramref name="condition"/> holds; false after a minute. The minute bounds only
    /// how long a failing test takes: a loaded machine may take a while to schedule a vCPU, and a
    /// passing test goes on as soon as the guest got there.
    /// </summary>
    public static async Task<bool> Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(10);
        }

        return true;
    }
}
