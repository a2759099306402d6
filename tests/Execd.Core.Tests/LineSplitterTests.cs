using System.Text;
using Execd.Core.Commands;

namespace Execd.Core.Tests;

public sealed class LineSplitterTests
{
    private static List<string> Split(params string[] chunks)
    {
        var lines = new List<string>();
        var splitter = new LineSplitter();
        foreach (var chunk in chunks)
        {
            splitter.Process(Encoding.UTF8.GetBytes(chunk), l => lines.Add(l.IsEmpty ? "\n" : Encoding.UTF8.GetString(l)));
        }
        splitter.Flush(l => lines.Add(Encoding.UTF8.GetString(l)));
        return lines;
    }

    [Theory]
    [InlineData("hello\nworld\n", new[] { "hello", "world" })]
    [InlineData("a\n\nb\n\n\nc\n", new[] { "a", "\n", "b", "\n", "\n", "c" })]
    [InlineData("a\n\nb\n\n\nc\n\r\nd\n", new[] { "a", "\n", "b", "\n", "\n", "c", "\n", "d" })]
    [InlineData("line1\nprog 10%\rprog 20%\rprog 30%\nlast\n", new[] { "line1", "prog 10%", "prog 20%", "prog 30%", "last" })]
    [InlineData("tail1\r\ntail2\n", new[] { "tail1", "tail2" })]
    [InlineData("x\r\r", new[] { "x", "\n" })]
    [InlineData("\n", new[] { "\n" })]
    [InlineData("line1\nlastline-without-newline", new[] { "line1", "lastline-without-newline" })]
    public void Process_UpstreamExamples_SplitAsUpstream(string input, string[] expected)
    {
        Assert.Equal(expected, Split(input));
    }

    [Fact]
    public void Process_CrLfAcrossChunks_CountsOnce()
    {
        Assert.Equal(["a", "b"], Split("a\r", "\nb\n"));
        Assert.Equal(["\n", "b"], Split("\r", "\nb\n"));
    }

    [Fact]
    public void Process_LineAcrossChunks_IsJoined()
    {
        Assert.Equal(["hello world", "x"], Split("hel", "lo ", "world\nx"));
    }

    [Fact]
    public void Process_MultibyteCharacterAcrossChunks_IsWhole()
    {
        var bytes = Encoding.UTF8.GetBytes("日本\n");
        var lines = new List<string>();
        var splitter = new LineSplitter();
        splitter.Process(bytes.AsSpan(0, 2), l => lines.Add(Encoding.UTF8.GetString(l)));
        splitter.Process(bytes.AsSpan(2), l => lines.Add(Encoding.UTF8.GetString(l)));
        Assert.Equal(["日本"], lines);
    }

    [Fact]
    public void Process_LineLongerThanLimit_IsEmittedInBoundedPieces()
    {
        var lines = new List<int>();
        var splitter = new LineSplitter();
        var chunk = new byte[300_000];
        chunk.AsSpan().Fill((byte)'x');
        for (var i = 0; i < 4; i++)
        {
            splitter.Process(chunk, l => lines.Add(l.Length));
        }
        splitter.Flush(l => lines.Add(l.Length));
        Assert.Equal(1_200_000, lines.Sum());
        Assert.All(lines, n => Assert.InRange(n, 1, LineSplitter.MaxLineBytes));
        Assert.Equal(LineSplitter.MaxLineBytes, lines[0]);
    }
}
