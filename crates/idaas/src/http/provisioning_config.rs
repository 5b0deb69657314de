//! An application's provisioning configuration: the admin API
//! (`GET`/`PUT /api/v1/instances/{iid}/apps/{app_id}/provisioning`) and the console's Provisioning
//! tab (`/i/{iid}/console/apps/{app_id}/provisioning`, Post/Redirect/Get with the session's CSRF
//! token). Secrets are write-only: the API and the page only say whether one is stored.
//!
//! The sync records, "Push Now" and dead letters are served by the engine's pages; this tab links
//! to them (`/i/{iid}/console/apps/{app_id}/sync`).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{AdminAuth, ConsoleAdmin};
use super::signin::{message, render, see_other};
use super::{ApiJson, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::error::Error;
use crate::provisioning::config::{
    Action, AuthInput, AuthMode, AuthnMethod, Compatibility, DeprovisionMode, MappingInput,
    ProvisioningInput, ProvisioningScope, ProvisioningView,
};

/// Admin API routes of this area (merged by [`crate::http::router`]).
pub fn routes() -> ApiRoutes {
    let path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning";
    ApiRoutes::new()
        .get(path, get_provisioning)
        .put(path, put_provisioning)
}

/// Console routes of this area.
pub fn console_router() -> Router<AppState> {
    Router::new().route(
        "/i/{iid}/console/apps/{app_id}/provisioning",
        get(tab).post(save),
    )
}

/// OpenAPI paths and components of this area.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(get_provisioning, put_provisioning),
    components(schemas(
        ProvisioningView,
        ProvisioningInput,
        AuthInput,
        MappingInput,
        ProvisioningScope,
        crate::provisioning::config::AuthView,
        crate::provisioning::config::Protocol,
        crate::provisioning::config::Actions,
        crate::provisioning::config::AuthMode,
        crate::provisioning::config::AuthnMethod,
        crate::provisioning::config::DeprovisionMode,
        crate::provisioning::config::Compatibility,
        crate::provisioning::mapping::AttributeMapping
    )),
    tags((name = "provisioning", description = "Account sync (SCIM 2.0 provisioning) of applications."))
)]
pub struct ApiDoc;

/// Get the provisioning configuration of an application (template defaults when none is saved;
/// secrets are never returned).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning", tag = "provisioning",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = ProvisioningView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_provisioning(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<ProvisioningView>> {
    Ok(ApiJson(
        state.provisioning_view(&auth.instance.id, &app_id).await?,
    ))
}

/// Save the provisioning configuration (fields left out keep their value; secrets left out keep
/// the stored secret). Enabling it, or changing scope, mapping or actions while enabled, enqueues
/// every user and group in scope and every object pushed before.
#[utoipa::path(put, path = "/api/v1/instances/{iid}/apps/{app_id}/provisioning", tag = "provisioning",
    request_body = ProvisioningInput,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = ProvisioningView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_provisioning(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<ProvisioningInput>,
) -> ApiResult<ApiJson<ProvisioningView>> {
    let cfg = state
        .put_provisioning(&auth.actor, &auth.instance.id, &app_id, input)
        .await?;
    Ok(ApiJson(cfg.view(true)))
}

// ---------------------------------------------------------------------------------------------
// Console: the Provisioning tab.

struct Choice {
    value: String,
    label: String,
    checked: bool,
}

struct MappingRow {
    index: usize,
    target: String,
    expression: String,
    lowercase: bool,
}

#[derive(Template)]
#[template(path = "console_app_provisioning.html")]
struct ProvisioningTab<'a> {
    instance_id: &'a str,
    app_id: &'a str,
    app_name: &'a str,
    csrf: &'a str,
    notice: &'a str,
    error: &'a str,
    enabled: bool,
    base_url: String,
    client_credentials: bool,
    has_access_token: bool,
    token_endpoint: String,
    client_id: String,
    has_client_secret: bool,
    post_method: bool,
    org_units: Vec<Choice>,
    groups: Vec<Choice>,
    actions: Vec<Choice>,
    deprovision_disable: bool,
    compatibility: Vec<Choice>,
    mappings: Vec<MappingRow>,
    max_attempts: u32,
    /// Where the engine's sync records, Push Now and dead letters live.
    sync_url: String,
}

/// Blank mapping rows offered below the configured ones.
const BLANK_MAPPING_ROWS: usize = 3;

#[derive(Debug, Default, Deserialize)]
struct TabQuery {
    saved: Option<String>,
}

fn unknown_app() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Unknown application",
        "This application does not exist.",
    )
}

