// `dotnet new web` with its one route renamed: the empty minimal-API app the footprint benchmark measures the
// daemon against (start-up to the first /ping, idle memory, published folder size).
var app = WebApplication.CreateBuilder(args).Build();
app.MapGet("/ping", () => "pong");
app.Run();
