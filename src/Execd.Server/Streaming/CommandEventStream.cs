using Execd.Core.Commands;

namespace Execd.Server.Streaming;

/// <summary>
/// The event stream of one command: <c>init</c>, <c>ping</c> every 3 s, output lines split with upstream's
/// rules, then <c>execution_complete</c> or <c>error</c>. Shared by <c>/command</c> and session runs.
/// </summary>
public static class CommandEventStream
{
    private const int FlushThreshold = 64 * 1024;

    /// <summary>Background: <c>init</c>, <c>ping</c>, then <c>execution_complete</c> once the command runs (or <c>error</c> if it could not start).</summary>
    public static async Task BackgroundAsync(CommandRecord record, EventStreamWriter events, CancellationToken aborted)
    {
        try
        {
            events.Init(record.Id);
            events.Ping();
            await events.FlushAsync(aborted);
            var pid = await record.Started.WaitAsync(aborted);
            if (pid is null && record.StartFailed)
            {
                var exit = await record.Finished;
                events.Error(exit.Error ?? "start failed", exit.Error ?? "start failed");
            }
            else
            {
                events.Complete((long)(DateTimeOffset.UtcNow - record.StartedAt).TotalMilliseconds);
            }
            await events.FlushAsync(aborted);
        }
        catch (OperationCanceledException)
        {
            // The client went away; a background command goes on regardless.
        }
    }

    /// <summary>
    /// Foreground: every output line as it arrives, then how the command ended. A disconnect leaves the command
    /// running. <paramref name="initText"/> replaces the command id in <c>init</c> (session runs send the session id, as upstream).
    /// </summary>
    public static async Task ForegroundAsync(CommandRecord record, ChannelSubscription live, EventStreamWriter events,
        TimeProvider time, CancellationToken aborted, string? initText = null)
    {
        var stdout = new LineSplitter();
        var stderr = new LineSplitter();
        LineSplitter.LineHandler stdoutLine = line => events.Line(false, line);
        LineSplitter.LineHandler stderrLine = line => events.Line(true, line);
        using var pings = time.CreateTimer(_ => live.Tick(), null, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));
        try
        {
            events.Init(initText ?? record.Id);
            events.Ping();
            await events.FlushAsync(aborted);
            while (true)
            {
                while (live.Reader.TryRead(out var chunk))
                {
                    if (chunk.IsTick)
                    {
                        events.Ping();
                        continue;
                    }
                    var isErr = chunk.Stream == OutputStream.Stderr;
                    (isErr ? stderr : stdout).Process(chunk.Data.Span, isErr ? stderrLine : stdoutLine);
                    // Several ready chunks go out in one flush, but a bounded one: a chunk of short lines
                    // grows several times as events, and a whole queue of them must not sit in memory.
                    if (events.Unflushed >= FlushThreshold)
                    {
                        await events.FlushAsync(aborted);
                    }
                }
                await events.FlushAsync(aborted);
                if (!await live.Reader.WaitToReadAsync(aborted))
                {
                    break;
                }
            }
            stdout.Flush(stdoutLine);
            stderr.Flush(stderrLine);
            var exit = await record.Finished.WaitAsync(aborted);
            var elapsed = (long)((record.FinishedAt ?? time.GetUtcNow()) - record.StartedAt).TotalMilliseconds;
            if (record.StartFailed)
            {
                events.Error(exit.Error ?? "start failed", exit.Error ?? "start failed");
            }
            else if (exit.ExitCode == 0)
            {
                events.Complete(Math.Max(elapsed, 1));
            }
            else
            {
                events.Error(exit.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture), exit.Error ?? $"exit status {exit.ExitCode}");
            }
            await events.FlushAsync(aborted);
        }
        catch (OperationCanceledException)
        {
            // Client disconnected: the command keeps running (as upstream); status and logs still have it.
        }
        finally
        {
            live.Dispose();
        }
    }
}

/// <summary>A live reader of an output log, with its own keep-alive ticks.</summary>
public sealed class ChannelSubscription(OutputLog log) : IDisposable
{
    public System.Threading.Channels.ChannelReader<OutputChunk> Reader { get; } = log.Subscribe();

    public void Tick() => log.Tick(Reader);

    public void Dispose() => log.Unsubscribe(Reader);
}
