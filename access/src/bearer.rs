//! `Authorization: Bearer <JWT>` for scripts: a token the company IdP issued (an ID token, or
//! a JWT access token with jitgate as its audience) stands in for a browser session.
//!
//! The checks are the ones RFC 8725 asks for: the algorithm is pinned by configuration (never
//! taken from the token alone, so `none` and HS256-with-the-public-key are refused), the key
//! comes from the IdP's JWKS by `kid`, and issuer, audience and expiry are all required.
//! Expiry is judged by the injected clock with a small leeway for clock skew between hosts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::IdentityConfig;
use crate::idp::{IdpClient, IdpError, claim};
use crate::ids::{GroupName, UserId};
use crate::policy::Identity;
use crate::time::Timestamp;

/// Clock skew tolerated between the IdP and jitgate on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BearerError {
    #[error("bearer tokens are accepted only with an OIDC identity provider")]
    NotAccepted,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// A personal API token (`jgt_…`) that is malformed, unknown, revoked, expired or has the
    /// wrong secret: alike to the client, so a probe learns nothing about which.
    #[error("the API token is not valid (unknown, revoked or expired)")]
    ApiTokenRejected,
    #[error("the token is signed with {0}, which is not an accepted algorithm")]
    Algorithm(String),
    #[error("the token names a signing key the identity provider does not have")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was not issued by the configured identity provider")]
    WrongIssuer,
    #[error("the token is not meant for jitgate (audience)")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token carries no email claim, which jitgate identifies users by")]
    NoEmail,
    #[error("the token's email address is not verified by the identity provider")]
    EmailUnverified,
    #[error("the token's {claim} claim is not usable: {problem}")]
    BadClaim { claim: String, problem: String },
    /// Not the token's fault: its keys could not be fetched. Fails closed, as unavailable.
    #[error(transparent)]
    Idp(#[from] IdpError),
}

impl BearerError {
    /// Whether the token might be fine and only jitgate could not check it.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BearerError::Idp(_))
    }
}

/// A verified token: who it names and until when it may be used.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    pub expires_at: Timestamp,
}

pub struct BearerVerifier {
    idp: Arc<IdpClient>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    groups_claim: String,
}

impl BearerVerifier {
    /// `algorithms` must not be empty; configuration validation keeps HMAC and `none` out.
    pub fn new(
        idp: Arc<IdpClient>,
        audiences: Vec<String>,
        algorithms: Vec<Algorithm>,
        groups_claim: String,
    ) -> Self {
        Self { idp, audiences, algorithms, groups_claim }
    }

    /// The verifier `identity` calls for, sharing `idp` (the process's one IdP client) when
    /// given: scripts may present IdP-issued tokens only when there is an IdP.
    pub fn for_identity(identity: &IdentityConfig, idp: Option<Arc<IdpClient>>) -> Option<Self> {
        match identity {
            IdentityConfig::Oidc { issuer, groups_claim, bearer, .. } => Some(Self::new(
                idp.unwrap_or_else(|| Arc::new(IdpClient::new(issuer))),
                bearer.audiences.clone(),
                bearer.algorithms.clone(),
                groups_claim.clone(),
            )),
            IdentityConfig::Local { .. } => None,
        }
    }

    /// The IdP client, for the rest of the process (other verifiers, the sign-in) to share.
    pub fn idp(&self) -> &Arc<IdpClient> {
        &self.idp
    }

