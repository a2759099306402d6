using System.Globalization;

namespace Execd.Processes;

/// <summary>Reads <c>/proc</c> to find the processes that belong to a session's shell.</summary>
public static class ProcessTree
{
    public readonly record struct Entry(int Pid, int ParentPid, int SessionId, long StartTicks, char State)
    {
        public bool IsZombie => State is 'Z' or 'X';
    }

    /// <summary>Clock ticks per second of <c>/proc/*/stat</c> start times (USER_HZ, 100 on Linux).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>Now, in the clock of <c>/proc/*/stat</c> start times (ticks since boot).</summary>
    public static long NowTicks()
    {
        var text = File.ReadAllText("/proc/uptime");
        var seconds = double.Parse(text.AsSpan(0, text.IndexOf(' ')), CultureInfo.InvariantCulture);
        return (long)(seconds * TicksPerSecond);
    }

    public static long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * TicksPerSecond);

    /// <summary>One process's entry, or null when it is gone.</summary>
    public static Entry? Read(int pid)
    {
        try
        {
            return Parse(pid, File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Direct children of <paramref name="pid"/> (all its threads), from <c>/proc/PID/task/*/children</c>; cheap, no full scan.</summary>
    public static List<int> Children(int pid)
    {
        var children = new List<int>();
        var tasks = $"/proc/{pid}/task";
        if (!Directory.Exists(tasks))
        {
            // Gone already (a short command is often reaped before its move into its cgroup has adopted its children): no
            // exception per command for it. Gone in between, it still ends up below, as an IOException.
            return children;
        }
        try
        {
            foreach (var task in Directory.EnumerateDirectories(tasks))
            {
                foreach (var item in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out var child))
                    {
                        children.Add(child);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return children;
    }

    /// <summary>
    /// Every process of <paramref name="shellPid"/>'s kernel session (processes it started, even orphaned
    /// ones) and every descendant of it, without the shell itself.
    /// </summary>
    public static List<Entry> Members(int shellPid)
    {
        var all = ReadAll();
        var children = all.ToLookup(e => e.ParentPid);
        var result = new Dictionary<int, Entry>();
        foreach (var e in all.Where(e => e.SessionId == shellPid && e.Pid != shellPid))
        {
            result[e.Pid] = e;
        }
        var visited = new HashSet<int> { shellPid };
        var stack = new Stack<int>();
        stack.Push(shellPid);
        while (stack.Count > 0)
        {
            foreach (var child in children[stack.Pop()])
            {
                if (visited.Add(child.Pid))
                {
                    result[child.Pid] = child;
                    stack.Push(child.Pid);
                }
            }
        }
        result.Remove(shellPid);
        return [.. result.Values];
    }

    private static List<Entry> ReadAll()
    {
        var list = new List<Entry>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                if (Parse(pid, File.ReadAllText(Path.Combine(dir, "stat"))) is { } e)
                {
                    list.Add(e);
                }
            }
            catch (IOException)
            {
                // Gone between listing and reading.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return list;
    }

    internal static Entry? Parse(int pid, string stat)
    {
        // "pid (comm) state ppid pgrp session ... starttime(22nd field)"; comm may contain spaces and ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }
        var fields = stat[(close + 2)..].Split(' ');
        if (fields.Length < 20)
        {
            return null;
        }
        return new Entry(pid,
            int.Parse(fields[1], CultureInfo.InvariantCulture),
            int.Parse(fields[3], CultureInfo.InvariantCulture),
            long.Parse(fields[19], CultureInfo.InvariantCulture),
            fields[0].Length > 0 ? fields[0][0] : '?');
    }

    /// <summary>SIGKILLs the members started at or after <paramref name="sinceTicks"/> until none is left (bounded).</summary>
    public static int KillMembers(int shellPid, long sinceTicks)
    {
        var killed = 0;
        for (var pass = 0; pass < 20; pass++)
        {
            var victims = Members(shellPid).Where(e => e.StartTicks >= sinceTicks && !e.IsZombie).ToList();
            if (victims.Count == 0)
            {
                break;
            }
            foreach (var v in victims)
            {
                if (Native.kill(v.Pid, Native.SIGKILL) == 0)
                {
                    killed++;
                }
            }
            Thread.Sleep(pass == 0 ? 1 : 10);
        }
        return killed;
    }
}
