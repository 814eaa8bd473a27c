//! Opaque bearer values: API and registration tokens, session ids, CSRF tokens, the one-time
//! setup code and 2FA recovery codes, and the hashes under which they are stored.
//!
//! Guarantees:
//! - Every value comes from the OS CSPRNG: tokens, session ids and CSRF tokens carry 256 bits;
//!   the setup code ≈ 99 bits; each recovery code ≈ 59 bits. Typable codes are drawn uniformly
//!   (rejection sampling) from a 31-symbol alphabet without look-alikes (no 0/O, 1/I/L).
//! - Secret values are returned in [`Secret`]; the server stores only [`token_hash`]
//!   (SHA-256). Setup and recovery codes are hashed over [`normalize_code`]'s form, via
//!   [`code_hash`], so users may type them in any case, with or without spaces and dashes.
//! - [`parse_api_token`] accepts only the exact shape [`api_token`] produces.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::Rng;

use super::digest::sha256;
use super::random;
use super::secret::Secret;

/// Prefix of every Tundra token.
const PREFIX: &str = "tnd_";
/// The environment name reserved for registration tokens.
const REGISTRATION_ENV: &str = "reg";
/// Longest `env` in an API token.
const MAX_ENV_LEN: usize = 16;
/// Length of the base64url (no padding) encoding of 32 bytes.
const BODY_LEN: usize = 43;
/// The last character of 32 bytes in unpadded base64url carries 4 data bits and 2 zero bits,
/// so only these 16 characters are canonical there.
const CANONICAL_LAST: &[u8] = b"AEIMQUYcgkosw048";

/// Symbols of typable codes: 2–9 and A–Z without I, L and O (31 symbols, log2 ≈ 4.954 bits
/// each). 0 and 1 are absent too, so no pair of symbols is easily confused.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols per group in typable codes.
const GROUP_LEN: usize = 4;
/// Setup code: 5 groups of 4 = 20 symbols ≈ 99.1 bits.
const SETUP_GROUPS: usize = 5;
/// Recovery code: 3 groups of 4 = 12 symbols ≈ 59.5 bits.
const RECOVERY_GROUPS: usize = 3;
/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// 32 CSPRNG bytes as unpadded base64url (43 characters); the raw bytes are zeroized.
fn random_body() -> Secret<String> {
    let raw = Secret::new(random::bytes::<32>());
    Secret::new(URL_SAFE_NO_PAD.encode(raw.expose()))
}

/// A new API token `tnd_{env}_{43 base64url chars}` carrying 256 random bits. Show it once;
/// store only [`token_hash`].
///
/// `env` must match `[a-z0-9]{1,16}` and must not be `reg` (e.g. `live`); a token made with any
/// other `env` is refused by [`parse_api_token`], so a mistake fails closed.
pub fn api_token(env: &str) -> Secret<String> {
    let body = random_body();
    Secret::new(format!("{PREFIX}{env}_{}", body.expose()))
}

/// A new agent registration token `tnd_reg_{43 base64url chars}` (256 random bits). Store only
/// [`token_hash`].
pub fn registration_token() -> Secret<String> {
    api_token(REGISTRATION_ENV)
}

/// A new session id: 256 random bits as 43 base64url characters. Store only [`token_hash`].
pub fn session_id() -> Secret<String> {
    random_body()
}

/// A new CSRF token: 256 random bits as 43 base64url characters. Not a stored secret (it is
/// echoed in the page), but compare it in constant time.
pub fn csrf_token() -> String {
    let body = random_body();
    body.expose().clone()
}

/// `groups` groups of 4 symbols from [`CODE_ALPHABET`], joined by `-`.
fn grouped_code(groups: usize) -> Secret<String> {
    let mut out = String::with_capacity(groups * (GROUP_LEN + 1));
    for g in 0..groups {
        if g > 0 {
            out.push('-');
        }
        for _ in 0..GROUP_LEN {
            // gen_range samples uniformly (rejection sampling), so no symbol is favoured.
            let i = OsRng.gen_range(0..CODE_ALPHABET.len());
            out.push(char::from(CODE_ALPHABET[i]));
        }
    }
    Secret::new(out)
}