    pub async fn verify(&self, token: &str, now: Timestamp) -> Result<Verified, BearerError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| BearerError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(BearerError::Algorithm(format!("{:?}", header.alg)));
        }
        let jwk = self.idp.key(header.kid.as_deref()).await?.ok_or(BearerError::UnknownKey)?;
        if jwk
            .common
            .key_algorithm
            .is_some_and(|alg| alg.to_string() != format!("{:?}", header.alg))
        {
            return Err(BearerError::Algorithm(format!(
                "{:?} (the key is for another)",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| BearerError::UnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims =
            HashSet::from(["exp".to_owned(), "iss".to_owned(), "aud".to_owned()]);
        validation.set_issuer(&[self.idp.issuer()]);
        validation.set_audience(&self.audiences);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => BearerError::BadSignature,
                ErrorKind::InvalidIssuer => BearerError::WrongIssuer,
                ErrorKind::InvalidAudience => BearerError::WrongAudience,
                ErrorKind::InvalidAlgorithm => BearerError::Algorithm(format!("{:?}", header.alg)),
                _ => BearerError::Malformed,
            })?
            .claims;
        let expires_at = check_times(&claims, now)?;
        Ok(Verified { identity: self.identity(&claims)?, expires_at })
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, BearerError> {
        let email = claims.get("email").and_then(Value::as_str).ok_or(BearerError::NoEmail)?;
        if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
            return Err(BearerError::EmailUnverified);
        }
        let user = UserId::parse(email).map_err(|error| BearerError::BadClaim {
            claim: "email".into(),
            problem: error.to_string(),
        })?;
        let groups = match claim(claims, &self.groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .map(|group| group.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.bad_groups("holds something other than strings"))?,
            Some(_) => return Err(self.bad_groups("is neither a string nor a list")),
        };
        let groups = groups
            .iter()
            .map(|group| GroupName::parse(group))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| self.bad_groups(&error.to_string()))?;
        Ok(Identity::new(user, groups))
    }

    fn bad_groups(&self, problem: &str) -> BearerError {
        BearerError::BadClaim { claim: self.groups_claim.clone(), problem: problem.to_owned() }
    }
}

