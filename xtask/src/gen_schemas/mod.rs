//! `cargo xtask gen-schemas` (being written).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("gen-schemas is not written yet")
}
