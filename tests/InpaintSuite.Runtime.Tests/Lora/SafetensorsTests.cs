using System.Buffers.Binary;
using System.Text;
using InpaintSuite.Runtime.Lora;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Runtime.Tests.Lora;

public sealed class SafetensorsTests
{
    private static string Ref(string name) => Path.Combine(TestPaths.LoraReference, name);

    private static byte[] File(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        return b;
    }

    [Fact]
    public void ReadsTheReferenceFilesHeaderMetadataAndTensors()
    {
        var kohya = SafetensorsFile.Load(Ref("style_kohya.safetensors"));
        Assert.Equal(144, kohya.Tensors.Count);
        Assert.Equal("sd_v1", kohya.Metadata["ss_base_model_version"]);
        var alpha = kohya.ReadFloat32("lora_unet_mid_block_attentions_0_proj_in.alpha");
        Assert.Equal([2f], alpha);
        var down = kohya.Tensor("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight");
        Assert.Equal([4, 64, 1, 1], down.Shape);
        var peft = SafetensorsFile.Load(Ref("detail_peft.safetensors"));
        Assert.Equal(64, peft.Tensors.Count);
        Assert.Equal([2, 32], peft.Tensor("unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight").Shape);
        var (meta, tensors) = SafetensorsFile.ReadHeader(Ref("detail_peft.safetensors"));
        Assert.Equal("pt", meta["format"]);
        Assert.Equal(64, tensors.Count);
    }

    [Fact]
    public void RoundTripsAndWidensF16AndBf16()
    {
        var bytes = SafetensorsFile.Write([("a", [2, 3], [1, -2, 3.5f, 0, 0.25f, 6])], new Dictionary<string, string> { ["k"] = "v" });
        Assert.Equal(0, bytes.Length % 4);
        var f = SafetensorsFile.Parse(bytes);
        Assert.Equal([1, -2, 3.5f, 0, 0.25f, 6], f.ReadFloat32("a"));
        Assert.Equal("v", f.Metadata["k"]);
        var half = File("""{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}""", 6);
        int o = half.Length - 6;
        BinaryPrimitives.WriteHalfLittleEndian(half.AsSpan(o), (Half)1.5f);
        BinaryPrimitives.WriteHalfLittleEndian(half.AsSpan(o + 2), (Half)(-0.125f));
        BinaryPrimitives.WriteUInt16LittleEndian(half.AsSpan(o + 4), (ushort)(BitConverter.SingleToUInt32Bits(-3.0f) >> 16));
        var p = SafetensorsFile.Parse(half);
        Assert.Equal([1.5f, -0.125f], p.ReadFloat32("h"));
        Assert.Equal([-3f], p.ReadFloat32("b"));
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8, "dtype I64")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "truncated")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlaps")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "invalid dimension")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", 4, "invalid data_offsets")]
    [InlineData("""[1,2]""", 0, "not a JSON object")]
    [InlineData("""{"a": """, 0, "not valid JSON")]
    public void ACorruptFileIsAClearError(string header, int data, string expected)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(File(header, data), "x.safetensors"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("x.safetensors: ", e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileOrImplausibleIsRejected()
    {
        var real = System.IO.File.ReadAllBytes(Ref("style_kohya.safetensors"));
        Assert.Contains("truncated", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(real[..5000])).Message);
        var huge = (byte[])real.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
        Assert.Contains("exceeds", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(huge)).Message);
        Assert.Contains("too short", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse([1, 2, 3])).Message);
        // Cut inside the data section: the last tensor's span runs past the end.
        Assert.Contains("truncated", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(real[..^4])).Message);
    }
}
