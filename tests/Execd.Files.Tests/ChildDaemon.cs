using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Execd.Files.Tests;

/// <summary>
/// The built <c>execd</c> executable as a child process with an environment of its own (an in-process daemon
/// shares the test process's TMPDIR), on a port it picks and prints.
/// </summary>
internal sealed partial class ChildDaemon : IAsyncDisposable
{
    private readonly Process _process;

    private ChildDaemon(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public int ProcessId => _process.Id;

    /// <summary>The daemon's folder: the plugins folder's parent.</summary>
    public static string Executable => Path.Combine(Path.GetDirectoryName(TestPaths.PluginsDir.TrimEnd('/'))!, "execd");

    [GeneratedRegex(@"execd listening on (http://\S+)")]
    private static partial Regex Listening();

    /// <summary>Starts the daemon; its output storage goes under <paramref name="storageDir"/>, never the temp directory.</summary>
    public static async Task<ChildDaemon> StartAsync(IDictionary<string, string> environment, string storageDir, params string[] extraArgs)
    {
        var start = new ProcessStartInfo(Executable, ["--port", "0", "--host", "127.0.0.1", "--plugins-dir", TestPaths.PluginsDir, "--log-level", "6",
            "--config", $"Storage:Files:Directories={Path.Combine(storageDir, "files")}", "--config", $"Storage:Tmpfs:Directories={Path.Combine(storageDir, "tmpfs")}",
            .. extraArgs])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (k, v) in environment)
        {
            start.Environment[k] = v;
        }
        var process = Process.Start(start)!;
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                address.TrySetException(new InvalidOperationException("execd exited: " + string.Join("\n", log)));
                return;
            }
            log.Enqueue(e.Data);
            if (Listening().Match(e.Data) is { Success: true } m)
            {
                address.TrySetResult(new Uri(m.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            return new ChildDaemon(process, await address.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
