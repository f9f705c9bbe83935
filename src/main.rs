//! `vitrine`: every role of the system in one binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use vitrine::{app, client, observability, Application, Config, Role};

// The server allocates and frees many small buffers per request (rows, JSON, candidates);
// glibc's allocator spent a fifth of the feed's CPU time there under load, mimalloc far less.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Creator video commerce: upload, transcode, shop, feed"
)]
struct Cli {
    /// TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "VITRINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the system: API and worker in one process, or one role.
    Serve {
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Operators of the platform.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Upload a video file (resumable: run it again to resume) and follow it until it is ready.
    Upload {
        file: PathBuf,
        #[arg(long)]
        title: Option<String>,
        /// A creator's token (from `vitrine account create --role creator`).
        #[arg(long, env = "VITRINE_TOKEN", hide_env_values = true)]
        token: String,
        /// The server's base URL (default: the configured public URL).
        #[arg(long)]
        server: Option<String>,
        /// Return once uploaded, without following the transcode.
        #[arg(long)]
        no_wait: bool,
        /// Bytes per request (a failed request costs at most this much again).
        #[arg(long, default_value_t = client::DEFAULT_CHUNK, hide = true)]
        chunk_size: u64,
        /// Where unfinished uploads are remembered, to resume them (default:
        /// ~/.local/state/vitrine/uploads.json).
        #[arg(long, env = "VITRINE_UPLOAD_STATE")]
        state_file: Option<PathBuf>,
    },
    /// Fill the database with a reproducible synthetic platform (for benchmarks).
    Seed(vitrine::seed::SeedArgs),
    /// Measure the feed ranker on a real interaction log (see the README's Feed quality).
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Drive a mixed workload through a running cluster while faults are injected, then check
    /// that nothing was lost or done twice (`scripts/chaos.sh` starts the cluster and runs it).
    Chaos(vitrine::chaos::ChaosArgs),
    /// Benchmarks (see the README's Performance section).
    Bench {
        #[command(subcommand)]
        command: vitrine::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Replay KuaiRand (train on the first 80 % by time, rank the rest): GAUC, NDCG@10 and
    /// coverage for random, popularity and Vitrine's ranker.
    Kuairand {
        /// Directory holding interactions.tsv.
        #[arg(long, default_value = "../shared/data/kuairand")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an operator (role admin) who signs in with this email. Prints a one-time link
    /// (valid 24 hours) to set the password, or reads the password from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Operator")]
        name: String,
        /// Read the password (one line) from standard input instead of printing a link.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account for a script or a benchmark; prints one line of JSON with its id and a
    /// session token (a creator also gets a handle, a merchant a shop of that name, an admin
    /// the operator role).
    Create {
        #[arg(long, value_parser = ["creator", "merchant", "viewer", "admin"])]
        role: String,
        #[arg(long)]
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    observability::init_tracing();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { role } => {
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            let app = Application::build(&config, role).await?;
            app.run(shutdown).await
        }
        Command::Migrate => {
            app::connect(&config).await?;
            eprintln!(
                "database is up to date: {}",
                vitrine_core::db::redact(config.database_url().expose_secret())
            );
            Ok(())
        }
        Command::Account {
            command: AccountCommand::Create { role, name },
        } => {
            let (db, _) = app::connect(&config).await?;
            let account = vitrine_identity::script::create(
                &db,
                &config.auth.session_policy(),
                role.parse()?,
                &name,
            )
            .await?;
            println!("{}", serde_json::to_string(&account)?);
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    name,
                    password_stdin,
                },
        } => {
            let (db, _) = app::connect(&config).await?;
            let email_shown = email.trim().to_lowercase();
            let password = if password_stdin {
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .context("reading the password from standard input")?;
                Some(secrecy::SecretString::from(
                    password.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            } else {
                None
            };
            let (id, link) =
                vitrine_identity::auth::create_operator(&db, &email, &name, password.as_ref())
                    .await?;
            let mut made = serde_json::json!({"id": id, "email": email_shown, "role": "admin"});
            if let Some(token) = link {
                let public = config.public_url_for(config.bind_addr()?);
                made["password_link"] = format!("{public}/reset-password?token={token}").into();
            }
            println!("{made}");
            Ok(())
        }
        Command::Upload {
            file,
            title,
            token,
            server,
            no_wait,
            chunk_size,
            state_file,
        } => {
            let server = match server {
                Some(s) => s,
                None => config.public_url_for(config.bind_addr()?),
            };
            let video = client::upload(client::UploadArgs {
                server: &server,
                token: &token,
                file: &file,
                title: title.as_deref(),
                wait: !no_wait,
                chunk: chunk_size,
                state_file: state_file.unwrap_or_else(client::default_state_file),
            })
            .await?;
            println!("{}", serde_json::to_string(&video)?);
            let status = video["status"].as_str().unwrap_or_default();
            if status == "failed" {
                anyhow::bail!(
                    "video {} failed: {}",
                    video["id"].as_str().unwrap_or_default(),
                    video["error"].as_str().unwrap_or("no reason given")
                );
            }
            Ok(())
        }
        Command::Seed(args) => {
            let app = Application::build(&config, Role::Api).await?;
            let platform = vitrine::seed::platform(&app, &args).await?;
            app.state().db.close().await;
            drop(app);
            let app = Application::build(&config, Role::Api).await?;
            let report = vitrine::seed::events(&app, &args, platform).await?;
            println!(
                "seeded {} clips, {} viewers; {} events ingested in {:.1} s ({:.0} events/s)",
                args.videos,
                args.viewers,
                report.events_accepted,
                report.ingest_seconds,
                report.events_accepted as f64 / report.ingest_seconds
            );
            Ok(())
        }
        Command::Eval {
            command: EvalCommand::Kuairand { data },
        } => {
            let report = vitrine::eval::kuairand(&data, &config.feed).await?;
            vitrine::eval::print(&report);
            Ok(())
        }
        Command::Chaos(args) => vitrine::chaos::run(args).await,
        Command::Bench { command } => {
            tokio::task::spawn_blocking(move || vitrine::bench::run(command)).await?
        }
    }
}

/// SIGTERM or Ctrl-C start a graceful shutdown.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.context("ctrl-c handler").ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: finishing in-flight work");
    shutdown.cancel();
}

/// glibc gives every thread that allocates its own arena; GStreamer's many streaming threads then
/// keep hundreds of MB of freed memory per process after a few transcodes (measured: ~900 MB
/// plateau vs ~400 MB with two arenas). Two arenas cost nothing measurable in throughput.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
