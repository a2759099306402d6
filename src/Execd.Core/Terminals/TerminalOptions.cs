namespace Execd.Core.Terminals;

/// <summary>Terminal (<c>/pty</c>) settings (configuration section <c>Execd:Terminals</c>).</summary>
public sealed class TerminalOptions
{
    /// <summary>
    /// A terminal nobody is attached to whose shell is not running (never started, or exited) is deleted after
    /// this long. A running shell is never reaped. Zero or negative: never.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many terminals may exist at once; <c>POST /pty</c> beyond it is refused (429).</summary>
    public int MaxSessions { get; set; } = 64;

    /// <summary>The largest message a client may send (stdin bytes or a JSON frame); larger ones close the socket with 1009.</summary>
    public int MaxFrameBytes { get; set; } = 1024 * 1024;

    /// <summary>A send to a client that takes longer than this (it stopped reading) ends that connection; the shell goes on.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>WebSocket ping interval; a client that does not answer within <see cref="KeepAliveTimeout"/> is dropped.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an unanswered ping is tolerated.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
