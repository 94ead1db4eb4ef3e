//! One check-in: scan, enroll if the data directory holds no identity yet,
//! send the inventory (only its hash when the server acknowledged the same
//! one before), and remember what the server acknowledged.

use anyhow::Context;
use fixpoint_core::protocol::{CheckIn, CheckInResponse, EnrollRequest, InventoryPayload};

use crate::client::ServerClient;
use crate::scanner::{Scan, Scanner};
use crate::state::{AgentState, DataDir};

/// What the inventory part of a check-in carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Only the hash: the server had it.
    Hash,
    /// The full inventory.
    Full,
    /// The hash, then at once the full inventory the server asked for.
    HashThenFull,
}

impl Sent {
    fn describe(self) -> &'static str {
        match self {
            Sent::Hash => "sent the inventory hash only",
            Sent::Full => "sent the full inventory",
            Sent::HashThenFull => "sent the hash, the server asked, sent the full inventory",
        }
    }
}

/// How a check-in went.
#[derive(Debug)]
pub struct Outcome {
    pub agent_id: String,
    pub enrolled: bool,
    pub sent: Sent,
    pub packages: usize,
    pub response: CheckInResponse,
}

impl std::fmt::Display for Outcome {
    /// The summary line `fixpoint-agent check-in` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checked in as {}{}: {} ({} packages); {} instructions; next check-in at {}",
            self.agent_id,
            if self.enrolled { " (enrolled now)" } else { "" },
            self.sent.describe(),
            self.packages,
            self.response.instructions.items.len(),
            self.response.next_check_in,
        )
    }
}

/// Enrolls when needed and checks in once.
pub async fn check_in(
    data: &DataDir,
    scanner: &dyn Scanner,
    client: &ServerClient,
    enrollment_token: impl FnOnce() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<Outcome> {
    let scan = scanner
        .scan()
        .with_context(|| format!("scanning the machine ({} scanner)", scanner.name()))?;
    let (mut state, enrolled) = match data.load()? {
        Some(state) => (state, false),
        None => (enroll(data, &scan, client, enrollment_token).await?, true),
    };
    let hash = scan.inventory.hash().clone();
    let full = || InventoryPayload::Full {
        platform: scan.inventory.platform().clone(),
        packages: scan.inventory.packages().to_vec(),
    };
    let known = state.acknowledged_inventory.as_ref() == Some(&hash);
    let payload = if known {
        InventoryPayload::Unchanged { hash: hash.clone() }
    } else {
        full()
    };
    let mut sent = if known { Sent::Hash } else { Sent::Full };
    let send = |inventory| CheckIn {
        facts: scan.facts.clone(),
        inventory,
    };
    let mut response = client
        .check_in(&state.credential, &send(payload))
        .await
        .context("checking in")?;
    if response.inventory_needed && sent == Sent::Hash {
        tracing::info!(%hash, "the server does not know the inventory hash: sending it in full");
        response = client
            .check_in(&state.credential, &send(full()))
            .await
            .context("checking in with the full inventory")?;
        sent = Sent::HashThenFull;
    }
    if response.inventory_needed {
        anyhow::bail!(
            "{}: the server asked for the full inventory right after receiving it",
            client.base()
        );
    }
    if state.acknowledged_inventory.as_ref() != Some(&hash) {
        state.acknowledged_inventory = Some(hash);
        data.save(&state)?;
    }
    tracing::debug!(agent = %state.agent_id, sent = sent.describe(), "checked in");
    Ok(Outcome {
        agent_id: state.agent_id,
        enrolled,
        sent,
        packages: scan.inventory.len(),
        response,
    })
}

async fn enroll(
    data: &DataDir,
    scan: &Scan,
    client: &ServerClient,
    enrollment_token: impl FnOnce() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<AgentState> {
    let Some(token) = enrollment_token()? else {
        anyhow::bail!(
            "{} holds no agent identity yet, and no enrollment token was given \
             (--enrollment-token-file or FIXPOINT_AGENT_ENROLLMENT_TOKEN)",
            data.state_path().display()
        );
    };
    let request = EnrollRequest {
        token,
        facts: scan.facts.clone(),
    };
    let enrolled = client.enroll(&request).await.map_err(|e| {
        let refused = matches!(&e, crate::client::ClientError::Status { status: 401, .. });
        let e = anyhow::Error::new(e);
        if refused {
            e.context("enrolling: the server refused the enrollment token")
        } else {
            e.context("enrolling")
        }
    })?;
    let state = AgentState {
        agent_id: enrolled.agent_id,
        credential: enrolled.credential,
        acknowledged_inventory: None,
    };
    data.save(&state)?;
    tracing::info!(agent = %state.agent_id, "enrolled");
    Ok(state)
}
