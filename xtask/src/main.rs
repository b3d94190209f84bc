//! Project tasks: `cargo xtask test`, `cargo xtask wheel`, `cargo xtask gen-schemas`, `cargo xtask bench`.

use clap::{Parser, Subcommand};

mod bench;
mod test;
mod wheel;

use xtask::gen_schemas;

#[derive(Parser)]
#[command(name = "xtask", about = "msgraph-sync project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the tests need (DuckDB, moto, Azurite, Meltano) into .tools/, build the wheel
    /// the Meltano test installs, and run the whole suite.
    Test {
        /// Extra arguments passed to `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Only install the test tools into .tools/, build the wheel, and print the environment the
    /// tests use.
    Tools,
    /// Build the Python wheel (msgraph-sync, tap-msgraph, target-parquet-arrow; release) into dist/.
    Wheel,
    /// Regenerate schemas/*.json from catalog/*.toml and the CSDL graph-csdl ships.
    GenSchemas(gen_schemas::Args),
    /// Side-by-side benchmarks (sink, Singer target, extraction, memory) -> BENCHMARKS.md + bench/*.json.
    Bench(bench::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test { args } => test::run(&args),
        Task::Tools => test::install_and_print(),
        Task::Wheel => wheel::build().map(|wheel| println!("{}", wheel.display())),
        Task::GenSchemas(args) => gen_schemas::run(args),
        Task::Bench(args) => bench::run(args),
    }
}
