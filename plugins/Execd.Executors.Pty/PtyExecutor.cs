using Microsoft.Extensions.Logging;

namespace Execd.Executors.Pty;

/// <summary>Terminals: <c>bash --norc --noprofile</c> (or <c>-c command</c>) on a pseudo-terminal or on pipes.</summary>
internal sealed class PtyExecutor(ILogger<PtyExecutor> logger) : ITerminalExecutor
{
    public string Name => "pty";

    public ITerminalProcess Start(TerminalSpec spec, IOutputWriter output)
    {
        var bash = FindBash(spec.Environment) ?? throw new CommandStartException("exec: \"bash\": executable file not found in $PATH");
        var process = TerminalProcess.Start(bash, spec, output);
        logger.LogInformation("Terminal {Id}: {Mode} shell pid {Pid} started", spec.Id, spec.Mode, process.ProcessId);
        return process;
    }

    internal static string? FindBash(IReadOnlyDictionary<string, string> environment)
    {
        var path = environment.TryGetValue("PATH", out var p) ? p : Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "bash"))
            .FirstOrDefault(File.Exists);
    }
}
