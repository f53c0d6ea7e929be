using System.Security.Cryptography.X509Certificates;
using Akka.Hosting;
using Emulator.Machine.Telemetry;
using Emulator.Service.Health;
using Emulator.Service.Machines;
using Emulator.Service.Web;
using Grpc.AspNetCore.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Hosting;

/// <summary>
/// A node's control plane: MachineService, grpc.health.v1 and server reflection on Kestrel
/// (HTTP/2: h2c, or TLS with ALPN; TCP or a Unix socket), and on the same port the web console
/// (HTTP/1.1: the page, gRPC-Web, the console WebSocket), in a Microsoft.Extensions.Hosting host
/// with OpenTelemetry. `emu serve`, the benchmark and the tests all build it here.
/// </summary>
public sealed class ControlPlaneHost : IAsyncDisposable
{
    /// <summary>The services whose health is reported by name (besides the server's, "").</summary>
    public static readonly string[] ReportedServices = [V1.MachineService.Descriptor.FullName];

    private readonly WebApplication app;
    private bool stopped;

    private readonly CleartextProtocols? cleartext;

    private ControlPlaneHost(WebApplication app, ControlPlaneOptions options, MachineService machines, HealthService health, CleartextProtocols? cleartext)
    {
        this.app = app;
        this.cleartext = cleartext;
        Options = options;
        Machines = machines;
        Health = health;
    }

    public ControlPlaneOptions Options { get; }

    public MachineService Machines { get; }

    public HealthService Health { get; }

    /// <summary>The catalogue the node keeps its machines in ("sqlite:PATH"...), or null when it keeps none (not asked for, or unusable).</summary>
    public string? Catalogue => Machines.Catalogue?.Options.Description;

    /// <summary>Completes when the node is a member of its cluster; null for a node alone.</summary>
    public Task? ClusterJoined => Machines.Cluster?.Joined;

    /// <summary>Completes when the node stops being a member of its cluster (it left, or was downed); null for a node alone.</summary>
    public Task? ClusterRemoved => Machines.Cluster?.Removed;

    /// <summary>The host's services (the OpenTelemetry providers, for tests).</summary>
    internal IServiceProvider Services => app.Services;

    /// <summary>Where clients call, once started: "http://127.0.0.1:PORT", "https://..." or "unix:PATH".</summary>
    public string Address { get; private set; } = "";

    /// <summary>Fired when the host begins to stop (SIGTERM, Ctrl-C, <see cref="StopAsync"/>).</summary>
    public CancellationToken Stopping => app.Lifetime.ApplicationStopping;

