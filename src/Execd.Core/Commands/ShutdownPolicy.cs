using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Commands;

/// <summary>What a stopping daemon does with the commands still running (<c>Execd:Shutdown:RunningCommands</c>).</summary>
public enum RunningCommandsOnShutdown
{
    /// <summary>Leave them running for the next daemon, which re-adopts those still alive (the default).</summary>
    Keep,

    /// <summary>Stop them (TERM, then KILL after the executor's grace) and record their real exit before the daemon exits.</summary>
    Kill,
}

/// <summary>Configuration section <c>Execd:Shutdown</c>.</summary>
public sealed class ShutdownOptions
{
    public RunningCommandsOnShutdown RunningCommands { get; set; } = RunningCommandsOnShutdown.Keep;
}

/// <summary>
/// On a planned stop (SIGTERM) with <see cref="RunningCommandsOnShutdown.Kill"/>: stops every running command and waits (within the
/// host's shutdown timeout) until each has finished and its durable record says so, so the next daemon reports real exit codes.
/// First, in both modes, it writes the start records still queued (see <see cref="CommandService.FlushStartRecords"/>).
/// With <see cref="RunningCommandsOnShutdown.Keep"/> it does nothing more: the commands run on (each is its own session) and the next
/// daemon re-adopts them.
/// </summary>
public sealed class ShutdownPolicy(CommandService commands, IOptions<ShutdownOptions> options, ILogger<ShutdownPolicy> logger,
    Storage.CommandReindexer? reindexer = null) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (reindexer is not null)
        {
            // A stop during start-up re-indexing: the commands it re-adopts are among those this policy keeps or stops.
            try
            {
                await reindexer.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                logger.LogWarning("Shutting down before start-up re-indexing finished: commands it had not re-adopted yet are left to the next daemon");
            }
        }
        // Start records still queued are written before anything else: a command started an instant ago must be re-adoptable.
        if (commands.FlushStartRecords() is > 0 and var flushed)
        {
            logger.LogInformation("Shutting down: wrote {Count} start records that were still queued", flushed);
        }
        var running = commands.All.Where(r => r.Running).ToList();
        if (running.Count == 0)
        {
            return;
        }
        if (options.Value.RunningCommands == RunningCommandsOnShutdown.Keep)
        {
            logger.LogInformation("Shutting down: {Count} running commands keep running for the next daemon (Execd:Shutdown:RunningCommands=keep)", running.Count);
            // Their output pumps stopped when the stop began (the executors hand them over): the records now say which stream wrote
            // each byte stored so far, and where, for the next daemon.
            commands.SaveRunningRecords(running);
            return;
        }
        logger.LogInformation("Shutting down: stopping {Count} running commands (Execd:Shutdown:RunningCommands=kill)", running.Count);
        foreach (var record in running)
        {
            record.Stop("daemon shutdown");
        }
        try
        {
            // Settled, not Finished: the end record is written after the command finished (off its client's path), and the next daemon
            // must read "finished", not "running".
            await Task.WhenAll(running.Select(r => r.Settled)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Shutting down: {Count} commands had not finished when the shutdown timeout ran out", running.Count(r => r.Running));
        }
    }
}
