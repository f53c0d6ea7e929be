using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.V1;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Tests;

/// <summary>The listener: bearer token on every service, TLS, a Unix socket, and what the node refuses to serve.</summary>
public sealed class SecurityTests
{
    private static async Task<StatusCode> HealthStatus(GrpcChannel channel)
    {
        try
        {
            await new Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new HealthCheckRequest());
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private static async Task<StatusCode> ListMachinesStatus(GrpcChannel channel)
    {
        try
        {
            await TestServer.Machines(channel).ListMachinesAsync(new ListMachinesRequest());
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private static async Task<StatusCode> ReflectionStatus(GrpcChannel channel)
    {
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        try
        {
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The server refused the call before the request was written; the response says how.
        }

        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }

            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    [Fact]
    public async Task The_token_is_required_by_every_service_reflection_and_health_included()
    {
        await using var server = await TestServer.StartAsync(o => o with { BearerToken = "s3cret" });
        foreach (string? token in new[] { null, "wrong", "s3cre", "s3cret-and-more" })
        {
            using var channel = server.Channel(token);
            Assert.Equal(StatusCode.Unauthenticated, await HealthStatus(channel));
            Assert.Equal(StatusCode.Unauthenticated, await ListMachinesStatus(channel));
            Assert.Equal(StatusCode.Unauthenticated, await ReflectionStatus(channel));
        }

        using var good = server.Channel("s3cret");
        Assert.Equal(StatusCode.OK, await HealthStatus(good));
        Assert.Equal(StatusCode.OK, await ListMachinesStatus(good));
        Assert.Equal(StatusCode.OK, await ReflectionStatus(good));
    }

    [Fact]
    public async Task Health_may_be_allowed_without_the_token_by_policy_and_nothing_else()
    {
        await using var server = await TestServer.StartAsync(o => o with { BearerToken = "s3cret", AnonymousHealth = true });
        using var channel = server.Channel();
        Assert.Equal(StatusCode.OK, await HealthStatus(channel));
        Assert.Equal(StatusCode.Unauthenticated, await ListMachinesStatus(channel));
        Assert.Equal(StatusCode.Unauthenticated, await ReflectionStatus(channel));
    }

    [Fact]
    public async Task An_empty_token_is_refused_not_taken_as_no_token()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => ControlPlaneHost.StartAsync(new ControlPlaneOptions { BearerToken = "" }));
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public async Task A_non_loopback_listener_without_token_and_TLS_is_refused_unless_overridden()
    {
        var anywhere = ListenAddress.TryParse("0.0.0.0:0", out _)!;
        var e = await Assert.ThrowsAsync<ArgumentException>(() => ControlPlaneHost.StartAsync(new ControlPlaneOptions { Listen = anywhere }));
        Assert.Contains("refusing to listen on 0.0.0.0:0", e.Message);
        Assert.Contains("--insecure-listen", e.Message);
        var tokenOnly = new ControlPlaneOptions { Listen = anywhere, BearerToken = "s3cret" };
        Assert.Contains("TLS", tokenOnly.Problem());
        Assert.DoesNotContain("EMU_TOKEN", tokenOnly.Problem());
        Assert.Null((tokenOnly with { TlsCertificatePath = "c.pem", TlsKeyPath = "k.pem" }).Problem());
        Assert.Null(new ControlPlaneOptions { Listen = anywhere, InsecureListen = true }.Problem());
        Assert.Null(new ControlPlaneOptions { Listen = ListenAddress.TryParse("[::1]:0", out _)! }.Problem());
        Assert.Null(new ControlPlaneOptions { Listen = ListenAddress.UnixSocket(Path.Combine(Path.GetTempPath(), "emu-unused.sock")) }.Problem());
    }

    [Theory]
    [InlineData("50051")]
    [InlineData("127.0.0.1")]
    [InlineData("unix:")]
    [InlineData("example.org:50051")]
    public void A_listen_address_that_is_not_one_is_refused_with_examples(string text)
    {
        Assert.Null(ListenAddress.TryParse(text, out string? error));
        Assert.Contains("unix:", error);
    }

    [Fact]
    public async Task TLS_with_a_self_signed_certificate_serves_a_client_that_trusts_it_and_refuses_plaintext()
    {
        using var certificate = SelfSigned();
        string directory = Directory.CreateTempSubdirectory("emu-tls-").FullName;
        try
        {
            string cert = Path.Combine(directory, "cert.pem"), key = Path.Combine(directory, "key.pem");
            await File.WriteAllTextAsync(cert, certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(key, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            await using var server = await TestServer.StartAsync(o => o with { TlsCertificatePath = cert, TlsKeyPath = key, BearerToken = "s3cret" });
            Assert.StartsWith("https://", server.Address);

            using (var trusting = ControlPlaneChannel.Open(server.Address, "s3cret", c => c.Thumbprint == certificate.Thumbprint))
            {
                Assert.Equal(StatusCode.OK, await HealthStatus(trusting));
                var created = await TestServer.Machines(trusting).CreateMachineAsync(server.Tiny("over-tls"));
                Assert.Equal(MachineState.Created, created.State);
            }

            using (var untrusting = ControlPlaneChannel.Open(server.Address, "s3cret"))
            {
                Assert.NotEqual(StatusCode.OK, await HealthStatus(untrusting));
            }

            using var plaintext = ControlPlaneChannel.Open(server.Address.Replace("https://", "http://", StringComparison.Ordinal), "s3cret");
            Assert.NotEqual(StatusCode.OK, await HealthStatus(plaintext));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_Unix_socket_listener_serves_a_client_on_the_socket()
    {
        string directory = Directory.CreateTempSubdirectory("emu-socket-").FullName;
        try
        {
            string socket = Path.Combine(directory, "emu.sock");
            await using var server = await TestServer.StartAsync(o => o with { Listen = ListenAddress.UnixSocket(socket) });
            Assert.Equal("unix:" + socket, server.Address);
            using var channel = server.Channel();
            Assert.Equal(StatusCode.OK, await HealthStatus(channel));
            var created = await TestServer.Machines(channel).CreateMachineAsync(server.Tiny("on-socket"));
            Assert.Equal("on-socket", created.Id);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>An ECDSA P-256 certificate for 127.0.0.1 and localhost, valid for a day.</summary>
    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=emu test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
