using InpaintSuite.Imaging;
using Xunit;

namespace InpaintSuite.Imaging.Tests;

public class ResamplerTests
{
    [Theory]
    [InlineData(ResampleFilter.Lanczos3, 97, 61, 31, 23, PixelDepth.U8)]   // down ~3x, non-square
    [InlineData(ResampleFilter.Lanczos3, 40, 27, 91, 66, PixelDepth.F32)]  // up
    [InlineData(ResampleFilter.Bicubic, 97, 61, 50, 80, PixelDepth.U16)]   // down x, up y
    [InlineData(ResampleFilter.Bicubic, 5, 3, 17, 2, PixelDepth.U8)]       // tiny
    public void VectorMatchesScalar(ResampleFilter f, int w, int h, int ow, int oh, PixelDepth depth)
    {
        var img = TestImages.Random(w, h, depth, 51);
        var fast = PixelConversions.ConvertDepth(Resampler.Resize(img, ow, oh, f, vectorised: true), PixelDepth.F32).PixelsF.ToArray();
        var slow = PixelConversions.ConvertDepth(Resampler.Resize(img, ow, oh, f, vectorised: false), PixelDepth.F32).PixelsF.ToArray();
        Assert.Equal((ow, oh), (Resampler.Resize(img, ow, oh, f).Width, Resampler.Resize(img, ow, oh, f).Height));
        for (int i = 0; i < fast.Length; i++) Assert.True(Math.Abs(fast[i] - slow[i]) <= 1.01f / 255, $"{i}: {fast[i]} vs {slow[i]}");
    }

    [Theory]
    [InlineData(ResampleFilter.Lanczos3)]
    [InlineData(ResampleFilter.Bicubic)]
    public void ConstantStaysConstant(ResampleFilter f)
    {
        var img = new RgbaImage(83, 47, PixelDepth.U16);
        var p = img.Pixels16;
        for (int i = 0; i < p.Length; i += 4) { p[i] = 1234; p[i + 1] = 40000; p[i + 2] = 65535; p[i + 3] = 65535; }
        foreach (var (w, h) in new[] { (20, 11), (200, 120), (83, 10) })
        {
            var r = Resampler.Resize(img, w, h, f).Pixels16;
            for (int i = 0; i < r.Length; i += 4) Assert.Equal((1234, 40000, 65535, 65535), (r[i], r[i + 1], r[i + 2], r[i + 3]));
        }
    }

    [Fact]
    public void DownscaleAveragesTheAreaInsteadOfAliasing()
    {
        var img = new RgbaImage(256, 128);
        for (int y = 0; y < 128; y++) for (int x = 0; x < 256; x++)
        {
            byte v = (byte)(((x + y) & 1) * 255);
            var r = img.Row8(y);
            r[x * 4] = r[x * 4 + 1] = r[x * 4 + 2] = v; r[x * 4 + 3] = 255;
        }
        var d = Resampler.Resize(img, 64, 32);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 64; x++) Assert.InRange(d.Row8(y)[x * 4], 125, 130);
    }

    [Fact]
    public void TransparentColourDoesNotBleed()
    {
        var img = new RgbaImage(64, 40);
        for (int y = 0; y < 40; y++) for (int x = 0; x < 64; x++)
        {
            var r = img.Row8(y);
            if (x < 32) { r[x * 4] = 255; r[x * 4 + 3] = 255; } else { r[x * 4 + 1] = 255; r[x * 4 + 3] = 0; } // transparent green
        }
        var d = Resampler.Resize(img, 21, 13);
        for (int y = 0; y < 13; y++) for (int x = 0; x < 21; x++)
        {
            var px = d.Row8(y).Slice(x * 4, 4);
            if (px[3] > 8) { Assert.True(px[1] <= 2, $"green {px[1]} bled in at {x},{y} (alpha {px[3]})"); Assert.True(px[0] >= 250); }
        }
    }

    [Fact]
    public void MatchesPillowLanczosOnAnOpaqueImage()
    {
        var missing = InpaintSuite.TestSupport.TestPaths.PythonModulesMissing("PIL", "numpy");
        Assert.True(missing == null, missing);
        int w = 150, h = 96, ow = 47, oh = 61;
        var img = TestImages.Random(w, h, PixelDepth.U8, 61, opaque: true);
        var smooth = GaussianBlur.Blur(img, 1.5f); // Pillow works in 8-bit fixed point; compare on moderate content
        var dir = Directory.CreateTempSubdirectory("resample");
        try
        {
            File.WriteAllBytes(Path.Combine(dir.FullName, "in.raw"), smooth.Data);
            string py = $"import numpy as np; from PIL import Image; a=np.fromfile('{dir.FullName}/in.raw',dtype=np.uint8).reshape({h},{w},4);"
                + $"Image.fromarray(a[:,:,:3]).resize(({ow},{oh}), Image.LANCZOS).save('{dir.FullName}/out.png')";
            var (code, _, err) = InpaintSuite.TestSupport.TestPaths.Run(InpaintSuite.TestSupport.TestPaths.DebianPython, ["-c", py], TimeSpan.FromSeconds(60));
            Assert.True(code == 0, err);
            string py2 = $"import numpy as np; from PIL import Image; np.asarray(Image.open('{dir.FullName}/out.png')).astype(np.uint8).tofile('{dir.FullName}/out.raw')";
            Assert.Equal(0, InpaintSuite.TestSupport.TestPaths.Run(InpaintSuite.TestSupport.TestPaths.DebianPython, ["-c", py2], TimeSpan.FromSeconds(60)).ExitCode);
            var pil = File.ReadAllBytes(Path.Combine(dir.FullName, "out.raw"));
            var ours = Resampler.Resize(smooth, ow, oh);
            int worst = 0;
            for (int i = 0; i < ow * oh; i++) for (int c = 0; c < 3; c++) worst = Math.Max(worst, Math.Abs(pil[i * 3 + c] - ours.Data[i * 4 + c]));
            Assert.True(worst <= 2, $"max difference to Pillow {worst}");
        }
        finally { dir.Delete(true); }
    }
}
