using Google.Protobuf;
using InpaintSuite.PaintDotNet.Core;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.PaintDotNet.Core.Tests;

/// <summary>
/// Stands in for the daemon where a real one is not the point: fills the masked pixels with the
/// mean colour of the unmasked ones (opaque), blend weight = mask. Optionally waits (for cancel tests)
/// and records what it was sent.
/// </summary>
internal sealed class FakeInpaintService : IInpaintService
{
    public TimeSpan Delay { get; init; }
    public bool IgnoreCancellation { get; init; }
    public InpaintRequest? LastRequest { get; private set; }
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<Result> InpaintAsync(InpaintRequest request, IProgress<InpaintProgress>? progress, CancellationToken cancellationToken)
    {
        LastRequest = request;
        Started.TrySetResult();
        if (Delay > TimeSpan.Zero) await Task.Delay(Delay, IgnoreCancellation ? CancellationToken.None : cancellationToken);
        progress?.Report(new InpaintProgress("fill", 1, 1));
        int w = (int)request.Image.Width, h = (int)request.Image.Height;
        var px = request.Image.Data.Span;
        var mask = request.Mask.Data.Span;
        long sb = 0, sg = 0, sr = 0, n = 0;
        for (int i = 0; i < w * h; i++)
            if (mask[i] == 0 && px[i * 4 + 3] == 255) { sb += px[i * 4]; sg += px[i * 4 + 1]; sr += px[i * 4 + 2]; n++; }
        if (n == 0) n = 1;
        var patch = new byte[w * h * 4];
        for (int i = 0; i < w * h; i++)
        {
            patch[i * 4] = (byte)(sb / n); patch[i * 4 + 1] = (byte)(sg / n); patch[i * 4 + 2] = (byte)(sr / n); patch[i * 4 + 3] = mask[i];
        }
        return new Result
        {
            Engine = "fake",
            CanvasWidth = (uint)w,
            CanvasHeight = (uint)h,
            Patches = { new Patch { X = 0, Y = 0, Seed = 7, Image = new Image { Width = (uint)w, Height = (uint)h, Format = PixelFormat.Bgra8, Data = ByteString.CopyFrom(patch) } } },
        };
    }
}
