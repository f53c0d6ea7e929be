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
    private readonly IActorRef catalogue;
    private readonly TaskCompletionSource<Exception> recoveryFailed;

    private MachineCatalogue(IActorRef catalogue, string node, CatalogueOptions options, TaskCompletionSource<Exception> recoveryFailed)
    {
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
            started(new MachineCatalogue(supervisor, node, options, failed));
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

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}

/// <summary>The catalogue's database cannot be reached or read; the message says which and why.</summary>
public sealed class CatalogueUnavailableException(string message, Exception inner) : Exception(message, inner);
