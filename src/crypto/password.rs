//! Password hashing: Argon2id (m = 64 MiB, t = 3, p = 1, v0x13) in PHC strings, and a bounded
//! pool that runs those hashes off the async runtime.
//!
//! Guarantees:
//! - A password longer than [`MAX_PASSWORD_BYTES`] is refused before any hashing and is never
//!   truncated: every byte of an accepted password goes into the hash.
//! - Verification compares digests in constant time (argon2's `Output` comparison).
//! - [`dummy_verify`] runs exactly the work of a real verification, so an unknown user costs the
//!   same as a known one.
//! - [`HashPool`] runs at most `slots` hashes at once (at most one per core), so hashing memory
//!   stays below `slots × 64 MiB` however many logins arrive; a caller that waits longer than the
//!   pool's queue timeout gets [`PoolError::Busy`] with a retry delay instead of queueing forever.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::random;
use super::secret::Secret;

/// The longest password accepted, in bytes (UTF-8). Longer input is refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id memory cost in KiB (64 MiB).
const M_COST_KIB: u32 = 65536;
/// Argon2id iterations.
const T_COST: u32 = 3;
/// Argon2id lanes.
const P_COST: u32 = 1;
/// Salt length in bytes.
const SALT_LEN: usize = 16;

/// A valid Argon2id PHC string with today's parameters and a constant 16-byte salt
/// (`tundra:dummy:16b`). Its digest is SHA-256 of a fixed sentence, not the Argon2 output of
/// any password, so no input verifies against it; it exists so [`dummy_verify`] can follow the
/// real verification path byte for byte.
const DUMMY_PHC: &str = "$argon2id$v=19$m=65536,t=3,p=1$dHVuZHJhOmR1bW15OjE2Yg$\
                         JeBEhlj/gdKRb1y9RL/fhHEemUmkQNuzbpGnqxv/Qvk";

/// Why a password could not be hashed or checked. None of the variants carries the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`]; nothing was hashed.
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The stored hash is not a PHC string argon2 understands (or lacks salt or digest).
    #[error("stored password hash is malformed or uses an unsupported algorithm")]
    MalformedHash,
    /// The stored hash asks for more memory than 64 MiB, which would break the pool's bound.
    #[error("stored password hash asks for more than {M_COST_KIB} KiB of memory")]
    CostTooHigh,
    /// Argon2 itself failed (invalid parameters); the detail never contains the password.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn check_len(pw: &str) -> Result<(), PasswordError> {
    if pw.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// The Argon2id instance with today's parameters.
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `pw` with Argon2id (m = 64 MiB, t = 3, p = 1, v0x13) and a fresh 16-byte salt from
/// the OS CSPRNG, returning the PHC string (`$argon2id$v=19$m=65536,t=3,p=1$…`).
///
/// Refuses a password over [`MAX_PASSWORD_BYTES`] before hashing; never truncates. This blocks
/// for the length of a hash (tenths of a second, 64 MiB): async code goes through [`HashPool`].
pub fn hash_password(pw: &str) -> Result<String, PasswordError> {
    check_len(pw)?;
    let salt = SaltString::encode_b64(&random::bytes::<SALT_LEN>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = hasher()?
        .hash_password(pw.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Checks `pw` against the PHC string `phc`, using the algorithm, version and parameters the
/// string names (so hashes made with older parameters still verify; see [`needs_rehash`]).
///
/// Digests are compared in constant time. A password over [`MAX_PASSWORD_BYTES`] is an error
/// before any hashing; a PHC string asking for more than 64 MiB is refused
/// ([`PasswordError::CostTooHigh`]) so no stored hash can exceed the pool's memory bound.
/// Returns `Ok(false)` for a wrong password, `Err` only for unusable input.
pub fn verify_password(pw: &str, phc: &str) -> Result<bool, PasswordError> {
    check_len(pw)?;
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(PasswordError::MalformedHash);
    }
    let params = Params::try_from(&parsed).map_err(|_| PasswordError::MalformedHash)?;
    if params.m_cost() > M_COST_KIB {
        return Err(PasswordError::CostTooHigh);
    }
    // `Argon2::default()` only supplies the trait impl: verification re-hashes with the
    // algorithm, version and parameters parsed from `phc`.
    match Argon2::default().verify_password(pw.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(PasswordError::Hash(e.to_string())),
    }
}

/// Does the same work as [`verify_password`] with today's parameters (one full Argon2id, 64 MiB,
/// t = 3) against a fixed dummy hash, and discards the result. Call it when the user does not
/// exist, so an unknown user costs the same time and memory as a known one.
pub fn dummy_verify(pw: &str) {
    // The result is meaningless by construction: no password matches DUMMY_PHC.
    let _ = std::hint::black_box(verify_password(pw, DUMMY_PHC));
}

/// True when `phc` was not made with today's algorithm and parameters (Argon2id v0x13,
/// m = 64 MiB, t = 3, p = 1, 16-byte salt, 32-byte digest), or cannot be parsed: after a
/// successful login the caller should store a fresh [`hash_password`] of the password.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    let salt_len = parsed.salt.map(|s| s.len());
    let digest_len = parsed.hash.map(|h| h.len());
    !(parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && params.m_cost() == M_COST_KIB
        && params.t_cost() == T_COST
        && params.p_cost() == P_COST
        // PHC base64 without padding: 16 bytes are 22 characters.
        && salt_len == Some(22)
        && digest_len == Some(32))
}

/// Why the [`HashPool`] did not produce an answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every slot stayed busy for the whole queue timeout; answer 503 with
    /// `Retry-After: retry_after_secs`. Nothing was hashed.
    #[error("password hashing is saturated; retry in {retry_after_secs} s")]
    Busy {
        /// Seconds the client should wait before retrying (at least 1).
        retry_after_secs: u64,
    },
    /// The password or stored hash was refused (see [`PasswordError`]).
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The blocking hash task did not finish (runtime shutting down).
    #[error("password hashing worker failed")]
    Worker,
}

