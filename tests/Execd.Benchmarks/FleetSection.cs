using System.Diagnostics;
using StackExchange.Redis;

namespace Execd.Benchmarks;

/// <summary>
/// Redis and telemetry, short: background output into Redis vs into files vs raw pipelined XADD of the same bytes
/// from this process (64 KiB entries, as many in flight as the client pipelines), and the `echo hi` round trip with
/// telemetry exporting (to a collector that is down) vs off. A test-owned redis-server on a loopback port.
/// </summary>
internal sealed class FleetSection(Report report, Sizes sizes)
{
    private static string Lines(int width, long total) => $"yes \"$(printf '%0{width - 1}d' 0)\" 2>/dev/null | head -n {total / width}";

    public async Task RunAsync(Func<ExecdClient, string, Task<(double Seconds, System.Text.Json.Nodes.JsonNode? Status)>> background)
    {
        var redisServer = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);
        if (redisServer is null)
        {
            report.Note("fleet: redis-server is not installed; no Redis numbers");
            return;
        }
        var work = DaemonProcess.NewWorkFolder();
        var port = 20000 + Random.Shared.Next(20000);
        using var redis = Process.Start(new ProcessStartInfo(redisServer, ["--port", $"{port}", "--bind", "127.0.0.1", "--dir", work, "--save", "", "--appendonly", "no"])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            await Task.Delay(300);
            var configuration = $"127.0.0.1:{port}";
            var bytes = sizes.StoredBytes / 1000 * 1000;
            var script = Lines(1000, sizes.StoredBytes);
            var rates = new Dictionary<string, double>();
            foreach (var (kind, args) in new (string, string[])[]
            {
                ("files", ["--config", "Storage:Output:MaxBytesPerCommand=0"]),
                ("redis", ["--config", "Storage:Output:MaxBytesPerCommand=0", "--config", $"Storage:Redis:Configuration={configuration}",
                    "--config", $"Storage:Redis:SpoolDirectory={Path.Combine(work, "spool")}", "--config", "Storage:Redis:MaxQueuedBytes=1073741824"]),
            })
            {
                await using var daemon = await DaemonProcess.StartAsync(args);
                using var client = new ExecdClient(daemon.BaseAddress);
                await Task.Delay(kind == "redis" ? 1500 : 0);
                await background(client, Lines(1000, 4L << 20));
                var (elapsed, status) = await background(client, script);
                rates[kind] = bytes / 1048576.0 / elapsed;
                var used = (string?)status?["output_provider"] ?? "?";
                if (!used.StartsWith(kind, StringComparison.Ordinal))
                {
                    report.Note($"fleet: meant to measure `{kind}` but the daemon used `{used}`");
                }
            }
            using (var mux = await ConnectionMultiplexer.ConnectAsync(configuration))
            {
                var db = mux.GetDatabase();
                var entry = new byte[64 * 1024];
                var sw = Stopwatch.StartNew();
                var tasks = new List<Task>();
                for (long sent = 0; sent < bytes; sent += entry.Length)
                {
                    tasks.Add(db.ExecuteAsync("XADD", "bench:raw", "*", "o", sent, "d", entry));
                }
                await Task.WhenAll(tasks);
                rates["xadd"] = bytes / 1048576.0 / sw.Elapsed.TotalSeconds;
            }
            report.Add(new Row("fleet", $"{bytes >> 20} MiB background output into redis, MiB/s (baseline: into files)", Report.F(rates["redis"], 0), Report.F(rates["files"], 0), Report.F(rates["redis"] / rates["files"]) + "×"));
            report.Add(new Row("fleet", $"{bytes >> 20} MiB background output into redis, MiB/s (baseline: raw pipelined XADD, 64 KiB entries, same machine)", Report.F(rates["redis"], 0), Report.F(rates["xadd"], 0), Report.F(rates["redis"] / rates["xadd"]) + "×"));
        }
        finally
        {
            redis.Kill();
            await redis.WaitForExitAsync();
            DaemonProcess.DeleteWorkFolder(work);
        }

        var medians = new Dictionary<bool, double>();
        foreach (var on in new[] { false, true })
        {
            string[] args = on ? ["--config", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9", "--config", "OTEL_METRIC_EXPORT_INTERVAL=1000", "--config", "OTEL_BSP_SCHEDULE_DELAY=200"] : [];
            await using var daemon = await DaemonProcess.StartAsync(args);
            using var client = new ExecdClient(daemon.BaseAddress, connections: 1);
            var body = ExecdClient.Body("echo hi");
            await Stats.TimeEachAsync(30, () => client.RunAsync(body));
            medians[on] = Stats.Median(await Stats.TimeEachAsync(sizes.RoundTrips, () => client.RunAsync(body)));
        }
        report.Add(new Row("fleet", "`echo hi` round trip median ms with telemetry exporting (collector down) (baseline: telemetry off)",
            Report.F(medians[true]), Report.F(medians[false]), Report.F(medians[true] / medians[false]) + "×"));
    }
}
