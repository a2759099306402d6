using System.Security.Cryptography;
using System.Text;
using Execd.Core.Storage;

namespace Execd.Core.Tests;

/// <summary>The record frame: a torn or altered record is detected, never misread; records of older daemons (SHA-256) still read.</summary>
public sealed class CommandJournalFramingTests
{
    private static readonly byte[] Json = Encoding.UTF8.GetBytes("{\"id\":\"0123456789abcdef0123456789abcdef\",\"state\":\"finished\",\"exit_code\":7}");

    [Fact]
    public void Frame_ThenUnframe_GivesTheJsonBack_WithAnXxh3Header()
    {
        var framed = CommandJournal.Frame(Json);

        Assert.StartsWith("execd-record/1 xxh3=", Encoding.ASCII.GetString(framed), StringComparison.Ordinal);
        var (json, error) = CommandJournal.Unframe(framed);
        Assert.Null(error);
        Assert.Equal(Json, json.ToArray());
    }

    [Fact]
    public void Unframe_RecordOfAnOlderDaemon_Sha256_Reads()
    {
        var framed = Encoding.ASCII.GetBytes($"execd-record/1 sha256={Convert.ToHexStringLower(SHA256.HashData(Json))} length={Json.Length}\n").Concat(Json).ToArray();

        var (json, error) = CommandJournal.Unframe(framed);

        Assert.Null(error);
        Assert.Equal(Json, json.ToArray());
    }

    [Theory]
    [InlineData("xxh3")]
    [InlineData("sha256")]
    public void Unframe_OneByteAltered_ChecksumMismatch(string scheme)
    {
        var framed = scheme == "xxh3" ? CommandJournal.Frame(Json)
            : Encoding.ASCII.GetBytes($"execd-record/1 sha256={Convert.ToHexStringLower(SHA256.HashData(Json))} length={Json.Length}\n").Concat(Json).ToArray();
        framed[^3] ^= 0x01;   // "7" → "6": still valid JSON, so only the checksum can tell

        var (_, error) = CommandJournal.Unframe(framed);

        Assert.Equal("checksum mismatch (corrupted)", error);
    }

    [Fact]
    public void Unframe_Torn_SaysHowMuchIsThere()
    {
        var framed = CommandJournal.Frame(Json);

        var (_, error) = CommandJournal.Unframe(framed[..^10]);

        Assert.Equal($"truncated or torn: {Json.Length - 10} of {Json.Length} bytes", error);
    }

    [Theory]
    [InlineData("execd-record/1 md5=00 length=3\n{}\n")]
    [InlineData("execd-record/2 xxh3=00 length=3\n{}\n")]
    [InlineData("{\"id\":1}")]
    public void Unframe_NotAnExecdRecord(string text)
    {
        var (_, error) = CommandJournal.Unframe(Encoding.ASCII.GetBytes(text));

        Assert.NotNull(error);
        Assert.Contains(error, new[] { "not an execd record (bad header)", "truncated: no header line" });
    }
}
