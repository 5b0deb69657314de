//! `/Bulk` (RFC 7644 §3.7): at most [`BULK_MAX_OPERATIONS`] operations and [`BULK_MAX_PAYLOAD`]
//! bytes (413 beyond), each operation its own transaction (the RFC does not make a bulk request
//! atomic), `failOnErrors`, and `bulkId:` references in paths and data. An operation that refers
//! to a bulkId created later in the same request waits until that POST ran; references that can
//! never resolve (a cycle, a failed POST, an unknown bulkId) fail with 409 invalidValue.

use std::collections::{HashMap, HashSet};

use ::scim::ScimError;
use ::scim::bulk::{
    BULK_ID_PREFIX, BulkOperation, BulkOperationResult, BulkRequest, BulkResponse, bulk_id_refs,
    resolve_bulk_ids, resolve_bulk_path,
};
use axum::body::Body;
use axum::http::HeaderMap;

use super::{
    BULK_MAX_OPERATIONS, BULK_MAX_PAYLOAD, Ctx, Outcome, ScimAuth, ScimErr, St, groups, read_json,
    users,
};

/// The bulkIds an operation refers to (in its path and data).
fn refs_of(op: &BulkOperation) -> Vec<String> {
    let mut refs = op.data.as_ref().map(bulk_id_refs).unwrap_or_default();
    if let Some((_, last)) = op.path.rsplit_once('/')
        && let Some(r) = last.strip_prefix(BULK_ID_PREFIX)
        && !refs.iter().any(|x| x == r)
    {
        refs.push(r.to_owned());
    }
    refs
}

/// Runs one operation with its references resolved.
async fn run(
    ctx: &Ctx<'_>,
    op: &BulkOperation,
    ids: &HashMap<String, String>,
) -> Result<Outcome, ScimError> {
    let path = resolve_bulk_path(&op.path, ids)?;
    let mut data = op.data.clone();
    if let Some(d) = data.as_mut() {
        resolve_bulk_ids(d, ids)?;
    }
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let (endpoint, id) = match rest.split_once('/') {
        Some((e, id)) => (e, Some(id)),
        None => (rest, None),
    };
    let version = op.version.as_deref();
    let body = || {
        data.as_ref().ok_or_else(|| {
            ScimError::bad_request(::scim::ScimType::InvalidSyntax, "data is required")
        })
    };
    let users = endpoint.eq_ignore_ascii_case("Users");
    let groups = endpoint.eq_ignore_ascii_case("Groups");
    match (op.method.as_str(), users, groups, id) {
        ("POST", true, _, None) => users::create(ctx, body()?).await,
        ("PUT", true, _, Some(id)) => users::replace(ctx, id, body()?, version).await,
        ("PATCH", true, _, Some(id)) => users::patch(ctx, id, body()?, version).await,
        ("DELETE", true, _, Some(id)) => users::delete(ctx, id, version).await,
        ("POST", _, true, None) => groups::create(ctx, body()?).await,
        ("PUT", _, true, Some(id)) => groups::replace(ctx, id, body()?, version).await,
        ("PATCH", _, true, Some(id)) => groups::patch(ctx, id, body()?, version).await,
        ("DELETE", _, true, Some(id)) => groups::delete(ctx, id, version).await,
        _ => Err(ScimError::not_found(format!(
            "{} {} is not a bulk operation this server supports",
            op.method, op.path
        ))),
    }
}

/// Processes a parsed bulk request.
pub async fn process(ctx: &Ctx<'_>, req: &BulkRequest) -> BulkResponse {
    let ops = &req.operations;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut pending_posts: HashSet<&str> =
        ops.iter().filter_map(|o| o.bulk_id.as_deref()).collect();
    let mut results: Vec<BulkOperationResult> = Vec::with_capacity(ops.len());
    let mut errors: u32 = 0;
    let mut pending: Vec<usize> = (0..ops.len()).collect();
    'passes: loop {
        let mut deferred = Vec::new();
        let mut progressed = false;
        for i in pending {
            let op = &ops[i];
            let waiting = refs_of(op)
                .iter()
                .filter(|r| !ids.contains_key(*r))
                .all(|r| {
                    pending_posts.contains(r.as_str()) && op.bulk_id.as_deref() != Some(r.as_str())
                });
            let unresolved = refs_of(op).iter().any(|r| !ids.contains_key(r));
            if unresolved && waiting {
                deferred.push(i);
                continue;
            }
            progressed = true;
            let result = run(ctx, op, &ids).await;
            if op.method == "POST"
                && let Some(b) = op.bulk_id.as_deref()
            {
                pending_posts.remove(b);
            }
            match result {
                Ok(o) => {
                    if op.method == "POST"
                        && let (Some(b), Some(id)) = (
                            op.bulk_id.as_ref(),
                            o.body.as_ref().and_then(|v| v["id"].as_str()),
                        )
                    {
                        ids.insert(b.clone(), id.to_owned());
                    }
                    results.push(BulkOperationResult {
                        method: op.method.clone(),
                        bulk_id: op.bulk_id.clone(),
                        version: o.etag,
                        location: o.location,
                        status: o.status.as_u16().to_string(),
                        response: None,
                    });
                }
                Err(e) => {
                    errors += 1;
                    results.push(BulkOperationResult::error(
                        &op.method,
                        op.bulk_id.clone(),
                        &e,
                    ));
                    if req.fail_on_errors.is_some_and(|n| errors >= n) {
                        break 'passes;
                    }
                }
            }
        }
        if deferred.is_empty() {
            break;
        }
        if !progressed {
            // Only cycles are left: each waits for another.
            for i in deferred {
                let op = &ops[i];
                let missing = refs_of(op)
                    .into_iter()
                    .find(|r| !ids.contains_key(r))
                    .unwrap_or_default();
                let e = ScimError::conflict(
                    ::scim::ScimType::InvalidValue,
                    format!("bulkId {missing:?} could not be resolved (circular reference)"),
                );
                errors += 1;
                results.push(BulkOperationResult::error(
                    &op.method,
                    op.bulk_id.clone(),
                    &e,
                ));
                if req.fail_on_errors.is_some_and(|n| errors >= n) {
                    break;
                }
            }
            break;
        }
        pending = deferred;
    }
    BulkResponse {
        operations: results,
    }
}

/// Handler: POST /Bulk.
pub async fn http_bulk(
    st: St,
    auth: ScimAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Outcome, ScimErr> {
    let body = read_json(&headers, body, BULK_MAX_PAYLOAD).await?;
    let req = BulkRequest::from_json_limited(&body, BULK_MAX_OPERATIONS)?;
    let resp = process(&Ctx::of(&st, &auth), &req).await;
    Ok(Outcome::ok(resp.to_json()))
}
