using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Execd.Interop.Tests;

/// <summary>
/// Runs one <c>node --test</c> file of tests/Interop against a real daemon, installing the pinned SDK with
/// <c>npm ci</c> first when node_modules is missing or older than the lock file (CI starts from a clean clone).
/// </summary>
internal static class NodeSuite
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    public static string Directory => Path.Combine(TestPaths.Root, "tests", "Interop");

    /// <summary>Runs one node test file against <paramref name="daemon"/>; <paramref name="workDir"/> (a test-owned directory) is passed as EXECD_INTEROP_DIR.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, Daemon daemon, string? token, ITestOutputHelper output, string? workDir = null)
    {
        await EnsureInstalledAsync(output);
        var env = new Dictionary<string, string>
        {
            ["EXECD_INTEROP_URL"] = daemon.BaseAddress.ToString().TrimEnd('/'),
            ["NO_COLOR"] = "1",
        };
        if (workDir is not null)
        {
            env["EXECD_INTEROP_DIR"] = workDir;
        }
        if (token is not null)
        {
            env["EXECD_INTEROP_TOKEN"] = token;
        }
        return await RunProcessAsync("node", ["--test", "--test-reporter=spec", file], env, TimeSpan.FromMinutes(3));
    }

    /// <summary>Fails the test with node's whole output when the suite did not pass.</summary>
    public static void AssertPassed((int ExitCode, string Output) run, ITestOutputHelper output)
    {
        output.WriteLine(run.Output);
        Assert.True(run.ExitCode == 0, $"node --test exited with {run.ExitCode}:\n{run.Output}");
    }

    private static async Task EnsureInstalledAsync(ITestOutputHelper output)
    {
        await InstallLock.WaitAsync();
        try
        {
            var lockFile = Path.Combine(Directory, "package-lock.json");
            // npm writes node_modules/.package-lock.json on every install: older than the lock file means stale.
            var installed = Path.Combine(Directory, "node_modules", ".package-lock.json");
            if (File.Exists(installed) && File.GetLastWriteTimeUtc(installed) >= File.GetLastWriteTimeUtc(lockFile))
            {
                return;
            }
            var (code, text) = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], new Dictionary<string, string>(), TimeSpan.FromMinutes(5));
            output.WriteLine(text);
            Assert.True(code == 0, $"npm ci in {Directory} exited with {code}:\n{text}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    private static async Task<(int ExitCode, string Output)> RunProcessAsync(string program, string[] args,
        IReadOnlyDictionary<string, string> env, TimeSpan limit)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env)
        {
            start.Environment[k] = v;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        process.StandardInput.Close();
        var text = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            text.AppendLine($"[{program} killed after {limit}]");
        }
        text.Append(await stdout).Append(await stderr);
        return (process.ExitCode, text.ToString());
    }
}
