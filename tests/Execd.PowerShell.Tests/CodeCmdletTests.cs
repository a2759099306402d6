using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>A daemon whose Jupyter executor keeps its kernel files in a test-owned directory.</summary>
public sealed class CodeDaemonFixture : IAsyncLifetime
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("pscode");
    private Daemon? _daemon;

    public string Uri => (_daemon ?? throw new InvalidOperationException("not started")).BaseAddress.ToString();

    public string Directory => _dir.Path;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync(new Dictionary<string, string?>
    {
        ["Jupyter:Directories:0"] = _dir.Combine("jupyter"),
        ["Execd:Code:LanguageWait"] = "00:00:00.2",
    });

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
        _dir.Dispose();
    }
}

/// <summary>The code cmdlets against a real daemon and a real Python kernel.</summary>
public sealed class CodeCmdletTests(CodeDaemonFixture fixture) : IClassFixture<CodeDaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();

    private Pwsh.Result Run(string script, params (string, object?)[] variables) =>
        _pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, [("uri", fixture.Uri), .. variables]);

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void InvokeExecdCode_StateTextAndResult_AsTheyCome()
    {
        var r = Run("$c = New-ExecdCodeContext python; $c; $c | Invoke-ExecdCode 'x = 21'; $c | Invoke-ExecdCode \"print('hello')`nx * 2\"; $c | Remove-ExecdCodeContext -Confirm:$false")
            .AssertNoErrors();
        Assert.Single(r.Of("ExecdCodeContext"));
        Assert.Equal(["hello"], r.Lines);
        var result = r.Single("ExecdCodeResult");
        Assert.Equal("42", (string)result.Text);
        Assert.True((int)result.ExecutionCount > 0);
    }

    [Fact]
    public void InvokeExecdCode_Exception_ErrorRecordWithKernelName()
    {
        var r = Run("Invoke-ExecdCode -Language python 'raise ValueError(\"nope\")'");
        var error = Assert.Single(r.Errors);
        Assert.Equal("ExecdCodeError", error.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal("ValueError: nope", error.Exception.Message);
    }

    [Fact]
    public void InvokeExecdCode_OutFileAndOutDirectory_SaveTheImage()
    {
        const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        var file = Path.Combine(fixture.Directory, "one.png");
        var dir = Path.Combine(fixture.Directory, "images");
        var code = $"from IPython.display import display\ndisplay({{'image/png': '{Png}'}}, raw=True)";
        var r = Run("Invoke-ExecdCode -Language python $code -OutFile $file -OutDirectory $dir", ("code", code), ("file", file), ("dir", dir)).AssertNoErrors();
        var result = r.Single("ExecdCodeResult");
        Assert.Equal(Convert.FromBase64String(Png), File.ReadAllBytes(file));
        var saved = Assert.Single(Directory.GetFiles(dir, "*.png"));
        Assert.Equal(Convert.FromBase64String(Png), File.ReadAllBytes(saved));
        Assert.Contains(file, (string[])result.SavedTo);
    }

    [Fact]
    public async Task GetAndStop_ListsBusyContextAndInterruptsItsLoop()
    {
        var id = (string)Run("(New-ExecdCodeContext python).Id").AssertNoErrors().Lines.Single();
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Uri), Timeout = TimeSpan.FromSeconds(60) };
        var loop = http.PostAsync("/code", new StringContent($"{{\"code\":\"while True: pass\",\"context\":{{\"id\":\"{id}\"}}}}"));
        var r = Run("""
            $deadline = (Get-Date).AddSeconds(30)
            while ((Get-ExecdCodeContext $id).State -ne 'busy' -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Get-ExecdCodeContext -Language python | Where-Object Id -eq $id
            Start-Sleep -Milliseconds 300
            Stop-ExecdCode $id
            """, ("id", id)).AssertNoErrors();
        Assert.Equal("busy", (string)r.Single("ExecdCodeContext").State);
        using var response = await loop.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("KeyboardInterrupt", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Run("Remove-ExecdCodeContext $id -Confirm:$false", ("id", id)).AssertNoErrors();
        Assert.Empty(Run("Get-ExecdCodeContext $id").Of("ExecdCodeContext"));
    }
}
