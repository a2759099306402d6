using System.Diagnostics;

namespace Execd.Storage.Tests;

/// <summary>bootstrap.sh prepares EXECD_LOG_DIR (container mode, with a stand-in daemon that prints what it got).</summary>
public sealed class BootstrapLogDirTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("boot");

    private (int Exit, string Out, string Err) Bootstrap(string? logDir)
    {
        var daemon = _dir.Combine("fake-execd");
        File.WriteAllText(daemon, "#!/bin/sh\necho \"LOGDIR=$EXECD_LOG_DIR\"\n");
        File.SetUnixFileMode(daemon, (UnixFileMode)Convert.ToInt32("755", 8));
        var start = new ProcessStartInfo("sh") { WorkingDirectory = _dir.Path, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(TestPaths.Root, "bootstrap.sh"));
        start.Environment["EXECD"] = daemon;
        start.Environment["EXECD_ENVS"] = _dir.Combine("env");
        start.Environment["TMPDIR"] = _dir.Combine("tmpdir");
        start.Environment["HOME"] = _dir.Combine("home");
        start.Environment.Remove("EXECD_LOG_DIR");
        if (logDir is not null)
        {
            start.Environment["EXECD_LOG_DIR"] = logDir;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(30_000));
        return (process.ExitCode, output.Result, error);
    }

    [Fact]
    public void Bootstrap_LogDirGiven_CreatesExportsAndPrintsIt()
    {
        var logs = _dir.Combine("my", "logs");

        var (exit, output, error) = Bootstrap(logs);

        Assert.Equal(0, exit);
        Assert.True(Directory.Exists(logs));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(logs));
        Assert.Contains($"LOGDIR={logs}", output);
        Assert.Contains($"log directory: {logs}", error);
    }

    [Fact]
    public void Bootstrap_LogDirCannotBeCreated_WarnsAndFallsBackToTmpdir()
    {
        var blocker = _dir.Combine("blocker");
        File.WriteAllText(blocker, "a file");

        var (exit, output, error) = Bootstrap(Path.Combine(blocker, "logs"));

        var fallback = _dir.Combine("tmpdir", "execd");
        Assert.Equal(0, exit);
        Assert.Contains($"cannot prepare log directory {blocker}/logs", error);
        Assert.Contains($"LOGDIR={fallback}", output);
        Assert.True(Directory.Exists(fallback));
    }

    public void Dispose() => _dir.Dispose();
}
