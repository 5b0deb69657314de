//! Crash safety of the provisioning outbox (issue 4): IDaaS runs as the real binary (`gatehouse
//! serve` on SQLite), 2,000 users in 10 groups are seeded, then enabling provisioning to Cloud SSO
//! (in-process, SCIM) commits 2,000 + 10 outbox entries at once; while the worker is part-way
//! through them the process is SIGKILLed, restarted on the same database, and the target must
//! converge to exactly the expected state: nothing lost, nothing duplicated (no two remote users
//! with the same userName or externalId), the outbox empty, no dead letters.
//!
//! Rows claimed by the killed process are leased (at least 60 s; 4 × the 30 s request time-out
//! with `serve`'s defaults), so convergence after the restart takes a couple of minutes: the
//! deadline is generous and there is no timing threshold.

use std::time::{Duration, Instant};

use crate::scim_sync::{Api, Directory, converge, start_cloudsso};
use crate::support::{Serve, temp_dir};

const USERS: usize = 2_000;
const GROUPS: usize = 10;

#[tokio::test(flavor = "multi_thread")]
async fn scim_crash_kill9_mid_delivery_converges_without_loss_or_duplicates() {
    let dir = temp_dir("scim-crash");
    let (cloudsso, scim) = start_cloudsso(&dir).await;
    let (serve, token) = Serve::start(&dir, true).await;
    let token = token.expect("bootstrap token printed on the first start");
    let api = Api::new(&serve.base, &token).await;
    let d = Directory::seed(&api, USERS, GROUPS, 0).await;
    let want = d.expected();
    assert_eq!(want.users.len(), USERS);

    // Enabling provisioning enqueues every user and group in scope in one transaction.
    let app = api.provisioning_app(&scim, d.scope()).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let at_kill = loop {
        let n = scim.total("Users").await;
        assert!(
            (n as usize) < USERS,
            "every user was delivered before the kill could happen"
        );
        if n >= 100 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "delivery did not start: outbox {}",
            api.outbox(&app).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    serve.kill9();
    let after_kill = scim.total("Users").await;
    eprintln!("SIGKILL with {at_kill} of {USERS} users at the target ({after_kill} once it died)");
    assert!((after_kill as usize) < USERS);

    // Restart on the same database: the target converges.
    let t0 = Instant::now();
    let (serve, _) = Serve::start(&dir, false).await;
    let api = api.at(&serve.base);
    converge(&api, &app, &scim, &want, Duration::from_secs(600)).await;
    eprintln!("converged {:.1?} after the restart", t0.elapsed());
    let ob = api.outbox(&app).await;
    assert_eq!(ob["pending"], 0, "{ob}");
    assert_eq!(ob["dead"], 0, "{ob}");
    drop(serve);
    cloudsso.shutdown().await;
}
