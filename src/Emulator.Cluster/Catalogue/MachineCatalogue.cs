using Akka;
using Akka.Actor;
using Akka.Hosting;
using Akka.Pattern;

namespace Emulator.Cluster.Catalogue;

/// <summary>
/// The node's machine catalogue as its control plane uses it: read it once at start, then tell
/// it what happens to the machines. Writes go to one actor in order; a call that must be durable
/// before it answers waits for <see cref="SyncAsync"/>. The catalogue never stops the node: a
/// write that fails is reported through <see cref="Failed"/> and the machine runs on.
/// </summary>
public sealed class MachineCatalogue
{
    /// <summary>How long the first read may take (a journal on a remote PostgreSQL, a cold start).</summary>
    public static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);
    private readonly ActorSystem system;
    private readonly IActorRef catalogue;
    private readonly TaskCompletionSource<Exception> recoveryFailed;

    private MachineCatalogue(ActorSystem system, IActorRef catalogue, string node, CatalogueOptions options, TaskCompletionSource<Exception> recoveryFailed)
    {
        this.system = system;
        this.catalogue = catalogue;
        this.recoveryFailed = recoveryFailed;
        Node = node;
        Options = options;
    }

    public string Node { get; }

    public CatalogueOptions Options { get; }

    /// <summary>Called with a message when a write could not be made durable.</summary>
    public Action<string> Failed { get; set; } = _ => { };

    /// <summary>
    /// Adds the catalogue to a node's actor system (alone or in a cluster): Akka.Persistence on
    /// Akka.Persistence.Sql, and the node's catalogue actor under a back-off supervisor (a journal
    /// that fails is tried again, 1 s to 30 s apart). <paramref name="started"/> gets the catalogue
    /// once the actor system runs. Check the database first (<see cref="CatalogueOptions.ProblemAsync"/>).
    /// </summary>
    public static void Configure(AkkaConfigurationBuilder akka, CatalogueOptions options, string node, Action<MachineCatalogue> started)
    {
        akka.AddHocon(options.Hocon(), HoconAddMode.Prepend);
        akka.AddHocon(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration, HoconAddMode.Append);
        akka.WithActors((system, _) =>
        {
            var failed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            var child = Props.Create(() => new CatalogueActor(node, e => failed.TrySetResult(e)));
            var supervisor = system.ActorOf(
                BackoffSupervisor.Props(Backoff.OnStop(child, "journal", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)),
                "catalogue");
            started(new MachineCatalogue(system, supervisor, node, options, failed));
        });
    }

    /// <summary>
    /// Reads the catalogue (the journal replayed). Throws <see cref="CatalogueUnavailableException"/>
    /// when the database cannot be reached or read in <see cref="LoadTimeout"/>.
    /// </summary>
    public async Task<CatalogueContents> LoadAsync(CancellationToken cancel)
    {
        var ask = catalogue.Ask<CatalogueContents>(GetContents.Instance, LoadTimeout, cancel);
        var first = await Task.WhenAny(ask, recoveryFailed.Task).ConfigureAwait(false);
        if (first == recoveryFailed.Task)
        {
            throw new CatalogueUnavailableException($"the catalogue {Options.Description} cannot be read: {Innermost(recoveryFailed.Task.Result).Message}", recoveryFailed.Task.Result);
        }

        try
        {
            return await ask.ConfigureAwait(false);
        }
        catch (AskTimeoutException e)
        {
            throw new CatalogueUnavailableException($"the catalogue {Options.Description} did not answer in {LoadTimeout.TotalSeconds:0} s", e);
        }
    }

    /// <summary>Records an event; in order with every other. Does not wait for it to be written.</summary>
    public void Record(ICatalogueEvent e) => _ = WriteAsync(e);

    /// <summary>Records an event and waits until it is written (or reported through <see cref="Failed"/>).</summary>
    public async Task WriteAsync(ICatalogueEvent e)
    {
        try
        {
            await catalogue.Ask<Done>(e, WriteTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            Failed($"the catalogue {Options.Description} did not record {e.GetType().Name} in {WriteTimeout.TotalSeconds:0} s: what happened to the machine may be forgotten if the node restarts");
        }
    }

    /// <summary>
    /// Records an event and waits until it is written: false when the journal refused it (another
    /// writer put an event at its place since the catalogue was read; the catalogue is then read
    /// again, and must be loaded again before a decision that depends on it) or did not answer.
    /// </summary>
    public async Task<bool> TryWriteAsync(ICatalogueEvent e)
    {
        try
        {
            await catalogue.Ask<Done>(e, WriteTimeout).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            Failed($"the catalogue {Options.Description} did not record {e.GetType().Name} in {WriteTimeout.TotalSeconds:0} s");
            return false;
        }
        catch (Exception ex)
        {
            Failed($"the catalogue {Options.Description} refused {e.GetType().Name}: {Innermost(ex).Message}");
            return false;
        }
    }

    /// <summary>
    /// The catalogue of another node (<paramref name="node"/>), read from the same journal: a
    /// node the cluster lost, whose machines this node takes over (RATIONALE.md, "Node failure").
    /// Dispose it when done. Its writes are fenced: one that another writer overtook fails.
    /// </summary>
    public ForeignCatalogue Open(string node) => new(system, node, Options);

    /// <summary>Waits until every event recorded before is written (bounded: a failure is reported, not thrown).</summary>
    public async Task SyncAsync()
    {
        try
        {
            await catalogue.Ask<Done>(Sync.Instance, WriteTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            Failed($"the catalogue {Options.Description} did not answer in {WriteTimeout.TotalSeconds:0} s");
        }
    }

    internal static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}

/// <summary>
/// Another node's catalogue (persistence id "catalogue-NODE") opened by this node: replayed from
/// the shared journal when it is loaded, written in order after what was replayed. A write fails
/// (false) when anything was written there since the replay, by the node itself come back or by
/// another survivor: the caller must then stop acting on what it read.
/// </summary>
public sealed class ForeignCatalogue : IDisposable
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);
    private readonly IActorRef actor;
    private readonly TaskCompletionSource<Exception> recoveryFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal ForeignCatalogue(ActorSystem system, string node, CatalogueOptions options)
    {
        Node = node;
        Options = options;
        // A plain child of the guardian, not under a back-off supervisor: a write that fails
        // stops it, and the caller starts over with a new one.
        actor = system.ActorOf(Props.Create(() => new CatalogueActor(node, e => recoveryFailed.TrySetResult(e))), $"catalogue-of-{node}-{Guid.NewGuid():N}");
    }

    public string Node { get; }

    public CatalogueOptions Options { get; }

    /// <summary>Reads the node's catalogue; <see cref="CatalogueUnavailableException"/> when the journal cannot be read.</summary>
    public async Task<CatalogueContents> LoadAsync(CancellationToken cancel)
    {
        var ask = actor.Ask<CatalogueContents>(GetContents.Instance, MachineCatalogue.LoadTimeout, cancel);
        if (await Task.WhenAny(ask, recoveryFailed.Task).ConfigureAwait(false) == recoveryFailed.Task)
        {
            throw new CatalogueUnavailableException($"the catalogue of node {Node} in {Options.Description} cannot be read: {MachineCatalogue.Innermost(recoveryFailed.Task.Result).Message}", recoveryFailed.Task.Result);
        }

        try
        {
            return await ask.ConfigureAwait(false);
        }
        catch (AskTimeoutException e)
        {
            throw new CatalogueUnavailableException($"the catalogue of node {Node} in {Options.Description} did not answer in {MachineCatalogue.LoadTimeout.TotalSeconds:0} s", e);
        }
    }

    /// <summary>Writes an event after what was read; false when the journal refused it (someone else wrote there since) or did not answer.</summary>
    public async Task<bool> TryWriteAsync(ICatalogueEvent e)
    {
        try
        {
            await actor.Ask<Done>(e, WriteTimeout).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            return false;
        }
        catch (Exception)
        {
            return false;
        }
    }

    public void Dispose() => actor.Tell(PoisonPill.Instance);
}

/// <summary>The catalogue's database cannot be reached or read; the message says which and why.</summary>
public sealed class CatalogueUnavailableException(string message, Exception inner) : Exception(message, inner);