fn check_times(claims: &Map<String, Value>, now: Timestamp) -> Result<Timestamp, BearerError> {
    let seconds = |name: &str| -> Result<Option<Timestamp>, BearerError> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(|s| Some(Timestamp::from_millis((s * 1000.0) as i64)))
                .ok_or_else(|| BearerError::BadClaim {
                    claim: name.into(),
                    problem: "is not a number of seconds".into(),
                }),
        }
    };
    let expires_at = seconds("exp")?.ok_or(BearerError::Malformed)?;
    if now >= expires_at.plus(LEEWAY) {
        return Err(BearerError::Expired);
    }
    if let Some(not_before) = seconds("nbf")?
        && now.plus(LEEWAY) < not_before
    {
        return Err(BearerError::NotYetValid);
    }
    Ok(expires_at.plus(LEEWAY))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::assertion::Es256Key;
    use crate::keys::Purpose;

    const ISSUER: &str = "https://idp.example.com";
    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn idp_key() -> Es256Key {
        Es256Key::derive(b"the test IdP's key", Purpose::AssertionSigning)
    }

    fn verifier() -> BearerVerifier {
        let jwks: JwkSet = serde_json::from_value(json!({ "keys": [idp_key().jwk] })).unwrap();
        BearerVerifier::new(
            Arc::new(IdpClient::fixed(ISSUER, jwks)),
            vec!["jitgate".into()],
            vec![Algorithm::ES256],
            "groups".into(),
        )
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": "jitgate", "sub": "u-1",
            "email": "Ada@Example.com", "email_verified": true, "groups": ["ops", "dev"],
            "iat": NOW.as_millis() / 1000, "exp": NOW.as_millis() / 1000 + 300,
        })
    }

    fn with(changes: Value) -> String {
        let mut claims = claims();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        idp_key().sign(&claims)
    }

    async fn verify(token: &str, now: Timestamp) -> Result<Verified, BearerError> {
        verifier().verify(token, now).await
    }

    #[tokio::test]
    async fn a_token_from_the_idp_names_the_user_and_groups() {
        let verified = verify(&with(json!({})), NOW).await.unwrap();
        assert_eq!(verified.identity.user.as_str(), "ada@example.com");
        let groups: Vec<&str> = verified.identity.groups.iter().map(|g| g.as_str()).collect();
        assert_eq!(groups, ["dev", "ops"]);
        assert_eq!(verified.expires_at, NOW.plus(Duration::from_secs(300) + LEEWAY));
        let listed_audience = with(json!({ "aud": ["other", "jitgate"] }));
        assert!(verify(&listed_audience, NOW).await.is_ok());
    }

    #[tokio::test]
    async fn issuer_audience_and_expiry_are_enforced() {
        let cases = [
            (json!({ "iss": "https://evil.example.com" }), BearerError::WrongIssuer),
            (json!({ "aud": "another-app" }), BearerError::WrongAudience),
            (json!({ "aud": null }), BearerError::Malformed),
            (json!({ "exp": null }), BearerError::Malformed),
            (json!({ "email": null }), BearerError::NoEmail),
            (json!({ "email_verified": false }), BearerError::EmailUnverified),
        ];
        for (change, expected) in cases {
            assert_eq!(verify(&with(change.clone()), NOW).await.unwrap_err(), expected, "{change}");
        }
        let token = with(json!({}));
        let exp = NOW.plus(Duration::from_secs(300));
        assert!(
            verify(&token, Timestamp::from_millis(exp.plus(LEEWAY).as_millis() - 1)).await.is_ok()
        );
        assert_eq!(verify(&token, exp.plus(LEEWAY)).await.unwrap_err(), BearerError::Expired);
        let early = with(json!({ "nbf": NOW.as_millis() / 1000 + 120 }));
        assert_eq!(verify(&early, NOW).await.unwrap_err(), BearerError::NotYetValid);
    }

    #[tokio::test]
    async fn algorithms_are_pinned_and_signatures_checked() {
        // The classic confusion: HS256 keyed with something public.
        let hmac = jsonwebtoken::encode(
            &Header { kid: Some(idp_key().kid), ..Header::new(Algorithm::HS256) },
            &claims(),
            &EncodingKey::from_secret(idp_key().jwk.to_string().as_bytes()),
        )
        .unwrap();
        assert!(matches!(verify(&hmac, NOW).await, Err(BearerError::Algorithm(_))));
        let [header, payload, _] =
            with(json!({})).split('.').map(str::to_owned).collect::<Vec<_>>().try_into().unwrap();
        let unsigned = format!("{}.{payload}.", base64_url(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(verify(&unsigned, NOW).await.is_err());
        let other = Es256Key::derive(b"someone else's key", Purpose::AssertionSigning);
        let forged = other.sign(&claims());
        let forged_with_our_kid = format!("{header}.{}", forged.split_once('.').unwrap().1);
        assert_eq!(verify(&forged_with_our_kid, NOW).await.unwrap_err(), BearerError::BadSignature);
        assert_eq!(verify(&forged, NOW).await.unwrap_err(), BearerError::UnknownKey);
        let tampered = format!(
            "{header}.{}.{}",
            base64_url(&claims().to_string().replace("Ada", "Eve")),
            with(json!({})).rsplit('.').next().unwrap()
        );
        assert_eq!(verify(&tampered, NOW).await.unwrap_err(), BearerError::BadSignature);
        assert_eq!(verify("not a token", NOW).await.unwrap_err(), BearerError::Malformed);
    }

    #[tokio::test]
    async fn groups_come_from_the_configured_claim_flat_or_nested() {
        let mut verifier = verifier();
        verifier.groups_claim = "realm_access.roles".into();
        let nested = with(json!({ "realm_access": { "roles": ["admins"] } }));
        let verified = verifier.verify(&nested, NOW).await.unwrap();
        assert!(verified.identity.groups.contains(&"admins".parse().unwrap()));
        verifier.groups_claim = "https://example.com/groups".into();
        let namespaced = with(json!({ "https://example.com/groups": "solo" }));
        let verified = verifier.verify(&namespaced, NOW).await.unwrap();
        assert!(verified.identity.groups.contains(&"solo".parse().unwrap()));
        let junk = with(json!({ "https://example.com/groups": [1, 2] }));
        assert!(matches!(verifier.verify(&junk, NOW).await, Err(BearerError::BadClaim { .. })));
    }

    /// Authentik's issuers end in `/`; the token's `iss` must match it exactly as configured.
    #[tokio::test]
    async fn an_issuer_with_a_trailing_slash_is_kept_as_written() {
        let issuer = "https://idp.example.com/application/o/jitgate/";
        let jwks: JwkSet = serde_json::from_value(json!({ "keys": [idp_key().jwk] })).unwrap();
        let verifier = BearerVerifier::new(
            Arc::new(IdpClient::fixed(issuer, jwks)),
            vec!["jitgate".into()],
            vec![Algorithm::ES256],
            "groups".into(),
        );
        assert!(verifier.verify(&with(json!({ "iss": issuer })), NOW).await.is_ok());
        let trimmed = with(json!({ "iss": issuer.trim_end_matches('/') }));
        assert_eq!(verifier.verify(&trimmed, NOW).await.unwrap_err(), BearerError::WrongIssuer);
    }

    fn base64_url(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
