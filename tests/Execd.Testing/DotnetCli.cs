using System.Diagnostics;

namespace Execd.Testing;

/// <summary>What one run of the dotnet CLI printed and how it ended.</summary>
public sealed record DotnetRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Stdout, then stderr: for assertion messages.</summary>
    public string Output => Stdout + Stderr;

    public void Deconstruct(out int exitCode, out string output) => (exitCode, output) = (ExitCode, Output);
}

/// <summary>
/// Runs the dotnet CLI from a test, bounded: the same SDK the tests run on, none of the test host's MSBuild variables
/// (the test host runs under an MSBuild-launched process; they must not steer another build), no colors or banners,
/// plus the variables the caller gives (a packages folder or temp directory of the test's own).
/// </summary>
public static class DotnetCli
{
    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Runs <c>dotnet args</c> in <paramref name="cwd"/>; kills it and throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public static async Task<DotnetRun> RunAsync(string cwd, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Dotnet) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("_MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(key);
        }
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', psi.ArgumentList)} did not finish within {timeout}");
        }
        return new DotnetRun(process.ExitCode, await stdout, await stderr);
    }
}
