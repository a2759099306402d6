using System.Collections;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Commands;

/// <summary>
/// Builds a child's environment: the daemon's own, then the file named by <c>EXECD_ENVS</c> (re-read for
/// every command, so edits apply without a restart), then the request's <c>envs</c>.
/// </summary>
public sealed class EnvironmentBuilder(ILogger<EnvironmentBuilder> logger)
{
    public Dictionary<string, string> Build(IReadOnlyDictionary<string, string>? requestEnvs)
    {
        var env = ProcessEnvironment();
        foreach (var (k, v) in LoadEnvFile(env))
        {
            env[k] = v;
        }
        if (requestEnvs is not null)
        {
            foreach (var (k, v) in requestEnvs)
            {
                env[k] = v;
            }
        }
        return env;
    }

    /// <summary>
    /// The daemon's own secrets: never inherited by a child (commands, sessions, in-process scripts). The host also
    /// removes them from its process environment once read (<see cref="ScrubDaemonSecrets"/>); this list keeps
    /// them out of children even if something sets them again.
    /// </summary>
    public static readonly IReadOnlyList<string> DaemonSecrets = ["EXECD_ACCESS_TOKEN"];

    /// <summary>The daemon's environment as a child gets it: everything but <see cref="DaemonSecrets"/>.</summary>
    public static Dictionary<string, string> ProcessEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
        {
            env[(string)e.Key] = (string?)e.Value ?? "";
        }
        foreach (var secret in DaemonSecrets)
        {
            env.Remove(secret);
        }
        return env;
    }

    /// <summary>
    /// Removes <see cref="DaemonSecrets"/> from this process's environment (what <c>Process.Start</c> and in-process
    /// PowerShell's <c>$env:</c> read). Call once the configuration has been read.
    /// </summary>
    public static void ScrubDaemonSecrets()
    {
        foreach (var secret in DaemonSecrets)
        {
            System.Environment.SetEnvironmentVariable(secret, null);
        }
    }

    private Dictionary<string, string> LoadEnvFile(IReadOnlyDictionary<string, string> processEnv)
    {
        if (!processEnv.TryGetValue("EXECD_ENVS", out var path) || string.IsNullOrWhiteSpace(path))
        {
            return [];
        }
        string text;
        try
        {
            text = File.ReadAllText(PathExpander.ExpandPath(path, processEnv));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            logger.LogWarning("EXECD_ENVS file {Path} is not readable: {Error}", path, ex.Message);
            return [];
        }
        return ParseEnvFile(text, processEnv, line => logger.LogWarning("EXECD_ENVS: skipping line without '=': {Line}", line));
    }

    /// <summary>KEY=VALUE lines; blank lines and <c>#</c> comments skipped; values expanded against the process environment.</summary>
    public static Dictionary<string, string> ParseEnvFile(string text, IReadOnlyDictionary<string, string> processEnv, Action<string>? onBadLine = null)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var eq = line.IndexOf('=');
            if (eq <= 0)
            {
                onBadLine?.Invoke(line);
                continue;
            }
            result[line[..eq]] = PathExpander.ExpandLenient(line[(eq + 1)..], processEnv);
        }
        return result;
    }
}
