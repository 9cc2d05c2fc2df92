"""Known-weak RSA public keys, refused before issuance — Let's Encrypt Boulder's ``goodkey`` practice — with the
offline checks of badkeys (Hanno Böck, https://badkeys.info, MIT).

Checked on every RSA key kyso certifies (CSR or HSM-generated): values that are not an RSA key, a modulus with a
small prime factor (a corrupt key), primes close enough for Fermat's factorisation, the Infineon RSALib structure
(ROCA, CVE-2017-15361), the zero-pattern primes of broken generators, a private exponent small enough for
Wiener's attack, and a prime shared with the broken keys badkeys ships. About 0.2–0.5 ms per key.

Not included: badkeys' blocklists of published private keys (Debian OpenSSL 2008, firmware and documentation
keys) are downloaded by ``badkeys --update-bl`` and kyso fetches nothing at run time.
"""
from __future__ import annotations

from badkeys.rsakeys import fermat, roca, rsainvalid, rsapoly, sharedprimes, smalld, smallfactors

# check → (English, Vietnamese), in the order they run (cheapest and most basic first)
WEAKNESSES: dict[str, tuple[object, str, str]] = {
    "rsainvalid": (rsainvalid, "its values are not a valid RSA key", "các giá trị không tạo thành khóa RSA hợp lệ"),
    "smallfactors": (smallfactors, "the modulus has a small prime factor (a corrupt key)",
                     "mô-đun có thừa số nguyên tố nhỏ (khóa bị hỏng)"),
    "fermat": (fermat, "its two primes are so close that Fermat's method factors it",
               "hai số nguyên tố quá gần nhau, phương pháp Fermat phân tích được"),
    "roca": (roca, "it was made by the vulnerable Infineon RSA library (ROCA, CVE-2017-15361)",
             "khóa được tạo bởi thư viện RSA Infineon có lỗ hổng (ROCA, CVE-2017-15361)"),
    "rsapoly": (rsapoly, "its primes have the zero-byte pattern of a broken generator and can be factored",
                "các số nguyên tố có mẫu byte 0 của bộ sinh khóa lỗi, phân tích được"),
    "smalld": (smalld, "its private exponent is small enough for Wiener's attack",
               "số mũ bí mật đủ nhỏ để bị tấn công Wiener"),
    "sharedprimes": (sharedprimes, "it shares a prime with keys known to be broken",
                     "khóa dùng chung số nguyên tố với các khóa đã bị phá"),
}


def rsa_weakness(n: int, e: int) -> tuple[str, str, str] | None:
    """(check name, English, Vietnamese) of the first known weakness of the RSA public key (n, e), or None."""
    for name, (check, english, vietnamese) in WEAKNESSES.items():
        if check(n, e=e) is not False:  # type: ignore[operator]
            return name, english, vietnamese
    return None
