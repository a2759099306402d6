using Execd.Server.Hosting;

return await ExecdApp.RunAsync(args);
