using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Emulator.Testing;

/// <summary>
/// A fact that needs something the machine may lack: a Debian package, a host file. A subclass
/// passes what is missing (with how to install it), or null when everything is there. Outside CI
/// the test is then skipped with that message. Under CI (<see cref="Ci.IsRunning"/>) it fails
/// with the same message instead: a skip there would let a green run test less than it claims.
/// </summary>
[XunitTestCaseDiscoverer("Emulator.Testing.DependencyFactDiscoverer", "Emulator.Testing")]
public abstract class DependencyFactAttribute : FactAttribute
{
    protected DependencyFactAttribute(string? missing)
    {
        Missing = missing;
        if (missing is not null && !Ci.IsRunning)
        {
            Skip = missing;
        }
    }

    /// <summary>What is missing and how to get it; null when nothing is.</summary>
    public string? Missing { get; }
}

/// <summary>The environment the tests run in.</summary>
public static class Ci
{
    /// <summary>True under CI: the environment variable CI is "true" (or "1"), as CI services and .ci/run set it.</summary>
    public static bool IsRunning =>
        Environment.GetEnvironmentVariable("CI") is { } value
        && (value.Equals("true", StringComparison.OrdinalIgnoreCase) || value == "1");
}

/// <summary>
/// Discovers a <see cref="DependencyFactAttribute"/> test: an ordinary fact (skipped by the
/// attribute when its dependency is missing), or under CI with the dependency missing a test
/// case that fails with the attribute's message.
/// </summary>
public sealed class DependencyFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    private readonly FactDiscoverer facts = new(diagnostics);

    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute)
    {
        string? missing = attribute.GetNamedArgument<string?>(nameof(DependencyFactAttribute.Missing));
        if (missing is null || !Ci.IsRunning)
        {
            return facts.Discover(options, method, attribute);
        }

        return
        [
            new ExecutionErrorTestCase(diagnostics, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), method,
                $"{missing} (under CI a missing dependency fails the test instead of skipping it)"),
        ];
    }
}
