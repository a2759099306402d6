using Microsoft.Extensions.Logging;

namespace Execd.TestPlugins.OwnContractCopy;

/// <summary>Takes an ILogger&lt;T&gt;: resolvable only if the plugin uses the host's logging types, not its private copy.</summary>
internal sealed class LoggingExecutor(ILogger<LoggingExecutor> logger) : ICommandExecutor
{
    public string Name => "own-copy";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        logger.LogInformation("running {Id}", spec.Id);
        await context.Output.WriteAsync(OutputStream.Stdout, "own-copy ran\n"u8.ToArray(), stop);
        return CommandExit.Success;
    }
}
