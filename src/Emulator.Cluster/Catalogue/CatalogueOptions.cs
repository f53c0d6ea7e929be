using Akka.Configuration;

namespace Emulator.Cluster.Catalogue;

/// <summary>Which database keeps a node's machine catalogue (`emu serve --catalogue`).</summary>
public enum CatalogueStore
{
    /// <summary>A file on the node (the embedded default, `sqlite:PATH`).</summary>
    Sqlite,

    /// <summary>A PostgreSQL server every node of a cluster reaches (`postgres:CONNECTION-STRING`).</summary>
    Postgres,
}

/// <summary>
/// Where the catalogue lives: `sqlite:PATH` or `postgres:CONNECTION-STRING` (Npgsql's keywords:
/// Host=...;Port=...;Username=...;Password=...;Database=...). The journal is Akka.Persistence.Sql
/// over Linq2Db with Microsoft.Data.Sqlite or Npgsql (RATIONALE.md, "The catalogue").
/// </summary>
public sealed record CatalogueOptions(CatalogueStore Store, string ConnectionString)
{
    /// <summary>What the flag's value looked like, without a password: for messages.</summary>
    public string Description => Store == CatalogueStore.Sqlite
        ? "sqlite:" + new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(ConnectionString).DataSource
        : "postgres:" + WithoutPassword(ConnectionString);

    /// <summary>The SQLite catalogue at <paramref name="path"/> (made on first use).</summary>
    public static CatalogueOptions Sqlite(string path) =>
        new(CatalogueStore.Sqlite, new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(path) }.ToString());

    /// <summary>Reads `sqlite:PATH` or `postgres:CONNECTION-STRING`; null with <paramref name="error"/> saying what is wrong.</summary>
    public static CatalogueOptions? TryParse(string text, out string? error)
    {
        error = null;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? text : text[..colon];
        string rest = colon < 0 ? "" : text[(colon + 1)..];
        switch (kind)
        {
            case "sqlite" when rest.Length > 0:
                return Sqlite(rest);
            case "postgres" or "postgresql" when rest.Length > 0:
                try
                {
                    var builder = new Npgsql.NpgsqlConnectionStringBuilder(rest);
                    if (string.IsNullOrEmpty(builder.Host))
                    {
                        error = "postgres: the connection string needs Host=...";
                        return null;
                    }

                    return new CatalogueOptions(CatalogueStore.Postgres, builder.ConnectionString);
                }
                catch (ArgumentException e)
                {
                    error = $"postgres: not a connection string: {e.Message}";
                    return null;
                }

            default:
                error = "must be sqlite:PATH or postgres:CONNECTION-STRING (Host=...;Username=...;Database=...)";
                return null;
        }
    }

    /// <summary>
    /// Opens the database and reads from it once, before the journal is started on it: a file that
    /// is not a SQLite database, or a PostgreSQL server that cannot be reached, is said here in one
    /// line (the journal itself would retry and log forever). Null when the database answers.
    /// </summary>
    public async Task<string?> ProblemAsync(CancellationToken cancel)
    {
        try
        {
            if (Store == CatalogueStore.Sqlite)
            {
                string? directory = Path.GetDirectoryName(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(ConnectionString).DataSource);
                if (!string.IsNullOrEmpty(directory))
                {
                    Directory.CreateDirectory(directory);
                }

                await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(ConnectionString);
                await connection.OpenAsync(cancel).ConfigureAwait(false);
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_master";
                await command.ExecuteScalarAsync(cancel).ConfigureAwait(false);
            }
            else
            {
                var builder = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString) { Timeout = 10 };
                await using var connection = new Npgsql.NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(cancel).ConfigureAwait(false);
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT 1";
                await command.ExecuteScalarAsync(cancel).ConfigureAwait(false);
            }

            return null;
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or UnauthorizedAccessException or TimeoutException or InvalidOperationException)
        {
            return $"the catalogue {Description} cannot be used: {e.Message.TrimEnd('.')}";
        }
    }

    /// <summary>The Linq2Db provider Akka.Persistence.Sql talks through.</summary>
    internal string ProviderName => Store == CatalogueStore.Sqlite ? "SQLite.MS" : "PostgreSQL.15";

    /// <summary>
    /// Akka.Persistence's journal and snapshot store on Akka.Persistence.Sql, tables made on first
    /// use, and the catalogue's events bound to <see cref="CatalogueSerializer"/> (the plugin's own
    /// defaults are added beside it, <see cref="MachineCatalogue.Configure"/>).
    /// </summary>
    internal Config Hocon()
    {
        string connection = ConnectionString.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        return ConfigurationFactory.ParseString($$"""
            akka.persistence.journal.plugin = "akka.persistence.journal.sql"
            akka.persistence.journal.sql {
              connection-string = "{{connection}}"
              provider-name = "{{ProviderName}}"
              auto-initialize = on
            }
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
            akka.persistence.snapshot-store.sql {
              connection-string = "{{connection}}"
              provider-name = "{{ProviderName}}"
              auto-initialize = on
            }
            # SIGTERM raises the process-exit event at once; Akka's hook on it would stop the actor
            # system before the node records its orderly stop. The host stops it instead, last.
            akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
            akka.actor.serializers.emu-catalogue = "Emulator.Cluster.Catalogue.CatalogueSerializer, Emulator.Cluster"
            akka.actor.serialization-bindings {
              "Emulator.Cluster.Catalogue.ICatalogueEvent, Emulator.Cluster" = emu-catalogue
            }
            """);
    }

    private static string WithoutPassword(string connection)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connection) { Password = null };
        return builder.ConnectionString;
    }
}
