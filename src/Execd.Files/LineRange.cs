using System.Buffers;

namespace Execd.Files;

/// <summary>Streams lines <c>offset</c>..<c>offset+limit-1</c> (1-based) of a file, each ending in <c>\n</c>.</summary>
internal static class LineRange
{
    public static async Task CopyAsync(Stream source, Stream destination, int offset, int limit, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long line = 1;
            long last = (long)offset + limit - 1;
            var pendingNewline = false;
            int read;
            while (line <= last && (read = await source.ReadAsync(buffer, ct)) > 0)
            {
                var pos = 0;
                while (pos < read && line <= last)
                {
                    var nl = buffer.AsSpan(pos, read - pos).IndexOf((byte)'\n');
                    var end = nl < 0 ? read : pos + nl + 1;
                    if (line >= offset)
                    {
                        await destination.WriteAsync(buffer.AsMemory(pos, end - pos), ct);
                        pendingNewline = nl < 0;
                    }
                    if (nl >= 0)
                    {
                        line++;
                    }
                    pos = end;
                }
            }
            if (pendingNewline)
            {
                // A last line without a newline still gets one (upstream writes every line followed by "\n").
                await destination.WriteAsync("\n"u8.ToArray(), ct);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
