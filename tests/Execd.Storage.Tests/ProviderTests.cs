extern alias tmpfs;
using Execd.Storage.Files;
using Execd.Storage.Memory;
using Execd.Testing.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TmpfsPlugin = tmpfs::Execd.Storage.Tmpfs.TmpfsStoragePlugin;

namespace Execd.Storage.Tests;

/// <summary>Replaces a directory with a regular file: nothing can be created in it or re-create it, even as root.</summary>
internal static class Breaker
{
    public static void ReplaceWithFile(string directory)
    {
        Directory.Delete(directory, recursive: true);
        File.WriteAllText(directory, "not a directory");
    }
}

public sealed class FilesProviderTests : StorageProviderConformance
{
    private string Store => Dir.Combine("store");

    protected override IExecdPlugin CreatePlugin() => new FilesStoragePlugin();

    protected override Dictionary<string, string?> Settings()
    {
        Directory.CreateDirectory(Store);
        return new()
        {
            ["Storage:Files:Directories"] = Store,
            ["Storage:Files:DeletionCheckInterval"] = "00:00:00",
        };
    }

    protected override void Break(IOutputStorageProvider provider) => Breaker.ReplaceWithFile(Store);

    [Fact]
    public async Task Health_DirectoryDeleted_RecreatesItWithTheModeAndSaysSo()
    {
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync()).Status);
        Directory.Delete(Store, recursive: true);

        var healed = await CheckAsync();
        var next = await CheckAsync();

        Assert.Equal(HealthStatus.Degraded, healed.Status);
        Assert.Contains("re-created", healed.Description);
        Assert.True(Directory.Exists(Store));
        // The default mode, 0711: passable (a uid command reaches its files in capture/), not listable.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute,
            File.GetUnixFileMode(Store));
        Assert.Equal(HealthStatus.Healthy, next.Status);
    }

    [Fact]
    public void AppendFromPipe_MovesWhatThePipeHolds_AtTheEnd_ThenSaysEmptyThenEnd()
    {
        using var sink = Provider.Open("spliced");
        sink.Append("head:"u8);
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        var reader = pipe.SafePipeHandle;
        var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, pipe.ClientSafePipeHandle);
        writer.Write("one two three"u8);

        Assert.True(sink.CanAppendFromPipe);
        Assert.Equal(3, sink.AppendFromPipe(reader, 3));          // at most what was asked
        Assert.Equal(10, sink.AppendFromPipe(reader, 1 << 20));   // at most what the pipe holds
        Assert.Equal(-1, sink.AppendFromPipe(reader, 1 << 20));   // empty, a writer still holds it: never blocks
        writer.Write("!"u8);
        writer.Dispose();
        pipe.DisposeLocalCopyOfClientHandle();
        Assert.Equal(1, sink.AppendFromPipe(reader, 1 << 20));
        Assert.Equal(0, sink.AppendFromPipe(reader, 1 << 20));    // no writer left: the end

        Assert.Equal(19, sink.Length);
        var buffer = new byte[64];
        Assert.Equal("head:one two three!", System.Text.Encoding.ASCII.GetString(buffer, 0, sink.Read(0, buffer)));
        Assert.Equal(19, new FileInfo(Path.Combine(Store, sink.Key!)).Length);
    }

    [Fact]
    public void Sink_DirectoryDeleted_StillReadsWhatWasWrittenAndThrowsOnAppend()
    {
        using var sink = Provider.Open("gone");
        sink.Append("written before"u8);
        Directory.Delete(Store, recursive: true);

        var buffer = new byte[64];
        var n = sink.Read(0, buffer);
        var error = Record.Exception(() => sink.Append("after"u8));

        Assert.Equal("written before", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        Assert.IsType<IOException>(error);
        Assert.Contains("deleted", error.Message);
    }

    [Fact]
    public void Open_SegmentOfAPreviousDaemonThere_NewSinkBesideIt_OldOneUntouched()
    {
        // A new daemon numbers its sinks from 1 again: a command it re-adopted or re-indexed may already have <id>.1.log.
        _ = Provider;
        File.WriteAllText(Path.Combine(Store, "cmd.1.log"), "previous daemon");

        using var sink = Provider.Open("cmd");
        sink.Append("this daemon"u8);

        Assert.NotEqual("cmd.1.log", sink.Key);
        Assert.Equal("previous daemon", File.ReadAllText(Path.Combine(Store, "cmd.1.log")));
        Assert.Equal("this daemon", File.ReadAllText(Path.Combine(Store, sink.Key!)));
    }

    [RootFact("bind-mounts a directory read-only")]
    public async Task Health_ReadOnlyMount_FailsSayingReadOnly()
    {
        _ = Provider;
        using var mount = Mount.ReadOnly(Store);

        var result = await CheckAsync();

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("read-only", result.Description);
        Assert.ThrowsAny<IOException>(() => Provider.Open("ro"));
    }

    [RootFact("mounts a small tmpfs")]
    public async Task Health_FreeSpaceBelowThreshold_IsDegraded()
    {
        using var mount = Mount.Tmpfs(Dir.Combine("small"), "1m");
        var plugin = new FilesStoragePlugin();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        plugin.Register(services, new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Files:Directories"] = mount.Path,
        }).Build());
        using var sp = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var registration = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>(sp).Value.Registrations.Single();

        var result = await registration.Factory(sp).CheckHealthAsync(new HealthCheckContext { Registration = registration });

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("below the threshold", result.Description);
    }

    [Fact]
    public void Candidates_Default_FollowTheDocumentedOrderWithTheLogDirFirst()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Execd:LogDir"] = "/srv/logs" }).Build();
        var env = new Dictionary<string, string?> { ["TMPDIR"] = "/scratch", ["HOME"] = "/home/u" };

        var candidates = FilesStoragePlugin.Candidates(configuration, k => env.GetValueOrDefault(k));

        Assert.Equal(["/srv/logs", "/scratch/execd", Path.Combine(Environment.CurrentDirectory, ".tmp"), "/var/tmp/execd", "/home/u/.execd/logs"], candidates);
    }

    [Fact]
    public void Candidates_Configured_ReplaceTheChainAfterTheLogDir()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Execd:LogDir"] = "/srv/logs",
            ["Storage:Files:Directories"] = "/a:/b;/a",
        }).Build();

        Assert.Equal(["/srv/logs", "/a", "/b"], FilesStoragePlugin.Candidates(configuration, _ => null));
    }
}

