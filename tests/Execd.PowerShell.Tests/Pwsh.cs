using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace Execd.PowerShell.Tests;

/// <summary>An in-process PowerShell runspace with the built <c>execd.psd1</c> imported, as a user would have it.</summary>
public sealed class Pwsh : IDisposable
{
    private static readonly Lazy<InitialSessionState> State = new(() =>
    {
        // CreateDefault2: the full language and the built-in modules (Create() is no-language mode).
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ManifestPath);
        return iss;
    });

    private readonly Runspace _runspace;

    public Pwsh()
    {
        _runspace = RunspaceFactory.CreateRunspace(State.Value);
        _runspace.Open();
    }

    public static string ManifestPath => Path.Combine(TestPaths.Root, "execd.psd1");

    /// <summary>Runs <paramref name="script"/> with <paramref name="variables"/> set; terminating errors that escape the script are returned, not thrown.</summary>
    public Result Run(string script, params (string Name, object? Value)[] variables)
    {
        using var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = _runspace;
        foreach (var (name, value) in variables)
        {
            _runspace.SessionStateProxy.SetVariable(name, value);
        }
        ps.AddScript(script);
        Collection<PSObject> output = [];
        RuntimeException? thrown = null;
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException ex)
        {
            thrown = ex;
        }
        return new Result([.. output.Select(o => o?.BaseObject)], [.. ps.Streams.Error], [.. ps.Streams.Progress], thrown);
    }

    /// <summary>Starts <paramref name="script"/> without waiting (to stop it like Ctrl+C does).</summary>
    public (System.Management.Automation.PowerShell Shell, PSDataCollection<PSObject> Output, IAsyncResult Handle) Start(string script, params (string Name, object? Value)[] variables)
    {
        foreach (var (name, value) in variables)
        {
            _runspace.SessionStateProxy.SetVariable(name, value);
        }
        var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript(script);
        var output = new PSDataCollection<PSObject>();
        return (ps, output, ps.BeginInvoke<PSObject, PSObject>(null, output));
    }

    public void Dispose() => _runspace.Dispose();

    public sealed record Result(IReadOnlyList<object?> Output, IReadOnlyList<ErrorRecord> Errors, IReadOnlyList<ProgressRecord> Progress, RuntimeException? Thrown)
    {
        public IEnumerable<string> Lines => Output.OfType<string>();

        public T Single<T>() => Assert.Single(Output.OfType<T>());

        /// <summary>The module's objects by type name (the tests load the module as users do, so its types are not referenced).</summary>
        public List<dynamic> Of(string typeName) => [.. Output.Where(o => o?.GetType().Name == typeName).Cast<dynamic>()];

        public dynamic Single(string typeName) => Assert.Single(Of(typeName));

        public Result AssertNoErrors()
        {
            Assert.Null(Thrown);
            Assert.True(Errors.Count == 0, "errors: " + string.Join(" | ", Errors.Select(e => e.FullyQualifiedErrorId + ": " + e)));
            return this;
        }
    }
}

/// <summary>A daemon shared by the tests of one class.</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    private Daemon? _daemon;

    public Daemon Daemon => _daemon ?? throw new InvalidOperationException("not started");

    public string Uri => Daemon.BaseAddress.ToString();

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}
