using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;

namespace Emulator.Service.Tests;

/// <summary>Server reflection: what grpcurl-style tools use to find and describe the services.</summary>
public sealed class ReflectionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private async Task<ServerReflectionResponse> Ask(ServerReflectionRequest request)
    {
        using var channel = fixture.Server.Channel();
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(request);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        return call.ResponseStream.Current;
    }

    [Fact]
    public async Task Lists_MachineService_health_and_reflection()
    {
        var response = await Ask(new ServerReflectionRequest { ListServices = "" });
        var names = response.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("emulator.v1.MachineService", names);
        Assert.Contains("grpc.health.v1.Health", names);
        Assert.Contains("grpc.reflection.v1alpha.ServerReflection", names);
    }

    [Fact]
    public async Task Describes_MachineService_with_every_method_and_its_message_types()
    {
        var response = await Ask(new ServerReflectionRequest { FileContainingSymbol = "emulator.v1.MachineService" });
        var files = response.FileDescriptorResponse.FileDescriptorProto.Select(b => FileDescriptorProto.Parser.ParseFrom(b)).ToList();
        var service = files.SelectMany(f => f.Service).Single(s => s.Name == "MachineService");
        Assert.Equal(18, service.Method.Count);
        Assert.Contains(service.Method, m => m.Name == "ResetMachine");
        var migrate = service.Method.Single(m => m.Name == "MigrateMachine");
        Assert.True(migrate.ServerStreaming && !migrate.ClientStreaming);
        Assert.True(service.Method.Single(m => m.Name == "ReceiveMigration").ClientStreaming);
        var console = service.Method.Single(m => m.Name == "AttachConsole");
        Assert.True(console.ClientStreaming && console.ServerStreaming);
        Assert.Equal(".emulator.v1.CreateMachineRequest", service.Method.Single(m => m.Name == "CreateMachine").InputType);
        Assert.Contains(files.SelectMany(f => f.MessageType), m => m.Name == "CreateMachineRequest");
    }
}
