using System.Text;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Execd.Core.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Core.Tests;

public sealed class OutputLogTests
{
    private static StorageRanking Ranking(params IOutputStorageProvider[] providers)
    {
        var plugin = new PluginInfo("fake", "fake.dll");
        var contributions = providers.Select(p => new PluginContribution(plugin, typeof(IOutputStorageProvider), _ => p, p.Name));
        return new StorageRanking(contributions, new ServiceCollection().BuildServiceProvider(), NullLogger<StorageRanking>.Instance);
    }

    private static string ReadAll(OutputLog log, long from = 0)
    {
        var buffer = new byte[7];   // small on purpose: many reads
        var sb = new StringBuilder();
        var offset = from;
        while (true)
        {
            var n = log.Read(offset, buffer, out var readFrom);
            if (n == 0)
            {
                return sb.ToString();
            }
            Assert.Equal(offset, readFrom);
            sb.Append(Encoding.UTF8.GetString(buffer, 0, n));
            offset += n;
        }
    }

    private static ValueTask Write(OutputLog log, string text, OutputStream stream = OutputStream.Stdout) =>
        log.WriteAsync(stream, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task RunJournal_HearsEachStreamChange_ButNotStdoutFromTheFirstByte()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var heard = new List<long>();
        log.RunStarting = heard.Add;

        await Write(log, "out ");
        Assert.Empty(heard);   // stdout from offset 0 is what no entry means
        await Write(log, "more ");
        await Write(log, "err", OutputStream.Stderr);
        await Write(log, "out");

        Assert.Equal([(9L << 1) | 1, 12L << 1], heard);
        Assert.Equal([0L, (9L << 1) | 1, 12L << 1], log.Runs);
    }

    [Fact]
    public async Task RunJournal_HearsStderrFromTheFirstByte()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var heard = new List<long>();
        log.RunStarting = heard.Add;

        await Write(log, "err", OutputStream.Stderr);
        await Write(log, "out");

