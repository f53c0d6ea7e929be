using Akka.Hosting;
using Emulator.Cluster.Discovery;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Emulator.Deploy.Tests;

/// <summary>
/// What KubernetesBootstrap adds to a node's Akka configuration, and that outside a pod it refuses
/// at once with the reason (Kubernetes API discovery would otherwise retry forever and the node
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
    public void InAPodItConfiguresManagementDiscoveryAndBootstrapAsTheSettingsSay()
    {
        var builder = NewBuilder();
        builder.AddKubernetesBootstrap(
            new KubernetesBootstrapSettings { ManagementHostname = "emu-0.emu.ns.svc.cluster.local", RequiredContactPoints = 3, PodNamespace = "ns" },
            InPod, TokenMounted);
        var config = builder.Configuration.Value;
        Assert.NotNull(config);

        // Akka.Management's HTTP endpoint: on every interface, port 8558, named by the pod's DNS name.
        Assert.Equal(8558, config.GetInt("akka.management.http.port"));
        Assert.Equal(8558, config.GetInt("akka.management.http.bind-port"));
        Assert.Equal("0.0.0.0", config.GetString("akka.management.http.bind-hostname"));
        Assert.Equal("emu-0.emu.ns.svc.cluster.local", config.GetString("akka.management.http.hostname"));
        Assert.Contains("ClusterBootstrapProvider", config.GetString("akka.management.http.routes.cluster-bootstrap"));

        // Discovery through the API server, selecting the StatefulSet's pods by label.
        Assert.Equal("kubernetes-api", config.GetString("akka.discovery.method"));
        Assert.Equal("app.kubernetes.io/name=emu", config.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.Equal("ns", config.GetString("akka.discovery.kubernetes-api.pod-namespace"));
        Assert.Contains("KubernetesApiServiceDiscovery", config.GetString("akka.discovery.kubernetes-api.class"));

        // Bootstrap: contact points are the pods' "management" ports; a new cluster needs three of them.
        const string discovery = "akka.management.cluster.bootstrap.contact-point-discovery";
        Assert.Equal("kubernetes-api", config.GetString($"{discovery}.discovery-method"));
        Assert.Equal("management", config.GetString($"{discovery}.port-name"));
        Assert.Equal("emu", config.GetString($"{discovery}.service-name"));
        Assert.Equal(3, config.GetInt($"{discovery}.required-contact-point-nr"));
        Assert.True(config.GetBoolean("akka.management.cluster.bootstrap.new-cluster-enabled"));
    }

    [Fact]
    public void ItsDefaultsAreTheOnesTheManifestsAreWrittenTo()
    {
        var settings = new KubernetesBootstrapSettings();
        Assert.Equal(("emu", "app.kubernetes.io/name=emu", "management", 8558, 2),
            (settings.ServiceName, settings.PodLabelSelector, settings.ManagementPortName, settings.ManagementPort, settings.RequiredContactPoints));
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
    [InlineData("port-name", "management-endpoint", "must be 1-15 characters")]
    [InlineData("port", "0", "the management port must be 1 to 65535")]
    [InlineData("contact-points", "0", "at least one contact point")]
    [InlineData("service", " ", "the service name is empty")]
    public void UnusableSettingsAreRefusedBeforeAnythingIsAdded(string setting, string value, string reason)
    {
        var settings = setting switch
        {
            "selector" => new KubernetesBootstrapSettings { PodLabelSelector = value },
            "port-name" => new KubernetesBootstrapSettings { ManagementPortName = value },
            "port" => new KubernetesBootstrapSettings { ManagementPort = int.Parse(value, global::System.Globalization.CultureInfo.InvariantCulture) },
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
