namespace Execd.Pty.Tests;

/// <summary>Bad input gets a clear error (HTTP JSON before the upgrade, an error frame or a close code after) and disturbs nothing.</summary>
public sealed class PtyBadInputTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private Daemon Daemon => fixture.Daemon;

    [Fact]
    public async Task Non_websocket_get_on_ws_is_a_400_json_error()
    {
        var id = await Daemon.CreatePtyAsync();
        var (status, body) = await Daemon.GetAsync($"/pty/{id}/ws");
        Assert.Equal(400, status);
        Assert.Contains("NOT_A_WEBSOCKET_REQUEST", body);
        // The refused request did not keep the lock.
        await using var client = await PtyClient.AttachAsync(Daemon, id);
    }

    [Fact]
    public async Task Bad_since_is_400_and_invalid_cwd_or_body_is_one_400_json_document()
    {
        var id = await Daemon.CreatePtyAsync();
        var (status, body) = await Daemon.GetAsync($"/pty/{id}/ws?since=abc");
        Assert.Equal(400, status);
        Assert.Contains("INVALID_QUERY", body);

        using var dir = TestPaths.NewDirectory("pty-cwd");
        var file = dir.Combine("a-file");
        await File.WriteAllTextAsync(file, "x");
        (status, body) = await Daemon.PostPtyAsync($$"""{"cwd":"{{file}}/sub"}""");
        Assert.Equal(400, status);
        Assert.StartsWith("{\"code\":\"INVALID_REQUEST_BODY\"", body);
        Assert.EndsWith("}", body.TrimEnd());
        Assert.DoesNotContain("session_id", body);

        (status, body) = await Daemon.PostPtyAsync("{not json");
        Assert.Equal(400, status);
        Assert.Contains("INVALID_REQUEST_BODY", body);
    }

    [Fact]
    public async Task Malformed_and_unknown_frames_get_error_frames_and_the_socket_stays_usable()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        async Task ExpectError(string json, string code)
        {
            await client.SendJsonAsync(json);
            var error = await client.ExpectJsonAsync("error");
            Assert.Equal(code, (string?)error.Json!["code"]);
            Assert.False(string.IsNullOrEmpty((string?)error.Json["error"]));
        }
        await ExpectError("{not json", "INVALID_FRAME");
        await ExpectError("""{"type":"dance"}""", "INVALID_FRAME");
        await ExpectError("""{"type":"resize","cols":0,"rows":0}""", "INVALID_FRAME");
        await ExpectError("""{"type":"resize","cols":65536,"rows":24}""", "INVALID_FRAME");
        await ExpectError("""{"type":"resize","cols":"120","rows":40}""", "INVALID_FRAME");
        await ExpectError("""{"type":"signal","signal":"SIGNOPE"}""", "INVALID_SIGNAL");
        await client.SendBinaryAsync([0x05, 0x41]);
        Assert.Equal("INVALID_FRAME", (string?)(await client.ExpectJsonAsync("error")).Json!["code"]);

        await client.SendJsonAsync("""{"type":"ping"}""");
        await client.ExpectJsonAsync("pong");
        await client.SendStdinAsync("stty size; echo usable\n");
        await client.ExpectOutputAsync("24 80\r\nusable\r\n");
    }

    [Fact]
    public async Task An_oversize_frame_closes_with_1009_and_other_sessions_carry_on()
    {
        var other = await Daemon.CreatePtyAsync();
        await using var bystander = await PtyClient.AttachAsync(Daemon, other);
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync(new byte[2 * 1024 * 1024]);
        Assert.Equal("FRAME_TOO_LARGE", (string?)(await client.ExpectJsonAsync("error")).Json!["code"]);
        Assert.Equal(1009, (await client.ExpectCloseAsync()).CloseStatus);

        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
        await bystander.SendStdinAsync("echo unaffected\n");
        await bystander.ExpectOutputAsync("unaffected\r\n");
    }
}

/// <summary>Session limit, idle reaping and the admin listing, on a daemon with small limits.</summary>
public sealed class PtyLimitsTests
{
    [Fact]
    public async Task Session_limit_is_429_idle_exited_sessions_are_reaped_and_admin_lists_them()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            ["Execd:Terminals:MaxSessions"] = "2",
            ["Execd:Terminals:IdleTimeout"] = "00:00:03",  // long enough that the first two are not reaped before the third POST on a loaded machine
        });
        var exited = await daemon.CreatePtyAsync();
        var running = await daemon.CreatePtyAsync();
        var (status, body) = await daemon.PostPtyAsync("{}");
        Assert.Equal(429, status);
        Assert.Contains("TOO_MANY_SESSIONS", body);

        await using (var client = await PtyClient.AttachAsync(daemon, exited))
        {
            await client.SendStdinAsync("exit 3\n");
            await client.ExpectJsonAsync("exit");
        }
        await using var live = await PtyClient.AttachAsync(daemon, running);
        await live.CloseAsync();

        var (code, listing) = await daemon.GetAsync("/admin/pty");
        Assert.Equal(200, code);
        Assert.Contains(running, listing);
        Assert.Contains("\"max_sessions\":2", listing);

        // The exited, unattached one goes; the running shell stays though nobody is attached.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await daemon.GetAsync($"/pty/{exited}")).Status != 404)
        {
            Assert.True(DateTime.UtcNow < deadline, "the exited session was never reaped");
            await Task.Delay(100);
        }
        Assert.True((bool)(await daemon.PtyStatusAsync(running))["running"]!);
    }
}