async fn show(
    state: &AppState,
    admin: &ConsoleAdmin,
    app_id: &str,
    notice: &str,
    error: &str,
    submitted: Option<&Submitted>,
    status: StatusCode,
) -> ApiResult<Response> {
    let s = &admin.0;
    let iid = &s.instance.id;
    let app = match state.get_application(iid, app_id).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Ok(unknown_app()),
        Err(e) => return Err(e.into()),
    };
    let view = state.provisioning_view(iid, app_id).await?;
    let ous = state.list_org_units(iid).await?;
    let groups = state.list_groups(iid).await?;
    // After a refused save, show what was submitted.
    let (scope, actions, enabled, base_url) = match submitted {
        Some(f) => (
            f.input.scope.clone().unwrap_or_default(),
            f.input.actions.clone().unwrap_or_default(),
            f.input.enabled.unwrap_or(false),
            f.input.base_url.clone().unwrap_or_default(),
        ),
        None => (
            view.scope.clone(),
            view.actions.iter().map(|a| a.urn().to_owned()).collect(),
            view.enabled,
            view.base_url.clone(),
        ),
    };
    let mut mappings: Vec<MappingRow> = match submitted {
        Some(f) => f
            .input
            .attribute_mapping
            .clone()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, m)| MappingRow {
                index,
                target: m.target,
                expression: m.expression,
                lowercase: m.lowercase,
            })
            .collect(),
        None => view
            .attribute_mapping
            .iter()
            .enumerate()
            .map(|(index, m)| MappingRow {
                index,
                target: m.target.to_string(),
                expression: m.expression.to_string(),
                lowercase: m.lowercase,
            })
            .collect(),
    };
    let n = mappings.len();
    mappings.extend((n..n + BLANK_MAPPING_ROWS).map(|index| MappingRow {
        index,
        target: String::new(),
        expression: String::new(),
        lowercase: false,
    }));
    let auth_in = submitted.and_then(|f| f.input.auth.as_ref());
    let client_credentials = match auth_in {
        Some(a) => a.mode == AuthMode::ClientCredentials,
        None => view.auth.mode == Some(AuthMode::ClientCredentials),
    };
    let compat = submitted
        .and_then(|f| f.input.compatibility)
        .unwrap_or(view.compatibility);
    let page = ProvisioningTab {
        instance_id: iid,
        app_id: &app.id,
        app_name: &app.name,
        csrf: &s.session.csrf_token,
        notice,
        error,
        enabled,
        base_url,
        client_credentials,
        has_access_token: view.auth.has_access_token,
        token_endpoint: auth_in
            .and_then(|a| a.token_endpoint.clone())
            .or(view.auth.token_endpoint.clone())
            .unwrap_or_default(),
        client_id: auth_in
            .and_then(|a| a.client_id.clone())
            .or(view.auth.client_id.clone())
            .unwrap_or_default(),
        has_client_secret: view.auth.has_client_secret,
        post_method: auth_in
            .and_then(|a| a.authn_method)
            .or(view.auth.authn_method)
            == Some(AuthnMethod::ClientSecretPost),
        org_units: ous
            .into_iter()
            .map(|o| Choice {
                checked: scope.org_unit_ids.contains(&o.id),
                value: o.id,
                label: o.name,
            })
            .collect(),
        groups: groups
            .into_iter()
            .map(|g| Choice {
                checked: scope.group_ids.contains(&g.id),
                value: g.id,
                label: g.name,
            })
            .collect(),
        actions: Action::ALL
            .iter()
            .map(|a| Choice {
                value: a.urn().to_owned(),
                label: a.label().to_owned(),
                checked: actions.iter().any(|x| x == a.urn()),
            })
            .collect(),
        deprovision_disable: submitted
            .and_then(|f| f.input.deprovision_mode)
            .unwrap_or(view.deprovision_mode)
            == DeprovisionMode::Disable,
        compatibility: [Compatibility::Standard, Compatibility::AwsIamIdentityCenter]
            .iter()
            .map(|c| Choice {
                value: c.as_str().to_owned(),
                label: c.label().to_owned(),
                checked: *c == compat,
            })
            .collect(),
        mappings,
        max_attempts: submitted
            .and_then(|f| f.input.max_attempts)
            .unwrap_or(view.max_attempts),
        sync_url: format!("/i/{iid}/console/apps/{}/sync", app.id),
    };
    Ok(render(status, &page))
}

async fn tab(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
    query: Result<Query<TabQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let notice = match query {
        Ok(Query(q)) if q.saved.is_some() => "Saved.",
        _ => "",
    };
    show(&state, &admin, &app_id, notice, "", None, StatusCode::OK).await
}

/// The parsed form: the CSRF token and the configuration it submits.
struct Submitted {
    csrf: String,
    input: ProvisioningInput,
}

