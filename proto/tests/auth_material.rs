//! Auth material through the public API only: minting keys, writing and reading a creds
//! file, answering a nonce challenge and checking the answer as a server would.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use natsy_proto::creds::{self, Credentials};
use natsy_proto::nkey::{decode_public_key, verify};
use natsy_proto::nuid::DEFAULT_INBOX_PREFIX;
use natsy_proto::{new_inbox, CredsError, KeyPair, KeyType, NkeyError, Nuid};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A JWT-shaped token `header.claims.signature`, signed by `issuer` over `header.claims`
/// the way NATS JWTs are (the claims name the user's public key as `sub`).
fn user_jwt(issuer: &KeyPair, user: &KeyPair) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"{}","sub":"{}","nats":{{"type":"user"}}}}"#,
        issuer.public_key(),
        user.public_key()
    ));
    let signing_input = format!("{header}.{claims}");
    let sig = URL_SAFE_NO_PAD.encode(issuer.sign(signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

#[test]
fn creds_written_for_minted_keys_answer_a_nonce_challenge() {
    let mut rng = StdRng::seed_from_u64(2024);
    let operator = KeyPair::generate(KeyType::Operator, &mut rng);
    let account = KeyPair::generate(KeyType::Account, &mut rng);
    let user = KeyPair::generate(KeyType::User, &mut rng);
    assert!(operator.public_key().starts_with('O'));
    assert!(account.public_key().starts_with('A'));
    assert!(user.public_key().starts_with('U'));

    let jwt = user_jwt(&account, &user);
    let text = creds::format(&jwt, user.seed().expose());
    let parsed = Credentials::parse(&text).unwrap();
    assert_eq!(parsed.jwt, jwt);
    let from_file = parsed.key_pair().unwrap();
    assert_eq!(from_file.public_key(), user.public_key());

    // The server sends a nonce; the client signs its ASCII bytes and sends base64url.
    let nonce = "lOG4DPyO1Dr3JXA";
    let sig_text = from_file.sign_nonce(nonce);
    assert_eq!(sig_text.len(), 86);
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&sig_text)
        .unwrap()
        .try_into()
        .unwrap();
    assert!(verify(&user.public_key(), nonce.as_bytes(), &sig).unwrap());
    assert!(!verify(&account.public_key(), nonce.as_bytes(), &sig).unwrap());

    // The JWT's signature checks out against the account that issued it.
    let (signing_input, jwt_sig) = jwt.rsplit_once('.').unwrap();
    let jwt_sig: [u8; 64] = URL_SAFE_NO_PAD.decode(jwt_sig).unwrap().try_into().unwrap();
    assert!(verify(&account.public_key(), signing_input.as_bytes(), &jwt_sig).unwrap());
    assert_eq!(
        decode_public_key(&account.public_key()).unwrap(),
        (KeyType::Account, account.public_key_bytes())
    );
}

#[test]
fn a_creds_file_with_an_account_seed_is_refused() {
    let mut rng = StdRng::seed_from_u64(7);
    let account = KeyPair::generate(KeyType::Account, &mut rng);
    let user = KeyPair::generate(KeyType::User, &mut rng);
    let text = creds::format(&user_jwt(&account, &user), account.seed().expose());
    let err = Credentials::from_bytes(text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        CredsError::InvalidSeed(NkeyError::WrongKeyType {
            expected: KeyType::User,
            found: KeyType::Account,
        })
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn seeded_inboxes_replay() {
    let inboxes = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nuid = Nuid::new(&mut rng);
        (0..3)
            .map(|_| new_inbox(DEFAULT_INBOX_PREFIX, &mut nuid, &mut rng))
            .collect::<Vec<_>>()
    };
    let a = inboxes(11);
    assert_eq!(a, inboxes(11));
    assert!(a
        .iter()
        .all(|i| i.starts_with("_INBOX.") && i.len() == 7 + 22));
    assert_eq!(a.iter().collect::<std::collections::HashSet<_>>().len(), 3);
}
