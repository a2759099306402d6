namespace Execd.TestPlugins.BadConstructor;

internal sealed class BrokenExecutor : ICommandExecutor
{
    public BrokenExecutor() => throw new InvalidOperationException("constructor exploded on purpose");

    public string Name => "broken";

    public Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop) =>
        Task.FromResult(CommandExit.Success);
}
