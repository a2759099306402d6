using System.Text;
using Execd.Executors.BashSession;

namespace Execd.Sessions.Tests;

public sealed class MarkerScannerTests
{
    private const string Token = "0123456789abcdef0123456789abcdef";

    private static (string Output, List<(string Token, int? Code)> Markers) Scan(IEnumerable<string> chunks, Func<string, bool>? ours = null)
    {
        var output = new StringBuilder();
        var markers = new List<(string, int?)>();
        var scanner = new MarkerScanner(data =>
        {
            output.Append(Encoding.UTF8.GetString(data.Span));
            return ValueTask.CompletedTask;
        }, (token, code) =>
        {
            if (ours?.Invoke(token) == false)
            {
                return false;
            }
            markers.Add((token, code));
            return true;
        });
        foreach (var chunk in chunks)
        {
            scanner.FeedAsync(Encoding.UTF8.GetBytes(chunk)).AsTask().GetAwaiter().GetResult();
        }
        scanner.FlushAsync().AsTask().GetAwaiter().GetResult();
        return (output.ToString(), markers);
    }

    [Fact]
    public void Feed_MarkerAfterPartialLine_SplitsOutputAndCode()
    {
        var (output, markers) = Scan([$"no newline\u001fEXECD:{Token}:3\nafter"]);

        Assert.Equal("no newlineafter", output);
        Assert.Equal([(Token, (int?)3)], markers);
    }

    [Fact]
    public void Feed_MarkerSplitAcrossEveryByte_IsStillFound()
    {
        var text = $"a\u001fb\u001fEXECD:{Token}:\nz";

        var (output, markers) = Scan(text.Select(c => c.ToString()));

        Assert.Equal("a\u001fbz", output);
        Assert.Equal([(Token, (int?)null)], markers);
    }

    [Theory]
    [InlineData("\u001fEXECD:0123\n")]
    [InlineData("\u001fEXECD:0123456789ABCDEF0123456789abcdef:0\n")]
    [InlineData("\u001fEXECD:0123456789abcdef0123456789abcdef:12345\n")]
    [InlineData("\u001fEXECD:0123456789abcdef0123456789abcdef;0\n")]
    [InlineData("\u001fEXEC")]
    public void Feed_NearMisses_AreOutput(string text)
    {
        var (output, markers) = Scan([text]);

        Assert.Equal(text, output);
        Assert.Empty(markers);
    }

    [Fact]
    public void Feed_ForeignToken_IsPassedOnAsOutput()
    {
        var text = $"x\u001fEXECD:{Token}:0\ny";

        var (output, markers) = Scan([text], ours: _ => false);

        Assert.Equal(text, output);
        Assert.Empty(markers);
    }
}
