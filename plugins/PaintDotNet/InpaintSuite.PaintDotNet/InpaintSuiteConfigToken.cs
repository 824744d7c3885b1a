using InpaintSuite.PaintDotNet.Core;
using PaintDotNet.Effects;

namespace InpaintSuite.PaintDotNet;

/// <summary>
/// Paint.NET's token for the effect: the user's settings (portable, serializable) plus the finished
/// result, which the dialog hands to the effect so OnRender can draw it without running the job again.
/// </summary>
public sealed class InpaintSuiteConfigToken : EffectConfigToken
{
    public InpaintSuiteConfigToken(InpaintSettings settings, InpaintRenderer? result)
    {
        Settings = settings;
        Result = result;
    }

    private InpaintSuiteConfigToken(InpaintSuiteConfigToken copy)
    {
        Settings = copy.Settings;
        Result = copy.Result;
    }

    public InpaintSettings Settings { get; set; }

    /// <summary>The renderer of the last finished job; null = render the source unchanged.</summary>
    public InpaintRenderer? Result { get; set; }

    public override object Clone() => new InpaintSuiteConfigToken(this);
}
