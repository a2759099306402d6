using System.Security.Cryptography;
using System.Text;

namespace Execd.Files;

/// <summary>
/// A new file written beside its target (<c>.&lt;name&gt;.upload-&lt;random&gt;</c> in the same directory, so
/// the final rename is atomic and no temp directory is involved). Until <see cref="Commit"/> the target is
/// untouched; disposing an uncommitted stage deletes it, so a broken write never leaves a half file.
/// </summary>
internal sealed class StagedFile : IAsyncDisposable
{
    private bool _committed;

    private StagedFile(string target, string stagePath, FileStream stream)
    {
        Target = target;
        StagePath = stagePath;
        Stream = stream;
    }

    public string Target { get; }
    public string StagePath { get; }
    public FileStream Stream { get; }

    public static StagedFile Create(string target)
    {
        var dir = Path.GetDirectoryName(target)!;
        var name = Path.GetFileName(target);
        var random = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        // File names are limited to 255 bytes: a long target name is left out of the stage's name.
        var stageName = Encoding.UTF8.GetByteCount(name) > 200 ? $".upload-{random}" : $".{name}.upload-{random}";
        var stagePath = Path.Combine(dir, stageName);
        var stream = new FileStream(stagePath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            Options = FileOptions.Asynchronous,
            // What upstream creates (0777 less the umask) unless a mode is given.
            UnixCreateMode = (UnixFileMode)0x1FF,
        });
        return new StagedFile(target, stagePath, stream);
    }

    /// <summary>Flushes to disk, applies <paramref name="permissions"/>, and renames over the target.</summary>
    public async Task CommitAsync(PermissionChange? permissions)
    {
        await Stream.FlushAsync();
        Stream.Flush(flushToDisk: true);
        await Stream.DisposeAsync();
        permissions?.Apply(StagePath);
        File.Move(StagePath, Target, overwrite: true);
        _committed = true;
        NativeFs.FsyncDirectory(Path.GetDirectoryName(Target)!);
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        if (!_committed)
        {
            try
            {
                File.Delete(StagePath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The directory itself went away; nothing is left under the target name either way.
            }
        }
    }
}
