using System.Buffers.Binary;
using Execd.Core.Storage;

namespace Execd.Core.Tests;

/// <summary>The run journal merged into a running command's record at start-up: which stream wrote each byte after the record was written.</summary>
public sealed class CommandJournalRunsTests
{
    private static long Run(long offset, bool stderr) => (offset << 1) | (stderr ? 1L : 0L);

    private static byte[] Journal(params long[] runs)
    {
        var bytes = new byte[runs.Length * sizeof(long)];
        for (var i = 0; i < runs.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), runs[i]);
        }
        return bytes;
    }

    [Fact]
    public void NoJournal_KeepsTheRecordsRuns()
    {
        List<long> recorded = [Run(0, false), Run(10, true)];
        Assert.Equal(recorded, CommandJournal.MergeRuns(recorded, null));
    }

    [Fact]
    public void JournalEntriesAfterTheRecord_AreAdded_InOffsetOrder_SameStreamCollapsed()
    {
        // The record knew stdout from 0 and stderr from 10; the journal (all entries since the start) goes on.
        var merged = CommandJournal.MergeRuns([Run(0, false), Run(10, true)],
            Journal(Run(0, false), Run(10, true), Run(25, false), Run(40, true), Run(40, true)));
        Assert.Equal([Run(0, false), Run(10, true), Run(25, false), Run(40, true)], merged);
    }

    [Fact]
    public void LaterEntryAtTheSameOffset_Wins_AndATornLastEntryIsIgnored()
    {
        // stderr announced at 30 but nothing stored, then stdout wrote at 30; then a write torn after 3 bytes.
        var journal = Journal(Run(0, false), Run(30, true), Run(30, false), Run(50, true));
        var torn = journal.AsSpan(0, journal.Length - 5).ToArray();
        Assert.Equal([Run(0, false)], CommandJournal.MergeRuns([], torn));
        Assert.Equal([Run(0, false), Run(50, true)], CommandJournal.MergeRuns([], journal));
    }
}