public sealed class TmpfsProviderTests : StorageProviderConformance
{
    private const string NeedsRoot = "mounts a tmpfs";
    private readonly Mount? _mount;

    // Only root can mount: as non-root every test here is reported skipped with the reason (see Unavailable).
    public TmpfsProviderTests() => _mount = RootFactAttribute.IsRoot ? Mount.Tmpfs(Dir.Combine("shm"), "4m") : null;

    protected override string? Unavailable => _mount is null ? $"needs root: {NeedsRoot}" : null;

    private string Store => Path.Combine(_mount!.Path, "execd");

    protected override IExecdPlugin CreatePlugin() => new TmpfsPlugin();

    protected override Dictionary<string, string?> Settings()
    {
        Directory.CreateDirectory(Store);
        return new()
        {
            ["Storage:Tmpfs:Directories"] = Store,
            ["Storage:Tmpfs:DeletionCheckInterval"] = "00:00:00",
            ["Storage:Tmpfs:MinFreeBytes"] = "0",
            ["Storage:Tmpfs:BudgetBytes"] = "1048576",
        };
    }

    protected override void Break(IOutputStorageProvider provider) => Breaker.ReplaceWithFile(Store);

    [RootFact(NeedsRoot)]
    public void Append_BeyondTheBudget_ThrowsStorageFull()
    {
        using var sink = Provider.Open("big");
        sink.Append(new byte[1_000_000]);

        Assert.Throws<StorageFullException>(() => sink.Append(new byte[100_000]));
        Assert.Equal(1_000_000, sink.Length);
    }

    [RootFact(NeedsRoot)]
    public async Task Health_BudgetUsedUp_FailsSayingSo()
    {
        using var sink = Provider.Open("big");
        sink.Append(new byte[1_048_576]);

        var result = await CheckAsync();

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("budget", result.Description);
    }

    [Fact]
    public async Task NotATmpfs_IsUnhealthyAndRefusesSinks()
    {
        var disk = Dir.Combine("disk", "execd");
        var plugin = new TmpfsPlugin();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        plugin.Register(services, new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:Tmpfs:Directories"] = disk }).Build());
        using var sp = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var provider = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IOutputStorageProvider>(sp);
        var registration = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>(sp).Value.Registrations.Single();

        var result = await registration.Factory(sp).CheckHealthAsync(new HealthCheckContext { Registration = registration });

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("not on a tmpfs", result.Description);
        Assert.False(Directory.Exists(disk));
        Assert.ThrowsAny<IOException>(() => provider.Open("x"));
    }

    public override void Dispose()
    {
        _mount?.Dispose();
        base.Dispose();
    }
}

public sealed class MemoryProviderTests : StorageProviderConformance
{
    private const int Budget = 1024 * 1024;

    protected override IExecdPlugin CreatePlugin() => new MemoryStoragePlugin();

    protected override Dictionary<string, string?> Settings() => new() { ["Storage:Memory:BudgetBytes"] = Budget.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    // Fills the budget with one-byte sinks (each reserves the smallest block), leaving nothing.
    protected override void Break(IOutputStorageProvider provider)
    {
        for (var i = 0; i < Budget; i++)
        {
            var sink = provider.Open($"filler{i}");
            try
            {
                sink.Append([1]);
            }
            catch (StorageFullException)
            {
                sink.Dispose();
                return;
            }
        }
        throw new InvalidOperationException("the memory budget never filled up");
    }

    [Fact]
    public async Task Health_LittleBudgetLeft_IsDegraded()
    {
        using var sink = Provider.Open("most");
        sink.Append(new byte[Budget - 64 * 1024]);   // 15 of 16 blocks: under a tenth left

        var result = await CheckAsync();

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("left", result.Description);
    }
}
