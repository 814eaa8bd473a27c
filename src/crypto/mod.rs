//! Crypto primitives: the master key, column sealing, digests, signatures, randomness,
//! X.509 material, password hashing (Argon2id on a bounded pool), TOTP and opaque tokens.
//!
//! `crypto` uses nothing internal: it is the bottom of the dependency graph, so every
//! guarantee here can be reviewed on its own. It never logs key material; secrets travel in
//! [`Secret`], which redacts and zeroizes.

pub mod digest;
pub mod issue;
pub mod master_key;
pub mod password;
pub mod random;
pub mod seal;
pub mod secret;
pub mod sign;
pub mod tls;
pub mod token;
pub mod totp;
pub mod x509;

pub use master_key::{MasterKey, MasterKeyError};
pub use password::{HashPool, PasswordError, PoolError};
pub use seal::{ColumnSealer, SealError};
pub use secret::{ct_eq, Secret};
pub use sign::{PublicKey, SignatureError, SigningKey};
pub use totp::{TotpError, TotpSecret};
