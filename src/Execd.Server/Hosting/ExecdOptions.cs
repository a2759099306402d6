namespace Execd.Server.Hosting;

/// <summary>The daemon's own settings (configuration section <c>Execd</c>), from flags, then environment, then defaults.</summary>
public sealed class ExecdOptions
{
    public int Port { get; set; } = 44772;
    public string Host { get; set; } = "0.0.0.0";
    public string? AccessToken { get; set; }

    /// <summary>A file holding the access token (its first line); unlike a flag, not visible in <c>/proc/PID/cmdline</c>.</summary>
    public string? AccessTokenFile { get; set; }
    public int LogLevel { get; set; } = 6;
    public string? PluginsDir { get; set; }
    public string SseFraming { get; set; } = "sse";
    public string? LogDir { get; set; }

    /// <summary>Accepted for compatibility with upstream; there is no grace sleep here (the stream ends with its last event).</summary>
    public string? GracefulShutdownTimeout { get; set; }

    public bool RawFraming => string.Equals(SseFraming, "raw", StringComparison.OrdinalIgnoreCase);

    public string ResolvePluginsDir() => PluginsDir is { Length: > 0 } dir ? Path.GetFullPath(dir) : Path.Combine(AppContext.BaseDirectory, "plugins");

    private static string ReadTokenFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"--access-token-file {path}: {ex.Message}");
        }
        var token = text.Split('\n', 2)[0].TrimEnd('\r');
        return token.Length > 0 ? token : throw new ArgumentException($"--access-token-file {path}: the first line is empty");
    }

    /// <summary>Checks the settings; reads the token file, so <see cref="AccessToken"/> holds the token from either source afterwards.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new ArgumentException($"--port must be between 0 and 65535, not {Port}");
        }
        if (!System.Net.IPAddress.TryParse(Host, out _))
        {
            throw new ArgumentException($"--host must be an IP address, not '{Host}'");
        }
        if (!string.IsNullOrEmpty(AccessTokenFile))
        {
            if (!string.IsNullOrEmpty(AccessToken))
            {
                throw new ArgumentException("give the access token once: --access-token (or EXECD_ACCESS_TOKEN) or --access-token-file, not both");
            }
            AccessToken = ReadTokenFile(AccessTokenFile);
        }
        if (SseFraming is not ("sse" or "raw"))
        {
            throw new ArgumentException($"--sse-framing must be 'sse' or 'raw', not '{SseFraming}'");
        }
    }
}
