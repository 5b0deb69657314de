//! "Push Now": a full sync that reconciles the target with the desired state. Lists the target
//! (users, groups, and group members — by filter or per group where the listing comes back with
//! empty member lists), computes the [`plan`](super::plan::plan), and either stores it (dry run)
//! or applies it with bounded concurrency, recording progress (`done` of `total`), per-object
//! results and per-kind counts in the sync record.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use scim::client::ClientError;

use super::deliver::{self, Cx, Endpoint, Outcome, Target, TargetError, member_values};
use super::plan::{self, DesiredGroup, DesiredUser, ObjectAction, PlannedMembers, Pushed, Remote};
use crate::error::{Error, Result};
use crate::id;
use crate::services::Services;
use crate::store::provisioning_map::{self, PushedObject};
use crate::store::sync_job::{self, Counts, SyncJob, SyncJobItem};

/// A pending/running full sync whose heartbeat is older than this (seconds) belongs to a node that
/// is gone: it no longer holds deliveries back, and the next start, worker start or maintenance
/// pass marks it failed.
pub const STALE_SECS: i64 = 5 * 60;
/// How often the node running a full sync refreshes its heartbeat (progress flushes refresh it too).
pub const HEARTBEAT_SECS: u64 = 30;
/// Progress is written at least this often (items).
const FLUSH_ITEMS: usize = 50;
/// Progress is written at least this often (milliseconds).
const FLUSH_MS: u128 = 500;

/// Marks full syncs whose heartbeat is stale as failed; returns how many.
pub async fn fail_stale(services: &Services) -> Result<u64> {
    let now = services.now();
    let mut tx = services.store.begin_write().await?;
    let n = sync_job::fail_stale(&mut tx, now - STALE_SECS, now).await?;
    tx.commit().await?;
    if n > 0 {
        tracing::warn!(jobs = n, "full syncs without a heartbeat marked failed");
    }
    Ok(n)
}

/// Refreshes the job's heartbeat every [`HEARTBEAT_SECS`]; returns when the job is no longer
/// pending/running in the database (another node declared it stale), so the caller stops it.
async fn keep_alive(services: &Services, job_id: &str) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(HEARTBEAT_SECS));
    tick.tick().await;
    loop {
        tick.tick().await;
        let alive = async {
            let mut tx = services.store.begin_write().await?;
            let alive = sync_job::heartbeat(&mut tx, job_id, services.now()).await?;
            tx.commit().await?;
            Ok::<bool, Error>(alive)
        }
        .await;
        match alive {
            Ok(true) => {}
            Ok(false) => return,
            // The database is unreachable: keep trying; if it stays so, other nodes see the
            // heartbeat go stale and take over.
            Err(e) => tracing::warn!(job = %job_id, error = %e, "full sync heartbeat failed"),
        }
    }
}

