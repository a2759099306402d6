using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Execd.Core.Plugins;

/// <summary>
/// What the host needs to know about a plugin before running any of its code, read from the assembly's metadata
/// tables with System.Reflection.Metadata (nothing is loaded into any load context, no dependency is touched):
/// its version, target framework, references and <c>AssemblyMetadata</c> pairs (the contract version and the
/// on-demand declaration the contract's build files stamp).
/// </summary>
public sealed record PluginMetadata(
    Version? Version,
    string? TargetFramework,
    IReadOnlyList<AssemblyName> References,
    IReadOnlyList<KeyValuePair<string, string?>> Metadata)
{
    /// <summary>
    /// Key of the declaration a plugin carries when it contributes only command executors with these names
    /// (<c>;</c>-separated) and may be activated on first use; stamped from the <c>ExecdOnDemandExecutors</c>
    /// MSBuild property by the contract's build targets.
    /// </summary>
    public const string OnDemandExecutorsKey = "ExecdOnDemandExecutors";

    /// <summary>
    /// Key of the configuration key a plugin needs set to contribute anything (stamped from the <c>ExecdRequiresConfiguration</c>
    /// MSBuild property): while it is unset the host reports the plugin inactive without loading it.
    /// </summary>
    public const string RequiresConfigurationKey = "ExecdRequiresConfiguration";

    /// <summary>Reads <paramref name="path"/>; throws <see cref="BadImageFormatException"/> for a file that is not a .NET assembly.</summary>
    public static PluginMetadata Read(string path)
    {
        using var pe = Open(path);
        if (!pe.HasMetadata)
        {
            throw new BadImageFormatException("not a .NET assembly (no metadata)", path);
        }
        var reader = pe.GetMetadataReader();
        var definition = reader.GetAssemblyDefinition();
        var references = new List<AssemblyName>(reader.AssemblyReferences.Count);
        foreach (var handle in reader.AssemblyReferences)
        {
            references.Add(reader.GetAssemblyReference(handle).GetAssemblyName());
        }
        string? framework = null;
        var metadata = new List<KeyValuePair<string, string?>>();
        foreach (var handle in definition.GetCustomAttributes())
        {
            var attribute = reader.GetCustomAttribute(handle);
            var name = AttributeTypeName(reader, attribute);
            if (name == typeof(AssemblyMetadataAttribute).FullName && StringArguments(reader, attribute, 2) is [var key, var value] && key is not null)
            {
                metadata.Add(new(key, value));
            }
            else if (name == typeof(System.Runtime.Versioning.TargetFrameworkAttribute).FullName && StringArguments(reader, attribute, 1) is [var moniker])
            {
                framework = moniker;
            }
        }
        return new PluginMetadata(definition.Version, framework, references, metadata);
    }

    /// <summary>The assembly version in <paramref name="path"/>'s metadata; null when it is not a readable .NET assembly.</summary>
    public static Version? AssemblyVersion(string path)
    {
        try
        {
            using var pe = Open(path);
            return pe.HasMetadata ? pe.GetMetadataReader().GetAssemblyDefinition().Version : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or BadImageFormatException)
        {
            return null;
        }
    }

    // The headers and the metadata read into memory (not the code: a framework assembly's image is mostly code), so the file is
    // not mapped either (that loaded System.IO.MemoryMappedFiles on the start-up path).
    private static PEReader Open(string path)
    {
        using var stream = File.OpenRead(path);
        return new PEReader(stream, PEStreamOptions.PrefetchMetadata);
    }

    /// <summary>The first value stamped under <paramref name="key"/>, or null.</summary>
    public string? Value(string key)
    {
        // A loop: LINQ over this pair (a value type) is generic code the JIT compiles on the start-up path.
        for (var i = 0; i < Metadata.Count; i++)
        {
            if (Metadata[i].Key == key)
            {
                return Metadata[i].Value;
            }
        }
        return null;
    }

    /// <summary>The configuration key the plugin declares it needs (<see cref="RequiresConfigurationKey"/>), or null.</summary>
    public string? RequiredConfiguration => Value(RequiresConfigurationKey) is { Length: > 0 } key ? key.Trim() : null;

    /// <summary>The command executor names the plugin declares for activation on first use; empty when it declares none.</summary>
    public IReadOnlyList<string> OnDemandExecutors =>
        (Value(OnDemandExecutorsKey) ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string? AttributeTypeName(MetadataReader reader, CustomAttribute attribute)
    {
        EntityHandle type = attribute.Constructor.Kind switch
        {
            HandleKind.MemberReference => reader.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent,
            HandleKind.MethodDefinition => reader.GetMethodDefinition((MethodDefinitionHandle)attribute.Constructor).GetDeclaringType(),
            _ => default,
        };
        return type.Kind switch
        {
            HandleKind.TypeReference => Name(reader.GetTypeReference((TypeReferenceHandle)type).Namespace, reader.GetTypeReference((TypeReferenceHandle)type).Name),
            HandleKind.TypeDefinition => Name(reader.GetTypeDefinition((TypeDefinitionHandle)type).Namespace, reader.GetTypeDefinition((TypeDefinitionHandle)type).Name),
            _ => null,
        };

        string Name(StringHandle ns, StringHandle name) => $"{reader.GetString(ns)}.{reader.GetString(name)}";
    }

    // A custom attribute blob: prolog 0x0001, then the fixed arguments; ours are all strings (SerString, null allowed).
    private static string?[]? StringArguments(MetadataReader reader, CustomAttribute attribute, int count)
    {
        var blob = reader.GetBlobReader(attribute.Value);
        if (blob.Length < 2 || blob.ReadUInt16() != 1)
        {
            return null;
        }
        var values = new string?[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                values[i] = blob.ReadSerializedString();
            }
        }
        catch (BadImageFormatException)
        {
            return null; // a constructor overload with other parameter types: not the one we read
        }
        return values;
    }
}
