using System.Globalization;
using System.Text;

namespace Execd.Server.Hosting;

/// <summary>
/// Overwrites a secret in this process's own argument and environment blocks, which the kernel shows to every
/// process in the world-readable <c>/proc/PID/cmdline</c> (and to the same user in <c>/proc/PID/environ</c>).
/// The blocks' addresses come from <c>/proc/self/stat</c> (<c>arg_start</c>, <c>arg_end</c>, <c>env_start</c>,
/// <c>env_end</c>); the bytes are rewritten through <c>/proc/self/mem</c>. .NET copied both blocks at start-up,
/// so nothing in the process reads them afterwards.
/// </summary>
internal static class ProcessArgumentScrubber
{
    /// <summary>Replaces every occurrence of <paramref name="secret"/> with <c>*</c>s. Returns how many were overwritten, or an error text.</summary>
    public static (int Overwritten, string? Error) Overwrite(string secret)
    {
        if (secret.Length == 0)
        {
            return (0, null);
        }
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); arg_start..env_end are fields 48..51.
            var blocks = new[] { (Field(fields, 48), Field(fields, 49)), (Field(fields, 50), Field(fields, 51)) };
            var needle = Encoding.UTF8.GetBytes(secret);
            var total = 0;
            using var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 0);
            foreach (var (start, end) in blocks)
            {
                total += Overwrite(mem, start, end, needle);
            }
            return (total, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentException)
        {
            return (0, ex.Message);
        }
    }

    private static long Field(string[] fields, int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);

    private static int Overwrite(FileStream mem, long start, long end, byte[] needle)
    {
        // A sanity bound: the blocks are at most a few MiB (ARG_MAX); anything else means the fields were misread.
        if (end <= start || end - start > 16 * 1024 * 1024)
        {
            return 0;
        }
        var block = new byte[end - start];
        mem.Position = start;
        mem.ReadExactly(block);
        var count = 0;
        for (var i = block.AsSpan().IndexOf(needle); i >= 0; i = block.AsSpan().IndexOf(needle))
        {
            block.AsSpan(i, needle.Length).Fill((byte)'*');
            count++;
        }
        if (count > 0)
        {
            mem.Position = start;
            mem.Write(block);
        }
        return count;
    }
}
