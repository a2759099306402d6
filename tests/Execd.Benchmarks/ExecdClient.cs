using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Execd.Benchmarks;

/// <summary>A minimal execd client that parses the event stream as it arrives (bytes, no per-event strings).</summary>
internal sealed class ExecdClient : IDisposable
{
    private static readonly byte[] StdoutData = "data: {\"type\":\"stdout\""u8.ToArray();
    private static readonly byte[] StdoutRaw = "{\"type\":\"stdout\""u8.ToArray();
    private static readonly byte[] Complete = "\"type\":\"execution_complete\""u8.ToArray();
    private readonly HttpClient _http;

    /// <param name="connections">1 = every request on one keep-alive connection.</param>
    public ExecdClient(Uri baseAddress, int connections = int.MaxValue)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
        })
        { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(10) };
    }

    public HttpClient Http => _http;

    public static string Body(string command, bool background = false, string? executor = null)
    {
        var json = new Dictionary<string, object> { ["command"] = command, ["background"] = background };
        if (executor is not null)
        {
            json["executor"] = executor;
        }
        return JsonSerializer.Serialize(json);
    }

    private static HttpRequestMessage Post(string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("text/event-stream");
        return request;
    }

    /// <summary>Runs a command and reads its whole stream. Succeeds only on 200 with <c>execution_complete</c>.</summary>
    public async Task<bool> RunAsync(string json, string path = "/command", CancellationToken ct = default)
    {
        using var request = Post(path, json);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        return response.StatusCode == HttpStatusCode.OK && body.AsSpan().IndexOf(Complete) >= 0;
    }

    public async Task<string?> PostJsonAsync(string path, string json)
    {
        using var response = await _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : null;
    }

    /// <summary>Streams a command, counting stdout events and the bytes received, line by line as they arrive.</summary>
    public async Task<(long Lines, long Bytes, bool Completed)> StreamAsync(string json, Action<long>? onProgress = null)
    {
        using var request = Post("/command", json);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
        long lines = 0, bytes = 0;
        var completed = false;
        var kept = 0;
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(kept, buffer.Length - kept));
                if (n == 0)
                {
                    break;
                }
                bytes += n;
                var span = buffer.AsSpan(0, kept + n);
                int nl;
                while ((nl = span.IndexOf((byte)'\n')) >= 0)
                {
                    var line = span[..nl];
                    if (line.StartsWith(StdoutData) || line.StartsWith(StdoutRaw))
                    {
                        lines++;
                    }
                    else if (line.IndexOf(Complete) >= 0)
                    {
                        completed = true;
                    }
                    span = span[(nl + 1)..];
                }
                if (span.Length == buffer.Length)
                {
                    throw new InvalidOperationException("event line longer than the read buffer");
                }
                span.CopyTo(buffer);
                kept = span.Length;
                onProgress?.Invoke(bytes);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return (lines, bytes, completed);
    }

    /// <summary>Runs a command that prints <c>date +%s%N</c> and returns receipt time minus that timestamp, in ms.</summary>
    public async Task<double> FirstOutputLatencyAsync(string json)
    {
        using var request = Post("/command", json);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        double latency = double.NaN;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (double.IsNaN(latency) && line.Contains("\"type\":\"stdout\"", StringComparison.Ordinal))
            {
                var received = Stats.UnixNanos();
                using var doc = JsonDocument.Parse(line.StartsWith("data:", StringComparison.Ordinal) ? line[5..] : line);
                latency = (received - long.Parse(doc.RootElement.GetProperty("text").GetString()!)) / 1e6;
            }
        }
        return latency;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The baselines: the same work without the daemon, spawned and read directly by .NET.</summary>
internal static class Direct
{
    public static Process Start(string script, string? stdoutFile = null)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        return Process.Start(start)!;
    }

    /// <summary><c>bash -c script</c>, stdout read to the end through a pipe; its exit code.</summary>
    public static async Task<int> RunAsync(string script)
    {
        using var p = Start(script);
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode;
    }

    /// <summary>Reads a child's stdout pipe in 64 KiB blocks, counting lines and bytes.</summary>
    public static async Task<(long Lines, long Bytes)> PipeAsync(string script)
    {
        using var p = Start(script);
        var stream = p.StandardOutput.BaseStream;
        var buffer = new byte[64 * 1024];
        long lines = 0, bytes = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            bytes += n;
            lines += buffer.AsSpan(0, n).Count((byte)'\n');
        }
        await p.WaitForExitAsync();
        return (lines, bytes);
    }

    public static async Task<double> FirstOutputLatencyAsync(string script)
    {
        using var p = Start(script);
        var line = await p.StandardOutput.ReadLineAsync();
        var received = Stats.UnixNanos();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (received - long.Parse(line!)) / 1e6;
    }
}
