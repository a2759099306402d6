using Execd.Core.Commands;

namespace Execd.Server.Api;

/// <summary>
/// <c>/command/{id}/stdin</c> (extension): write to (POST, the raw body) and close (DELETE) the stdin of a command
/// started with <c>"stdin": true</c>.
/// </summary>
public static class CommandStdinApi
{
    public const string StdinNotOpen = "STDIN_NOT_OPEN";

    /// <summary>How long a write waits for a command that was just accepted to have started.</summary>
    private static readonly TimeSpan StartWait = TimeSpan.FromSeconds(10);

    public static IEndpointRouteBuilder MapCommandStdin(this IEndpointRouteBuilder app)
    {
        app.MapPost("/command/{id}/stdin", WriteAsync);
        app.MapDelete("/command/{id}/stdin", CloseAsync);
        return app;
    }

    private static async Task<IResult> WriteAsync(string id, HttpContext http, CommandService commands, ILogger<CommandService> logger)
    {
        var (stdin, error) = await FindAsync(id, commands, http.RequestAborted);
        if (stdin is null)
        {
            logger.LogInformation("Rejected POST /command/{Id}/stdin: {Reason}", id, error!.Value.Message);
            return ApiError.Of(error.Value.Status, error.Value.Code, error.Value.Message);
        }
        if (!await stdin.WriteAsync(http.Request.Body, http.RequestAborted))
        {
            logger.LogInformation("Rejected POST /command/{Id}/stdin: stdin is closed", id);
            return ApiError.Of(409, StdinNotOpen, $"stdin of command {id} is closed");
        }
        return ApiError.EmptyOk();
    }

    private static async Task<IResult> CloseAsync(string id, HttpContext http, CommandService commands, ILogger<CommandService> logger)
    {
        var (stdin, error) = await FindAsync(id, commands, http.RequestAborted);
        if (stdin is null)
        {
            logger.LogInformation("Rejected DELETE /command/{Id}/stdin: {Reason}", id, error!.Value.Message);
            return ApiError.Of(error.Value.Status, error.Value.Code, error.Value.Message);
        }
        return stdin.Close() ? ApiError.EmptyOk() : ApiError.Of(409, StdinNotOpen, $"stdin of command {id} is already closed");
    }

    private static async Task<(CommandStdin? Stdin, (int Status, string Code, string Message)? Error)> FindAsync(
        string id, CommandService commands, CancellationToken cancellationToken)
    {
        if (!commands.TryGet(id, out var record))
        {
            return (null, (404, ApiError.NotFound, $"command {id} not found"));
        }
        if (!record.Spec.KeepStdinOpen)
        {
            return (null, (409, StdinNotOpen, $"command {id} was not started with \"stdin\": true; its stdin is /dev/null"));
        }
        // A background command is accepted before its process exists: wait (bounded) for it to start.
        await Task.WhenAny(record.Started, Task.Delay(StartWait, cancellationToken)).ConfigureAwait(false);
        if (!record.Running)
        {
            return (null, (409, StdinNotOpen, $"command {id} has finished"));
        }
        if (record.Stdin is not { IsClosed: false } stdin)
        {
            return (null, (409, StdinNotOpen, $"stdin of command {id} is closed"));
        }
        return (stdin, null);
    }
}
