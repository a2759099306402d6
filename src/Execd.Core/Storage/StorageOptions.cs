namespace Execd.Core.Storage;

/// <summary>Host-side storage settings (configuration section <c>Storage</c>); providers have their own sections.</summary>
public sealed class StorageOptions
{
    /// <summary><c>Storage:Health</c>.</summary>
    public HealthOptions Health { get; set; } = new();

    /// <summary><c>Storage:Retention</c>.</summary>
    public RetentionOptions Retention { get; set; } = new();

    /// <summary><c>Storage:Output</c>.</summary>
    public OutputOptions Output { get; set; } = new();

    /// <summary><c>Storage:Durability</c>.</summary>
    public DurabilityOptions Durability { get; set; } = new();

    public sealed class DurabilityOptions
    {
        /// <summary>Keep each command's record beside its output, and re-index finished commands at start-up.</summary>
        public bool Enabled { get; set; } = true;

        /// <summary>Flush finished output and records to the device (fsync); off trades power-cut safety for speed.</summary>
        public bool Fsync { get; set; } = true;
    }

    public sealed class HealthOptions
    {
        /// <summary>How often every health check runs (also right after a provider fails).</summary>
        public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>A check that takes longer is cancelled and counts as failed.</summary>
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    }

    public sealed class RetentionOptions
    {
        /// <summary>A finished command's stored output is deleted this long after it finished.</summary>
        public TimeSpan FinishedOutputTtl { get; set; } = TimeSpan.FromHours(1);

        /// <summary>When all stored output together exceeds this, finished commands' output is deleted, oldest first.</summary>
        public long MaxTotalBytes { get; set; } = 1L << 30;

        /// <summary>Finished command records kept (status, logs); older ones are forgotten, oldest first.</summary>
        public int MaxFinishedCommands { get; set; } = 1000;

        /// <summary>How often retention runs (it also runs when a command finishes).</summary>
        public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);
    }

    public sealed class OutputOptions
    {
        /// <summary>Bytes stored per command at most (head plus tail); 0 for no cap.</summary>
        public long MaxBytesPerCommand { get; set; } = 256L << 20;

        /// <summary>Bytes of the head kept when the cap applies; 0 means half of the cap.</summary>
        public long HeadBytes { get; set; }
    }

    public void Validate()
    {
        if (Health.Interval <= TimeSpan.Zero || Health.Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Storage:Health:Interval and Storage:Health:Timeout must be positive");
        }
        if (Retention.FinishedOutputTtl < TimeSpan.Zero || Retention.MaxTotalBytes < 0 || Retention.MaxFinishedCommands < 0 || Retention.SweepInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("Storage:Retention: FinishedOutputTtl, MaxTotalBytes and MaxFinishedCommands must not be negative; SweepInterval must be positive");
        }
        if (Output.MaxBytesPerCommand < 0 || Output.HeadBytes < 0 || (Output.MaxBytesPerCommand > 0 && Output.HeadBytes >= Output.MaxBytesPerCommand))
        {
            throw new ArgumentException("Storage:Output: MaxBytesPerCommand must not be negative and HeadBytes must be below it");
        }
    }

    public OutputCaps Caps => Output.MaxBytesPerCommand == 0
        ? OutputCaps.None
        : new OutputCaps(Output.MaxBytesPerCommand, Output.HeadBytes > 0 ? Output.HeadBytes : Output.MaxBytesPerCommand / 2);
}

/// <summary>
/// Per-command cap: the first <see cref="HeadBytes"/> and about the last <c>MaxBytes - HeadBytes</c> bytes are
/// kept; the middle is dropped (and counted). <see cref="MaxBytes"/> 0 means no cap.
/// </summary>
public sealed record OutputCaps(long MaxBytes, long HeadBytes)
{
    public static readonly OutputCaps None = new(0, 0);

    public bool Enabled => MaxBytes > 0;

    public long TailBytes => MaxBytes - HeadBytes;

    /// <summary>
    /// The tail is kept in segments of a quarter of the tail budget, so dropping old tail bytes is deleting a
    /// whole segment: the kept tail is always more than three quarters of the budget and never more than it.
    /// </summary>
    public long SegmentBytes => Math.Max(1, TailBytes / 4);
}
