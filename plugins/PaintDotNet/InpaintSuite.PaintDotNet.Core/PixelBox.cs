namespace InpaintSuite.PaintDotNet.Core;

/// <summary>An integer pixel rectangle (Paint.NET's RectInt32 without the Paint.NET reference).</summary>
public readonly record struct PixelBox(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
    public bool IsEmpty => Width <= 0 || Height <= 0;
    public long Area => IsEmpty ? 0 : (long)Width * Height;

    public static PixelBox FromEdges(int left, int top, int right, int bottom) =>
        right <= left || bottom <= top ? default : new PixelBox(left, top, right - left, bottom - top);

    public PixelBox Intersect(PixelBox other) =>
        FromEdges(Math.Max(X, other.X), Math.Max(Y, other.Y), Math.Min(Right, other.Right), Math.Min(Bottom, other.Bottom));

    public PixelBox Union(PixelBox other)
    {
        if (IsEmpty) return other;
        if (other.IsEmpty) return this;
        return FromEdges(Math.Min(X, other.X), Math.Min(Y, other.Y), Math.Max(Right, other.Right), Math.Max(Bottom, other.Bottom));
    }

    public PixelBox Inflate(int by) => FromEdges(X - by, Y - by, Right + by, Bottom + by);

    public bool Contains(int x, int y) => x >= X && y >= Y && x < Right && y < Bottom;

    public bool Contains(PixelBox other) => !other.IsEmpty && other.X >= X && other.Y >= Y && other.Right <= Right && other.Bottom <= Bottom;

    public override string ToString() => $"{Width}x{Height}+{X}+{Y}";
}
