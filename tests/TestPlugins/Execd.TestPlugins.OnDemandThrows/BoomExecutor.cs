namespace Execd.TestPlugins.OnDemandThrows;

internal sealed class BoomExecutor : ICommandExecutor
{
    public BoomExecutor() => throw new InvalidOperationException("activation exploded on purpose");

    public string Name => "boom";

    public Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop) =>
        Task.FromResult(CommandExit.Success);
}
