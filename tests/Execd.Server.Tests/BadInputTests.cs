using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

public sealed class BadInputTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private async Task<(int Status, string Code, string Message)> PostAsync(string body)
    {
        using var response = await _daemon.Client.PostAsync("/command", new StringContent(body, Encoding.UTF8, "application/json"));
        return await ErrorOf(response);
    }

    private static async Task<(int, string, string)> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return ((int)response.StatusCode, (string)json["code"]!, (string)json["message"]!);
    }

    [Theory]
    [InlineData("", "error parsing request, MAYBE invalid body format. EOF")]
    [InlineData("{not json", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{\"command\": 5}", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{\"command\": \"ls\", \"timeout\": \"10\"}", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{\"command\": \"ls\", \"timeout\": 1.5}", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{\"command\": \"ls\", \"uid\": -1}", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{\"command\": \"ls\", \"envs\": {\"A\": 1}}", "error parsing request, MAYBE invalid body format.")]
    [InlineData("{}", "invalid request, validation error Key: 'RunCommandRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag")]
    [InlineData("null", "invalid request, validation error Key: 'RunCommandRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag")]
    [InlineData("{\"command\": \"\"}", "invalid request, validation error Key: 'RunCommandRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag")]
    [InlineData("{\"command\": \"ls\", \"timeout\": -1}", "invalid request, validation error Key: 'RunCommandRequest.TimeoutMs' Error:Field validation for 'TimeoutMs' failed on the 'gte' tag")]
    [InlineData("{\"command\": \"ls\", \"gid\": 5}", "invalid request, validation error uid is required when gid is provided")]
    [InlineData("{\"command\": \"ls\", \"cwd\": \"/definitely/not/here\"}", "invalid request, validation error working directory does not exist: /definitely/not/here")]
    [InlineData("{\"command\": \"ls\", \"cwd\": \"/etc/passwd\"}", "invalid request, validation error working directory path is not a directory: /etc/passwd")]
    [InlineData("{\"command\": \"ls\", \"cwd\": \"/x/$NOPE_B/$NOPE_A\"}", "invalid request, validation error cannot resolve working directory \"/x/$NOPE_B/$NOPE_A\": path references undefined environment variables: NOPE_A,NOPE_B")]
    [InlineData("{\"command\": \"ls\", \"executor\": \"cobol\"}", "invalid request, unknown executor 'cobol'")]
    public async Task RunCommand_BadBody_Is400InvalidRequestBody(string body, string messageStart)
    {
        var (status, code, message) = await PostAsync(body);

        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.StartsWith(messageStart, message);
    }

    [Fact]
    public async Task RunCommand_CaseInsensitiveFieldsAndUnknownFields_AreAccepted()
    {
        var result = await _daemon.RunJsonAsync("{\"Command\":\"echo ok\",\"whatever\":[1,2]}");

        Assert.Equal(["ok"], result.Texts("stdout"));
    }

    [Theory]
    [InlineData("/command/status/0123456789abcdef0123456789abcdef", 404, "INVALID_REQUEST_BODY")]
    [InlineData("/command/0123456789abcdef0123456789abcdef/logs", 404, "INVALID_REQUEST_BODY")]
    [InlineData("/command/status/..%2F..%2Fetc%2Fpasswd", 400, "INVALID_REQUEST_BODY")]
    [InlineData("/command/a%20b/logs", 400, "INVALID_REQUEST_BODY")]
    [InlineData("/no/such/route", 404, "NOT_FOUND")]
    public async Task Get_UnknownOrMalformedId_IsAClearError(string path, int status, string code)
    {
        using var response = await _daemon.Client.GetAsync(path);

        var (actualStatus, actualCode, message) = await ErrorOf(response);
        Assert.Equal(status, actualStatus);
        Assert.Equal(code, actualCode);
        Assert.NotEmpty(message);
    }

    [Fact]
    public async Task Logs_NegativeCursor_Is400()
    {
        var result = await _daemon.RunAsync("echo x");
        using var response = await _daemon.Client.GetAsync($"/command/{result.Id}/logs?cursor=-5");

        var (status, code, _) = await ErrorOf(response);
        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
    }

    [Theory]
    [InlineData("/command", 400, "MISSING_QUERY")]
    [InlineData("/command?id=", 400, "MISSING_QUERY")]
    [InlineData("/command?id=0123456789abcdef0123456789abcdef", 404, "INVALID_REQUEST_BODY")]
    [InlineData("/command?id=../../x", 400, "INVALID_REQUEST_BODY")]
    public async Task Interrupt_BadId_IsAClearError(string path, int status, string code)
    {
        using var response = await _daemon.Client.DeleteAsync(path);

        var (actualStatus, actualCode, _) = await ErrorOf(response);
        Assert.Equal(status, actualStatus);
        Assert.Equal(code, actualCode);
    }

    [Fact]
    public async Task BadInput_DoesNotDisturbARunningCommand()
    {
        var running = _daemon.RunAsync("for i in $(seq 1 20); do echo $i; sleep 0.01; done");
        for (var i = 0; i < 20; i++)
        {
            await PostAsync("{garbage");
        }
        var result = await running;

        Assert.Equal(Enumerable.Range(1, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), result.Texts("stdout"));
    }
}