/// Parses the form fields (checkbox lists repeat their name, so the form is read as pairs).
fn parse_form(pairs: Vec<(String, String)>) -> Submitted {
    let mut csrf = String::new();
    let mut enabled = false;
    let mut base_url = String::new();
    let mut mode = AuthMode::BearerToken;
    let mut auth = AuthInput {
        mode,
        access_token: None,
        token_endpoint: None,
        client_id: None,
        client_secret: None,
        authn_method: None,
    };
    let mut scope = ProvisioningScope::default();
    let mut actions = Vec::new();
    let mut deprovision = DeprovisionMode::Delete;
    let mut compatibility = Compatibility::Standard;
    let mut max_attempts = None;
    let mut rows: std::collections::BTreeMap<usize, MappingInput> = Default::default();
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => csrf = v,
            "enabled" => enabled = true,
            "base_url" => base_url = v,
            "auth_mode" => {
                mode = if v == "client_credentials" {
                    AuthMode::ClientCredentials
                } else {
                    AuthMode::BearerToken
                }
            }
            "access_token" => auth.access_token = Some(v),
            "token_endpoint" => auth.token_endpoint = Some(v),
            "client_id" => auth.client_id = Some(v),
            "client_secret" => auth.client_secret = Some(v),
            "authn_method" => {
                auth.authn_method = Some(if v == "client_secret_post" {
                    AuthnMethod::ClientSecretPost
                } else {
                    AuthnMethod::ClientSecretBasic
                })
            }
            "org_unit" => scope.org_unit_ids.push(v),
            "group" => scope.group_ids.push(v),
            "action" => actions.push(v),
            "deprovision_mode" => {
                deprovision = DeprovisionMode::parse(&v).unwrap_or(DeprovisionMode::Delete)
            }
            "compatibility" => {
                compatibility = Compatibility::parse(&v).unwrap_or(Compatibility::Standard)
            }
            "max_attempts" => max_attempts = Some(v.trim().parse::<u32>().unwrap_or(0)),
            other => {
                let Some((field, idx)) = other.rsplit_once('_') else {
                    continue;
                };
                let Ok(idx) = idx.parse::<usize>() else {
                    continue;
                };
                let row = rows.entry(idx).or_insert_with(|| MappingInput {
                    target: String::new(),
                    expression: String::new(),
                    lowercase: false,
                });
                match field {
                    "map_target" => row.target = v,
                    "map_expr" => row.expression = v,
                    "map_lower" => row.lowercase = true,
                    _ => {}
                }
            }
        }
    }
    auth.mode = mode;
    let mapping: Vec<MappingInput> = rows
        .into_values()
        .filter(|m| !m.target.trim().is_empty() || !m.expression.trim().is_empty())
        .collect();
    Submitted {
        csrf,
        input: ProvisioningInput {
            enabled: Some(enabled),
            protocol: None,
            base_url: Some(base_url),
            auth: Some(auth),
            scope: Some(scope),
            actions: Some(actions),
            attribute_mapping: Some(mapping),
            deprovision_mode: Some(deprovision),
            compatibility: Some(compatibility),
            max_attempts,
        },
    }
}

async fn save(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let submitted = parse_form(pairs);
    admin.verify_csrf(Some(&submitted.csrf))?;
    let s = &admin.0;
    let result = state
        .put_provisioning(&s.actor, &s.instance.id, &app_id, submitted.input.clone())
        .await;
    match result {
        Ok(_) => Ok(see_other(&format!(
            "/i/{}/console/apps/{app_id}/provisioning?saved=1",
            s.instance.id
        ))),
        Err(Error::Invalid(e)) => {
            show(
                &state,
                &admin,
                &app_id,
                "",
                &e.to_string(),
                Some(&submitted),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Error::NotFound(_)) => Ok(unknown_app()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_become_input() {
        let pairs = [
            ("csrf", "c"),
            ("enabled", "1"),
            ("base_url", "https://x.example.com/scim/v2"),
            ("auth_mode", "client_credentials"),
            ("token_endpoint", "https://x.example.com/token"),
            ("client_id", "id"),
            ("client_secret", ""),
            ("authn_method", "client_secret_post"),
            ("org_unit", "ou_1"),
            ("org_unit", "ou_2"),
            ("group", "group_1"),
            ("action", "urn:alibaba:idaas:app:scim:User:CREATE"),
            ("deprovision_mode", "disable"),
            ("compatibility", "aws_iam_identity_center"),
            ("map_target_0", "userName"),
            ("map_expr_0", "user.username"),
            ("map_lower_0", "1"),
            ("map_target_1", ""),
            ("map_expr_1", ""),
            ("max_attempts", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = parse_form(pairs);
        assert_eq!(s.csrf, "c");
        let i = s.input;
        assert_eq!(i.enabled, Some(true));
        let auth = i.auth.unwrap();
        assert_eq!(auth.mode, AuthMode::ClientCredentials);
        assert_eq!(auth.authn_method, Some(AuthnMethod::ClientSecretPost));
        assert_eq!(i.scope.unwrap().org_unit_ids, vec!["ou_1", "ou_2"]);
        assert_eq!(i.actions.unwrap().len(), 1);
        assert_eq!(i.deprovision_mode, Some(DeprovisionMode::Disable));
        assert_eq!(i.compatibility, Some(Compatibility::AwsIamIdentityCenter));
        let m = i.attribute_mapping.unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].lowercase);
        assert_eq!(i.max_attempts, Some(5));
    }
}
