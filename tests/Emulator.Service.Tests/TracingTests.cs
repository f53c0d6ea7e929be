using System.Diagnostics;
using Grpc.Core;
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
}
