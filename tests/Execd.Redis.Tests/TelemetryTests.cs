using Execd.Storage.Tests;

namespace Execd.Redis.Tests;

/// <summary>
/// The real daemon exporting OpenTelemetry over OTLP/HTTP to an in-test collector. The meter and the activity source
/// are process-wide, so these tests run one at a time and assert what each daemon's own configuration adds.
/// </summary>
[Collection(nameof(TelemetryTests))]
[CollectionDefinition(nameof(TelemetryTests), DisableParallelization = true)]
public sealed class TelemetryTests
{
    private static Dictionary<string, string?> Settings(string endpoint, string sandbox) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "300",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2000",
        ["OPENSANDBOX_ID"] = sandbox,
        ["OPENSANDBOX_EXECD_METRICS_EXTRA_ATTRS"] = "team=fleet, region = eu ,broken,=x",
    };

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited 30 s for {what}");
            }
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task OtlpExport_CarriesUpstreamMetricNamesUnitsAndAttributes_AndACommandSpan()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var daemon = await Daemon.StartAsync(Settings(receiver.Endpoint, "sb-otel"));

        var run = await daemon.RunAsync("echo telemetry; exit 3");
        await daemon.Client.GetAsync("/files/info?path=/");
        ReceivedMetric? Metric(string name, Func<Dictionary<string, string>, bool>? point = null) =>
            receiver.Metrics.LastOrDefault(m => m.Name == name && m.Resource.GetValueOrDefault("sandbox_id") == "sb-otel"
                && m.Points.Any(p => p.GetValueOrDefault("sandbox_id") == "sb-otel" && (point?.Invoke(p) ?? true)));
        await WaitAsync(() => Metric("execd.execution.duration") is not null && Metric("execd.filesystem.operations.duration") is not null
            && Metric("execd.http.request.duration", p => p.GetValueOrDefault("http_route") == "/command") is not null
            && Metric("execd.system.network.connections.active") is not null, "the metrics");
        await WaitAsync(() => receiver.Spans.Any(s => s.Name == "execd.command" && s.Attributes.GetValueOrDefault("execd.command.id") == run.Id), "the command span");

        var http = Metric("execd.http.request.duration", p => p.GetValueOrDefault("http_route") == "/command")!;
        Assert.Equal("ms", http.Unit);
        var post = http.Points.First(p => p.GetValueOrDefault("http_route") == "/command");
        Assert.Equal("POST", post["http_method"]);
        Assert.Equal("200", post["http_status_code"]);
        Assert.Equal("fleet", post["team"]);
        Assert.Equal("eu", post["region"]);
        Assert.False(post.ContainsKey("broken"));

        var execution = Metric("execd.execution.duration", p => p.GetValueOrDefault("result") == "failure")!;
        Assert.Equal("ms", execution.Unit);
        Assert.Contains(execution.Points, p => p.GetValueOrDefault("operation") == "run_command" && p["result"] == "failure");

        var files = Metric("execd.filesystem.operations.duration")!;
        Assert.Contains(files.Points, p => p.GetValueOrDefault("operation") == "info");

        Assert.Equal("%", Metric("execd.system.cpu.usage")!.Unit);
        Assert.Equal("By", Metric("execd.system.memory.usage_bytes")!.Unit);
        Assert.NotNull(Metric("execd.system.process.count"));
        Assert.Equal(["in", "out"], Metric("execd.system.network.io.bytes")!.Points.Select(p => p["direction"]).Distinct().Order());
        Assert.Equal(["tcp", "udp"], Metric("execd.system.network.connections.active")!.Points.Select(p => p["protocol"]).Distinct().Order());

        var span = receiver.Spans.First(s => s.Name == "execd.command" && s.Attributes.GetValueOrDefault("execd.command.id") == run.Id);
        Assert.Equal("3", span.Attributes["execd.exit_code"]);
        Assert.Equal("shell", span.Attributes["execd.executor"]);
        Assert.Equal("10", span.Attributes["execd.output.bytes"]);
        Assert.Equal("opensandbox-execd", span.Resource["service.name"]);
        Assert.Contains(receiver.Spans, s => s.Attributes.GetValueOrDefault("http.route") == "/command");
    }

    [Theory]
    [InlineData(500)]
    [InlineData(null)]
    public async Task CollectorAnswering500OrDown_CommandsStillRunWithFullOutput(int? status)
    {
        string endpoint;
        OtlpReceiver? receiver = null;
        if (status is { } failWith)
        {
            receiver = await OtlpReceiver.StartAsync(failWith);
            endpoint = receiver.Endpoint;
        }
        else
        {
            // A port nobody listens on: connections are refused.
            var closed = await OtlpReceiver.StartAsync();
            endpoint = closed.Endpoint;
            await closed.DisposeAsync();
        }
        try
        {
            await using var daemon = await Daemon.StartAsync(Settings(endpoint, "sb-down"));
            for (var i = 0; i < 20; i++)
            {
                var result = await daemon.RunAsync($"seq 1 {i + 1}");
                Assert.Equal(0, result.ExitCode);
                Assert.Equal(Scenario.SeqLines(1, i + 1), await daemon.Client.LogLinesAsync(result.Id!));
            }
            if (receiver is not null)
            {
                await WaitAsync(() => receiver.Requests > 0, "an export attempt");
            }
            Assert.Equal(200, (int)(await daemon.Client.GetAsync("/ping")).StatusCode);
        }
        finally
        {
            if (receiver is not null)
            {
                await receiver.DisposeAsync();
            }
        }
    }

    [Fact]
    public void EndpointRules_SignalVariableAsGiven_BaseGetsTheSignalPath()
    {
        Assert.Equal("http://c:4318/v1/metrics", Execd.Server.Hosting.Telemetry.SignalEndpoint("http://c:4318", null, "v1/metrics")!.ToString());
        Assert.Equal("http://c:4318/custom", Execd.Server.Hosting.Telemetry.SignalEndpoint("http://c:4318/custom", "http://x", "v1/metrics")!.ToString());
        Assert.Equal("http://x/otlp/v1/traces", Execd.Server.Hosting.Telemetry.SignalEndpoint(null, "http://x/otlp/", "v1/traces")!.ToString());
        Assert.Null(Execd.Server.Hosting.Telemetry.SignalEndpoint(null, null, "v1/traces"));
    }
}
