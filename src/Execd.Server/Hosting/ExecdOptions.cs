namespace Execd.Server.Hosting;

/// <summary>The daemon's own settings (configuration section <c>Execd</c>), from flags, then environment, then defaults.</summary>
public sealed class ExecdOptions
{
    public int Port { get; set; } = 44772;
    public string Host { get; set; } = "0.0.0.0";
    public string? AccessToken { get; set; }
    public int LogLevel { get; set; } = 6;
    public string? PluginsDir { get; set; }
    public string SseFraming { get; set; } = "sse";
    public string? LogDir { get; set; }

    /// <summary>Accepted for compatibility with upstream; there is no grace sleep here (the stream ends with its last event).</summary>
    public string? GracefulShutdownTimeout { get; set; }

    public bool RawFraming => string.Equals(SseFraming, "raw", StringComparison.OrdinalIgnoreCase);

    public string ResolvePluginsDir() => PluginsDir is { Length: > 0 } dir ? Path.GetFullPath(dir) : Path.Combine(AppContext.BaseDirectory, "plugins");

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
        if (SseFraming is not ("sse" or "raw"))
        {
            throw new ArgumentException($"--sse-framing must be 'sse' or 'raw', not '{SseFraming}'");
        }
    }
}
