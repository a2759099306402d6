using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>
/// <c>Get-ExecdFleetOutput</c> against a real <c>redis-server</c> (started and stopped by the test): a real daemon with
/// the Redis provider on top stores commands' output, the daemon and its directories are removed, and the cmdlet reads
/// the output from Redis alone.
/// </summary>
public sealed class FleetOutputCmdletTests : IDisposable
{
    private const string Sandbox = "sb-pwsh";
    private readonly RedisServer _redis = RedisServer.Start();
    private readonly TestDirectory _dir = TestPaths.NewDirectory("fleet-pwsh");
    private readonly Pwsh _pwsh = new();

    public void Dispose()
    {
        _pwsh.Dispose();
        _redis.Dispose();
        _dir.Dispose();
    }

    /// <summary>Runs <paramref name="commands"/> on a daemon whose top provider is Redis, then stops it and deletes its directories.</summary>
    private async Task<string[]> StoreInRedisAndRemoveTheDaemonAsync(params string[] commands)
    {
        var ids = new List<string>();
        await using (var daemon = await StartDaemonAsync(_redis.Configuration))
        {
            await WaitRedisOnTopAsync(daemon);
            foreach (var command in commands)
            {
                var result = await daemon.RunAsync(command);
                Assert.Equal(0, result.ExitCode);
                ids.Add(result.Id!);
            }
        }
        _dir.Dispose();
        Assert.False(Directory.Exists(_dir.Path), "left after the daemon stopped: "
            + string.Join(", ", Directory.Exists(_dir.Path) ? Directory.EnumerateFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories) : []));
        return [.. ids];
    }

    private Task<Daemon> StartDaemonAsync(string redisConfiguration) => Daemon.StartAsync(RedisServer.DaemonSettings(redisConfiguration, _dir, Sandbox));

    private static async Task WaitRedisOnTopAsync(Daemon daemon)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var top = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/storage"))!["providers"]![0]!;
            if ((string?)top["name"] == "redis" && (string?)top["status"] == "Healthy")
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"the redis provider did not rank first and Healthy: {top}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task GetExecdStorageProvider_ShowsTheRedisProviderLikeTheOthers_WithoutItsPassword()
    {
        using var secured = RedisServer.Start(password: "s3cret-Pw");
        await using var daemon = await StartDaemonAsync(secured.Configuration);
        await WaitRedisOnTopAsync(daemon);

        var r = _pwsh.Run("$p = Get-ExecdStorageProvider -Uri $u; $p; $p | Format-Table | Out-String -Width 400", ("u", daemon.BaseAddress))
            .AssertNoErrors();

        var providers = r.Of("ExecdStorageProvider");
        var redis = providers[0];
        Assert.Equal(("redis", "redis", 1, "Healthy"), ((string)redis.Name, (string)redis.Kind, (int)redis.Rank, (string)redis.Status));
        Assert.Equal($"127.0.0.1:{secured.Port}", (string)redis.Location);
        Assert.Contains(providers, p => p.Kind == "files");
        Assert.Contains("redis", r.Lines.Single());
        Assert.DoesNotContain("s3cret-Pw", r.Lines.Single() + string.Join("|", providers.Select(p => (string?)p.Reason)));
    }

    [Fact]
    public async Task GetExecdFleetOutput_AfterTheDaemonIsGone_WritesTheCommandsLines()
    {
        var ids = await StoreInRedisAndRemoveTheDaemonAsync("printf 'one\\ntwo\\n'; echo three >&2");

        var r = _pwsh.Run("Get-ExecdFleetOutput -Redis $c -SandboxId $s -CommandId $id", ("c", _redis.Configuration), ("s", Sandbox), ("id", ids[0]))
            .AssertNoErrors();

        Assert.Equal(["one", "three", "two"], r.Lines.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task GetExecdFleetOutput_RawWithoutCommandId_WritesEveryCommandOfTheSandboxWithItsRecord()
    {
        var ids = await StoreInRedisAndRemoveTheDaemonAsync("echo first", "seq 1 500");

        var r = _pwsh.Run("$o = Get-ExecdFleetOutput -Redis $c -SandboxId $s -Raw; $o; $o | Format-Table | Out-String -Width 300",
            ("c", _redis.Configuration), ("s", Sandbox)).AssertNoErrors();

        var outputs = r.Of("ExecdFleetOutput");
        Assert.Equal(ids, outputs.Select(o => (string)o.CommandId));
        Assert.All(outputs, o => Assert.Equal("completed", (string)o.State));
        Assert.Equal("first\n", (string)outputs[0].Text);
        Assert.Equal(string.Concat(Enumerable.Range(1, 500).Select(i => $"{i}\n")), (string)outputs[1].Text);
        Assert.Equal(outputs[1].Text.Length, (int)(long)outputs[1].Length);
        Assert.Contains("completed", r.Lines.Single());
    }

    [Fact]
    public async Task GetExecdFleetOutput_UnknownCommand_IsANonTerminatingNotFoundError_AndTheOthersAreStillRead()
    {
        var ids = await StoreInRedisAndRemoveTheDaemonAsync("echo known");

        var r = _pwsh.Run("'no-such-command', $id | Get-ExecdFleetOutput -Redis $c -SandboxId $s", ("c", _redis.Configuration), ("s", Sandbox), ("id", ids[0]));

        Assert.Null(r.Thrown);
        var error = Assert.Single(r.Errors);
        Assert.Equal("FleetOutputNotFound,Execd.PowerShell.Cmdlets.GetExecdFleetOutputCommand", error.FullyQualifiedErrorId);
        Assert.Contains("no-such-command", error.Exception.Message);
        Assert.Equal(["known"], r.Lines);
    }

    [Fact]
    public async Task GetExecdFleetOutput_RecordNotCompleted_WarnsThatTheTextMayBePartial_AndWritesIt()
    {
        var ids = await StoreInRedisAndRemoveTheDaemonAsync("echo partial");
        // What a daemon that died mid-command, or moved the output to another provider, leaves in Redis.
        _redis.Cli("HSET", $"execd:{Sandbox}:cmd:{ids[0]}", "state", "running");

        var r = _pwsh.Run("Get-ExecdFleetOutput -Redis $c -SandboxId $s -CommandId $id 3>&1", ("c", _redis.Configuration), ("s", Sandbox), ("id", ids[0]))
            .AssertNoErrors();

        var warning = Assert.Single(r.Output.OfType<WarningRecord>());
        Assert.Contains("'running'", warning.Message);
        Assert.Contains("partial", warning.Message);
        Assert.Equal(["partial"], r.Lines);
    }

    [Fact]
    public void GetExecdFleetOutput_SeveralStreams_WritesTheNewestAndWarnsThatThereAreMore()
    {
        // The schema by hand: a command whose output was written as two segments.
        _redis.Cli("HSET", $"execd:{Sandbox}:cmd:seg", "state", "completed", "command_id", "seg");
        _redis.Cli("RPUSH", $"execd:{Sandbox}:cmd:seg:sinks", $"execd:{Sandbox}:cmd:seg:out:1", $"execd:{Sandbox}:cmd:seg:out:2");
        _redis.Cli("XADD", $"execd:{Sandbox}:cmd:seg:out:1", "*", "o", "0", "d", "head\n");
        _redis.Cli("XADD", $"execd:{Sandbox}:cmd:seg:out:2", "*", "o", "0", "d", "tail\n");

        var r = _pwsh.Run("Get-ExecdFleetOutput -Redis $c -SandboxId $s seg 3>&1", ("c", _redis.Configuration), ("s", Sandbox)).AssertNoErrors();

        Assert.Contains("2 streams", Assert.Single(r.Output.OfType<WarningRecord>()).Message);
        Assert.Equal(["tail"], r.Lines);
    }

    [Fact]
    public void GetExecdFleetOutput_OverTlsWithAPrivateCa_ReadsWithTrustIssuer_AndFailsWithoutIt()
    {
        using var tls = RedisServer.Start(tls: true);
        // The schema by hand, as any writer following the README would leave it.
        tls.Cli("HSET", $"execd:{Sandbox}:cmd:t1", "state", "completed", "command_id", "t1");
        tls.Cli("RPUSH", $"execd:{Sandbox}:cmd:t1:sinks", $"execd:{Sandbox}:cmd:t1:out:1");
        tls.Cli("XADD", $"execd:{Sandbox}:cmd:t1:out:1", "*", "o", "0", "d", "secure line\n");

        var trusted = _pwsh.Run("Get-ExecdFleetOutput -Redis $c -SandboxId $s t1 -TrustIssuer $ca", ("c", tls.Configuration), ("s", Sandbox), ("ca", tls.CaPath))
            .AssertNoErrors();
        var untrusted = _pwsh.Run("try { Get-ExecdFleetOutput -Redis $c -SandboxId $s t1 } catch { $_ }", ("c", tls.Configuration), ("s", Sandbox));

        Assert.Equal(["secure line"], trusted.Lines);
        Assert.Equal("RedisUnreachable,Execd.PowerShell.Cmdlets.GetExecdFleetOutputCommand",
            Assert.IsType<ErrorRecord>(Assert.Single(untrusted.Output)).FullyQualifiedErrorId);
    }

    [Fact]
    public void GetExecdFleetOutput_RedisUnreachable_IsATerminatingConnectionErrorThatNeverShowsThePassword()
    {
        _redis.Kill();

        // try/catch catches terminating errors only: a non-terminating one would let 'went on' through.
        var r = _pwsh.Run("try { Get-ExecdFleetOutput -Redis ($c + ',password=s3cret-Pw') -SandboxId $s -CommandId x; 'went on' } catch { $_ }",
            ("c", _redis.Configuration), ("s", Sandbox));

        var error = Assert.IsType<ErrorRecord>(Assert.Single(r.Output));
        Assert.Equal("RedisUnreachable,Execd.PowerShell.Cmdlets.GetExecdFleetOutputCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        Assert.Contains($"127.0.0.1:{_redis.Port}", error.Exception.Message);
        Assert.DoesNotContain("s3cret-Pw", error.Exception.Message + error);
    }

    [Fact]
    public async Task RealPwsh_ImportModule_LoadsTheRedisClientFromTheModuleFolder_AndReadsTheOutput()
    {
        var ids = await StoreInRedisAndRemoveTheDaemonAsync("echo from-redis");
        var restore = await DotnetCli.RunAsync(TestPaths.Root, ["tool", "restore"], TimeSpan.FromMinutes(5));
        Assert.True(restore.ExitCode == 0, restore.Output);

        var run = await DotnetCli.RunAsync(TestPaths.Root, ["pwsh", "-NoProfile", "-NonInteractive", "-Command",
            $"Import-Module ./execd.psd1; Get-ExecdFleetOutput -Redis '{_redis.Configuration}' -SandboxId {Sandbox} -CommandId {ids[0]}"],
            TimeSpan.FromMinutes(2));

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal("from-redis", run.Stdout.Trim());
    }
}
