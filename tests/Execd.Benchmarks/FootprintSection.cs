using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Execd.Testing;

namespace Execd.Benchmarks;

/// <summary>
/// Issue 17's "Done when": the daemon published self-contained (the README's publish command) beside an empty
/// minimal-API app published the same way (tests/Execd.Benchmarks.EmptyApp), both launched with an empty
/// environment (as <c>env -i</c>), alternately, in one run: start-up to the first 200 from /ping, idle VmRSS,
/// folder size; then the <c>echo hi</c> round trip (the roundtrip section's code) on the published daemon, the
/// exit code of <c>kill -9 $$</c> and a command's stdin.
/// Experiments: <c>--footprint-publish -p:Name=Value</c> (repeatable) adds a publish argument for the daemon only;
/// <c>--footprint-env NAME=VALUE</c> (repeatable) adds a variable to the daemon's launches only.
/// </summary>
internal sealed partial class Suite
{
    private const string PowerShellPlugin = "Execd.Executors.PowerShell";

    private async Task FootprintAsync()
    {
        var publishArgs = RepeatedArg("--footprint-publish");
        var extraEnv = RepeatedArg("--footprint-env");
        // A fixed folder (not one per run): the build cache under build/ makes the next run's publish incremental.
        var work = Path.Combine(AppContext.BaseDirectory, "bench-work", "footprint");
        var rid = "linux-" + RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        var execdDir = Path.Combine(work, "execd");
        var emptyDir = Path.Combine(work, "empty");
        // One build cache per set of extra publish arguments: a property switched back (an analyzer added again, with
        // its old timestamp) does not make MSBuild recompile, so a shared cache would publish the experiment's build.
        var cache = publishArgs.Count == 0 ? "execd" : "execd-" + Convert.ToHexStringLower(
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', publishArgs))))[..12];
        var publishSeconds = await PublishAsync(Path.Combine("src", "Execd.Server", "Execd.Server.csproj"), rid, execdDir, Path.Combine(work, "build", cache), publishArgs);
        await PublishAsync(Path.Combine("tests", "Execd.Benchmarks.EmptyApp", "Execd.Benchmarks.EmptyApp.csproj"), rid, emptyDir, Path.Combine(work, "build", "empty"), []);
        var execdBinary = Path.Combine(execdDir, "execd");
        var emptyBinary = Path.Combine(emptyDir, "Execd.Benchmarks.EmptyApp");
        var settings = (publishArgs.Count == 0 ? "" : "; publish " + string.Join(' ', publishArgs)) + (extraEnv.Count == 0 ? "" : "; env " + string.Join(' ', extraEnv));
        report.Note($"footprint: `dotnet publish <project> -c Release -r {rid}` of the daemon ({publishSeconds:F0} s) and of tests/Execd.Benchmarks.EmptyApp{settings}");

        var starts = Math.Max(3, sizes.Starts);
        var execd = new List<Launch>();
        var empty = new List<Launch>();
        // Alternating, so a change in the machine's load hits both alike; the first pair only warms the page cache.
        for (var i = 0; i <= starts; i++)
        {
            var a = await LaunchAsync(work, execdBinary, isDaemon: true, extraEnv);
            var b = await LaunchAsync(work, emptyBinary, isDaemon: false, []);
            if (i > 0)
            {
                execd.Add(a);
                empty.Add(b);
            }
        }
        var failed = execd.Concat(empty).Count(l => double.IsNaN(l.Ms));
        if (failed > 0)
        {
            report.Note($"footprint: {failed} launches did not answer /ping within 20 s (or the command failed); left out");
        }
        execd.RemoveAll(l => double.IsNaN(l.Ms));
        empty.RemoveAll(l => double.IsNaN(l.Ms));
        Ratio("start-up: process start → first 200 from /ping, median ms", execd.Select(l => l.Ms), empty.Select(l => l.Ms), 0, 1.3, $"{execd.Count} + {empty.Count} launches, alternating");
        Ratio("CPU time (user + system) used until that /ping, median ms", execd.Select(l => l.CpuMs), empty.Select(l => l.CpuMs), 0, null, "");
        Ratio("idle VmRSS, median MiB", execd.Select(l => l.RssMiB), empty.Select(l => l.RssMiB), 1, 1.2,
            "2 s after start-up and one `echo hi`, the empty app after one more /ping");
        var withPs = FolderMiB(execdDir);
        // What -p:ExecdIncludePowerShell=false leaves out: the executor plugin and the PowerShell module.
        var psPlugin = FolderMiB(Path.Combine(execdDir, "plugins", PowerShellPlugin)) + FolderMiB(Path.Combine(execdDir, "modules"));
        var emptyMiB = FolderMiB(emptyDir);
        var sizeRatio = (withPs - psPlugin) / emptyMiB;
        report.Add(new Row("footprint", $"published folder without plugins/{PowerShellPlugin} and modules/ (what `-p:ExecdIncludePowerShell=false` leaves out), MiB (sum of file sizes)",
            Report.F(withPs - psPlugin, 1), Report.F(emptyMiB, 1), Report.F(sizeRatio) + "×", "≤ 1.1×", Report.Met(sizeRatio <= 1.1)));
        report.Add(new Row("footprint", "published folder with the PowerShell plugin and module (the default), MiB", Report.F(withPs, 1), Report.F(emptyMiB, 1), Report.F(withPs / emptyMiB) + "×"));

        await using var daemon = await DaemonProcess.StartInAsync(DaemonProcess.NewWorkFolder(), binary: execdBinary, cleanEnvironment: true, extraArgs: []);
        await RoundTripRowsAsync(daemon, "footprint", Math.Max(100, sizes.RoundTrips / 2), [("echo hi", "echo hi", "echo hi")]);
        using var client = new ExecdClient(daemon.BaseAddress, connections: 1);
        var killed = await StartBackgroundAsync(client, ExecdClient.Body("kill -9 $$", background: true)) is { } id
            ? (int?)(await FinishedStatusAsync(client, id))?["exit_code"]
            : null;
        report.Add(new Row("footprint", "exit code of `kill -9 $$` (command status)", killed?.ToString(CultureInfo.InvariantCulture) ?? "n/a", "", "", "-1", Report.Met(killed == -1)));
        var stdin = (await StdoutAsync(client, "readlink /proc/self/fd/0")).Trim();
        report.Add(new Row("footprint", "a command's stdin (`readlink /proc/self/fd/0`)", $"`{stdin}`", "", "", "`/dev/null`", Report.Met(stdin == "/dev/null")));
    }

    private void Ratio(string measure, IEnumerable<double> execd, IEnumerable<double> baseline, int digits, double? target, string detail)
    {
        var a = Stats.Median(execd.ToList());
        var b = Stats.Median(baseline.ToList());
        report.Add(new Row("footprint", detail.Length == 0 ? measure : $"{measure} ({detail}; baseline: the empty app)", Report.F(a, digits), Report.F(b, digits), Report.F(a / b) + "×",
            target is { } t ? $"≤ {t.ToString(CultureInfo.InvariantCulture)}×" : "", target is { } t2 ? Report.Met(a / b <= t2) : ""));
    }

    private static List<string> RepeatedArg(string name)
    {
        var args = Environment.GetCommandLineArgs();
        return args.Select((a, i) => (a, i)).Where(x => x.a == name && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToList();
    }

    /// <summary>The publish the README documents, into a clean <paramref name="output"/>, with its own artifacts path.</summary>
    private static async Task<double> PublishAsync(string project, string rid, string output, string artifacts, IReadOnlyList<string> extra)
    {
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true);   // files of an earlier publish would count in the size
        }
        var sw = Stopwatch.StartNew();
        var (code, text) = await DotnetCli.RunAsync(DaemonProcess.Root,
            ["publish", Path.Combine(DaemonProcess.Root, project), "-c", "Release", "-r", rid, "-o", output,
             "--artifacts-path", artifacts, "--disable-build-servers", "-nologo", "-v:minimal", .. extra],
            TimeSpan.FromMinutes(20));
        if (code != 0)
        {
            throw new InvalidOperationException($"dotnet publish {project} failed ({code}):\n{text}");
        }
        return sw.Elapsed.TotalSeconds;
    }

