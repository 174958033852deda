//! Message signing: an ECDSA P-256 key pair made at start-up. Agents get the public key in
//! `agent.protection.signing_key` and check the `signed` section of every policy (its id,
//! agent features and protection, and inputs), as Kibana's message signing service does.
//! `POST /message_signing_service/rotate_key_pair?acknowledge=true` replaces the pair and gives
//! every policy a new revision, signed with the new key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use store::{Kind, Mode, Tx};

use crate::error::{FleetError, Result};
use crate::Fleet;

const KEY_ID: &str = "fleet-message-signing-key";
/// SubjectPublicKeyInfo header of an uncompressed P-256 point (what Node's `createPublicKey`
/// exports as DER): the public key agents get is this plus the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A loaded key pair.
#[derive(Debug, Clone)]
pub struct SigningKey {
    pkcs8: Vec<u8>,
    /// Base64 DER SubjectPublicKeyInfo.
    pub public_key: String,
}

impl SigningKey {
    /// `{data: base64(JSON), signature: base64(DER ECDSA-SHA256)}` of `message`.
    pub fn sign(&self, message: &Value) -> Value {
        let data = serde_json::to_vec(message).expect("JSON values serialize");
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &self.pkcs8,
            &SystemRandom::new(),
        )
        .expect("the stored key is a P-256 PKCS#8 key");
        let signature = pair
            .sign(&SystemRandom::new(), &data)
            .expect("signing with a valid key succeeds");
        json!({ "data": B64.encode(&data), "signature": B64.encode(signature.as_ref()) })
    }
}

fn generate() -> Result<Value> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| FleetError::Internal("cannot generate a signing key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| FleetError::Internal("cannot read the signing key".into()))?;
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok(json!({
        "private_key": B64.encode(pkcs8.as_ref()),
        "public_key": B64.encode(&spki),
        "created_at": crate::time::now(),
    }))
}

/// The current key pair, if any.
pub(crate) async fn load(tx: &mut dyn Tx) -> Result<Option<SigningKey>> {
    let Some(doc) = tx.get(Kind::MessageSigningKey, KEY_ID).await? else {
        return Ok(None);
    };
    let pkcs8 = B64
        .decode(doc.body["private_key"].as_str().unwrap_or_default())
        .map_err(|e| FleetError::Internal(format!("stored signing key: {e}")))?;
    Ok(Some(SigningKey {
        pkcs8,
        public_key: doc.body["public_key"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }))
}

impl Fleet {
    /// Makes the key pair when there is none.
    pub async fn ensure_signing_key(&self) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::MessageSigningKey).await?;
        if tx.get(Kind::MessageSigningKey, KEY_ID).await?.is_none() {
            tx.insert(Kind::MessageSigningKey, KEY_ID, &generate()?)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `POST /message_signing_service/rotate_key_pair`.
    pub async fn rotate_key_pair(&self, acknowledge: bool) -> Result<Value> {
        if !acknowledge {
            return Err(FleetError::BadRequest(
                "You must acknowledge the risks of rotating the key pair with acknowledge=true in the request parameters. For more information, see the Fleet documentation on rotating the key pair.".into(),
            ));
        }
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::MessageSigningKey).await?;
        let fresh = generate()?;
        match tx.get(Kind::MessageSigningKey, KEY_ID).await? {
            Some(old) => {
                tx.update(Kind::MessageSigningKey, KEY_ID, Some(old.version), &fresh)
                    .await?;
            }
            None => {
                tx.insert(Kind::MessageSigningKey, KEY_ID, &fresh).await?;
            }
        }
        let bumped = self.bump_policies(tx.as_mut(), &store::Filter::All).await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "message": "Key pair rotated successfully." }))
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

    use super::*;

    #[test]
    fn signatures_verify_with_the_published_key() {
        let doc = generate().unwrap();
        let key = SigningKey {
            pkcs8: B64.decode(doc["private_key"].as_str().unwrap()).unwrap(),
            public_key: doc["public_key"].as_str().unwrap().to_string(),
        };
        let signed = key.sign(&json!({"id": "p"}));
        let spki = B64.decode(&key.public_key).unwrap();
        assert_eq!(spki.len(), 91);
        let point = &spki[P256_SPKI_PREFIX.len()..];
        let data = B64.decode(signed["data"].as_str().unwrap()).unwrap();
        let sig = B64.decode(signed["signature"].as_str().unwrap()).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(&data, &sig)
            .expect("valid signature");
        assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(b"other", &sig)
            .is_err());
    }
}
