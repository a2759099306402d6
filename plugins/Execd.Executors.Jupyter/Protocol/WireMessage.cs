using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NetMQ;

namespace Execd.Executors.Jupyter.Protocol;

/// <summary>
/// One Jupyter message (messaging protocol 5.3) as it travels on a ZeroMQ socket:
/// <c>[identities…] "&lt;IDS|MSG&gt;" signature header parent_header metadata content [buffers…]</c>,
/// the signature being the hex HMAC-SHA256 of the four JSON frames under the connection's key.
/// </summary>
internal sealed class WireMessage
{
    public const string ProtocolVersion = "5.3";
    private static readonly byte[] Delimiter = "<IDS|MSG>"u8.ToArray();

    private WireMessage(string msgType, string msgId, string? parentMsgId, JsonElement content)
    {
        MsgType = msgType;
        MsgId = msgId;
        ParentMsgId = parentMsgId;
        Content = content;
    }

    public string MsgType { get; }
    public string MsgId { get; }
    public string? ParentMsgId { get; }
    public JsonElement Content { get; }

    /// <summary>Builds the frames of a request; <paramref name="msgId"/> is what the kernel's replies carry as their parent.</summary>
    public static NetMQMessage Create(MessageSigner signer, string session, string msgType, string msgId, JsonObject content)
    {
        var header = new JsonObject
        {
            ["msg_id"] = msgId,
            ["session"] = session,
            ["username"] = "execd",
            ["date"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["msg_type"] = msgType,
            ["version"] = ProtocolVersion,
        };
        byte[][] parts =
        [
            Encoding.UTF8.GetBytes(header.ToJsonString()),
            "{}"u8.ToArray(),
            "{}"u8.ToArray(),
            Encoding.UTF8.GetBytes(content.ToJsonString()),
        ];
        var message = new NetMQMessage(6);
        message.Append(Delimiter);
        message.Append(signer.Sign(parts));
        foreach (var part in parts)
        {
            message.Append(part);
        }
        return message;
    }

    /// <summary>
    /// Reads a received message; <c>null</c> (with <paramref name="problem"/>) when it is not a well-formed,
    /// correctly signed Jupyter message — it is then dropped, never trusted.
    /// </summary>
    public static WireMessage? Parse(MessageSigner signer, NetMQMessage frames, out string? problem)
    {
        var at = -1;
        for (var i = 0; i < frames.FrameCount; i++)
        {
            if (frames[i].MessageSize == Delimiter.Length && frames[i].ToByteArray().AsSpan().SequenceEqual(Delimiter))
            {
                at = i;
                break;
            }
        }
        if (at < 0 || frames.FrameCount < at + 6)
        {
            problem = "no <IDS|MSG> delimiter or too few frames";
            return null;
        }
        var signature = frames[at + 1].ConvertToString(Encoding.ASCII);
        byte[][] parts = [frames[at + 2].ToByteArray(), frames[at + 3].ToByteArray(), frames[at + 4].ToByteArray(), frames[at + 5].ToByteArray()];
        if (!signer.Verify(signature, parts))
        {
            problem = "bad signature";
            return null;
        }
        try
        {
            using var header = JsonDocument.Parse(parts[0]);
            using var parent = JsonDocument.Parse(parts[1]);
            var msgType = header.RootElement.GetProperty("msg_type").GetString() ?? "";
            var msgId = header.RootElement.TryGetProperty("msg_id", out var id) ? id.GetString() ?? "" : "";
            string? parentId = parent.RootElement.ValueKind == JsonValueKind.Object && parent.RootElement.TryGetProperty("msg_id", out var p)
                ? p.GetString()
                : null;
            // The content outlives this method: a detached copy, not an element of a disposed document.
            var content = JsonDocument.Parse(parts[3]).RootElement.Clone();
            problem = null;
            return new WireMessage(msgType, msgId, parentId, content);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            problem = $"malformed JSON: {ex.Message}";
            return null;
        }
    }
}

/// <summary>HMAC-SHA256 signing of message frames under a connection's key (an empty key means unsigned, as Jupyter allows).</summary>
internal sealed class MessageSigner(byte[] key)
{
    public string Key { get; } = Encoding.ASCII.GetString(key);

    public static MessageSigner CreateRandom() => new(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));

    public string Sign(byte[][] parts)
    {
        if (key.Length == 0)
        {
            return "";
        }
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        foreach (var part in parts)
        {
            hmac.AppendData(part);
        }
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }

    public bool Verify(string signature, byte[][] parts)
    {
        var expected = Sign(parts);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature));
    }
}
