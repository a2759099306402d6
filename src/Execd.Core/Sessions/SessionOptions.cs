namespace Execd.Core.Sessions;

/// <summary>Session settings (configuration section <c>Execd:Sessions</c>).</summary>
public sealed class SessionOptions
{
    /// <summary>A session with no run for this long is deleted. Zero or negative: never.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most live sessions (each is a bash process); creating one more is refused with 429. Zero or negative: no limit.</summary>
    public int MaxSessions { get; set; } = 64;

    /// <summary>How many ended or deleted session ids are remembered, so a late run gets a clear reason.</summary>
    public int RememberEnded { get; set; } = 1000;
}
