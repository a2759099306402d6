using Execd.Core.Commands;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Storage;

/// <summary>
/// Keeps stored output and the command registry bounded: deletes finished commands' output after
/// <see cref="StorageOptions.RetentionOptions.FinishedOutputTtl"/> and, oldest finished first, while all stored
/// output exceeds <see cref="StorageOptions.RetentionOptions.MaxTotalBytes"/>; forgets the oldest finished
/// records beyond <see cref="StorageOptions.RetentionOptions.MaxFinishedCommands"/>. A running command is never touched.
/// Runs every sweep interval and whenever a command finishes (at most every <see cref="MinimumGap"/>).
/// </summary>
public sealed class RetentionService : BackgroundService
{
    private readonly CommandService _commands;
    private readonly StorageOptions.RetentionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RetentionService> _logger;
    private readonly WakeSignal _wake = new();

    public RetentionService(CommandService commands, IOptions<StorageOptions> options, TimeProvider time, ILogger<RetentionService> logger)
    {
        _commands = commands;
        _options = options.Value.Retention;
        _time = time;
        _logger = logger;
        _commands.CommandFinished += _ => _wake.Set();
    }

    /// <summary>
    /// The least time between two passes: a pass walks and sorts every finished command, so commands finishing one after
    /// another (each waking the loop) are swept together rather than one pass each, which grew with the history.
    /// </summary>
    internal static readonly TimeSpan MinimumGap = TimeSpan.FromMilliseconds(200);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _wake.WaitAsync(_options.SweepInterval, stoppingToken))
        {
            try
            {
                Sweep();
            }
            catch (Exception ex)
            {
                // A bug here must not stop retention for good.
                _logger.LogError(ex, "Retention sweep failed");
            }
            try
            {
                await Task.Delay(MinimumGap, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One retention pass; returns what it did.</summary>
    public RetentionResult Sweep()
    {
        var now = _time.GetUtcNow();
        var all = _commands.All.ToList();
        var finished = all.Where(r => r.FinishedAt is not null).OrderBy(r => r.FinishedAt).ToList();
        int expired = 0, evicted = 0, forgotten = 0;

        foreach (var record in finished)
        {
            if (now - record.FinishedAt!.Value >= _options.FinishedOutputTtl && !record.Log.IsDeleted)
            {
                record.Log.Delete();
                _commands.OutputDeleted(record);
                expired++;
            }
        }

        var total = all.Sum(r => r.Log.StoredBytes);
        foreach (var record in finished)
        {
            if (total <= _options.MaxTotalBytes)
            {
                break;
            }
            var held = record.Log.StoredBytes;
            if (held > 0)
            {
                record.Log.Delete();
                _commands.OutputDeleted(record);
                total -= held;
                evicted++;
            }
        }

        var excess = finished.Count - _options.MaxFinishedCommands;
        for (var i = 0; i < excess; i++)
        {
            if (_commands.Forget(finished[i].Id))
            {
                forgotten++;
            }
        }
        if (expired + evicted + forgotten > 0)
        {
            _logger.LogDebug("Retention: {Expired} outputs expired, {Evicted} deleted for the size budget, {Forgotten} records forgotten",
                expired, evicted, forgotten);
        }
        return new RetentionResult(expired, evicted, forgotten);
    }
}

/// <summary>What one retention pass did.</summary>
public sealed record RetentionResult(int Expired, int Evicted, int Forgotten);
