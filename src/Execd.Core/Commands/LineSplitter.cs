using System.Buffers;

namespace Execd.Core.Commands;

/// <summary>
/// Splits one output stream into lines with upstream execd's rules: <c>\n</c> and <c>\r</c> both end a
/// line, a <c>\r\n</c> pair counts once (also when split across chunks), a terminator with nothing
/// before it is a blank line, and an unterminated tail is held until more data or <see cref="Flush"/>.
/// Lines longer than <see cref="MaxLineBytes"/> are emitted in pieces so memory stays bounded.
/// </summary>
public sealed class LineSplitter
{
    public const int MaxLineBytes = 1 << 20;

    /// <summary>Receives a line without its terminator; an empty span is a blank line.</summary>
    public delegate void LineHandler(ReadOnlySpan<byte> line);

    private readonly ArrayBufferWriter<byte> _pending = new(256);
    private bool _lastWasCr;

    public void Process(ReadOnlySpan<byte> data, LineHandler onLine)
    {
        while (!data.IsEmpty)
        {
            if (_lastWasCr)
            {
                _lastWasCr = false;
                if (data[0] == (byte)'\n')
                {
                    data = data[1..];
                    continue;
                }
            }
            var end = data.IndexOfAny((byte)'\n', (byte)'\r');
            if (end < 0)
            {
                Hold(data, onLine);
                return;
            }
            if (_pending.WrittenCount == 0)
            {
                onLine(data[..end]);
            }
            else
            {
                _pending.Write(data[..end]);
                onLine(_pending.WrittenSpan);
                _pending.ResetWrittenCount();
            }
            _lastWasCr = data[end] == (byte)'\r';
            data = data[(end + 1)..];
        }
    }

    /// <summary>Emits the unterminated tail, if any (at the end of the stream).</summary>
    public void Flush(LineHandler onLine)
    {
        if (_pending.WrittenCount > 0)
        {
            onLine(_pending.WrittenSpan);
            _pending.ResetWrittenCount();
        }
        _lastWasCr = false;
    }

    private void Hold(ReadOnlySpan<byte> data, LineHandler onLine)
    {
        while (_pending.WrittenCount + data.Length > MaxLineBytes)
        {
            var take = MaxLineBytes - _pending.WrittenCount;
            _pending.Write(data[..take]);
            onLine(_pending.WrittenSpan);
            _pending.ResetWrittenCount();
            data = data[take..];
        }
        _pending.Write(data);
    }
}
