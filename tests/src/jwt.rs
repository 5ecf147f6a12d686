//! Operator-mode material for tests: an operator, a system account, accounts and users,
//! issued as signed JWTs, plus the server config text (`operator`, `system_account`,
//! `resolver: MEMORY`, `resolver_preload`) and `.creds` files for clients.
//!
//! A JWT here is `base64url(header).base64url(claims).base64url(ed25519 signature)` with
//! header `{"typ":"JWT","alg":"ed25519-nkey"}`, signed by the issuer's nkey.
//!
//! ```no_run
//! use natsy_test_harness::{NatsServer, OperatorSetup};
//! let mut setup = OperatorSetup::new();
//! let account = setup.add_account("APP", true);
//! let alice = setup.user(&account, "alice");
//! let server = NatsServer::builder()
//!     .jetstream()
//!     .raw_config(&setup.server_config())
//!     .start()?;
//! // Clients log in with alice.jwt() and alice.key().sign_nonce(nonce), or alice.creds().
//! # Ok::<(), natsy_test_harness::HarnessError>(())
//! ```

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::auth::quote;
use crate::nkeys::{KeyKind, KeyPair};
use crate::HarnessError;

/// Signs `claims` (completed with `jti`, `iat`, `iss`) with `issuer` and returns the JWT.
fn issue(issuer: &KeyPair, mut claims: Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let jti = data_encoding::BASE32_NOPAD.encode(&rand::random::<[u8; 20]>());
    if let Some(obj) = claims.as_object_mut() {
        obj.insert("jti".into(), json!(jti));
        obj.insert("iat".into(), json!(iat));
        obj.insert("iss".into(), json!(issuer.public_key()));
    }
    let header = b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let sig = b64.encode(issuer.sign(signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// Account limits with everything unlimited; JetStream on (unlimited) or off.
fn account_claims(name: &str, key: &KeyPair, jetstream: bool) -> Value {
    let js = if jetstream { -1 } else { 0 };
    json!({
        "name": name,
        "sub": key.public_key(),
        "nats": {
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": js, "disk_storage": js, "streams": js, "consumer": js
            },
            "default_permissions": { "pub": {}, "sub": {} },
            "type": "account",
            "version": 2
        }
    })
}

/// A user's JWT and nkey, as a client needs them to log in.
#[derive(Clone, Debug)]
pub struct UserCreds {
    jwt: String,
    key: KeyPair,
}

impl UserCreds {
    /// The user JWT (the `jwt` field of `CONNECT`).
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The user's nkey (signs the server nonce for the `sig` field).
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// The text of a `.creds` file: the JWT and the seed in their armored blocks.
    pub fn creds(&self) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            self.jwt,
            self.key.seed()
        )
    }

    /// Writes [`UserCreds::creds`] to `path`.
    pub fn write_creds(&self, path: &Path) -> Result<(), HarnessError> {
        std::fs::write(path, self.creds())
            .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
    }
}

/// One issued account.
#[derive(Clone, Debug)]
struct IssuedAccount {
    key: KeyPair,
    jwt: String,
}

/// An operator with a system account and any number of accounts, all preloaded into a
/// memory resolver by [`OperatorSetup::server_config`].
#[derive(Clone, Debug)]
pub struct OperatorSetup {
    operator: KeyPair,
    operator_jwt: String,
    system: IssuedAccount,
    accounts: Vec<IssuedAccount>,
}

impl Default for OperatorSetup {
    fn default() -> Self {
        Self::new()
    }
}

impl OperatorSetup {
    /// A fresh operator and its system account `SYS` (no JetStream).
    pub fn new() -> Self {
        let operator = KeyPair::generate(KeyKind::Operator);
        let system_key = KeyPair::generate(KeyKind::Account);
        let operator_jwt = issue(
            &operator,
            json!({
                "name": "natsy-test-operator",
                "sub": operator.public_key(),
                "nats": {
                    "system_account": system_key.public_key(),
                    "type": "operator",
                    "version": 2
                }
            }),
        );
        let system_jwt = issue(&operator, account_claims("SYS", &system_key, false));
        OperatorSetup {
            operator,
            operator_jwt,
            system: IssuedAccount {
                key: system_key,
                jwt: system_jwt,
            },
            accounts: Vec::new(),
        }
    }

