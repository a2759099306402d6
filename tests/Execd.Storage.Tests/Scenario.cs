using System.Net;
using System.Text.Json.Nodes;

namespace Execd.Storage.Tests;

/// <summary>Client-side steps the scenarios share: background runs, status, logs, the storage admin view.</summary>
internal static class Scenario
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>Lines a command prints with <c>seq</c>, as the client should see them.</summary>
    public static string[] SeqLines(int from, int to, string prefix = "") => [.. Enumerable.Range(from, to - from + 1).Select(i => prefix + i)];

    public static Task<StreamResult> RunAsync(this HttpClient client, string command, object? extra = null) =>
        Daemon.RunJsonAsync(client, Daemon.Body(command, extra));

    public static async Task<string> StartBackgroundAsync(this HttpClient client, string command)
    {
        var result = await client.RunAsync(command, new { background = true, timeout = 120_000 });
        Assert.Equal(200, result.Status);
        return result.Id ?? throw new InvalidOperationException($"no init event: {result.Body}");
    }

    public static async Task<JsonObject> StatusAsync(this HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/command/status/{id}"))!.AsObject();

    public static async Task<JsonObject> WaitFinishedAsync(this HttpClient client, string id)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            var status = await client.StatusAsync(id);
            if (!(bool)status["running"]!)
            {
                return status;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"command {id} still running after {Patience}");
    }

    public static async Task<byte[]> LogBytesAsync(this HttpClient client, string id, long cursor = 0)
    {
        using var response = await client.GetAsync($"/command/{id}/logs?cursor={cursor}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }

    public static async Task<string[]> LogLinesAsync(this HttpClient client, string id) =>
        System.Text.Encoding.UTF8.GetString(await client.LogBytesAsync(id)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static async Task<JsonArray> ProvidersAsync(this HttpClient client) =>
        JsonNode.Parse(await client.GetStringAsync("/admin/storage"))!["providers"]!.AsArray();

    /// <summary>Runs <paramref name="count"/> jobs, <paramref name="parallel"/> at a time.</summary>
    public static async Task ForAllAsync(int count, int parallel, Func<int, Task> job)
    {
        using var gate = new SemaphoreSlim(parallel);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                await job(i);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
