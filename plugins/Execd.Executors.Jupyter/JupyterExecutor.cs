using Execd.Executors.Jupyter.Kernels;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.Jupyter;

/// <summary>
/// Code contexts backed by Jupyter kernels that the daemon launches itself from the installed kernelspecs and
/// talks to over ZeroMQ (no Jupyter Server). Languages are the kernelspecs' <c>language</c> values.
/// </summary>
[RegisteredByPlugin]
internal sealed class JupyterExecutor(JupyterOptions options, ILogger<JupyterExecutor> logger) : ICodeExecutor
{
    private readonly KernelSpecs _specs = new(options, Environment.GetEnvironmentVariable);
    private readonly RuntimeDirectories _directories = new(options, Environment.GetEnvironmentVariable);

    public string Name => "jupyter";

    public IReadOnlyList<CodeLanguage> Languages
    {
        get
        {
            var (specs, problems) = _specs.Find();
            foreach (var problem in problems)
            {
                logger.LogWarning("Unreadable kernelspec: {Problem}", problem);
            }
            return specs.Where(s => s.Language.Length > 0).GroupBy(s => s.Language, StringComparer.Ordinal)
                .Select(g => KernelSpecs.Choose(g, g.Key)!)
                .Select(s => new CodeLanguage(s.Language, s.Name, s.Directory))
                .OrderBy(l => l.Language, StringComparer.Ordinal)
                .ToList();
        }
    }

    public async Task<ICodeContext> CreateContextAsync(CodeContextSpec spec, CancellationToken cancellationToken)
    {
        var kernelSpec = KernelSpecs.Choose(_specs.Find().Specs, spec.Language)
            ?? throw new CommandStartException($"no kernelspec for language '{spec.Language}'");
        var directory = _directories.Choose();
        var kernel = await Kernel.StartAsync(kernelSpec, spec, directory, options, logger, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Kernel {Kernel} started for context {Id} (pid {Pid}, files in {Directory})", kernelSpec.Name, spec.Id, kernel.ProcessId, directory);
        return new JupyterContext(spec, kernelSpec, kernel, options, logger);
    }
}
