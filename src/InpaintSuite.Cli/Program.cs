namespace InpaintSuite.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("inpaintsuite: not wired yet");
        return 2;
    }
}
