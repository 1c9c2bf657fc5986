//! JWT authentication: verifying bearer tokens (HS256 secret, or an RS256 /
//! ES256 public key), minting tokens for the CLI, and resolving the caller
//! (role, company, teams) that permission checks use. Both front doors
//! resolve callers here, so a token, a logout or a disabled user means the
//! same on HTTP, `/ws` and Socket.IO. Tokens are never logged.

use std::fmt;
use std::str::FromStr;

use bomizzel_domain::Viewer;
use bomizzel_store::Metadata;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Shared;
use crate::error::{IdentityError, IdentityResult};

/// What a user may do; the token's `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Agent,
    Admin,
    Analyst,
    /// Reads everything, the audit trail included; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Customer,
        Role::Agent,
        Role::Admin,
        Role::Analyst,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Auditor => "auditor",
        }
    }

    /// Staff see internal comments and internal-only fields.
    pub fn is_staff(self) -> bool {
        self != Self::Customer
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| {
                format!("invalid role {value:?}: expected customer, agent, admin or analyst")
            })
    }
}

/// The claims Bomizzel reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Required for customers: the company whose tickets they see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// How tokens are checked (and, with a shared secret, minted).
#[derive(Clone)]
pub struct TokenKeys {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// Optional `iss` and `aud` every token must carry.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl TokenKeys {
    /// HS256 with a shared secret: verifies and mints.
    pub fn shared_secret(secret: &[u8], expected: &Expected) -> Self {
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation: validation(Algorithm::HS256, expected),
        }
    }

    /// RS256 or ES256 with a PEM public key: verifies only.
    pub fn public_key(pem: &[u8], expected: &Expected) -> Result<Self, String> {
        let (decoding, algorithm) = match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => (
                DecodingKey::from_ec_pem(pem)
                    .map_err(|e| format!("not an RSA or EC public key in PEM form: {e}"))?,
                Algorithm::ES256,
            ),
        };
        Ok(Self {
            decoding,
            encoding: None,
            validation: validation(algorithm, expected),
        })
    }

    /// A signed token for `claims`; only with a shared secret.
    pub fn mint(&self, claims: &Claims) -> Result<String, String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or("tokens can only be minted with a shared secret (HS256)")?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).map_err(|e| e.to_string())
    }

    /// Checks signature, expiry, not-before, issuer and audience.
    pub fn verify(&self, token: &str) -> IdentityResult<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => {
                    IdentityError::unauthorized("token_expired", "the token has expired")
                }
                ErrorKind::ImmatureSignature => IdentityError::unauthorized(
                    "token_not_yet_valid",
                    "the token is not valid yet (nbf)",
                ),
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                    IdentityError::unauthorized(
                        "invalid_token",
                        "the token's issuer or audience is not accepted",
                    )
                }
                ErrorKind::InvalidSignature => {
                    IdentityError::unauthorized("invalid_token", "the token's signature is invalid")
                }
                _ => IdentityError::unauthorized(
                    "invalid_token",
                    format!("the token is malformed: {error}"),
                ),
            })?
            .claims;
        if claims.role == Role::Customer && claims.company.is_none() {
            return Err(IdentityError::unauthorized(
                "invalid_token",
                "a customer token needs a company claim",
            ));
        }
        Ok(claims)
    }
}

fn validation(algorithm: Algorithm, expected: &Expected) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = 5;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    if let Some(issuer) = &expected.issuer {
        validation.set_issuer(&[issuer]);
    }
    match &expected.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation
}

/// The authenticated user of a request or a live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
    pub company_id: Option<String>,
    /// The teams the user belongs to, from the directory.
    pub team_ids: Vec<String>,
}

impl Caller {
    /// Metadata naming this caller as the one acting, now.
    pub fn as_actor(&self) -> Metadata {
        Metadata::new(self.user_id.clone(), self.role.as_str())
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// The caller as the visibility policy sees them.
    pub fn viewer(&self) -> Viewer<'_> {
        match self.role {
            Role::Admin | Role::Analyst => Viewer::Desk {
                user_id: &self.user_id,
            },
            Role::Auditor => Viewer::Auditor {
                user_id: &self.user_id,
            },
            Role::Agent => Viewer::Agent {
                user_id: &self.user_id,
                team_ids: &self.team_ids,
            },
            Role::Customer => Viewer::Customer {
                user_id: &self.user_id,
                company_id: self.company_id.as_deref(),
            },
        }
    }
}

/// Verifies `token` and resolves its caller: refused when an admin
/// disabled the user, or when the user's sessions ended (logout, admin)
/// after it was issued.
pub async fn authenticate(shared: &Shared, token: &str) -> IdentityResult<Caller> {
    let claims = shared.keys.verify(token)?;
    let read = shared.directory.caller_facts(&claims.sub);
    let read =
        (shared.store.health().unless_down(read).await).unwrap_or(Err(IdentityError::Unreachable));
    let directory = shared.last_known.remember_or_recall(&claims.sub, read)?;
    if directory.disabled {
        return Err(IdentityError::unauthorized(
            "user_disabled",
            "the user is disabled; an admin can enable them again",
        ));
    }
    if let Some(not_before) = directory.not_before_unix {
        let issued_at = claims.iat.unwrap_or(i64::MIN);
        if issued_at < not_before {
            return Err(IdentityError::unauthorized(
                "token_revoked",
                "the token was issued before the user's sessions ended",
            ));
        }
    }
    Ok(Caller {
        user_id: claims.sub,
        role: claims.role,
        company_id: claims.company,
        team_ids: directory.team_ids,
    })
}

/// Claims for a new token of `sub` valid for `ttl`.
pub fn claims_for(sub: &str, role: Role, company: Option<String>, ttl: time::Duration) -> Claims {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    Claims {
        sub: sub.to_owned(),
        role,
        company,
        exp: now + ttl.whole_seconds(),
        iat: Some(now),
        nbf: None,
        iss: None,
        aud: None,
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::shared_secret(secret, &Expected::default())
    }

    /// The code `verify` refuses `claims` with, minted by `minter`.
    fn refusal(minter: &TokenKeys, claims: &Claims) -> &'static str {
        let token = minter.mint(claims).expect("mints");
        match keys(b"the-verifying-secret").verify(&token) {
            Err(IdentityError::Unauthorized { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tokens_are_refused_with_a_stable_code() {
        let ours = keys(b"the-verifying-secret");
        let agent = claims_for("u-1", Role::Agent, None, Duration::hours(1));
        assert_eq!(ours.verify(&ours.mint(&agent).unwrap()).unwrap().sub, "u-1");

        let expired = claims_for("u-1", Role::Agent, None, Duration::hours(-1));
        assert_eq!(refusal(&ours, &expired), "token_expired");
        let customer = claims_for("c-1", Role::Customer, None, Duration::hours(1));
        assert_eq!(refusal(&ours, &customer), "invalid_token");
        assert_eq!(
            refusal(&keys(b"someone-elses-secret"), &agent),
            "invalid_token"
        );
    }
}
