using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Emulator.Service.Tests;

/// <summary>OpenTelemetry through the host, seen through the in-memory exporter.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task One_CreateMachine_is_one_trace_client_span_then_server_span_then_the_control_span()
    {
        var spans = new List<Activity>();
        var server = await TestServer.StartAsync(o => o with { ConfigureTracing = t => t.AddSource("System.Net.Http").AddInMemoryExporter(spans) });
        try
        {
            using var channel = server.Channel();
            await TestServer.Machines(channel).CreateMachineAsync(server.Tiny("traced-one"));

            var resource = server.Host.Services.GetRequiredService<TracerProvider>().GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value);
            Assert.Equal("emu", resource["service.name"]);
            Assert.Equal($"{Environment.MachineName}/{server.Host.Options.Listen}", resource["service.instance.id"]);
            Assert.Equal(Environment.MachineName, resource["host.name"]);
        }
        finally
        {
            // Stopping waits for the call to end and flushes the exporter: every span is there after.
            await server.DisposeAsync();
        }

        Activity[] all;
        lock (spans)
        {
            all = [.. spans];
        }

        var control = all.Single(a => a.Source.Name == "Emulator.ControlPlane" && (string?)a.GetTagItem("machine.id") == "traced-one");
        Assert.Equal("MachineService/CreateMachine", control.DisplayName);
        var serverSpan = all.Single(a => a.SpanId == control.ParentSpanId);
        Assert.Equal(ActivityKind.Server, serverSpan.Kind);
        Assert.Equal("Microsoft.AspNetCore", serverSpan.Source.Name);
        Assert.Contains("CreateMachine", serverSpan.DisplayName);
        var clientSpan = all.Single(a => a.SpanId == serverSpan.ParentSpanId);
        Assert.Equal(ActivityKind.Client, clientSpan.Kind);
        Assert.Equal(control.TraceId, clientSpan.TraceId);
    }

    [Fact]
    public async Task Metrics_hold_the_servers_request_durations_and_the_emulators_own()
    {
        var metrics = new List<Metric>();
        await using (var server = await TestServer.StartAsync(o => o with { ConfigureMetrics = m => m.AddInMemoryExporter(metrics) }))
        {
            using var channel = server.Channel();
            var machines = TestServer.Machines(channel);
            await machines.CreateMachineAsync(server.Tiny("metered"));
            await machines.StartMachineAsync(new V1.MachineRef { Id = "metered" });
            Assert.True(server.Host.Services.GetRequiredService<MeterProvider>().ForceFlush());
        }

        var names = metrics.Select(m => m.Name).ToHashSet();
        Assert.Contains("http.server.request.duration", names);
        Assert.Contains("emu.guest.instructions", names);
        Assert.Contains("emu.actor.mailbox.depth", names);
    }
}
