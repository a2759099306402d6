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

        Assert.Equal("first part, second part", ReadAll(log));
        Assert.Equal("second part", ReadAll(log, 12));
        Assert.Equal(["a", "b"], log.ProviderHistory);
        Assert.Equal("first part, second part", Encoding.UTF8.GetString(backup.Sinks.Single().Bytes));
        Assert.True(primary.Sinks.Single().Deleted);
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

        Assert.Equal(5, log.FirstReadableOffset);
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

        Assert.True(reader.TryRead(out var chunk));
        Assert.Equal("streamed", Encoding.UTF8.GetString(chunk.Data.Span));
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

    [Fact]
    public async Task Subscribe_ReceivesChunksInOrderAndEndsOnComplete()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var reader = log.Subscribe();

        await Write(log, "one");
        await Write(log, "two", OutputStream.Stderr);
        log.Complete();

        var chunks = new List<(OutputStream, string)>();
        await foreach (var c in reader.ReadAllAsync())
        {
            chunks.Add((c.Stream, Encoding.UTF8.GetString(c.Data.Span)));
        }
        Assert.Equal([(OutputStream.Stdout, "one"), (OutputStream.Stderr, "two")], chunks);
    }

    [Fact]
    public async Task Unsubscribe_ReleasesAWriterBlockedOnAFullReader()
    {
        var log = new OutputLog("id", Ranking(new FakeStorageProvider("a")), NullLogger.Instance);
        var reader = log.Subscribe(capacity: 1);
        await Write(log, "fills the reader");
        var blocked = Write(log, "waits").AsTask();
        Assert.False(blocked.IsCompleted);

        log.Unsubscribe(reader);

        await blocked.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("fills the readerwaits", ReadAll(log));
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
