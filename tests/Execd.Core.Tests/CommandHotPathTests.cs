using System.Collections.Concurrent;
using System.Text;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Execd.Core.Tests;

/// <summary>
/// What a command's client waits for and what it does not: its final state waits for every byte in the log, not for the
/// sink's flush to the device (fsync) nor for the durable record; the start record is written beside the command. The
/// guarantees stay: the sink is completed before the record that says the command finished, and a record written late
/// never replaces a newer one.
/// </summary>
public sealed class CommandHotPathTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Finished_DoesNotWaitForTheSinkFlush_FinishedRecordIsWrittenAfterIt()
    {
        var store = new GatedStore { HoldComplete = true };
        var (service, _) = Service(store);

        var record = service.Start(new CommandSpec { Id = "c1", Command = "x" }, null, null, "test", async (r, _) =>
        {
            ((ICommandContext)r).ReportStarted(4242);
            await r.Log.WriteAsync(OutputStream.Stdout, "hi\n"u8.ToArray());
            return CommandExit.FromExitCode(0);
        });

        // The sink's Complete is held: the command has finished all the same, with every byte in the log.
        await record.Finished.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(record.Log.IsCompleted);
        Assert.Equal(3, record.Log.Length);
        Assert.True(store.CompleteEntered.Wait(Patience));
        Assert.DoesNotContain(store.Events, e => e == "record:finished");

        store.ReleaseComplete.Set();
        await WaitUntil(() => store.Events.Contains("record:finished"));
        var events = store.Events.ToList();
        Assert.True(events.IndexOf("complete:done") < events.IndexOf("record:finished"), string.Join(", ", events));
    }

    [Fact]
    public async Task TheThreadThatEndsTheCommand_IsFreeBeforeTheSinkFlush_ALiveReaderGetsTheEndMeanwhile()
    {
        // A live reader's end (the client's final event) is queued on the thread that ends the command, where the thread pool may
        // wake no other worker to take it: that thread must hand the sink's flush on and return, not flush first.
        var store = new GatedStore { HoldComplete = true };
        var (service, _) = Service(store);
        var exit = new TaskCompletionSource<CommandExit>();   // continuations run inline, on the thread that sets the result
        OutputReader? live = null;
        var record = service.Start(new CommandSpec { Id = "c4", Command = "x" }, null, r => live = r.Log.Subscribe(), "test", async (r, _) =>
        {
            ((ICommandContext)r).ReportStarted(4242);
            await r.Log.WriteAsync(OutputStream.Stdout, "hi\n"u8.ToArray());
            return await exit.Task;
        });
        await record.Started.WaitAsync(Patience);
        var reader = Task.Run(async () =>
        {
            var bytes = 0;
            while (await live!.NextAsync(CancellationToken.None) is { } piece)
            {
                bytes += piece.Data.Length;
            }
            return bytes;
        });

        // Ending the command on a thread of our own: it runs the command's end inline, and must return while the flush is held.
        var ender = new Thread(() => exit.SetResult(CommandExit.FromExitCode(0))) { IsBackground = true };
        ender.Start();
        Assert.True(ender.Join(Patience), "the thread that ended the command was kept for the sink's flush");
        Assert.True(store.CompleteEntered.Wait(Patience));
        Assert.Equal(3, await reader.WaitAsync(Patience));
        Assert.DoesNotContain("complete:done", store.Events);

        store.ReleaseComplete.Set();
        await WaitUntil(() => store.Events.Contains("record:finished"));
    }

    [Fact]
    public async Task StartRecord_WrittenBesideTheCommand_NeverReplacesTheFinishedRecord()
    {
        var store = new GatedStore { HoldRunningRecord = true };
        var (service, _) = Service(store);
        var reported = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var record = service.Start(new CommandSpec { Id = "c2", Command = "x" }, null, null, "test", async (r, _) =>
        {
            ((ICommandContext)r).ReportStarted(4242);
            reported.SetResult();
            await r.Log.WriteAsync(OutputStream.Stdout, "hi\n"u8.ToArray());
            // Ends only once the start record is being written (of the running command), so the two writes overlap.
            await Task.Run(() => store.RunningRecordEntered.Wait(Patience));
            return CommandExit.FromExitCode(0);
        });

        // The start record's write is held: the executor goes on (reads output, ends) without waiting for it.
        Assert.True(store.RunningRecordEntered.Wait(Patience));
        await reported.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await record.Finished.WaitAsync(TimeSpan.FromSeconds(5));

        store.ReleaseRunningRecord.Set();
        await WaitUntil(() => store.Events.Contains("record:finished"));
        await Task.Delay(100);   // a late write, if any, would land now
        Assert.Equal("finished", store.LastRecordState);
    }

    [Fact]
    public async Task FlushStartRecords_APlannedStopWaitsForAStartRecordBeingWritten_ThenNoneIsQueued()
    {
        var store = new GatedStore { HoldRunningRecord = true };
        var (service, _) = Service(store);
        var end = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var record = service.Start(new CommandSpec { Id = "c3", Command = "x" }, null, null, "test", async (r, _) =>
        {
            ((ICommandContext)r).ReportStarted(4242);
            await end.Task;
            return CommandExit.FromExitCode(0);
        });
        Assert.True(store.RunningRecordEntered.Wait(Patience));

        // The queued save is writing the start record (held): a stop's flush must not return before that record is there.
        var flushed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => flushed.SetResult(service.FlushStartRecords())) { IsBackground = true }.Start();   // not a pool thread: they are scarce here
        var flush = flushed.Task;
        await Task.Delay(300);
        Assert.False(flush.IsCompleted, "the flush returned while the start record was still being written");
        Assert.DoesNotContain("record:running", store.Events);

        store.ReleaseRunningRecord.Set();
        await flush.WaitAsync(Patience);
        Assert.Contains("record:running", store.Events);
        Assert.Equal(0, service.FlushStartRecords());
        end.SetResult();
        await record.Finished.WaitAsync(Patience);
    }

    private static (CommandService, StorageRanking) Service(GatedStore store)
    {
        var plugin = new PluginInfo("fake", "fake.dll");
        var ranking = new StorageRanking([new PluginContribution(plugin, typeof(IOutputStorageProvider), _ => store, store.Name)],
            new ServiceCollection().BuildServiceProvider(), NullLogger<StorageRanking>.Instance);
        var options = Options.Create(new StorageOptions());
        var journal = new CommandJournal(ranking, options, NullLogger<CommandJournal>.Instance);
        var service = new CommandService([], new ServiceCollection().BuildServiceProvider(), ranking, TimeProvider.System,
            NullLogger<CommandService>.Instance, options, journal);
        return (service, ranking);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10);
        }
    }

    /// <summary>A record store whose sink completion and whose first ("running") record write can be held.</summary>
    private sealed class GatedStore : IOutputStorageProvider, ICommandRecordStore
    {
        public bool HoldComplete { get; init; }
        public bool HoldRunningRecord { get; init; }
        public ManualResetEventSlim CompleteEntered { get; } = new();
        public ManualResetEventSlim ReleaseComplete { get; } = new();
        public ManualResetEventSlim RunningRecordEntered { get; } = new();
        public ManualResetEventSlim ReleaseRunningRecord { get; } = new();
        public ConcurrentQueue<string> Events { get; } = new();
        public string? LastRecordState { get; private set; }

        public string Name => "gated";
        public string Kind => "fake";
        public string Location => "nowhere";
        public int Priority => 0;
        public long BytesHeld => 0;
        public int SinksHeld => 0;

        public IOutputSink Open(string commandId) => new Sink(this);

        public void WriteRecord(string commandId, ReadOnlySpan<byte> record, bool durable)
        {
            var state = Encoding.UTF8.GetString(record).Contains("\"state\":\"running\"", StringComparison.Ordinal) ? "running" : "finished";
            if (state == "running" && HoldRunningRecord)
            {
                RunningRecordEntered.Set();
                ReleaseRunningRecord.Wait(TimeSpan.FromSeconds(30));
            }
            LastRecordState = state;
            Events.Enqueue("record:" + state);
        }

        public IEnumerable<StoredCommandRecord> ReadRecords() => [];
        public void DeleteRecord(string commandId) { }
        public IOutputSink OpenExisting(string key) => throw new NotSupportedException();
        public IEnumerable<string> StoredKeys() => [];
        public void DeleteKey(string key) { }

        private sealed class Sink(GatedStore store) : IOutputSink
        {
            private readonly MemoryStream _data = new();
            public IOutputStorageProvider Provider => store;
            public long Length => _data.Length;
            public string? Key => "key";
            public void Append(ReadOnlySpan<byte> data) => _data.Write(data);

            public int Read(long offset, Span<byte> buffer)
            {
                var n = (int)Math.Max(0, Math.Min(buffer.Length, _data.Length - offset));
                _data.GetBuffer().AsSpan((int)offset, n).CopyTo(buffer);
                return n;
            }

            public void Complete()
            {
                if (store.HoldComplete)
                {
                    store.CompleteEntered.Set();
                    store.ReleaseComplete.Wait(TimeSpan.FromSeconds(30));
                }
                store.Events.Enqueue("complete:done");
            }

            public void Delete() { }
            public void Dispose() { }
        }
    }
}
