//! Sync records and the provisioning outbox: the admin API under
//! `/api/v1/instances/{iid}/apps/{app_id}/provisioning/…` ("Push Now", dry run, job list and
//! progress, per-object results, pending and dead-lettered entries, retry) and the console pages
//! `/i/{iid}/console/apps/{app_id}/sync` (Push Now, dry run, the sync records, dead letters) and
//! `/i/{iid}/console/apps/{app_id}/sync/{job_id}` (one record: trigger, status, times, progress,
//! counts per kind and the per-object items, paged and filtered; a dry run shows its plan).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::auth::{AdminAuth, ConsoleAdmin};
use super::signin::{message, render, see_other};
use super::{ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::provisioning::jobs::{ItemPage, OutboxPage};
use crate::store::outbox::OutboxEntry;
use crate::store::sync_job::{KindCounts, SyncJob, SyncJobItem};

/// Admin API routes of this area (merged by [`crate::http::router`]).
pub fn routes() -> ApiRoutes {
    let p = "/api/v1/instances/{iid}/apps/{app_id}/provisioning";
    ApiRoutes::new()
        .post(&format!("{p}/sync-jobs"), start_job)
        .get(&format!("{p}/sync-jobs"), list_jobs)
        .get(&format!("{p}/sync-jobs/{{job_id}}"), get_job)
        .get(&format!("{p}/sync-jobs/{{job_id}}/items"), list_items)
        .get(&format!("{p}/outbox"), list_outbox)
        .post(
            &format!("{p}/outbox/{{object_type}}/{{object_id}}/retry"),
            retry_entry,
        )
        .post(&format!("{p}/outbox/retry-dead"), retry_dead)
}

/// Console pages of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/i/{iid}/console/apps/{app_id}/sync",
            get(sync_page).post(sync_post),
        )
        .route(
            "/i/{iid}/console/apps/{app_id}/sync/retry",
            post(retry_post),
        )
        .route(
            "/i/{iid}/console/apps/{app_id}/sync/{job_id}",
            get(job_page),
        )
}

/// OpenAPI paths and components of this area.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(start_job, list_jobs, get_job, list_items, list_outbox, retry_entry, retry_dead),
    components(schemas(
        SyncJob,
        SyncJobItem,
        KindCounts,
        ItemPage,
        OutboxEntry,
        OutboxPage,
        StartJob,
        RetryDeadResult
    )),
    tags((name = "provisioning-sync", description = "Account sync records (Push Now, dry runs, incremental deliveries) and the delivery outbox."))
)]
pub struct ApiDoc;

/// Body of `POST …/sync-jobs`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StartJob {
    /// Only compute and store the plan (nothing is written to the target).
    #[serde(default)]
    pub dry_run: bool,
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Skip this many (default 0).
    offset: Option<i64>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
}

/// Item filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ItemQuery {
    /// Only this action (`created`, `failed`, … or a planned `create`, `bind`, …).
    action: Option<String>,
    /// Only failures.
    #[serde(default)]
    failed: bool,
    /// Skip this many (default 0).
    offset: Option<i64>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
}

/// Outbox filter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// `pending` or `dead` (default: both).
    state: Option<String>,
    /// Skip this many (default 0).
    offset: Option<i64>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
}

/// Result of retrying every dead entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetryDeadResult {
    /// Entries made due again.
    pub retried: u64,
}

/// Start a full sync ("Push Now") or a dry run; it runs in the background (poll the job).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/sync-jobs", tag = "provisioning-sync", request_body = StartJob,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id")),
    responses((status = 202, body = SyncJob), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A full sync of this application is already running")))]
async fn start_job(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, ApiJson<SyncJob>)> {
    let start: StartJob = if body.iter().all(u8::is_ascii_whitespace) {
        StartJob::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            super::ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("body: {e}"),
            )
        })?
    };
    let dry_run = start.dry_run;
    let job = state
        .services
        .start_sync_job(&auth.instance.id, &auth.actor, &app_id, dry_run)
        .await?;
    Ok((StatusCode::ACCEPTED, ApiJson(job)))
}

