using System.Text;
using System.Text.Json.Nodes;
using Execd.Executors.Jupyter.Kernels;
using Execd.Executors.Jupyter.Protocol;
using NetMQ;

namespace Execd.Code.Tests;

/// <summary>Unit tests of the plugin's protocol pieces: message framing and signing, kernelspec choice.</summary>
public sealed class ProtocolTests
{
    [Fact]
    public void Message_RoundTrip_SignedAndParsedWithParent()
    {
        var signer = new MessageSigner("secret"u8.ToArray());
        var frames = WireMessage.Create(signer, "session-1", "execute_request", "m-1", new JsonObject { ["code"] = "1" });
        Assert.Equal("<IDS|MSG>", frames[0].ConvertToString());
        Assert.Equal(64, frames[1].ConvertToString().Length); // hex HMAC-SHA256

        // A reply as a kernel frames it: identities first, our request as the parent.
        var reply = new NetMQMessage();
        reply.Append("router-identity");
        byte[][] parts =
        [
            Encoding.UTF8.GetBytes("{\"msg_id\":\"r-1\",\"msg_type\":\"execute_reply\"}"),
            Encoding.UTF8.GetBytes("{\"msg_id\":\"m-1\"}"),
            "{}"u8.ToArray(),
            Encoding.UTF8.GetBytes("{\"status\":\"ok\",\"execution_count\":3}"),
        ];
        reply.Append("<IDS|MSG>");
        reply.Append(signer.Sign(parts));
        foreach (var p in parts)
        {
            reply.Append(p);
        }
        var parsed = WireMessage.Parse(signer, reply, out var problem);
        Assert.Null(problem);
        Assert.Equal("execute_reply", parsed!.MsgType);
        Assert.Equal("m-1", parsed.ParentMsgId);
        Assert.Equal(3, parsed.Content.GetProperty("execution_count").GetInt32());
    }

    [Fact]
    public void Message_WrongKey_Rejected()
    {
        var frames = WireMessage.Create(new MessageSigner("one"u8.ToArray()), "s", "status", "m", []);
        Assert.Null(WireMessage.Parse(new MessageSigner("two"u8.ToArray()), frames, out var problem));
        Assert.Equal("bad signature", problem);
    }

    [Fact]
    public void Message_NoDelimiter_Rejected()
    {
        var frames = new NetMQMessage();
        frames.Append("just one frame");
        Assert.Null(WireMessage.Parse(new MessageSigner([]), frames, out var problem));
        Assert.NotNull(problem);
    }

    [Fact]
    public void Choose_PrefersSpecNamedLikeLanguage_ThenPython3_ThenByName()
    {
        KernelSpec Spec(string name, string language) => new(name, language, name, ["x"], new Dictionary<string, string>(), false, "/k/" + name);
        Assert.Equal("python", KernelSpecs.Choose([Spec("zeta", "python"), Spec("python3", "python"), Spec("python", "python")], "python")!.Name);
        Assert.Equal("python3", KernelSpecs.Choose([Spec("zeta", "python"), Spec("python3", "python")], "python")!.Name);
        Assert.Equal("alpha", KernelSpecs.Choose([Spec("zeta", "python"), Spec("alpha", "python")], "python")!.Name);
        Assert.Null(KernelSpecs.Choose([Spec("python3", "python")], "Python")); // case-sensitive, as upstream
    }

    [Fact]
    public void Read_KernelJson_ArgvEnvAndInterruptMode()
    {
        var spec = KernelSpecs.Read("k", "/k", Encoding.UTF8.GetBytes(
            "{\"argv\":[\"/usr/bin/python3\",\"-f\",\"{connection_file}\"],\"language\":\"python\",\"env\":{\"A\":\"1\"},\"interrupt_mode\":\"message\"}"));
        Assert.Equal(["/usr/bin/python3", "-f", "{connection_file}"], spec.Argv);
        Assert.Equal("1", spec.Env["A"]);
        Assert.True(spec.InterruptByMessage);
        Assert.Throws<InvalidOperationException>(() => KernelSpecs.Read("k", "/k", "{\"argv\":[]}"u8.ToArray()));
    }
}