/// A new one-time setup code, `XXXX-XXXX-XXXX-XXXX-XXXX`: 20 symbols from [`CODE_ALPHABET`],
/// ≈ 99.1 bits. Store only [`code_hash`].
pub fn setup_code() -> Secret<String> {
    grouped_code(SETUP_GROUPS)
}

/// Ten new one-time recovery codes, each `XXXX-XXXX-XXXX`: 12 symbols from [`CODE_ALPHABET`],
/// ≈ 59.5 bits each. (Ten symbols of this alphabet would give only 49.5 bits, under the
/// 50-bit floor.) Store only their [`code_hash`]es.
pub fn recovery_codes() -> Vec<Secret<String>> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| grouped_code(RECOVERY_GROUPS))
        .collect()
}

/// SHA-256 of `token`: what the store keeps for API tokens, registration tokens and session
/// ids (256-bit random values need no salt or slow hash).
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// [`token_hash`] as 64 lowercase hex characters.
pub fn token_hash_hex(token: &str) -> String {
    hex::encode(token_hash(token))
}

/// The canonical form of a typed setup or recovery code: ASCII uppercase, with whitespace and
/// dashes removed (`" abcd-efgh "` → `"ABCDEFGH"`). Hashes of these codes are always taken over
/// this form (see [`code_hash`]).
pub fn normalize_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// SHA-256 of [`normalize_code`]`(input)`: the stored form of setup and recovery codes, and
/// what a typed code is compared against, so `abcd efgh` and `ABCD-EFGH` match.
pub fn code_hash(input: &str) -> [u8; 32] {
    let normalized = Secret::new(normalize_code(input));
    token_hash(normalized.expose())
}

