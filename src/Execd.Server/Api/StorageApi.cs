using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Storage;
using Microsoft.Extensions.Options;

namespace Execd.Server.Api;

/// <summary><c>GET /admin/storage</c>: the published ranking (read, never re-evaluated by a request).</summary>
public static class StorageApi
{
    public static IEndpointRouteBuilder MapStorage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/admin/storage", Storage);
        return app;
    }

    /// <summary>Reports of every provider: right after start-up they wait (bounded) for the first evaluation to complete.</summary>
    internal static Task FirstEvaluation(StorageRanking ranking, IOptions<StorageOptions> options, CancellationToken aborted) =>
        ranking.Evaluated.IsCompleted ? Task.CompletedTask
            : Task.WhenAny(ranking.Evaluated, Task.Delay(options.Value.Health.Timeout + TimeSpan.FromSeconds(1), aborted));

    private static async Task<IResult> Storage(StorageRanking ranking, CommandService commands, CommandReindexer reindexer, IOptions<StorageOptions> options,
        HttpContext http)
    {
        await FirstEvaluation(ranking, options, http.RequestAborted);
        var snapshot = ranking.Snapshot;
        // Commands held per provider: where each command's newest output lives now.
        var held = commands.All.Select(r => r.Log.Provider).OfType<string>().GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        var providers = snapshot.Providers.Select((p, i) => new StorageProviderResponse(
            i + 1, p.Provider.Name, p.Provider.Kind, p.Provider.Location, p.Health.ToString(), p.Reason,
            p.FreeBytes ?? 0, p.Provider.BytesHeld, held.GetValueOrDefault(p.Provider.Name))).ToArray();
        var report = reindexer.LastReport;
        var reindex = report is null ? null : new ReindexResponse(report.Restored, report.Lost, report.Swept, Math.Round(report.Elapsed.TotalMilliseconds, 3),
            [.. report.Damaged.Select(d => new DamagedRecordResponse(d.Provider, d.CommandId, d.Reason))], report.Adopted);
        return TypedResults.Json(new StorageResponse(snapshot.EvaluatedAt is { } at ? CommandsApi.Rfc3339(at) : null, providers, reindex),
            StorageJson.Default.StorageResponse, contentType: "application/json; charset=utf-8");
    }
}

public sealed record StorageResponse(string? EvaluatedAt, IReadOnlyList<StorageProviderResponse> Providers, ReindexResponse? Reindex);

/// <summary>What start-up re-indexing found: commands restored (of which lost), files swept, records damaged.</summary>
public sealed record ReindexResponse(int Restored, int Lost, int Swept, double ElapsedMs, IReadOnlyList<DamagedRecordResponse> DamagedRecords, int Adopted);

public sealed record DamagedRecordResponse(string Provider, string CommandId, string Reason);

public sealed record StorageProviderResponse(int Rank, string Name, string Kind, string Location, string Status, string Reason,
    long FreeBytes, long BytesHeld, int CommandsHeld);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StorageResponse))]
public sealed partial class StorageJson : JsonSerializerContext;
