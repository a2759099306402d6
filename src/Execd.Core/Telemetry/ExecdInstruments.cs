using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Execd.Core.Telemetry;

/// <summary>
/// Upstream's meter <c>opensandbox/execd</c> (names, units and attributes as upstream execd) and the activity
/// source for command spans. Plain <see cref="System.Diagnostics"/> instruments: with no listener (no OTLP
/// endpoint configured) recording costs a flag check, and nothing here knows about exporters.
/// </summary>
public static class ExecdInstruments
{
    public const string Name = "opensandbox/execd";

    /// <summary><c>execd.execution.duration</c> operations, as upstream.</summary>
    public const string RunCommand = "run_command";
    public const string RunInSession = "run_in_session";

    public static readonly Meter Meter = new(Name, typeof(ExecdInstruments).Assembly.GetName().Version?.ToString());
    public static readonly ActivitySource Source = new(Name, typeof(ExecdInstruments).Assembly.GetName().Version?.ToString());

    public static readonly Histogram<double> HttpRequestDuration =
        Meter.CreateHistogram<double>("execd.http.request.duration", "ms", "HTTP request duration by method and route template");

    public static readonly Histogram<double> ExecutionDuration =
        Meter.CreateHistogram<double>("execd.execution.duration", "ms", "Duration per execution");

    public static readonly Histogram<double> FilesystemOperationDuration =
        Meter.CreateHistogram<double>("execd.filesystem.operations.duration", "ms", "Filesystem operation duration by type");

    private static ImmutableArray<KeyValuePair<string, object?>> _shared = [];

    /// <summary>Attributes every measurement carries: <c>sandbox_id</c> and the configured extra ones.</summary>
    public static ImmutableArray<KeyValuePair<string, object?>> SharedAttributes
    {
        get => _shared;
        set => _shared = value;
    }

    /// <summary>The shared attributes plus <paramref name="more"/>.</summary>
    public static TagList Tags(params ReadOnlySpan<KeyValuePair<string, object?>> more)
    {
        var tags = new TagList();
        foreach (var kv in _shared)
        {
            tags.Add(kv);
        }
        foreach (var kv in more)
        {
            tags.Add(kv);
        }
        return tags;
    }

    /// <summary>
    /// Starts a command's span (a child of the request that started it) without making it the caller's current
    /// activity: the command outlives the request.
    /// </summary>
    public static Activity? StartCommand(CommandSpec spec, string runner, string operation)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        var previous = Activity.Current;
        var activity = Source.StartActivity("execd.command", ActivityKind.Internal);
        Activity.Current = previous;
        if (activity is not null)
        {
            activity.SetTag("execd.command.id", spec.Id);
            activity.SetTag("execd.executor", runner);
            activity.SetTag("execd.operation", operation);
            activity.SetTag("execd.background", spec.Background);
        }
        return activity;
    }

    /// <summary>Ends the command's span with its exit code and byte count and records <c>execd.execution.duration</c>.</summary>
    public static void FinishCommand(Activity? activity, long startedTimestamp, string operation, CommandExit exit, long bytes)
    {
        var result = exit.ExitCode == 0 ? "success" : "failure";
        if (ExecutionDuration.Enabled)
        {
            ExecutionDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalMilliseconds,
                Tags(new("operation", operation), new("result", result)));
        }
        if (activity is null)
        {
            return;
        }
        activity.SetTag("execd.exit_code", exit.ExitCode);
        activity.SetTag("execd.output.bytes", bytes);
        activity.SetStatus(exit.ExitCode == 0 ? ActivityStatusCode.Ok : ActivityStatusCode.Error, exit.ExitCode == 0 ? null : exit.Error);
        activity.Dispose();
    }
}
