using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Benchmarks;

/// <summary>Issue 14: what durable records cost (round trip, streaming), re-indexing 1,000 commands, and a stalled reader's effect on memory.</summary>
internal sealed partial class Suite
{
    private static readonly string[] DurabilityOff = ["--config", "Storage:Durability:Enabled=false"];

    /// <summary>Warms both daemons, then times round trips in alternating blocks (so machine noise hits both alike).</summary>
    private async Task<(List<double> Measured, List<double> Baseline)> InterleavedRoundTripsAsync(ExecdClient measured, ExecdClient baseline, string body)
    {
        await Stats.TimeEachAsync(30, () => baseline.RunAsync(body));
        await Stats.TimeEachAsync(30, () => measured.RunAsync(body));
        var m = new List<double>();
        var b = new List<double>();
        for (var block = 0; block < 10; block++)
        {
            b.AddRange(await Stats.TimeEachAsync(sizes.RoundTrips / 10, () => baseline.RunAsync(body)));
            m.AddRange(await Stats.TimeEachAsync(sizes.RoundTrips / 10, () => measured.RunAsync(body)));
        }
        return (m, b);
    }

    /// <summary>One row: `echo hi` round trips of two daemons, interleaved; the measured one must stay within 10 % of the baseline.</summary>
    /// <summary>
    /// Two daemons started together (so neither has run more commands), the second with <paramref name="baselineArgs"/>, each with
    /// one client for <paramref name="compare"/> (measured first, baseline second).
    /// </summary>
    private static async Task WithDaemonPairAsync(string[] baselineArgs, Func<ExecdClient, ExecdClient, Task> compare)
    {
        await using var measured = await DaemonProcess.StartAsync();
        await using var baseline = await DaemonProcess.StartAsync(baselineArgs);
        using var measuredClient = new ExecdClient(measured.BaseAddress, connections: 1);
        using var baselineClient = new ExecdClient(baseline.BaseAddress, connections: 1);
        await compare(measuredClient, baselineClient);
    }

    private async Task CompareRoundTripsAsync(ExecdClient measured, ExecdClient baseline, string what)
    {
        var (m, b) = await InterleavedRoundTripsAsync(measured, baseline, ExecdClient.Body("echo hi"));
        var ratio = Stats.Median(m) / Stats.Median(b);
        report.Add(new Row("durability", $"`echo hi` round trip median ms, {what}, {m.Count} each",
            Report.F(Stats.Median(m)), Report.F(Stats.Median(b)), Report.F(ratio) + "×", "≤ 1.10×", Report.Met(ratio <= 1.10)));
    }

    /// <summary>One row: foreground streaming of <paramref name="command"/>'s output, best of 3 on each daemon, alternating.</summary>
    private async Task CompareThroughputAsync(ExecdClient measured, ExecdClient baseline, string command, string what)
    {
        var json = ExecdClient.Body(command);
        double measuredMbps = 0, baselineMbps = 0;
        for (var i = 0; i < 3; i++)
        {
            baselineMbps = Math.Max(baselineMbps, await ThroughputAsync(baseline, json));
            measuredMbps = Math.Max(measuredMbps, await ThroughputAsync(measured, json));
        }
        report.Add(new Row("durability", $"foreground streaming MB/s{what}",
            Report.F(measuredMbps, 0), Report.F(baselineMbps, 0), Report.F(measuredMbps / baselineMbps) + "×", "≥ 0.90×", Report.Met(measuredMbps / baselineMbps >= 0.90)));
    }

