using System.Diagnostics;

namespace Execd.Storage.Tests;

/// <summary>Mounts the tests own (a tiny tmpfs, a read-only bind mount), unmounted on dispose. Needs root.</summary>
internal sealed class Mount : IDisposable
{
    private Mount(string path) => Path = path;

    public string Path { get; }

    /// <summary>A tmpfs of <paramref name="size"/> (e.g. <c>1m</c>) on <paramref name="path"/>.</summary>
    public static Mount Tmpfs(string path, string size)
    {
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "execd-test", path);
        return new Mount(path);
    }

    /// <summary><paramref name="path"/> bound on itself, then made read-only (chmod does not stop root).</summary>
    public static Mount ReadOnly(string path)
    {
        Directory.CreateDirectory(path);
        Run("mount", "--bind", path, path);
        var mount = new Mount(path);
        try
        {
            Run("mount", "-o", "remount,ro,bind", path);
        }
        catch
        {
            mount.Dispose();
            throw;
        }
        return mount;
    }

    public void Dispose()
    {
        try
        {
            Run("umount", "-l", Path);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    internal static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000))
        {
            process.Kill();
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {output}");
        }
        return output;
    }
}
