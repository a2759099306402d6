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
                    // posix_spawn cannot start the child inside the cgroup: anything it forked before the move is moved
                    // now (what it forks later inherits the cgroup).
                    AdoptDescendants(child.Pid, dir, depth: 0);
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

    private static void AdoptDescendants(int pid, string cgroup, int depth)
    {
        if (depth > 16)
        {
            return;
        }
        foreach (var child in ProcessTree.Children(pid))
        {
            CommandCgroups.TryMove(cgroup, child);
            AdoptDescendants(child, cgroup, depth + 1);
        }
    }

    /// <summary>
    /// The live processes of the command (the main child while it runs, and everything it started), each with its
    /// start time so that a pid seen earlier is only signalled again while it is the same process.
    /// </summary>
    public Dictionary<int, long> Members()
    {
        var pids = new Dictionary<int, long>();
        if (_cgroup is not null)
        {
            foreach (var pid in CommandCgroups.Procs(_cgroup))
            {
                if (ProcessTree.Read(pid) is { IsZombie: false } e)
                {
                    pids[pid] = e.StartTicks;
                }
            }
        }
        if (!_child.HasExited && ProcessTree.Read(_child.Pid) is { IsZombie: false } main)
        {
            pids[main.Pid] = main.StartTicks;
        }
        // The session (sid = the child's pid) and descendants; the session id stays in use while any member lives.
        foreach (var e in ProcessTree.Members(_child.Pid))
        {
            if (!e.IsZombie)
            {
                pids[e.Pid] = e.StartTicks;
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
        // Every process seen, with its start time: one that leaves the session and loses its parent after TERM
        // (reparented to init) is still KILLed after the grace.
        var seen = new Dictionary<int, long>();
        var signalled = new HashSet<int>();
        Send(Native.SIGTERM, Live(seen), signalled);
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline && Live(seen).Count > 0)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }
        for (var pass = 0; pass < 20; pass++)
        {
            var left = Live(seen);
            if (left.Count == 0)
            {
                break;
            }
            if (_cgroup is not null)
            {
                CommandCgroups.TryKillAll(_cgroup);
            }
            Send(Native.SIGKILL, left, signalled);
            signalled.UnionWith(left.Keys);
            await Task.Delay(pass == 0 ? 5 : 50).ConfigureAwait(false);
        }
        return signalled.Count;
    }

    /// <summary>The command's processes now, plus those seen before that still live as the same process.</summary>
    private Dictionary<int, long> Live(Dictionary<int, long> seen)
    {
        var now = Members();
        foreach (var (pid, start) in now)
        {
            seen[pid] = start;
        }
        foreach (var (pid, start) in seen)
        {
            if (!now.ContainsKey(pid) && ProcessTree.Read(pid) is { IsZombie: false } e && e.StartTicks == start)
            {
                now[pid] = start;
            }
        }
        return now;
    }

    private void Send(int signal, Dictionary<int, long> targets, HashSet<int> signalled)
    {
        foreach (var pid in targets.Keys)
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
