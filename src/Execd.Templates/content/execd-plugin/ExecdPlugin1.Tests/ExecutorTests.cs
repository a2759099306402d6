using System.Text;
using Execd;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExecdPlugin1.Tests;

public sealed class ExecutorTests
{
    [Fact]
    public async Task Execute_WritesEachLineReversedOnStdout_AndExitsZero()
    {
        var context = new RecordingContext();
        var executor = new Executor(NullLogger<Executor>.Instance);

        var exit = await executor.ExecuteAsync(new CommandSpec { Id = new string('a', 32), Command = "abc\nxy" }, context, CancellationToken.None);

        Assert.Equal(CommandExit.Success, exit);
        Assert.Equal("cba\nyx\n", context.Text(OutputStream.Stdout));
    }

    [Fact]
    public async Task Execute_EmptyCommand_ExitsOneWithAReasonOnStderr()
    {
        var context = new RecordingContext();

        var exit = await new Executor(NullLogger<Executor>.Instance)
            .ExecuteAsync(new CommandSpec { Id = new string('b', 32), Command = "" }, context, CancellationToken.None);

        Assert.Equal(1, exit.ExitCode);
        Assert.Equal("empty command\n", context.Text(OutputStream.Stderr));
    }

    private sealed class RecordingContext : ICommandContext, IOutputWriter
    {
        private readonly List<(OutputStream Stream, byte[] Data)> _chunks = [];

        public IOutputWriter Output => this;

        public void ReportStarted(int? processId) { }

        public ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            _chunks.Add((stream, data.ToArray()));
            return ValueTask.CompletedTask;
        }

        public string Text(OutputStream stream) => Encoding.UTF8.GetString(_chunks.Where(c => c.Stream == stream).SelectMany(c => c.Data).ToArray());
    }
}
