using Execd;
using System.Text;
using Microsoft.Extensions.Logging;

namespace ExecdPlugin1;

/// <summary>
/// A command executor: <c>POST /command</c> with <c>"executor":"execdplugin1"</c> runs the command text here. This one
/// writes each line of the command text back on stdout, reversed, and exits 0 (or 1 for an empty command): replace
/// the body with your own. Found by the daemon's scan (no registrar needed); constructor parameters are resolved
/// from the daemon's services (loggers, options, TimeProvider, IConfiguration).
/// </summary>
internal sealed class Executor(ILogger<Executor> logger) : ICommandExecutor
{
    public string Name => "execdplugin1";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        context.ReportStarted(null); // no process of its own
        logger.LogInformation("Command {Id}: {Length} characters", spec.Id, spec.Command.Length);
        if (spec.Command.Length == 0)
        {
            await context.Output.WriteAsync(OutputStream.Stderr, "empty command\n"u8.ToArray(), stop);
            return CommandExit.FromExitCode(1);
        }
        foreach (var line in spec.Command.Split('\n'))
        {
            // Timeout or interrupt: stop at once and report it as upstream does (killed by a signal).
            if (stop.IsCancellationRequested)
            {
                return CommandExit.FromSignal("killed");
            }
            var reversed = new string(line.Reverse().ToArray());
            await context.Output.WriteAsync(OutputStream.Stdout, Encoding.UTF8.GetBytes(reversed + "\n"), stop);
        }
        return CommandExit.Success;
    }
}
