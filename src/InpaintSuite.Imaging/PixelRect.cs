namespace InpaintSuite.Imaging;

/// <summary>An integer rectangle in pixel coordinates (x, y = top-left; exclusive right/bottom).</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
    public bool IsEmpty => Width <= 0 || Height <= 0;
    public long Area => (long)Math.Max(0, Width) * Math.Max(0, Height);

    public bool Contains(int x, int y) => x >= X && y >= Y && x < Right && y < Bottom;

    public PixelRect Intersect(PixelRect o)
    {
        int x0 = Math.Max(X, o.X), y0 = Math.Max(Y, o.Y);
        int x1 = Math.Min(Right, o.Right), y1 = Math.Min(Bottom, o.Bottom);
        return x1 <= x0 || y1 <= y0 ? default : new PixelRect(x0, y0, x1 - x0, y1 - y0);
    }

    public PixelRect Union(PixelRect o)
    {
        if (IsEmpty) return o;
        if (o.IsEmpty) return this;
        int x0 = Math.Min(X, o.X), y0 = Math.Min(Y, o.Y);
        return new PixelRect(x0, y0, Math.Max(Right, o.Right) - x0, Math.Max(Bottom, o.Bottom) - y0);
    }

    public override string ToString() => $"{X},{Y} {Width}x{Height}";
}