    private async Task DurabilityAsync()
    {
        var bulk = Lines(100, sizes.StoredBytes);
        await using (var off = await DaemonProcess.StartAsync(DurabilityOff))
        await using (var on = await DaemonProcess.StartAsync())
        {
            using var offClient = new ExecdClient(off.BaseAddress, connections: 1);
            using var onClient = new ExecdClient(on.BaseAddress, connections: 1);
            await CompareRoundTripsAsync(onClient, offClient, "records on (baseline: Storage:Durability:Enabled=false)");

            // What lets commands outlive the daemon (RunningCommands=keep, the default: child-held pipes, the exit trap) against plain
            // pipes (kill). Two daemons started together, so neither has run more commands (a longer-lived one was compared before).
            await WithDaemonPairAsync(["--config", "Execd:Shutdown:RunningCommands=kill"], (keep, pipes) =>
                CompareRoundTripsAsync(keep, pipes, "commands kept for the next daemon (keep) (baseline: Execd:Shutdown:RunningCommands=kill)"));

            await CompareThroughputAsync(onClient, offClient, bulk, $" of {sizes.StoredBytes >> 20} MiB (best of 3), records on vs off");
        }

        // Output spliced from the pipe into the file sink (the default: nothing in the daemon's hands when it dies) against read into the
        // daemon and written (Storage:Files:Splice=false, what came before): round trip, bulk streaming, and stdout/stderr in turns (each
        // turn also appends to the run journal of a command kept for the next daemon).
        await WithDaemonPairAsync(["--config", "Storage:Files:Splice=false"], async (spliced, read) =>
        {
            await CompareRoundTripsAsync(spliced, read, "output spliced into the file (baseline: Storage:Files:Splice=false, read and written)");
            await CompareThroughputAsync(spliced, read, bulk, $" of {sizes.StoredBytes >> 20} MiB (best of 3), spliced vs read and written");
            await CompareThroughputAsync(spliced, read, "for i in $(seq 1 20000); do echo out-$i; echo err-$i >&2; done",
                ", stdout and stderr in turns (20,000 lines each) (best of 3), spliced vs read and written");
        });

        // Re-indexing: 1,000 finished commands on disk, then a restart on the same storage.
        const int stored = 1000;
        var work = DaemonProcess.NewWorkFolder();
        await using (var first = await DaemonProcess.StartInAsync(work))
        {
            first.KeepWork = true;
            using var client = new ExecdClient(first.BaseAddress, connections: 8);
            var background = ExecdClient.Body("echo stored", background: true);
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                for (var i = 0; i < stored / 8; i++)
                {
                    await client.RunAsync(background);
                }
            }));
            await Task.Delay(1000);   // the last background commands finish and write their records
        }
        double freshMs, restartMs;
        var watch = Stopwatch.StartNew();
        await using (var fresh = await DaemonProcess.StartAsync())
        {
            freshMs = watch.Elapsed.TotalMilliseconds;
        }
        watch.Restart();
        await using (var again = await DaemonProcess.StartInAsync(work))
        {
            restartMs = watch.Elapsed.TotalMilliseconds;
            using var client = new ExecdClient(again.BaseAddress);
            var reindex = JsonNode.Parse(await client.Http.GetStringAsync("/admin/storage"))!["reindex"]!;
            report.Add(new Row("durability", $"start-up with {(int)reindex["restored"]!} stored commands re-indexed, ms to listening (baseline: empty storage)",
                Report.F(restartMs, 0), Report.F(freshMs, 0), Report.F(restartMs / freshMs) + "×"));
            report.Add(new Row("durability", "of which re-indexing itself, ms", Report.F((double)reindex["elapsed_ms"]!, 1)));
        }

        // A stalled foreground reader while its command prints a lot: the daemon's memory stays flat and the command finishes.
        await using (var daemon = await DaemonProcess.StartAsync(["--config", "Execd:Streams:StalledReaderTimeout=00:00:05"]))
        {
            using var client = new ExecdClient(daemon.BaseAddress);
            await client.RunAsync(ExecdClient.Body("echo warm"));
            var idle = daemon.RssMiB();
            var bytes = sizes.LargeBytes * 2;
            var json = ExecdClient.Body(Lines(100, bytes) + "; echo END");
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await socket.ConnectAsync(daemon.BaseAddress.Host, daemon.BaseAddress.Port);
            await socket.SendAsync(Encoding.UTF8.GetBytes($"POST /command HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(json)}\r\n\r\n{json}"));
            var first = new byte[4096];
            var n = await socket.ReceiveAsync(first);
            var id = System.Text.RegularExpressions.Regex.Match(Encoding.UTF8.GetString(first, 0, n), "\"init\",\"text\":\"([0-9a-f]{32})\"").Groups[1].Value;
            var peak = idle;
            var finished = Stopwatch.StartNew();
            var done = false;
            while (finished.Elapsed < TimeSpan.FromMinutes(2) && !done)
            {
                peak = Math.Max(peak, daemon.RssMiB());
                var status = JsonNode.Parse(await client.Http.GetStringAsync($"/command/status/{id}"))!;
                done = !(bool)status["running"]!;
                await Task.Delay(100);
            }
            report.Add(new Row("durability", $"stalled foreground reader, {bytes >> 20} MiB printed: daemon VmRSS MiB peak (baseline: idle); command finished in {finished.Elapsed.TotalSeconds:F1} s: {(done ? "yes" : "no")}",
                Report.F(peak, 0), Report.F(idle, 0), Report.F(peak / idle) + "×"));
        }
    }

    private static async Task<double> ThroughputAsync(ExecdClient client, string json)
    {
        var watch = Stopwatch.StartNew();
        var (_, bytes, completed) = await client.StreamAsync(json);
        return completed ? bytes / 1e6 / watch.Elapsed.TotalSeconds : double.NaN;
    }
}

/// <summary>Issue 11 finding 10: RSS after a burst of concurrent 1 MiB commands, once idle for a minute, against idle RSS.</summary>
internal sealed partial class Suite
{
    private async Task BurstMemoryAsync()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = new ExecdClient(daemon.BaseAddress);
        await client.RunAsync(ExecdClient.Body("echo warm"));
        await Task.Delay(2000);
        var idle = daemon.RssMiB();
        var body = ExecdClient.Body("head -c 1048576 /dev/zero | tr '\\0' a | fold -w 1023; echo");
        var peak = idle;
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                peak = Math.Max(peak, daemon.RssMiB());
                await Task.Delay(50);
            }
        });
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.StreamAsync(body)));
        }
        await done.CancelAsync();
        await sampler;
        var after = 0.0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(5000);
            after = daemon.RssMiB();
            if (after <= 2 * idle)
            {
                break;
            }
        }
        report.Add(new Row("memory burst", $"VmRSS MiB after 3 × 100 concurrent 1 MiB foreground commands (peak {peak:F0}), back within 2× idle after {watch.Elapsed.TotalSeconds:F0} s (baseline: idle)",
            Report.F(after, 0), Report.F(idle, 0), Report.F(after / idle) + "×", "≤ 2×", Report.Met(after <= 2 * idle)));
    }
}