/// A bounded pool for password hashing: at most `slots` Argon2id hashes (64 MiB each) run at
/// once, each on tokio's blocking threads, so a flood of logins can neither exhaust memory nor
/// stall the async runtime. Waiting for a slot is capped by the queue timeout.
///
/// The slot is held until the hash finishes, even if the caller's future is dropped first, so
/// the bound also holds for cancelled requests.
pub struct HashPool {
    permits: Arc<Semaphore>,
    slots: usize,
    queue_timeout: Duration,
}

impl HashPool {
    /// A pool with `slots` concurrent hashes, clamped to `1..=`[`HashPool::default_slots`] (at
    /// most one per core), whose callers wait at most `queue_timeout` for a slot.
    pub fn new(slots: usize, queue_timeout: Duration) -> Arc<Self> {
        let slots = slots.clamp(1, Self::default_slots());
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(slots)),
            slots,
            queue_timeout,
        })
    }

    /// The number of cores available to this process (at least 1): the default and maximum
    /// number of slots.
    pub fn default_slots() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().max(1))
    }

    /// The number of slots this pool runs at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// How many slots are hashing right now (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.slots.saturating_sub(self.permits.available_permits())
    }

    /// [`hash_password`] on the pool. A password over [`MAX_PASSWORD_BYTES`] is refused
    /// without taking a slot.
    pub async fn hash(&self, pw: Secret<String>) -> Result<String, PoolError> {
        check_len(pw.expose())?;
        Ok(self.run(move || hash_password(pw.expose())).await??)
    }

    /// [`verify_password`] on the pool; with `phc` `None` (unknown user) runs [`dummy_verify`]
    /// instead and answers `Ok(false)` after the same work. A password over
    /// [`MAX_PASSWORD_BYTES`] is refused without taking a slot, whether or not the user exists.
    pub async fn verify(&self, pw: Secret<String>, phc: Option<String>) -> Result<bool, PoolError> {
        check_len(pw.expose())?;
        let outcome = self
            .run(move || match phc {
                Some(phc) => verify_password(pw.expose(), &phc),
                None => {
                    dummy_verify(pw.expose());
                    Ok(false)
                }
            })
            .await?;
        Ok(outcome?)
    }

    /// Waits up to the queue timeout for a slot, then runs `job` on a blocking thread while
    /// holding it.
    async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let acquire = Arc::clone(&self.permits).acquire_owned();
        let permit = match tokio::time::timeout(self.queue_timeout, acquire).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; treat it as a worker failure if it ever is.
            Ok(Err(_closed)) => return Err(PoolError::Worker),
            Err(_elapsed) => {
                return Err(PoolError::Busy {
                    retry_after_secs: self.retry_after_secs(),
                })
            }
        };
        tokio::task::spawn_blocking(move || {
            // Moved in so the slot is released only when the hash is done, not when the
            // (possibly cancelled) caller stops waiting.
            let _permit = permit;
            job()
        })
        .await
        .map_err(|_| PoolError::Worker)
    }

    /// The queue timeout rounded up to whole seconds, at least 1.
    fn retry_after_secs(&self) -> u64 {
        let t = self.queue_timeout;
        (t.as_secs() + u64::from(t.subsec_nanos() > 0)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const PREFIX: &str = "$argon2id$v=19$m=65536,t=3,p=1$";

    #[test]
    fn hash_then_verify_and_phc_shape() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with(PREFIX), "{phc}");
        assert!(!needs_rehash(&phc));
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
        assert!(!verify_password("correct horse battery stapler", &phc).unwrap());
    }

    #[test]
    fn over_limit_is_refused_before_hashing() {
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        let start = Instant::now();
        assert_eq!(hash_password(&long), Err(PasswordError::TooLong));
        assert_eq!(
            verify_password(&long, DUMMY_PHC),
            Err(PasswordError::TooLong)
        );
        dummy_verify(&long);
        // Any Argon2id run with these parameters takes far longer than this.
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn max_length_password_is_not_truncated() {
        let pw = "p".repeat(MAX_PASSWORD_BYTES);
        let phc = hash_password(&pw).unwrap();
        assert!(verify_password(&pw, &phc).unwrap());
        // Same first 100 bytes (past bcrypt's 72-byte cut), different tail.
        let mut other = pw.clone();
        other.replace_range(100..101, "q");
        assert!(!verify_password(&other, &phc).unwrap());
    }

    #[test]
    fn other_parameters_still_verify() {
        // A light hash made with different parameters: checked with its own parameters.
        let params = Params::new(256, 1, 1, None).unwrap();
        let light = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = light.hash_password(b"old", &salt).unwrap().to_string();
        assert!(verify_password("old", &phc).unwrap());
        assert!(!verify_password("new", &phc).unwrap());
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn unusable_hashes_are_errors_not_false() {
        assert_eq!(
            verify_password("pw", "not a phc string"),
            Err(PasswordError::MalformedHash)
        );
        assert_eq!(
            verify_password("pw", "$argon2id$v=19$m=65536,t=3,p=1"),
            Err(PasswordError::MalformedHash)
        );
        let greedy = DUMMY_PHC.replace("m=65536", "m=1048576");
        assert_eq!(
            verify_password("pw", &greedy),
            Err(PasswordError::CostTooHigh)
        );
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn dummy_hash_uses_todays_parameters() {
        // So dummy_verify costs exactly what a real verification of a current hash costs.
        assert!(!needs_rehash(DUMMY_PHC));
    }

    #[test]
    fn pool_clamps_slots_to_cores() {
        let pool = HashPool::new(10_000, Duration::from_secs(1));
        assert_eq!(pool.slots(), HashPool::default_slots());
        assert_eq!(HashPool::new(0, Duration::from_secs(1)).slots(), 1);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.retry_after_secs(), 1);
        assert_eq!(
            HashPool::new(1, Duration::from_millis(2500)).retry_after_secs(),
            3
        );
        assert_eq!(
            HashPool::new(1, Duration::from_millis(50)).retry_after_secs(),
            1
        );
    }

    #[tokio::test]
    async fn pool_hashes_verifies_and_handles_unknown_users() {
        let pool = HashPool::new(1, Duration::from_secs(30));
        let phc = pool.hash(Secret::new("pool pw".to_owned())).await.unwrap();
        assert!(pool
            .verify(Secret::new("pool pw".to_owned()), Some(phc))
            .await
            .unwrap());
        assert!(!pool
            .verify(Secret::new("pool pw".to_owned()), None)
            .await
            .unwrap());
        let long = Secret::new("x".repeat(MAX_PASSWORD_BYTES + 1));
        assert_eq!(
            pool.verify(long, None).await,
            Err(PoolError::Password(PasswordError::TooLong))
        );
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn pool_answers_busy_when_saturated() {
        let pool = HashPool::new(1, Duration::from_millis(50));
        // A verification with t = 12: a full Argon2id at four times today's time cost, so it
        // outlasts the 50 ms queue timeout on any machine.
        let slow_phc = DUMMY_PHC.replace("t=3", "t=12");
        let first = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.verify(Secret::new("pw".to_owned()), Some(slow_phc))
                    .await
            }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.in_use() == 0 {
            assert!(
                Instant::now() < deadline,
                "first verification never started"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let second = pool.hash(Secret::new("other".to_owned())).await;
        assert_eq!(
            second,
            Err(PoolError::Busy {
                retry_after_secs: 1
            })
        );
        assert_eq!(first.await.unwrap(), Ok(false));
        assert_eq!(pool.in_use(), 0);
    }
}
