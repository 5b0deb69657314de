//! `/Users`: create, get, list/search, replace, PATCH, delete — each one transaction.
//!
//! * `userName` is unique case-insensitively (409 uniqueness) and immutable except for its letter
//!   case (400 mutability).
//! * `active: false` disables logon and ends the user's portal sessions, as the console does; an
//!   absent `active` on PUT keeps the current status. `active` never sent (or removed by PATCH) is
//!   "unassigned", which Cloud SSO reads as enabled: a PATCH `remove active` enables the user, and
//!   an enabled user with `active` unassigned is returned without `active`.
//! * DELETE removes memberships (bumping the groups' versions) and sessions; it is refused with 409
//!   while access assignments or RAM user provisionings reference the user (products.md §2.2).

use ::scim::list::ListQuery;
use ::scim::patch::{PatchRequest, apply_patch};
use ::scim::schema::{ResourceSchema, ValidateMode, validate_resource};
use ::scim::{ScimError, ScimType};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::filter_sql::Resource;
use super::mapping::{self, UserFields};
use super::{
    Ctx, IdPath, ListPlan, MAX_BODY_BYTES, Outcome, Query, ScimAuth, ScimErr, St, check_if_match,
    if_match, list_response, parse_query, project_outcome, read_json, record, refuse_if_referenced,
    scim_error, wants,
};
use crate::audit::NewAuditEvent;
use crate::directory::prefixed_id;
use crate::ram_user_provisioning::{MembershipChange, enqueue_membership_events};
use crate::store::{self, scim as sql};
use crate::user::{ProvisionType, UserStatus};

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("user {id} not found"))
}

fn outcome(
    ctx: &Ctx<'_>,
    status: StatusCode,
    row: &sql::ScimUserRow,
    groups: &[sql::MemberRef],
) -> Outcome {
    let base = ctx.scim_base();
    Outcome::resource(
        status,
        mapping::user_json(row, groups, &base),
        row.version,
        format!("{base}/Users/{}", row.id),
    )
}

fn audit(ctx: &Ctx<'_>, verb: &str, user_id: &str, detail: Value) -> NewAuditEvent {
    ctx.audit("user", verb, user_id, detail)
}

