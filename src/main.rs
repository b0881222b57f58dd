//! The `threadgate` binary: parse the configuration, set up logging, run until a signal.

use clap::Parser;
use threadgate::app::App;
use threadgate::config::{Cli, Command};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_from_env("THREADGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format.as_str() {
        "json" => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        _ => logs.init(),
    }
    match cli.command {
        Command::Extract(args) => extract(args),
        Command::Domain { action } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            threadgate::domain_cli::run(action).await
        }
        Command::Export { what } => threadgate::export_cli::run(what).await,
        Command::Person { action } => threadgate::export_cli::person(action).await,
        Command::Backup { output, serve } => threadgate::export_cli::backup(output, serve).await,
        Command::Blobs { action } => threadgate::export_cli::blobs(action).await,
        Command::Restore { file, data_dir } => {
            threadgate::export_cli::restore(&file, &data_dir).await
        }
        Command::Serve(args) => {
            let config = match args.into_config() {
                Ok(config) => config,
                Err(err) => {
                    eprintln!("threadgate: {err}");
                    return std::process::ExitCode::from(2);
                }
            };
            match serve(config).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("threadgate: {err:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: threadgate::config::Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let stop = shutdown_signal();
    let c = app.config();
    println!("threadgate is running");
    println!("  SMTP ({:?})   {}", c.smtp.protocol, app.smtp_addr());
    println!(
        "  web view      http://{}/  (admin: /admin)",
        app.http_addr()
    );
    println!("  HTTP API      http://{}/api/v1", app.http_addr());
    println!(
        "  database      {} ({})",
        threadgate::config::redact_url(&c.database_url),
        app.store().backend_name()
    );
    println!("  reply domain  {}", c.reply_domain);
    println!(
        "  outbound      {:?}{}",
        c.outbound,
        match c.outbound {
            threadgate::config::Outbound::File =>
                format!(" -> {}", c.data_dir.join("outbox").display()),
            _ => String::new(),
        }
    );
    if app.generated_admin_token() {
        println!(
            "  admin token   {} (generated; stored in {})",
            app.admin_token(),
            c.data_dir.join("admin-token").display()
        );
    } else {
        println!(
            "  admin token   (configured; see --admin-token or {})",
            c.data_dir.join("admin-token").display()
        );
    }
    app.run_until_stopped(stop).await
}

/// SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a supervisor that sends SIGTERM as soon as we say we are running
/// must get a clean shutdown, not the default action (death by signal).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                _ = next_signal(term) => {}
                _ = next_signal(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits for the next delivery of a signal; forever when its handler could not be installed.
#[cfg(unix)]
async fn next_signal(stream: Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn extract(args: threadgate::config::ExtractArgs) -> std::process::ExitCode {
    let read = |path: &std::path::Path| -> std::io::Result<Vec<u8>> {
        if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            Ok(buf)
        } else {
            std::fs::read(path)
        }
    };
    let raw = match read(&args.file) {
        Ok(raw) => raw,
        Err(err) => {
            eprintln!("threadgate: cannot read {}: {err}", args.file.display());
            return std::process::ExitCode::from(2);
        }
    };
    let sent = match args
        .sent
        .as_deref()
        .map(std::fs::read_to_string)
        .transpose()
    {
        Ok(sent) => sent,
        Err(err) => {
            eprintln!("threadgate: cannot read --sent: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let own = match threadgate::domain::EmailAddress::parse(&args.from_address) {
        Ok(own) => own,
        Err(err) => {
            eprintln!("threadgate: invalid --from-address: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let envelope = args
        .envelope_from
        .as_deref()
        .map(|e| if e == "<>" { "" } else { e });
    print!(
        "{}",
        threadgate::extract_cli::report(
            &raw,
            &args.reply_domain.to_ascii_lowercase(),
            &own,
            envelope,
            sent.as_deref()
        )
    );
    std::process::ExitCode::SUCCESS
}
