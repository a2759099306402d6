namespace Execd.Executors.Jupyter.Kernels;

/// <summary>
/// Chooses, for each new kernel, the first candidate directory that is healthy right now: it exists or can be
/// created (mode 700, in a parent that exists) and a file can be written in it. A kernel reads its connection file only at start, so a
/// directory deleted later (a cleaned /tmp) does not harm kernels already running, and the next kernel simply
/// starts in the next healthy candidate.
/// </summary>
internal sealed class RuntimeDirectories(JupyterOptions options, Func<string, string?> getEnv)
{
    public IReadOnlyList<string> Candidates()
    {
        if (options.Directories.Count > 0)
        {
            return options.Directories;
        }
        var uid = Native.geteuid();
        var list = new List<string>();
        if (getEnv("XDG_RUNTIME_DIR") is { Length: > 0 } xdg)
        {
            list.Add(Path.Combine(xdg, "execd-jupyter"));
        }
        list.Add(Path.Combine(getEnv("TMPDIR") is { Length: > 0 } tmp ? tmp : "/tmp", $"execd-jupyter-{uid}"));
        list.Add($"/var/tmp/execd-jupyter-{uid}");
        if (getEnv("HOME") is { Length: > 0 } home)
        {
            list.Add(Path.Combine(home, ".local", "state", "execd-jupyter"));
        }
        return list;
    }

    /// <summary>The first healthy candidate, or an exception listing why each one failed.</summary>
    public string Choose()
    {
        var problems = new List<string>();
        foreach (var dir in Candidates())
        {
            try
            {
                // Only the last component is ours to create: a missing parent (a deleted TMPDIR or /tmp) makes
                // the candidate unhealthy rather than something to re-create behind the machine's back.
                if (!Directory.Exists(dir) && Path.GetDirectoryName(Path.GetFullPath(dir)) is { } parent && !Directory.Exists(parent))
                {
                    problems.Add($"{dir}: {parent} does not exist");
                    continue;
                }
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                var probe = Path.Combine(dir, $".probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
                File.WriteAllBytes(probe, [1]);
                File.Delete(probe);
                return dir;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                problems.Add($"{dir}: {ex.Message}");
            }
        }
        throw new CommandStartException($"no usable directory for kernel connection files ({string.Join("; ", problems)})");
    }
}
