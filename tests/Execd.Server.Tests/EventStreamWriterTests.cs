using System.IO.Pipelines;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Execd.Server.Streaming;

namespace Execd.Server.Tests;

public sealed class EventStreamWriterTests
{
    private sealed class FixedTime : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(1_795_000_000_123);
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static async Task<string> WriteLineAsync(byte[] line, bool stderr, bool raw)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0)); // never blocks the writer: read after completion
        var writer = new EventStreamWriter(pipe.Writer, raw, new FixedTime());
        writer.Line(stderr, line);
        await writer.FlushAsync(CancellationToken.None);
        await pipe.Writer.CompleteAsync();
        var result = await pipe.Reader.ReadAtLeastAsync(int.MaxValue);
        return Encoding.UTF8.GetString(result.Buffer);
    }

    private static string Expected(string type, string text, bool raw) =>
        (raw ? "" : "data: ") + JsonSerializer.Serialize(new { type, text, timestamp = 1_795_000_000_123L }, Relaxed) + "\n\n";

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Line_EveryPrintableAsciiByte_IsTheJsonWritersOutput(bool stderr, bool raw)
    {
        for (var b = 0x20; b < 0x7F; b++)
        {
            var line = Encoding.ASCII.GetBytes($"a{(char)b}b");
            Assert.Equal(Expected(stderr ? "stderr" : "stdout", $"a{(char)b}b", raw), await WriteLineAsync(line, stderr, raw));
        }
    }

    [Theory]
    [InlineData("tab\there")]
    [InlineData("quote \" and backslash \\")]
    [InlineData("héllo wörld ✓")]
    [InlineData("\u001b[31mred\u001b[0m")]
    [InlineData("")]
    public async Task Line_BytesNeedingEscapes_AreEscapedAsBefore(string text)
    {
        var expected = Expected("stdout", text.Length == 0 ? "\n" : text, raw: false);
        Assert.Equal(expected, await WriteLineAsync(Encoding.UTF8.GetBytes(text), stderr: false, raw: false));
    }

    [Fact]
    public async Task Line_LongerThanTheFastPath_IsWrittenWhole()
    {
        var text = new string('x', 100_000);
        Assert.Equal(Expected("stdout", text, raw: false), await WriteLineAsync(Encoding.ASCII.GetBytes(text), stderr: false, raw: false));
    }
}
