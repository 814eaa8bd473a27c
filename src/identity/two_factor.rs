//! Two-factor authentication: TOTP enrollment (QR code and manual key), confirmation with a
//! first code, verification at sign-in (a code works once; three wrong codes lock TOTP
//! until the step ends) and ten one-time recovery codes stored hashed.

use super::admin::Identity;
use super::error::IdentityError;
use super::rows::UserRow;
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::totp::{self, TotpSecret};
use crate::crypto::{token, ColumnSealer, Secret};
use crate::model::UserId;
use crate::store::{StoreError, Table, WriteTx};

/// Wrong codes within one step that lock TOTP until the step ends.
pub const MAX_TOTP_FAILURES: u32 = 3;

/// What enrollment shows the user once.
pub struct Enrollment {
    /// The key for manual entry (base32).
    pub secret: Secret<String>,
    /// The `otpauth://` URI the QR code encodes.
    pub otpauth_uri: Secret<String>,
    /// The QR code as inline SVG.
    pub qr_svg: String,
}

/// The result of checking a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// Accepted (a TOTP code for a new step, or an unused recovery code, now used).
    Accepted,
    /// Wrong, replayed or expired.
    Rejected,
    /// Three wrong codes in this step: refused until it ends.
    Locked,
}

pub(super) fn totp_sealer(id: &Identity) -> &ColumnSealer {
    &id.totp_sealer
}

fn open_secret(
    id: &Identity,
    user: &UserId,
    sealed_hex: &str,
) -> Result<TotpSecret, IdentityError> {
    let corrupt = |detail: String| {
        IdentityError::Store(StoreError::Corrupt {
            what: format!("TOTP secret of {user}"),
            detail,
        })
    };
    let sealed = hex::decode(sealed_hex).map_err(|e| corrupt(e.to_string()))?;
    let plain = totp_sealer(id)
        .open(user.0.as_bytes(), &sealed)
        .map_err(|e| corrupt(e.to_string()))?;
    TotpSecret::from_slice(plain.expose()).map_err(|e| corrupt(e.to_string()))
}

/// Deletes every recovery code of `user`.
pub(super) fn delete_recovery_codes_in(tx: &mut WriteTx, user: &UserId) -> Result<(), StoreError> {
    for (key, ()) in tx.rows::<()>(Table::RecoveryCodes, &format!("{user}/"))? {
        tx.delete_row(Table::RecoveryCodes, &key)?;
    }
    Ok(())
}

impl Identity {
    /// Starts TOTP enrollment for `user`: a new secret, sealed and kept pending until a
    /// first code confirms it. An enrolled user's existing TOTP keeps working until then.
    pub fn begin_totp(&self, user: &UserId) -> Result<Enrollment, IdentityError> {
        let secret = TotpSecret::generate();
        let sealed = totp_sealer(self).seal(user.0.as_bytes(), secret.expose_bytes());
        let email = self.store.write(|tx| {
            let mut row: UserRow = tx
                .row(Table::Users, &user.0)?
                .ok_or_else(|| IdentityError::NoSuchUser(user.0.clone()))?;
            row.totp_pending = Some(hex::encode(&sealed));
            tx.put_row(Table::Users, &user.0, &row)?;
            Ok::<_, IdentityError>(row.email)
        })?;
        let uri = secret.otpauth_uri("Tundra", &email);
        let qr_svg = totp::qr_svg(&uri).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        Ok(Enrollment {
            secret: secret.to_base32(),
            otpauth_uri: Secret::new(uri),
            qr_svg,
        })
    }

    /// Confirms the pending secret with a code; on success TOTP is on and ten new
    /// recovery codes replace any old ones (returned once).
    pub fn confirm_totp(
        &self,
        ctx: &AuditContext,
        user: &UserId,
        code: &str,
    ) -> Result<Option<Vec<Secret<String>>>, IdentityError> {
        let now = self.clock.now().unix_timestamp();
        self.store.write(|tx| {
            let mut row: UserRow = tx
                .row(Table::Users, &user.0)?
                .ok_or_else(|| IdentityError::NoSuchUser(user.0.clone()))?;
            let Some(pending) = row.totp_pending.clone() else {
                return Err(IdentityError::Invalid(
                    "start two-factor enrollment first".into(),
                ));
            };
            let secret = open_secret(self, user, &pending)?;
            let Some(step) = secret.verify(code, now, None) else {
                return Ok(None);
            };
            row.totp_sealed = Some(pending);
            row.totp_pending = None;
            row.totp_last_step = Some(step);
            row.totp_failures = 0;
            tx.put_row(Table::Users, &user.0, &row)?;
            delete_recovery_codes_in(tx, user)?;
            let codes = token::recovery_codes();
            for c in &codes {
                let key = format!("{user}/{}", hex::encode(token::code_hash(c.expose())));
                tx.put_row(Table::RecoveryCodes, &key, &())?;
            }
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::TwoFactorEnrolled {
                    email: row.email.clone(),
                },
            )?;
            Ok(Some(codes))
        })
    }

    /// Checks a second factor for `user` at sign-in or re-auth: a TOTP code (once per step,
    /// ±1 step, locked after three wrong codes in a step) or an unused recovery code.
    pub fn check_second_factor(
        &self,
        user: &UserId,
        code: &str,
    ) -> Result<SecondFactor, IdentityError> {
        let now = self.clock.now().unix_timestamp();
        let step = totp::step(now);
        self.store.write(|tx| {
            let mut row: UserRow = tx
                .row(Table::Users, &user.0)?
                .ok_or_else(|| IdentityError::NoSuchUser(user.0.clone()))?;
            let Some(sealed) = row.totp_sealed.clone() else {
                return Ok(SecondFactor::Rejected);
            };
            if row.totp_fail_step == step && row.totp_failures >= MAX_TOTP_FAILURES {
                return Ok(SecondFactor::Locked);
            }
            let digits = code.trim();
            let accepted = if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
                let secret = open_secret(self, user, &sealed)?;
                match secret.verify(digits, now, row.totp_last_step) {
                    Some(s) => {
                        row.totp_last_step = Some(s);
                        true
                    }
                    None => false,
                }
            } else {
                let key = format!("{user}/{}", hex::encode(token::code_hash(code)));
                tx.delete_row(Table::RecoveryCodes, &key)?
            };
            if accepted {
                row.totp_failures = 0;
            } else {
                if row.totp_fail_step != step {
                    row.totp_fail_step = step;
                    row.totp_failures = 0;
                }
                row.totp_failures += 1;
            }
            tx.put_row(Table::Users, &user.0, &row)?;
            Ok(if accepted {
                SecondFactor::Accepted
            } else {
                SecondFactor::Rejected
            })
        })
    }

    /// How many unused recovery codes `user` has.
    pub fn recovery_codes_left(&self, user: &UserId) -> Result<usize, IdentityError> {
        Ok(self
            .store
            .read(|tx| tx.rows::<()>(Table::RecoveryCodes, &format!("{user}/")))?
            .len())
    }
}
