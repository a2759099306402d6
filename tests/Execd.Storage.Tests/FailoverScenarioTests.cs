using System.Text.Json.Nodes;

namespace Execd.Storage.Tests;

/// <summary>
/// The real daemon with file providers on directories the test owns (A first, then B): the directory is
/// deleted, fills up, turns read-only, or every file provider is broken — and no command, no line is lost.
/// </summary>
public sealed class FailoverScenarioTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("failover");

    private string A => _dir.Combine("a");
    private string B => _dir.Combine("b");

    private Task<Daemon> StartAsync(string first, Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = $"{first}:{B}",
            [Daemon.TmpfsDirectoriesKey] = _dir.Combine("tmpfs"),
            ["Storage:Health:Interval"] = "00:00:01",
        };
        foreach (var (k, v) in more ?? [])
        {
            settings[k] = v;
        }
        return Daemon.StartAsync(settings);
    }

    private static async Task AssertForegroundAsync(Daemon daemon, string command, string[] expected)
    {
        var result = await daemon.RunAsync(command);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(expected, result.Texts("stdout"));
        Assert.Equal(expected, await daemon.Client.LogLinesAsync(result.Id!));
    }

    private static async Task AssertBackgroundAsync(Daemon daemon, string command, string[] expected)
    {
        var id = await daemon.Client.StartBackgroundAsync(command);
        var status = await daemon.Client.WaitFinishedAsync(id);
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal(expected, await daemon.Client.LogLinesAsync(id));
    }

    [Fact]
    public async Task DirectoryDeleted_Then100ForegroundAnd100Background_AllSucceedWithFullOutput()
    {
        await using var daemon = await StartAsync(A);
        // The first health evaluation (which creates the directory) runs beside start-up; /admin/storage waits for it.
        await daemon.Client.GetStringAsync("/admin/storage");
        Directory.Delete(A, recursive: true);

        await Scenario.ForAllAsync(200, 8, i =>
        {
            var command = $"echo start-{i}; seq 1 50; echo end-{i}";
            string[] expected = [$"start-{i}", .. Scenario.SeqLines(1, 50), $"end-{i}"];
            return i % 2 == 0 ? AssertForegroundAsync(daemon, command, expected) : AssertBackgroundAsync(daemon, command, expected);
        });
    }

    [Fact]
    public async Task DirectoryDeletedWhile20CommandsPrint_EveryLineOnTheStreamAndInTheLogs()
    {
        await using var daemon = await StartAsync(A);
        const string command = "for i in $(seq 1 150); do echo line-$i; sleep 0.01; done";
        var expected = Scenario.SeqLines(1, 150, "line-");
        var foreground = Enumerable.Range(0, 10).Select(_ => daemon.RunAsync(command)).ToList();
        var background = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => daemon.Client.StartBackgroundAsync(command)));
        await Task.Delay(600);

        // Like `rm -rf` racing a busy daemon: commands starting meanwhile create their FIFOs and records in it, so retry.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(A, recursive: true);
                break;
            }
            catch (IOException) when (attempt < 50)
            {
                await Task.Delay(20);
            }
        }

        var streams = await Task.WhenAll(foreground);
        var ids = streams.Select(s => s.Id!).Concat(background).ToList();
        foreach (var stream in streams)
        {
            Assert.Equal(0, stream.ExitCode);
            Assert.Equal(expected, stream.Texts("stdout"));
        }
        foreach (var id in ids)
        {
            var status = await daemon.Client.WaitFinishedAsync(id);
            Assert.Equal(expected, await daemon.Client.LogLinesAsync(id));
            Assert.True((bool)status["output_moved"]!, status.ToJsonString());
            Assert.Equal($"files:{A}", (string?)status["output_providers"]![0]);
            Assert.Equal(0, (long?)status["output_unstored_bytes"] ?? 0);
        }
    }

    [RootFact("mounts a small tmpfs")]
    public async Task DiskFullWhileWriting_OutputMovesAndNothingIsLost()
    {
        using var tiny = Mount.Tmpfs(_dir.Combine("tiny"), "1m");
        await using var daemon = await StartAsync(Path.Combine(tiny.Path, "execd"), new() { ["Storage:Files:MinFreeBytes"] = "0" });
        // 1,288,895 bytes each: more than the 1 MiB file system holds.
        var expected = Scenario.SeqLines(1, 200_000);

        var result = await daemon.RunAsync("seq 1 200000");
        // The failed sink was deleted, so the tiny file system is usable again: wait until it is ranked first again.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((string?)(await daemon.Client.ProvidersAsync())[0]!["name"] != $"files:{tiny.Path}/execd" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        var id = await daemon.Client.StartBackgroundAsync("seq 1 200000");
        var status = await daemon.Client.WaitFinishedAsync(id);

        Assert.Equal(expected, result.Texts("stdout"));
        Assert.Equal(expected, await daemon.Client.LogLinesAsync(result.Id!));
        Assert.Equal(expected, await daemon.Client.LogLinesAsync(id));
        var first = await daemon.Client.StatusAsync(result.Id!);
        Assert.True((bool)first["output_moved"]!, first.ToJsonString());
        Assert.Equal([$"files:{tiny.Path}/execd", $"files:{B}"], first["output_providers"]!.AsArray().Select(p => (string?)p));
        Assert.Equal(1_288_895, (long)status["output_bytes"]!);
        Assert.True((bool)status["output_moved"]!, status.ToJsonString());
    }

    [RootFact("bind-mounts a directory read-only")]
    public async Task ReadOnlyDirectory_CommandsGoToTheNextProviderAndAdminSaysWhy()
    {
        Directory.CreateDirectory(A);
        using var readOnly = Mount.ReadOnly(A);
        await using var daemon = await StartAsync(A);

        await AssertForegroundAsync(daemon, "seq 1 1000", Scenario.SeqLines(1, 1000));
        await AssertBackgroundAsync(daemon, "seq 1 1000", Scenario.SeqLines(1, 1000));

        var providers = await daemon.Client.ProvidersAsync();
        var a = providers.Single(p => (string?)p!["name"] == $"files:{A}")!;
        Assert.Equal("Unhealthy", (string?)a["status"]);
        Assert.Contains("read-only", (string?)a["reason"]);
        Assert.Equal($"files:{B}", (string?)providers[0]!["name"]);
    }

    [Fact]
    public async Task EveryFileProviderBroken_CommandsStillRunAndOutputIsKeptInMemory()
    {
        var blocker = _dir.Combine("blocker");
        File.WriteAllText(blocker, "a file, so nothing can be created under it");
        var settings = new Dictionary<string, string?> { [Daemon.FilesDirectoriesKey] = $"{blocker}/a:{blocker}/b" };
        await using var daemon = await Daemon.StartAsync(settings);

        await Scenario.ForAllAsync(20, 5, i => i % 2 == 0
            ? AssertForegroundAsync(daemon, $"seq 1 {100 + i}", Scenario.SeqLines(1, 100 + i))
            : AssertBackgroundAsync(daemon, $"seq 1 {100 + i}", Scenario.SeqLines(1, 100 + i)));

        var health = JsonNode.Parse(await daemon.Client.GetStringAsync("/healthz"))!;
        Assert.Equal("Degraded", (string?)health["status"]);
        Assert.Equal("Unhealthy", (string?)health["entries"]![$"files:{blocker}/a"]!["status"]);
        Assert.Equal("memory", (string?)(await daemon.Client.ProvidersAsync())[0]!["name"]);
    }

    [Fact]
    public async Task EveryProviderFull_CommandsStillRunAndStreamAndStatusCountsUnstoredBytes()
    {
        var blocker = _dir.Combine("blocker");
        File.WriteAllText(blocker, "a file");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = $"{blocker}/a",
            ["Storage:Memory:BudgetBytes"] = "65536",
        });

        var result = await daemon.RunAsync("seq 1 100000");

        Assert.Equal(Scenario.SeqLines(1, 100_000), result.Texts("stdout"));
        var status = await daemon.Client.StatusAsync(result.Id!);
        Assert.Equal(588_895, (long)status["output_bytes"]!);
        Assert.True((long)status["output_unstored_bytes"]! > 0, status.ToJsonString());
    }

    public void Dispose() => _dir.Dispose();
}
