//! `cargo xtask test` (being written).
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
pub fn install_and_print() -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
