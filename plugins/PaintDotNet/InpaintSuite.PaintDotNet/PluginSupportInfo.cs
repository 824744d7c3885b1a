using System.Reflection;
using PaintDotNet;

namespace InpaintSuite.PaintDotNet;

public sealed class PluginSupportInfo : IPluginSupportInfo
{
    public string Author => "InpaintSuite";
    public string Copyright => "InpaintSuite contributors";
    public string DisplayName => "InpaintSuite Generative Fill";
    public Version Version => typeof(PluginSupportInfo).Assembly.GetName().Version ?? new Version(0, 1);
    // No project website yet; Paint.NET shows this in the plugin list.
    public Uri WebsiteUri => new("about:blank");
}
