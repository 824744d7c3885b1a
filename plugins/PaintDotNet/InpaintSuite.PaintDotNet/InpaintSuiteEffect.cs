using InpaintSuite.PaintDotNet.Core;
using PaintDotNet;
using PaintDotNet.AppModel;
using PaintDotNet.Effects;
using PaintDotNet.Imaging;

namespace InpaintSuite.PaintDotNet;

/// <summary>
/// Effects &gt; Object &gt; InpaintSuite Generative Fill. With the dialog, the dialog runs the job in
/// the background and hands the finished result over in the token. On Repeat (Ctrl+F, no dialog)
/// OnSetToken runs the job itself with Paint.NET's cancellation token. OnRender only composites, tile
/// by tile on Paint.NET's worker threads (InpaintRenderer is immutable).
/// </summary>
[PluginSupportInfo(typeof(PluginSupportInfo))]
public sealed class InpaintSuiteEffect : BitmapEffect<InpaintSuiteConfigToken>
{
    private bool repeat = true;
    private InpaintRenderer? result;
    private IBitmapSource<ColorBgra32>? source;

    public InpaintSuiteEffect()
        : base("InpaintSuite Generative Fill", null, "Object", BitmapEffectOptions.Create() with { IsConfigurable = true })
    {
    }

    protected override IEffectConfigForm OnCreateConfigForm()
    {
        repeat = false;
        return new InpaintSuiteConfigForm();
    }

    protected override void OnInitializeRenderInfo(IBitmapEffectRenderInfo renderInfo)
    {
        source = Environment.GetSourceBitmapBgra32();
        base.OnInitializeRenderInfo(renderInfo);
    }

    protected override void OnSetToken(InpaintSuiteConfigToken? token)
    {
        if (token != null && repeat)
        {
            token.Result = null;
            try
            {
                var surface = PdnBridge.ReadSource(Environment);
                var selection = PdnBridge.ReadSelection(Environment);
                using var service = DaemonInpaintService.ForSettings(token.Settings);
                token.Result = InpaintJob.RunAsync(service, surface, selection, token.Settings, null, CancellationToken)
                    .GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                // Cancelled: render the source unchanged.
            }
            catch (InpaintServiceException e)
            {
                Services.GetService<IExceptionDialogService>()!.ShowErrorDialog(null, e.Message, e.ToString());
            }
        }
        result = token?.Result;
        base.OnSetToken(token);
    }

    protected override void OnRender(IBitmapEffectOutput output)
    {
        if (IsCancelRequested) return;
        PdnBridge.Render(output, result, source!);
    }
}
