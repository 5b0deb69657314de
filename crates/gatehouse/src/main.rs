//! `gatehouse`: runs the services (`up` for the demo on the embedded store, `serve` for a
//! configured deployment) and drives the admin REST API from the command line.
#![forbid(unsafe_code)]

mod cli;
mod cli_cloudsso;
mod cli_output;
mod cli_sync;
mod client;
mod demo_cloud;
mod demo_sp;
mod serve;
mod up;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.log_json);
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