/// Starts a full sync (or dry run) of an application in the background; returns the pending job.
/// Refused with [`Error::AlreadyExists`] while another full sync of the application is pending or
/// running.
pub async fn start(
    services: &Arc<Services>,
    instance_id: &str,
    app_id: &str,
    dry_run: bool,
) -> Result<SyncJob> {
    let profile = plan::load_profile(services, app_id)
        .await?
        .filter(|p| p.instance_id == instance_id)
        .ok_or(Error::NotFound("provisioning configuration"))?;
    if !dry_run && !profile.enabled {
        return Err(Error::invalid(
            "provisioning",
            "is not enabled for this application",
        ));
    }
    if !dry_run
        && !profile
            .config
            .actions
            .contains(super::config::Action::UserPush)
    {
        return Err(Error::invalid(
            "actions",
            "full push (urn:alibaba:idaas:app:scim:User:PUSH) is not enabled",
        ));
    }
    if profile.config.auth.is_none() || profile.base_url.is_empty() {
        return Err(Error::invalid(
            "provisioning",
            "has no SCIM base URL or credentials",
        ));
    }
    let now = services.now();
    let mut tx = services.store.begin_write().await?;
    // Serializes concurrent starts on PostgreSQL (row lock); SQLite write transactions are serial.
    sqlx::query("UPDATE provisioning_configs SET updated_at = updated_at WHERE app_id = $1")
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
    sync_job::fail_stale(&mut tx, now - STALE_SECS, now).await?;
    if sync_job::active_full(&mut tx, app_id).await?.is_some() {
        return Err(Error::AlreadyExists {
            entity: "running full sync",
            field: "application",
        });
    }
    let job = SyncJob {
        id: id::new_time_ordered_id("sjob", now),
        app_id: app_id.to_owned(),
        instance_id: instance_id.to_owned(),
        trigger_type: "manual".into(),
        kind: "full".into(),
        dry_run,
        status: "pending".into(),
        total: 0,
        done: 0,
        counts: Counts::new(),
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        heartbeat_at: Some(now),
    };
    sync_job::insert(&mut tx, &job).await?;
    tx.commit().await?;
    let services = Arc::clone(services);
    let job_id = job.id.clone();
    tokio::spawn(async move {
        let Some(target) = Target::for_profile(&services, &profile) else {
            let _ = fail(&services, &job_id, "no credentials").await;
            return;
        };
        let cx = Cx {
            services: Arc::clone(&services),
            profile: Arc::new(profile),
            target,
        };
        tokio::select! {
            r = run(&cx, &job_id, dry_run) => {
                if let Err(e) = r {
                    tracing::warn!(job = %job_id, error = %e, "full sync failed");
                    let _ = fail(&services, &job_id, &e.to_string()).await;
                }
            }
            () = keep_alive(&services, &job_id) => {
                tracing::warn!(job = %job_id, "full sync stopped: marked failed as stale meanwhile");
            }
        }
        // Whatever the incremental worker held back meanwhile is delivered now.
        services.wake_provisioning();
    });
    Ok(job)
}

