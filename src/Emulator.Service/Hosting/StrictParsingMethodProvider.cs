using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Emulator.Service.Hosting;

/// <summary>
/// Binds each gRPC service's methods as Grpc.AspNetCore's own binder does (the generated
/// BindService, the overriding methods found by name), with one difference: a request that does
/// not parse as its protobuf message fails INTERNAL, as statuscodes.md gives for a message that
/// fails to parse, instead of the UNKNOWN of "exception thrown by handler". INVALID_ARGUMENT stays
/// for the service's checks of a well-formed request, so a client can tell a broken peer from a bad request.
/// </summary>
internal sealed class StrictParsingMethodProvider<TService> : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        var bind = typeof(TService).GetCustomAttribute<BindServiceMethodAttribute>(inherit: true);
        if (bind is null)
        {
            return;
        }

        var bindService = bind.BindType.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Single(m => m.Name == bind.BindMethodName && m.GetParameters() is [var binder, _] && binder.ParameterType == typeof(ServiceBinderBase));
        bindService.Invoke(null, [new Binder(context), null]);
    }

    private sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(Strict(method), Metadata(method, out var found, typeof(TRequest), typeof(ServerCallContext)),
                Invoker<UnaryServerMethod<TService, TRequest, TResponse>>(found));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddClientStreamingMethod(Strict(method), Metadata(method, out var found, typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext)),
                Invoker<ClientStreamingServerMethod<TService, TRequest, TResponse>>(found));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(Strict(method), Metadata(method, out var found, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
                Invoker<ServerStreamingServerMethod<TService, TRequest, TResponse>>(found));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddDuplexStreamingMethod(Strict(method), Metadata(method, out var found, typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
                Invoker<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(found));

        /// <summary>The service's and the method's attributes (authorization, CORS...), as Grpc.AspNetCore collects them.</summary>
        private static List<object> Metadata(IMethod method, out MethodInfo found, params Type[] parameters)
        {
            found = typeof(TService).GetMethod(method.Name, parameters)
                ?? throw new InvalidOperationException($"{typeof(TService).Name} has no method {method.Name}");
            return [.. typeof(TService).GetCustomAttributes(inherit: true), .. found.GetCustomAttributes(inherit: true)];
        }

        /// <summary>An open-instance delegate: the service instance of each call is its first argument.</summary>
        private static TDelegate Invoker<TDelegate>(MethodInfo method)
            where TDelegate : Delegate => (TDelegate)Delegate.CreateDelegate(typeof(TDelegate), method);

        private static Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class
            where TResponse : class
        {
            var requests = method.RequestMarshaller;
            var parsing = new Marshaller<TRequest>(requests.ContextualSerializer, context =>
            {
                try
                {
                    return requests.ContextualDeserializer(context);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw new RpcException(new Status(StatusCode.Internal, $"the request is not a {typeof(TRequest).Name}: {e.Message}"));
                }
            });
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, parsing, method.ResponseMarshaller);
        }
    }
}
