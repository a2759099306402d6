using Execd.Core.Commands;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Core.Tests;

public sealed class EnvironmentTests
{
    private static readonly Dictionary<string, string> Env = new() { ["HOME"] = "/home/u", ["BASE_DIR"] = "project", ["MID"] = "m" };

    [Theory]
    [InlineData("~/docs/$BASE_DIR", "/home/u/docs/project")]
    [InlineData("", "")]
    [InlineData("prefix/$MID/suffix", "prefix/m/suffix")]
    [InlineData("prefix/${MID}x", "prefix/mx")]
    [InlineData("~", "/home/u")]
    [InlineData("a~b", "a~b")]
    [InlineData("cost$", "cost$")]
    public void ExpandPath_DefinedVariables_Expand(string input, string expected)
    {
        Assert.Equal(expected, PathExpander.ExpandPath(input, Env));
    }

    [Fact]
    public void ExpandPath_UndefinedVariables_ErrorNamesThemSorted()
    {
        var ex = Assert.Throws<ArgumentException>(() => PathExpander.ExpandPath("/x/$ZED/$ALPHA/$MID", Env));
        Assert.Equal("path references undefined environment variables: ALPHA,ZED", ex.Message);
    }

    [Fact]
    public void ParseEnvFile_CommentsBlankAndBadLinesSkipped_ValuesExpanded()
    {
        var bad = new List<string>();
        var parsed = EnvironmentBuilder.ParseEnvFile("# comment\n\nPATH=$BASE_DIR/bin\nno-equals\nEMPTY=\nQUOTED=\"x\"\n  SPACED=1  \n", Env, bad.Add);

        Assert.Equal(new Dictionary<string, string> { ["PATH"] = "project/bin", ["EMPTY"] = "", ["QUOTED"] = "\"x\"", ["SPACED"] = "1" }, parsed);
        Assert.Equal(["no-equals"], bad);
    }

    [Fact]
    public void Build_RequestEnvsOverrideFileWhichOverridesProcess()
    {
        using var dir = TestPaths.NewDirectory("envs");
        var file = dir.Combine("extra.env");
        File.WriteAllText(file, "EXECD_TEST_A=from-file\nEXECD_TEST_B=from-file\n");
        Environment.SetEnvironmentVariable("EXECD_ENVS", file);
        Environment.SetEnvironmentVariable("EXECD_TEST_C", "from-process");
        try
        {
            var env = new EnvironmentBuilder(NullLogger<EnvironmentBuilder>.Instance).Build(new Dictionary<string, string> { ["EXECD_TEST_B"] = "from-request" });

            Assert.Equal("from-file", env["EXECD_TEST_A"]);
            Assert.Equal("from-request", env["EXECD_TEST_B"]);
            Assert.Equal("from-process", env["EXECD_TEST_C"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("EXECD_ENVS", null);
            Environment.SetEnvironmentVariable("EXECD_TEST_C", null);
        }
    }

    [Fact]
    public void Build_MissingEnvFile_IsIgnored()
    {
        Environment.SetEnvironmentVariable("EXECD_ENVS", "/definitely/missing.env");
        try
        {
            var env = new EnvironmentBuilder(NullLogger<EnvironmentBuilder>.Instance).Build(null);
            Assert.Equal("/definitely/missing.env", env["EXECD_ENVS"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("EXECD_ENVS", null);
        }
    }
}
