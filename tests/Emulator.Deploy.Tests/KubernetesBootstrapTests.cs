using Akka.Hosting;
using Emulator.Cluster.Discovery;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// What KubernetesBootstrap adds to a node's Akka configuration, and that outside a pod it refuses
/// at once with the reason (Kubernetes API discovery would otherwise fail forever and the node
/// never join). No Kubernetes cluster is needed: the pod's environment is given to it.
/// </summary>
public sealed class KubernetesBootstrapTests
{
    private static readonly Func<string, bool> TokenMounted = path => path == KubernetesBootstrap.ServiceAccountTokenPath;

    private static string? InPod(string name) => name switch
    {
        KubernetesBootstrap.ApiHostVariable => "10.96.0.1",
        KubernetesBootstrap.ApiPortVariable => "443",
        _ => null,
    };

    private static AkkaConfigurationBuilder NewBuilder() => new(new ServiceCollection(), "emu");

    [Fact]
    public void InAPodItConfiguresKubernetesApiDiscoveryAsTheSettingsSay()
    {
        var builder = NewBuilder();
        builder.AddKubernetesBootstrap(new KubernetesBootstrapSettings { PodNamespace = "ns" }, InPod, TokenMounted);
        var config = builder.Configuration.Value;
        Assert.NotNull(config);

        // Discovery through the API server, selecting the StatefulSet's pods by label, naming them by IP.
        Assert.Equal(KubernetesBootstrap.KubernetesDiscoveryMethod, config.GetString("akka.discovery.method"));
        Assert.Equal("app.kubernetes.io/name=emu", config.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.Equal("ns", config.GetString("akka.discovery.kubernetes-api.pod-namespace"));
        Assert.True(config.GetBoolean("akka.discovery.kubernetes-api.use-raw-ip"));
        Assert.Contains("KubernetesApiServiceDiscovery", config.GetString("akka.discovery.kubernetes-api.class"));

        // No seed nodes from configuration and no Akka.Management endpoint: the seeding joins.
        Assert.False(config.HasPath("akka.management.http.port"));
    }

    [Fact]
    public void ItsDefaultsAreTheOnesTheManifestsAreWrittenTo()
    {
        var settings = new KubernetesBootstrapSettings();
        Assert.Equal(("emu", "app.kubernetes.io/name=emu", "remoting", 2),
            (settings.ServiceName, settings.PodLabelSelector, settings.RemotingPortName, settings.RequiredContactPoints));
        Assert.Null(settings.Problem());
    }

    [Fact]
    public void OutsideAPodItRefusesWithTheReasonAndLeavesTheBuilderAlone()
    {
        var builder = NewBuilder();
        string before = builder.Configuration.ToString()!;
        var refusal = Assert.Throws<InvalidOperationException>(() =>
            builder.AddKubernetesBootstrap(new KubernetesBootstrapSettings(), _ => null, _ => false));

        Assert.StartsWith("--discovery kubernetes: this process is not in a Kubernetes pod", refusal.Message);
        Assert.Contains("KUBERNETES_SERVICE_HOST is not set", refusal.Message);
        Assert.Contains("KUBERNETES_SERVICE_PORT is not set", refusal.Message);
        Assert.Contains(KubernetesBootstrap.ServiceAccountTokenPath, refusal.Message);
        Assert.Contains("--discovery seeds", refusal.Message);
        Assert.Equal(before, builder.Configuration.ToString());
    }

    [Fact]
    public void APodWithoutItsServiceAccountTokenIsToldSo()
    {
        var refusal = Assert.Throws<InvalidOperationException>(() =>
            NewBuilder().AddKubernetesBootstrap(new KubernetesBootstrapSettings(), InPod, _ => false));
        Assert.Contains("automountServiceAccountToken", refusal.Message);
        Assert.DoesNotContain("is not set", refusal.Message);
    }

    [Theory]
    [InlineData("selector", "app.kubernetes.io/name", "is not KEY=VALUE")]
    [InlineData("selector", "app=emu,tier", "is not KEY=VALUE")]
    [InlineData("port-name", "akka-remoting-port", "must be 1-15 characters")]
    [InlineData("interval", "0", "the lookup interval more than 0")]
    [InlineData("contact-points", "0", "at least one contact point")]
    [InlineData("service", " ", "the service name is empty")]
    public void UnusableSettingsAreRefusedBeforeAnythingIsAdded(string setting, string value, string reason)
    {
        var settings = setting switch
        {
            "selector" => new KubernetesBootstrapSettings { PodLabelSelector = value },
            "port-name" => new KubernetesBootstrapSettings { RemotingPortName = value },
            "interval" => new KubernetesBootstrapSettings { LookupInterval = TimeSpan.FromSeconds(int.Parse(value, global::System.Globalization.CultureInfo.InvariantCulture)) },
            "contact-points" => new KubernetesBootstrapSettings { RequiredContactPoints = int.Parse(value, global::System.Globalization.CultureInfo.InvariantCulture) },
            _ => new KubernetesBootstrapSettings { ServiceName = value },
        };
        var builder = NewBuilder();
        string before = builder.Configuration.ToString()!;
        var refusal = Assert.Throws<InvalidOperationException>(() => builder.AddKubernetesBootstrap(settings, InPod, TokenMounted));
        Assert.Contains(reason, refusal.Message);
        Assert.Equal(before, builder.Configuration.ToString());
    }
}
