namespace Execd.Executors.BashSession;

/// <summary>
/// Splits one of the shell's output streams into user bytes and protocol markers. A marker is
/// <c>\x1fEXECD:&lt;32 hex token&gt;:&lt;optional exit code&gt;\n</c>; the token is random per run and never
/// stored in a shell variable, so user output cannot fake the end of a run. Bytes that only look like the
/// start of a marker are held back until they can be decided, so a marker split across reads is still found.
/// <c>marker</c> returns whether the token was one of ours; if not, the bytes are passed on as output.
/// </summary>
internal sealed class MarkerScanner(Func<ReadOnlyMemory<byte>, ValueTask> emit, Func<string, int?, bool> marker)
{
    internal static ReadOnlySpan<byte> Prefix => "\u001fEXECD:"u8;
    internal const int TokenLength = 32;
    private const int MaxCodeDigits = 4;
    private const int MaxMarkerLength = 7 + TokenLength + 1 + MaxCodeDigits + 1;

    private byte[] _pending = [];

    public async ValueTask FeedAsync(ReadOnlyMemory<byte> chunk)
    {
        ReadOnlyMemory<byte> buffer = chunk;
        if (_pending.Length > 0)
        {
            var joined = new byte[_pending.Length + chunk.Length];
            _pending.CopyTo(joined, 0);
            chunk.CopyTo(joined.AsMemory(_pending.Length));
            buffer = joined;
            _pending = [];
        }
        var position = 0;
        while (position < buffer.Length)
        {
            var start = buffer.Span[position..].IndexOf((byte)0x1f);
            if (start < 0)
            {
                await emit(buffer[position..]).ConfigureAwait(false);
                return;
            }
            start += position;
            if (start > position)
            {
                await emit(buffer[position..start]).ConfigureAwait(false);
            }
            var (state, length, token, code) = Parse(buffer.Span[start..]);
            switch (state)
            {
                case ParseState.Incomplete:
                    _pending = buffer[start..].ToArray();
                    return;
                case ParseState.NotMarker:
                    await emit(buffer.Slice(start, 1)).ConfigureAwait(false);
                    position = start + 1;
                    break;
                default:
                    if (!marker(token!, code))
                    {
                        // Well-formed but not a token of ours: it is user output.
                        await emit(buffer.Slice(start, length)).ConfigureAwait(false);
                    }
                    position = start + length;
                    break;
            }
        }
    }

    /// <summary>End of stream: whatever was held back was not a marker.</summary>
    public async ValueTask FlushAsync()
    {
        if (_pending.Length > 0)
        {
            var rest = _pending;
            _pending = [];
            await emit(rest).ConfigureAwait(false);
        }
    }

    private enum ParseState { Incomplete, NotMarker, Marker }

    private static (ParseState State, int Length, string? Token, int? Code) Parse(ReadOnlySpan<byte> s)
    {
        var prefix = Prefix;
        for (var i = 0; i < prefix.Length; i++)
        {
            if (i >= s.Length)
            {
                return (ParseState.Incomplete, 0, null, null);
            }
            if (s[i] != prefix[i])
            {
                return (ParseState.NotMarker, 0, null, null);
            }
        }
        var p = prefix.Length;
        for (var i = 0; i < TokenLength; i++, p++)
        {
            if (p >= s.Length)
            {
                return (ParseState.Incomplete, 0, null, null);
            }
            if (!char.IsAsciiHexDigitLower((char)s[p]))
            {
                return (ParseState.NotMarker, 0, null, null);
            }
        }
        if (p >= s.Length)
        {
            return (ParseState.Incomplete, 0, null, null);
        }
        if (s[p++] != (byte)':')
        {
            return (ParseState.NotMarker, 0, null, null);
        }
        var digitsStart = p;
        while (true)
        {
            if (p >= s.Length)
            {
                return p - digitsStart > MaxCodeDigits ? (ParseState.NotMarker, 0, null, null) : (ParseState.Incomplete, 0, null, null);
            }
            var b = s[p];
            if (b == (byte)'\n')
            {
                break;
            }
            if (!char.IsAsciiDigit((char)b) || p - digitsStart >= MaxCodeDigits)
            {
                return (ParseState.NotMarker, 0, null, null);
            }
            p++;
        }
        var token = System.Text.Encoding.ASCII.GetString(s.Slice(prefix.Length, TokenLength));
        int? code = p > digitsStart ? int.Parse(s[digitsStart..p], provider: System.Globalization.CultureInfo.InvariantCulture) : null;
        return (ParseState.Marker, p + 1, token, code);
    }

    internal static int MaxLength => MaxMarkerLength;
}
