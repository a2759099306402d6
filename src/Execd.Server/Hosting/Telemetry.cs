using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Execd.Core.Telemetry;
using Execd.Server.Api;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Execd.Server.Hosting;

/// <summary>
/// OpenTelemetry wiring, as upstream execd: the meter <c>opensandbox/execd</c> exported over OTLP only when
/// <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (traces: <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>
/// or the same base endpoint); <c>sandbox_id</c> from <c>OPENSANDBOX_ID</c> and <c>k=v,k2=v2</c> pairs from
/// <c>OPENSANDBOX_EXECD_METRICS_EXTRA_ATTRS</c> on every measurement (and the resource). The SDK exports from its own
/// background threads, so a slow, failing or absent collector never delays a request or a command.
/// Each variable may also be given as a configuration key of the same name (tests use that).
/// </summary>
public static class Telemetry
{
    internal const string ServiceName = "opensandbox-execd";

    /// <summary>Registers the OpenTelemetry SDK when an endpoint is configured; otherwise nothing is registered at all.</summary>
    public static WebApplicationBuilder AddExecdTelemetry(this WebApplicationBuilder builder)
    {
        string? Setting(string key) => builder.Configuration[key] is { Length: > 0 } v ? v : Environment.GetEnvironmentVariable(key) is { Length: > 0 } e ? e : null;

        ExecdInstruments.SharedAttributes = SharedAttributes(Setting("OPENSANDBOX_ID"), Setting("OPENSANDBOX_EXECD_METRICS_EXTRA_ATTRS"));
        var metricsEndpoint = SignalEndpoint(Setting("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), Setting("OTEL_EXPORTER_OTLP_ENDPOINT"), "v1/metrics");
        var tracesEndpoint = SignalEndpoint(Setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), Setting("OTEL_EXPORTER_OTLP_ENDPOINT"), "v1/traces");
        if (metricsEndpoint is null && tracesEndpoint is null)
        {
            return builder;
        }
        var grpc = string.Equals(Setting("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc", StringComparison.OrdinalIgnoreCase);
        var timeout = Milliseconds(Setting("OTEL_EXPORTER_OTLP_TIMEOUT"), 10_000);
        var interval = Milliseconds(Setting("OTEL_METRIC_EXPORT_INTERVAL"), 60_000);
        var delay = Milliseconds(Setting("OTEL_BSP_SCHEDULE_DELAY"), 5_000);
        void Exporter(OtlpExporterOptions o, Uri endpoint)
        {
            o.Endpoint = endpoint;
            o.Protocol = grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            o.TimeoutMilliseconds = timeout;
        }

        var resource = ResourceBuilder.CreateDefault()
            .AddService(Setting("OTEL_SERVICE_NAME") ?? ServiceName, serviceVersion: typeof(Telemetry).Assembly.GetName().Version?.ToString())
            .AddAttributes(ExecdInstruments.SharedAttributes.Select(kv => new KeyValuePair<string, object>(kv.Key, kv.Value ?? "")));
        var otel = builder.Services.AddOpenTelemetry();
        if (metricsEndpoint is not null)
        {
            SystemGauges.Register();
            otel.WithMetrics(m => m
                .SetResourceBuilder(resource)
                .AddMeter(ExecdInstruments.Name)
                .AddOtlpExporter((o, reader) =>
                {
                    Exporter(o, metricsEndpoint);
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
                    reader.PeriodicExportingMetricReaderOptions.ExportTimeoutMilliseconds = timeout;
                }));
        }
        if (tracesEndpoint is not null)
        {
            otel.WithTracing(t => t
                .SetResourceBuilder(resource)
                .AddSource(ExecdInstruments.Name)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(o =>
                {
                    Exporter(o, tracesEndpoint);
                    o.BatchExportProcessorOptions.ScheduledDelayMilliseconds = delay;
                    o.BatchExportProcessorOptions.ExporterTimeoutMilliseconds = timeout;
                }));
        }
        return builder;
    }

    /// <summary>
    /// Records <c>execd.http.request.duration</c> (route template, never the raw path) and, for the file routes,
    /// <c>execd.filesystem.operations.duration</c>. Outermost, so it sees the final status code.
    /// </summary>
    public static WebApplication UseExecdTelemetry(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (!ExecdInstruments.HttpRequestDuration.Enabled)
            {
                await next(http);
                return;
            }
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(http);
            }
            finally
            {
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                var status = http.Response.StatusCode;
                ExecdInstruments.HttpRequestDuration.Record(ms, ExecdInstruments.Tags(
                    new("http_method", http.Request.Method), new("http_route", route), new("http_status_code", status)));
                if (FilesystemOperation(http.Request.Method, route) is { } operation)
                {
                    ExecdInstruments.FilesystemOperationDuration.Record(ms, ExecdInstruments.Tags(
                        new("operation", operation), new("result", status < 400 ? "success" : "failure")));
                }
            }
        });
        return app;
    }

    /// <summary>Upstream's filesystem operation names for our file routes.</summary>
    internal static string? FilesystemOperation(string method, string route) => (method, route) switch
    {
        ("POST", "/files/upload") => "upload",
        ("GET", "/files/download") => "download",
        ("GET", "/files/search") => "search",
        ("POST", "/files/replace") => "replace",
        ("POST", "/files/permissions") => "chmod",
        ("POST", "/files/mv") => "rename",
        ("POST", "/directories") => "mkdir",
        ("DELETE", "/directories") => "rmdir",
        ("DELETE", "/files") => "delete",
        ("GET", "/files/info") => "info",
        ("GET", "/directories/list") => "list",
        _ => null,
    };

    /// <summary><c>sandbox_id</c> (when set) and the extra <c>k=v</c> pairs; malformed pairs are skipped, as upstream.</summary>
    internal static ImmutableArray<KeyValuePair<string, object?>> SharedAttributes(string? sandboxId, string? extra)
    {
        var attributes = ImmutableArray.CreateBuilder<KeyValuePair<string, object?>>();
        if (sandboxId?.Trim() is { Length: > 0 } id)
        {
            attributes.Add(new("sandbox_id", id));
        }
        foreach (var part in (extra ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
            {
                continue;
            }
            var key = part[..eq].Trim();
            if (key.Length > 0)
            {
                attributes.Add(new(key, part[(eq + 1)..].Trim()));
            }
        }
        return attributes.ToImmutable();
    }

    /// <summary>
    /// The signal's own variable is used as given (a bare <c>http://host:4318</c> gets the signal's path, as upstream's
    /// example expects); the base endpoint always gets <c>/v1/metrics</c> or <c>/v1/traces</c>, as the OTLP spec says.
    /// </summary>
    internal static Uri? SignalEndpoint(string? signal, string? common, string path)
    {
        if (signal is not null && Uri.TryCreate(signal, UriKind.Absolute, out var own))
        {
            return own.AbsolutePath is "" or "/" ? new Uri(own, path) : own;
        }
        if (common is not null && Uri.TryCreate(common, UriKind.Absolute, out var baseUri))
        {
            return new Uri(baseUri.AbsoluteUri.TrimEnd('/') + "/" + path);
        }
        return null;
    }

    private static int Milliseconds(string? value, int fallback) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) && ms > 0 ? ms : fallback;
}

