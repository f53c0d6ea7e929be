using System.Security.Cryptography;
using System.Text;

namespace Emulator.Service.Rpc;

/// <summary>
/// Checks "authorization: Bearer &lt;token&gt;". Both sides are hashed first so the
/// comparison takes the same time whatever the token's length and content.
/// </summary>
internal sealed class BearerTokenCheck(string token)
{
    private const string Scheme = "Bearer ";
    private readonly byte[] expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public bool Accepts(string? authorization)
    {
        string presented = authorization is not null && authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            ? authorization[Scheme.Length..].Trim()
            : "";
        byte[] actual = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        return CryptographicOperations.FixedTimeEquals(actual, expected) && presented.Length > 0;
    }
}
