namespace Execd.TestPlugins.Empty;

/// <summary>A plugin assembly that implements no contract at all.</summary>
public static class Nothing
{
    public static int Answer => 42;
}
