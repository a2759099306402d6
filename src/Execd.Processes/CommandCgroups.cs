using System.Globalization;

namespace Execd.Processes;

/// <summary>
/// Where per-command cgroups go: <c>execd-PID</c> under the daemon's own cgroup in the cgroup2 hierarchy (on a
/// hybrid v1 host the unified mount, e.g. <c>/sys/fs/cgroup/unified</c>). Null when there is no writable cgroup2
/// (not root, a read-only mount in a container): then commands are tracked by a /proc scan only.
/// </summary>
internal static class CommandCgroups
{
    private static readonly Lazy<string?> LazyBase = new(FindBase);

    public static string? Base => LazyBase.Value;

    /// <summary>Where leftover processes of finished commands are moved, so a command's own cgroup can be removed.</summary>
    public static string? Leftovers => Base is { } b ? Path.Combine(b, "leftovers") : null;

    private static string? FindBase()
    {
        try
        {
            var mount = File.ReadLines("/proc/self/mountinfo")
                .Select(l => l.Split(" - ", 2))
                .Where(p => p.Length == 2 && p[1].StartsWith("cgroup2 ", StringComparison.Ordinal))
                .Select(p => p[0].Split(' ')[4])
                .FirstOrDefault();
            var own = File.ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
            if (mount is null || own is null)
            {
                return null;
            }
            var dir = Path.Combine(mount, own.TrimStart('/'), "execd-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            Directory.CreateDirectory(Path.Combine(dir, "leftovers"));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => TryRemove(dir);
            return dir;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void TryRemove(string dir)
    {
        try
        {
            Directory.Delete(Path.Combine(dir, "leftovers"));
            Directory.Delete(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Leftover processes still live there; the empty directory goes with them.
        }
    }

    public static List<int> Procs(string cgroup)
    {
        var list = new List<int>();
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(cgroup, "cgroup.procs")))
            {
                if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    list.Add(pid);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return list;
    }

    public static bool TryMove(string cgroup, int pid)
    {
        try
        {
            File.AppendAllText(Path.Combine(cgroup, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>SIGKILLs the whole cgroup at once (cgroup.kill, Linux 5.14+; immune to fork races). False when unsupported.</summary>
    public static bool TryKillAll(string cgroup)
    {
        var file = Path.Combine(cgroup, "cgroup.kill");
        if (!File.Exists(file))
        {
            return false;
        }
        try
        {
            File.WriteAllText(file, "1");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
