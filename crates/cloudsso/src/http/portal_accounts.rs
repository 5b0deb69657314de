//! The portal's account list and the logons into the cloud (`/{directory_name}/portal/…`):
//! the accounts a user is assigned (directly or through a group) with their access
//! configurations, "Log on with a RAM role", "Log on with a RAM user", STS credentials for the
//! CLI, and the quickLogin deep link target.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use saml::binding::{MessageParam, PostForm, html_escape, render_post_form};
use serde::Deserialize;

use super::auth::PortalSession;
use super::{ApiError, AppState};
use crate::audit::NewAuditEvent;
use crate::provisioning::reserved_role_name;
use crate::role_logon::LogonPost;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{directory_name}/portal/accounts", get(accounts))
        .route("/{directory_name}/portal/accounts.json", get(accounts_json))
        .route("/{directory_name}/portal/role-logon", post(role_logon))
        .route("/{directory_name}/portal/quick-login", get(quick_login))
        .route("/{directory_name}/portal/user-logon", post(user_logon))
        .route("/{directory_name}/portal/credentials", post(credentials))
}

fn post_page(state: &AppState, post: &LogonPost) -> Response {
    let nonce = web::id::new_id("n").replace('_', "");
    let html = render_post_form(&PostForm {
        action: &post.action,
        param: MessageParam::Response,
        xml: &post.xml,
        relay_state: post.relay_state.as_deref(),
        csp_nonce: &nonce,
    });
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; form-action {}",
        state.base_url
    );
    (
        [
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Html(html),
    )
        .into_response()
}

/// `GET /{directory_name}/portal/accounts.json`: the user's accounts.
async fn accounts_json(
    State(state): State<AppState>,
    portal: PortalSession,
) -> Result<Response, ApiError> {
    let accounts = state
        .portal_accounts(&portal.directory, &portal.user)
        .await?;
    Ok(axum::Json(accounts).into_response())
}

/// `GET /{directory_name}/portal/accounts`: the account list page.
async fn accounts(
    State(state): State<AppState>,
    portal: PortalSession,
) -> Result<Response, ApiError> {
    let body = section(&state, &portal, "").await?;
    Ok(Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Accounts</title></head><body>\
         <h1>Accounts of {}</h1>{body}</body></html>",
        html_escape(portal.user.user_name.as_str())
    ))
    .into_response())
}

/// The portal home's account section (HTML fragment). With the quickLogin deep link in `query`
/// (`quickLogin=true&accountId=…&accessConfigurationName=…&landingPage=…`) it sends the browser on
/// to the role logon at once.
pub async fn section(
    state: &AppState,
    portal: &PortalSession,
    query: &str,
) -> Result<String, ApiError> {
    let accounts = state
        .portal_accounts(&portal.directory, &portal.user)
        .await?;
    let dir = html_escape(&portal.directory.name);
    let csrf = html_escape(&portal.session.csrf_token);
    let credentials_allowed = portal
        .directory
        .login_preference
        .allow_user_to_get_credentials;
    let mut rows = String::new();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if param("quickLogin") == Some("true")
        && let (Some(account), Some(ac)) = (param("accountId"), param("accessConfigurationName"))
    {
        let mut target = url::form_urlencoded::Serializer::new(String::new());
        target
            .append_pair("accountId", account)
            .append_pair("accessConfigurationName", ac);
        if let Some(l) = param("landingPage") {
            target.append_pair("landingPage", l);
        }
        let href = html_escape(&format!(
            "/{}/portal/quick-login?{}",
            portal.directory.name,
            target.finish()
        ));
        rows.push_str(&format!(
            "<meta http-equiv=\"refresh\" content=\"0;url={href}\">\
             <p id=\"quick-login\"><a href=\"{href}\">Continue to {} in account {}</a></p>",
            html_escape(ac),
            html_escape(account)
        ));
    }
    for a in &accounts {
        let id = html_escape(&a.account.id);
        rows.push_str(&format!(
            "<section class=\"account\" data-account-id=\"{id}\"><h3>{} <small>{id}</small></h3>",
            html_escape(&a.account.name)
        ));
        for ac in &a.access_configurations {
            let name = html_escape(&ac.name);
            rows.push_str(&format!(
                "<form method=\"post\" action=\"/{dir}/portal/role-logon\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"account_id\" value=\"{id}\">\
                 <input type=\"hidden\" name=\"access_configuration_name\" value=\"{name}\">\
                 <button type=\"submit\">Log on with a RAM role: {name}</button></form>"
            ));
            if credentials_allowed {
                rows.push_str(&format!(
                    "<form method=\"post\" action=\"/{dir}/portal/credentials\">\
                     <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"account_id\" value=\"{id}\">\
                     <input type=\"hidden\" name=\"access_configuration_name\" value=\"{name}\">\
                     <button type=\"submit\">STS credentials: {name}</button></form>"
                ));
            }
        }
        if a.ram_user_logon {
            rows.push_str(&format!(
                "<form method=\"post\" action=\"/{dir}/portal/user-logon\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"account_id\" value=\"{id}\">\
                 <button type=\"submit\">Log on with a RAM user</button></form>"
            ));
        }
        rows.push_str("</section>");
    }
    if accounts.is_empty() {
        rows.push_str("<p>No account is assigned to you yet.</p>");
    }
    Ok(rows)
}

