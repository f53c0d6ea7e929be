using Emulator.Machine.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Emulator.Cli;

/// <summary>
/// Exports the emulator's spans (device I/O, control-plane calls) and metrics over OTLP when the
/// standard OTEL_EXPORTER_OTLP_ENDPOINT (or the traces/metrics variants) is set; the OpenTelemetry
/// SDK reads the other OTEL_* variables (protocol, headers, OTEL_SERVICE_NAME) itself.
/// </summary>
internal static class Telemetry
{
    public static IDisposable? StartFromEnvironment()
    {
        bool configured = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }
            .Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        if (!configured)
        {
            return null;
        }

        var traces = Sdk.CreateTracerProviderBuilder()
            .AddSource(EmulatorTelemetry.DeviceSourceName, EmulatorTelemetry.ControlSourceName)
            .AddOtlpExporter()
            .Build();
        var metrics = Sdk.CreateMeterProviderBuilder()
            .AddMeter(EmulatorTelemetry.MeterName)
            .AddOtlpExporter()
            .Build();
        return new Both(traces, metrics);
    }

    private sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose()
        {
            a.Dispose();
            b.Dispose();
        }
    }
}
