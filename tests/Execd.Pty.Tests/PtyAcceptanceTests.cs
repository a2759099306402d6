using System.Net;

namespace Execd.Pty.Tests;

/// <summary>
/// Upstream's own PTY acceptance cases (<c>pty_ws_test.go</c>, <c>pty_session_test.go</c>), run by a third-party
/// WebSocket client that follows upstream's protocol, against this daemon.
/// </summary>
public sealed class PtyAcceptanceTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private Daemon Daemon => fixture.Daemon;

    [Fact]
    public async Task Unknown_session_is_404_before_any_upgrade()
    {
        Assert.Equal(HttpStatusCode.NotFound, await PtyClient.TryConnectAsync(Daemon, "00000000-0000-0000-0000-000000000000"));
        var (status, body) = await Daemon.GetAsync("/pty/00000000-0000-0000-0000-000000000000/ws");
        Assert.Equal(404, status);
        Assert.Contains("CONTEXT_NOT_FOUND", body);
    }

    [Fact]
    public async Task Status_is_not_running_before_the_first_connect()
    {
        var id = await Daemon.CreatePtyAsync();
        var status = await Daemon.PtyStatusAsync(id);
        Assert.Equal(id, (string?)status["session_id"]);
        Assert.False((bool)status["running"]!);
        Assert.Equal(0, (long)status["output_offset"]!);
    }

    [Fact]
    public async Task Connected_frame_then_echo_round_trip_and_ping_pong()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.ConnectAsync(Daemon, id);
        var connected = await client.ExpectJsonAsync("connected");
        Assert.Equal(id, (string?)connected.Json!["session_id"]);
        Assert.Equal("pty", (string?)connected.Json["mode"]);
        Assert.EndsWith("\n", connected.Text);

        await client.SendStdinAsync("echo hello_ws\n");
        await client.ExpectOutputAsync("hello_ws\r\n");
        await client.SendJsonAsync("""{"type":"ping"}""");
        await client.ExpectJsonAsync("pong");
        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
    }

    [Fact]
    public async Task Second_plain_connect_is_409_and_a_plain_GET_with_takeover_evicts_nobody()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var holder = await PtyClient.AttachAsync(Daemon, id);
        Assert.Equal(HttpStatusCode.Conflict, await PtyClient.TryConnectAsync(Daemon, id));
        var (status, body) = await Daemon.GetAsync($"/pty/{id}/ws?takeover=1");
        Assert.Equal(409, status);
        Assert.Contains("ALREADY_CONNECTED", body);
        await holder.SendStdinAsync("echo still_here\n");
        await holder.ExpectOutputAsync("still_here\r\n");
    }

    [Fact]
    public async Task Exit_0_gives_an_exit_frame_with_code_0_and_close_1000()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("exit 0\n");
        var exit = await client.ExpectJsonAsync("exit");
        Assert.Equal(0, (int)exit.Json!["exit_code"]!);
        var close = await client.ExpectCloseAsync();
        Assert.Equal(1000, close.CloseStatus);
    }

    [Fact]
    public async Task Output_offset_grows_and_a_reconnect_with_since_0_replays_the_marker_before_connected()
    {
        var id = await Daemon.CreatePtyAsync();
        await using (var client = await PtyClient.AttachAsync(Daemon, id))
        {
            await client.SendStdinAsync("echo replay_marker_$((40+2))\n");
            await client.ExpectOutputAsync("replay_marker_42\r\n");
        }
        Assert.True((long)(await Daemon.PtyStatusAsync(id))["output_offset"]! > 0);
        await using var again = await PtyClient.ConnectAsync(Daemon, id, "since=0");
        var first = await again.ReceiveAsync();
        Assert.Equal("replay", first.Kind);
        Assert.Equal(0, first.Offset);
        Assert.Contains("replay_marker_42", first.Text);
        Assert.Equal("connected", (await again.ReceiveAsync()).Type);
    }

    [Fact]
    public async Task Takeover_closes_the_holder_with_4001_replays_before_connected_and_keeps_the_shell()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var first = await PtyClient.AttachAsync(Daemon, id);
        await first.SendStdinAsync("export TAKEOVER_VAR=kept_$((6*7))\necho set_done\n");
        await first.ExpectOutputAsync("set_done\r\n");

        await using var second = await PtyClient.ConnectAsync(Daemon, id, "takeover=1");
        var evicted = await first.ExpectCloseAsync();
        Assert.Equal(4001, evicted.CloseStatus);
        Assert.Equal("TAKEN_OVER", evicted.CloseReason);

        var replay = await second.ReceiveAsync();
        Assert.Equal("replay", replay.Kind);
        Assert.Contains("set_done", replay.Text);
        Assert.Equal("connected", (await second.ReceiveAsync()).Type);
        await second.SendStdinAsync("echo value=$TAKEOVER_VAR\n");
        await second.ExpectOutputAsync("value=kept_42\r\n");
    }

    [Fact]
    public async Task Takeover_on_a_free_session_is_an_ordinary_connect()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id, "takeover=1");
        await client.SendStdinAsync("echo free_ok\n");
        await client.ExpectOutputAsync("free_ok\r\n");
    }

    [Fact]
    public async Task Six_concurrent_takeovers_leave_the_shell_alive()
    {
        var id = await Daemon.CreatePtyAsync();
        await using (var first = await PtyClient.AttachAsync(Daemon, id))
        {
            await first.SendStdinAsync("echo ready\n");
            await first.ExpectOutputAsync("ready\r\n");
            var clients = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => PtyClient.ConnectAsync(Daemon, id, "takeover=1")));
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
        await Daemon.WaitStatusAsync(id, s => !(bool)s["attached"]!);
        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
        await using var last = await PtyClient.AttachAsync(Daemon, id, $"since={(long)(await Daemon.PtyStatusAsync(id))["output_offset"]!}");
        await last.SendStdinAsync("echo survived\n");
        await last.ExpectOutputAsync("survived\r\n");
    }

    [Fact]
    public async Task Resize_120x40_then_stty_size_prints_40_120()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("stty size\n");
        await client.ExpectOutputAsync("24 80\r\n");
        await client.SendJsonAsync("""{"type":"resize","cols":120,"rows":40}""");
        await client.SendStdinAsync("stty size\n");
        await client.ExpectOutputAsync("40 120\r\n");
    }

    [Fact]
    public async Task Pty_0_selects_pipe_mode_which_splits_stdout_and_stderr()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.ConnectAsync(Daemon, id, "pty=0");
        var connected = await client.ExpectJsonAsync("connected");
        Assert.Equal("pipe", (string?)connected.Json!["mode"]);
        await client.SendStdinAsync("echo to_out; echo to_err >&2\n");
        await client.ExpectOutputAsync("to_err");
        await client.ExpectOutputAsync("to_out");
        Assert.Contains(client.Frames, f => f.Kind == "stdout" && f.Text.Contains("to_out") && !f.Text.Contains("to_err"));
        Assert.Contains(client.Frames, f => f.Kind == "stderr" && f.Text.Contains("to_err") && !f.Text.Contains("to_out"));
    }

    [Fact]
    public async Task Ansi_colours_pass_through_untouched()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("printf '\\033[31mRED\\033[0m|\\n'\n");
        await client.ExpectOutputAsync("\u001b[31mRED\u001b[0m|\r\n");
    }

    [Fact]
    public async Task Sigint_frame_leaves_bash_alive()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendJsonAsync("""{"type":"signal","signal":"SIGINT"}""");
        await client.SendStdinAsync("echo after_int\n");
        await client.ExpectOutputAsync("after_int\r\n");
        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
    }

    [Fact]
    public async Task Exit_42_gives_exit_code_42()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("exit 42\n");
        Assert.Equal(42, (int)(await client.ExpectJsonAsync("exit")).Json!["exit_code"]!);
        Assert.Equal(1000, (await client.ExpectCloseAsync()).CloseStatus);
    }

    [Fact]
    public async Task Custom_command_in_pipe_mode_prints_then_running_becomes_false()
    {
        var id = await Daemon.CreatePtyAsync("""{"command":"echo custom_$((6*7))"}""");
        await using var client = await PtyClient.ConnectAsync(Daemon, id, "pty=0");
        await client.ExpectOutputAsync("custom_42\n");
        Assert.Equal(0, (int)(await client.ExpectJsonAsync("exit")).Json!["exit_code"]!);
        await Daemon.WaitStatusAsync(id, s => !(bool)s["running"]!);
    }

    [Fact]
    public async Task Delete_is_200_then_404()
    {
        var id = await Daemon.CreatePtyAsync();
        Assert.Equal(200, (await Daemon.DeletePtyAsync(id)).Status);
        Assert.Equal(404, (await Daemon.GetAsync($"/pty/{id}")).Status);
        Assert.Equal(404, (await Daemon.DeletePtyAsync(id)).Status);
    }
}