/// List the sync records of an application, newest first.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/sync-jobs", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id"), PageQuery),
    responses((status = 200, body = Vec<SyncJob>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Vec<SyncJob>>> {
    Ok(ApiJson(
        state
            .list_sync_jobs(&auth.instance.id, &app_id, q.offset, q.limit)
            .await?,
    ))
}

/// Get one sync record: status, progress (`done` of `total`) and counts per kind.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/sync-jobs/{job_id}", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id"), ("job_id" = String, Path, description = "Sync job id (`sjob_…`)")),
    responses((status = 200, body = SyncJob), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id, job_id)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<SyncJob>> {
    Ok(ApiJson(
        state
            .get_sync_job(&auth.instance.id, &app_id, &job_id)
            .await?,
    ))
}

/// Per-object results of a sync record (the plan, for a dry run).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/sync-jobs/{job_id}/items", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id"), ("job_id" = String, Path, description = "Sync job id (`sjob_…`)"), ItemQuery),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_items(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id, job_id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<ItemQuery>,
) -> ApiResult<ApiJson<ItemPage>> {
    Ok(ApiJson(
        state
            .sync_job_items(
                &auth.instance.id,
                &app_id,
                &job_id,
                q.action.as_deref().filter(|a| !a.is_empty()),
                q.failed,
                q.offset,
                q.limit,
            )
            .await?,
    ))
}

/// The delivery outbox: pending entries (with attempts and the last error) and dead letters.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/outbox", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id"), OutboxQuery),
    responses((status = 200, body = OutboxPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_outbox(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<ApiJson<OutboxPage>> {
    Ok(ApiJson(
        state
            .list_outbox(
                &auth.instance.id,
                &app_id,
                q.state.as_deref().filter(|s| !s.is_empty()),
                q.offset,
                q.limit,
            )
            .await?,
    ))
}

/// Retry one outbox entry now (a dead letter gets a fresh set of attempts).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/outbox/{object_type}/{object_id}/retry", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id"),
        ("object_type" = String, Path, description = "`user` or `group`"), ("object_id" = String, Path, description = "Local object id")),
    responses((status = 200, body = OutboxEntry), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retry_entry(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id, object_type, object_id)): Path<(String, String, String, String)>,
) -> ApiResult<ApiJson<OutboxEntry>> {
    Ok(ApiJson(
        state
            .retry_outbox_entry(
                &auth.instance.id,
                &auth.actor,
                &app_id,
                &object_type,
                &object_id,
            )
            .await?,
    ))
}

/// Retry every dead-lettered entry of the application.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning/outbox/retry-dead", tag = "provisioning-sync",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id")),
    responses((status = 200, body = RetryDeadResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retry_dead(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<RetryDeadResult>> {
    let retried = state
        .retry_all_dead(&auth.instance.id, &auth.actor, &app_id)
        .await?;
    Ok(ApiJson(RetryDeadResult { retried }))
}

// ---------------------------------------------------------------------------------------------
// Console page.

struct JobRow {
    id: String,
    trigger: String,
    kind: String,
    status: String,
    progress: String,
    users: String,
    groups: String,
    members: String,
    error: String,
}

fn counts_text(c: Option<&KindCounts>) -> String {
    match c {
        None => String::new(),
        Some(c) => format!(
            "created {} · updated {} · deleted {} · same {} · bound {} · failed {} · skipped {}",
            c.created, c.updated, c.deleted, c.same, c.bound, c.failed, c.skipped
        ),
    }
}

#[derive(Template)]
#[template(path = "console_sync.html")]
struct SyncPage<'a> {
    instance_id: &'a str,
    app_id: &'a str,
    app_name: &'a str,
    csrf: &'a str,
    notice: &'a str,
    error: &'a str,
    running: Option<JobRow>,
    jobs: Vec<JobRow>,
    dead: Vec<OutboxEntry>,
    pending: i64,
}

fn row(j: SyncJob) -> JobRow {
    JobRow {
        progress: format!("{} of {}", j.done, j.total),
        users: counts_text(j.counts.get("user")),
        groups: counts_text(j.counts.get("group")),
        members: counts_text(j.counts.get("group_member")),
        trigger: j.trigger_type,
        kind: if j.dry_run {
            format!("{} (dry run)", j.kind)
        } else {
            j.kind
        },
        status: j.status,
        error: j.error.unwrap_or_default(),
        id: j.id,
    }
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    started: Option<String>,
    retried: Option<String>,
    error: Option<String>,
}

async fn sync_page(
    State(state): State<AppState>,
    ConsoleAdmin(s): ConsoleAdmin,
    Path((_iid, app_id)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<NoticeQuery>,
) -> ApiResult<Response> {
    let app = state.get_application(&s.instance.id, &app_id).await?;
    let jobs = state
        .list_sync_jobs(&s.instance.id, &app_id, None, Some(30))
        .await?;
    let outbox = state
        .list_outbox(&s.instance.id, &app_id, Some("dead"), None, Some(100))
        .await?;
    let running = jobs
        .iter()
        .find(|j| j.kind == "full" && (j.status == "running" || j.status == "pending"))
        .cloned()
        .map(row);
    let notice = if q.started.is_some() {
        "Sync started."
    } else if q.retried.is_some() {
        "Retry scheduled."
    } else {
        ""
    };
    let error = match q.error.as_deref() {
        Some("running") => "A full sync of this application is already running.",
        Some("config") => "Provisioning is not configured or not enabled for this application.",
        Some(_) => "The request failed.",
        None => "",
    };
    Ok(render(
        StatusCode::OK,
        &SyncPage {
            instance_id: &s.instance.id,
            app_id: &app.id,
            app_name: &app.name,
            csrf: &s.session.csrf_token,
            notice,
            error,
            running,
            jobs: jobs.into_iter().map(row).collect(),
            dead: outbox.items,
            pending: outbox.pending,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct SyncForm {
    #[serde(default)]
    csrf: String,
    /// `push` or `dry_run`.
    #[serde(default)]
    action: String,
}

async fn sync_post(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_iid, app_id)): Path<(String, String)>,
    Form(form): Form<SyncForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    let base = format!("/i/{}/console/apps/{app_id}/sync", s.instance.id);
    let result = state
        .services
        .start_sync_job(&s.instance.id, &s.actor, &app_id, form.action == "dry_run")
        .await;
    Ok(match result {
        Ok(_) => see_other(&format!("{base}?started=1")),
        Err(crate::error::Error::AlreadyExists { .. }) => {
            see_other(&format!("{base}?error=running"))
        }
        Err(crate::error::Error::NotFound("application")) => {
            return Err(crate::error::Error::NotFound("application").into());
        }
        Err(crate::error::Error::NotFound(_) | crate::error::Error::Invalid(_)) => {
            see_other(&format!("{base}?error=config"))
        }
        Err(e) => return Err(e.into()),
    })
}

#[derive(Debug, Deserialize)]
struct RetryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_id: String,
    #[serde(default)]
    all: String,
}

async fn retry_post(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_iid, app_id)): Path<(String, String)>,
    Form(form): Form<RetryForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    if form.all == "1" {
        state
            .retry_all_dead(&s.instance.id, &s.actor, &app_id)
            .await?;
    } else {
        state
            .retry_outbox_entry(
                &s.instance.id,
                &s.actor,
                &app_id,
                &form.object_type,
                &form.object_id,
            )
            .await?;
    }
    Ok(see_other(&format!(
        "/i/{}/console/apps/{app_id}/sync?retried=1",
        s.instance.id
    )))
}

// ---------------------------------------------------------------------------------------------
// Console: one sync record.

/// Items per page on the record page.
const ITEMS_PER_PAGE: i64 = 50;

/// Result actions of an applied job, in display order (`failed` has its own filter).
const RESULT_ACTIONS: [&str; 7] = [
    "created", "updated", "deleted", "disabled", "same", "bound", "skipped",
];

/// Planned actions of a dry run, in display order.
const PLAN_ACTIONS: [&str; 9] = [
    "create", "update", "delete", "disable", "bind", "add", "remove", "same", "skip",
];

/// How a planned action reads on the plan.
fn plan_label(action: &str) -> String {
    match action {
        "same" => "unchanged".to_owned(),
        "bind" => "would bind (adopt the existing object)".to_owned(),
        "failed" => "failed".to_owned(),
        a => format!("would {a}"),
    }
}

/// A unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn when(t: Option<i64>) -> String {
    let Some(t) = t else {
        return "–".to_owned();
    };
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => t.to_string(),
    }
}

fn plural(n: i64, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The plan of a dry run in one sentence, from its counts ("would create 2 users and 1 group; …").
fn plan_summary(counts: &crate::store::sync_job::Counts) -> String {
    let get = |k: &str| counts.get(k).copied().unwrap_or_default();
    let (u, g, m) = (get("user"), get("group"), get("group_member"));
    let both = |verb: &str, nu: i64, ng: i64| -> Option<String> {
        let parts: Vec<String> = [(nu, "user"), (ng, "group")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| plural(n, what))
            .collect();
        (!parts.is_empty()).then(|| format!("would {verb} {}", parts.join(" and ")))
    };
    let mut phrases: Vec<String> = [
        both("create", u.created, g.created),
        both("update", u.updated, g.updated),
        both("deprovision", u.deleted, g.deleted),
        both("bind", u.bound, g.bound),
        (m.created > 0).then(|| format!("would add {}", plural(m.created, "group member"))),
        (m.deleted > 0).then(|| format!("would remove {}", plural(m.deleted, "group member"))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let failed = u.failed + g.failed + m.failed;
    if failed > 0 {
        phrases.push(format!("{} cannot be pushed", plural(failed, "object")));
    }
    let same = u.same + g.same + m.same;
    if phrases.is_empty() {
        return format!("nothing to change ({same} up to date)");
    }
    if same > 0 {
        phrases.push(format!("{same} up to date"));
    }
    phrases.join("; ")
}

/// One kind's counters on the record page.
struct CountRow {
    kind: &'static str,
    cells: [i64; 7],
}

/// A filter choice on the record page.
struct FilterLink {
    label: String,
    href: String,
    current: bool,
}

/// One object on the record page.
struct ItemRow {
    kind: String,
    name: String,
    action: String,
    label: String,
    error: String,
}

#[derive(Template)]
#[template(path = "console_sync_job.html")]
struct JobPage<'a> {
    instance_id: &'a str,
    app_id: &'a str,
    app_name: &'a str,
    title: String,
    job_id: String,
    trigger: String,
    kind: String,
    status: String,
    dry_run: bool,
    running: bool,
    created: String,
    started: String,
    finished: String,
    error: String,
    done: i64,
    total: i64,
    count_headers: [&'static str; 7],
    counts: Vec<CountRow>,
    filters: Vec<FilterLink>,
    filter_label: String,
    items: Vec<ItemRow>,
    items_total: i64,
    first: i64,
    last: i64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct JobQuery {
    /// `all` (default), `failed` or one action.
    filter: Option<String>,
    /// Items to skip.
    offset: Option<i64>,
}

async fn job_page(
    State(state): State<AppState>,
    ConsoleAdmin(s): ConsoleAdmin,
    Path((_iid, app_id, job_id)): Path<(String, String, String)>,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let iid = &s.instance.id;
    let app = match state.get_application(iid, &app_id).await {
        Ok(a) => a,
        Err(crate::error::Error::NotFound(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                "Unknown application",
                "This application does not exist.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let job = match state.get_sync_job(iid, &app.id, &job_id).await {
        Ok(j) => j,
        Err(crate::error::Error::NotFound(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                "Unknown sync record",
                "This application has no such sync record.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let actions: &[&str] = if job.dry_run {
        &PLAN_ACTIONS
    } else {
        &RESULT_ACTIONS
    };
    let label = |a: &str| {
        if job.dry_run {
            plan_label(a)
        } else {
            a.to_owned()
        }
    };
    // Unknown filters show everything.
    let filter = match q.filter.as_deref() {
        Some("failed") => "failed",
        Some(a) if actions.contains(&a) => a,
        _ => "all",
    };
    let offset = q.offset.unwrap_or(0).max(0);
    let page = state
        .sync_job_items(
            iid,
            &app.id,
            &job.id,
            actions.iter().copied().find(|a| *a == filter),
            filter == "failed",
            Some(offset),
            Some(ITEMS_PER_PAGE),
        )
        .await?;
    let base = format!("/i/{iid}/console/apps/{}/sync/{}", app.id, job.id);
    let href = |f: &str, off: i64| {
        let mut h = format!("{base}?filter={f}");
        if off > 0 {
            h.push_str(&format!("&offset={off}"));
        }
        h
    };
    let mut filters = vec![
        FilterLink {
            label: "All".to_owned(),
            href: href("all", 0),
            current: filter == "all",
        },
        FilterLink {
            label: "Failed".to_owned(),
            href: href("failed", 0),
            current: filter == "failed",
        },
    ];
    filters.extend(actions.iter().map(|a| FilterLink {
        label: label(a),
        href: href(a, 0),
        current: filter == *a,
    }));
    let filter_label = match filter {
        "all" => "All".to_owned(),
        "failed" => "Failed".to_owned(),
        a => label(a),
    };
    let shown = page.items.len() as i64;
    let kinds = [
        ("user", "Users"),
        ("group", "Groups"),
        ("group_member", "Group members"),
    ];
    let counts = kinds
        .iter()
        .map(|(k, name)| {
            let c = job.counts.get(*k).copied().unwrap_or_default();
            CountRow {
                kind: name,
                cells: [
                    c.created, c.updated, c.deleted, c.same, c.bound, c.failed, c.skipped,
                ],
            }
        })
        .collect();
    let running = job.status == "pending" || job.status == "running";
    let title = if job.dry_run {
        if running {
            "Plan (dry run): being computed".to_owned()
        } else if job.status == "failed" {
            "Plan (dry run): failed".to_owned()
        } else {
            format!("Plan (dry run): {}", plan_summary(&job.counts))
        }
    } else if job.kind == "full" {
        format!("Full sync ({})", job.status)
    } else {
        format!("Incremental delivery ({})", job.status)
    };
    let items = page
        .items
        .into_iter()
        .map(|i| ItemRow {
            label: label(&i.action),
            kind: i.object_type,
            name: i.name,
            action: i.action,
            error: i.error.unwrap_or_default(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &JobPage {
            instance_id: iid,
            app_id: &app.id,
            app_name: &app.name,
            title,
            trigger: job.trigger_type.clone(),
            kind: job.kind.clone(),
            status: job.status.clone(),
            dry_run: job.dry_run,
            running,
            created: when(Some(job.created_at)),
            started: when(job.started_at),
            finished: when(job.finished_at),
            error: job.error.clone().unwrap_or_default(),
            done: job.done,
            total: job.total,
            count_headers: if job.dry_run {
                [
                    "Create",
                    "Update",
                    "Deprovision",
                    "Unchanged",
                    "Bind",
                    "Failed",
                    "Skip",
                ]
            } else {
                [
                    "Created", "Updated", "Deleted", "Same", "Bound", "Failed", "Skipped",
                ]
            },
            counts,
            filters,
            filter_label,
            items,
            items_total: page.total,
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown,
            prev: (offset > 0).then(|| href(filter, (offset - ITEMS_PER_PAGE).max(0))),
            next: (offset + shown < page.total).then(|| href(filter, offset + shown)),
            job_id: job.id,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sync_job::Counts;

    fn counts(rows: &[(&str, &[&str])]) -> Counts {
        let mut c = Counts::new();
        for (kind, actions) in rows {
            for a in *actions {
                c.entry((*kind).to_owned()).or_default().add(a);
            }
        }
        c
    }

    #[test]
    fn plan_summary_reads_as_the_plan() {
        let c = counts(&[
            (
                "user",
                &["create", "create", "update", "bind", "same", "delete"],
            ),
            ("group", &["create"]),
            ("group_member", &["add", "add", "remove"]),
        ]);
        assert_eq!(
            plan_summary(&c),
            "would create 2 users and 1 group; would update 1 user; would deprovision 1 user; \
             would bind 1 user; would add 2 group members; would remove 1 group member; 1 up to date"
        );
        let c = counts(&[("user", &["same", "same"]), ("group", &["same"])]);
        assert_eq!(plan_summary(&c), "nothing to change (3 up to date)");
        assert_eq!(
            plan_summary(&Counts::new()),
            "nothing to change (0 up to date)"
        );
        let c = counts(&[("user", &["failed"])]);
        assert_eq!(plan_summary(&c), "1 object cannot be pushed");
    }

    #[test]
    fn labels_and_times() {
        assert_eq!(plan_label("create"), "would create");
        assert_eq!(plan_label("same"), "unchanged");
        assert_eq!(plan_label("failed"), "failed");
        assert_eq!(when(None), "–");
        assert_eq!(when(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(Some(1_700_000_000)), "2023-11-14 22:13:20 UTC");
    }
}
