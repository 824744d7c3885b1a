using InpaintSuite.PaintDotNet.Core;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

public class RendererTests
{
    private static InpaintRenderer RandomRenderer(int width, int height, int seed, bool withClip, bool transparentSource)
    {
        var rng = new Random(seed);
        var src = new Bgra32Surface(width, height);
        rng.NextBytes(src.Data);
        if (!transparentSource) for (int i = 3; i < src.Data.Length; i += 4) src.Data[i] = 255;
        // Patch partly outside the layer on purpose: that part must be ignored.
        var box = new PixelBox(width / 5, -3, width * 3 / 4, height - 2);
        var patch = new byte[box.Width * box.Height * 4];
        rng.NextBytes(patch);
        for (int i = 3; i < patch.Length; i += 4) patch[i] = (byte)(i % 7 == 0 ? 0 : i % 11 == 0 ? 255 : patch[i]);
        SelectionMask? clip = null;
        if (withClip)
        {
            var c = new byte[width * height];
            rng.NextBytes(c);
            clip = SelectionMask.FromCoverage(width, height, c, width);
        }
        return new InpaintRenderer(src, box, patch, clip);
    }

    [Theory]
    [InlineData(203, 131, true, false)]
    [InlineData(97, 160, false, true)]
    [InlineData(64, 33, true, true)]
    public void ManySmallRectsInParallelEqualOneFullRender(int width, int height, bool clip, bool transparent)
    {
        var r = RandomRenderer(width, height, width * 31 + height, clip, transparent);
        var full = r.RenderAll();

        // Paint.NET-like tiling: odd-sized tiles, rendered out of order on many threads into one buffer.
        var tiled = new Bgra32Surface(width, height, new byte[(width * 4 + 12) * height], width * 4 + 12);
        var rects = new List<PixelBox>();
        for (int y = 0; y < height; y += 13)
            for (int x = 0; x < width; x += 17)
                rects.Add(PixelBox.FromEdges(x, y, Math.Min(x + 17, width), Math.Min(y + 13, height)));
        rects.Reverse();
        Parallel.ForEach(rects, new ParallelOptions { MaxDegreeOfParallelism = 8 }, rect =>
        {
            // Each tile into its own buffer first (as Paint.NET's output lock hands out), then copied in.
            var tile = new byte[rect.Width * 4 * rect.Height];
            r.Render(rect, tile, rect.Width * 4);
            for (int y = 0; y < rect.Height; y++)
                tile.AsSpan(y * rect.Width * 4, rect.Width * 4).CopyTo(tiled.Data.AsSpan((rect.Y + y) * tiled.Stride + rect.X * 4));
        });
        Assert.True(full.PixelsEqual(tiled), "tiled render differs from the full render");

        // Rendering directly into a strided destination at an offset gives the same too.
        var strip = new PixelBox(3, 5, width - 7, 9);
        var buf = new byte[(strip.Width * 4 + 8) * strip.Height];
        r.Render(strip, buf, strip.Width * 4 + 8);
        for (int y = 0; y < strip.Height; y++)
            Assert.True(buf.AsSpan(y * (strip.Width * 4 + 8), strip.Width * 4).SequenceEqual(full.Data.AsSpan((strip.Y + y) * full.Stride + strip.X * 4, strip.Width * 4)));
    }

    [Fact]
    public void OutsideThePatchAndWhereWeightIsZeroTheSourceBytesAreCopied()
    {
        var r = RandomRenderer(120, 77, 5, withClip: true, transparentSource: true);
        var full = r.RenderAll();
        var src = typeof(InpaintRenderer).GetField("source", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(r) as Bgra32Surface;
        int changed = 0;
        for (int y = 0; y < 77; y++)
            for (int x = 0; x < 120; x++)
            {
                if (!r.ChangedBounds.Contains(x, y)) Assert.Equal(src![x, y], full[x, y]);
                if (src![x, y] != full[x, y]) changed++;
            }
        Assert.True(changed > 1000, $"only {changed} pixels changed");
    }

    [Fact]
    public void CompositeRowMatchesThePremultipliedFormula()
    {
        // (src BGRA, patch BGRA with weight, clip) -> expected
        byte[] src = [10, 20, 30, 255, 200, 100, 50, 0, 9, 9, 9, 128, 1, 2, 3, 4];
        byte[] patch = [110, 120, 130, 128, 60, 70, 80, 128, 200, 200, 200, 255, 50, 60, 70, 0];
        var dst = (byte[])src.Clone();
        InpaintRenderer.CompositeRow(src, patch, default, dst);
        // Opaque source, w=128: plain lerp.
        Assert.Equal(new byte[] { (byte)((10 * 127 + 110 * 128 + 127) / 255), (byte)((20 * 127 + 120 * 128 + 127) / 255), (byte)((30 * 127 + 130 * 128 + 127) / 255), 255 }, dst[..4]);
        // Fully transparent source: the patch colour, alpha = weight.
        Assert.Equal(new byte[] { 60, 70, 80, 128 }, dst[4..8]);
        // w = 255: the patch, opaque.
        Assert.Equal(new byte[] { 200, 200, 200, 255 }, dst[8..12]);
        // w = 0: untouched.
        Assert.Equal(src[12..16], dst[12..16]);

        // A clip of 0 stops every change.
        var dst2 = (byte[])src.Clone();
        InpaintRenderer.CompositeRow(src, patch, new byte[4], dst2);
        Assert.Equal(src, dst2);
    }
}