/// Splits an API token into `(env, body)` if it has exactly the shape [`api_token`] makes:
/// `tnd_`, an `env` of `[a-z0-9]{1,16}` other than `reg`, `_`, and a body of 43 base64url
/// characters that is the canonical encoding of 32 bytes. Anything else is `None`.
pub fn parse_api_token(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix(PREFIX)?;
    // `env` has no `_`, so the first one ends it (the body may contain `_`).
    let (env, body) = rest.split_once('_')?;
    let env_ok = (1..=MAX_ENV_LEN).contains(&env.len())
        && env
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && env != REGISTRATION_ENV;
    let body_ok = body.len() == BODY_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && body
            .as_bytes()
            .last()
            .is_some_and(|b| CANONICAL_LAST.contains(b));
    (env_ok && body_ok).then_some((env, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_b64url(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn api_and_registration_tokens_have_their_shape() {
        let t = api_token("live");
        let t = t.expose();
        assert!(t.starts_with("tnd_live_"));
        assert_eq!(t.len(), "tnd_live_".len() + 43);
        assert!(is_b64url(&t["tnd_live_".len()..]));
        let r = registration_token();
        assert!(r.expose().starts_with("tnd_reg_"));
        assert_eq!(r.expose().len(), "tnd_reg_".len() + 43);
        assert!(format!("{r:?}").contains("REDACTED"));
    }

    #[test]
    fn session_and_csrf_tokens_are_256_bit_base64url() {
        for s in [session_id().expose().clone(), csrf_token()] {
            assert_eq!(s.len(), 43);
            assert!(is_b64url(&s));
            assert_eq!(URL_SAFE_NO_PAD.decode(&s).unwrap().len(), 32);
        }
    }

    #[test]
    fn values_do_not_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            assert!(seen.insert(api_token("live").expose().clone()));
            assert!(seen.insert(session_id().expose().clone()));
            assert!(seen.insert(csrf_token()));
            assert!(seen.insert(setup_code().expose().clone()));
        }
        let codes: HashSet<String> = recovery_codes()
            .iter()
            .map(|c| c.expose().clone())
            .collect();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
    }

    fn assert_grouped(code: &str, groups: usize) {
        let parts: Vec<&str> = code.split('-').collect();
        assert_eq!(parts.len(), groups, "{code}");
        for p in parts {
            assert_eq!(p.len(), GROUP_LEN, "{code}");
            assert!(p.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
    }

    #[test]
    fn typable_codes_have_their_shape_and_strength() {
        assert_eq!(CODE_ALPHABET.len(), 31);
        for bad in b"01OIL" {
            assert!(!CODE_ALPHABET.contains(bad));
        }
        let bits = |symbols: usize| symbols as f64 * (CODE_ALPHABET.len() as f64).log2();
        assert!(bits(SETUP_GROUPS * GROUP_LEN) >= 80.0);
        assert!(bits(RECOVERY_GROUPS * GROUP_LEN) >= 50.0);
        assert_grouped(setup_code().expose(), SETUP_GROUPS);
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_grouped(c.expose(), RECOVERY_GROUPS);
        }
    }

    #[test]
    fn every_symbol_is_used() {
        // 200 setup codes = 4000 draws; missing one of 31 symbols has odds ≈ 31·(30/31)^4000.
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.extend(setup_code().expose().bytes().filter(|b| *b != b'-'));
        }
        assert_eq!(seen.len(), CODE_ALPHABET.len());
    }

    #[test]
    fn hashes_are_stable_sha256() {
        assert_eq!(
            token_hash_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_ne!(token_hash("abc"), token_hash("abd"));
    }

    #[test]
    fn codes_are_normalized_before_hashing() {
        assert_eq!(normalize_code(" abcd-efgh\tjk "), "ABCDEFGHJK");
        let code = setup_code();
        let typed = code.expose().to_lowercase().replace('-', " ");
        assert_eq!(code_hash(&typed), code_hash(code.expose()));
        assert_eq!(
            code_hash(code.expose()),
            token_hash(&normalize_code(code.expose()))
        );
        assert_ne!(code_hash("ABCD-EFGH"), code_hash("ABCD-EFGJ"));
    }

    #[test]
    fn parse_accepts_what_api_token_makes() {
        for _ in 0..100 {
            let t = api_token("live");
            let (env, body) = parse_api_token(t.expose()).unwrap();
            assert_eq!(env, "live");
            assert_eq!(body.len(), 43);
            assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        }
        let t = api_token("0123456789abcdef");
        assert_eq!(parse_api_token(t.expose()).unwrap().0, "0123456789abcdef");
        // A body containing `_` still splits at the first `_` after the env.
        let tricky = format!("tnd_test_{}", "_".repeat(42) + "A");
        assert_eq!(
            parse_api_token(&tricky),
            Some(("test", &tricky["tnd_test_".len()..]))
        );
    }

    #[test]
    fn parse_refuses_anything_else() {
        let body = "A".repeat(43);
        let ok = format!("tnd_live_{body}");
        assert!(parse_api_token(&ok).is_some());
        let refused = [
            String::new(),
            format!("tnd__{body}"),
            format!("tnd_reg_{body}"),
            format!("tnd_Live_{body}"),
            format!("tnd_li-ve_{body}"),
            format!("tnd_{}_{body}", "a".repeat(17)),
            format!("TND_live_{body}"),
            format!("xnd_live_{body}"),
            format!("tnd_live{body}"),
            format!("tnd_live_{}", "A".repeat(42)),
            format!("tnd_live_{}", "A".repeat(44)),
            format!("tnd_live_{}=", "A".repeat(42)),
            format!("tnd_live_{}+", "A".repeat(42)),
            format!("tnd_live_{}B", "A".repeat(42)),
            format!(" tnd_live_{body}"),
            format!("tnd_live_{body} "),
            registration_token().expose().clone(),
        ];
        for s in &refused {
            assert_eq!(parse_api_token(s), None, "{s:?}");
        }
    }
}
