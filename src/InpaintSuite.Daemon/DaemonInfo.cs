namespace InpaintSuite.Daemon;

/// <summary>Defaults shared by the daemon and its clients.</summary>
public static class DaemonDefaults
{
    public const int GrpcPort = 50151;
    public const int BridgePort = 50152;
}
