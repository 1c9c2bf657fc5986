//! Typed configuration resolved from the command line and environment.

use anyhow::Context;

use crate::cli::Cli;

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
}

const DEFAULT_DATABASE_FILE: &str = "bomizzel.db";

impl Config {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let database_url = match &cli.database_url {
            Some(url) => url.clone(),
            None => {
                std::fs::create_dir_all(&cli.data_dir).with_context(|| {
                    format!("cannot create data directory {}", cli.data_dir.display())
                })?;
                format!(
                    "sqlite://{}",
                    cli.data_dir.join(DEFAULT_DATABASE_FILE).display()
                )
            }
        };
        Ok(Self { database_url })
    }

    /// The database URL without its password, for logs.
    pub fn redacted_database_url(&self) -> String {
        redact_password(&self.database_url)
    }
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
