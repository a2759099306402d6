using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Execd.Benchmarks;

/// <summary>
/// The built daemon binary as a child process on a free loopback port. A separate process, so its
/// memory (VmRSS) is the daemon's alone and start-up is measured cold, as in a container.
/// </summary>
internal sealed partial class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _work;

    private DaemonProcess(Process process, Uri baseAddress, string work)
    {
        _process = process;
        BaseAddress = baseAddress;
        _work = work;
    }

    /// <summary>The daemon's own folder (log directory, files and tmpfs directories, cwd, TMPDIR), deleted with it.</summary>
    public string Work => _work;

    public Uri BaseAddress { get; }
    public int Pid => _process.Id;

    public static string Binary => Metadata("ExecdBinary");
    public static string Root => Metadata("ExecdRoot");
    public static string Configuration => Metadata("ExecdConfiguration");

    private static string Metadata(string key) =>
        typeof(DaemonProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!;

    /// <summary>A new folder under the benchmark's output directory, never the machine's /tmp, /var/tmp, $HOME or /dev/shm.</summary>
    public static string NewWorkFolder()
    {
        var work = Path.Combine(AppContext.BaseDirectory, "bench-work", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        return work;
    }

    /// <summary>
    /// Start info for the daemon that keeps every file it writes inside <paramref name="work"/>: the log directory
    /// (files provider, first), the rest of the files chain and the tmpfs list (default /dev/shm, $HOME, /var/tmp, /tmp)
    /// replaced, cwd and TMPDIR there. <paramref name="extraArgs"/> come last, so a section can override a key.
    /// </summary>
    /// <param name="binary">Another build of the daemon (the footprint section's published folder); default <see cref="Binary"/>.</param>
    /// <param name="cleanEnvironment">Start with an empty environment, as <c>env -i</c> (only HOME and TMPDIR, both in <paramref name="work"/>).</param>
    public static ProcessStartInfo StartInfo(string work, IEnumerable<string> args, string? binary = null, bool cleanEnvironment = false)
    {
        var start = new ProcessStartInfo(binary ?? Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = work,
        };
        if (cleanEnvironment)
        {
            start.Environment.Clear();
            start.Environment["HOME"] = work;
        }
        start.Environment["TMPDIR"] = Path.Combine(work, "tmp");
        Directory.CreateDirectory(Path.Combine(work, "tmp"));
        foreach (var a in (string[])["--log-dir", Path.Combine(work, "logs"),
            "--config", "Storage:Files:Directories=" + Path.Combine(work, "files"),
            "--config", "Storage:Tmpfs:Directories=" + Path.Combine(work, "not-tmpfs"), .. args])
        {
            start.ArgumentList.Add(a);
        }
        return start;
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    /// <summary>Starts the daemon (port 0, loopback) and returns once it printed its address.</summary>
    public static Task<DaemonProcess> StartAsync(IEnumerable<string>? extraArgs = null, string logLevel = "6") =>
        StartInAsync(NewWorkFolder(), extraArgs, logLevel);

    /// <summary>Starts the daemon in <paramref name="work"/> (a folder an earlier daemon used: a restart on the same storage).</summary>
    public static async Task<DaemonProcess> StartInAsync(string work, IEnumerable<string>? extraArgs = null, string logLevel = "6",
        string? binary = null, bool cleanEnvironment = false)
    {
        var start = StartInfo(work, ["--port", "0", "--host", "127.0.0.1", "--log-level", logLevel, .. extraArgs ?? []], binary, cleanEnvironment);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + Binary);
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        // The daemon logs every command at the default level: drain both pipes so it never blocks on them.
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && Listening().Match(e.Data) is { Success: true } m)
            {
                address.TrySetResult(new Uri(m.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var ready = await Task.WhenAny(address.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30)));
        if (ready != address.Task)
        {
            process.Kill();
            DeleteWorkFolder(work);
            throw new InvalidOperationException($"daemon did not start (exited: {process.HasExited})");
        }
        return new DaemonProcess(process, await address.Task, work);
    }

    /// <summary>The daemon's resident memory in MiB, from /proc/&lt;pid&gt;/status.</summary>
    public double RssMiB() => ReadRssMiB(_process.Id);

    public static double ReadRssMiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) / 1024.0;
            }
        }
        return double.NaN;
    }

    /// <summary>Keep the work folder on dispose (a restart on the same storage follows).</summary>
    public bool KeepWork { get; set; }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM (graceful) first, then kill: only this child, by its id.
            Posix.Kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
        if (!KeepWork)
        {
            DeleteWorkFolder(_work);
        }
    }

    public static void DeleteWorkFolder(string work)
    {
        try
        {
            Directory.Delete(work, recursive: true);
        }
        catch (IOException)
        {
            // A mount point still busy (the storage section's tmpfs): it unmounts it itself.
        }
    }
}

internal static partial class Posix
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);
}
