namespace Execd.Processes;

/// <summary>
/// Everything one command started: its own cgroup where the machine allows it (children that call setsid, double-fork
/// or get reparented stay in it), and always the /proc scan of the child's session and descendants (which covers the
/// moment between spawn and the move into the cgroup, and machines without a writable cgroup2).
/// </summary>
public sealed class CommandProcesses
{
    private readonly ChildProcess _child;
    private readonly string? _cgroup;

    private CommandProcesses(ChildProcess child, string? cgroup)
    {
        _child = child;
        _cgroup = cgroup;
    }

    /// <summary>How processes are found: <c>cgroup</c> or <c>scan</c>.</summary>
    public string Mechanism => _cgroup is null ? "scan" : "cgroup";

    /// <summary>Starts tracking <paramref name="child"/> under <paramref name="name"/> (the command id).</summary>
    public static CommandProcesses Track(ChildProcess child, string name)
    {
        string? cgroup = null;
        if (CommandCgroups.Base is { } root)
        {
            var dir = Path.Combine(root, "cmd-" + name);
            try
            {
                Directory.CreateDirectory(dir);
                if (CommandCgroups.TryMove(dir, child.Pid))
                {
                    cgroup = dir;
                }
                else
                {
                    Directory.Delete(dir);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
        return new CommandProcesses(child, cgroup);
    }

    /// <summary>The live processes of the command (the main child while it runs, and everything it started).</summary>
    public HashSet<int> Members()
    {
        var pids = new HashSet<int>();
        if (_cgroup is not null)
        {
            pids.UnionWith(CommandCgroups.Procs(_cgroup));
        }
        if (!_child.HasExited)
        {
            pids.Add(_child.Pid);
        }
        // The session (sid = the child's pid) and descendants; the session id stays in use while any member lives.
        foreach (var e in ProcessTree.Members(_child.Pid))
        {
            if (!e.IsZombie)
            {
                pids.Add(e.Pid);
            }
        }
        return pids;
    }

    /// <summary>
    /// TERM to every process of the command, then KILL to whatever is left after <paramref name="grace"/> — whether or not
    /// the main process has exited meanwhile. Returns how many distinct processes were signalled.
    /// </summary>
    public async Task<int> TerminateAsync(TimeSpan grace)
    {
        var signalled = new HashSet<int>();
        Send(Native.SIGTERM, signalled);
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline && Members().Count > 0)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }
        for (var pass = 0; pass < 20; pass++)
        {
            var left = Members();
            if (left.Count == 0)
            {
                break;
            }
            if (_cgroup is not null)
            {
                signalled.UnionWith(left);
                CommandCgroups.TryKillAll(_cgroup);
            }
            Send(Native.SIGKILL, signalled);
            await Task.Delay(pass == 0 ? 5 : 50).ConfigureAwait(false);
        }
        return signalled.Count;
    }

    private void Send(int signal, HashSet<int> signalled)
    {
        foreach (var pid in Members())
        {
            var sent = pid == _child.Pid ? _child.Signal(signal) : Native.kill(pid, signal) == 0;
            if (sent)
            {
                signalled.Add(pid);
            }
        }
    }

    /// <summary>
    /// The command is over: processes it left behind keep running (moved to the shared leftovers cgroup) and the
    /// command's own cgroup is removed.
    /// </summary>
    public void Release()
    {
        if (_cgroup is null)
        {
            return;
        }
        for (var pass = 0; pass < 10; pass++)
        {
            foreach (var pid in CommandCgroups.Procs(_cgroup))
            {
                CommandCgroups.TryMove(CommandCgroups.Leftovers!, pid);
            }
            try
            {
                Directory.Delete(_cgroup);
                return;
            }
            catch (IOException)
            {
                // A leftover forked while we moved it: move the new one too.
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }
}
