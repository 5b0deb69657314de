//! `POST /.search` at the root: one query over Users and Groups (RFC 7644 §3.4.3).
//!
//! * **Filter.** Applied to both resource types. An attribute that one type does not have is
//!   treated on that type as having no value (RFC 7644 §3.4.2.2): `pr` and every comparison are
//!   false, except `ne` (with a non-null value) and `eq null`, which are true — exactly what the
//!   type's own endpoint does for an attribute without a value, so `not (a eq x)` and `a ne x`
//!   agree. E.g. `userName sw "a"` returns no groups, `members pr` no users. A filter naming an
//!   attribute that neither type has (or cannot filter on) is `400 invalidFilter`, as is one that is
//!   invalid for a type that has the attribute (`userName eq 5`).
//! * **Order and paging.** Without `sortBy`: Users, then Groups, each oldest first; `startIndex`
//!   and `count` page across the concatenation and `totalResults` counts both types.
//! * **sortBy** orders the whole result across both types. An attribute only one type has is
//!   allowed: on the other type it has no value, and resources without a value come last (as on the
//!   per-type endpoints). One that neither type can sort on is `400 invalidValue` (as on the
//!   per-type endpoints).
//! * **attributes / excludedAttributes** are applied per type with that type's schema; a path the
//!   type does not have is ignored for it (a group asked for `attributes=userName` returns its
//!   `returned: always` attributes only).

use std::collections::HashMap;

use ::scim::list::{ListQuery, ListResponse, SortOrder};
use ::scim::schema::ResourceSchema;
use ::scim::{ScimError, ScimType};
use axum::body::Body;
use axum::http::HeaderMap;
use serde_json::Value;

use super::filter_sql::{self, Resource};
use super::{
    Ctx, MAX_BODY_BYTES, Outcome, ScimAuth, ScimErr, St, mapping, read_json, scim_error, wants,
};
use crate::store::scim as sql;

/// The filters of both types, refusing attributes that neither has.
fn filters(
    q: &ListQuery,
    backend: db::Backend,
    users_first: usize,
    groups_first: usize,
) -> Result<(sql::SqlWhere, sql::SqlWhere), ScimError> {
    let f = q.filter.as_ref();
    let (users, absent_u) = filter_sql::translate_lenient(f, Resource::User, backend, users_first)?;
    let (groups, absent_g) =
        filter_sql::translate_lenient(f, Resource::Group, backend, groups_first)?;
    if let Some(path) = absent_u
        .iter()
        .find(|p| absent_g.iter().any(|g| g.eq_ignore_ascii_case(p)))
    {
        return Err(ScimError::bad_request(
            ScimType::InvalidFilter,
            format!("attribute {path:?} is not supported in filters of Users or Groups"),
        ));
    }
    Ok((users, groups))
}

/// The ORDER BY of the union, and each side's (absent, value) sort columns.
struct Order {
    order_by: String,
    users: (String, String),
    groups: (String, String),
}

fn order(q: &ListQuery, backend: db::Backend) -> Result<Order, ScimError> {
    let Some(path) = q.sort_by.as_ref() else {
        return Ok(Order {
            order_by: "t.r, t.c, t.id".to_owned(),
            users: ("0".to_owned(), "NULL".to_owned()),
            groups: ("0".to_owned(), "NULL".to_owned()),
        });
    };
    let ku = filter_sql::sort_key(path, Resource::User);
    let kg = filter_sql::sort_key(path, Resource::Group);
    let Some(text) = ku.or(kg).map(|k| k.text) else {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("sortBy {path} is not supported by Users or Groups"),
        ));
    };
    let side = |k: Option<filter_sql::SortKey>| match k {
        Some(k) => (
            format!("CASE WHEN {} THEN 0 ELSE 1 END", k.present),
            k.expr.to_owned(),
        ),
        None => ("1".to_owned(), "NULL".to_owned()),
    };
    let dir = if q.sort_order == SortOrder::Descending {
        "DESC"
    } else {
        "ASC"
    };
    let collate = match (text, backend) {
        (true, db::Backend::Postgres) => " COLLATE \"C\"",
        _ => "",
    };
    Ok(Order {
        order_by: format!("t.p, t.k{collate} {dir}, t.id {dir}"),
        users: side(ku),
        groups: side(kg),
    })
}

