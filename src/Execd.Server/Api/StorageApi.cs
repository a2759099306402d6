using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.Server.Api;

/// <summary>
/// <c>GET /admin/storage</c> (the published ranking) and <c>GET /healthz</c> (the latest health report). Both
/// read what the background monitor published; neither runs a check.
/// </summary>
public static class StorageApi
{
    public static IEndpointRouteBuilder MapStorage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/admin/storage", Storage);
        app.MapGet("/healthz", Health);
        return app;
    }

    private static IResult Storage(StorageRanking ranking, CommandService commands, CommandReindexer reindexer)
    {
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

    private static IResult Health(StorageHealthMonitor monitor, StorageRanking ranking, CommandService commands)
    {
        var report = monitor.LastReport;
        var entries = new Dictionary<string, HealthEntryResponse>(StringComparer.Ordinal);
        if (report is not null)
        {
            foreach (var (name, entry) in report.Entries)
            {
                entries[name] = new HealthEntryResponse(entry.Status.ToString(), entry.Description ?? entry.Exception?.Message, [.. entry.Tags]);
            }
        }
        var status = Overall(report, ranking, commands);
        return TypedResults.Json(new HealthResponse(status.ToString(), Math.Round(report?.TotalDuration.TotalMilliseconds ?? 0, 3), entries),
            StorageJson.Default.HealthResponse, contentType: "application/json; charset=utf-8",
            statusCode: status == HealthStatus.Unhealthy ? 503 : 200);
    }

    /// <summary>
    /// Unhealthy when the daemon cannot do its job (no executor, or no storage provider that is not unhealthy);
    /// Degraded when any check (a provider, the plugins) is not healthy; else Healthy.
    /// </summary>
    internal static HealthStatus Overall(HealthReport? report, StorageRanking ranking, CommandService commands)
    {
        if (commands.ExecutorNames.Count == 0 || ranking.Current.All(p => p.Health == ProviderHealth.Unhealthy))
        {
            return HealthStatus.Unhealthy;
        }
        if (report is null || report.Entries.Values.Any(e => e.Status != HealthStatus.Healthy))
        {
            return HealthStatus.Degraded;
        }
        return HealthStatus.Healthy;
    }
}

public sealed record StorageResponse(string? EvaluatedAt, IReadOnlyList<StorageProviderResponse> Providers, ReindexResponse? Reindex);

/// <summary>What start-up re-indexing found: commands restored (of which lost), files swept, records damaged.</summary>
public sealed record ReindexResponse(int Restored, int Lost, int Swept, double ElapsedMs, IReadOnlyList<DamagedRecordResponse> DamagedRecords, int Adopted);

public sealed record DamagedRecordResponse(string Provider, string CommandId, string Reason);

public sealed record StorageProviderResponse(int Rank, string Name, string Kind, string Location, string Status, string Reason,
    long FreeBytes, long BytesHeld, int CommandsHeld);

public sealed record HealthResponse(string Status, double TotalDurationMs, IReadOnlyDictionary<string, HealthEntryResponse> Entries);

public sealed record HealthEntryResponse(string Status, string? Description, IReadOnlyList<string> Tags);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StorageResponse))]
[JsonSerializable(typeof(HealthResponse))]
public sealed partial class StorageJson : JsonSerializerContext;