async fn fail(services: &Services, job_id: &str, error: &str) -> Result<()> {
    let (done, counts) = {
        let mut conn = services.store.read().await?;
        let row = sqlx::query("SELECT app_id FROM sync_jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await?;
        let app_id: Option<String> = row.map(|r| sqlx::Row::try_get(&r, "app_id")).transpose()?;
        match app_id {
            Some(a) => match sync_job::get(&mut conn, &a, job_id).await? {
                Some(j) => (j.done, j.counts),
                None => (0, Counts::new()),
            },
            None => (0, Counts::new()),
        }
    };
    let mut tx = services.store.begin_write().await?;
    sync_job::finish(
        &mut tx,
        job_id,
        "failed",
        done,
        &counts,
        Some(error),
        services.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Why a job failed as a whole.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Local(#[from] Error),
    #[error("reading the target: {0}")]
    Target(#[from] TargetError),
}

/// Reads every user and group of the target, and the members of the groups that matter.
async fn list_remote(
    cx: &Cx,
    users: &[DesiredUser],
    groups: &[DesiredGroup],
    pushed: &Pushed,
) -> Result<Remote, TargetError> {
    let t = &cx.target;
    let remote_users = t.list_all(Endpoint::Users, None).await?;
    if !cx.profile.groups_enabled() {
        return Ok(Remote {
            users: remote_users,
            ..Remote::default()
        });
    }
    let remote_groups = t.list_all(Endpoint::Groups, None).await?;
    let mut members: HashMap<String, BTreeSet<String>> = HashMap::new();
    // Groups we manage or will adopt.
    let mut relevant: BTreeSet<String> =
        pushed.groups.iter().map(|p| p.remote_id.clone()).collect();
    let names: HashSet<String> = groups
        .iter()
        .map(|g| g.display_name.to_lowercase())
        .collect();
    let exts: HashSet<&str> = groups
        .iter()
        .filter_map(|g| g.external_id.as_deref())
        .collect();
    for g in &remote_groups {
        let Some(id) = g["id"].as_str() else { continue };
        let m = member_values(g);
        let matches = g["displayName"]
            .as_str()
            .is_some_and(|n| names.contains(&n.to_lowercase()))
            || g["externalId"].as_str().is_some_and(|x| exts.contains(x));
        if matches {
            relevant.insert(id.to_owned());
        }
        members.insert(id.to_owned(), m);
    }
    // Groups listed with no members: read each one (some targets omit members in lists).
    let remote_ids: HashSet<String> = members.keys().cloned().collect();
    let mut unknown: Vec<String> = Vec::new();
    for rid in relevant.iter().filter(|r| remote_ids.contains(*r)) {
        if members.get(rid).is_some_and(|m| !m.is_empty()) {
            continue;
        }
        match t.get(Endpoint::Groups, rid).await? {
            Some(g) if !member_values(&g).is_empty() => {
                members.insert(rid.clone(), member_values(&g));
            }
            _ => unknown.push(rid.clone()),
        }
    }
    if !unknown.is_empty() {
        // Still empty: the target may not return members at all (AWS). Ask by member instead,
        // for every user that could be a member (ours and the ones we will adopt).
        let mut candidates: BTreeSet<String> =
            pushed.users.iter().map(|p| p.remote_id.clone()).collect();
        let by_name: HashMap<String, &str> = remote_users
            .iter()
            .filter_map(|u| Some((u["userName"].as_str()?.to_lowercase(), u["id"].as_str()?)))
            .collect();
        for u in users {
            if let Some(id) = by_name.get(&u.user_name.to_lowercase()) {
                candidates.insert((*id).to_owned());
            }
        }
        for user_rid in candidates {
            for g in t.groups_of_member(&user_rid, &unknown).await? {
                if unknown.contains(&g) {
                    members.entry(g).or_default().insert(user_rid.clone());
                }
            }
        }
    }
    Ok(Remote {
        users: remote_users,
        groups: remote_groups,
        members,
    })
}

/// Progress of a running job, flushed to the database in batches.
struct Progress {
    job_id: String,
    done: i64,
    seq: i64,
    counts: Counts,
    pending: Vec<SyncJobItem>,
    last_flush: Instant,
    failed: i64,
    succeeded: i64,
}

type Shared = Arc<Mutex<Progress>>;

fn note(
    p: &Shared,
    kind: &str,
    object_id: &str,
    name: &str,
    action: &str,
    error: Option<String>,
    ops: i64,
) -> bool {
    let Ok(mut g) = p.lock() else { return false };
    g.seq += 1;
    let seq = g.seq;
    g.done += ops;
    g.counts.entry(kind.to_owned()).or_default().add(action);
    if action == "failed" {
        g.failed += 1;
    } else {
        g.succeeded += 1;
    }
    g.pending.push(SyncJobItem {
        seq,
        object_type: kind.to_owned(),
        object_id: object_id.to_owned(),
        name: name.to_owned(),
        action: action.to_owned(),
        error,
    });
    g.pending.len() >= FLUSH_ITEMS || g.last_flush.elapsed().as_millis() >= FLUSH_MS
}

async fn flush(services: &Services, p: &Shared) -> Result<()> {
    let (job_id, items, done, counts) = {
        let Ok(mut g) = p.lock() else {
            return Err(Error::Internal("progress lock poisoned".into()));
        };
        g.last_flush = Instant::now();
        (
            g.job_id.clone(),
            std::mem::take(&mut g.pending),
            g.done,
            g.counts.clone(),
        )
    };
    let mut tx = services.store.begin_write().await?;
    sync_job::insert_items(&mut tx, &job_id, &items).await?;
    sync_job::progress(&mut tx, &job_id, done, &counts, services.now()).await?;
    tx.commit().await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn record(
    services: &Services,
    p: &Shared,
    kind: &str,
    id: &str,
    name: &str,
    action: &str,
    error: Option<String>,
    ops: i64,
) -> Result<()> {
    if note(p, kind, id, name, action, error, ops) {
        flush(services, p).await?;
    }
    Ok(())
}

/// [`record`]s one object's result from a sync job; a failure to record is logged, and the sync
/// goes on.
async fn record_logged(
    services: &Services,
    p: &Shared,
    kind: &str,
    id: &str,
    name: &str,
    action: &str,
    error: Option<String>,
) {
    if let Err(e) = record(services, p, kind, id, name, action, error, 1).await {
        tracing::warn!(error = %e, "recording sync progress failed");
    }
}

async fn run(cx: &Cx, job_id: &str, dry_run: bool) -> std::result::Result<(), RunError> {
    let services = &cx.services;
    let app = cx.profile.app_id.clone();
    {
        let mut tx = services
            .store
            .begin_write()
            .await
            .map_err(RunError::Local)?;
        sync_job::start(&mut tx, job_id, 0, services.now()).await?;
        tx.commit().await.map_err(Error::from)?;
    }
    let (users, groups, unrenderable) = plan::desired_all(services, &cx.profile).await?;
    let pushed = {
        let mut conn = services.store.read().await?;
        Pushed {
            users: provisioning_map::list(&mut conn, &app, "user").await?,
            groups: provisioning_map::list(&mut conn, &app, "group").await?,
        }
    };
    let remote = list_remote(cx, &users, &groups, &pushed).await?;
    let the_plan = plan::plan(&cx.profile, &users, &groups, &pushed, &remote);
    let total = the_plan.total() + unrenderable.len() as i64;
    {
        let mut tx = services.store.begin_write().await?;
        sync_job::start(&mut tx, job_id, total, services.now()).await?;
        tx.commit().await.map_err(Error::from)?;
    }
    let progress: Shared = Arc::new(Mutex::new(Progress {
        job_id: job_id.to_owned(),
        done: 0,
        seq: 0,
        counts: Counts::new(),
        pending: Vec::new(),
        last_flush: Instant::now(),
        failed: 0,
        succeeded: 0,
    }));
    for (id, name, e) in &unrenderable {
        record(
            services,
            &progress,
            "user",
            id,
            name,
            "failed",
            Some(e.clone()),
            1,
        )
        .await?;
    }
    if dry_run {
        for u in &the_plan.users {
            record(
                services,
                &progress,
                "user",
                &u.id,
                &u.name,
                u.action.as_str(),
                skip_reason(&u.action),
                1,
            )
            .await?;
        }
        for g in &the_plan.groups {
            record(
                services,
                &progress,
                "group",
                &g.id,
                &g.name,
                g.action.as_str(),
                skip_reason(&g.action),
                1,
            )
            .await?;
        }
        for m in &the_plan.members {
            for u in &m.add {
                record(
                    services,
                    &progress,
                    "group_member",
                    &format!("{}/{u}", m.group_id),
                    &format!("{} / {u}", m.group_name),
                    "add",
                    None,
                    1,
                )
                .await?;
            }
            for (rid, name) in &m.remove {
                record(
                    services,
                    &progress,
                    "group_member",
                    &format!("{}/{rid}", m.group_id),
                    &format!("{} / {name}", m.group_name),
                    "remove",
                    None,
                    1,
                )
                .await?;
            }
            same_members(&progress, m.same);
        }
    } else {
        apply(cx, &the_plan, &users, &groups, &pushed, &progress).await?;
    }
    flush(services, &progress).await?;
    let (done, counts, failed, succeeded) = {
        let g = progress
            .lock()
            .map_err(|_| Error::Internal("progress lock poisoned".into()))?;
        (g.done, g.counts.clone(), g.failed, g.succeeded)
    };
    let status = if failed == 0 {
        "success"
    } else if succeeded == 0 {
        "failed"
    } else {
        "partial_success"
    };
    let mut tx = services.store.begin_write().await?;
    sync_job::finish(
        &mut tx,
        job_id,
        status,
        done.max(total),
        &counts,
        None,
        services.now(),
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(())
}

fn skip_reason(a: &ObjectAction) -> Option<String> {
    match a {
        ObjectAction::Skip(r) => Some((*r).to_owned()),
        _ => None,
    }
}

fn same_members(p: &Shared, n: i64) {
    if n == 0 {
        return;
    }
    if let Ok(mut g) = p.lock() {
        g.done += n;
        g.counts.entry("group_member".to_owned()).or_default().same += n;
    }
}

async fn run_bounded<F, Fut>(cx: &Cx, jobs: Vec<F>)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(
        cx.services.config.provisioning_concurrency.max(1),
    ));
    let mut set = JoinSet::new();
    for job in jobs {
        let sem = Arc::clone(&sem);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            job().await;
        });
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "full sync task failed");
        }
    }
}

