using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Execd.Code.Tests;

/// <summary>Contexts over their life: interrupt, timeout, death, delete, many at once, directories that vanish.</summary>
public sealed class LifecycleTests : IAsyncLifetime
{
    private CodeDaemon _d = null!;

    public async Task InitializeAsync() => _d = await CodeDaemon.StartAsync();

    public async Task DisposeAsync() => await _d.DisposeAsync();

    private async Task WaitBusyAsync(string id)
    {
        for (var i = 0; i < 200 && (string?)(await _d.AdminEntryAsync(id))["state"] != "busy"; i++)
        {
            await Task.Delay(50);
        }
        Assert.Equal("busy", (string?)(await _d.AdminEntryAsync(id))["state"]);
    }

    [Fact]
    public async Task Interrupt_InfiniteLoop_KeyboardInterruptThenUsable()
    {
        var id = await _d.CreateContextAsync();
        var running = _d.RunAsync(id, "while True: pass");
        await WaitBusyAsync(id);
        await Task.Delay(300); // inside the loop, not before it
        var (status, _) = await _d.SendAsync(HttpMethod.Delete, $"/code?id={id}");
        Assert.Equal(200, status);
        var run = await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("KeyboardInterrupt", (string?)run.Error!["ename"]);
        Assert.Equal("", (string?)run.Error["evalue"]);
        Assert.Equal("execution_complete", run.Types[^1]);
        Assert.Equal("2", (string?)(await _d.RunAsync(id, "1 + 1")).Results.Single()["text"]);
    }

    [Fact]
    public async Task Timeout_InfiniteLoop_InterruptedWithTimeoutError()
    {
        var id = await _d.CreateContextAsync();
        var started = Stopwatch.StartNew();
        var run = await _d.RunAsync(id, "while True: pass", timeout: 800);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), started.Elapsed.ToString());
        Assert.Contains(run.Events, e => (string?)e["error"]?["ename"] == "KeyboardInterrupt");
        Assert.Equal("TimeoutError", (string?)run.Error!["ename"]);
        Assert.Equal("execution_complete", run.Types[^1]);
        Assert.Equal("idle", (string?)(await _d.AdminEntryAsync(id))["state"]);
    }

    [Fact]
    public async Task KernelKilledFromOutside_MidCell_ErrorEventAndContextDead()
    {
        var id = await _d.CreateContextAsync();
        var pid = (int)(await _d.AdminEntryAsync(id))["pid"]!;
        var running = _d.RunAsync(id, "import time\ntime.sleep(60)");
        await WaitBusyAsync(id);
        Process.GetProcessById(pid).Kill();
        var run = await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("KernelDied", (string?)run.Error!["ename"]);
        Assert.Contains("exited", (string?)run.Error["evalue"], StringComparison.Ordinal);
        Assert.Equal("execution_complete", run.Types[^1]);
        var entry = await _d.AdminEntryAsync(id);
        Assert.Equal("dead", (string?)entry["state"]);
        Assert.Null((int?)entry["pid"]);
        // A later run on the dead context is refused with 409 (documented); deleting it works.
        var again = await _d.RunAsync(id, "1");
        Assert.Equal(409, again.Status);
        Assert.Contains("CONTEXT_DEAD", again.Body, StringComparison.Ordinal);
        Assert.Equal(200, (await _d.SendAsync(HttpMethod.Delete, $"/code/contexts/{id}")).Status);
    }

    [Fact]
    public async Task DefaultContext_WhoseKernelDied_IsReplacedOnNextLanguageRun()
    {
        var first = await _d.RunAsync(null, "1");
        var pid = (int)(await _d.AdminEntryAsync(first.InitText!))["pid"]!;
        var process = Process.GetProcessById(pid);
        process.Kill();
        await process.WaitForExitAsync();
        for (var i = 0; i < 100 && (string?)(await _d.AdminEntryAsync(first.InitText!))["state"] != "dead"; i++)
        {
            await Task.Delay(50);
        }
        var second = await _d.RunAsync(null, "2");
        Assert.NotEqual(first.InitText, second.InitText);
        Assert.Equal("2", (string?)second.Results.Single()["text"]);
    }

    [Fact]
    public async Task Delete_StopsKernelAndForgetsContext()
    {
        var id = await _d.CreateContextAsync();
        var pid = (int)(await _d.AdminEntryAsync(id))["pid"]!;
        var process = Process.GetProcessById(pid);
        Assert.Equal(200, (await _d.SendAsync(HttpMethod.Delete, $"/code/contexts/{id}")).Status);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.Equal(404, (await _d.SendAsync(HttpMethod.Get, $"/code/contexts/{id}")).Status);
        Assert.Equal(404, (await _d.RunAsync(id, "1")).Status);
        Assert.Equal(404, (await _d.SendAsync(HttpMethod.Delete, $"/code/contexts/{id}")).Status);
    }

    [Fact]
    public async Task DeleteByLanguage_RemovesEveryContextOfIt()
    {
        var a = await _d.CreateContextAsync();
        var b = await _d.CreateContextAsync();
        Assert.Equal(400, (await _d.SendAsync(HttpMethod.Delete, "/code/contexts")).Status);
        Assert.Equal(200, (await _d.SendAsync(HttpMethod.Delete, "/code/contexts?language=python")).Status);
        var (_, list) = await _d.SendAsync(HttpMethod.Get, "/code/contexts");
        Assert.DoesNotContain(list!.AsArray(), o => (string?)o!["id"] == a || (string?)o!["id"] == b);
    }

    [Fact]
    public async Task TenContexts_InParallel_EachKeepsItsOwnState()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => _d.CreateContextAsync()));
        Assert.Equal(10, ids.Distinct().Count());
        await Task.WhenAll(ids.Select((id, i) => _d.RunAsync(id, $"mine = {i}")));
        var runs = await Task.WhenAll(ids.Select(id => _d.RunAsync(id, "mine * 10")));
        for (var i = 0; i < ids.Length; i++)
        {
            Assert.Equal((i * 10).ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)runs[i].Results.Single()["text"]);
        }
        var pids = (await _d.AdminAsync()).OfType<JsonObject>().Where(o => ids.Contains((string?)o["id"])).Select(o => (int)o["pid"]!).ToList();
        Assert.Equal(10, pids.Distinct().Count());
    }

    [Fact]
    public async Task TmpDirDeleted_RunningContextKeepsWorking_NewContextStartsInNextDirectory()
    {
        var before = await _d.CreateContextAsync();
        var tmp = _d.Dirs.Combine("tmp");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(tmp, "jupyter"), "kernel-*.json"));
        Directory.Delete(tmp, recursive: true);

        Assert.Equal("'still here'", (string?)(await _d.RunAsync(before, "'still here'")).Results.Single()["text"]);
        var after = await _d.CreateContextAsync();
        Assert.Equal("4", (string?)(await _d.RunAsync(after, "2 * 2")).Results.Single()["text"]);
        Assert.Single(Directory.GetFiles(_d.Dirs.Combine("state", "jupyter"), "kernel-*.json"), f => f.Contains(after, StringComparison.Ordinal));
        Assert.False(Directory.Exists(tmp)); // the daemon chose the healthy candidate instead of re-creating the deleted one
    }
}
