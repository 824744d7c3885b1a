using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace InpaintSuite.Daemon.A1111;

/// <summary>
/// An error answered in A1111's shape: <c>{"error": type, "detail": ..., "body": "", "errors": text}</c> with its status.
/// Validation errors (422) carry FastAPI's detail list <c>[{"loc": ["body", field], "msg", "type"}]</c>.
/// </summary>
public sealed class A1111Exception(int status, string error, string message, JsonNode? detail = null) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>The exception type name A1111 reports ("HTTPException", "RequestValidationError", "RuntimeError").</summary>
    public string Error { get; } = error;

    /// <summary>The "detail" value; null = the message.</summary>
    public JsonNode? Detail { get; } = detail;

    /// <summary>The field the error is about, when there is one.</summary>
    public string? Field { get; init; }

    public static A1111Exception Http(int status, string message) => new(status, "HTTPException", message);

    /// <summary>422 naming the field (a value A1111 would accept in shape but we cannot run, e.g. a sampler).</summary>
    public static A1111Exception Unprocessable(string field, string message) => new(422, "HTTPException", message) { Field = field };

    /// <summary>422 as FastAPI's request validation reports it.</summary>
    public static A1111Exception Validation(string field, string message, string type)
        => new(422, "RequestValidationError", $"{field}: {message}",
            new JsonArray(new JsonObject { ["loc"] = new JsonArray("body", field), ["msg"] = message, ["type"] = type })) { Field = field };

    public JsonObject ToJson() => new()
    {
        ["error"] = Error,
        ["detail"] = Detail?.DeepClone() ?? JsonValue.Create(Message),
        ["body"] = "",
        ["errors"] = Message,
    };
}

/// <summary>
/// Reads A1111 request bodies as its pydantic models do: unknown fields ignored, null = default, numbers given as
/// strings coerced ("seed": "-1", "steps": "20"), booleans from true/false, 0/1 and "true"/"false".
/// </summary>
public sealed class A1111Json(JsonObject body)
{
    public JsonObject Body { get; } = body;

    public static A1111Json Parse(ReadOnlySpan<byte> utf8)
    {
        JsonNode? node;
        try
        {
            node = utf8.Length == 0 ? new JsonObject() : JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new A1111Exception(422, "RequestValidationError", $"body: JSON decode error: {e.Message}",
                new JsonArray(new JsonObject { ["loc"] = new JsonArray("body", e.BytePositionInLine ?? 0), ["msg"] = "JSON decode error", ["type"] = "json_invalid" }));
        }
        return node is JsonObject o ? new A1111Json(o) : throw A1111Exception.Validation("body", "Input should be a valid dictionary", "dict_type");
    }

    public bool Has(string name) => Body.TryGetPropertyValue(name, out var v) && v != null;

    private JsonValue? Value(string name) => Body.TryGetPropertyValue(name, out var v) && v is JsonValue jv ? jv : null;

    private static bool IsNull(JsonNode? n) => n == null;

    public string? String(string name, string? fallback = null)
    {
        if (!Body.TryGetPropertyValue(name, out var n) || IsNull(n)) return fallback;
        if (n is JsonValue v)
        {
            if (v.TryGetValue(out string? s)) return s;
            // pydantic v1 coerces numbers to str; keep that (a prompt sent as 5 becomes "5").
            if (v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False) return v.ToJsonString();
        }
        throw A1111Exception.Validation(name, "Input should be a valid string", "string_type");
    }

    public long Long(string name, long fallback)
    {
        var v = Value(name);
        if (v == null) { Reject(name, "int"); return fallback; }
        switch (v.GetValueKind())
        {
            case JsonValueKind.Number:
                if (v.TryGetValue(out long l)) return l;
                if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9.2e18) return (long)d;
                throw A1111Exception.Validation(name, "Input should be a valid integer, got a number with a fractional part", "int_from_float");
            case JsonValueKind.String:
                var s = v.GetValue<string>().Trim();
                if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ls)) return ls;
                if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var ds) && ds == Math.Floor(ds) && Math.Abs(ds) < 9.2e18) return (long)ds;
                throw A1111Exception.Validation(name, $"Input should be a valid integer, unable to parse string '{Short(s)}' as an integer", "int_parsing");
            case JsonValueKind.True: return 1;
            case JsonValueKind.False: return 0;
            default: throw A1111Exception.Validation(name, "Input should be a valid integer", "int_type");
        }
    }

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        long v = Long(name, fallback);
        if (v < min || v > max) throw A1111Exception.Validation(name, $"Input should be between {min} and {max}, got {v}", "value_error");
        return (int)v;
    }

    public double Double(string name, double fallback)
    {
        var v = Value(name);
        if (v == null) { Reject(name, "float"); return fallback; }
        double d;
        switch (v.GetValueKind())
        {
            case JsonValueKind.Number: d = v.GetValue<double>(); break;
            case JsonValueKind.String:
                var s = v.GetValue<string>().Trim();
                if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                    throw A1111Exception.Validation(name, $"Input should be a valid number, unable to parse string '{Short(s)}' as a number", "float_parsing");
                break;
            case JsonValueKind.True: d = 1; break;
            case JsonValueKind.False: d = 0; break;
            default: throw A1111Exception.Validation(name, "Input should be a valid number", "float_type");
        }
        if (!double.IsFinite(d)) throw A1111Exception.Validation(name, "Input should be a finite number", "finite_number");
        return d;
    }

    public bool Bool(string name, bool fallback)
    {
        var v = Value(name);
        if (v == null) { Reject(name, "bool"); return fallback; }
        switch (v.GetValueKind())
        {
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Number when v.TryGetValue(out double d) && d is 0 or 1: return d == 1;
            case JsonValueKind.String:
                switch (v.GetValue<string>().Trim().ToLowerInvariant())
                {
                    case "true" or "1" or "yes" or "on" or "t" or "y": return true;
                    case "false" or "0" or "no" or "off" or "f" or "n": return false;
                }
                break;
        }
        throw A1111Exception.Validation(name, "Input should be a valid boolean", "bool_parsing");
    }

    /// <summary>A list of strings (null/absent = null); a single string is not a list (pydantic refuses it too).</summary>
    public IReadOnlyList<string>? StringList(string name)
    {
        if (!Body.TryGetPropertyValue(name, out var n) || IsNull(n)) return null;
        if (n is not JsonArray a) throw A1111Exception.Validation(name, "Input should be a valid list", "list_type");
        var list = new List<string>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is JsonValue v && v.TryGetValue(out string? s)) list.Add(s);
            else throw A1111Exception.Validation($"{name}.{i}", "Input should be a valid string", "string_type");
        }
        return list;
    }

    public JsonObject? Object(string name)
    {
        if (!Body.TryGetPropertyValue(name, out var n) || IsNull(n)) return null;
        return n as JsonObject ?? throw A1111Exception.Validation(name, "Input should be a valid dictionary", "dict_type");
    }

    /// <summary>Present but not a JSON scalar (an object or list where a number/bool is expected).</summary>
    private void Reject(string name, string type)
    {
        if (Body.TryGetPropertyValue(name, out var n) && n != null && n is not JsonValue)
            throw A1111Exception.Validation(name, $"Input should be a valid {(type == "int" ? "integer" : type == "float" ? "number" : "boolean")}", $"{type}_type");
    }

    private static string Short(string s) => s.Length > 40 ? s[..40] + "…" : s;
}
