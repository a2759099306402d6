namespace Execd.Sessions.Tests;

public sealed class SessionReapingTests
{
    [Fact]
    public async Task IdleSession_IsReapedAfterTheConfiguredTime_AndItsShellIsGone()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:Sessions:IdleTimeout"] = "00:00:00.400" });
        var idle = await daemon.CreateAsync();
        var pid = int.Parse((await daemon.RunInAsync(idle, "echo $$")).Stdout.Single());

        // A session that keeps running is not idle.
        var busy = await daemon.CreateAsync();
        var running = daemon.RunInAsync(busy, "sleep 2; echo still");

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await daemon.ListAsync()).Any(e => (string?)e!["id"] == idle) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        var run = await daemon.RunInAsync(idle, "echo never");

        Assert.Equal(404, run.Status);
        Assert.Contains("reaped after 400ms idle", (string?)run.Body!["message"]);
        Assert.True(await ProcessCheck.GoneWithinAsync(pid, TimeSpan.FromSeconds(3)));
        Assert.Equal(["still"], (await running).Stdout);
    }

    [Fact]
    public async Task Shutdown_KillsEverySessionShell()
    {
        int pid;
        await using (var daemon = await Daemon.StartAsync())
        {
            var s = await daemon.CreateAsync();
            pid = int.Parse((await daemon.RunInAsync(s, "echo $$")).Stdout.Single());
        }

        Assert.True(await ProcessCheck.GoneWithinAsync(pid, TimeSpan.FromSeconds(3)));
    }
}
