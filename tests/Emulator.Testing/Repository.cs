namespace Emulator.Testing;

/// <summary>The checkout the tests run from.</summary>
public static class Repository
{
    /// <summary>The directory that holds Emulator.sln, above the test assembly.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Emulator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Emulator.sln not found above " + AppContext.BaseDirectory);
    }
}
