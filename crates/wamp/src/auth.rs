//! Authentication helpers shared by router and client: WAMP-CRA signing and key derivation.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// WAMP-CRA signature: base64(HMAC-SHA256(key, challenge)).
pub fn wampcra_sign(key: &[u8], challenge: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Verifies a WAMP-CRA signature in constant time.
pub fn wampcra_verify(key: &[u8], challenge: &str, signature: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(challenge.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// WAMP-CRA salted key: base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)), used as
/// the HMAC key (as autobahn's `derive_key`).
pub fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: u32) -> String {
    let keylen = keylen.clamp(1, 1024) as usize;
    let mut key = vec![0u8; keylen];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        secret.as_bytes(),
        salt.as_bytes(),
        iterations.max(1),
        &mut key,
    );
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Current UTC time as ISO 8601 with milliseconds, e.g. `2014-06-22T16:36:25.448Z`.
pub(crate) fn utc_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        let sig = wampcra_sign(b"Jefe", "what do ya want for nothing?");
        let expected = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";
        assert_eq!(sig, expected);
        assert!(wampcra_verify(
            b"Jefe",
            "what do ya want for nothing?",
            expected
        ));
        assert!(!wampcra_verify(
            b"Jefe",
            "what do ya want for something?",
            expected
        ));
        assert!(!wampcra_verify(b"Jefe", "x", "not base64!"));
    }

    #[test]
    fn pbkdf2_known_answer() {
        // RFC 7914 section 11 PBKDF2-HMAC-SHA256 vector: P="passwd", S="salt", c=1, dkLen=64.
        let k = derive_key("passwd", "salt", 1, 64);
        let raw = base64::engine::general_purpose::STANDARD.decode(k).unwrap();
        assert_eq!(&raw[..4], &[0x55, 0xac, 0x04, 0x6e]);
    }

    #[test]
    fn timestamp_shape() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
