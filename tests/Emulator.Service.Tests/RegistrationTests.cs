using Emulator.Service.Rpc;
using Emulator.Service.Tests.V1;
using Emulator.Service.V1;

namespace Emulator.Service.Tests;

/// <summary>Registrations are checked against protoc's descriptors before the server starts.</summary>
public sealed class RegistrationTests
{
    private static GrpcServer NewServer() => new GrpcServer().AddServices(EchoReflection.Descriptor).AddServices(MachineReflection.Descriptor);

    private static Task<EchoReply> Reply(EchoRequest request, ServerCallContext context) => Task.FromResult(new EchoReply());

    [Fact]
    public void Unknown_method_name_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => NewServer().MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unray", Reply));
        Assert.Contains("Unray", e.Message);
    }

    [Fact]
    public void Undeclared_service_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new GrpcServer().MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", Reply));
    }

    [Fact]
    public void Wrong_call_kind_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => NewServer().MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Chat", Reply));
        Assert.Contains("bidirectional", e.Message);
    }

    [Fact]
    public void Wrong_message_types_are_refused()
    {
        Assert.Throws<ArgumentException>(() => NewServer().MapUnary<MachineRef, EchoReply>("emulator.test.v1.Echo/Unary",
            (request, context) => Task.FromResult(new EchoReply())));
        Assert.Throws<ArgumentException>(() => NewServer().MapUnary<EchoRequest, global::Emulator.Service.V1.Machine>("emulator.test.v1.Echo/Unary",
            (request, context) => Task.FromResult(new global::Emulator.Service.V1.Machine())));
    }

    [Fact]
    public void A_method_is_registered_once()
    {
        GrpcServer server = NewServer().MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", Reply);
        Assert.Throws<ArgumentException>(() => server.MapUnary<EchoRequest, EchoReply>("emulator.test.v1.Echo/Unary", Reply));
    }

    [Fact]
    public void Every_MachineService_call_can_be_registered()
    {
        // The machine API plugs in here later; this pins the declared shapes.
        var methods = MachineReflection.Descriptor.Services.Single().Methods;
        Assert.Equal(14, methods.Count);
        Assert.True(methods.Single(m => m.Name == "WatchMachine").IsServerStreaming);
        var console = methods.Single(m => m.Name == "AttachConsole");
        Assert.True(console.IsClientStreaming && console.IsServerStreaming);
    }
}
