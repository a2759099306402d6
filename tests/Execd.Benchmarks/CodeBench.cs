using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Execd.Executors.Jupyter;
using Execd.Executors.Jupyter.Kernels;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Benchmarks;

/// <summary>
/// <c>/code</c>: a <c>1+1</c> cell through <c>POST /code</c> against the same execute_request sent straight to a
/// kernel of the same kernelspec by a minimal ZeroMQ client in this process; and context creation
/// (<c>POST /code/context</c>) against starting the kernel process alone until it answers.
/// </summary>
internal static class CodeBench
{
    private sealed class Discard : ICodeOutput
    {
        public ValueTask StreamAsync(OutputStream stream, string text) => ValueTask.CompletedTask;
        public ValueTask ResultAsync(int? executionCount, IReadOnlyDictionary<string, JsonElement> data) => ValueTask.CompletedTask;
        public ValueTask ErrorAsync(string name, string value, IReadOnlyList<string> traceback) => ValueTask.CompletedTask;
    }

    public static Func<Task> RunAsync(Report report) => async () =>
    {
        await using var daemon = await DaemonProcess.StartAsync(["--config", "Execd:Code:LanguageWait=00:00:01"]);
        var kernelDir = Path.Combine(daemon.Work, "jupyter-direct");
        Directory.CreateDirectory(kernelDir);
        using var client = new ExecdClient(daemon.BaseAddress, connections: 1);
        var options = new JupyterOptions { Directories = [kernelDir] };
        var spec = KernelSpecs.Choose(new KernelSpecs(options, Environment.GetEnvironmentVariable).Find().Specs, "python")
            ?? throw new InvalidOperationException("no python kernelspec (apt-get install python3-ipykernel)");

        // Creation: POST /code/context vs the kernel process started and answering, no daemon.
        var create = new List<double>();
        var start = new List<double>();
        string? contextId = null;
        for (var i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            var created = await client.PostJsonAsync("/code/context", "{\"language\":\"python\"}");
            create.Add(sw.Elapsed.TotalMilliseconds);
            contextId = (string)JsonNode.Parse(created!)!["id"]!;
            sw.Restart();
            var kernel = await Kernel.StartAsync(spec, new CodeContextSpec { Id = Guid.NewGuid().ToString("D"), Language = "python", Environment = Env() },
                kernelDir, options, NullLogger.Instance, CancellationToken.None);
            start.Add(sw.Elapsed.TotalMilliseconds);
            await kernel.DisposeAsync();
        }
        report.Add(new Row("code", "context creation median ms (POST /code/context; baseline: kernel process started until it answers kernel_info, no daemon)",
            Report.F(Stats.Median(create), 0), Report.F(Stats.Median(start), 0), Report.F(Stats.Median(create) / Stats.Median(start)) + "×"));

        // Round trip of `1+1`.
        var direct = await Kernel.StartAsync(spec, new CodeContextSpec { Id = Guid.NewGuid().ToString("D"), Language = "python", Environment = Env() },
            kernelDir, options, NullLogger.Instance, CancellationToken.None);
        await using var context = new JupyterContext(new CodeContextSpec { Id = "direct", Language = "python" }, spec, direct, options, NullLogger.Instance);
        var body = $"{{\"code\":\"1+1\",\"context\":{{\"id\":\"{contextId}\",\"language\":\"python\"}}}}";
        var discard = new Discard();
        var failures = 0;
        await Stats.TimeEachAsync(20, async () => failures += await client.RunAsync(body, "/code") ? 0 : 1);
        await Stats.TimeEachAsync(20, () => context.RunAsync("1+1", discard, CancellationToken.None));
        var viaExecd = new List<double>();
        var viaZmq = new List<double>();
        for (var block = 0; block < 5; block++)
        {
            viaExecd.AddRange(await Stats.TimeEachAsync(40, async () => failures += await client.RunAsync(body, "/code") ? 0 : 1));
            viaZmq.AddRange(await Stats.TimeEachAsync(40, () => context.RunAsync("1+1", discard, CancellationToken.None)));
        }
        var ratio = Stats.Median(viaExecd) / Stats.Median(viaZmq);
        report.Add(new Row("code", $"`1+1` round trip median ms ({viaExecd.Count} sequential POST /code; baseline: the same execute_request by a minimal ZeroMQ client)",
            Report.F(Stats.Median(viaExecd)), Report.F(Stats.Median(viaZmq)), Report.F(ratio) + "×", "≤ 1.3×", Report.Met(ratio <= 1.3 && failures == 0)));
        report.Add(new Row("code", "`1+1` p99 ms", Report.F(Stats.Percentile(viaExecd, 99)), Report.F(Stats.Percentile(viaZmq, 99)),
            Report.F(Stats.Percentile(viaExecd, 99) / Stats.Percentile(viaZmq, 99)) + "×"));
    };

    private static Dictionary<string, string> Env() =>
        Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
}
