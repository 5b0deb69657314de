//! Sync records and the provisioning outbox: the admin API under
//! `/api/v1/instances/{iid}/apps/{app_id}/provisioning/…` ("Push Now", dry run, job list and
//! progress, per-object results, pending and dead-lettered entries, retry) and the console page
//! `/i/{iid}/console/apps/{app_id}/sync`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::auth::{AdminAuth, ConsoleAdmin};
use super::signin::{render, see_other};
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
