namespace Execd.Server.Hosting;

/// <summary>
/// Upstream's flags (Go <c>flag</c> style: <c>-x</c> or <c>--x</c>, <c>=value</c> or a separate value) plus ours,
/// turned into configuration keys. Precedence: flag, then environment variable, then default.
/// </summary>
public static class Cli
{
    private sealed record Flag(string Name, string Key, string? Env, string Help, bool IsBool = false);

    private static readonly Flag[] Flags =
    [
        new("port", "Execd:Port", null, "TCP port to listen on (default 44772; 0 picks a free one)"),
        new("host", "Execd:Host", "EXECD_HOST", "address to listen on (default 0.0.0.0, all IPv4 interfaces; 127.0.0.1 to restrict)"),
        new("access-token", "Execd:AccessToken", "EXECD_ACCESS_TOKEN",
            "require this value in the X-EXECD-ACCESS-TOKEN header of every request (prefer the env variable or --access-token-file: a flag is visible in /proc/PID/cmdline)"),
        new("access-token-file", "Execd:AccessTokenFile", "EXECD_ACCESS_TOKEN_FILE", "read the access token from this file (first line)"),
        new("log-level", "Execd:LogLevel", null, "0-2 fatal, 3 error, 4 warn, 5-6 info (default 6), 7+ debug"),
        new("graceful-shutdown-timeout", "Execd:GracefulShutdownTimeout", "EXECD_API_GRACE_SHUTDOWN", "accepted for compatibility; streams end with their last event"),
        new("plugins-dir", "Execd:PluginsDir", "EXECD_PLUGINS_DIR", "folder of plugin folders (default: plugins/ beside the executable)"),
        new("sse-framing", "Execd:SseFraming", "EXECD_SSE_FRAMING", "'sse' (data: <json>, default) or 'raw' (upstream's bare <json>)"),
        new("log-dir", "Execd:LogDir", "EXECD_LOG_DIR", "first directory of the output storage fallback chain"),
        new("jupyter-host", "Execd:JupyterHost", null, "accepted for compatibility; Jupyter is not supported"),
        new("jupyter-token", "Execd:JupyterToken", null, "accepted for compatibility; Jupyter is not supported"),
    ];

    /// <param name="FlagsGiven">Flags that came from the command line (not the environment), by name.</param>
    public sealed record Result(Dictionary<string, string?> Settings, bool ShowHelp, string? Error, IReadOnlySet<string>? FlagsGiven = null);

    public static Result Parse(IReadOnlyList<string> args, Func<string, string?> getEnv)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var given = new HashSet<string>(StringComparer.Ordinal);
        foreach (var flag in Flags)
        {
            if (flag.Env is not null && getEnv(flag.Env) is { Length: > 0 } value)
            {
                settings[flag.Key] = value;
            }
        }
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-') || arg == "-" || arg == "--")
            {
                return new(settings, false, $"unexpected argument '{arg}'");
            }
            var body = arg.TrimStart('-');
            string? value = null;
            var eq = body.IndexOf('=');
            if (eq >= 0)
            {
                value = body[(eq + 1)..];
                body = body[..eq];
            }
            if (body is "h" or "help")
            {
                return new(settings, true, null);
            }
            if (body == "config")
            {
                // --config Section:Key=Value sets any configuration key (plugin options among them).
                value ??= i + 1 < args.Count ? args[++i] : null;
                var kv = value?.Split('=', 2);
                if (kv is not { Length: 2 } || kv[0].Length == 0)
                {
                    return new(settings, false, "--config needs Section:Key=Value");
                }
                settings[kv[0]] = kv[1];
                continue;
            }
            var flag = Flags.FirstOrDefault(f => f.Name == body);
            if (flag is null)
            {
                return new(settings, false, $"flag provided but not defined: -{body}");
            }
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    return new(settings, false, $"flag needs an argument: -{body}");
                }
                value = args[++i];
            }
            settings[flag.Key] = value;
            given.Add(flag.Name);
        }
        return new(settings, false, null, given);
    }

    public static string Usage()
    {
        var lines = new List<string> { "Usage: execd [flags]", "", "Flags:" };
        foreach (var f in Flags)
        {
            lines.Add($"  --{f.Name,-28} {f.Help}{(f.Env is null ? "" : $" [env {f.Env}]")}");
        }
        lines.Add($"  --{"config Section:Key=Value",-28} set any configuration key, e.g. Storage:Memory:BudgetBytes=1048576");
        lines.Add($"  --{"help",-28} show this help");
        return string.Join(Environment.NewLine, lines);
    }
}