/// POST /Users.
pub async fn create(ctx: &Ctx<'_>, body: &Value) -> Result<Outcome, ScimError> {
    let rs = ResourceSchema::user();
    let valid = validate_resource(body, &rs, ValidateMode::Create)?;
    let f = mapping::user_fields(&valid)?;
    let now = ctx.services.now();
    let mut row = sql::ScimUserRow {
        id: prefixed_id("u", 20),
        directory_id: ctx.directory_id().to_owned(),
        user_name: String::new(),
        display_name: String::new(),
        email: None,
        email_type: None,
        first_name: String::new(),
        last_name: String::new(),
        status: UserStatus::Enabled,
        provision_type: ProvisionType::Synchronized,
        external_id: None,
        extra: json!({}),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    mapping::apply_user_fields(&mut row, f);
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    sql::insert_user(&mut tx, &row).await.map_err(scim_error)?;
    let ev = audit(
        ctx,
        "create",
        &row.id,
        json!({ "user_name": row.user_name, "via": "scim" }),
    );
    record(&mut tx, &ev, now).await?;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(outcome(ctx, StatusCode::CREATED, &row, &[]))
}

/// GET /Users/{id}.
pub async fn get(ctx: &Ctx<'_>, id: &str) -> Result<Outcome, ScimError> {
    let mut conn = ctx.services.store.read().await.map_err(scim_error)?;
    let row = sql::USERS
        .get(&mut conn, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    let groups = sql::groups_of_users(&mut conn, std::slice::from_ref(&row.id))
        .await
        .map_err(scim_error)?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(outcome(ctx, StatusCode::OK, &row, &groups))
}

/// How a write changes a user: from a full body (PUT) or a PATCH.
enum Change<'a> {
    Replace(&'a Value),
    Patch(&'a Value),
}

async fn modify(
    ctx: &Ctx<'_>,
    id: &str,
    change: Change<'_>,
    if_match: Option<&str>,
) -> Result<Outcome, ScimError> {
    let rs = ResourceSchema::user();
    let mut removed_active = false;
    // Parse the PATCH document before taking the write lock.
    let patch = match change {
        Change::Patch(body) => Some(PatchRequest::from_json(body)?),
        Change::Replace(_) => None,
    };
    let now = ctx.services.now();
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    let existing = sql::USERS
        .get(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    check_if_match(if_match, existing.version)?;
    let groups = sql::groups_of_users(&mut tx, std::slice::from_ref(&existing.id))
        .await
        .map_err(scim_error)?
        .remove(&existing.id)
        .unwrap_or_default();
    let current = mapping::user_json(&existing, &groups, &ctx.scim_base());
    let valid = match (change, &patch) {
        (Change::Replace(body), _) => {
            validate_resource(body, &rs, ValidateMode::Replace { existing: &current })?
        }
        (Change::Patch(_), Some(p)) => {
            let mut patched = current.clone();
            apply_patch(&mut patched, &p.operations, &rs)?;
            validate_resource(
                &patched,
                &rs,
                ValidateMode::PatchResult { existing: &current },
            )?
        }
        (Change::Patch(_), None) => {
            return Err(ScimError::internal("PATCH document missing"));
        }
    };
    let f: UserFields = mapping::user_fields(&valid)?;
    // A PATCH that removes `active` makes it unassigned, which Cloud SSO reads as enabled (the
    // same as a user created without `active`); a PUT without it keeps the status.
    if patch.is_some() && f.active.is_none() && current.get("active").is_some() {
        removed_active = true;
    }
    if f.user_name.to_lowercase() != existing.user_name.to_lowercase() {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            "userName cannot be changed (only its letter case)",
        ));
    }
    let mut row = existing.clone();
    mapping::apply_user_fields(&mut row, f);
    if removed_active {
        row.status = UserStatus::Enabled;
    }
    row.provision_type = ProvisionType::Synchronized;
    row.updated_at = now;
    row.version = sql::update_user(&mut tx, &row).await.map_err(scim_error)?;
    if row.display_name != existing.display_name || row.user_name != existing.user_name {
        // The groups' `members[].display` shows the display name (else the user name).
        store::user::touch_groups_of(&mut tx, &row.id, now)
            .await
            .map_err(scim_error)?;
    }
    if existing.status == UserStatus::Enabled && row.status == UserStatus::Disabled {
        store::session::delete_for_user(&mut tx, &row.id)
            .await
            .map_err(scim_error)?;
    }
    let mut detail = json!({ "via": "scim", "status": row.status });
    if existing.provision_type != ProvisionType::Synchronized {
        detail["adopted"] = json!(true);
    }
    let ev = audit(ctx, "update", &row.id, detail);
    record(&mut tx, &ev, now).await?;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(outcome(ctx, StatusCode::OK, &row, &groups))
}

/// PUT /Users/{id}.
pub async fn replace(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Outcome, ScimError> {
    modify(ctx, id, Change::Replace(body), if_match).await
}

/// PATCH /Users/{id}.
pub async fn patch(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Outcome, ScimError> {
    modify(ctx, id, Change::Patch(body), if_match).await
}

/// DELETE /Users/{id}.
pub async fn delete(ctx: &Ctx<'_>, id: &str, if_match: Option<&str>) -> Result<Outcome, ScimError> {
    let now = ctx.services.now();
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    let existing = sql::USERS
        .get(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    check_if_match(if_match, existing.version)?;
    refuse_if_referenced(&mut tx, "user", id).await?;
    let left = sql::remove_user_from_groups(&mut tx, id)
        .await
        .map_err(scim_error)?;
    // The user row still exists here (the events record its name).
    for group_id in &left {
        enqueue_membership_events(
            &mut tx,
            ctx.directory_id(),
            group_id,
            id,
            MembershipChange::Removed,
            now,
        )
        .await
        .map_err(scim_error)?;
    }
    sql::touch_groups(&mut tx, &left, now)
        .await
        .map_err(scim_error)?;
    store::session::delete_for_user(&mut tx, id)
        .await
        .map_err(scim_error)?;
    sql::USERS
        .delete(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?;
    let ev = audit(
        ctx,
        "delete",
        id,
        json!({ "user_name": existing.user_name, "via": "scim", "left_groups": left }),
    );
    record(&mut tx, &ev, now).await?;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(Outcome::no_content())
}

/// GET /Users and POST /Users/.search: a projected ListResponse.
pub async fn list(ctx: &Ctx<'_>, q: &ListQuery) -> Result<Value, ScimError> {
    let plan = ListPlan::new(ctx, q, Resource::User)?;
    let mut conn = ctx.services.store.read().await.map_err(scim_error)?;
    let total = sql::USERS
        .count(&mut conn, ctx.directory_id(), &plan.filter)
        .await
        .map_err(scim_error)?;
    let rows = sql::USERS
        .list(
            &mut conn,
            ctx.directory_id(),
            &plan.filter,
            &plan.order_by,
            plan.offset,
            plan.limit,
        )
        .await
        .map_err(scim_error)?;
    let mut groups = if wants(q, "groups") {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        sql::groups_of_users(&mut conn, &ids)
            .await
            .map_err(scim_error)?
    } else {
        Default::default()
    };
    let base = ctx.scim_base();
    let resources = rows.iter().map(|r| {
        let g = groups.remove(&r.id).unwrap_or_default();
        mapping::user_json(r, &g, &base)
    });
    Ok(list_response(q, &ResourceSchema::user(), total, resources))
}

/// Handler: POST /Users.
pub async fn http_create(
    st: St,
    auth: ScimAuth,
    query: Query,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), false)?;
    let body = read_json(&headers, body, MAX_BODY_BYTES).await?;
    let o = create(&Ctx::of(&st, &auth), &body).await?;
    Ok(project_outcome(o, &q, &ResourceSchema::user()))
}

/// Handler: GET /Users/{id} (`If-None-Match` matching the ETag → 304).
pub async fn http_get(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    query: Query,
    headers: HeaderMap,
) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), false)?;
    let o = get(&Ctx::of(&st, &auth), &id.0).await?;
    let o = super::not_modified_if(&headers, o);
    Ok(project_outcome(o, &q, &ResourceSchema::user()))
}

/// Handler: GET /Users.
pub async fn http_list(st: St, auth: ScimAuth, query: Query) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), true)?;
    Ok(Outcome::ok(list(&Ctx::of(&st, &auth), &q).await?))
}

