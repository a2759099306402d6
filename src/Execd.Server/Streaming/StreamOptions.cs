namespace Execd.Server.Streaming;

/// <summary>Event stream settings (configuration section <c>Execd:Streams</c>).</summary>
public sealed class StreamOptions
{
    /// <summary>
    /// A client whose socket takes no data for this long is disconnected; the command goes on, and the client can
    /// resume with <c>GET /command/{id}/stream</c> from the last id it received.
    /// </summary>
    public TimeSpan StalledReaderTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
