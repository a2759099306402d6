using System.Text.Json;
using System.Text.Json.Nodes;

namespace Execd.Code.Tests;

/// <summary>
/// The call sequence of the code-interpreter SDKs (create → run → run → interrupt → delete), checked event by event
/// against the behavior spec §1.7–§1.8: what each SDK's parser needs (type on every event, init = context id,
/// text/plain renamed, typed fields, one execution_complete last, Content-Length 0 on empty 200s).
/// </summary>
public sealed class SdkWireSequenceTests : IAsyncLifetime
{
    private CodeDaemon _d = null!;

    public async Task InitializeAsync() => _d = await CodeDaemon.StartAsync();

    public async Task DisposeAsync() => await _d.DisposeAsync();

    private static void AssertSdkShape(CodeRun run, string contextId)
    {
        Assert.Equal(200, run.Status);
        Assert.All(run.Events, e =>
        {
            Assert.NotNull((string?)e["type"]);                          // C#: type is required
            Assert.Equal(JsonValueKind.Number, e["timestamp"]!.GetValueKind());
            var ms = (long)e["timestamp"]!;
            Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(ms), DateTimeOffset.UtcNow.AddMinutes(-3), DateTimeOffset.UtcNow.AddMinutes(1));
        });
        Assert.Single(run.Events, e => (string?)e["type"] == "init");
        Assert.Equal("init", run.Types[0]);
        Assert.Equal(contextId, run.InitText);                            // Execution.Id = context id
        Assert.Single(run.Types, t => t == "execution_complete");       // C# e2e asserts Single
        Assert.Equal("execution_complete", run.Types[^1]);
        var complete = run.Events.Single(e => (string?)e["type"] == "execution_complete");
        Assert.Equal(JsonValueKind.Number, complete["execution_time"]!.GetValueKind()); // long?
    }

    [Fact]
    public async Task CreateRunRunInterruptDelete_EventByEvent()
    {
        // POST /code/context {"language":"python"} → {"id": uuid with dashes, "language": "python"}
        var (status, created) = await _d.SendAsync(HttpMethod.Post, "/code/context", "{\"language\":\"python\"}");
        Assert.Equal(200, status);
        var id = (string)created!["id"]!;
        Assert.Equal(36, id.Length);
        Assert.True(Guid.TryParseExact(id, "D", out _));
        Assert.Equal("python", (string?)created["language"]);

        // GET /code/contexts/{id} and the list, each item with language (C#: required).
        var (_, got) = await _d.SendAsync(HttpMethod.Get, $"/code/contexts/{id}");
        Assert.Equal(id, (string?)got!["id"]);
        Assert.Equal("python", (string?)got["language"]);
        var (_, listed) = await _d.SendAsync(HttpMethod.Get, "/code/contexts?language=python");
        Assert.All(listed!.AsArray(), o => Assert.Equal("python", (string?)o!["language"]));
        Assert.Contains(listed.AsArray(), o => (string?)o!["id"] == id);

        // Run 1: result = 2 + 2; result → init, execution_count, result{text:"4"}, execution_complete.
        var run1 = await _d.RunAsync(id, "result = 2 + 2\nresult");
        AssertSdkShape(run1, id);
        Assert.Equal(["init", "execution_count", "result", "execution_complete"], run1.Types);
        var count = run1.Events.Single(e => (string?)e["type"] == "execution_count");
        Assert.Equal(JsonValueKind.Number, count["execution_count"]!.GetValueKind()); // int?
        var results = run1.Results.Single();
        Assert.Equal("4", (string?)results["text"]);
        Assert.Null(run1.Events.Single(e => (string?)e["type"] == "result")["execution_count"]); // not on the result itself

        // Run 2: state persisted; print → stdout "42\n" as chunked, no count.
        var run2 = await _d.RunAsync(id, "print(result * 10 + 2)");
        AssertSdkShape(run2, id);
        Assert.Equal(["init", "stdout", "execution_complete"], run2.Types);
        Assert.Equal("42\n", run2.Stdout);

        // Interrupt during a loop → status "error", error{KeyboardInterrupt, evalue ""}, execution_complete.
        var running = _d.RunAsync(id, "while True: pass");
        for (var i = 0; i < 200 && (string?)(await _d.AdminEntryAsync(id))["state"] != "busy"; i++)
        {
            await Task.Delay(25);
        }
        await Task.Delay(300);
        using (var interrupt = await _d.Client.DeleteAsync($"/code?id={Uri.EscapeDataString(id)}"))
        {
            Assert.Equal(200, (int)interrupt.StatusCode);
            Assert.Equal(0, interrupt.Content.Headers.ContentLength); // JS SDK
        }
        var run3 = await running.WaitAsync(TimeSpan.FromSeconds(30));
        AssertSdkShape(run3, id);
        Assert.Equal(["init", "status", "error", "execution_complete"], run3.Types);
        var error = run3.Error!;
        Assert.Equal("KeyboardInterrupt", (string?)error["ename"]);
        Assert.Equal("", (string?)error["evalue"]);
        Assert.All(error["traceback"]!.AsArray(), l => Assert.Equal(JsonValueKind.String, l!.GetValueKind())); // C#: GetString()

        // Usable after the interrupt (e2e test_08).
        Assert.Equal("4", (string?)(await _d.RunAsync(id, "result")).Results.Single()["text"]);

        // DELETE /code/contexts/{id} → 200 with Content-Length 0, then 404 CONTEXT_NOT_FOUND.
        using (var deleted = await _d.Client.DeleteAsync($"/code/contexts/{Uri.EscapeDataString(id)}"))
        {
            Assert.Equal(200, (int)deleted.StatusCode);
            Assert.Equal(0, deleted.Content.Headers.ContentLength);
        }
        var (gone, body) = await _d.SendAsync(HttpMethod.Get, $"/code/contexts/{id}");
        Assert.Equal(404, gone);
        Assert.Equal("CONTEXT_NOT_FOUND", (string?)body!["code"]);
    }
}
