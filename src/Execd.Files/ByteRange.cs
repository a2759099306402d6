using System.Globalization;

namespace Execd.Files;

/// <summary>One satisfiable byte range of a file of known length (RFC 9110 §14.1.2).</summary>
internal readonly record struct ByteRange(long Start, long Length)
{
    public long End => Start + Length - 1;

    /// <summary>
    /// The first range of a <c>Range: bytes=…</c> header, clamped to the file. Null when the header is
    /// malformed or the range lies outside the file (both answered 416, as upstream does). Further ranges
    /// are ignored: no multipart/byteranges (upstream serves only the first, too).
    /// </summary>
    public static ByteRange? Parse(string header, long size)
    {
        header = header.Trim();
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var first = header[6..].Split(',')[0].Trim();
        var dash = first.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return null;
        }
        var startText = first[..dash].Trim();
        var endText = first[(dash + 1)..].Trim();
        if (startText.Length == 0)
        {
            // Suffix: the last N bytes.
            if (!TryParse(endText, out var suffix) || suffix == 0 || size == 0)
            {
                return null;
            }
            var n = Math.Min(suffix, size);
            return new ByteRange(size - n, n);
        }
        if (!TryParse(startText, out var start) || start >= size)
        {
            return null;
        }
        if (endText.Length == 0)
        {
            return new ByteRange(start, size - start);
        }
        if (!TryParse(endText, out var end) || end < start)
        {
            return null;
        }
        return new ByteRange(start, Math.Min(end, size - 1) - start + 1);
    }

    private static bool TryParse(string s, out long value) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