/// <summary>Upstream's system gauges, read from /proc when the SDK collects (never on a request path).</summary>
internal static class SystemGauges
{
    private static int _registered;
    private static (long Total, long Idle) _lastCpu;
    private static readonly Lock CpuGate = new();

    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1)
        {
            return;
        }
        var meter = ExecdInstruments.Meter;
        meter.CreateObservableGauge("execd.system.process.count", () => new Measurement<long>(ProcessCount(), ExecdInstruments.Tags()),
            description: "Current number of processes in the system");
        meter.CreateObservableGauge("execd.system.cpu.usage", () => new Measurement<double>(CpuPercent(), ExecdInstruments.Tags()),
            unit: "%", description: "System-wide CPU usage percentage");
        meter.CreateObservableGauge("execd.system.memory.usage_bytes", () =>
        {
            var (total, available) = MetricsApi.ReadMemory();
            return new Measurement<long>((total - available) * 1024, ExecdInstruments.Tags());
        }, unit: "By", description: "System memory used bytes");
        meter.CreateObservableCounter("execd.system.network.io.bytes", () =>
        {
            var (received, sent) = NetworkBytes();
            return (IEnumerable<Measurement<long>>)[
                new(received, ExecdInstruments.Tags(KeyValuePair.Create<string, object?>("direction", "in"))),
                new(sent, ExecdInstruments.Tags(KeyValuePair.Create<string, object?>("direction", "out")))];
        }, unit: "By", description: "System network IO bytes by direction");
        meter.CreateObservableGauge("execd.system.network.connections.active", () =>
            (IEnumerable<Measurement<long>>)[
                new(Connections("tcp"), ExecdInstruments.Tags(KeyValuePair.Create<string, object?>("protocol", "tcp"))),
                new(Connections("udp"), ExecdInstruments.Tags(KeyValuePair.Create<string, object?>("protocol", "udp")))],
            description: "Current active network connections by protocol");
    }

    private static long ProcessCount()
    {
        try
        {
            return Directory.EnumerateDirectories("/proc").Count(d => Path.GetFileName(d).All(char.IsAsciiDigit));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Busy share of all CPU time since the previous collection (since boot the first time).</summary>
    private static double CpuPercent()
    {
        var now = MetricsApi.ReadCpu();
        lock (CpuGate)
        {
            var total = now.Total - _lastCpu.Total;
            var busy = total - (now.Idle - _lastCpu.Idle);
            _lastCpu = now;
            return total > 0 ? Math.Round(100.0 * busy / total, 2) : 0;
        }
    }

    /// <summary>Bytes received and sent by every interface but loopback, from /proc/net/dev.</summary>
    private static (long Received, long Sent) NetworkBytes()
    {
        long received = 0, sent = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/net/dev").Skip(2))
            {
                var colon = line.IndexOf(':');
                if (colon < 0 || line[..colon].Trim() == "lo")
                {
                    continue;
                }
                var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                received += long.Parse(fields[0], CultureInfo.InvariantCulture);
                sent += long.Parse(fields[8], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }
        return (received, sent);
    }

    /// <summary>Sockets in /proc/net/{tcp,tcp6} or {udp,udp6} (one line each after the header).</summary>
    private static long Connections(string protocol)
    {
        long count = 0;
        foreach (var file in new[] { $"/proc/net/{protocol}", $"/proc/net/{protocol}6" })
        {
            try
            {
                count += Math.Max(0, File.ReadLines(file).Count() - 1);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
        return count;
    }
}
