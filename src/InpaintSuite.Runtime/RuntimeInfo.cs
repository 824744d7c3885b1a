namespace InpaintSuite.Runtime;

internal static class RuntimeInfo
{
}
