using System.Diagnostics;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Emulator.Service.Client;
using Grpc.Core;
using Grpc.Health.V1;
using Xunit;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.System.Tests;

/// <summary>`emu serve` as a process: how it stops on SIGTERM, and what it refuses to serve. No guest boots.</summary>
public sealed partial class ControlPlaneServeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task SigtermTurnsHealthNotServingThenEndsStreamsUnavailableAndExitsZero()
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-serve-drain-");
        try
        {
            using var server = ConsoleSession.StartEmu(null, "serve", "--listen", "127.0.0.1:0", "--drain-seconds", "1", "--snapshot-dir", snapshots.FullName);
            string address = Address().Match(server.WaitFor(" (machines", Timeout)).Value;
            Assert.False(string.IsNullOrEmpty(address), "emu serve printed no address");

            using var channel = ControlPlaneChannel.Open(address);
            using var safety = new CancellationTokenSource(Timeout);
            using var watch = new Health.HealthClient(channel).Watch(new HealthCheckRequest { Service = "emulator.v1.MachineService" }, cancellationToken: safety.Token);
            Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(ServingStatus.Serving, watch.ResponseStream.Current.Status);

            using (var kill = Process.Start("kill", ["-TERM", server.ProcessId.ToString(global::System.Globalization.CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }

            // Told before the streams end, whatever the drain's length: the watcher can move elsewhere.
            Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(ServingStatus.NotServing, watch.ResponseStream.Current.Status);
            var ended = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
            Assert.Equal(0, server.WaitForExit(Timeout));
        }
        finally
        {
            snapshots.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("", "--listen", "127.0.0.1:0", "EMU_TOKEN is set but empty")]
    [InlineData(null, "--listen", "0.0.0.0:0", "refusing to listen on 0.0.0.0:0")]
    [InlineData("s3cret", "--listen", "0.0.0.0:0", "without TLS")]
    [InlineData(null, "--listen", "somewhere", "is not an address:port or unix:PATH")]
    [InlineData(null, "--tls-cert", "cert.pem", "--tls-cert and --tls-key go together")]
    public async Task WhatItMustNotServeIsRefusedWithTheReason(string? token, string option, string value, string reason)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "emu.dll"));
        foreach (string a in new[] { "serve", option, value })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("EMU_TOKEN");
        if (token is not null)
        {
            psi.Environment["EMU_TOKEN"] = token;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = await p.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(Timeout);
        await p.WaitForExitAsync(limit.Token);
        Assert.Equal(2, p.ExitCode);
        Assert.Contains(reason, stderr);
        Assert.DoesNotContain("serving on", await stdout);
    }

    [GeneratedRegex(@"http://[0-9.]+:[0-9]+/?")]
    private static partial Regex Address();
}
