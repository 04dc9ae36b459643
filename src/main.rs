//! `switchboard`: the gateway's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use switchboard::telemetry::{self, LogFormat};
use switchboard::{App, Config, cli};
use switchboard_core::{SystemClock, TicketStatus};

// The ingest path allocates many small, short-lived values; glibc's allocator took a
// fifth of the gateway's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Omnichannel support gateway: every channel into one ticket inbox, replies back out threaded."
)]
struct Args {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_CONFIG",
        default_value = "config/switchboard.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the gateway until SIGINT or SIGTERM.
    Serve {
        /// How log lines look.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// Checks the config file without starting anything.
    CheckConfig,
    /// Looks at tickets in the store.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Shows replies waiting to be sent and the latest failures.
    Outbox,
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// Lists tickets, most recently active first.
    List {
        #[arg(long)]
        status: Option<TicketStatus>,
        #[arg(long)]
        channel: Option<String>,
        /// Text in the reference, subject or messages.
        #[arg(long)]
        q: Option<String>,
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Shows one ticket and its messages, by reference or id.
    Show { ticket: String },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig = args.command {
        if let Some(warning) = config.development_secrets_warning() {
            eprintln!("warning: {warning}");
        }
        print!(
            "{} is valid\n{}",
            args.config.display(),
            cli::describe(&config)
        );
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = runtime.block_on(async move {
        match args.command {
            Command::Serve { log_format } => serve(config, args.config.clone(), log_format)
                .await
                .map(|()| String::new()),
            Command::Tickets {
                command:
                    TicketsCommand::List {
                        status,
                        channel,
                        q,
                        limit,
                    },
            } => cli::list_tickets(&config, status, channel, q, limit).await,
            Command::Tickets {
                command: TicketsCommand::Show { ticket },
            } => cli::show_ticket(&config, ticket).await,
            Command::Outbox => cli::outbox_status(&config).await,
            Command::CheckConfig => unreachable!("handled above"),
        }
    });
    match result {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, path: PathBuf, log_format: LogFormat) -> anyhow::Result<()> {
    telemetry::init_logging(log_format);
    if let Some(warning) = config.development_secrets_warning() {
        tracing::warn!("{warning}");
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let app = App::build(config, Arc::new(SystemClock)).await?;
    let (trigger, shutdown) = switchboard_core::shutdown::channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        trigger.fire();
    });
    tokio::spawn(reload_on_hangup(app.reloader(), path));
    app.run(listener, shutdown).await
}

/// SIGHUP reads the config file again; a file with problems changes nothing.
async fn reload_on_hangup(reloader: switchboard::app::Reloader, path: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: config reloads need a restart");
        return;
    };
    while hangup.recv().await.is_some() {
        match Config::load(&path) {
            Err(error) => tracing::error!("config reload refused, nothing changed: {error}"),
            Ok(config) => match reloader.reload(&config).await {
                Ok(changes) => {
                    tracing::info!(?changes, "config reloaded: agents, roles, teams and tokens")
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "config reload failed")
                }
            },
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
