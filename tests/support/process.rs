//! A real `switchboard serve` process, for the tests that need signals, crashes or
//! the binary's own logging. Dropping it kills it, also when a test fails halfway,
//! so no gateway outlives its test.

use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

pub struct GatewayProcess {
    pub child: Child,
    pub url: String,
}

impl GatewayProcess {
    /// `switchboard serve --config <config>`, to be adjusted (environment, pipes)
    /// before [`GatewayProcess::start`].
    pub fn command(config: &std::path::Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.args(["serve", "--config"]).arg(config);
        command
    }

    /// Spawns the command and waits until the gateway at `address` is ready.
    pub async fn start(command: Command, address: &str) -> GatewayProcess {
        let gateway = GatewayProcess::spawn(command, address);
        gateway.ready().await;
        gateway
    }

    /// Spawns the command without waiting: take its pipes, then [`GatewayProcess::ready`].
    pub fn spawn(mut command: Command, address: &str) -> GatewayProcess {
        GatewayProcess {
            child: command.spawn().expect("the gateway binary starts"),
            url: format!("http://{address}"),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway did not become ready at {}", self.url);
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name}");
    }

    /// SIGKILL, as a crash would.
    pub fn kill(self) {
        drop(self);
    }

    /// A graceful stop: SIGTERM, then the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }
}

impl Drop for GatewayProcess {
    /// SIGKILL: no graceful shutdown, no flush (a no-op after [`GatewayProcess::stop`]).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
