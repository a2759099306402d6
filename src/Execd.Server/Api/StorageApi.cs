using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

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

    // Reports of every provider: right after start-up they wait (bounded) for the first evaluation to complete.
    private static Task FirstEvaluation(StorageRanking ranking, IOptions<StorageOptions> options, CancellationToken aborted) =>
        ranking.Evaluated.IsCompleted ? Task.CompletedTask
            : Task.WhenAny(ranking.Evaluated, Task.Delay(options.Value.Health.Timeout + TimeSpan.FromSeconds(1), aborted));

    private static async Task<IResult> Storage(StorageRanking ranking, CommandService commands, IOptions<StorageOptions> options, HttpContext http)
    {
        await FirstEvaluation(ranking, options, http.RequestAborted);
        var snapshot = ranking.Snapshot;
        // Commands held per provider: where each command's newest output lives now.
        var held = commands.All.Select(r => r.Log.Provider).OfType<string>().GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        var providers = snapshot.Providers.Select((p, i) => new StorageProviderResponse(
            i + 1, p.Provider.Name, p.Provider.Kind, p.Provider.Location, p.Health.ToString(), p.Reason,
            p.FreeBytes ?? 0, p.Provider.BytesHeld, held.GetValueOrDefault(p.Provider.Name))).ToArray();
        return TypedResults.Json(new StorageResponse(snapshot.EvaluatedAt is { } at ? CommandsApi.Rfc3339(at) : null, providers),
            StorageJson.Default.StorageResponse, contentType: "application/json; charset=utf-8");
    }

    private static async Task<IResult> Health(StorageHealthMonitor monitor, StorageRanking ranking, CommandService commands, IOptions<StorageOptions> options, HttpContext http)
    {
        await FirstEvaluation(ranking, options, http.RequestAborted);
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

public sealed record StorageResponse(string? EvaluatedAt, IReadOnlyList<StorageProviderResponse> Providers);

public sealed record StorageProviderResponse(int Rank, string Name, string Kind, string Location, string Status, string Reason,
    long FreeBytes, long BytesHeld, int CommandsHeld);

public sealed record HealthResponse(string Status, double TotalDurationMs, IReadOnlyDictionary<string, HealthEntryResponse> Entries);

public sealed record HealthEntryResponse(string Status, string? Description, IReadOnlyList<string> Tags);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StorageResponse))]
[JsonSerializable(typeof(HealthResponse))]
public sealed partial class StorageJson : JsonSerializerContext;
