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

    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

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
        var after = OpenDescriptors();

        // Before the fix every finished command kept 3 (its output file and two pipes until a GC): +600 here.
        Assert.True(after - before <= 3, $"descriptors before {before}, after 200 commands {after}");
    }
}
