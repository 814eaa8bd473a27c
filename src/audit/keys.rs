//! The audit signing key at rest: its seed sealed in the store, its public half in the clear.

use crate::crypto::{ColumnSealer, MasterKey, PublicKey, SigningKey};
use crate::store::{ReadTx, StoreError, WriteTx};

const SECRET_NAME: &str = "audit_signing_key";
const PUBLIC_NAME: &str = "audit_public_key";

fn sealer(master: &MasterKey, key_version: u32) -> ColumnSealer {
    ColumnSealer::new(master, "appliance_secrets", "value", key_version)
}

/// Seals `key` into the store and records its public key.
pub fn store_signing_key(
    tx: &mut WriteTx,
    master: &MasterKey,
    key_version: u32,
    key: &SigningKey,
) -> Result<(), StoreError> {
    let sealed = sealer(master, key_version).seal(SECRET_NAME.as_bytes(), key.seed().expose());
    tx.put_secret(SECRET_NAME, &sealed)?;
    tx.put_public(PUBLIC_NAME, &key.public().to_bytes())
}

/// Unseals the audit signing key, checking it against the stored public key.
pub fn load_signing_key(
    tx: &ReadTx,
    master: &MasterKey,
    key_version: u32,
) -> Result<SigningKey, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        what: SECRET_NAME.into(),
        detail,
    };
    let sealed = tx
        .secret(SECRET_NAME)?
        .ok_or_else(|| corrupt("missing".into()))?;
    let seed = sealer(master, key_version)
        .open(SECRET_NAME.as_bytes(), &sealed)
        .map_err(|e| {
            corrupt(format!(
                "{e}; is this the master key that initialized this data dir?"
            ))
        })?;
    let seed: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        seed.expose()
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("wrong length".into()))?,
    );
    let key = SigningKey::from_seed(&seed);
    let public = tx
        .public(PUBLIC_NAME)?
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .and_then(|b| PublicKey::from_bytes(&b).ok())
        .ok_or_else(|| corrupt("public key missing".into()))?;
    if public != key.public() {
        return Err(corrupt("does not match the stored public key".into()));
    }
    Ok(key)
}