/// Handler: POST /Users/.search.
pub async fn http_search(
    st: St,
    auth: ScimAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    let body = read_json(&headers, body, MAX_BODY_BYTES).await?;
    let q = ListQuery::from_search_request(&body)?;
    Ok(Outcome::ok(list(&Ctx::of(&st, &auth), &q).await?))
}

/// PUT and PATCH: the body read as `change`, the outcome projected by the query.
async fn http_modify(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    query: Query,
    headers: HeaderMap,
    body: Body,
    change: fn(&Value) -> Change<'_>,
) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), false)?;
    let body = read_json(&headers, body, MAX_BODY_BYTES).await?;
    let ctx = Ctx::of(&st, &auth);
    let o = modify(&ctx, &id.0, change(&body), if_match(&headers).as_deref()).await?;
    Ok(project_outcome(o, &q, &ResourceSchema::user()))
}

/// Handler: PUT /Users/{id}.
pub async fn http_replace(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    query: Query,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    http_modify(st, auth, id, query, headers, body, |b| Change::Replace(b)).await
}

/// Handler: PATCH /Users/{id}.
pub async fn http_patch(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    query: Query,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    http_modify(st, auth, id, query, headers, body, |b| Change::Patch(b)).await
}

/// Handler: DELETE /Users/{id}.
pub async fn http_delete(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    headers: HeaderMap,
) -> Result<Outcome, ScimErr> {
    Ok(delete(&Ctx::of(&st, &auth), &id.0, if_match(&headers).as_deref()).await?)
}