/// Records a portal logon into the cloud or a credential issue: the portal user (with the source
/// address) as actor, the account as target, the outcome. A success is only returned to the user
/// once its event is stored; a failure to store a refusal's event is logged.
async fn audit_cloud<T>(
    state: &AppState,
    portal: &PortalSession,
    object: &str,
    verb: &str,
    account_id: &str,
    mut detail: serde_json::Value,
    outcome: Result<T, crate::error::Error>,
) -> Result<T, ApiError> {
    if let (Err(e), Some(map)) = (&outcome, detail.as_object_mut()) {
        map.insert("reason".into(), e.to_string().into());
    }
    let mut ev = NewAuditEvent::new(Some(&portal.directory.id), &portal.actor, object, verb)
        .target("account", account_id)
        .detail(detail);
    if outcome.is_err() {
        ev = ev.failure();
    }
    match outcome {
        Ok(v) => {
            state.record_audit(&ev).await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(ae) = state.record_audit(&ev).await {
                tracing::warn!(error = %ae, "cannot record cloud logon audit event");
            }
            Err(e.into())
        }
    }
}

fn role_detail(account_id: &str, ac_name: &str) -> serde_json::Value {
    serde_json::json!({
        "access_configuration_name": ac_name,
        "role": format!("acs:ram::{account_id}:role/{}", reserved_role_name(ac_name)),
    })
}

#[derive(Debug, Deserialize)]
struct RoleLogonForm {
    csrf_token: Option<String>,
    account_id: String,
    access_configuration_name: String,
    #[serde(default)]
    landing_page: Option<String>,
}

/// `POST /{directory_name}/portal/role-logon`: the auto-POST form to the role sign-in endpoint.
async fn role_logon(
    State(state): State<AppState>,
    portal: PortalSession,
    Form(form): Form<RoleLogonForm>,
) -> Result<Response, ApiError> {
    portal.verify_csrf(form.csrf_token.as_deref())?;
    let outcome = state
        .role_logon(
            &portal.directory,
            &portal.user,
            &form.account_id,
            &form.access_configuration_name,
            form.landing_page.as_deref(),
        )
        .await;
    let detail = role_detail(&form.account_id, &form.access_configuration_name);
    let post = audit_cloud(
        &state,
        &portal,
        "cloud_logon",
        "role",
        &form.account_id,
        detail,
        outcome,
    )
    .await?;
    Ok(post_page(&state, &post))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuickLogin {
    account_id: String,
    access_configuration_name: String,
    #[serde(default)]
    landing_page: Option<String>,
}

/// `GET /{directory_name}/portal/quick-login?accountId=…&accessConfigurationName=…&landingPage=…`:
/// where `…/login?quickLogin=true&…` lands after logon. A GET that only signs the user in as
/// themselves (no state change an attacker could profit from), like the product's deep link.
async fn quick_login(
    State(state): State<AppState>,
    portal: PortalSession,
    Query(q): Query<QuickLogin>,
) -> Result<Response, ApiError> {
    let outcome = state
        .role_logon(
            &portal.directory,
            &portal.user,
            &q.account_id,
            &q.access_configuration_name,
            q.landing_page.as_deref(),
        )
        .await;
    let detail = role_detail(&q.account_id, &q.access_configuration_name);
    let post = audit_cloud(
        &state,
        &portal,
        "cloud_logon",
        "role",
        &q.account_id,
        detail,
        outcome,
    )
    .await?;
    Ok(post_page(&state, &post))
}

#[derive(Debug, Deserialize)]
struct UserLogonForm {
    csrf_token: Option<String>,
    account_id: String,
}

/// `POST /{directory_name}/portal/user-logon`: the auto-POST form to the account's user sign-in endpoint.
async fn user_logon(
    State(state): State<AppState>,
    portal: PortalSession,
    Form(form): Form<UserLogonForm>,
) -> Result<Response, ApiError> {
    portal.verify_csrf(form.csrf_token.as_deref())?;
    let outcome = state
        .ram_user_logon(&portal.directory, &portal.user, &form.account_id)
        .await;
    let post = audit_cloud(
        &state,
        &portal,
        "cloud_logon",
        "ram_user",
        &form.account_id,
        serde_json::json!({}),
        outcome,
    )
    .await?;
    Ok(post_page(&state, &post))
}

/// `POST /{directory_name}/portal/credentials`: STS credentials (JSON) when AllowUserToGetCredentials is on.
async fn credentials(
    State(state): State<AppState>,
    portal: PortalSession,
    Form(form): Form<RoleLogonForm>,
) -> Result<Response, ApiError> {
    portal.verify_csrf(form.csrf_token.as_deref())?;
    let outcome = state
        .portal_sts_credentials(
            &portal.directory,
            &portal.user,
            &form.account_id,
            &form.access_configuration_name,
        )
        .await;
    let mut detail = role_detail(&form.account_id, &form.access_configuration_name);
    if let (Ok(r), Some(map)) = (&outcome, detail.as_object_mut()) {
        map.insert(
            "access_key_id".into(),
            r.credentials.access_key_id.clone().into(),
        );
    }
    let result = audit_cloud(
        &state,
        &portal,
        "sts_credentials",
        "issue",
        &form.account_id,
        detail,
        outcome,
    )
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(result)).into_response())
}