        Assert.Equal([1L, 3L << 1], heard);
    }

    [Fact]
    public async Task Write_ThenRead_ByAbsoluteOffset()
    {
        var primary = new FakeStorageProvider("a");
        var log = new OutputLog("id", Ranking(primary), NullLogger.Instance);

        await Write(log, "hello ");
        await Write(log, "world", OutputStream.Stderr);

        Assert.Equal(11, log.Length);
        Assert.Equal("hello world", ReadAll(log));
        Assert.Equal("world", ReadAll(log, 6));
        Assert.Equal("", ReadAll(log, 11));
        Assert.Equal("a", log.Provider);
    }

    [Fact]
    public async Task Write_SinkThrows_MovesToNextProviderWithEverythingAtSameOffsets()
    {
        var primary = new FakeStorageProvider("a", 0);
        var backup = new FakeStorageProvider("b", 1);
        var log = new OutputLog("id", Ranking(primary, backup), NullLogger.Instance);
        await Write(log, "first part, ");

        primary.FailAppend = true;
        await Write(log, "second part");
        await log.MovesCompleted;

        Assert.Equal("first part, second part", ReadAll(log));
        Assert.Equal("second part", ReadAll(log, 12));
        Assert.Equal(["a", "b"], log.ProviderHistory);
        // The new output went on at once in its own segment; the old bytes were copied in the background.
        Assert.Equal(["second part", "first part, "], backup.Sinks.Select(k => Encoding.UTF8.GetString(k.Bytes)));
        Assert.Equal([0L, 12L], log.StoredSegments.Select(k => k.Start));
        Assert.True(primary.Sinks.Single().Deleted);
    }

    [Fact]
    public async Task Write_SinkThrows_FailoverCopyRunsOffTheLock_WriterStatusAndReadsDoNotWait()
    {
        var primary = new FakeStorageProvider("a");
        var backup = new FakeStorageProvider("b");
        var log = new OutputLog("id", Ranking(primary, backup), NullLogger.Instance);
        await Write(log, "old bytes|");
        using var gate = new ManualResetEventSlim();
        primary.ReadGate = gate;   // the copy reads the failed sink and stalls there
        primary.FailAppend = true;

        // None of these may wait for the stalled copy: each would hang if the copy held the log's lock.
        var work = Task.Run(async () =>
        {
            await Write(log, "new 1|");
            await Write(log, "new 2|");
            var segments = log.StoredSegments;
            var tail = ReadAll(log, 10);
            return (segments, tail, log.Length);
        });
        var (segments, tail, length) = await work.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(log.MovesCompleted.IsCompleted);
        gate.Set();
        await log.MovesCompleted;

        Assert.Equal("new 1|new 2|", tail);
        Assert.Equal(22, length);
        Assert.Equal(["a", "b"], segments.Select(k => k.Provider));
        Assert.Equal("old bytes|new 1|new 2|", ReadAll(log));
        Assert.All(log.StoredSegments, k => Assert.Equal("b", k.Provider));
        Assert.Equal(0, log.UnstoredBytes);
    }

    [Fact]
    public async Task Write_FailedSinkUnreadable_NewSinkStartsAtCurrentOffset()
    {
        var primary = new FakeStorageProvider("a", 0);
        var backup = new FakeStorageProvider("b", 1);
        var log = new OutputLog("id", Ranking(primary, backup), NullLogger.Instance);
        await Write(log, "lost ");
        primary.FailAppend = true;
        primary.FailRead = true;

        await Write(log, "kept");
        await log.MovesCompleted;

        Assert.Equal(5, log.FirstReadableOffset);
        Assert.Equal(5, log.UnstoredBytes);
        Assert.Equal("kept", ReadAll(log, 5));
        var n = log.Read(0, new byte[10], out var readFrom);
        Assert.Equal(5, readFrom);
        Assert.Equal(4, n);
    }

    [Fact]
    public async Task Write_EveryProviderFails_OutputStillReachesLiveReadersAndIsCounted()
    {
        var only = new FakeStorageProvider("a");
        var log = new OutputLog("id", Ranking(only), NullLogger.Instance);
        var reader = log.Subscribe();
        only.FailAppend = true;

        await Write(log, "streamed");
        log.Complete();

        var piece = await reader.NextAsync(CancellationToken.None);
        Assert.Equal("streamed", Encoding.UTF8.GetString(piece!.Value.Data.Span));
        Assert.Equal(8, log.UnstoredBytes);
        Assert.Null(log.Provider);
    }

    [Fact]
    public async Task Open_FirstProviderCannotOpen_UsesNext()
    {
        var broken = new FakeStorageProvider("a", 0) { FailOpen = true };
        var backup = new FakeStorageProvider("b", 1);
        var log = new OutputLog("id", Ranking(broken, backup), NullLogger.Instance);

        await Write(log, "x");

        Assert.Equal("b", log.Provider);
        Assert.Equal("x", ReadAll(log));
    }

    private static async Task<List<(OutputStream Stream, long Offset, string Text)>> ReadToEnd(OutputReader reader)
    {
        var pieces = new List<(OutputStream, long, string)>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 100_000 && await reader.NextAsync(timeout.Token) is { } p; i++)
        {
            if (!p.IsTick)
            {
                pieces.Add((p.Stream, p.Offset, Encoding.UTF8.GetString(p.Data.Span)));
            }
        }
        return pieces;
    }

    [Fact]
    public async Task Subscribe_ReceivesChunksInOrderWithOffsetsAndEndsOnComplete()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var reader = log.Subscribe();

        await Write(log, "one");
        await Write(log, "two", OutputStream.Stderr);
        log.Complete();

        Assert.Equal([(OutputStream.Stdout, 0L, "one"), (OutputStream.Stderr, 3L, "two")], await ReadToEnd(reader));
        Assert.Equal(0, reader.Fallbacks);
    }

    [Fact]
    public async Task Write_StalledReader_NeverWaitsAndReaderCatchesUpFromStorageInOrder()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var stalled = log.Subscribe();
        var line = new string('x', 999) + "\n";
        var expected = new StringBuilder();

        // Three times the reader's memory bound, with nobody reading: every write returns at once.
        for (var i = 0; i < 3 * OutputReader.MaxQueuedBytes / 1000; i++)
        {
            var text = i % 7 == 0 ? "err " + line[4..] : line;
            var write = Write(log, text, i % 7 == 0 ? OutputStream.Stderr : OutputStream.Stdout);
            Assert.True(write.IsCompleted);
            expected.Append(text);
        }
        log.Complete();

        var pieces = await ReadToEnd(stalled);
        Assert.True(stalled.Fallbacks > 0);
        Assert.Equal(expected.ToString(), string.Concat(pieces.Select(p => p.Text)));
        // Offsets are contiguous and each piece carries the stream that wrote it.
        var at = 0L;
        foreach (var (stream, offset, text) in pieces)
        {
            Assert.Equal(at, offset);
            Assert.Equal(text.StartsWith("err", StringComparison.Ordinal) ? OutputStream.Stderr : OutputStream.Stdout, stream);
            at += text.Length;
        }
    }

    [Fact]
    public async Task Subscribe_FromOffset_StartsThereAndFollowsLive()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        await Write(log, "0123456789");
        var reader = log.Subscribe(from: 4);
        var first = await reader.NextAsync(CancellationToken.None);
        Assert.Equal((4L, "456789"), (first!.Value.Offset, Encoding.UTF8.GetString(first.Value.Data.Span)));

        var next = reader.NextAsync(CancellationToken.None).AsTask();
        Assert.False(next.IsCompleted);
        await Write(log, "ab");
        var live = await next.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((10L, "ab"), (live!.Value.Offset, Encoding.UTF8.GetString(live.Value.Data.Span)));
        log.Complete();
        Assert.Null(await reader.NextAsync(CancellationToken.None));
    }

    [Fact]
    public async Task StreamAt_ReportsRunsOfEachStream()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        await Write(log, "aa");
        await Write(log, "bb");
        await Write(log, "E", OutputStream.Stderr);
        await Write(log, "c");

        Assert.Equal((OutputStream.Stdout, 4L), log.StreamAt(0));
        Assert.Equal((OutputStream.Stdout, 4L), log.StreamAt(3));
        Assert.Equal((OutputStream.Stderr, 5L), log.StreamAt(4));
        Assert.Equal((OutputStream.Stdout, long.MaxValue), log.StreamAt(5));
    }

    [Fact]
    public async Task Complete_SealsTheSink()
    {
        var provider = new FakeStorageProvider("a");
        var log = new OutputLog("id", Ranking(provider), NullLogger.Instance);
        await Write(log, "x");

        log.Complete();

        Assert.True(provider.Sinks.Single().Completed);
        Assert.True(log.IsCompleted);
    }
}
