using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Execd.Server.Tests;

/// <summary>A daemon whose port is taken says so and exits non-zero, and nothing else reports a failure on the way out.</summary>
public sealed class ListenFailureTests
{
    [Fact]
    public async Task PortTaken_ExitsNonZeroSayingWhy_WithoutABackgroundServiceFailure()
    {
        using var dir = TestPaths.NewDirectory("port-taken");
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var executable = Path.Combine(Path.GetDirectoryName(TestPaths.PluginsDir.TrimEnd('/'))!, "execd");
        var start = new ProcessStartInfo(executable, ["--port", port, "--host", "127.0.0.1", "--plugins-dir", TestPaths.PluginsDir,
            "--log-dir", dir.Combine("logs"), "--config", $"Storage:Files:Directories={dir.Combine("files")}",
            "--config", $"Storage:Tmpfs:Directories={dir.Combine("tmpfs")}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir.Path,
        };
        start.Environment["TMPDIR"] = Directory.CreateDirectory(dir.Combine("tmp")).FullName;

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains("Cannot listen", output);
        Assert.Contains("address already in use", output);
        // Before the fix the idle memory trimmer's cancelled timer was reported as a failed background service.
        Assert.DoesNotContain("BackgroundService failed", output);
    }
}
