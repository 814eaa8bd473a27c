//! Decoders for the literal payloads people hide commands in: escapes, base64, hex, `rev`,
//! `tr`, UTF-16LE. Every function is total and bounded by its input's length.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};

/// Decoded output larger than this is not judged (the input limit bounds it anyway).
pub(crate) const MAX_DECODED: usize = 64 * 1024;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Base64 (standard or URL-safe, padding optional, whitespace ignored) to bytes.
pub(crate) fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.is_empty() || clean.len() > MAX_DECODED * 2 {
        return None;
    }
    STANDARD
        .decode(&clean)
        .or_else(|_| URL_SAFE.decode(&clean))
        .ok()
}

/// Base64 to UTF-8 text.
pub(crate) fn base64_text(text: &str) -> Option<String> {
    base64_bytes(text).and_then(|b| String::from_utf8(b).ok())
}

/// Base64 of UTF-16LE (PowerShell's `-EncodedCommand`) to text; falls back to UTF-8.
pub(crate) fn base64_utf16le(text: &str) -> Option<String> {
    let bytes = base64_bytes(text)?;
    if bytes.len() >= 2 && bytes.len() % 2 == 0 && bytes.iter().skip(1).step_by(2).all(|b| *b == 0)
    {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).ok();
    }
    String::from_utf8(bytes).ok()
}

/// Plain hex (`xxd -r -p`), whitespace and `0x`/`\x` prefixes ignored.
pub(crate) fn hex_text(text: &str) -> Option<String> {
    let clean = text.replace("\\x", "").replace("0x", "");
    let digits: Vec<u8> = clean.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > MAX_DECODED * 2 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks_exact(2) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    String::from_utf8(out).ok()
}

/// Each line reversed, as `rev` does.
pub(crate) fn rev(text: &str) -> String {
    text.split('\n')
        .map(|l| l.chars().rev().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `tr` set (`a-z`, `\n`, literal characters).
fn tr_set(set: &str) -> Vec<char> {
    let chars: Vec<char> = decode_escapes(set, Escapes::Printf).chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() && out.len() < 4096 {
        match (chars.get(i), chars.get(i + 1), chars.get(i + 2)) {
            (Some(&a), Some('-'), Some(&b)) if a <= b => {
                out.extend(a..=b);
                i += 3;
            }
            (Some(&c), _, _) => {
                out.push(c);
                i += 1;
            }
            _ => break,
        }
    }
    out
}

/// `tr SET1 SET2` (the last character of SET2 repeats) or `tr -d SET1`.
pub(crate) fn tr(text: &str, from: &str, to: Option<&str>) -> String {
    let from = tr_set(from);
    match to {
        None => text.chars().filter(|c| !from.contains(c)).collect(),
        Some(to) => {
            let to = tr_set(to);
            text.chars()
                .map(|c| match from.iter().position(|f| *f == c) {
                    Some(i) => to.get(i).or(to.last()).copied().unwrap_or(c),
                    None => c,
                })
                .collect()
        }
    }
}

/// Which escape dialect to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// `$'…'` and `printf`'s format: `\xHH`, `\NNN` octal, `\uHHHH`, `\n`, …
    Printf,
    /// `echo -e`: like printf but octal is written `\0NNN`.
    Echo,
}

/// Decodes backslash escapes; unknown escapes stay as written.
pub(crate) fn decode_escapes(text: &str, dialect: Escapes) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |from: usize, max: usize, radix: u32| -> (u32, usize) {
        let mut v = 0u32;
        let mut n = 0;
        while n < max {
            match chars.get(from + n).and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    v = v.saturating_mul(radix).saturating_add(d);
                    n += 1;
                }
                None => break,
            }
        }
        (v, n)
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = chars[i + 1];
        i += 2;
        let simple = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'e' | 'E' => Some('\x1b'),
            'f' => Some('\x0c'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (value, used) = match e {
            'x' => digits(i, 2, 16),
            'u' => digits(i, 4, 16),
            'U' => digits(i, 8, 16),
            '0' if dialect == Escapes::Echo => digits(i, 3, 8),
            '0'..='7' if dialect == Escapes::Printf => {
                let (v, n) = digits(i - 1, 3, 8);
                (v, n.saturating_sub(1))
            }
            _ => (0, usize::MAX),
        };
        if used == usize::MAX || (used == 0 && matches!(e, 'x' | 'u' | 'U')) {
            out.push('\\');
            out.push(e);
            continue;
        }
        i += used;
        if let Some(ch) = char::from_u32(value) {
            out.push(ch);
        }
    }
    out
}

/// `printf FORMAT ARGS…`: escapes in the format, `%s`/`%b`/`%c`/`%d` filled from the args,
/// the format reused while args remain (bounded).
pub(crate) fn printf(format: &str, args: &[String]) -> String {
    let fmt = decode_escapes(format, Escapes::Printf);
    let mut out = String::new();
    let mut next = 0;
    for _round in 0..64 {
        let mut chars = fmt.chars().peekable();
        let mut used_any = false;
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            // Skip flags, width and precision.
            while chars.peek().is_some_and(|c| "-+ #0123456789.".contains(*c)) {
                chars.next();
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some(conv) => {
                    let arg = args.get(next).map(String::as_str).unwrap_or("");
                    next += 1;
                    used_any = true;
                    match conv {
                        'b' => out.push_str(&decode_escapes(arg, Escapes::Echo)),
                        'c' => out.extend(arg.chars().next()),
                        _ => out.push_str(arg),
                    }
                }
                None => out.push('%'),
            }
        }
        if !used_any || next >= args.len() || out.len() > MAX_DECODED {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_in_both_dialects() {
        assert_eq!(
            decode_escapes(r"\x72\x6d \055rf", Escapes::Printf),
            "rm -rf"
        );
        assert_eq!(decode_escapes(r"\0162m", Escapes::Echo), "rm");
        assert_eq!(decode_escapes(r"\u0072m\q", Escapes::Printf), "rm\\q");
    }

    #[test]
    fn printf_fills_and_reuses_the_format() {
        assert_eq!(printf("%s%s", &["r".into(), "m".into()]), "rm");
        assert_eq!(printf("%c", &["rx".into(), "my".into()]), "rm");
        assert_eq!(printf(r"\x72\x6d", &[]), "rm");
    }

    #[test]
    fn base64_hex_utf16_rev_tr() {
        assert_eq!(base64_text("cm0gLXJmIC8=").as_deref(), Some("rm -rf /"));
        assert_eq!(base64_text("cm0gLXJmIC8").as_deref(), Some("rm -rf /"));
        assert_eq!(hex_text("726d202d7266202f").as_deref(), Some("rm -rf /"));
        assert_eq!(base64_utf16le("ZABpAHIA").as_deref(), Some("dir"));
        assert_eq!(rev("/ fr- mr"), "rm -rf /");
        assert_eq!(tr("ez -es /", "a-zA-Z", Some("n-za-mN-ZA-M")), "rm -rf /");
        assert_eq!(tr("rXm", "X", None), "rm");
        assert_eq!(base64_text("!!!"), None);
    }
}
