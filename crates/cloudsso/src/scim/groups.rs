//! `/Groups`: create, get, list/search, replace, PATCH (members add/remove/replace, value filters),
//! delete — each one transaction.
//!
//! * `displayName` follows the Cloud SSO group-name rules (letters, digits, `_-.`, ≤ 128: otherwise
//!   400 invalidValue) and is unique case-insensitively (409 uniqueness). Renaming is allowed.
//! * `members` are users of the same directory (an unknown id or a `type` other than `User` is
//!   400 invalidValue); each added or removed membership is audited like the console's.
//! * DELETE removes the memberships with the group; it is refused with 409 while access assignments
//!   or RAM user provisionings reference the group (products.md §2.2).
//! * A PATCH `remove` of `members` with a `value` list (Azure AD's form) removes those members only,
//!   not all of them.

use std::collections::HashSet;

use ::scim::ScimError;
use ::scim::list::ListQuery;
use ::scim::patch::{PatchOp, PatchOpKind, PatchRequest, apply_patch};
use ::scim::path::PatchPath;
use ::scim::schema::{ResourceSchema, ValidateMode, validate_resource};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::filter_sql::Resource;
use super::mapping::{self, GroupFields};
use super::{
    Ctx, IdPath, ListPlan, MAX_BODY_BYTES, Outcome, Query, ScimAuth, ScimErr, St, check_if_match,
    if_match, list_response, parse_query, project_outcome, read_json, record, refuse_if_referenced,
    scim_error, wants,
};
use crate::audit::NewAuditEvent;
use crate::directory::prefixed_id;
use crate::ram_user_provisioning::{MembershipChange, enqueue_membership_events};
use crate::store::{self, Conn, scim as sql};
use crate::user::ProvisionType;

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("group {id} not found"))
}

fn outcome(
    ctx: &Ctx<'_>,
    status: StatusCode,
    row: &sql::ScimGroupRow,
    members: &[sql::MemberRef],
) -> Outcome {
    let base = ctx.scim_base();
    Outcome::resource(
        status,
        mapping::group_json(row, members, &base),
        row.version,
        format!("{base}/Groups/{}", row.id),
    )
}

fn audit(ctx: &Ctx<'_>, verb: &str, group_id: &str, detail: Value) -> NewAuditEvent {
    ctx.audit("group", verb, group_id, detail)
}

/// 400 invalidValue unless every id is a user of the directory.
async fn check_members(conn: &mut Conn, ctx: &Ctx<'_>, ids: &[String]) -> Result<(), ScimError> {
    let found: HashSet<String> = sql::existing_user_ids(conn, ctx.directory_id(), ids)
        .await
        .map_err(scim_error)?
        .into_iter()
        .collect();
    if let Some(missing) = ids.iter().find(|id| !found.contains(*id)) {
        return Err(ScimError::bad_request(
            ::scim::ScimType::InvalidValue,
            format!("member {missing:?} is not a user of this directory"),
        ));
    }
    Ok(())
}

/// Makes the memberships of `group_id` equal `wanted` (auditing each change); returns whether any
/// changed.
async fn sync_members(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    group_id: &str,
    current: &[sql::MemberRef],
    wanted: &[String],
    now: i64,
) -> Result<bool, ScimError> {
    let have: HashSet<&str> = current.iter().map(|m| m.id.as_str()).collect();
    let want: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let added: Vec<String> = wanted
        .iter()
        .filter(|w| !have.contains(w.as_str()))
        .cloned()
        .collect();
    check_members(conn, ctx, &added).await?;
    let mut changed = false;
    for uid in &added {
        if sql::add_member(conn, group_id, uid, now)
            .await
            .map_err(scim_error)?
        {
            changed = true;
            enqueue_membership_events(
                conn,
                ctx.directory_id(),
                group_id,
                uid,
                MembershipChange::Added,
                now,
            )
            .await
            .map_err(scim_error)?;
            let ev = audit(
                ctx,
                "add_member",
                group_id,
                json!({ "user_id": uid, "via": "scim" }),
            );
            record(conn, &ev, now).await?;
        }
    }
    for m in current.iter().filter(|m| !want.contains(m.id.as_str())) {
        if sql::remove_member(conn, group_id, &m.id, now)
            .await
            .map_err(scim_error)?
        {
            changed = true;
            enqueue_membership_events(
                conn,
                ctx.directory_id(),
                group_id,
                &m.id,
                MembershipChange::Removed,
                now,
            )
            .await
            .map_err(scim_error)?;
            let ev = audit(
                ctx,
                "remove_member",
                group_id,
                json!({ "user_id": m.id, "via": "scim" }),
            );
            record(conn, &ev, now).await?;
        }
    }
    Ok(changed)
}

