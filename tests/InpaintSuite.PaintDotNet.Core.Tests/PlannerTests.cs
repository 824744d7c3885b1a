using InpaintSuite.PaintDotNet.Core;
using InpaintSuite.Protocol.V1;
using Xunit;

namespace InpaintSuite.PaintDotNet.Core.Tests;

public class PlannerTests
{
    [Fact]
    public void SelectionFromScansMatchesCoverageAndBounds()
    {
        var scans = new[] { new PixelBox(10, 5, 20, 3), new PixelBox(12, 8, 5, 10), new PixelBox(-4, 40, 8, 2), new PixelBox(90, 0, 50, 1) };
        var sel = SelectionMask.FromScans(100, 45, scans);
        Assert.Equal(PixelBox.FromEdges(0, 0, 100, 42), sel.Bounds);
        Assert.Equal(255, sel[12, 17]);
        Assert.Equal(0, sel[11, 17]);
        Assert.Equal(255, sel[0, 41]);
        Assert.False(sel.IsWholeImage);
        Assert.True(SelectionMask.FromScans(30, 20, [new PixelBox(0, 0, 30, 20)]).IsWholeImage);
        Assert.True(SelectionMask.FromScans(30, 20, []).IsEmpty);
    }

    [Fact]
    public void SelectionPlanCropsContextAroundTheHoleAndSendsItsAntialiasedMask()
    {
        var src = TestImages.Gradient(640, 300);
        var sel = TestImages.IrregularSelection(640, 300);
        var plan = InpaintPlanner.Plan(src, sel, new InpaintSettings { Prompt = "grass", Grow = 3, Feather = 5, Seed = 42 });

        Assert.Equal(HoleSource.Selection, plan.HoleSource);
        Assert.True(plan.Context.Contains(sel.Bounds));
        Assert.True(src.Bounds.Contains(plan.Context));
        Assert.True(plan.Context.Area < src.Bounds.Area, "a hole in a large image should not send the whole image");
        var r = plan.Request;
        Assert.Equal(PixelFormat.Bgra8, r.Image.Format);
        Assert.Equal((uint)plan.Context.Width, r.Image.Width);
        Assert.Equal((uint)plan.Context.Height, r.Mask.Height);
        Assert.Equal("grass", r.Settings.Prompt);
        Assert.Equal(42UL, r.Settings.Seed);
        Assert.Equal(3, r.MaskOptions.Grow);
        Assert.Equal(5f, r.MaskOptions.Feather);
        // Mask and pixels are the document's, shifted by the context origin; edge values survive.
        var mask = r.Mask.Data.Span;
        bool sawPartial = false;
        for (int y = 0; y < plan.Context.Height; y++)
            for (int x = 0; x < plan.Context.Width; x++)
            {
                byte m = mask[y * plan.Context.Width + x];
                Assert.Equal(sel[plan.Context.X + x, plan.Context.Y + y], m);
                sawPartial |= m is > 0 and < 255;
            }
        Assert.True(sawPartial, "antialiased edge values must reach the daemon");
        var px = r.Image.Data.Span;
        Assert.Equal(src[plan.Context.X + 7, plan.Context.Y + 3].R, px[(3 * plan.Context.Width + 7) * 4 + 2]);
    }

    [Fact]
    public void WholeImageSelectionWithTransparentCanvasMakesTheTransparentPixelsTheHole()
    {
        var (canvas, picture) = TestImages.CanvasResized(150, 90, left: 40, top: 0, right: 40, bottom: 20);
        var plan = InpaintPlanner.Plan(canvas, SelectionMask.WholeImage(canvas.Width, canvas.Height), new InpaintSettings());
        Assert.Equal(HoleSource.TransparentPixels, plan.HoleSource);
        Assert.Null(plan.Clip);
        Assert.Equal(canvas.Bounds, plan.HoleBounds);
        var mask = plan.Request.Mask.Data.Span;
        int w = plan.Context.Width;
        Assert.Equal(255, mask[(plan.Context.Y * 0 + 5) * w + 5]);          // new canvas, left strip
        Assert.Equal(0, mask[(picture.Y + 10 - plan.Context.Y) * w + picture.X + 10 - plan.Context.X]); // the picture
        Assert.Equal(FillMode.ContentAware, plan.Request.MaskOptions.FillMode);
    }

    [Fact]
    public void NothingToFillGivesAClearMessage()
    {
        var opaque = TestImages.Gradient(50, 40);
        var e = Assert.Throws<InpaintServiceException>(() => InpaintPlanner.Plan(opaque, SelectionMask.WholeImage(50, 40), new InpaintSettings()));
        Assert.Equal(InpaintFailure.NothingToFill, e.Failure);
        Assert.Contains("Canvas Size", e.Message);

        var empty = Assert.Throws<InpaintServiceException>(() => InpaintPlanner.Plan(opaque, SelectionMask.FromScans(50, 40, []), new InpaintSettings()));
        Assert.Contains("selection is empty", empty.Message);

        var clear = new Bgra32Surface(50, 40);
        var allTransparent = Assert.Throws<InpaintServiceException>(() => InpaintPlanner.Plan(clear, SelectionMask.WholeImage(50, 40), new InpaintSettings()));
        Assert.Contains("transparent", allTransparent.Message);
    }

    [Fact]
    public void ExplicitContextPaddingIsHonouredAndClampedToTheLayer()
    {
        var src = TestImages.Gradient(400, 250);
        var sel = SelectionMask.FromScans(400, 250, [new PixelBox(100, 100, 20, 10)]);
        var plan = InpaintPlanner.Plan(src, sel, new InpaintSettings { ContextPadding = 30, Feather = 2, Grow = 1 });
        Assert.Equal(new PixelBox(100 - 33, 100 - 33, 20 + 66, 10 + 66), plan.Context);
        var edge = InpaintPlanner.Plan(src, SelectionMask.FromScans(400, 250, [new PixelBox(0, 240, 10, 10)]), new InpaintSettings());
        Assert.Equal(PixelBox.FromEdges(0, 240 - 68, 10 + 68, 250), edge.Context);
    }
}
