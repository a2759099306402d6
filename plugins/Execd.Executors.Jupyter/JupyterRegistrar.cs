using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.Executors.Jupyter;

/// <summary>Binds <see cref="JupyterOptions"/> and registers the executor with them.</summary>
internal sealed class JupyterRegistrar : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = new JupyterOptions();
        configuration.GetSection("Jupyter").Bind(options);
        services.AddSingleton(options);
        services.AddSingleton<ICodeExecutor, JupyterExecutor>();
    }
}
