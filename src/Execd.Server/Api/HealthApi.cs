using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Execd.Server.Api;

/// <summary>
/// <c>GET /healthz</c>: the latest health report the background monitor published (a request never runs a check),
/// with the daemon's overall status: 503 when it cannot do its job.
/// </summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", Health);
        return app;
    }

    private static async Task<IResult> Health(StorageHealthMonitor monitor, StorageRanking ranking, CommandService commands, IOptions<StorageOptions> options,
        HttpContext http)
    {
        // Right after start-up: waits (bounded) for the first evaluation, so the report never says "not checked yet".
        await StorageApi.FirstEvaluation(ranking, options, http.RequestAborted);
        var report = monitor.LastReport;
        var entries = new Dictionary<string, HealthEntryResponse>(StringComparer.Ordinal);
        if (report is not null)
        {
            // A provider whose sink failed since the last evaluation is already ranked unhealthy (the overall status below counts
            // that): its entry says so too, instead of the older report's verdict.
            var failedSince = ranking.Current.Where(r => r.Health == ProviderHealth.Unhealthy)
                .ToDictionary(r => r.Provider.Name, r => r.Reason, StringComparer.Ordinal);
            foreach (var (name, entry) in report.Entries)
            {
                entries[name] = entry.Status != HealthStatus.Unhealthy && failedSince.TryGetValue(name, out var reason)
                    ? new HealthEntryResponse(nameof(HealthStatus.Unhealthy), reason, [.. entry.Tags])
                    : new HealthEntryResponse(entry.Status.ToString(), entry.Description ?? entry.Exception?.Message, [.. entry.Tags]);
            }
        }
        var status = Overall(report, ranking, commands);
        return TypedResults.Json(new HealthResponse(status.ToString(), Math.Round(report?.TotalDuration.TotalMilliseconds ?? 0, 3), entries),
            HealthJson.Default.HealthResponse, contentType: "application/json; charset=utf-8",
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

public sealed record HealthResponse(string Status, double TotalDurationMs, IReadOnlyDictionary<string, HealthEntryResponse> Entries);

public sealed record HealthEntryResponse(string Status, string? Description, IReadOnlyList<string> Tags);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HealthResponse))]
public sealed partial class HealthJson : JsonSerializerContext;