    /// Issues an account (unlimited; JetStream unlimited or disabled) and preloads it.
    /// Returns its key, to issue users with [`OperatorSetup::user`].
    pub fn add_account(&mut self, name: &str, jetstream: bool) -> KeyPair {
        let key = KeyPair::generate(KeyKind::Account);
        let jwt = issue(&self.operator, account_claims(name, &key, jetstream));
        self.accounts.push(IssuedAccount {
            key: key.clone(),
            jwt,
        });
        key
    }

    /// Issues a user of `account` (any account key: one not added here gives a user the
    /// server rejects).
    pub fn user(&self, account: &KeyPair, name: &str) -> UserCreds {
        let key = KeyPair::generate(KeyKind::User);
        let jwt = issue(
            account,
            json!({
                "name": name,
                "sub": key.public_key(),
                "nats": {
                    "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                    "type": "user", "version": 2
                }
            }),
        );
        UserCreds { jwt, key }
    }

    /// The operator's key.
    pub fn operator(&self) -> &KeyPair {
        &self.operator
    }

    /// The operator JWT.
    pub fn operator_jwt(&self) -> &str {
        &self.operator_jwt
    }

    /// The system account's key.
    pub fn system_account(&self) -> &KeyPair {
        &self.system.key
    }

    /// Config text for [`crate::ServerBuilder::raw_config`]: the operator JWT, the system
    /// account and a memory resolver preloaded with every account JWT.
    pub fn server_config(&self) -> String {
        let mut out = format!(
            "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n",
            quote(&self.operator_jwt),
            quote(&self.system.key.public_key())
        );
        for account in std::iter::once(&self.system).chain(&self.accounts) {
            out.push_str(&format!(
                "  {}: {}\n",
                account.key.public_key(),
                quote(&account.jwt)
            ));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    fn decode_part(part: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap()
    }

    #[test]
    fn user_jwt_is_signed_by_its_account() {
        let mut setup = OperatorSetup::new();
        let account = setup.add_account("A", false);
        let user = setup.user(&account, "u");
        let parts: Vec<&str> = user.jwt().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&decode_part(parts[1])).unwrap();
        assert_eq!(claims["iss"], account.public_key());
        assert_eq!(claims["sub"], user.key().public_key());
        assert_eq!(claims["nats"]["type"], "user");

        // Verify the signature with the account's raw public key.
        let raw = data_encoding::BASE32_NOPAD
            .decode(account.public_key().as_bytes())
            .unwrap();
        let vk = VerifyingKey::from_bytes(raw[1..33].try_into().unwrap()).unwrap();
        let sig = Signature::from_slice(&decode_part(parts[2])).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        vk.verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn server_config_preloads_every_account() {
        let mut setup = OperatorSetup::new();
        let a = setup.add_account("A", true);
        let c = setup.server_config();
        assert!(c.contains("resolver: MEMORY"), "{c}");
        assert!(c.contains(&a.public_key()), "{c}");
        assert!(c.contains(&setup.system_account().public_key()), "{c}");
        assert!(c.contains(setup.operator_jwt()), "{c}");
    }

    #[test]
    fn creds_file_holds_jwt_and_seed() {
        let mut setup = OperatorSetup::new();
        let a = setup.add_account("A", false);
        let user = setup.user(&a, "u");
        let creds = user.creds();
        assert!(creds.contains(&format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------",
            user.jwt()
        )));
        assert!(creds.contains(&format!(
            "-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------",
            user.key().seed()
        )));
    }
}
