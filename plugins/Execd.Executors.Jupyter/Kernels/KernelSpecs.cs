using System.Text.Json;

namespace Execd.Executors.Jupyter.Kernels;

/// <summary>One installed kernelspec (<c>kernels/&lt;name&gt;/kernel.json</c>).</summary>
internal sealed record KernelSpec(string Name, string Language, string DisplayName, IReadOnlyList<string> Argv,
    IReadOnlyDictionary<string, string> Env, bool InterruptByMessage, string Directory);

/// <summary>
/// Finds kernelspecs where Jupyter does: every <c>JUPYTER_PATH</c> entry, then the user's data directory, then
/// the system ones (<c>/usr/local/share/jupyter</c>, <c>/usr/share/jupyter</c>). A name found earlier hides the
/// same name later, as in jupyter_client. Read on every call: kernels installed after start-up are seen.
/// </summary>
internal sealed class KernelSpecs(JupyterOptions options, Func<string, string?> getEnv)
{
    public IReadOnlyList<string> SearchPath()
    {
        var dirs = new List<string>();
        dirs.AddRange(options.KernelPaths);
        if (getEnv("JUPYTER_PATH") is { Length: > 0 } jupyterPath)
        {
            dirs.AddRange(jupyterPath.Split(':', StringSplitOptions.RemoveEmptyEntries));
        }
        var dataHome = getEnv("XDG_DATA_HOME") is { Length: > 0 } xdg ? xdg
            : getEnv("HOME") is { Length: > 0 } home ? Path.Combine(home, ".local", "share") : null;
        if (dataHome is not null)
        {
            dirs.Add(Path.Combine(dataHome, "jupyter"));
        }
        if (options.SystemPaths)
        {
            dirs.Add("/usr/local/share/jupyter");
            dirs.Add("/usr/share/jupyter");
        }
        return dirs.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Every readable kernelspec, and for each that could not be read, why.</summary>
    public (IReadOnlyList<KernelSpec> Specs, IReadOnlyList<string> Problems) Find()
    {
        var specs = new List<KernelSpec>();
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var root in SearchPath())
        {
            var kernels = Path.Combine(root, "kernels");
            string[] folders;
            try
            {
                folders = Directory.Exists(kernels) ? Directory.GetDirectories(kernels) : [];
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{kernels}: {ex.Message}");
                continue;
            }
            foreach (var folder in folders.Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(folder);
                var file = Path.Combine(folder, "kernel.json");
                if (!File.Exists(file) || !seen.Add(name))
                {
                    continue;
                }
                try
                {
                    specs.Add(Read(name, folder, File.ReadAllBytes(file)));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or KeyNotFoundException)
                {
                    problems.Add($"{file}: {ex.Message}");
                }
            }
        }
        return (specs, problems);
    }

    internal static KernelSpec Read(string name, string folder, byte[] json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var argv = root.GetProperty("argv").EnumerateArray().Select(a => a.GetString() ?? "").ToList();
        if (argv.Count == 0)
        {
            throw new InvalidOperationException("argv is empty");
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("env", out var e) && e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                env[p.Name] = p.Value.GetString() ?? "";
            }
        }
        var language = root.TryGetProperty("language", out var l) ? l.GetString() ?? "" : "";
        var display = root.TryGetProperty("display_name", out var d) ? d.GetString() ?? name : name;
        var byMessage = root.TryGetProperty("interrupt_mode", out var m) && m.GetString() == "message";
        return new KernelSpec(name, language, display, argv, env, byMessage, folder);
    }

    /// <summary>
    /// The kernelspec for <paramref name="language"/> (case-sensitive, as upstream), chosen deterministically: a
    /// spec named exactly like the language, then <c>python3</c> for python (upstream skipped it), then by name.
    /// </summary>
    public static KernelSpec? Choose(IEnumerable<KernelSpec> specs, string language) =>
        specs.Where(s => s.Language == language)
            .OrderBy(s => s.Name == language ? 0 : s.Name == language + "3" ? 1 : 2)
            .ThenBy(s => s.Name, StringComparer.Ordinal)
            .FirstOrDefault();
}