    private static double FolderMiB(string folder) => !Directory.Exists(folder) ? 0 :
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) / 1048576.0;

    private sealed record Launch(double Ms, double CpuMs, double RssMiB);

    /// <summary>
    /// One cold launch with an empty environment (HOME and TMPDIR in a folder of its own, plus
    /// <paramref name="extraEnv"/>): time and CPU until /ping answers 200, then one command (the daemon) or one more
    /// /ping (the empty app), 2 s of idling, VmRSS.
    /// </summary>
    private static async Task<Launch> LaunchAsync(string work, string binary, bool isDaemon, IReadOnlyList<string> extraEnv)
    {
        var port = FreePort().ToString(CultureInfo.InvariantCulture);
        var folder = Path.Combine(work, "runs", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        var start = isDaemon
            ? DaemonProcess.StartInfo(folder, ["--port", port, "--host", "127.0.0.1"], binary, cleanEnvironment: true)
            : new ProcessStartInfo(binary, ["--urls", $"http://127.0.0.1:{port}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = folder,
            };
        if (!isDaemon)
        {
            start.Environment.Clear();
            start.Environment["HOME"] = folder;
            start.Environment["TMPDIR"] = Directory.CreateDirectory(Path.Combine(folder, "tmp")).FullName;
        }
        foreach (var pair in extraEnv)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            start.Environment[pair[..eq]] = pair[(eq + 1)..];
        }
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        var (process, ms) = await StartUntilPingAsync(start, http);
        using var _ = process;
        try
        {
            if (double.IsNaN(ms))
            {
                return new Launch(double.NaN, double.NaN, double.NaN);
            }
            var cpu = CpuMs(process.Id);
            if (isDaemon)
            {
                using var client = new ExecdClient(http.BaseAddress, connections: 1);
                if (!await client.RunAsync(ExecdClient.Body("echo hi")))
                {
                    return new Launch(double.NaN, double.NaN, double.NaN);
                }
            }
            else
            {
                (await http.GetAsync("/ping")).Dispose();
            }
            await Task.Delay(2000);
            return new Launch(ms, cpu, DaemonProcess.ReadRssMiB(process.Id));
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
            DaemonProcess.DeleteWorkFolder(folder);
        }
    }

    /// <summary>utime + stime of a process so far, in ms (/proc/&lt;pid&gt;/stat fields 14 and 15).</summary>
    private static double CpuMs(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks * 1000.0 / 100;   // USER_HZ is 100 on Linux
    }

    /// <summary>A foreground command's stdout, from its event stream.</summary>
    private static async Task<string> StdoutAsync(ExecdClient client, string command)
    {
        using var response = await client.Http.PostAsync("/command", new StringContent(ExecdClient.Body(command)));
        var text = "";
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n'))
        {
            var json = line.StartsWith("data:", StringComparison.Ordinal) ? line[5..] : line;
            if (json.Contains("\"type\":\"stdout\"", StringComparison.Ordinal))
            {
                using var doc = JsonDocument.Parse(json);
                text += doc.RootElement.GetProperty("text").GetString() + "\n";
            }
        }
        return text;
    }
}
