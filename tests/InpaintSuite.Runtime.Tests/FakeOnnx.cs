using System.Text;

namespace InpaintSuite.Runtime.Tests;

/// <summary>Writes minimal ONNX ModelProto files (graph inputs/outputs, optional initializers) for catalogue tests.</summary>
internal static class FakeOnnx
{
    public const int Float = 1, Int32 = 6, Int64 = 7, Float16 = 10;

    /// <summary>A graph value: element type and dims (long = fixed, string = symbolic); dims null = no shape.</summary>
    public sealed record Value(string Name, int ElementType, object[]? Dims);

    public static void Write(string path, IEnumerable<Value> inputs, IEnumerable<Value> outputs, string? externalDataLocation = null, string? initializerName = null)
    {
        var graph = new MemoryStream();
        Bytes(graph, 2, Encoding.UTF8.GetBytes("g"));
        if (initializerName is not null || externalDataLocation is not null)
        {
            var t = new MemoryStream();
            Varint(t, (1 << 3) | 0); Varint(t, 4);                       // dims: [4]
            Varint(t, (2 << 3) | 0); Varint(t, 1);                       // data_type float
            Bytes(t, 8, Encoding.UTF8.GetBytes(initializerName ?? "w"));  // name
            if (externalDataLocation is not null)
            {
                var kv = new MemoryStream();
                Bytes(kv, 1, "location"u8.ToArray());
                Bytes(kv, 2, Encoding.UTF8.GetBytes(externalDataLocation));
                Bytes(t, 13, kv.ToArray());
                Varint(t, (14 << 3) | 0); Varint(t, 1);                  // data_location EXTERNAL
            }
            else Bytes(t, 9, new byte[16]);                              // raw_data
            Bytes(graph, 5, t.ToArray());
        }
        foreach (var v in inputs) Bytes(graph, 11, ValueInfo(v));
        foreach (var v in outputs) Bytes(graph, 12, ValueInfo(v));
        var model = new MemoryStream();
        Varint(model, (1 << 3) | 0); Varint(model, 7);                   // ir_version 7
        Bytes(model, 2, "inpaintsuite-test"u8.ToArray());
        var opset = new MemoryStream();
        Bytes(opset, 1, []);
        Varint(opset, (2 << 3) | 0); Varint(opset, 14);
        Bytes(model, 8, opset.ToArray());
        Bytes(model, 7, graph.ToArray());
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, model.ToArray());
    }

    private static byte[] ValueInfo(Value v)
    {
        var tensor = new MemoryStream();
        Varint(tensor, (1 << 3) | 0); Varint(tensor, (ulong)v.ElementType);
        if (v.Dims is not null)
        {
            var shape = new MemoryStream();
            foreach (var d in v.Dims)
            {
                var dim = new MemoryStream();
                if (d is string p) Bytes(dim, 2, Encoding.UTF8.GetBytes(p));
                else { Varint(dim, (1 << 3) | 0); Varint(dim, Convert.ToUInt64(d)); }
                Bytes(shape, 1, dim.ToArray());
            }
            Bytes(tensor, 2, shape.ToArray());
        }
        var type = new MemoryStream();
        Bytes(type, 1, tensor.ToArray());
        var vi = new MemoryStream();
        Bytes(vi, 1, Encoding.UTF8.GetBytes(v.Name));
        Bytes(vi, 2, type.ToArray());
        return vi.ToArray();
    }

    private static void Bytes(Stream s, int field, byte[] data)
    {
        Varint(s, ((ulong)field << 3) | 2);
        Varint(s, (ulong)data.Length);
        s.Write(data);
    }

    private static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    // Standard SD component signatures (Optimum names)
    public static void Unet(string path, int channels, int dtype = Float, int timestepType = Int64, object[]? timestepDims = null, int crossDim = 32, bool withTimestep = true)
    {
        var inputs = new List<Value> { new("sample", dtype, ["batch_size", (long)channels, "height", "width"]) };
        if (withTimestep) inputs.Add(new("timestep", timestepType, timestepDims ?? ["steps"]));
        inputs.Add(new("encoder_hidden_states", dtype, ["batch_size", "sequence_length", (long)crossDim]));
        Write(path, inputs, [new("out_sample", dtype, ["batch_size", 4L, "height", "width"])]);
    }

    public static void TextEncoder(string path, int idsType = Int32, int hidden = 32) =>
        Write(path, [new("input_ids", idsType, ["batch_size", "sequence_length"])],
            [new("last_hidden_state", Float, ["batch_size", "sequence_length", (long)hidden]), new("pooler_output", Float, ["batch_size", (long)hidden])]);

    public static void VaeEncoder(string path) =>
        Write(path, [new("sample", Float, ["batch_size", 3L, "height", "width"])], [new("latent_parameters", Float, ["batch_size", 8L, "h", "w"])]);

    public static void VaeDecoder(string path) =>
        Write(path, [new("latent_sample", Float, ["batch_size", 4L, "h", "w"])], [new("sample", Float, ["batch_size", 3L, "height", "width"])]);

    public static void DepthEstimator(string path) =>
        Write(path, [new("pixel_values", Float, ["batch_size", 3L, "height", "width"])], [new("predicted_depth", Float, ["batch_size", "height", "width"])]);
}
