using Execd.Core.Plugins;

namespace Execd.Server.Api;

/// <summary><c>/ping</c> and <c>/admin/*</c>: liveness and what the daemon is made of.</summary>
public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ping", () => ApiError.EmptyOk());
        app.MapGet("/admin/plugins", (PluginCatalog catalog, Execd.Core.Code.CodeService code) => TypedResults.Json(
            catalog.Plugins.Select(p => new PluginResponse(p.Name, p.Version, p.Path, p.State.ToString(), p.Reason, p.Contributions, p.ContractVersion, code.LanguagesOf(p.Name))).ToArray(),
            WireJson.Default.PluginResponseArray));
        return app;
    }
}
