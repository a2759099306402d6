[assembly: System.Runtime.Versioning.TargetFramework(".NETCoreApp,Version=v11.0", FrameworkDisplayName = ".NET 11.0")]

namespace Execd.TestPlugins.FutureFramework;

internal sealed class FutureExecutor : ICommandExecutor
{
    public string Name => "future";

    public Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop) =>
        Task.FromResult(CommandExit.Success);
}