async fn record_pushed(cx: &Cx, o: PushedObject) -> Result<()> {
    let mut tx = cx.services.store.begin_write().await?;
    provisioning_map::upsert(&mut tx, &o).await?;
    tx.commit().await?;
    Ok(())
}

fn pushed_row(
    cx: &Cx,
    kind: &str,
    id: &str,
    rid: &str,
    key: &str,
    hash: &str,
    active: bool,
) -> PushedObject {
    PushedObject {
        app_id: cx.profile.app_id.clone(),
        object_type: kind.to_owned(),
        object_id: id.to_owned(),
        remote_id: rid.to_owned(),
        remote_key: key.to_owned(),
        state_hash: hash.to_owned(),
        active,
        synced_at: cx.services.now(),
    }
}

/// Applies one user action; returns the outcome and a note for the sync record.
async fn apply_user(
    cx: &Cx,
    d: &DesiredUser,
    action: &ObjectAction,
    pushed: Option<&PushedObject>,
) -> std::result::Result<(Outcome, Option<String>), deliver::DeliverError> {
    let t = &cx.target;
    let mut note = None;
    let outcome = match action {
        ObjectAction::Create => {
            let (rid, outcome) = cx.create_or_bind_user(d).await?;
            record_pushed(
                cx,
                pushed_row(cx, "user", &d.id, &rid, &d.user_name, &d.hash, d.active),
            )
            .await?;
            outcome
        }
        ObjectAction::Update(rid) => {
            let (rid, outcome) = match pushed.filter(|p| p.remote_id == *rid) {
                // A userName change on a target that keeps it immutable replaces the account.
                Some(p) => {
                    let u = deliver::update_user(cx, d, p).await?;
                    if u.note.is_some() {
                        // Replaced: it left its groups; put it back into the pushed ones (the
                        // membership phase counts them as unchanged).
                        let mut r = deliver::Delivered {
                            outcome: u.outcome,
                            members_added: 0,
                            members_removed: 0,
                        };
                        deliver::sync_user_groups(cx, d, &u.remote_id, &mut r).await?;
                    }
                    note = u.note;
                    (u.remote_id, u.outcome)
                }
                None => {
                    let body = deliver::user_body(d, t.aws);
                    match t.replace(Endpoint::Users, rid, &body).await {
                        Ok(()) => (rid.clone(), Outcome::Updated),
                        Err(e) if e.status() == Some(404) => cx.create_or_bind_user(d).await?,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            record_pushed(
                cx,
                pushed_row(cx, "user", &d.id, &rid, &d.user_name, &d.hash, d.active),
            )
            .await?;
            outcome
        }
        ObjectAction::Bind { remote_id, drift } => {
            if *drift {
                t.replace(Endpoint::Users, remote_id, &deliver::user_body(d, t.aws))
                    .await?;
            }
            record_pushed(
                cx,
                pushed_row(
                    cx,
                    "user",
                    &d.id,
                    remote_id,
                    &d.user_name,
                    &d.hash,
                    d.active,
                ),
            )
            .await?;
            Outcome::Bound
        }
        ObjectAction::Same(_) => Outcome::Same,
        ObjectAction::Skip(_) => Outcome::Skipped,
        ObjectAction::Delete(_) | ObjectAction::Disable(_) => Outcome::Skipped,
    };
    Ok((outcome, note))
}

/// Applies one group action (members follow separately).
async fn apply_group(
    cx: &Cx,
    d: &DesiredGroup,
    action: &ObjectAction,
) -> std::result::Result<Outcome, deliver::DeliverError> {
    let t = &cx.target;
    let outcome = match action {
        ObjectAction::Create => {
            let (rid, outcome) = match t
                .create(Endpoint::Groups, &deliver::group_body(d, &[]))
                .await
            {
                Ok((rid, _)) => (rid, Outcome::Created),
                Err(e) if e.status() == Some(409) => {
                    let g = cx.find_group(d).await?.ok_or_else(|| {
                        TargetError::Unresolvable(format!("displayName {}", d.display_name))
                    })?;
                    let rid = g["id"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| ClientError::Decode("group without id".into()))?
                        .to_owned();
                    t.patch_group_attributes(&rid, d).await?;
                    (rid, Outcome::Bound)
                }
                Err(e) => return Err(e.into()),
            };
            record_pushed(
                cx,
                pushed_row(cx, "group", &d.id, &rid, &d.display_name, &d.hash, true),
            )
            .await?;
            outcome
        }
        ObjectAction::Update(rid) => {
            t.patch_group_attributes(rid, d).await?;
            record_pushed(
                cx,
                pushed_row(cx, "group", &d.id, rid, &d.display_name, &d.hash, true),
            )
            .await?;
            Outcome::Updated
        }
        ObjectAction::Bind { remote_id, drift } => {
            if *drift {
                t.patch_group_attributes(remote_id, d).await?;
            }
            record_pushed(
                cx,
                pushed_row(
                    cx,
                    "group",
                    &d.id,
                    remote_id,
                    &d.display_name,
                    &d.hash,
                    true,
                ),
            )
            .await?;
            Outcome::Bound
        }
        ObjectAction::Same(_) => Outcome::Same,
        _ => Outcome::Skipped,
    };
    Ok(outcome)
}

async fn apply(
    cx: &Cx,
    the_plan: &plan::Plan,
    users: &[DesiredUser],
    groups: &[DesiredGroup],
    pushed: &Pushed,
    progress: &Shared,
) -> Result<()> {
    let desired_users: HashMap<&str, &DesiredUser> =
        users.iter().map(|u| (u.id.as_str(), u)).collect();
    let desired_groups: HashMap<&str, &DesiredGroup> =
        groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let pushed_users: HashMap<&str, &PushedObject> = pushed
        .users
        .iter()
        .map(|p| (p.object_id.as_str(), p))
        .collect();
    let pushed_groups: HashMap<&str, &PushedObject> = pushed
        .groups
        .iter()
        .map(|p| (p.object_id.as_str(), p))
        .collect();
    // 1. Users that stay (create, update, bind, same, skip).
    let mut jobs = Vec::new();
    let mut deprovision = Vec::new();
    for u in &the_plan.users {
        if matches!(u.action, ObjectAction::Delete(_) | ObjectAction::Disable(_)) {
            if let Some(p) = pushed_users.get(u.id.as_str()) {
                deprovision.push(((*p).clone(), u.name.clone()));
            }
            continue;
        }
        let Some(d) = desired_users.get(u.id.as_str()).map(|d| (*d).clone()) else {
            continue;
        };
        let (cx2, action, p) = (cx.clone(), u.action.clone(), Arc::clone(progress));
        let pu = pushed_users.get(u.id.as_str()).map(|p| (*p).clone());
        jobs.push(move || async move {
            let (act, err) = match apply_user(&cx2, &d, &action, pu.as_ref()).await {
                Ok((o, note)) => (o.as_str(), note),
                Err(e) => ("failed", Some(e.to_string())),
            };
            let err = err.or_else(|| skip_reason(&action));
            record_logged(&cx2.services, &p, "user", &d.id, &d.user_name, act, err).await;
        });
    }
    run_bounded(cx, jobs).await;
    // 2. Groups (create, update, bind, delete).
    let mut jobs = Vec::new();
    for g in &the_plan.groups {
        let (cx2, action, p, id, name) = (
            cx.clone(),
            g.action.clone(),
            Arc::clone(progress),
            g.id.clone(),
            g.name.clone(),
        );
        let d = desired_groups.get(g.id.as_str()).map(|d| (*d).clone());
        let pushed_g = pushed_groups.get(g.id.as_str()).map(|p| (*p).clone());
        jobs.push(move || async move {
            let result = match (&action, d, pushed_g) {
                (ObjectAction::Delete(rid), _, _) => {
                    match cx2.target.delete(Endpoint::Groups, rid).await {
                        Ok(()) => forget_group(&cx2, &id)
                            .await
                            .map(|()| Outcome::Deleted)
                            .map_err(deliver::DeliverError::from),
                        Err(e) => Err(e.into()),
                    }
                }
                (a, Some(d), _) => apply_group(&cx2, &d, a).await,
                _ => Ok(Outcome::Skipped),
            };
            let (act, err) = match result {
                Ok(o) => (o.as_str(), None),
                Err(e) => ("failed", Some(e.to_string())),
            };
            let err = err.or_else(|| skip_reason(&action));
            record_logged(&cx2.services, &p, "group", &id, &name, act, err).await;
        });
    }
    run_bounded(cx, jobs).await;
    // 3. Memberships of kept groups.
    let mut jobs = Vec::new();
    for m in &the_plan.members {
        let (cx2, m, p) = (cx.clone(), m.clone(), Arc::clone(progress));
        jobs.push(move || async move {
            if let Err(e) = apply_members(&cx2, &m, &p).await {
                tracing::warn!(error = %e, "recording sync progress failed");
            }
        });
    }
    run_bounded(cx, jobs).await;
    // 4. Users leaving: delete or disable.
    let mut jobs = Vec::new();
    for (pu, name) in deprovision {
        let (cx2, p) = (cx.clone(), Arc::clone(progress));
        jobs.push(move || async move {
            let (act, err) = match deliver::deprovision_user(&cx2, &pu).await {
                Ok(r) => (r.outcome.as_str(), None),
                Err(e) => ("failed", Some(e.to_string())),
            };
            record_logged(&cx2.services, &p, "user", &pu.object_id, &name, act, err).await;
        });
    }
    run_bounded(cx, jobs).await;
    Ok(())
}

async fn forget_group(cx: &Cx, id: &str) -> Result<()> {
    let mut tx = cx.services.store.begin_write().await?;
    provisioning_map::delete(&mut tx, &cx.profile.app_id, "group", id).await?;
    provisioning_map::remove_group_memberships(&mut tx, &cx.profile.app_id, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Applies the membership changes of one group and records exactly what the target now holds.
async fn apply_members(cx: &Cx, m: &PlannedMembers, p: &Shared) -> Result<()> {
    let services = &cx.services;
    let app = &cx.profile.app_id;
    let (group, user_rids) = {
        let mut conn = services.store.read().await?;
        let group = provisioning_map::get(&mut conn, app, "group", &m.group_id).await?;
        let mut rids = HashMap::new();
        for u in &m.after {
            if let Some(pu) = provisioning_map::get(&mut conn, app, "user", u).await? {
                rids.insert(u.clone(), pu.remote_id);
            }
        }
        (group, rids)
    };
    let item_id = |u: &str| format!("{}/{u}", m.group_id);
    let item_name = |u: &str| format!("{} / {u}", m.group_name);
    let Some(group) = group else {
        // The group itself failed: its membership changes cannot be made.
        for u in &m.add {
            record(
                services,
                p,
                "group_member",
                &item_id(u),
                &item_name(u),
                "failed",
                Some("the group is not on the target".into()),
                1,
            )
            .await?;
        }
        for (rid, name) in &m.remove {
            record(
                services,
                p,
                "group_member",
                &item_id(rid),
                &item_name(name),
                "failed",
                Some("the group is not on the target".into()),
                1,
            )
            .await?;
        }
        return Ok(());
    };
    let mut add_rids = Vec::new();
    let mut added = Vec::new();
    for u in &m.add {
        match user_rids.get(u) {
            Some(r) => {
                add_rids.push(r.clone());
                added.push(u.clone());
            }
            None => {
                record(
                    services,
                    p,
                    "group_member",
                    &item_id(u),
                    &item_name(u),
                    "failed",
                    Some("the user is not on the target".into()),
                    1,
                )
                .await?;
            }
        }
    }
    let remove_rids: Vec<String> = m.remove.iter().map(|(r, _)| r.clone()).collect();
    let result = cx
        .target
        .patch_members(&group.remote_id, &add_rids, &remove_rids)
        .await;
    let err = result.as_ref().err().map(ToString::to_string);
    if err.is_none() {
        let mut tx = services.store.begin_write().await?;
        provisioning_map::remove_group_memberships(&mut tx, app, &m.group_id).await?;
        for u in &m.after {
            if user_rids.contains_key(u) {
                provisioning_map::add_membership(&mut tx, app, &m.group_id, u).await?;
            }
        }
        tx.commit().await?;
    }
    for u in &added {
        let act = if err.is_some() { "failed" } else { "created" };
        record(
            services,
            p,
            "group_member",
            &item_id(u),
            &item_name(u),
            act,
            err.clone(),
            1,
        )
        .await?;
    }
    for (_, name) in &m.remove {
        let act = if err.is_some() { "failed" } else { "deleted" };
        record(
            services,
            p,
            "group_member",
            &item_id(name),
            &item_name(name),
            act,
            err.clone(),
            1,
        )
        .await?;
    }
    same_members(p, m.same);
    Ok(())
}
