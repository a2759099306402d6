using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Files.Tests;

/// <summary>The requests the official SDKs send for their filesystem calls, and small readers for the answers.</summary>
internal static class FilesClient
{
    public static string Query(params string[] paths) => string.Join("&", paths.Select(p => "path=" + Uri.EscapeDataString(p)));

    public static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<JsonNode> JsonOf(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Status, code and message of an error answer (always JSON).</summary>
    public static async Task<(int Status, string Code, string Message)> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return ((int)response.StatusCode, (string)json["code"]!, (string)json["message"]!);
    }

    /// <summary>One metadata part then one file part per file, as the JS SDK's <c>writeFiles</c> sends them.</summary>
    public static MultipartFormDataContent Upload(params (string Metadata, HttpContent? File)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (metadata, file) in files)
        {
            var meta = new StringContent(metadata, Encoding.UTF8);
            meta.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            form.Add(meta, "metadata", "metadata");
            if (file is not null)
            {
                file.Headers.ContentType ??= new MediaTypeHeaderValue("application/octet-stream");
                form.Add(file, "file", "file");
            }
        }
        return form;
    }

    public static ByteArrayContent Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    public static string Meta(string path, int? mode = null, string? owner = null, string? group = null)
    {
        var o = new JsonObject { ["path"] = path };
        if (mode is not null) o["mode"] = mode;
        if (owner is not null) o["owner"] = owner;
        if (group is not null) o["group"] = group;
        return o.ToJsonString();
    }

    /// <summary>Files a failed or finished upload may have left beside its target.</summary>
    public static string[] Stages(string directory) =>
        Directory.Exists(directory) ? [.. Directory.EnumerateFiles(directory, "*.upload-*", SearchOption.AllDirectories)] : [];
}
