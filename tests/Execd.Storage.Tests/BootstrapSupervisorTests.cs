using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Execd.Storage.Tests;

/// <summary>
/// Issue 14 item 3: <c>bootstrap.sh -c "cmd"</c> supervises the daemon — one that dies while cmd runs is started again with the same
/// flags (same port, same storage: finished commands still answer), and when cmd ends the daemon is stopped and cmd's status is the
/// script's. Runs the real script with EXECD set to the built daemon.
/// </summary>
public sealed class BootstrapSupervisorTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("bootsup");

    public void Dispose() => _dir.Dispose();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Pids of execd processes listening on <paramref name="port"/> (found by their command line).</summary>
    private static List<int> DaemonPids(string executable, int port)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (args.Length > 2 && args[0] == executable && args.Zip(args.Skip(1)).Any(p => p.First == "--port" && p.Second == port.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
            }
        }
        return pids;
    }

    private static async Task<bool> PingAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync("/ping");
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), what + " not within 60 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task DaemonKilledWhileCmdRuns_IsStartedAgainOnTheSamePort_CmdEnd_StopsItAndGivesCmdsStatus()
    {
        var executable = Path.Combine(Path.GetDirectoryName(TestPaths.PluginsDir.TrimEnd('/'))!, "execd");
        var port = FreePort();
        var done = _dir.Combine("cmd-may-end");
        var start = new ProcessStartInfo("sh") { WorkingDirectory = _dir.Path, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(TestPaths.Root, "bootstrap.sh"));
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"while [ ! -e {done} ]; do sleep 0.1; done; exit 3");
        start.Environment["EXECD"] = executable;
        start.Environment["EXECD_ARGS"] = $"--port {port} --host 127.0.0.1 --plugins-dir {TestPaths.PluginsDir} --log-level 6"
            + $" --config Storage:Tmpfs:Directories={_dir.Combine("tmpfs")} --config Storage:Files:Directories={_dir.Combine("files")}";
        start.Environment["EXECD_LOG_DIR"] = _dir.Combine("logs");
        start.Environment["EXECD_ENVS"] = _dir.Combine("env");
        start.Environment["TMPDIR"] = Directory.CreateDirectory(_dir.Combine("tmp")).FullName;
        start.Environment["HOME"] = _dir.Combine("tmp");
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        using var bootstrap = Process.Start(start)!;
        var stderr = new StringBuilder();
        bootstrap.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        bootstrap.BeginErrorReadLine();
        var stdout = bootstrap.StandardOutput.ReadToEndAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await WaitForAsync(() => PingAsync(client), "the first daemon answering /ping");
            var first = Assert.Single(DaemonPids(executable, port));
            var finished = await client.StartBackgroundAsync("echo before-the-crash; exit 4");
            await client.WaitFinishedAsync(finished);

            Process.GetProcessById(first).Kill();   // SIGKILL: a crash
            await WaitForAsync(async () => DaemonPids(executable, port) is [var again] && again != first && await PingAsync(client),
                "a new daemon answering /ping on the same port");

            var status = await client.StatusAsync(finished);
            Assert.Equal(4, (int)status["exit_code"]!);
            Assert.Equal("before-the-crash\n", Encoding.UTF8.GetString(await client.LogBytesAsync(finished)));
            lock (stderr)
            {
                Assert.Contains($"bootstrap: daemon (pid {first}) exited with status 137", stderr.ToString(), StringComparison.Ordinal);
            }

            var second = Assert.Single(DaemonPids(executable, port));
            await File.WriteAllTextAsync(done, "");
            Assert.True(bootstrap.WaitForExit(60_000), "bootstrap.sh did not exit after cmd ended");
            Assert.Equal(3, bootstrap.ExitCode);
            Assert.Empty(DaemonPids(executable, port));   // stopped with cmd, not left behind
            Assert.False(await PingAsync(client));
            Assert.DoesNotContain($"pid {second}) exited", stderr.ToString(), StringComparison.Ordinal);   // a stop is no crash: not restarted
            await stdout;
        }
        finally
        {
            foreach (var pid in DaemonPids(executable, port))
            {
                Process.GetProcessById(pid).Kill();
            }
            if (!bootstrap.HasExited)
            {
                bootstrap.Kill();
            }
        }
    }
}
