using System.Globalization;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.PowerShell;

/// <summary>
/// The in-process runspace pool, opened at the first script (0.5–0.8 s and about 100 MiB that a daemon
/// which never runs PowerShell should not pay) and closed when the container disposes it.
/// </summary>
internal sealed class PowerShellPool(PowerShellPoolOptions options, ILogger<PowerShellPool> logger) : IDisposable
{
    private readonly Lock _gate = new();
    private RunspacePool? _pool;
    private bool _disposed;

    public RunspacePool Get()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pool is null)
            {
                var iss = InitialSessionState.CreateDefault2();
                // A pool needs a host (CreateRunspacePool throws without one); ours routes `exit N` to the running command.
                var pool = RunspaceFactory.CreateRunspacePool(1, Math.Max(1, options.MaxRunspaces), iss, new ExecdHost());
                // Each runspace keeps its pipeline thread: no thread start per script.
                pool.ThreadOptions = PSThreadOptions.ReuseThread;
                pool.Open();
                logger.LogInformation("PowerShell runspace pool opened (up to {Max} runspaces)", options.MaxRunspaces);
                _pool = pool;
            }
            return _pool;
        }
    }

    public void Dispose()
    {
        RunspacePool? pool;
        lock (_gate)
        {
            _disposed = true;
            pool = _pool;
            _pool = null;
        }
        if (pool is not null)
        {
            pool.Close();
            pool.Dispose();
            logger.LogInformation("PowerShell runspace pool closed");
        }
    }
}

/// <summary>
/// The pool's host. The engine calls <see cref="SetShouldExit"/> on the pipeline thread of the script
/// that ran <c>exit N</c>; the executor marks that thread with the command's <see cref="ScriptRun"/>, so
/// concurrent scripts sharing this one host each get their own exit code.
/// </summary>
internal sealed class ExecdHost : PSHost
{
    public override string Name => "execd";
    public override Version Version { get; } = typeof(ExecdHost).Assembly.GetName().Version ?? new Version(0, 1);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override PSHostUserInterface? UI => null;
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override void SetShouldExit(int exitCode) => ScriptRun.Current?.SetExit(exitCode);
    public override void EnterNestedPrompt() => throw new NotSupportedException("execd scripts cannot enter a nested prompt");
    public override void ExitNestedPrompt() => throw new NotSupportedException("execd scripts cannot enter a nested prompt");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
}
