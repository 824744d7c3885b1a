using System.Globalization;

namespace InpaintSuite.Protocol.Grpc;

/// <summary>The grpc-timeout header: at most 8 digits and a unit (H M S m u n).</summary>
public static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    public static bool TryParse(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9) return false;
        var digits = value.AsSpan(0, value.Length - 1);
        foreach (var c in digits) if (c < '0' || c > '9') return false;
        var n = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        double ticks = value[^1] switch
        {
            'H' => n * (double)TimeSpan.TicksPerHour,
            'M' => n * (double)TimeSpan.TicksPerMinute,
            'S' => n * (double)TimeSpan.TicksPerSecond,
            'm' => n * (double)TimeSpan.TicksPerMillisecond,
            'u' => n * 10.0,
            'n' => n / 100.0,
            _ => double.NaN,
        };
        if (double.IsNaN(ticks)) return false;
        // Sub-tick timeouts still expire: round up.
        timeout = TimeSpan.FromTicks((long)Math.Min(Math.Ceiling(ticks), TimeSpan.MaxValue.Ticks));
        return true;
    }

    /// <summary>The finest unit whose value fits in 8 digits (never rounds a timeout to zero).</summary>
    public static string Format(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero) return "1n";
        var ticks = timeout.Ticks;
        (long perUnit, char unit)[] units =
        [
            (0, 'n'), (10, 'u'), (TimeSpan.TicksPerMillisecond, 'm'), (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'), (TimeSpan.TicksPerHour, 'H'),
        ];
        foreach (var (perUnit, unit) in units)
        {
            long v = perUnit == 0
                ? (ticks <= MaxValue / 100 ? ticks * 100 : long.MaxValue)
                : (ticks + perUnit - 1) / perUnit;
            if (v <= MaxValue) return v.ToString(CultureInfo.InvariantCulture) + unit;
        }
        return MaxValue.ToString(CultureInfo.InvariantCulture) + "H";
    }
}
