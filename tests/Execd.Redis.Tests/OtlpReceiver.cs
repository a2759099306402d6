using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Execd.Redis.Tests;

/// <summary>
/// A protobuf message as its wire fields (field number → values: <see cref="ulong"/> for varints and fixed
/// numbers, <see cref="ByteString"/> for length-delimited ones), decoded with Google.Protobuf's reader. Enough
/// to walk OTLP requests by the field numbers of opentelemetry-proto, without generated classes.
/// </summary>
public sealed class ProtoMessage
{
    private readonly Dictionary<int, List<object>> _fields = [];

    public static ProtoMessage Parse(ByteString bytes)
    {
        var message = new ProtoMessage();
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var number = WireFormat.GetTagFieldNumber(tag);
            object value = WireFormat.GetTagWireType(tag) switch
            {
                WireFormat.WireType.Varint => input.ReadUInt64(),
                WireFormat.WireType.Fixed64 => input.ReadFixed64(),
                WireFormat.WireType.Fixed32 => (ulong)input.ReadFixed32(),
                WireFormat.WireType.LengthDelimited => input.ReadBytes(),
                var other => throw new InvalidDataException($"unexpected wire type {other}"),
            };
            if (!message._fields.TryGetValue(number, out var list))
            {
                message._fields[number] = list = [];
            }
            list.Add(value);
        }
        return message;
    }

    public IEnumerable<ProtoMessage> Messages(int field) =>
        _fields.TryGetValue(field, out var list) ? list.OfType<ByteString>().Select(Parse) : [];

    public ProtoMessage? Message(int field) => Messages(field).FirstOrDefault();

    public string? String(int field) => _fields.TryGetValue(field, out var list) ? list.OfType<ByteString>().Select(b => b.ToStringUtf8()).FirstOrDefault() : null;

    public ulong? Number(int field) => _fields.TryGetValue(field, out var list) ? list.OfType<ulong>().Cast<ulong?>().FirstOrDefault() : null;

    public bool Has(int field) => _fields.ContainsKey(field);

    /// <summary>OTLP <c>KeyValue</c> list (key 1, AnyValue 2: string 1, bool 2, int 3, double 4) as text.</summary>
    public Dictionary<string, string> Attributes(int field) =>
        Messages(field).ToDictionary(kv => kv.String(1)!, kv =>
        {
            var value = kv.Message(2)!;
            return value.String(1) ?? (value.Number(3) is { } i ? ((long)i).ToString(System.Globalization.CultureInfo.InvariantCulture)
                : value.Number(2) is { } b ? (b != 0).ToString() : value.Number(4) is { } d ? BitConverter.Int64BitsToDouble((long)d).ToString(System.Globalization.CultureInfo.InvariantCulture) : "");
        });
}

/// <summary>One metric of an OTLP export: name, unit, the resource's attributes and each data point's attributes.</summary>
public sealed record ReceivedMetric(string Name, string Unit, IReadOnlyDictionary<string, string> Resource, IReadOnlyList<Dictionary<string, string>> Points);

/// <summary>One span of an OTLP export.</summary>
public sealed record ReceivedSpan(string Name, IReadOnlyDictionary<string, string> Resource, Dictionary<string, string> Attributes);

/// <summary>
/// An OTLP/HTTP (protobuf) collector on a loopback port, in this process (real Kestrel): decodes
/// <c>/v1/metrics</c> and <c>/v1/traces</c>, or answers every export with <see cref="FailWith"/>.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedMetric> _metrics = new();
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private int _requests;

    private OtlpReceiver(WebApplication app) => _app = app;

    public string Endpoint { get; private set; } = "";
    public int? FailWith { get; init; }
    public int Requests => Volatile.Read(ref _requests);
    public IReadOnlyCollection<ReceivedMetric> Metrics => _metrics;
    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpReceiver> StartAsync(int? failWith = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app) { FailWith = failWith };
        app.MapPost("/v1/metrics", (Delegate)((HttpContext http) => receiver.ReceiveAsync(http, receiver.DecodeMetrics)));
        app.MapPost("/v1/traces", (Delegate)((HttpContext http) => receiver.ReceiveAsync(http, receiver.DecodeTraces)));
        await app.StartAsync();
        receiver.Endpoint = Execd.Server.Hosting.ExecdApp.Addresses(app).First();
        return receiver;
    }

    private async Task<IResult> ReceiveAsync(HttpContext http, Action<ProtoMessage> decode)
    {
        Interlocked.Increment(ref _requests);
        if (FailWith is { } status)
        {
            return Results.StatusCode(status);
        }
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        decode(ProtoMessage.Parse(ByteString.CopyFrom(body.ToArray())));
        // An empty ExportMetricsServiceResponse / ExportTraceServiceResponse.
        return Results.Bytes([], "application/x-protobuf");
    }

    /// <summary>ExportMetricsServiceRequest: resource_metrics 1 → resource 1 (attributes 1), scope_metrics 2 → metrics 2.</summary>
    private void DecodeMetrics(ProtoMessage request)
    {
        foreach (var rm in request.Messages(1))
        {
            var resource = rm.Message(1)?.Attributes(1) ?? [];
            foreach (var metric in rm.Messages(2).SelectMany(sm => sm.Messages(2)))
            {
                // Metric: name 1, unit 3, gauge 5 / sum 7 (NumberDataPoint attributes 7), histogram 9 (HistogramDataPoint attributes 9).
                var points = metric.Message(5)?.Messages(1).Select(p => p.Attributes(7))
                    ?? metric.Message(7)?.Messages(1).Select(p => p.Attributes(7))
                    ?? metric.Message(9)?.Messages(1).Select(p => p.Attributes(9))
                    ?? [];
                _metrics.Enqueue(new ReceivedMetric(metric.String(1) ?? "", metric.String(3) ?? "", resource, [.. points]));
            }
        }
    }

    /// <summary>ExportTraceServiceRequest: resource_spans 1 → resource 1, scope_spans 2 → spans 2 (name 5, attributes 9).</summary>
    private void DecodeTraces(ProtoMessage request)
    {
        foreach (var rs in request.Messages(1))
        {
            var resource = rs.Message(1)?.Attributes(1) ?? [];
            foreach (var span in rs.Messages(2).SelectMany(ss => ss.Messages(2)))
            {
                _spans.Enqueue(new ReceivedSpan(span.String(5) ?? "", resource, span.Attributes(9)));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
