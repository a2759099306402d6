using System.Text.Json;
using System.Threading.Channels;
using Execd.Core.Commands;

namespace Execd.Server.Streaming;

/// <summary>
/// The live view of one code run: what the kernel produced, queued for the response in order. A client that
/// went away detaches it, and later output is dropped here (it is still in the command's output log).
/// </summary>
public sealed class LiveCodeOutput : ICodeOutput
{
    private readonly Channel<CodeEvent> _events = Channel.CreateUnbounded<CodeEvent>(new UnboundedChannelOptions { SingleReader = true });
    private volatile bool _detached;

    internal ChannelReader<CodeEvent> Reader => _events.Reader;

    public ValueTask StreamAsync(OutputStream stream, string text) => Post(new CodeEvent(CodeEventKind.Stream, Stream: stream, Text: text));

    public ValueTask ResultAsync(int? executionCount, IReadOnlyDictionary<string, JsonElement> data) =>
        Post(new CodeEvent(CodeEventKind.Result, Count: executionCount, Data: data));

    public ValueTask ErrorAsync(string name, string value, IReadOnlyList<string> traceback) =>
        Post(new CodeEvent(CodeEventKind.Error, Text: name, Value: value, Traceback: traceback));

    internal void Tick() => _events.Writer.TryWrite(new CodeEvent(CodeEventKind.Ping));

    public void Complete() => _events.Writer.TryComplete();

    internal void Detach()
    {
        _detached = true;
        while (_events.Reader.TryRead(out _))
        {
        }
    }

    private ValueTask Post(CodeEvent e)
    {
        if (!_detached)
        {
            _events.Writer.TryWrite(e);
        }
        return ValueTask.CompletedTask;
    }
}

internal enum CodeEventKind { Ping, Stream, Result, Error }

internal sealed record CodeEvent(CodeEventKind Kind, OutputStream Stream = OutputStream.Stdout, string? Text = null, string? Value = null,
    int? Count = null, IReadOnlyDictionary<string, JsonElement>? Data = null, IReadOnlyList<string>? Traceback = null);

/// <summary>
/// The event stream of a code run, as upstream's <c>/code</c> plus what upstream dropped: <c>init</c> (the context
/// id), <c>ping</c> every 3 s, <c>stdout</c>/<c>stderr</c> as the kernel chunked them, <c>execution_count</c> then
/// <c>result</c> for an expression, <c>result</c> for each display, <c>status</c> "error" then <c>error</c>, and
/// one <c>execution_complete</c> last.
/// </summary>
public static class CodeEventStream
{
    public static async Task RunAsync(CommandRecord record, LiveCodeOutput live, string contextId, EventStreamWriter events,
        TimeProvider time, CancellationToken aborted)
    {
        _ = record.Finished.ContinueWith(_ => live.Complete(), TaskScheduler.Default);
        using var pings = time.CreateTimer(_ => live.Tick(), null, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));
        try
        {
            events.Init(contextId);
            events.Ping();
            await events.FlushAsync(aborted);
            while (await live.Reader.WaitToReadAsync(aborted))
            {
                while (live.Reader.TryRead(out var e))
                {
                    Write(events, e);
                }
                await events.FlushAsync(aborted);
            }
            await record.Finished.WaitAsync(aborted);
            var elapsed = (long)((record.FinishedAt ?? time.GetUtcNow()) - record.StartedAt).TotalMilliseconds;
            events.Complete(Math.Max(elapsed, 1));
            await events.FlushAsync(aborted);
        }
        catch (OperationCanceledException)
        {
            // The client went away: the cell goes on (as upstream), its output stays in the command's log.
            live.Detach();
        }
    }

    /// <summary>A run refused because the context is running another: <c>init</c>, then an <c>error</c> event (upstream appended a raw object the SDKs skip).</summary>
    public static async Task BusyAsync(string contextId, string? runningId, EventStreamWriter events, CancellationToken aborted)
    {
        try
        {
            events.Init(contextId);
            events.Status("error");
            var message = $"context {contextId} is busy running another cell{(runningId is null ? "" : $" (command {runningId})")}; runs of one context are not queued";
            events.Error("ContextBusy", message, [message]);
            await events.FlushAsync(aborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Write(EventStreamWriter events, CodeEvent e)
    {
        switch (e.Kind)
        {
            case CodeEventKind.Ping:
                events.Ping();
                break;
            case CodeEventKind.Stream:
                events.Text(e.Stream == OutputStream.Stderr, e.Text!);
                break;
            case CodeEventKind.Result:
                if (e.Count is int count && count > 0)
                {
                    events.ExecutionCount(count);
                }
                if (e.Data!.Count > 0)
                {
                    events.Result(e.Data);
                }
                break;
            case CodeEventKind.Error:
                events.Status("error");
                events.Error(e.Text!, e.Value!, e.Traceback!);
                break;
        }
    }
}
