using Execd.Core.Commands;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Execd.Storage.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Storage.Tests;

/// <summary>The per-command cap of <see cref="OutputLog"/>, on the real memory provider.</summary>
public sealed class OutputLogCapTests
{
    private static (OutputLog Log, IOutputStorageProvider Provider) NewLog(OutputCaps caps)
    {
        var services = new ServiceCollection();
        new MemoryStoragePlugin().Register(services, new ConfigurationBuilder().Build());
        var provider = services.BuildServiceProvider().GetRequiredService<IOutputStorageProvider>();
        var plugin = new PluginInfo("memory", "memory.dll");
        var ranking = new StorageRanking([new PluginContribution(plugin, typeof(IOutputStorageProvider), _ => provider, "memory")],
            new ServiceCollection().BuildServiceProvider(), NullLogger<StorageRanking>.Instance);
        return (new OutputLog("id", ranking, NullLogger.Instance, caps), provider);
    }

    private static byte[] Pattern(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)('a' + i % 26))];

    private static byte[] ReadAll(OutputLog log)
    {
        var result = new byte[log.Length];
        var offset = 0L;
        while (log.Read(offset, result.AsSpan((int)offset), out var from) is var n and > 0)
        {
            Assert.Equal(offset, from);
            offset += n;
        }
        return result;
    }

    [Fact]
    public async Task Write_OverTheCap_KeepsHeadAndTailAndDropsTheMiddleExactly()
    {
        var (log, provider) = NewLog(new OutputCaps(1000, 300));
        var data = Pattern(10_000);

        for (var i = 0; i < data.Length; i += 97)
        {
            await log.WriteAsync(OutputStream.Stdout, data.AsMemory(i, Math.Min(97, data.Length - i)));
        }
        log.Complete();

        var tail = log.StoredBytes - 300;
        Assert.InRange(tail, 526, 700);
        Assert.Equal(10_000 - 300 - tail, log.DroppedBytes);
        var back = ReadAll(log);
        Assert.True(data.AsSpan(0, 300).SequenceEqual(back.AsSpan(0, 300)));
        Assert.True(back.AsSpan(300, (int)log.DroppedBytes).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(data.AsSpan((int)(10_000 - tail)).SequenceEqual(back.AsSpan((int)(10_000 - tail))));
        Assert.True(provider.BytesHeld <= 16 * 1024, $"memory held {provider.BytesHeld}");
    }

    [Fact]
    public async Task Write_UnderTheCap_KeepsEverything()
    {
        var (log, _) = NewLog(new OutputCaps(1000, 300));
        var data = Pattern(1000);

        await log.WriteAsync(OutputStream.Stdout, data);

        Assert.Equal(0, log.DroppedBytes);
        Assert.Equal(data, ReadAll(log));
    }

    [Fact]
    public async Task Delete_ReleasesEverySegment()
    {
        var (log, provider) = NewLog(new OutputCaps(1000, 300));
        await log.WriteAsync(OutputStream.Stdout, Pattern(5000));

        log.Delete();

        Assert.Equal(0, provider.BytesHeld);
        Assert.Equal(0, provider.SinksHeld);
        Assert.Equal(5000, log.FirstReadableOffset);
        Assert.Equal(0, log.Read(0, new byte[10], out _));
    }
}
