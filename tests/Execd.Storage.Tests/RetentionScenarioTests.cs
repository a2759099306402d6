using System.Net;

namespace Execd.Storage.Tests;

/// <summary>Retention by age and by total size, the per-command cap, and the bounded registry, on the real daemon.</summary>
public sealed class RetentionScenarioTests
{
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        T value;
        while (!done(value = await probe()) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        return value;
    }

    [Fact]
    public async Task FinishedOutput_AfterItsTtl_IsDeletedButTheRecordStays()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Storage:Retention:FinishedOutputTtl"] = "00:00:00.5" });
        var files = Path.Combine(daemon.StorageDirectory!.Path, "files");

        var result = await daemon.RunAsync("seq 1 1000");
        Assert.Equal(Scenario.SeqLines(1, 1000), await daemon.Client.LogLinesAsync(result.Id!));
        Assert.Single(Directory.GetFiles(files, result.Id + ".*.log"));

        var left = await EventuallyAsync(() => Task.FromResult(Directory.GetFiles(files, result.Id + ".*.log")), f => f.Length == 0);

        Assert.Empty(left);
        Assert.Empty(await daemon.Client.LogBytesAsync(result.Id!));
        var status = await daemon.Client.StatusAsync(result.Id!);
        Assert.Equal(3893, (long)status["output_bytes"]!);
    }

    [Fact]
    public async Task TotalOverBudget_DeletesOldestFinishedFirstAndNeverARunningCommand()
    {
        // Each seq 1 30000 prints 168,894 bytes; the budget holds two of them.
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Storage:Retention:MaxTotalBytes"] = "400000" });
        var running = await daemon.Client.StartBackgroundAsync("seq 1 30000; sleep 30");
        await EventuallyAsync(() => daemon.Client.StatusAsync(running), s => (long)s["output_bytes"]! == 168_894);

        var older = await daemon.RunAsync("seq 1 30000");
        var newer = await daemon.RunAsync("seq 1 30000");
        var olderLogs = await EventuallyAsync(() => daemon.Client.LogBytesAsync(older.Id!), b => b.Length == 0);

        Assert.Empty(olderLogs);
        Assert.Equal(Scenario.SeqLines(1, 30000), await daemon.Client.LogLinesAsync(newer.Id!));
        Assert.Equal(Scenario.SeqLines(1, 30000), await daemon.Client.LogLinesAsync(running));
        Assert.True((bool)(await daemon.Client.StatusAsync(running))["running"]!);
        await daemon.Client.DeleteAsync($"/command?id={running}");
    }

    [Fact]
    public async Task OutputOverTheCap_KeepsHeadAndTailAndCountsTheDroppedBytesExactly()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            ["Storage:Output:MaxBytesPerCommand"] = "100000",
            ["Storage:Output:HeadBytes"] = "20000",
        });
        var expectedLines = Scenario.SeqLines(1, 100_000);
        var expected = System.Text.Encoding.ASCII.GetBytes(string.Join("\n", expectedLines) + "\n");

        var result = await daemon.RunAsync("seq 1 100000");
        var status = await daemon.Client.StatusAsync(result.Id!);
        var logs = await daemon.Client.LogBytesAsync(result.Id!);

        Assert.Equal(expectedLines, result.Texts("stdout"));
        var dropped = (long)status["output_dropped_bytes"]!;
        var tail = expected.Length - 20000 - dropped;
        Assert.InRange(tail, 60_001, 80_000);
        Assert.Equal(expected.Length, logs.Length);
        Assert.True(expected.AsSpan(0, 20000).SequenceEqual(logs.AsSpan(0, 20000)));
        Assert.True(logs.AsSpan(20000, (int)dropped).IndexOfAnyExcept((byte)0) < 0, "the dropped middle reads as NUL");
        Assert.True(expected.AsSpan((int)(20000 + dropped)).SequenceEqual(logs.AsSpan((int)(20000 + dropped))));
        var fromGap = await daemon.Client.LogBytesAsync(result.Id!, 30000);
        Assert.Equal(expected.Length - 30000, fromGap.Length);
    }

    [Fact]
    public async Task ManyFinishedCommands_OldestRecordsAreForgotten()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Storage:Retention:MaxFinishedCommands"] = "5" });
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add((await daemon.RunAsync($"echo {i}")).Id!);
        }

        var oldest = await EventuallyAsync(() => daemon.Client.GetAsync($"/command/status/{ids[6]}"), r => r.StatusCode == HttpStatusCode.NotFound);

        Assert.Equal(HttpStatusCode.NotFound, oldest.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await daemon.Client.GetAsync($"/command/status/{ids[0]}")).StatusCode);
        foreach (var id in ids.TakeLast(5))
        {
            Assert.Equal(HttpStatusCode.OK, (await daemon.Client.GetAsync($"/command/status/{id}")).StatusCode);
        }
    }
}
