using Execd.Core.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.Storage.Tests;

public sealed class DefaultDaemonTests
{
    // Where a daemon with default settings would store output on this machine.
    private static IEnumerable<string> MachineDefaults()
    {
        var tmp = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
        yield return Path.Combine(tmp, "execd");
        yield return "/tmp/execd";
        yield return "/var/tmp/execd";
        yield return "/dev/shm/execd";
        yield return Path.Combine(Environment.CurrentDirectory, ".tmp");
        if (Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home)
        {
            yield return Path.Combine(home, ".execd", "logs");
        }
    }

    [Fact]
    public async Task StartAsync_DefaultSettings_StoresOnlyInATestOwnedDirectoryAndCreatesNothingUnderTheRealTmp()
    {
        var before = MachineDefaults().Distinct().ToDictionary(d => d, Directory.Exists);
        string foreground, background;
        await using (var daemon = await Daemon.StartAsync())
        {
            var providers = daemon.Services.GetRequiredService<StorageRanking>().Providers;
            Assert.All(providers.Where(p => p.Kind != "memory"), p => Assert.StartsWith(daemon.StorageDirectory!.Path, p.Location));
            Assert.Contains(providers, p => p.Kind == "files");

            foreground = (await daemon.RunAsync("echo fg")).Id!;
            background = await daemon.Client.StartBackgroundAsync("echo bg");
            await daemon.Client.WaitFinishedAsync(background);
            Assert.Single(Directory.GetFiles(Path.Combine(daemon.StorageDirectory!.Path, "files"), foreground + ".*.log"));
            Assert.Single(Directory.GetFiles(Path.Combine(daemon.StorageDirectory!.Path, "files"), background + ".*.log"));
        }

        foreach (var (directory, existed) in before)
        {
            if (!existed)
            {
                Assert.False(Directory.Exists(directory), $"{directory} was created");
            }
            else
            {
                Assert.Empty(Directory.GetFiles(directory, foreground + ".*").Concat(Directory.GetFiles(directory, background + ".*")));
            }
        }
    }
}
