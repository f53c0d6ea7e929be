using System.Diagnostics;

namespace Emulator.Wasm.SpecTests;

/// <summary>Runs wabt's wast2json into a scratch directory under the system temp directory (never the repository).</summary>
public static class WastConverter
{
    private static readonly string s_scratch = Path.Combine(Path.GetTempPath(), "emulator-wasm-spec", Environment.ProcessId.ToString());

    /// <summary>Returns the path of the JSON script; its .wasm files lie beside it.</summary>
    public static string Convert(WastFile file)
    {
        var dir = Path.Combine(s_scratch, file.Category, Path.GetFileNameWithoutExtension(file.Path));
        Directory.CreateDirectory(dir);
        var json = Path.Combine(dir, Path.GetFileNameWithoutExtension(file.Path) + ".json");
        var psi = new ProcessStartInfo("wast2json") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(file.Path);
        foreach (var flag in file.Flags) psi.ArgumentList.Add(flag);
        psi.ArgumentList.Add("-o");
        psi.ArgumentList.Add(json);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("wast2json did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException("wast2json (from wabt) is not installed: run `apt-get install wabt`");
        }
        string stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"wast2json failed on {file.Name}: {stderr}");
        return json;
    }

    /// <summary>Removes one script's converted files (the JSON and its .wasm files share a directory).</summary>
    public static void Delete(string json)
    {
        try
        {
            var dir = Path.GetDirectoryName(json)!;
            Directory.Delete(dir, recursive: true);
            // Then the category and process directories, once empty (a non-recursive delete refuses otherwise).
            var category = Path.GetDirectoryName(dir)!;
            if (!Directory.EnumerateFileSystemEntries(category).Any()) Directory.Delete(category);
            if (!Directory.EnumerateFileSystemEntries(s_scratch).Any()) Directory.Delete(s_scratch);
        }
        catch (IOException)
        {
            // Best effort, as in CleanUp.
        }
    }

    public static void CleanUp()
    {
        try
        {
            if (Directory.Exists(s_scratch)) Directory.Delete(s_scratch, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover scratch directory in /tmp is harmless.
        }
    }
}
