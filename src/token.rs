//! `bomizzel token`: mints a token with the configured secret, for scripts,
//! tests and first sign-in before any identity provider is wired up. Apart
//! from `serve` because it never opens the database or listens.

use anyhow::Context;
use bomizzel_identity::Role;
use bomizzel_identity::auth::claims_for;

use crate::cli::TokenArgs;
use crate::config::Config;

/// Prints a token for `args` signed with the configured secret.
pub fn print(config: &Config, args: TokenArgs) -> anyhow::Result<()> {
    if args.role == Role::Customer && args.company.is_none() {
        anyhow::bail!("a customer token needs --company");
    }
    let ttl = time::Duration::try_from(args.ttl).context("--ttl is too long")?;
    let claims = claims_for(&args.sub, args.role, args.company, ttl);
    let token = config.keys.mint(&claims).map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(())
}
