using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>
/// The file cmdlets against a real daemon on loopback, with real files in a directory each test owns. The
/// daemon runs on this machine, so "remote" and "local" are two subdirectories of that one directory.
/// </summary>
public sealed class FileCmdletTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly TestDirectory _dir = TestPaths.NewDirectory("pwsh-files");

    private Pwsh.Result Run(string script, params (string, object?)[] variables) =>
        _pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, [("uri", fixture.Uri), ("dir", _dir.Path), .. variables]);

    public void Dispose()
    {
        _pwsh.Dispose();
        _dir.Dispose();
    }

    private string File(string relative, string content, UnixFileMode? mode = null)
    {
        var path = _dir.Combine(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
        if (mode is { } m)
        {
            System.IO.File.SetUnixFileMode(path, m);
        }
        return path;
    }

    private static void AssertError(Pwsh.Result r, string errorId, string target)
    {
        var error = Assert.Single(r.Errors);
        Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(target, error.TargetObject?.ToString());
        Assert.Null(r.Thrown);
    }

    [Fact]
    public void GetExecdItem_FileAndDirectory_ReportsTypeSizeModeAndOwner()
    {
        var file = File("a b ü.txt", "hello", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var r = Run("Get-ExecdItem $file, $dir", ("file", file)).AssertNoErrors();

        var items = r.Of("ExecdItem");
        Assert.Equal(2, items.Count);
        Assert.Equal(file, items[0].Path);
        Assert.Equal("a b ü.txt", items[0].Name);
        Assert.Equal("file", items[0].Type);
        Assert.Equal(5L, items[0].Size);
        Assert.Equal("640", items[0].Mode);
        Assert.Equal(Environment.UserName, items[0].Owner);
        Assert.Equal("directory", items[1].Type);
        Assert.True(items[1].IsDirectory);
    }

    [Fact]
    public void GetExecdItem_MissingPathAmongOthers_IsANonTerminatingItemNotFound()
    {
        var file = File("there.txt", "x");
        var missing = _dir.Combine("missing.txt");

        var r = Run("$missing, $file | Get-ExecdItem", ("missing", missing), ("file", file));

        AssertError(r, "ExecdItemNotFound", missing);
        Assert.Equal(file, r.Single("ExecdItem").Path);
    }

    [Fact]
    public void GetExecdItem_RelativePath_IsInvalidRequest()
    {
        var r = Run("Get-ExecdItem 'relative/path'");

        AssertError(r, "ExecdInvalidRequest", "relative/path");
    }

    [Fact]
    public void SendExecdFile_LocalFile_UploadsIntoNewDirectoriesWithMode()
    {
        var local = File("local/data ü.bin", "payload " + new string('x', 100_000));
        var remote = _dir.Combine("remote", "deep", "data.bin");

        var r = Run("Send-ExecdFile $local $remote -Mode 600 -PassThru", ("local", local), ("remote", remote)).AssertNoErrors();

        Assert.Equal(System.IO.File.ReadAllBytes(local), System.IO.File.ReadAllBytes(remote));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(remote));
        var item = r.Single("ExecdItem");
        Assert.Equal(remote, item.Path);
        Assert.Equal("600", item.Mode);
        Assert.Equal(new FileInfo(local).Length, (long)item.Size);
        Assert.Contains(r.Progress, p => p.Activity == "Send-ExecdFile" && p.RecordType == ProgressRecordType.Completed);
    }

    [Fact]
    public void SendExecdFile_FromGetChildItem_UploadsEachIntoTheDestinationDirectory()
    {
        File("local/one.txt", "1");
        File("local/two.txt", "22");
        File("local/skip.log", "no");
        var remote = _dir.Combine("remote");

        Run("Get-ChildItem (Join-Path $dir 'local/*.txt') | Send-ExecdFile -Destination ($remote + '/')", ("remote", remote)).AssertNoErrors();

        Assert.Equal(["one.txt", "two.txt"], Directory.GetFiles(remote).Select(Path.GetFileName).Order());
        Assert.Equal("22", System.IO.File.ReadAllText(Path.Combine(remote, "two.txt")));
    }

    [Fact]
    public void SendExecdFile_UnknownOwner_IsInvalidFileAndWritesNothing()
    {
        var local = File("local/a.txt", "a");
        var remote = _dir.Combine("remote", "a.txt");

        var r = Run("Send-ExecdFile $local $remote -Owner no-such-user-xyz", ("local", local), ("remote", remote));

        AssertError(r, "ExecdInvalidFile", local);
        Assert.False(System.IO.File.Exists(remote));
    }

    [Fact]
    public void SendExecdFile_MissingLocalFile_IsLocalPathNotFound()
    {
        var missing = _dir.Combine("local", "nope.txt");

        var r = Run("Send-ExecdFile $missing ($dir + '/remote/')", ("missing", missing));

        AssertError(r, "ExecdLocalPathNotFound", missing);
        Assert.False(Directory.Exists(_dir.Combine("remote")));
    }

    [Fact]
    public void SendExecdFile_WhatIf_UploadsNothing()
    {
        var local = File("local/a.txt", "a");
        var remote = _dir.Combine("remote.txt");

        Run("Send-ExecdFile $local $remote -WhatIf", ("local", local), ("remote", remote)).AssertNoErrors();

        Assert.False(System.IO.File.Exists(remote));
    }

    [Fact]
    public void ReceiveExecdFile_WholeFile_WritesTheSameBytesAndLeavesNoStage()
    {
        var content = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(content);
        var remote = _dir.Combine("remote", "blob.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(remote)!);
        System.IO.File.WriteAllBytes(remote, content);
        Directory.CreateDirectory(_dir.Combine("local"));
        var local = _dir.Combine("local", "copy.bin");

        var r = Run("Receive-ExecdFile $remote -Destination $local", ("remote", remote), ("local", local)).AssertNoErrors();

        Assert.Equal(content, System.IO.File.ReadAllBytes(local));
        Assert.Equal(local, r.Single<FileInfo>().FullName);
        Assert.Equal([local], Directory.GetFiles(_dir.Combine("local")));
        Assert.Contains(r.Progress, p => p.Activity == "Receive-ExecdFile" && p.RecordType == ProgressRecordType.Completed);
    }

    [Theory]
    [InlineData("-Range '0-3'", "0123")]
    [InlineData("-Range '-3'", "789")]
    [InlineData("-Range '5-'", "56789")]
    [InlineData("-Offset 2 -Length 4", "2345")]
    [InlineData("-Offset 8", "89")]
    [InlineData("-Length 2", "01")]
    public void ReceiveExecdFile_ByteRange_WritesOnlyThoseBytes(string range, string expected)
    {
        var remote = File("remote/digits.txt", "0123456789");
        var local = _dir.Combine("part.txt");

        Run($"Receive-ExecdFile $remote -Destination $local {range}", ("remote", remote), ("local", local)).AssertNoErrors();

        Assert.Equal(expected, System.IO.File.ReadAllText(local));
    }

    [Fact]
    public void ReceiveExecdFile_RangeOutsideTheFile_IsRangeNotSatisfiableAndWritesNothing()
    {
        var remote = File("remote/digits.txt", "0123456789");
        var local = _dir.Combine("part.txt");

        var r = Run("Receive-ExecdFile $remote -Destination $local -Offset 50", ("remote", remote), ("local", local));

        AssertError(r, "ExecdRangeNotSatisfiable", remote);
        Assert.Equal([remote], Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void ReceiveExecdFile_MissingRemoteFile_IsItemNotFound()
    {
        var missing = _dir.Combine("remote", "gone.txt");

        var r = Run("Receive-ExecdFile $missing -Destination (Join-Path $dir 'x.txt')", ("missing", missing));

        AssertError(r, "ExecdItemNotFound", missing);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void ReceiveExecdFile_ExistingLocalFile_NeedsForce()
    {
        var remote = File("remote/new.txt", "new");
        var local = File("local.txt", "old");

        var refused = Run("Receive-ExecdFile $remote -Destination $local", ("remote", remote), ("local", local));
        AssertError(refused, "ExecdLocalFileExists", local);
        Assert.Equal("old", System.IO.File.ReadAllText(local));

        Run("Receive-ExecdFile $remote -Destination $local -Force", ("remote", remote), ("local", local)).AssertNoErrors();
        Assert.Equal("new", System.IO.File.ReadAllText(local));
    }

    [Fact]
    public void ReceiveExecdFile_FromGetExecdChildItem_DownloadsEachIntoALocalDirectory()
    {
        File("remote/a.txt", "A");
        File("remote/b.txt", "B");
        Directory.CreateDirectory(_dir.Combine("remote", "sub"));
        var local = Directory.CreateDirectory(_dir.Combine("local")).FullName;

        var r = Run("Get-ExecdChildItem (Join-Path $dir remote) | Where-Object Type -eq file | Receive-ExecdFile -Destination $local", ("local", local)).AssertNoErrors();

        Assert.Equal(2, r.Output.OfType<FileInfo>().Count());
        Assert.Equal("A", System.IO.File.ReadAllText(Path.Combine(local, "a.txt")));
        Assert.Equal("B", System.IO.File.ReadAllText(Path.Combine(local, "b.txt")));
    }

    [Fact]
    public void ReceiveExecdFile_WhatIf_WritesNothing()
    {
        var remote = File("remote/a.txt", "A");
        var local = _dir.Combine("a-copy.txt");

        Run("Receive-ExecdFile $remote -Destination $local -WhatIf", ("remote", remote), ("local", local)).AssertNoErrors();

        Assert.False(System.IO.File.Exists(local));
    }

    [Fact]
    public void GetExecdChildItem_DepthAndRecurse_ListLevelsInLexicalOrder()
    {
        File("tree/b.txt", "b");
        File("tree/a/x.txt", "x");
        File("tree/a/deeper/y.txt", "y");
        var tree = _dir.Combine("tree");

        var r = Run("""
            (Get-ExecdChildItem $tree).Path -join '|'
            (Get-ExecdChildItem $tree -Depth 2).Path -join '|'
            (Get-ExecdChildItem $tree -Recurse | Where-Object Type -eq file).Name -join '|'
            Get-ExecdChildItem $tree | Format-Table | Out-String -Width 400
            """, ("tree", tree)).AssertNoErrors();

        var lines = r.Lines.ToList();
        Assert.Equal($"{tree}/a|{tree}/b.txt", lines[0]);
        Assert.Equal($"{tree}/a|{tree}/a/deeper|{tree}/a/x.txt|{tree}/b.txt", lines[1]);
        Assert.Equal("y.txt|x.txt|b.txt", lines[2]);
        Assert.Contains("Mode", lines[3]);
        Assert.Contains($"{tree}/b.txt", lines[3]);
    }

    [Fact]
    public void GetExecdChildItem_FileInsteadOfDirectory_IsInvalidRequest()
    {
        var file = File("plain.txt", "x");

        var r = Run("Get-ExecdChildItem $file", ("file", file));

        AssertError(r, "ExecdInvalidRequest", file);
    }

    [Fact]
    public void RemoveExecdItem_FilesAndDirectories_DeletesOnlyWhatItIsAllowedTo()
    {
        var file = File("f.txt", "f");
        File("d/inner.txt", "i");
        var directory = _dir.Combine("d");

        var refused = Run("Remove-ExecdItem $d", ("d", directory));
        AssertError(refused, "ExecdItemIsDirectory", directory);
        Assert.True(Directory.Exists(directory));

        Run("Remove-ExecdItem $f; Remove-ExecdItem $d -Recurse", ("f", file), ("d", directory)).AssertNoErrors();
        Assert.False(System.IO.File.Exists(file));
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void RemoveExecdItem_MissingPath_IsItemNotFound()
    {
        var missing = _dir.Combine("missing.txt");

        AssertError(Run("Remove-ExecdItem $m", ("m", missing)), "ExecdItemNotFound", missing);
    }

    [Fact]
    public void RemoveExecdItem_PipelineWithWhatIf_KeepsEverything_ThenDeletesEverything()
    {
        File("box/a.txt", "a");
        File("box/sub/b.txt", "b");
        var box = _dir.Combine("box");

        Run("Get-ExecdChildItem $box | Remove-ExecdItem -Recurse -WhatIf", ("box", box)).AssertNoErrors();
        Assert.Equal(2, Directory.GetFileSystemEntries(box).Length);

        Run("Get-ExecdChildItem $box | Remove-ExecdItem -Recurse", ("box", box)).AssertNoErrors();
        Assert.Empty(Directory.GetFileSystemEntries(box));
    }

    [Fact]
    public void RemoveExecdItem_Symlink_RemovesTheLinkNotItsTarget()
    {
        var target = File("keep/t.txt", "t");
        var link = _dir.Combine("link");
        System.IO.File.CreateSymbolicLink(link, _dir.Combine("keep"));

        Run("Remove-ExecdItem $link -Recurse", ("link", link)).AssertNoErrors();

        Assert.False(Path.Exists(link));
        Assert.True(System.IO.File.Exists(target));
    }

    [Fact]
    public void MoveExecdItem_RenameAndMoveIntoDirectory()
    {
        var a = File("a.txt", "A");
        var b = File("b.txt", "B");
        var renamed = _dir.Combine("renamed.txt");
        var into = _dir.Combine("into") + "/";

        var r = Run("""
            Move-ExecdItem $a $renamed
            Get-ExecdItem $renamed, $b | Move-ExecdItem -Destination $into -PassThru
            """, ("a", a), ("b", b), ("renamed", renamed), ("into", into)).AssertNoErrors();

        Assert.Equal([into + "b.txt", into + "renamed.txt"], r.Of("ExecdItem").Select(i => (string)i.Path).Order());
        Assert.Equal("A", System.IO.File.ReadAllText(into + "renamed.txt"));
        Assert.False(System.IO.File.Exists(a));
        Assert.False(System.IO.File.Exists(b));
    }

    [Fact]
    public void MoveExecdItem_ExistingDestination_IsInvalidRequestAndMovesNothing()
    {
        var a = File("a.txt", "A");
        var b = File("b.txt", "B");

        var r = Run("Move-ExecdItem $a $b", ("a", a), ("b", b));

        AssertError(r, "ExecdInvalidRequest", a);
        Assert.Equal("A", System.IO.File.ReadAllText(a));
        Assert.Equal("B", System.IO.File.ReadAllText(b));
    }

    [Fact]
    public void MoveExecdItem_WhatIf_MovesNothing()
    {
        var a = File("a.txt", "A");

        Run("Move-ExecdItem $a ($dir + '/b.txt') -WhatIf", ("a", a)).AssertNoErrors();

        Assert.True(System.IO.File.Exists(a));
        Assert.False(System.IO.File.Exists(_dir.Combine("b.txt")));
    }

    [Fact]
    public void SetExecdItemPermission_ModeOwnerGroup_AreApplied()
    {
        var a = File("a.txt", "A");
        var b = File("b.txt", "B");

        var r = Run("$a, $b | Set-ExecdItemPermission -Mode 0750 -Owner nobody -Group nogroup -PassThru", ("a", a), ("b", b)).AssertNoErrors();

        var items = r.Of("ExecdItem");
        Assert.Equal(2, items.Count);
        Assert.All(items, i =>
        {
            Assert.Equal("750", i.Mode);
            Assert.Equal("nobody", i.Owner);
            Assert.Equal("nogroup", i.Group);
        });
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute,
            System.IO.File.GetUnixFileMode(a));
    }

    [Fact]
    public void SetExecdItemPermission_UnknownGroup_IsInvalidRequestAndChangesNothing()
    {
        var a = File("a.txt", "A", UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var r = Run("Set-ExecdItemPermission $a -Mode 777 -Group no-such-group-xyz", ("a", a));

        AssertError(r, "ExecdInvalidRequest", a);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(a));
    }

    [Fact]
    public void SetExecdItemPermission_NothingToChange_IsTerminating()
    {
        var a = File("a.txt", "A");

        // try/catch sees terminating errors only (non-terminating ones would pass it by).
        var r = Run("try { Set-ExecdItemPermission $a; 'not stopped' } catch { 'caught ' + $_.FullyQualifiedErrorId }", ("a", a));

        Assert.StartsWith("caught ExecdNothingToChange,", Assert.Single(r.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public void SetExecdItemPermission_WhatIf_ChangesNothing()
    {
        var a = File("a.txt", "A", UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Run("Set-ExecdItemPermission $a -Mode 777 -WhatIf", ("a", a)).AssertNoErrors();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(a));
    }

    [Fact]
    public void NewExecdDirectory_NestedPathsFromThePipeline_AreCreatedWithMode()
    {
        var one = _dir.Combine("new", "one");
        var two = _dir.Combine("new", "two", "deep");

        var r = Run("$one, $two | New-ExecdDirectory -Mode 700", ("one", one), ("two", two)).AssertNoErrors();

        Assert.Equal([one, two], r.Of("ExecdItem").Select(i => (string)i.Path));
        Assert.All(r.Of("ExecdItem"), i => Assert.Equal("directory", i.Type));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, System.IO.File.GetUnixFileMode(two));
    }

    [Fact]
    public void NewExecdDirectory_PathIsAFile_IsInvalidRequest()
    {
        var file = File("taken", "x");

        AssertError(Run("New-ExecdDirectory $f", ("f", file)), "ExecdInvalidRequest", file);
        Assert.True(System.IO.File.Exists(file));
    }

    [Fact]
    public void NewExecdDirectory_WhatIf_CreatesNothing()
    {
        var path = _dir.Combine("not-yet");

        Run("New-ExecdDirectory $p -WhatIf", ("p", path)).AssertNoErrors();

        Assert.False(Directory.Exists(path));
    }
}
