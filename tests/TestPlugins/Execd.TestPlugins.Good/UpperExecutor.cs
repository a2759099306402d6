using System.Text;
using Microsoft.Extensions.Logging;

namespace Execd.TestPlugins.Good;

/// <summary>A test executor found by the host's scan (internal, constructor takes a logger from the host).</summary>
internal sealed class UpperExecutor(ILogger<UpperExecutor> logger) : ICommandExecutor
{
    public string Name => "upper";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        logger.LogDebug("upper: {Command}", spec.Command);
        context.ReportStarted(null);
        await context.Output.WriteAsync(OutputStream.Stdout, Encoding.UTF8.GetBytes(spec.Command.ToUpperInvariant() + "\n"), stop);
        return spec.Command.Contains("fail", StringComparison.Ordinal) ? CommandExit.FromExitCode(9) : CommandExit.Success;
    }
}
