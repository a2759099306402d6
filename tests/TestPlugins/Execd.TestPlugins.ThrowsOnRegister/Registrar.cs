using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.TestPlugins.ThrowsOnRegister;

internal sealed class Registrar : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        throw new InvalidOperationException("registrar exploded on purpose");
}
