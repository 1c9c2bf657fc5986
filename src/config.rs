//! Typed configuration resolved from the command line and environment.

use std::path::Path;

use anyhow::Context;
use bomizzel_identity::TokenKeys;
use bomizzel_identity::auth::Expected;

use crate::cli::{AuthArgs, Cli};

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub keys: TokenKeys,
}

/// File in the data directory holding the generated HS256 secret.
const SECRET_FILE: &str = "jwt_secret";

const DEFAULT_DATABASE_FILE: &str = "bomizzel.db";

impl Config {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cli.data_dir)
            .with_context(|| format!("cannot create data directory {}", cli.data_dir.display()))?;
        let database_url = match &cli.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                cli.data_dir.join(DEFAULT_DATABASE_FILE).display()
            ),
        };
        let keys = token_keys(&cli.auth, &cli.data_dir)?;
        Ok(Self { database_url, keys })
    }

    /// The database URL without its password, for logs.
    pub fn redacted_database_url(&self) -> String {
        redact_password(&self.database_url)
    }
}

fn token_keys(auth: &AuthArgs, data_dir: &Path) -> anyhow::Result<TokenKeys> {
    let expected = Expected {
        issuer: auth.jwt_issuer.clone(),
        audience: auth.jwt_audience.clone(),
    };
    if let Some(path) = &auth.jwt_public_key {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read JWT public key {}", path.display()))?;
        return TokenKeys::public_key(&pem, &expected)
            .map_err(|e| anyhow::anyhow!("JWT public key {}: {e}", path.display()));
    }
    let secret = match &auth.jwt_secret {
        Some(secret) if secret.len() >= 16 => secret.clone(),
        Some(_) => anyhow::bail!("BOMIZZEL_JWT_SECRET must be at least 16 characters"),
        None => stored_secret(data_dir)?,
    };
    Ok(TokenKeys::shared_secret(secret.as_bytes(), &expected))
}

/// The generated secret, created on first use with owner-only permissions.
fn stored_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SECRET_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    write_private(&path, &secret)
        .with_context(|| format!("cannot store the JWT secret in {}", path.display()))?;
    tracing::info!(file = %path.display(), "generated a JWT secret");
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_password("postgres://bob:secret@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(
            redact_password("postgres://bob@db/x"),
            "postgres://bob@db/x"
        );
        assert_eq!(redact_password("sqlite://data/b.db"), "sqlite://data/b.db");
    }
}
