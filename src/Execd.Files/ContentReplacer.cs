using System.Buffers;
using System.Text;

namespace Execd.Files;

/// <summary>
/// <c>strings.ReplaceAll</c> on a file of any size: streamed through a bounded buffer into a stage beside
/// the file, which keeps the file's mode and owner and is renamed over it. A file with no match is not
/// rewritten.
/// </summary>
internal static class ContentReplacer
{
    private const int ChunkSize = 256 * 1024;

    public static async Task<int> ReplaceAsync(FsEntry file, string oldText, string newText, CancellationToken ct)
    {
        var oldBytes = Encoding.UTF8.GetBytes(oldText);
        var newBytes = Encoding.UTF8.GetBytes(newText);
        if (await CountAsync(file.Path, oldBytes, null, null, ct) is var count && count == 0)
        {
            return 0;
        }
        await using var stage = StagedFile.Create(file.Path);
        await CountAsync(file.Path, oldBytes, newBytes, stage.Stream, ct);
        await stage.CommitAsync(new PermissionChange(file.Permissions, (int)file.Uid, (int)file.Gid));
        return count;
    }

    /// <summary>
    /// Counts non-overlapping matches left to right; with an output, writes the replaced content too. Up to
    /// <c>old.Length - 1</c> bytes are carried between chunks so a match across a chunk edge is found.
    /// </summary>
    private static async Task<int> CountAsync(string path, byte[] old, byte[]? replacement, Stream? output, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize + old.Length);
        try
        {
            await using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var count = 0;
            var carry = 0;
            while (true)
            {
                var read = await input.ReadAsync(buffer.AsMemory(carry, ChunkSize), ct);
                var length = carry + read;
                var last = read == 0;
                var pos = 0;
                while (true)
                {
                    var hit = buffer.AsSpan(pos, length - pos).IndexOf(old);
                    if (hit < 0)
                    {
                        break;
                    }
                    count++;
                    if (output is not null)
                    {
                        await output.WriteAsync(buffer.AsMemory(pos, hit), ct);
                        await output.WriteAsync(replacement, ct);
                    }
                    pos += hit + old.Length;
                }
                // Keep a tail that might be the start of a match completed by the next chunk.
                var keep = last ? 0 : Math.Min(length - pos, old.Length - 1);
                if (output is not null)
                {
                    await output.WriteAsync(buffer.AsMemory(pos, length - pos - keep), ct);
                }
                if (last)
                {
                    return count;
                }
                buffer.AsSpan(length - keep, keep).CopyTo(buffer);
                carry = keep;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