async fn members_of(conn: &mut Conn, group_id: &str) -> Result<Vec<sql::MemberRef>, ScimError> {
    Ok(sql::members_of_groups(conn, &[group_id.to_owned()])
        .await
        .map_err(scim_error)?
        .remove(group_id)
        .unwrap_or_default())
}

/// POST /Groups.
pub async fn create(ctx: &Ctx<'_>, body: &Value) -> Result<Outcome, ScimError> {
    let rs = ResourceSchema::group();
    let valid = validate_resource(body, &rs, ValidateMode::Create)?;
    let f: GroupFields = mapping::group_fields(&valid)?;
    let now = ctx.services.now();
    let mut row = sql::ScimGroupRow {
        id: prefixed_id("g", 20),
        directory_id: ctx.directory_id().to_owned(),
        name: f.name,
        provision_type: ProvisionType::Synchronized,
        external_id: f.external_id,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    sql::insert_group(&mut tx, &row).await.map_err(scim_error)?;
    let ev = audit(
        ctx,
        "create",
        &row.id,
        json!({ "group_name": row.name, "via": "scim" }),
    );
    record(&mut tx, &ev, now).await?;
    sync_members(&mut tx, ctx, &row.id, &[], &f.members, now).await?;
    let members = members_of(&mut tx, &row.id).await?;
    // The version counts the creation only (members were part of it).
    row.version = 1;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(outcome(ctx, StatusCode::CREATED, &row, &members))
}

/// GET /Groups/{id}.
pub async fn get(ctx: &Ctx<'_>, id: &str, with_members: bool) -> Result<Outcome, ScimError> {
    let mut conn = ctx.services.store.read().await.map_err(scim_error)?;
    let row = sql::GROUPS
        .get(&mut conn, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    let members = if with_members {
        members_of(&mut conn, &row.id).await?
    } else {
        Vec::new()
    };
    Ok(outcome(ctx, StatusCode::OK, &row, &members))
}

/// Azure AD sends `{"op":"remove","path":"members","value":[{"value":"id"}]}` meaning "remove these";
/// RFC 7644 would remove every member. Rewrite it to one value-filtered remove per listed member.
fn rewrite_member_removals(ops: Vec<PatchOp>) -> Result<Vec<PatchOp>, ScimError> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let is_plain_members = op.path.as_ref().is_some_and(|p| {
            p.attr.name.eq_ignore_ascii_case("members")
                && p.attr.sub.is_none()
                && p.value_filter.is_none()
                && p.sub_attr.is_none()
        });
        let values: Option<Vec<String>> = match (&op.op, is_plain_members, &op.value) {
            (PatchOpKind::Remove, true, Some(Value::Array(items))) if !items.is_empty() => items
                .iter()
                .map(|i| i["value"].as_str().map(str::to_owned))
                .collect(),
            _ => None,
        };
        match values {
            Some(values) => {
                for v in values {
                    let path = PatchPath::parse(&format!("members[value eq {}]", json!(v)))?;
                    out.push(PatchOp {
                        op: PatchOpKind::Remove,
                        path: Some(path),
                        value: None,
                    });
                }
            }
            None => out.push(op),
        }
    }
    Ok(out)
}

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
    let rs = ResourceSchema::group();
    let ops = match change {
        Change::Patch(body) => Some(rewrite_member_removals(
            PatchRequest::from_json(body)?.operations,
        )?),
        Change::Replace(_) => None,
    };
    let now = ctx.services.now();
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    let existing = sql::GROUPS
        .get(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    check_if_match(if_match, existing.version)?;
    let members = members_of(&mut tx, id).await?;
    let current = mapping::group_json(&existing, &members, &ctx.scim_base());
    let valid = match (change, &ops) {
        (Change::Replace(body), _) => {
            validate_resource(body, &rs, ValidateMode::Replace { existing: &current })?
        }
        (Change::Patch(_), Some(ops)) => {
            let mut patched = current.clone();
            apply_patch(&mut patched, ops, &rs)?;
            validate_resource(
                &patched,
                &rs,
                ValidateMode::PatchResult { existing: &current },
            )?
        }
        (Change::Patch(_), None) => return Err(ScimError::internal("PATCH document missing")),
    };
    let f = mapping::group_fields(&valid)?;
    let mut row = existing.clone();
    row.name = f.name;
    row.external_id = f.external_id;
    row.provision_type = ProvisionType::Synchronized;
    row.updated_at = now;
    sync_members(&mut tx, ctx, id, &members, &f.members, now).await?;
    row.version = sql::update_group(&mut tx, &row).await.map_err(scim_error)?;
    if row.name != existing.name {
        // The members' `groups[].display` shows the name.
        store::group::touch_members(&mut tx, id, now)
            .await
            .map_err(scim_error)?;
    }
    let mut detail = json!({ "group_name": row.name, "via": "scim" });
    if existing.provision_type != ProvisionType::Synchronized {
        detail["adopted"] = json!(true);
    }
    let ev = audit(ctx, "update", id, detail);
    record(&mut tx, &ev, now).await?;
    let members = members_of(&mut tx, id).await?;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(outcome(ctx, StatusCode::OK, &row, &members))
}

