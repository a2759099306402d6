namespace Execd.Server.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    /// <summary>Tests that count the test process's own descriptors: nothing else may run meanwhile.</summary>
    public const string Name = "alone";
}

/// <summary>Issue 11 finding 4: a finished command holds no file descriptor.</summary>
[Collection(AloneCollection.Name)]
public sealed class DescriptorTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    /// <summary>
    /// Open descriptors other than sockets and assemblies: a finished command's output file and pipes are what leaked. Sockets are
    /// the test client's connections (its pool opens another when one is still busy); the runtime keeps two descriptors open per
    /// loaded assembly, and this test process loads some late (seen: Microsoft.Extensions.FileSystemGlobbing, System.Net.Quic).
    /// </summary>
    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Count(fd =>
    {
        try
        {
            return new FileInfo(fd).LinkTarget is not { } target
                || !(target.StartsWith("socket:", StringComparison.Ordinal) || target.EndsWith(".dll", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;   // closed meanwhile
        }
    });

    private async Task RunEchoesAsync(int count, bool background)
    {
        for (var i = 0; i < count; i++)
        {
            var result = await _daemon.RunAsync("echo hi", background ? new { background = true } : null);
            if (background)
            {
                await _daemon.WaitFinishedAsync(result.Id!);
            }
            else
            {
                Assert.Equal(0, result.ExitCode);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SequentialEchoes_DoNotGrowTheDaemonsDescriptors(bool background)
    {
        await RunEchoesAsync(20, background); // warm-up: pools, the client's connection, the reaper's eventfd
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = OpenDescriptors();

        await RunEchoesAsync(200, background);
        // Work that follows a command's end off its path (sealing its output, its end record, releasing its cgroup) may hold a
        // descriptor for a moment: a leak stays, so wait (bounded) for those to settle before counting.
        var after = OpenDescriptors();
        for (var settle = 0; after - before > 3 && settle < 50; settle++)
        {
            await Task.Delay(100);
            after = OpenDescriptors();
        }

        // Before the fix every finished command kept 3 (its output file and two pipes until a GC): +600 here.
        Assert.True(after - before <= 3, $"descriptors before {before}, after 200 commands {after}");
    }
}
