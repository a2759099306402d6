using Microsoft.Extensions.Logging;

namespace Execd.TestPlugins.NewerDependency;

internal sealed class NewerLoggingExecutor(ILogger<NewerLoggingExecutor> logger) : ICommandExecutor
{
    public string Name => "newer-dependency";

    public Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        logger.LogInformation("running {Id}", spec.Id);
        return Task.FromResult(CommandExit.Success);
    }
}