/// PUT /Groups/{id} (the member list is replaced as a whole).
pub async fn replace(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Outcome, ScimError> {
    modify(ctx, id, Change::Replace(body), if_match).await
}

/// PATCH /Groups/{id}.
pub async fn patch(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Outcome, ScimError> {
    modify(ctx, id, Change::Patch(body), if_match).await
}

/// DELETE /Groups/{id}.
pub async fn delete(ctx: &Ctx<'_>, id: &str, if_match: Option<&str>) -> Result<Outcome, ScimError> {
    let now = ctx.services.now();
    let mut tx = ctx.services.store.begin_write().await.map_err(scim_error)?;
    let existing = sql::GROUPS
        .get(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?
        .ok_or_else(|| not_found(id))?;
    check_if_match(if_match, existing.version)?;
    refuse_if_referenced(&mut tx, "group", id).await?;
    let removed = sql::remove_all_members(&mut tx, id, now)
        .await
        .map_err(scim_error)?;
    for uid in &removed {
        enqueue_membership_events(
            &mut tx,
            ctx.directory_id(),
            id,
            uid,
            MembershipChange::Removed,
            now,
        )
        .await
        .map_err(scim_error)?;
        let ev = audit(
            ctx,
            "remove_member",
            id,
            json!({ "user_id": uid, "via": "scim" }),
        );
        record(&mut tx, &ev, now).await?;
    }
    sql::GROUPS
        .delete(&mut tx, ctx.directory_id(), id)
        .await
        .map_err(scim_error)?;
    let ev = audit(
        ctx,
        "delete",
        id,
        json!({ "group_name": existing.name, "via": "scim" }),
    );
    record(&mut tx, &ev, now).await?;
    tx.commit().await.map_err(|e| scim_error(e.into()))?;
    Ok(Outcome::no_content())
}

/// GET /Groups and POST /Groups/.search: a projected ListResponse.
pub async fn list(ctx: &Ctx<'_>, q: &ListQuery) -> Result<Value, ScimError> {
    let plan = ListPlan::new(ctx, q, Resource::Group)?;
    let mut conn = ctx.services.store.read().await.map_err(scim_error)?;
    let total = sql::GROUPS
        .count(&mut conn, ctx.directory_id(), &plan.filter)
        .await
        .map_err(scim_error)?;
    let rows = sql::GROUPS
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
    let mut members = if wants(q, "members") {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        sql::members_of_groups(&mut conn, &ids)
            .await
            .map_err(scim_error)?
    } else {
        Default::default()
    };
    let base = ctx.scim_base();
    let resources = rows.iter().map(|r| {
        let m = members.remove(&r.id).unwrap_or_default();
        mapping::group_json(r, &m, &base)
    });
    Ok(list_response(q, &ResourceSchema::group(), total, resources))
}

/// Handler: POST /Groups.
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
    Ok(project_outcome(o, &q, &ResourceSchema::group()))
}

/// Handler: GET /Groups/{id} (`If-None-Match` matching the ETag → 304).
pub async fn http_get(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    query: Query,
    headers: HeaderMap,
) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), false)?;
    let o = get(&Ctx::of(&st, &auth), &id.0, wants(&q, "members")).await?;
    let o = super::not_modified_if(&headers, o);
    Ok(project_outcome(o, &q, &ResourceSchema::group()))
}

/// Handler: GET /Groups.
pub async fn http_list(st: St, auth: ScimAuth, query: Query) -> Result<Outcome, ScimErr> {
    let q = parse_query(query.0.as_deref(), true)?;
    Ok(Outcome::ok(list(&Ctx::of(&st, &auth), &q).await?))
}

/// Handler: POST /Groups/.search.
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
    Ok(project_outcome(o, &q, &ResourceSchema::group()))
}

/// Handler: PUT /Groups/{id}.
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

/// Handler: PATCH /Groups/{id}.
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

/// Handler: DELETE /Groups/{id}.
pub async fn http_delete(
    st: St,
    auth: ScimAuth,
    id: IdPath,
    headers: HeaderMap,
) -> Result<Outcome, ScimErr> {
    Ok(delete(&Ctx::of(&st, &auth), &id.0, if_match(&headers).as_deref()).await?)
}