    /// <summary>Builds and starts the node's control plane; throws <see cref="ArgumentException"/> for options it must refuse (<see cref="ControlPlaneOptions.Problem"/>).</summary>
    public static async Task<ControlPlaneHost> StartAsync(ControlPlaneOptions options, CancellationToken cancel = default)
    {
        if (options.Problem() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var machines = new MachineService(options.Machines with { PeerToken = options.Machines.PeerToken ?? options.BearerToken });
        var catalogue = options.Catalogue;
        if (catalogue is not null && await catalogue.ProblemAsync(cancel).ConfigureAwait(false) is { } unusable)
        {
            // The node still serves (machine.proto: a damaged catalogue never keeps it down).
            machines.Log($"catalogue: {unusable}; serving without it: no machine of an earlier run comes back, and this run's machines will not survive a restart");
            catalogue = null;
        }

        var health = new HealthService();
        var cleartext = options.TlsCertificatePath is null ? new CleartextProtocols() : null;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => Listen(kestrel, options, cleartext));
        // Calls under way get 30 s to finish after the drain.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainDelay + TimeSpan.FromSeconds(30));
        builder.Services.AddRouting();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(machines);
        builder.Services.AddSingleton(health);
        builder.Services.AddSingleton<NodeDrain>();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxReceiveMessageBytes;
            grpc.MaxSendMessageSize = options.MaxSendMessageBytes;
            grpc.EnableDetailedErrors = false; // an unexpected exception's message may hold host details: UNKNOWN without it
            grpc.Interceptors.Add<BearerTokenInterceptor>();
            grpc.Interceptors.Add<DrainInterceptor>();
        });
        builder.Services.AddGrpcReflection();
        // Every service bound by StrictParsingMethodProvider instead of Grpc.AspNetCore's own binder.
        builder.Services.RemoveAll(typeof(IServiceMethodProvider<>));
        builder.Services.AddSingleton(typeof(IServiceMethodProvider<>), typeof(StrictParsingMethodProvider<>));
        AddTelemetry(builder.Services, options);
        ControlPlaneHost? started = null;
        if (options.Cluster is { } cluster)
        {
            // Peers call this node at --advertise, or where it listens once it listens.
            builder.Services.AddAkka(Emulator.Cluster.ClusterNode.SystemName, akka =>
            {
                Emulator.Cluster.ClusterNode.Configure(
                    akka, cluster, machines,
                    () => cluster.ControlPlaneAddress is { Length: > 0 } advertised ? advertised : started?.Address ?? "",
                    directory => machines.Cluster = directory);
                if (catalogue is not null)
                {
                    Emulator.Cluster.Catalogue.MachineCatalogue.Configure(akka, catalogue, options.Machines.NodeName, c => machines.Catalogue = c);
                }
            });
        }
        else if (catalogue is not null)
        {
            // A node alone: a local actor system (no remoting, no cluster) for the catalogue's persistent actor.
            builder.Services.AddAkka(Emulator.Cluster.ClusterNode.SystemName, akka =>
            {
                akka.AddHocon(Akka.Configuration.ConfigurationFactory.ParseString("""
                    akka.loglevel = WARNING
                    akka.coordinated-shutdown.exit-clr = off
                    """), HoconAddMode.Prepend);
                Emulator.Cluster.Catalogue.MachineCatalogue.Configure(akka, catalogue, options.Machines.NodeName, c => machines.Catalogue = c);
            });
        }

        // Hosted services start in the order of these lines, before Kestrel listens, and stop in the
        // reverse order: on a node alone the catalogue's machines come back after the actor system
        // starts and before the node answers anything; at the stop the drain comes first (calls
        // still served, the actor system still up), then the catalogue records the orderly stop,
        // then the actor system stops.
        if (catalogue is not null)
        {
            builder.Services.AddHostedService(_ => new CatalogueLifetime(machines, bringBack: options.Cluster is null));
        }

        builder.Services.AddHostedService(s => s.GetRequiredService<NodeDrain>());

        var app = builder.Build();
        WebConsole.Map(app, options, machines);
        app.UseRouting();
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true }); // the web console's calls (HTTP/1.1)
        app.MapGrpcService<MachineService>();
        app.MapGrpcService<HealthService>();
        app.MapGrpcReflectionService();

        var host = started = new ControlPlaneHost(app, options, machines, health, cleartext);
        try
        {
            await app.StartAsync(cancel).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            await machines.DisposeAsync().ConfigureAwait(false);
            cleartext?.Dispose();
            throw;
        }

        host.Address = options.Listen.SocketPath is { } socket
            ? "unix:" + socket
            : app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => !a.StartsWith("http://unix:", StringComparison.Ordinal));
        if (machines.Cluster is { } joining)
        {
            // A cluster node serves machines once it is a member: health says NOT_SERVING until
            // then, and the start waits a while for it so that `emu serve` reports a joined node.
            // The machines of the catalogue come back then (claimed where the cluster can place
            // them), before the node reports SERVING, as on a node alone.
            await Task.WhenAny(joining.Joined, Task.Delay(options.ClusterJoinWait, cancel)).ConfigureAwait(false);
            await machines.BringBackAsync(cancel).ConfigureAwait(false);
            _ = joining.Joined.ContinueWith(_ => SetServing(health), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        else
        {
            SetServing(health);
        }

        return host;
    }

    private static void SetServing(HealthService health)
    {
        foreach (string service in ReportedServices)
        {
            health.SetStatus(service, ServingStatus.Serving);
        }
    }

    private static void Listen(KestrelServerOptions kestrel, ControlPlaneOptions options, CleartextProtocols? cleartext)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
        kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxConcurrentStreamsPerConnection;
        X509Certificate2? certificate = options.TlsCertificatePath is { } cert
            ? X509Certificate2.CreateFromPemFile(cert, options.TlsKeyPath)
            : null;

        void Configure(ListenOptions listen)
        {
            if (certificate is not null)
            {
                // ALPN: "h2" for gRPC, "http/1.1" for browsers (the web console, gRPC-Web).
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }
            else
            {
                cleartext!.ConfigurePublic(listen);
            }
        }

        if (options.Listen.SocketPath is { } socket)
        {
            kestrel.ListenUnixSocket(socket, Configure);
        }
        else
        {
            kestrel.Listen(options.Listen.Tcp!, Configure);
        }

        if (cleartext is not null)
        {
            kestrel.ListenUnixSocket(cleartext.Http1SocketPath, cleartext.ConfigureHttp1);
        }
    }

    /// <summary>
    /// OpenTelemetry through the host: the ASP.NET Core server span of each call is the parent of
    /// the project's control and device spans; OTLP export when the standard OTEL_EXPORTER_OTLP_*
    /// variables name an endpoint (the exporter reads the rest of OTEL_* itself).
    /// </summary>
    private static void AddTelemetry(IServiceCollection services, ControlPlaneOptions options)
    {
        bool otlp = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }
            .Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        if (!otlp && options.ConfigureTracing is null && options.ConfigureMetrics is null)
        {
            return;
        }

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? "emu", serviceInstanceId: $"{options.Machines.NodeName}/{options.Listen}")
                .AddAttributes([new("host.name", Environment.MachineName)]));
        if (otlp || options.ConfigureTracing is not null)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(EmulatorTelemetry.ControlSourceName, EmulatorTelemetry.DeviceSourceName)
                    .AddAspNetCoreInstrumentation();
                options.ConfigureTracing?.Invoke(tracing);
            });
        }

        if (otlp || options.ConfigureMetrics is not null)
        {
            // The emulator's (device requests, guest instructions, translations, mailbox depths) and
            // the server's: ASP.NET Core's request durations, Kestrel's connections, Grpc.AspNetCore's calls.
            telemetry.WithMetrics(metrics =>
            {
                metrics.AddMeter(EmulatorTelemetry.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Grpc.AspNetCore.Server");
                options.ConfigureMetrics?.Invoke(metrics);
            });
        }

        if (otlp)
        {
            telemetry.UseOtlpExporter();
        }
    }

    /// <summary>Waits until the host is told to stop (SIGTERM, Ctrl-C), then stops it.</summary>
    public async Task WaitForShutdownAsync()
    {
        await app.WaitForShutdownAsync().ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Drains (<see cref="NodeDrain"/>), stops serving, then closes every machine.</summary>
    public async Task StopAsync()
    {
        if (stopped)
        {
            return;
        }

        stopped = true;
        await app.StopAsync().ConfigureAwait(false);
        await Machines.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        cleartext?.Dispose();
    }

    /// <summary>
    /// The catalogue's part in the host's start and stop: a node alone brings its machines back as
    /// it starts (<see cref="MachineService.BringBackAsync"/>; a cluster node does once it has
    /// joined), and the orderly stop is recorded when the host stops (<see cref="MachineService.CloseCatalogueAsync"/>).
    /// </summary>
    private sealed class CatalogueLifetime(MachineService machines, bool bringBack) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => bringBack ? machines.BringBackAsync(cancellationToken) : Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => machines.CloseCatalogueAsync();
    }
}
