using InpaintSuite.PaintDotNet.Core;
using PaintDotNet;
using PaintDotNet.Effects;
using PaintDotNet.Imaging;
using PaintDotNet.Rendering;

namespace InpaintSuite.PaintDotNet;

/// <summary>Copies between Paint.NET's bitmaps and the core's plain buffers.</summary>
internal static unsafe class PdnBridge
{
    public static Bgra32Surface ReadSource(IEffectEnvironment environment)
    {
        var size = environment.Document.Size;
        var surface = new Bgra32Surface(size.Width, size.Height);
        using IBitmap<ColorBgra32> bitmap = environment.GetSourceBitmapBgra32().ToBitmap();
        using IBitmapLock<ColorBgra32> lck = bitmap.Lock(BitmapLockOptions.Read);
        byte* p = (byte*)lck.Buffer;
        for (int y = 0; y < size.Height; y++)
            new ReadOnlySpan<byte>(p + (long)y * lck.BufferStride, size.Width * 4).CopyTo(surface.Row(y));
        return surface;
    }

    /// <summary>
    /// The selection as antialiased coverage (Selection.MaskBitmap); when nothing is selected Paint.NET
    /// reports the whole canvas, which the planner treats as "fill the transparent pixels".
    /// </summary>
    public static SelectionMask ReadSelection(IEffectEnvironment environment)
    {
        var size = environment.Document.Size;
        var selection = environment.Selection;
        if (selection.IsEmpty) return SelectionMask.WholeImage(size.Width, size.Height);
        try
        {
            using IBitmap<ColorAlpha8> mask = selection.MaskBitmap.ToBitmap();
            using IBitmapLock<ColorAlpha8> lck = mask.Lock(BitmapLockOptions.Read);
            var bytes = new ReadOnlySpan<byte>((byte*)lck.Buffer, checked(lck.BufferStride * (size.Height - 1) + size.Width));
            return SelectionMask.FromCoverage(size.Width, size.Height, bytes, lck.BufferStride);
        }
        catch (NotSupportedException)
        {
            // Hard-edged fallback from the scan rectangles.
            var scans = new List<PixelBox>();
            foreach (RectInt32 r in selection.RenderScans) scans.Add(new PixelBox(r.X, r.Y, r.Width, r.Height));
            return SelectionMask.FromScans(size.Width, size.Height, scans);
        }
    }

    public static void Render(IBitmapEffectOutput output, InpaintRenderer? result, IBitmapSource<ColorBgra32> source)
    {
        RectInt32 b = output.Bounds;
        using IBitmapLock<ColorBgra32> dst = output.LockBgra32();
        if (result == null)
        {
            source.CopyPixels(dst.Buffer, dst.BufferStride, dst.BufferSize, b);
            return;
        }
        var span = new Span<byte>((byte*)dst.Buffer, checked(dst.BufferStride * (b.Height - 1) + b.Width * 4));
        result.Render(new PixelBox(b.X, b.Y, b.Width, b.Height), span, dst.BufferStride);
    }
}
