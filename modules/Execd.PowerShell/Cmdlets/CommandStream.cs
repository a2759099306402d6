using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>
/// Runs a request that answers with a command event stream (<c>POST /command</c>, <c>POST /session/{id}/run</c>)
/// in the foreground: stdout lines go to the pipeline as strings the moment they arrive, stderr lines as
/// non-terminating error records (like a native command's stderr), then one <see cref="ExecdCommandResult"/>.
/// </summary>
internal static class CommandStream
{
    public static void RunForeground(ExecdCmdletCore cmdlet, HttpRequestMessage request, string? executor, string? sessionId)
    {
        var client = cmdlet.Client;
        ExecdClient.AcceptEventStream(request);
        using var response = cmdlet.Wait(c => client.SendAsync(request, c));
        using var events = new EventReader(cmdlet.Wait(c => response.Content.ReadAsStreamAsync(c)));
        string? id = null;
        long? startedAt = null;
        int stdout = 0, stderr = 0;
        try
        {
            while (cmdlet.Wait(events.NextAsync) is { } e)
            {
                switch (e.Type)
                {
                    case "init":
                        id = e.Text;
                        startedAt = e.Timestamp;
                        break;
                    case "stdout":
                        stdout++;
                        cmdlet.WriteObject(LineText(e.Text));
                        break;
                    case "stderr":
                        stderr++;
                        var line = LineText(e.Text);
                        cmdlet.WriteError(new ErrorRecord(new RemoteStderrException(line), "ExecdStderr", ErrorCategory.FromStdErr, line));
                        break;
                    case "execution_complete":
                        cmdlet.WriteObject(new ExecdCommandResult
                        {
                            Id = id ?? "", ExitCode = 0, ExecutionTime = Ms(e.ExecutionTimeMs), Executor = executor, SessionId = sessionId,
                            OutputLines = stdout, ErrorLines = stderr,
                        });
                        return;
                    case "error":
                        cmdlet.WriteObject(Failed(cmdlet, id, e, executor, sessionId, stdout, stderr, Ms(e.Timestamp - startedAt)));
                        return;
                }
            }
        }
        catch (PipelineStoppedException) when (id is not null)
        {
            // Ctrl+C on a foreground command stops the command too, as it would stop a local process.
            InterruptQuietly(client, id);
            throw;
        }
        throw new ExecdException("ExecdStreamEnded", ErrorCategory.ConnectionError,
            $"the event stream of command {id} ended before the command did (daemon stopped?); Get-ExecdCommand {id} may know more", terminating: true);
    }

    private static ExecdCommandResult Failed(ExecdCmdletCore cmdlet, string? id, ExecdEvent e, string? executor, string? sessionId, int stdout, int stderr, TimeSpan? elapsed)
    {
        if (int.TryParse(e.ErrorValue, out var code))
        {
            return new ExecdCommandResult
            {
                Id = id ?? "", ExitCode = code, Error = e.Traceback, ExecutionTime = elapsed, Executor = executor, SessionId = sessionId, OutputLines = stdout, ErrorLines = stderr,
            };
        }
        // Not an exit status: the command could not start (missing working directory, no shell).
        var message = e.ErrorValue ?? e.Traceback ?? "the command could not start";
        cmdlet.WriteError(new ErrorRecord(new ExecdException("ExecdCommandStartFailed", ErrorCategory.InvalidOperation, message),
            "ExecdCommandStartFailed", ErrorCategory.InvalidOperation, id));
        int? exit = null;
        if (id is not null)
        {
            try
            {
                exit = cmdlet.Wait(c => cmdlet.Client.StatusAsync(id, c)).ExitCode;
            }
            catch (ExecdException)
            {
                // The status is a nicety here; the start failure was already reported.
            }
        }
        return new ExecdCommandResult { Id = id ?? "", ExitCode = exit, Error = message, Executor = executor, SessionId = sessionId, OutputLines = stdout, ErrorLines = stderr };
    }

    /// <summary>Background: wait for the command to be running, then return its status.</summary>
    public static ExecdCommand? RunBackground(ExecdCmdletCore cmdlet, HttpRequestMessage request)
    {
        var client = cmdlet.Client;
        ExecdClient.AcceptEventStream(request);
        using var response = cmdlet.Wait(c => client.SendAsync(request, c));
        using var events = new EventReader(cmdlet.Wait(c => response.Content.ReadAsStreamAsync(c)));
        string? id = null;
        while (cmdlet.Wait(events.NextAsync) is { } e)
        {
            if (e.Type == "init")
            {
                id = e.Text;
            }
            else if (e.Type == "error")
            {
                cmdlet.WriteError(new ErrorRecord(new ExecdException("ExecdCommandStartFailed", ErrorCategory.InvalidOperation, e.ErrorValue ?? "start failed"),
                    "ExecdCommandStartFailed", ErrorCategory.InvalidOperation, id));
                return null;
            }
            else if (e.Type == "execution_complete")
            {
                break;
            }
        }
        if (id is null)
        {
            throw new ExecdException("ExecdStreamEnded", ErrorCategory.ConnectionError, "the daemon did not return a command id", terminating: true);
        }
        return ExecdCommand.From(cmdlet.Wait(c => client.StatusAsync(id, c)));
    }

    /// <summary>Interrupts command (or, with <paramref name="route"/> <c>code</c>, code context) <paramref name="id"/>, ignoring failures.</summary>
    public static void InterruptQuietly(ExecdClient client, string id, string route = "command")
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            client.SendAsync(HttpMethod.Delete, $"{route}?id=" + Uri.EscapeDataString(id), timeout.Token).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is ExecdException or OperationCanceledException)
        {
            // Already finished, or the daemon is gone: nothing left to stop.
        }
    }

    // Upstream sends an empty line as the text "\n".
    private static string LineText(string? text) => text is null or "\n" ? "" : text;

    private static TimeSpan? Ms(long? ms) => ms is { } v ? TimeSpan.FromMilliseconds(v) : null;
}

/// <summary>The exception inside the error record of one remote stderr line.</summary>
public sealed class RemoteStderrException(string line) : Exception(line);