/// POST /.search: a projected ListResponse of users and groups.
pub async fn search(ctx: &Ctx<'_>, q: &ListQuery) -> Result<Value, ScimError> {
    let backend = ctx.backend();
    // Counting numbers each side's placeholders from $2; the union numbers the groups' after the
    // users'.
    let (count_u, count_g) = filters(q, backend, 2, 2)?;
    let (union_u, union_g) = filters(q, backend, 2, 2 + count_u.binds.len())?;
    let ord = order(q, backend)?;
    let limit = super::page_size(q);
    let dir = ctx.directory_id();
    let mut conn = ctx.services.store.read().await.map_err(scim_error)?;
    let total = sql::USERS
        .count(&mut conn, dir, &count_u)
        .await
        .map_err(scim_error)?
        + sql::GROUPS
            .count(&mut conn, dir, &count_g)
            .await
            .map_err(scim_error)?;
    let page = sql::search_users_and_groups(
        &mut conn,
        dir,
        sql::SearchSide {
            filter: &union_u,
            sort_absent: &ord.users.0,
            sort_value: &ord.users.1,
        },
        sql::SearchSide {
            filter: &union_g,
            sort_absent: &ord.groups.0,
            sort_value: &ord.groups.1,
        },
        &ord.order_by,
        q.offset(),
        limit,
    )
    .await
    .map_err(scim_error)?;
    let user_ids: Vec<String> = page
        .iter()
        .filter(|(u, _)| *u)
        .map(|(_, id)| id.clone())
        .collect();
    let group_ids: Vec<String> = page
        .iter()
        .filter(|(u, _)| !*u)
        .map(|(_, id)| id.clone())
        .collect();
    let mut users: HashMap<String, sql::ScimUserRow> = sql::USERS
        .by_ids(&mut conn, dir, &user_ids)
        .await
        .map_err(scim_error)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut groups: HashMap<String, sql::ScimGroupRow> = sql::GROUPS
        .by_ids(&mut conn, dir, &group_ids)
        .await
        .map_err(scim_error)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut groups_of = if wants(q, "groups") && !user_ids.is_empty() {
        sql::groups_of_users(&mut conn, &user_ids)
            .await
            .map_err(scim_error)?
    } else {
        HashMap::new()
    };
    let mut members_of = if wants(q, "members") && !group_ids.is_empty() {
        sql::members_of_groups(&mut conn, &group_ids)
            .await
            .map_err(scim_error)?
    } else {
        HashMap::new()
    };
    drop(conn);
    let base = ctx.scim_base();
    let (rs_user, rs_group) = (ResourceSchema::user(), ResourceSchema::group());
    let mut resources = Vec::with_capacity(page.len());
    for (is_user, id) in &page {
        // A row deleted between the two reads is left out of the page.
        let v = if *is_user {
            users.remove(id).map(|row| {
                let g = groups_of.remove(id).unwrap_or_default();
                super::projected(mapping::user_json(&row, &g, &base), q, &rs_user)
            })
        } else {
            groups.remove(id).map(|row| {
                let m = members_of.remove(id).unwrap_or_default();
                super::projected(mapping::group_json(&row, &m, &base), q, &rs_group)
            })
        };
        resources.extend(v);
    }
    Ok(ListResponse::new(resources, total, q.start_index).to_json())
}

/// Handler: POST /.search.
pub async fn http_search(
    st: St,
    auth: ScimAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    let body = read_json(&headers, body, MAX_BODY_BYTES).await?;
    let q = ListQuery::from_search_request(&body)?;
    Ok(Outcome::ok(search(&Ctx::of(&st, &auth), &q).await?))
}
